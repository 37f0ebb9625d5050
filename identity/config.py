"""Identity's configuration: the [identity] table of identity.toml (beside a [cluster] table).

Defaults live here and nowhere else. Example:

    [identity]
    bind_ip = "10.0.0.7"
    bind_port = 5000
    public_url = "https://identity.example.com/v3"

    [cluster]
    ring_dir = "/etc/dolmen/rings"
    cluster_secret_file = "/etc/dolmen/cluster.secret"
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dolmen.identity.keyrepo import ACTIVE_KEYS_MIN
from dolmen.identity.passwords import PasswordCost

from dolmen.limits import FERNET_KEYS_MAX

SECTION = "identity"


@dataclass(frozen=True, kw_only=True)
class IdentityConfig:
    """[identity] in identity.toml. Units are in the names; every time is in seconds."""

    bind_ip: str = "127.0.0.1"
    bind_port: int = 5000
    # The URL clients reach identity's /v3 at, for discovery documents; None: from the request's Host.
    public_url: str | None = None
    # Tokens expire this long after they are issued (Keystone's default: one hour).
    token_lifetime_s: float = 3600.0
    # argon2id cost of stored password hashes; argon2-cffi's defaults take about 0.4 s per check here.
    # Tests lower it; a hash made under another cost is upgraded at its user's next login.
    password_time_cost: int = PasswordCost.time_cost
    password_memory_cost_kib: int = PasswordCost.memory_cost_kib
    password_parallelism: int = PasswordCost.parallelism
    # Threads computing password hashes, and checks allowed to wait for one (beyond: 503).
    password_hash_threads: int = 2
    password_checks_waiting_max: int = 64
    # A user with this many failed password logins within failed_login_window_s must wait (429) ...
    failed_logins_per_user_max: int = 5
    # ... and so must a client address with this many (tests from one address raise it).
    failed_logins_per_address_max: int = 50
    failed_login_window_s: float = 300.0
    # Fernet keys kept: staged, primary and secondaries. Tokens sealed with a key older than that
    # stop validating, so keep (active_keys - 2) * rotation interval above token_lifetime_s.
    fernet_active_keys_max: int = 3
    # How often identity's own validator polls the store for keys, revocations and roles.
    validator_refresh_interval_s: float = 2.0
    # A name claim whose entity never appeared (a creator died mid-way) is reclaimed after this long.
    name_claim_grace_s: float = 30.0
    # A JSON policy file overriding the default rules (None: the defaults of dolmen.identity.policy).
    policy_file: Path | None = None
    # Region named in catalog entries that bootstrap creates.
    region: str = "RegionOne"
    keepalive_timeout_s: float = 75.0
    # On SIGTERM: stop accepting, give in-flight requests this long.
    shutdown_timeout_s: float = 10.0
    log_level: str = "info"

    def __post_init__(self) -> None:
        if not 0 <= self.bind_port < 65536:
            raise ValueError("bind_port must be 0 .. 65535")
        if not 60 <= self.token_lifetime_s <= 7 * 86_400:
            raise ValueError("token_lifetime_s must be 60 .. 604800")
        if not ACTIVE_KEYS_MIN <= self.fernet_active_keys_max <= FERNET_KEYS_MAX:
            raise ValueError(f"fernet_active_keys_max must be {ACTIVE_KEYS_MIN} .. {FERNET_KEYS_MAX}")
        if self.password_time_cost < 1 or self.password_memory_cost_kib < 8 * self.password_parallelism:
            raise ValueError("password cost: time_cost >= 1 and memory_cost_kib >= 8 * parallelism")
        if not 1 <= self.password_parallelism <= 64 or not 1 <= self.password_hash_threads <= 256:
            raise ValueError("password_parallelism must be 1 .. 64 and password_hash_threads 1 .. 256")
        for name in ("failed_logins_per_user_max", "failed_logins_per_address_max"):
            if not 1 <= getattr(self, name) <= 1_000_000:
                raise ValueError(f"{name} must be 1 .. 1000000")
        for name in (
            "failed_login_window_s",
            "validator_refresh_interval_s",
            "name_claim_grace_s",
            "keepalive_timeout_s",
            "shutdown_timeout_s",
        ):
            if not 0 < getattr(self, name) <= 86_400:
                raise ValueError(f"{name} must be > 0 and at most 86400")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise ValueError("public_url must be an http:// or https:// URL")

    @property
    def password_cost(self) -> PasswordCost:
        return PasswordCost(
            time_cost=self.password_time_cost,
            memory_cost_kib=self.password_memory_cost_kib,
            parallelism=self.password_parallelism,
        )
