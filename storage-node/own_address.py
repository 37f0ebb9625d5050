"""Which replica addresses name this node.

The rings name a storage node by `ip:port` (`[ipv6]:port`), and a container update names its
container replica the same way. A replica at this node's address, on one of its devices, is
updated in place rather than over HTTP to itself (storage-node/updater.py). The address the rings
use is, in order:

- `ring_ip` from the config, when set (a node behind NAT, or one of several addresses);
- else `bind_ip`, when it is one address;
- else, for a wildcard `bind_ip` (0.0.0.0, ::), any address of this machine in the wildcard's
  family: one a socket can be bound to. Where the kernel lets any address be bound
  (`ip_nonlocal_bind`), that test proves nothing, and only `ring_ip` can say.

Always with `bind_port`; a node on any free port (0) knows no address of its own. Addresses
compare as addresses (`::1` is `0:0:0:0:0:0:0:1`).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

from dolmen.storage_node.updates import IPAddress, split_host

# A node sees the addresses of a cluster's nodes, few; bounded all the same (one answer each).
HOSTS_REMEMBERED_MAX = 4096
_NONLOCAL_BIND_SETTINGS = {
    4: Path("/proc/sys/net/ipv4/ip_nonlocal_bind"),
    6: Path("/proc/sys/net/ipv6/ip_nonlocal_bind"),
}


def binds_locally(ip: IPAddress) -> bool:
    """Whether `ip` is an address of this machine: a socket can be bound to it (the kernel says
    EADDRNOTAVAIL for any other), and the kernel does not let just any address be bound."""
    try:
        if _NONLOCAL_BIND_SETTINGS[ip.version].read_text().strip() != "0":
            return False
    except OSError:  # no /proc: the test below could not be trusted
        return False
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((str(ip), 0))
    except OSError:  # EADDRNOTAVAIL: not ours; any other (no IPv6 here, say): not known to be ours
        return False
    return True


class OwnAddress:
    """Answers `is_own(host)` for the replica addresses of container updates (cached per host)."""

    def __init__(
        self,
        *,
        bind_ip: str,
        bind_port: int,
        ring_ip: str | None = None,
        is_local: Callable[[IPAddress], bool] = binds_locally,
    ) -> None:
        self.port = bind_port
        self.ip: IPAddress | None = None  # the one address of this node, if known
        self.wildcard_version: int | None = None  # else: any local address of this version
        self._is_local = is_local
        self.is_own: Callable[[str], bool] = functools.lru_cache(maxsize=HOSTS_REMEMBERED_MAX)(self._decide)
        if ring_ip is not None:
            self.ip = ipaddress.ip_address(ring_ip)
            return
        try:
            bound = ipaddress.ip_address(bind_ip)
        except ValueError:  # a host name: only ring_ip says which address the rings use
            return
        if bound.is_unspecified:
            self.wildcard_version = bound.version
        else:
            self.ip = bound

    @property
    def described(self) -> str:
        """For the log at start: which addresses count as this node's."""
        if not self.port:
            return "none (any free port)"
        if self.ip is not None:
            return f"{self.ip} port {self.port}"
        if self.wildcard_version is not None:
            return f"any local IPv{self.wildcard_version} address, port {self.port}"
        return "none (bind_ip is a host name: set ring_ip)"

    def _decide(self, host: str) -> bool:
        """Whether `host` is this node (`is_own`: the same, remembered per host)."""
        split = split_host(host)
        if split is None or not self.port:
            return False
        ip, port = split
        if port != self.port:
            return False
        if self.ip is not None:
            return ip == self.ip
        return ip.version == self.wildcard_version and self._is_local(ip)
