"""EC2 (S3) credentials as other services read them: access key -> secret, and who it acts as.

The S3 listener verifies signatures with the secret of an access key. Identity
stores each credential in its `ec2` collection with the secret sealed under the
identity storage key (derived from the cluster secret); this reads one, unseals
it, and says whose it is: the same `AuthContext` a token of that user scoped to
that project would carry (effective roles included), so one policy decides for
tokens and access keys alike. As Keystone's ec2tokens, a credential whose user,
project or their domains are disabled or gone, or whose user holds no role on
the project, is as good as absent. A few store reads per call: callers cache
(the S3 listener keeps credentials for a few seconds, so a disabled user or a
revoked role stops working at most that much later).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken as FernetInvalidToken
from dolmen.identity.roles import effective_roles
from dolmen.identity.store import Document, IdentityStore, open_records
from dolmen.identity.validator import AuthContext, storage_key_of

EC2_METHOD = "ec2credential"


@dataclass(frozen=True)
class Ec2Credential:
    access: str
    secret: str
    context: AuthContext

    @property
    def user_id(self) -> str:
        return self.context.user_id

    @property
    def project_id(self) -> str:
        assert self.context.project_id is not None, "an EC2 credential is always project-scoped"
        return self.context.project_id


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
        context = await self._context(document["user_id"], document["project_id"], access)
        return None if context is None else Ec2Credential(access=access, secret=secret, context=context)

    async def _context(self, user_id: str, project_id: str, access: str) -> AuthContext | None:
        """Who the credential acts as, or None if its user or project cannot act now."""
        user, project = await asyncio.gather(
            self._store.find("users", user_id), self._store.find("projects", project_id)
        )
        if not _enabled(user) or not _enabled(project):
            return None
        assert user is not None and project is not None
        domains = await asyncio.gather(
            self._store.find("domains", user["domain_id"]), self._store.find("domains", project["domain_id"])
        )
        if not all(_enabled(domain) for domain in domains):
            return None
        roles = await effective_roles(self._store, user_id, project_id)
        if not roles:
            return None
        return AuthContext(
            user_id=user_id,
            user_name=user["name"],
            user_domain_id=user["domain_id"],
            project_id=project_id,
            project_name=project["name"],
            project_domain_id=project["domain_id"],
            roles=frozenset(role["name"] for role in roles),
            methods=(EC2_METHOD,),
            expires_at_s=math.inf,
            issued_at_s=0.0,
            audit_id=access,
            role_ids=tuple(role["id"] for role in roles),
        )


def _enabled(entity: Document | None) -> bool:
    return entity is not None and bool(entity.get("enabled", True))
