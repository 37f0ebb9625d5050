"""What identity does, over the store: authenticate, issue and revoke tokens, manage entities.

Handlers (server.py) parse and shape; this module decides. Every operation on entities
takes the caller's AuthContext and enforces its policy rule first (Forbidden). Changes a
token validator must see (revocations, roles) are announced by moving the store's
generation, and identity's own validator is refreshed at once, so identity refuses a
revoked token immediately and other services within their refresh interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken as FernetInvalidToken
from dolmen.identity.config import IdentityConfig
from dolmen.identity.errors import (
    EntityConflict,
    EntityNotFound,
    Forbidden,
    IdentityError,
    Unauthorized,
    ValidationError,
)
from dolmen.identity.parsing import AuthRequest, Ref
from dolmen.identity.passwords import Passwords
from dolmen.identity.policy import Policy
from dolmen.identity.ratelimit import LoginLimiter
from dolmen.identity.revocations import RevocationEvent
from dolmen.identity.roles import effective_roles
from dolmen.identity.store import Document, IdentityStore
from dolmen.identity.tokens import TokenCodec, TokenPayload, new_audit_id, whole_microseconds
from dolmen.identity.validator import AuthContext, TokenValidator
from dolmen.identity.views import DEFAULT_DOMAIN_ID, catalog_view, token_view

from dolmen.limits import RATE_LIMIT_KEYS_MAX

UNAUTHORIZED_MESSAGE = "The request you have made requires authentication."


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class IssuedToken:
    token: str
    payload: TokenPayload
    body: dict[str, Any]


class IdentityService:
    def __init__(
        self,
        store: IdentityStore,
        validator: TokenValidator,
        *,
        config: IdentityConfig,
        passwords: Passwords,
        policy: Policy,
        storage_key: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.validator = validator
        self.config = config
        self.passwords = passwords
        self.policy = policy
        self.clock = clock
        self._sealer = Fernet(storage_key)
        self.limiter = LoginLimiter(
            user_failures_max=config.failed_logins_per_user_max,
            address_failures_max=config.failed_logins_per_address_max,
            window_s=config.failed_login_window_s,
            keys_max=RATE_LIMIT_KEYS_MAX,
        )

    # --- authorisation -------------------------------------------------------

    def caller(self, token: str | None) -> AuthContext:
        if not token:
            raise Unauthorized(UNAUTHORIZED_MESSAGE)
        return self.validator.validate(token)

    def authorize(self, rule: str, caller: AuthContext, target: Mapping[str, str] | None = None) -> None:
        if not self.policy.enforce(rule, caller, target or {}):
            raise Forbidden(f"You are not authorized to perform the requested action: {rule}.")

    # --- tokens --------------------------------------------------------------

    async def authenticate(self, request: AuthRequest, *, address: str, catalog: bool = True) -> IssuedToken:
        """Check the credentials of POST /v3/auth/tokens and issue a token; Unauthorized otherwise."""
        now_s = whole_microseconds(self.clock())
        expires_at_s = whole_microseconds(now_s + self.config.token_lifetime_s)
        if "token" in request.methods:
            assert request.token is not None
            previous = self.validator.validate(request.token)
            user = await self._enabled_user(previous.user_id)
            expires_at_s = min(expires_at_s, previous.expires_at_s)  # re-scoping never extends a token's life
        # The project is looked up while the password hash is checked; a failed check cancels it.
        project_lookup = (
            asyncio.ensure_future(self._resolve_project(request.project))
            if request.project is not None
            else None
        )
        try:
            if "password" in request.methods:
                assert request.user is not None and request.password is not None
                password_user = await self._check_password(request.user, request.password, address=address)
                if "token" in request.methods and password_user["id"] != user["id"]:
                    raise Unauthorized(UNAUTHORIZED_MESSAGE)
                user = password_user
            project = await project_lookup if project_lookup is not None else None
        finally:
            if project_lookup is not None and not project_lookup.done():
                project_lookup.cancel()
                with contextlib.suppress(asyncio.CancelledError, IdentityError):
                    await project_lookup
        user_domain = await self._enabled_domain(user["domain_id"])
        project_domain = None
        roles: list[Document] = []
        if project is not None:
            project_domain = await self._enabled_domain(project["domain_id"])
            if not project.get("enabled", True):
                raise Unauthorized(UNAUTHORIZED_MESSAGE)
            roles = await effective_roles(self.store, user["id"], project["id"])
            if not roles:
                raise Unauthorized(f"User {user['id']} has no access to project {project['id']}.")
        payload = TokenPayload(
            user_id=user["id"],
            user_name=user["name"],
            user_domain_id=user["domain_id"],
            project_id=project["id"] if project else None,
            project_name=project["name"] if project else None,
            project_domain_id=project["domain_id"] if project else None,
            role_ids=tuple(role["id"] for role in roles),
            methods=request.methods,
            issued_at_s=now_s,
            expires_at_s=expires_at_s,
            audit_id=new_audit_id(secrets.token_bytes(16)),
        )
        token = TokenCodec(self.validator.state.keys.validation_keys()[:1]).seal(payload)
        body = await self._token_body(payload, user, user_domain, project, project_domain, roles, catalog)
        return IssuedToken(token, payload, body)

    async def token_body(self, payload: TokenPayload, *, catalog: bool = True) -> dict[str, Any]:
        """The body of GET /v3/auth/tokens for a valid token, read fresh from the store."""
        user = await self.store.get("users", payload.user_id)
        user_domain = await self.store.get("domains", user["domain_id"])
        project = project_domain = None
        if payload.project_id is not None:
            project = await self.store.get("projects", payload.project_id)
            project_domain = await self.store.get("domains", project["domain_id"])
        names = self.validator.state.role_names
        roles = [{"id": role_id, "name": names[role_id]} for role_id in payload.role_ids if role_id in names]
        return await self._token_body(payload, user, user_domain, project, project_domain, roles, catalog)

    async def _token_body(
        self,
        payload: TokenPayload,
        user: Document,
        user_domain: Document,
        project: Document | None,
        project_domain: Document | None,
        roles: list[Document],
        catalog: bool,
    ) -> dict[str, Any]:
        return token_view(
            methods=payload.methods,
            user=user,
            user_domain=user_domain,
            project=project,
            project_domain=project_domain,
            roles=roles,
            issued_at_s=payload.issued_at_s,
            expires_at_s=payload.expires_at_s,
            audit_id=payload.audit_id,
            catalog=await self.catalog(payload.project_id) if catalog else None,
        )

    async def catalog(self, project_id: str | None) -> list[dict[str, Any]]:
        """The catalog from the validator's state (reloaded whenever services or endpoints change)."""
        state = self.validator.state
        return catalog_view(state.services, state.endpoints, project_id)

    async def revoke(self, **names: str | None) -> None:
        """Record a revocation event naming `names` for tokens issued until now, and announce it.

        Events whose tokens have all expired are dropped from the shard in the same write.
        """
        now_s = self.clock()
        event = RevocationEvent(
            issued_before_s=now_s, expires_at_s=now_s + self.config.token_lifetime_s, **names
        )
        await self.store.put_new(
            "revocations",
            secrets.token_hex(8),
            event.to_document(),
            expired=lambda document: float(document["expires_at_s"]) <= now_s,
        )
        await self.announce()

    async def announce(self) -> None:
        """Move the generation so that validators reload, and reload identity's own validator now."""
        await self.store.bump_generation()
        await self.validator.refresh(force=True)

    # --- credentials ---------------------------------------------------------

    async def _check_password(self, ref: Ref, password: str, *, address: str) -> Document:
        user = await self._find_user(ref)
        domain = ref.domain.id or ref.domain.name if ref.domain is not None else ""
        user_key = user["id"] if user is not None else f"{domain}/{ref.name}"
        now_s = self.clock()
        self.limiter.check(user_key=user_key, address=address, now_s=now_s)
        stored = user.get("password_hash") if user is not None else None
        if not await self.passwords.verify(stored, password):
            self.limiter.failed(user_key=user_key, address=address, now_s=now_s)
            raise Unauthorized(UNAUTHORIZED_MESSAGE)
        assert user is not None and stored is not None
        self.limiter.succeeded(user_key=user_key)
        if not user.get("enabled", True):
            raise Unauthorized(UNAUTHORIZED_MESSAGE)
        if self.passwords.needs_rehash(stored):
            await self._set_password_hash(user["id"], await self.passwords.hash(password), revoke=False)
        return user

    async def _find_user(self, ref: Ref) -> Document | None:
        if ref.id is not None:
            return await self.store.find("users", ref.id)
        assert ref.name is not None and ref.domain is not None
        domain = await self._find_domain(ref.domain)
        if domain is None:
            return None
        return await self.store.find_by_name("users", domain["id"], ref.name)

    async def _enabled_user(self, user_id: str) -> Document:
        user = await self.store.find("users", user_id)
        if user is None or not user.get("enabled", True):
            raise Unauthorized(UNAUTHORIZED_MESSAGE)
        return user

    async def _enabled_domain(self, domain_id: str) -> Document:
        cached = self.validator.state.domains.get(domain_id)
        domain = dict(cached) if cached is not None else await self.store.find("domains", domain_id)
        if domain is None or not domain.get("enabled", True):
            raise Unauthorized(UNAUTHORIZED_MESSAGE)
        return domain

    async def _find_domain(self, ref: Ref) -> Document | None:
        for domain in self.validator.state.domains.values():
            if domain["id"] == ref.id or (ref.id is None and domain["name"] == ref.name):
                return dict(domain)
        if ref.id is not None:
            return await self.store.find("domains", ref.id)
        assert ref.name is not None
        return await self.store.find_by_name("domains", "", ref.name)

    async def _resolve_project(self, ref: Ref) -> Document:
        if ref.id is not None:
            project = await self.store.find("projects", ref.id)
        else:
            assert ref.name is not None and ref.domain is not None
            domain = await self._find_domain(ref.domain)
            project = (
                None if domain is None else await self.store.find_by_name("projects", domain["id"], ref.name)
            )
        if project is None:
            raise Unauthorized(UNAUTHORIZED_MESSAGE)
        return project

    async def _set_password_hash(self, user_id: str, password_hash: str, *, revoke: bool) -> None:
        now_s = self.clock()

        def edit(user: Document) -> Document:
            return user | {"password_hash": password_hash, "password_changed_at_s": now_s}

        await self.store.change("users", user_id, edit)
        if revoke:
            await self.revoke(user_id=user_id)

    async def change_password(self, user_id: str, original: str, new: str, *, address: str) -> None:
        """POST /v3/users/{id}/password: the original password must be right (401 otherwise)."""
        await self._check_password(Ref(id=user_id), original, address=address)
        await self._set_password_hash(user_id, await self.passwords.hash(new), revoke=True)

    # --- domains, projects, users, roles ------------------------------------

    async def create_domain(self, fields: Document) -> Document:
        doc: Document = {"id": new_id(), "description": "", "enabled": True} | fields
        domain = await self.store.create_named("domains", doc, scope="")
        await self.announce()  # identity caches domains with the validator's state
        return domain

    async def create_project(self, fields: Document) -> Document:
        doc: Document = {
            "id": new_id(),
            "description": "",
            "enabled": True,
            "domain_id": DEFAULT_DOMAIN_ID,
        } | fields
        await self._existing_domain(doc["domain_id"])
        return await self.store.create_named("projects", doc, scope=doc["domain_id"])

    async def create_user(self, fields: Document) -> Document:
        doc: Document = {"id": new_id(), "enabled": True, "domain_id": DEFAULT_DOMAIN_ID} | fields
        await self._existing_domain(doc["domain_id"])
        password = doc.pop("password", None)
        doc["password_hash"] = await self.passwords.hash(password) if password else None
        doc["password_changed_at_s"] = self.clock()
        return await self.store.create_named("users", doc, scope=doc["domain_id"])

    async def create_role(self, fields: Document) -> Document:
        doc: Document = {"id": new_id()} | fields
        role = await self.store.create_named("roles", doc, scope="")
        await self.announce()  # validators name roles by id
        return role

    async def _existing_domain(self, domain_id: str) -> Document:
        domain = await self.store.find("domains", domain_id)
        if domain is None:
            raise ValidationError(f"Could not find domain: {domain_id}.")
        return domain

    async def update_named(self, collection: str, entity_id: str, fields: Document) -> Document:
        """PATCH of a domain, project, user or role: rename claims the new name first."""
        current = await self.store.get(collection, entity_id)
        scope = current.get("domain_id", "") if collection in ("projects", "users") else ""
        if "domain_id" in fields and fields["domain_id"] != current.get("domain_id"):
            raise ValidationError("Moving an entity to another domain is not supported.")
        password = fields.pop("password", None) if collection == "users" else None
        if "name" in fields:
            await self.store.rename(collection, current, fields["name"], scope=scope)
        try:
            before, after = await self.store.change(collection, entity_id, lambda doc: doc | fields)
        except BaseException:
            if "name" in fields and fields["name"] != current["name"]:
                await self.store.release_name(collection, scope, fields["name"], entity_id)
            raise
        if before["name"] != after["name"]:
            await self.store.release_name(collection, scope, before["name"], entity_id)
        if password is not None:
            await self._set_password_hash(entity_id, await self.passwords.hash(password), revoke=True)
        disabled = before.get("enabled", True) and not after.get("enabled", True)
        if disabled and collection == "users":
            await self.revoke(user_id=entity_id)
        elif disabled and collection == "projects":
            await self.revoke(project_id=entity_id)
        elif collection in ("roles", "domains"):
            await self.announce()
        return after

    async def delete_named(self, collection: str, entity_id: str) -> None:
        entity = await self.store.get(collection, entity_id)
        if collection == "domains":
            if entity_id == DEFAULT_DOMAIN_ID:
                raise Forbidden("The default domain cannot be deleted.")
            if entity.get("enabled", True):
                raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
            if any(p["domain_id"] == entity_id for p in await self.store.list("projects")):
                raise EntityConflict("The domain still has projects.")
        scope = entity.get("domain_id", "") if collection in ("projects", "users") else ""
        await self.store.delete_named(collection, entity, scope=scope)
        if collection == "users":
            await self._delete_assignments(lambda a: a["user_id"] == entity_id)
            await self.revoke(user_id=entity_id)
        elif collection == "projects":
            await self._delete_assignments(lambda a: a["project_id"] == entity_id)
            await self.revoke(project_id=entity_id)
        elif collection == "roles":
            await self._delete_assignments(lambda a: a["role_id"] == entity_id)
            await self.revoke(role_id=entity_id)
        else:
            await self.announce()

    async def _delete_assignments(self, chosen: Callable[[Document], bool]) -> None:
        for assignment in await self.store.list("assignments"):
            if chosen(assignment):
                await self.store.discard("assignments", assignment_key(assignment))

    async def list_named(self, collection: str, filters: Mapping[str, str]) -> list[Document]:
        """Every entity of `collection` whose fields equal `filters` (name, domain_id, enabled)."""
        if "name" in filters and collection in ("domains", "roles"):
            found = await self.store.find_by_name(collection, "", filters["name"])
            candidates = [found] if found else []
        else:
            candidates = await self.store.list(collection)
        return [doc for doc in candidates if all(_matches(doc.get(k), v) for k, v in filters.items())]

    # --- role assignments ----------------------------------------------------

    async def grant(self, project_id: str, user_id: str, role_id: str) -> None:
        await self.store.get("projects", project_id)
        await self.store.get("users", user_id)
        await self.store.get("roles", role_id)
        assignment = {"user_id": user_id, "project_id": project_id, "role_id": role_id}
        with contextlib.suppress(EntityConflict):  # granting a role held already succeeds, as in Keystone
            await self.store.put_new("assignments", assignment_key(assignment), assignment)

    async def check_grant(self, project_id: str, user_id: str, role_id: str) -> None:
        key = assignment_key({"user_id": user_id, "project_id": project_id, "role_id": role_id})
        if await self.store.find("assignments", key) is None:
            raise EntityNotFound(f"Could not find role assignment for role {role_id}.")

    async def revoke_grant(self, project_id: str, user_id: str, role_id: str) -> None:
        await self.store.remove(
            "assignments", assignment_key({"user_id": user_id, "project_id": project_id, "role_id": role_id})
        )
        await self.revoke(user_id=user_id, project_id=project_id)

    async def list_assignments(
        self, *, user_id: str | None, project_id: str | None, role_id: str | None
    ) -> list[Document]:
        prefix = f"{user_id}." if user_id else ""
        if user_id and project_id:
            prefix = f"{user_id}.{project_id}."
        return [
            a
            for a in await self.store.list("assignments", prefix=prefix)
            if (project_id is None or a["project_id"] == project_id)
            and (role_id is None or a["role_id"] == role_id)
        ]

    async def user_projects(self, user_id: str) -> list[Document]:
        project_ids = {a["project_id"] for a in await self.store.list("assignments", prefix=f"{user_id}.")}
        projects = [await self.store.find("projects", project_id) for project_id in sorted(project_ids)]
        return [project for project in projects if project is not None and project.get("enabled", True)]

    # --- catalog entities ----------------------------------------------------

    async def create_service(self, fields: Document) -> Document:
        doc: Document = {"id": new_id(), "name": "", "description": "", "enabled": True} | fields
        await self.store.put_new("services", doc["id"], doc)
        await self.announce()  # the catalog is cached with the validator's state
        return doc

    async def create_endpoint(self, fields: Document) -> Document:
        await self.store.get("services", fields["service_id"])
        doc: Document = {"id": new_id(), "enabled": True, "region_id": self.config.region} | fields
        await self.store.put_new("endpoints", doc["id"], doc)
        await self.announce()
        return doc

    async def update_plain(self, collection: str, entity_id: str, fields: Document) -> Document:
        after = (await self.store.change(collection, entity_id, lambda doc: doc | fields))[1]
        await self.announce()
        return after

    async def delete_plain(self, collection: str, entity_id: str) -> None:
        await self.store.remove(collection, entity_id)
        if collection == "services":
            for endpoint in await self.store.list("endpoints"):
                if endpoint["service_id"] == entity_id:
                    await self.store.discard("endpoints", endpoint["id"])
        await self.announce()

    # --- EC2 credentials -----------------------------------------------------

    async def create_ec2(self, user_id: str, project_id: str) -> tuple[Document, str]:
        """A new access key and secret for `user_id` on `project_id` (where the user must hold a role)."""
        await self.store.get("users", user_id)
        await self.store.get("projects", project_id)
        if not await self.store.list("assignments", prefix=f"{user_id}.{project_id}."):
            raise Forbidden(f"User {user_id} has no role on project {project_id}.")
        access, secret = new_id(), secrets.token_hex(16)
        credential = {
            "access": access,
            "user_id": user_id,
            "project_id": project_id,
            "secret_sealed": self._sealer.encrypt(secret.encode()).decode("ascii"),
            "created_at_s": self.clock(),
        }
        # Index first, then the truth: a listed entry whose credential is missing is skipped.
        await self.store.put_new("ec2_by_user", f"{user_id}.{access}", {"access": access})
        await self.store.put_new("ec2", access, credential)
        return credential, secret

    def ec2_secret(self, credential: Document) -> str:
        try:
            return self._sealer.decrypt(credential["secret_sealed"].encode("ascii")).decode()
        except (FernetInvalidToken, KeyError, UnicodeError):
            raise EntityNotFound("The credential cannot be read under this cluster's key.") from None

    async def get_ec2(self, user_id: str, access: str) -> Document:
        credential = await self.store.find("ec2", access)
        if credential is None or credential["user_id"] != user_id:
            raise EntityNotFound(f"Could not find credential: {access}.")
        return credential

    async def list_ec2(self, user_id: str) -> list[Document]:
        await self.store.get("users", user_id)
        found = []
        for entry in await self.store.list("ec2_by_user", prefix=f"{user_id}."):
            credential = await self.store.find("ec2", entry["access"])
            if credential is not None and credential["user_id"] == user_id:
                found.append(credential)
        return found

    async def delete_ec2(self, user_id: str, access: str) -> None:
        await self.get_ec2(user_id, access)
        await self.store.remove("ec2", access)
        await self.store.discard("ec2_by_user", f"{user_id}.{access}")


def assignment_key(assignment: Mapping[str, str]) -> str:
    return f"{assignment['user_id']}.{assignment['project_id']}.{assignment['role_id']}"


def _matches(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return str(value).lower() == wanted.lower()
    return value is not None and str(value) == wanted
