"""The proxy's configuration: `[proxy]` in proxy.toml, beside the `[cluster]` and `[s3]` tables.

`dolmen proxy --config proxy.toml` reads both tables once at start; unknown
keys or tables and wrong types refuse to start (dolmen.config).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dolmen.proxy.s3.config import S3Config

from dolmen.config import config_from_mapping
from dolmen.errors import ConfigError

PROXY_TABLES = ("proxy", "cluster", "s3")


@dataclass(frozen=True, kw_only=True)
class ProxyConfig:
    """[proxy] in proxy.toml."""

    bind_ip: str = "127.0.0.1"
    bind_port: int = 8080
    # Worker processes sharing the port (SO_REUSEPORT); 0 means one per core.
    workers: int = 0
    # URL clients reach this proxy at, for X-Storage-Url; empty: taken from the request's Host.
    public_url: str = ""
    # Identity's URL, where /auth/v1.0 forwards the password check (POST /v3/auth/tokens).
    identity_url: str = "http://127.0.0.1:5000"
    identity_timeout_s: float = 10.0
    # How often the token validator reloads Fernet keys and revocations: a revoked
    # token is refused at most this long after its revocation.
    token_refresh_interval_s: float = 2.0
    # Policy file (identity's rule language, rules object:read and object:write); none: identity's defaults.
    policy_file: Path | None = None
    # Container and account info (metadata, ACLs) is reused for this long; the
    # proxy's own writes invalidate it at once, other proxies' writes show after it.
    info_cache_ttl_s: float = 2.0
    info_cache_entries_max: int = 10_000
    # A client that sends nothing for this long during a body is cut off (408).
    client_timeout_s: float = 60.0
    # Idle keep-alive client connections are closed after this long.
    keepalive_timeout_s: float = 75.0
    # SIGTERM: in-flight requests get this long to finish before they are aborted.
    shutdown_timeout_s: float = 10.0
    # Restarts of crashed workers allowed per minute before the proxy gives up.
    worker_restarts_per_minute_max: int = 10
    # CORS (as Swift's proxy): origins allowed for every container besides each
    # container's own; strict mode sends CORS headers only to allowed origins;
    # headers exposed to browsers besides Swift's own and the metadata.
    cors_allow_origin: tuple[str, ...] = ()
    strict_cors_mode: bool = True
    cors_expose_headers: tuple[str, ...] = ()
    log_level: str = "info"

    def __post_init__(self) -> None:
        if not 0 <= self.bind_port <= 65_535:
            raise ValueError(f"bind_port {self.bind_port} is not a port")
        if self.workers < 0:
            raise ValueError("workers must be 0 (one per core) or more")
        for name in (
            "identity_timeout_s",
            "token_refresh_interval_s",
            "client_timeout_s",
            "keepalive_timeout_s",
            "shutdown_timeout_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.info_cache_ttl_s < 0 or self.info_cache_entries_max < 0:
            raise ValueError("info_cache_ttl_s and info_cache_entries_max cannot be negative")

    @property
    def worker_count(self) -> int:
        return self.workers or (os.cpu_count() or 1)


def read_tables(path: Path) -> dict[str, dict[str, Any]]:
    """The tables of proxy.toml; ConfigError for an unreadable file or an unknown table."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    for name, table in raw.items():
        if name not in PROXY_TABLES or not isinstance(table, dict):
            raise ConfigError(f"{path}: unknown table or key {name!r} (expected [proxy], [cluster] and [s3])")
    return raw


def load_proxy_config(path: Path) -> ProxyConfig:
    """[proxy] of `path` (all defaults if the table is absent)."""
    tables = read_tables(path)
    return config_from_mapping(
        tables.get("proxy", {}), ProxyConfig, source=str(path), base_dir=path.parent, prefix="proxy"
    )


def load_s3_config(path: Path) -> S3Config:
    """[s3] of `path` (all defaults if the table is absent; `bind_port = 0` serves no S3)."""
    tables = read_tables(path)
    return config_from_mapping(
        tables.get("s3", {}), S3Config, source=str(path), base_dir=path.parent, prefix="s3"
    )
