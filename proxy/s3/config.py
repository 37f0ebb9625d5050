"""The S3 listener's configuration: `[s3]` in proxy.toml."""

from __future__ import annotations

from dataclasses import dataclass

from dolmen.limits import S3_CLOCK_SKEW_S_MAX


@dataclass(frozen=True, kw_only=True)
class S3Config:
    """[s3] in proxy.toml."""

    bind_ip: str = "127.0.0.1"
    # The S3 port: S3 only, so that no bucket name collides with another API's path. 0: no S3 listener.
    bind_port: int = 8443
    # Virtual-hosted style: a request whose Host is <bucket>.<domain> addresses <bucket>.
    # Empty: path style only.
    domain: str = ""
    # The region this endpoint is: requests signed for another get AuthorizationHeaderMalformed naming it.
    region: str = "us-east-1"
    # Access key secrets (identity's EC2 credentials) are reused for this long; a deleted
    # credential keeps working at most this long.
    credential_cache_ttl_s: float = 10.0
    credential_cache_entries_max: int = 10_000
    # Bucket owners (the bucket registry) are reused for this long.
    bucket_cache_ttl_s: float = 2.0
    clock_skew_s_max: float = S3_CLOCK_SKEW_S_MAX
    # A multipart upload neither completed nor aborted this long after its creation is aborted,
    # and its parts removed, by the upload cleaner.
    upload_expiry_s: float = 7 * 86_400.0
    # The upload cleaner (run by the first proxy worker): one pass this often, each running at most
    # cleaner_sweeps_per_pass due sweeps and deleting at most cleaner_deletes_per_pass parts.
    cleaner_interval_s: float = 30.0
    cleaner_sweeps_per_pass: int = 100
    cleaner_deletes_per_pass: int = 2000

    def __post_init__(self) -> None:
        if not 0 <= self.bind_port <= 65_535:
            raise ValueError(f"bind_port {self.bind_port} is not a port")
        if not self.region or not self.region.replace("-", "").isalnum():
            raise ValueError(f"region {self.region!r} is not a region name")
        if self.credential_cache_ttl_s < 0 or self.bucket_cache_ttl_s < 0 or self.clock_skew_s_max <= 0:
            raise ValueError("cache lifetimes cannot be negative and the clock skew must be positive")
        if self.upload_expiry_s <= 0 or self.cleaner_interval_s <= 0:
            raise ValueError("upload_expiry_s and cleaner_interval_s must be positive")
        if self.cleaner_sweeps_per_pass < 1 or self.cleaner_deletes_per_pass < 1:
            raise ValueError("cleaner_sweeps_per_pass and cleaner_deletes_per_pass must be at least 1")
        if self.credential_cache_entries_max < 1:
            raise ValueError("credential_cache_entries_max must be at least 1")
