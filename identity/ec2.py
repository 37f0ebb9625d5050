"""EC2 (S3) credentials as other services read them: access key -> secret, user and project.

The S3 listener verifies signatures with the secret of an access key. Identity
stores each credential in its `ec2` collection with the secret sealed under the
identity storage key (derived from the cluster secret); this reads one, unseals
it, and says whose it is. One store read per call: callers cache (the S3
listener keeps credentials for a few seconds).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken as FernetInvalidToken
from dolmen.identity.store import IdentityStore, open_records
from dolmen.identity.validator import storage_key_of


@dataclass(frozen=True)
class Ec2Credential:
    access: str
    secret: str
    user_id: str
    project_id: str


class Ec2CredentialReader:
    """Reads EC2 credentials from the store; `find` is None for an unknown (or unreadable) access key."""

    def __init__(self, store: IdentityStore, storage_key: bytes) -> None:
        self._store = store
        self._sealer = Fernet(storage_key)

    @classmethod
    async def open(cls, client: Any) -> Ec2CredentialReader:
        """A reader over the cluster client's store (reads the cluster secret file once)."""
        storage_key = await asyncio.to_thread(storage_key_of, client)
        return cls(IdentityStore(open_records(client)), storage_key)

    async def find(self, access: str) -> Ec2Credential | None:
        document = await self._store.find("ec2", access)
        if document is None:
            return None
        try:
            secret = self._sealer.decrypt(document["secret_sealed"].encode("ascii")).decode()
        except (FernetInvalidToken, KeyError, UnicodeError):
            return None  # sealed under another cluster's key: as good as absent
        return Ec2Credential(
            access=access, secret=secret, user_id=document["user_id"], project_id=document["project_id"]
        )
