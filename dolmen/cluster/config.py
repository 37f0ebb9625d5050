"""The cluster client's configuration: the [cluster] table of any service's TOML file.

Defaults live here and nowhere else. Example:

    [cluster]
    ring_dir = "/etc/dolmen/rings"
    cluster_secret_file = "/etc/dolmen/cluster.secret"
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from dolmen.cluster.transport import TransportSettings
from dolmen.config import load_config

SECTION = "cluster"


@dataclass(frozen=True, kw_only=True)
class ClusterClientConfig:
    """[cluster] in a service's TOML file. Units are in the names; every time is in seconds."""

    # account.ring, container.ring, object.ring (policy 0), object-N.ring; reloaded when they change.
    ring_dir: Path
    # Hex cluster secret (dolmen.keys): the placement key and the request signing keys derive from it.
    cluster_secret_file: Path
    # The key id this client signs with (the nodes must accept it: signing_key_ids).
    signing_key_id: int = 0
    # How long a request signature stays valid (the node also allows clock skew).
    signature_lifetime_s: float = 60.0
    # Longest wait to open a connection to a node; a write then moves to a handoff.
    connect_timeout_s: float = 2.0
    # Longest wait from the end of a request to the first byte of its answer.
    first_byte_timeout_s: float = 10.0
    # Longest wait for one chunk of a body, in either direction.
    chunk_timeout_s: float = 30.0
    # Connections open to one node at most (pooled, kept alive): the concurrency bound per node.
    connections_per_node_max: int = 64
    # An idle pooled connection is closed after this long.
    keepalive_timeout_s: float = 30.0
    # A node with this many errors (timeouts, connection failures, 5xx, 507) ...
    error_limit_errors: int = 10
    # ... within this long is skipped for this long after its last error.
    error_limit_interval_s: float = 60.0
    # Reads prefer replicas in this region, and in this zone of it (None: ring order).
    read_affinity_region: int | None = None
    read_affinity_zone: int | None = None
    # A 404 from the primaries is checked against at most this many handoffs.
    handoffs_checked_on_404: int = 2
    # A write tries at most this many handoffs in place of primaries that are down.
    write_handoffs_max: int = 3
    # An object write of a known length up to this many bytes is read whole, checked, and sent
    # to each replica in one request (no per-chunk streaming); longer ones stream.
    put_whole_bytes_max: int = 64 * 2**10
    # Frames (of FRAME_DATA_BYTES_MAX, shared by the replicas) a streamed write leaves unsent to
    # one node before it waits for that node.
    write_queue_chunks: int = 4
    # A compare-and-swap runs at most this many Paxos rounds before RegisterContention ...
    register_rounds_max: int = 24
    # ... sleeping a random time up to this long (doubling from register_backoff_s_min) between them.
    register_backoff_s_min: float = 0.005
    register_backoff_s_max: float = 0.5
    # Listings read at most this many pages of one replica to fill one merged page.
    listing_pages_max: int = 8
    # Container information (existence, policy) is cached this long for object writes.
    container_info_ttl_s: float = 2.0
    # Ring files are checked for changes this often.
    ring_check_interval_s: float = 15.0

    def transport_settings(self) -> TransportSettings:
        """The transport's settings: the fields of the same names."""
        return TransportSettings(
            **{field.name: getattr(self, field.name) for field in fields(TransportSettings)}
        )

    def __post_init__(self) -> None:
        if not 0 <= self.signing_key_id < 2**31:
            raise ValueError("signing_key_id must be 0 .. 2**31 - 1")
        for name in (
            "signature_lifetime_s",
            "connect_timeout_s",
            "first_byte_timeout_s",
            "chunk_timeout_s",
            "keepalive_timeout_s",
            "error_limit_interval_s",
            "ring_check_interval_s",
            "register_backoff_s_min",
            "register_backoff_s_max",
            "container_info_ttl_s",
        ):
            if not 0 < getattr(self, name) <= 3600:
                raise ValueError(f"{name} must be > 0 and at most 3600")
        if self.signature_lifetime_s > 300:
            raise ValueError("signature_lifetime_s must be at most 300 (nodes refuse longer)")
        if self.register_backoff_s_min > self.register_backoff_s_max:
            raise ValueError("register_backoff_s_min must not exceed register_backoff_s_max")
        for name, low, high in (
            ("connections_per_node_max", 1, 4096),
            ("error_limit_errors", 1, 10_000),
            ("handoffs_checked_on_404", 0, 64),
            ("write_handoffs_max", 0, 64),
            ("write_queue_chunks", 1, 64),
            ("put_whole_bytes_max", 0, 16 * 2**20),
            ("register_rounds_max", 1, 1000),
            ("listing_pages_max", 1, 1000),
        ):
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"{name} must be {low} .. {high}")


def load_cluster_config(path: Path | str) -> ClusterClientConfig:
    """Read the [cluster] table of `path`; ConfigError on unknown keys or wrong types."""
    return load_config(path, ClusterClientConfig, section=SECTION)
