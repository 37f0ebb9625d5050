"""Keys derived from the cluster secret, each with one job (HKDF-SHA256).

The cluster secret is at least 32 random bytes kept in a file readable only by
the services (`cluster.secret`). From it:
- the placement key keys the hash that maps names to partitions; it never
  changes for the life of the cluster, and its fingerprint is stored in every
  ring file so that a service with another secret refuses the ring;
- internal request keys sign requests between services; each has a key id so
  that keys can be rotated (a new id derives a new key from the same secret);
- the identity storage key encrypts identity's secrets at rest in the store (its
  Fernet token keys and EC2 secrets), so that the store's bytes alone reveal none.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dolmen.errors import ConfigError
from dolmen.limits import CLUSTER_SECRET_BYTES_MIN, PLACEMENT_KEY_BYTES

SECRET_FILE_NAME = "cluster.secret"
_SALT = b"dolmen-cluster-keys-v1"


def derive_key(secret: bytes, purpose: str, length_bytes: int = 32) -> bytes:
    """The key for one `purpose` (a stable ASCII label) derived from the cluster secret."""
    assert len(secret) >= CLUSTER_SECRET_BYTES_MIN
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length_bytes, salt=_SALT, info=purpose.encode("ascii"))
    return hkdf.derive(secret)


def placement_key(secret: bytes) -> bytes:
    """The key of the partition hash; it must never change for the life of the cluster."""
    return derive_key(secret, "placement", PLACEMENT_KEY_BYTES)


def key_fingerprint(key: bytes) -> str:
    """A short public fingerprint of a key: safe to store and print, useless for guessing it."""
    return hashlib.sha256(b"dolmen-fingerprint\0" + key).hexdigest()[:16]


def request_signing_key(secret: bytes, key_id: int) -> bytes:
    """The HMAC key for internal request signatures under `key_id`."""
    assert key_id >= 0
    return derive_key(secret, f"internal-request/{key_id}")


def identity_storage_key(secret: bytes) -> bytes:
    """The Fernet key (URL-safe base64) that seals identity's secrets in the store."""
    return base64.urlsafe_b64encode(derive_key(secret, "identity-storage"))


def generate_secret() -> bytes:
    return secrets.token_bytes(CLUSTER_SECRET_BYTES_MIN)


def read_secret(path: Path) -> bytes:
    """The cluster secret stored (hex) in `path`; ConfigError if missing, malformed or too short."""
    try:
        text = path.read_text(encoding="ascii").strip()
        secret = bytes.fromhex(text)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no cluster secret file") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(f"{path}: not a cluster secret (hex): {error}") from None
    if len(secret) < CLUSTER_SECRET_BYTES_MIN:
        raise ConfigError(f"{path}: cluster secret must be at least {CLUSTER_SECRET_BYTES_MIN} bytes")
    return secret


def write_secret(path: Path, secret: bytes) -> None:
    """Create `path` holding `secret`, readable by its owner only; refuses to overwrite."""
    # O_EXCL: a second writer must never replace a secret that rings were built with.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(secret.hex() + "\n")
        file.flush()
        os.fsync(file.fileno())
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_or_create_secret(path: Path) -> bytes:
    """The secret in `path`, creating a new random one there first if there is none."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process created it first: use theirs
            write_secret(path, generate_secret())
    return read_secret(path)
