"""The Fernet key repository and its rotation, as Keystone keeps it (pure, no I/O).

Keys are numbered. Key 0 is the *staged* key: every validator already knows it, but
nothing is sealed with it yet. The highest-numbered key is the *primary*: new tokens
are sealed with it. Keys in between are *secondaries*: they only open older tokens.
A rotation promotes the staged key to primary (the next number), stages a new key 0
and forgets the oldest secondaries beyond `active_keys_max`. Because a key is staged
one rotation before it seals anything, a validator that refreshes at least once
between two rotations never meets a token sealed with a key it does not know.

In the store the repository is sealed with a key derived from the cluster secret
(`dolmen.keys.identity_storage_key`), so that the store's bytes alone open no token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken as FernetInvalidToken
from dolmen.identity.errors import KeysUnavailable

from dolmen.limits import FERNET_KEYS_MAX

ACTIVE_KEYS_MIN = 3  # staged, primary, and one secondary so that a rotation never orphans live tokens
STAGED = 0


@dataclass(frozen=True)
class KeyRepository:
    """Fernet keys (URL-safe base64, as `Fernet.generate_key` makes them) by number."""

    keys: Mapping[int, bytes]

    def __post_init__(self) -> None:
        assert STAGED in self.keys and len(self.keys) >= 2, sorted(self.keys)
        assert len(self.keys) <= FERNET_KEYS_MAX

    @classmethod
    def initial(cls, staged: bytes, primary: bytes) -> KeyRepository:
        return cls({STAGED: staged, 1: primary})

    @property
    def primary_number(self) -> int:
        return max(self.keys)

    def validation_keys(self) -> list[bytes]:
        """Every key, primary first, then secondaries newest first, the staged key last."""
        return [self.keys[number] for number in sorted(self.keys, key=lambda n: (n == STAGED, -n))]

    def rotate(self, new_staged: bytes, *, active_keys_max: int) -> KeyRepository:
        """The repository after one rotation (see the module docstring)."""
        assert ACTIVE_KEYS_MIN <= active_keys_max <= FERNET_KEYS_MAX
        keys = dict(self.keys)
        keys[self.primary_number + 1] = keys[STAGED]
        keys[STAGED] = new_staged
        while len(keys) > active_keys_max:
            del keys[min(number for number in keys if number != STAGED)]
        return KeyRepository(keys)


def seal_repository(repository: KeyRepository, storage_key: bytes) -> dict[str, Any]:
    """The repository as a JSON document, every key encrypted under `storage_key`."""
    sealer = Fernet(storage_key)
    return {
        "keys": {str(number): sealer.encrypt(key).decode("ascii") for number, key in repository.keys.items()}
    }


def unseal_repository(document: Mapping[str, Any], storage_key: bytes) -> KeyRepository:
    """The repository in `document`; raises KeysUnavailable if it was sealed under another key or is malformed."""
    sealer = Fernet(storage_key)
    try:
        keys = {
            int(number): sealer.decrypt(sealed.encode("ascii")) for number, sealed in document["keys"].items()
        }
        for key in keys.values():
            Fernet(key)  # a well-formed Fernet key, or ValueError
        if STAGED not in keys or len(keys) < 2 or len(keys) > FERNET_KEYS_MAX:
            raise ValueError("incomplete key repository")
    except (FernetInvalidToken, KeyError, TypeError, ValueError, AttributeError) as error:
        raise KeysUnavailable(f"the token key repository cannot be opened: {type(error).__name__}") from None
    return KeyRepository(keys)
