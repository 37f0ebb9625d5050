"""Local token validation for every service: keys, revocations and role names polled from the store.

`TokenValidator.validate(token)` is synchronous and does no I/O: it opens the token with
the Fernet keys it holds, checks expiry and the revocation events it holds, and names the
token's roles. A background task refreshes keys, events and roles every
`refresh_interval_s`: it reads the store's generation record (one small read) and reloads
the rest only when the generation moved, or at least every `full_reload_interval_s`. So a
token revoked through identity is refused by every validator within about
`refresh_interval_s` plus one store read. If refreshing keeps failing for
`stale_after_s`, validation refuses every token (InvalidToken) rather than honour
revocations it can no longer see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dolmen.identity.errors import InvalidToken, KeysUnavailable
from dolmen.identity.keyrepo import KeyRepository, unseal_repository
from dolmen.identity.revocations import RevocationEvent, RevocationList
from dolmen.identity.store import IdentityStore, open_records
from dolmen.identity.tokens import TokenCodec, TokenPayload

from dolmen.keys import identity_storage_key, read_secret
from dolmen.limits import REVOCATION_EVENTS_MAX, ROLES_MAX

log = logging.getLogger("dolmen.identity.validator")

FULL_RELOAD_EVERY_REFRESHES = (
    30  # reload everything at least this often even if the generation says nothing moved
)
STALE_AFTER_REFRESHES = 15  # refreshes failing for this long make validation refuse every token


@dataclass(frozen=True, kw_only=True)
class AuthContext:
    """Who a valid token speaks for. `roles` are role names (effective: admin implies member implies reader)."""

    user_id: str
    user_name: str
    user_domain_id: str
    project_id: str | None
    project_name: str | None
    project_domain_id: str | None
    roles: frozenset[str]
    methods: tuple[str, ...]
    expires_at_s: float
    issued_at_s: float
    audit_id: str
    role_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidationState:
    """What validation needs, swapped whole on refresh so that a check never sees half an update."""

    codec: TokenCodec
    keys: KeyRepository
    revocations: RevocationList
    role_names: Mapping[str, str]  # role id -> name
    generation: int
    loaded_at_s: float
    # What identity itself reads on every login, cached with the rest (few, rarely changed):
    domains: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # id -> domain
    services: tuple[Mapping[str, Any], ...] = ()
    endpoints: tuple[Mapping[str, Any], ...] = ()


def check_token(state: ValidationState, token: str, *, now_s: float) -> tuple[TokenPayload, AuthContext]:
    """Open and check `token` against `state` (pure); raises InvalidToken."""
    payload = state.codec.open(token)
    if payload.expires_at_s <= now_s:
        raise InvalidToken("The token has expired.")
    if state.revocations.is_revoked(payload):
        raise InvalidToken("The token has been revoked.")
    roles = frozenset(
        state.role_names[role_id] for role_id in payload.role_ids if role_id in state.role_names
    )
    context = AuthContext(
        user_id=payload.user_id,
        user_name=payload.user_name,
        user_domain_id=payload.user_domain_id,
        project_id=payload.project_id,
        project_name=payload.project_name,
        project_domain_id=payload.project_domain_id,
        roles=roles,
        methods=payload.methods,
        expires_at_s=payload.expires_at_s,
        issued_at_s=payload.issued_at_s,
        audit_id=payload.audit_id,
        role_ids=tuple(role_id for role_id in payload.role_ids if role_id in state.role_names),
    )
    return payload, context


async def load_state(store: IdentityStore, storage_key: bytes, *, now_s: float) -> ValidationState:
    """Read keys, live revocation events, roles, domains and the catalog; KeysUnavailable before bootstrap."""
    generation = await store.generation()  # first: whatever follows is at least as new
    sealed = await store.sealed_keys()
    if sealed is None:
        raise KeysUnavailable("no token keys in the store: run `dolmen identity bootstrap`")
    keys = unseal_repository(sealed, storage_key)
    documents, roles, domains, services, endpoints = await asyncio.gather(
        *(
            store.list(collection)
            for collection in ("revocations", "roles", "domains", "services", "endpoints")
        )
    )
    events = [RevocationEvent.from_document(document) for document in documents]
    events = [event for event in events if event.expires_at_s > now_s][-REVOCATION_EVENTS_MAX:]
    if len(roles) > ROLES_MAX:
        log.warning("identity.too_many_roles", extra={"count": len(roles), "kept": ROLES_MAX})
    return ValidationState(
        codec=TokenCodec(keys.validation_keys()),
        keys=keys,
        revocations=RevocationList(events),
        role_names={role["id"]: role["name"] for role in roles[:ROLES_MAX]},
        generation=generation,
        loaded_at_s=now_s,
        domains={domain["id"]: domain for domain in domains},
        services=tuple(services),
        endpoints=tuple(endpoints),
    )


def storage_key_of(client: Any) -> bytes:
    """The key that seals identity's secrets, derived from the cluster secret the client was opened with."""
    return identity_storage_key(read_secret(client.config.cluster_secret_file))


class TokenValidator:
    """Validates tokens locally; see the module docstring. Open with `await TokenValidator.open(client)`."""

    def __init__(
        self,
        store: IdentityStore,
        storage_key: bytes,
        state: ValidationState,
        *,
        refresh_interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        assert refresh_interval_s > 0
        self._store = store
        self._storage_key = storage_key
        self._state = state
        self._clock = clock
        self.refresh_interval_s = refresh_interval_s
        self.stale_after_s = max(30.0, STALE_AFTER_REFRESHES * refresh_interval_s)
        self._refreshed_at_s = clock()
        self._refresh_count = 0
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, client: Any, *, refresh_interval_s: float = 2.0) -> TokenValidator:
        """Load the state now (raises KeysUnavailable before bootstrap) and refresh it in the background."""
        store = IdentityStore(open_records(client))
        storage_key = await asyncio.to_thread(storage_key_of, client)
        return await cls.open_store(store, storage_key, refresh_interval_s=refresh_interval_s)

    @classmethod
    async def open_store(
        cls, store: IdentityStore, storage_key: bytes, *, refresh_interval_s: float = 2.0
    ) -> TokenValidator:
        state = await load_state(store, storage_key, now_s=time.time())
        validator = cls(store, storage_key, state, refresh_interval_s=refresh_interval_s)
        validator._task = asyncio.create_task(validator._refresh_forever(), name="identity-validator-refresh")
        return validator

    async def close(self) -> None:
        """Stop refreshing; validate() keeps answering from the last state until stale."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def state(self) -> ValidationState:
        return self._state

    def validate(self, token: str) -> AuthContext:
        """The context of a valid token; raises InvalidToken (malformed, tampered, expired, revoked)."""
        return self.check(token)[1]

    def check(self, token: str) -> tuple[TokenPayload, AuthContext]:
        now_s = self._clock()
        if now_s - self._refreshed_at_s > self.stale_after_s:
            raise InvalidToken("token checks are unavailable: revocations could not be refreshed")
        return check_token(self._state, token, now_s=now_s)

    async def refresh(self, *, force: bool = False) -> None:
        """Reload from the store if its generation moved (or `force`); raises what the store raises."""
        self._refresh_count += 1
        full = force or self._refresh_count % FULL_RELOAD_EVERY_REFRESHES == 0
        if full or await self._store.generation() != self._state.generation:
            self._state = await load_state(self._store, self._storage_key, now_s=self._clock())
        self._refreshed_at_s = self._clock()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_interval_s)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a store outage: keep the last state until it goes stale
                log.warning(
                    "identity.validator_refresh_failed",
                    extra={"error_type": type(error).__name__, "reason": str(error)[:200]},
                )
