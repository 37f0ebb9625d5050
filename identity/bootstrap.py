"""`bootstrap`: the token keys, the default domain, the admin user and project, the roles and the catalog.

Idempotent: run again, it keeps what exists (keys, entities, endpoints with the same
service type and interface) and sets the admin password to the one given, so that an
operator who lost it can reset it. Every service type passed gets a `public` and an
`internal` endpoint (keystonemiddleware looks for `internal`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet
from dolmen.identity.config import IdentityConfig
from dolmen.identity.errors import EntityConflict
from dolmen.identity.keyrepo import KeyRepository, seal_repository, unseal_repository
from dolmen.identity.passwords import Passwords
from dolmen.identity.service import new_id
from dolmen.identity.store import Document, IdentityStore, open_records
from dolmen.identity.validator import storage_key_of
from dolmen.identity.views import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME

from dolmen.cluster import RecordExists, VersionConflict

ADMIN_USER = "admin"
ADMIN_PROJECT = "admin"
ROLES = ("admin", "member", "reader")
SERVICE_NAMES = {
    "identity": "keystone",
    "object-store": "swift",
    "block-storage": "cinder",
    "compute": "nova",
    "image": "glance",
    "s3": "s3",
}


@dataclass(frozen=True)
class ServiceEndpoints:
    """One catalog service; URLs may hold `$(project_id)s` (object-store: .../v1/AUTH_$(project_id)s)."""

    type: str
    public_url: str
    internal_url: str
    name: str = ""


@dataclass(frozen=True)
class BootstrapResult:
    user_id: str
    user_name: str
    password: str
    project_id: str
    project_name: str
    domain_id: str
    region: str

    def as_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "user_name": self.user_name,
            "password": self.password,
            "project_id": self.project_id,
            "project_name": self.project_name,
            "user_domain_id": self.domain_id,
            "project_domain_id": self.domain_id,
            "region": self.region,
        }


async def bootstrap(
    client: Any,
    *,
    admin_password: str,
    services: Sequence[ServiceEndpoints] = (),
    config: IdentityConfig | None = None,
) -> BootstrapResult:
    """Make the store ready for identity (see the module docstring); returns the admin's credentials."""
    config = config or IdentityConfig()
    store = IdentityStore(open_records(client), claim_grace_s=config.name_claim_grace_s)
    storage_key = await asyncio.to_thread(storage_key_of, client)
    return await bootstrap_store(
        store, storage_key, admin_password=admin_password, services=services, config=config
    )


async def bootstrap_store(
    store: IdentityStore,
    storage_key: bytes,
    *,
    admin_password: str,
    services: Sequence[ServiceEndpoints],
    config: IdentityConfig,
) -> BootstrapResult:
    await ensure_keys(store, storage_key)
    passwords = Passwords(config.password_cost, threads=1, waiting_max=0)
    try:
        domain = await _ensure_named(
            store,
            "domains",
            {"id": DEFAULT_DOMAIN_ID, "name": DEFAULT_DOMAIN_NAME, "enabled": True},
            scope="",
        )
        roles = {
            name: await _ensure_named(store, "roles", {"id": new_id(), "name": name}, scope="")
            for name in ROLES
        }
        project = await _ensure_named(
            store,
            "projects",
            {
                "id": new_id(),
                "name": ADMIN_PROJECT,
                "domain_id": domain["id"],
                "enabled": True,
                "description": "",
            },
            scope=domain["id"],
        )
        password_hash = await passwords.hash(admin_password)
        user = await _ensure_named(
            store,
            "users",
            {"id": new_id(), "name": ADMIN_USER, "domain_id": domain["id"], "enabled": True},
            scope=domain["id"],
        )
        await store.change(
            "users", user["id"], lambda doc: doc | {"password_hash": password_hash, "enabled": True}
        )
        assignment = {"user_id": user["id"], "project_id": project["id"], "role_id": roles["admin"]["id"]}
        key = f"{user['id']}.{project['id']}.{roles['admin']['id']}"
        if await store.find("assignments", key) is None:
            await store.put_new("assignments", key, assignment)
        for service in services:
            await _ensure_service(store, service, region=config.region)
        await store.bump_generation()  # validators learn the roles
    finally:
        passwords.close()
    return BootstrapResult(
        user_id=user["id"],
        user_name=ADMIN_USER,
        password=admin_password,
        project_id=project["id"],
        project_name=ADMIN_PROJECT,
        domain_id=domain["id"],
        region=config.region,
    )


async def ensure_keys(store: IdentityStore, storage_key: bytes) -> KeyRepository:
    """The key repository in the store, created (staged + primary) if there is none yet."""
    sealed = await store.sealed_keys()
    if sealed is not None:
        return unseal_repository(sealed, storage_key)
    repository = KeyRepository.initial(staged=Fernet.generate_key(), primary=Fernet.generate_key())
    try:
        await store.records.create("state", "fernet_keys", seal_repository(repository, storage_key))
    except RecordExists:  # another bootstrap won the race: use its keys
        sealed = await store.sealed_keys()
        assert sealed is not None
        return unseal_repository(sealed, storage_key)
    await store.bump_generation()
    return repository


async def rotate_keys(store: IdentityStore, storage_key: bytes, *, active_keys_max: int) -> KeyRepository:
    """One rotation (keyrepo.KeyRepository.rotate), compare-and-swapped so concurrent rotations do not clash."""
    for _ in range(8):
        record = await store.records.get("state", "fernet_keys")
        if record is None:
            return await ensure_keys(store, storage_key)
        rotated = unseal_repository(record.doc, storage_key).rotate(
            Fernet.generate_key(), active_keys_max=active_keys_max
        )
        try:
            await store.records.update(
                "state", "fernet_keys", seal_repository(rotated, storage_key), version=record.version
            )
        except VersionConflict:  # a concurrent rotation: read again
            continue
        await store.bump_generation()
        return rotated
    raise EntityConflict("the key repository keeps changing; rotate again")


async def _ensure_named(store: IdentityStore, collection: str, doc: Document, *, scope: str) -> Document:
    existing = await store.find_by_name(collection, scope, doc["name"])
    if existing is not None:
        return existing
    try:
        return await store.create_named(collection, doc, scope=scope)
    except EntityConflict:  # created concurrently
        existing = await store.find_by_name(collection, scope, doc["name"])
        assert existing is not None
        return existing


async def _ensure_service(store: IdentityStore, wanted: ServiceEndpoints, *, region: str) -> None:
    services = [s for s in await store.list("services") if s["type"] == wanted.type]
    if services:
        service = services[0]
    else:
        name = wanted.name or SERVICE_NAMES.get(wanted.type, wanted.type)
        service = {"id": new_id(), "type": wanted.type, "name": name, "description": "", "enabled": True}
        await store.put_new("services", service["id"], service)
    endpoints = [e for e in await store.list("endpoints") if e["service_id"] == service["id"]]
    for interface, url in (("public", wanted.public_url), ("internal", wanted.internal_url)):
        current = [e for e in endpoints if e["interface"] == interface]
        if current:
            if current[0]["url"] != url:
                await store.change("endpoints", current[0]["id"], _with_url(url))
            continue
        endpoint = {
            "id": new_id(),
            "service_id": service["id"],
            "interface": interface,
            "url": url,
            "region_id": region,
            "enabled": True,
        }
        await store.put_new("endpoints", endpoint["id"], endpoint)


def _with_url(url: str) -> Callable[[Document], Document]:
    return lambda endpoint: endpoint | {"url": url}
