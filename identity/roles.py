"""Effective roles: what a user holds on a project, with the roles those imply.

Holding a role grants the ones it implies (Keystone's bootstrap defaults:
admin > member > reader). Tokens carry effective roles from the moment they
are issued; EC2 (S3) credentials get theirs when the S3 listener reads them.
"""

from __future__ import annotations

from dolmen.identity.store import Document, IdentityStore

from dolmen.limits import TOKEN_ROLES_MAX

IMPLIED_ROLES: dict[str, tuple[str, ...]] = {"admin": ("member", "reader"), "member": ("reader",)}


async def effective_roles(store: IdentityStore, user_id: str, project_id: str) -> list[Document]:
    """The roles `user_id` holds on `project_id`, with the ones they imply; sorted by name."""
    assigned = {a["role_id"] for a in await store.list("assignments", prefix=f"{user_id}.{project_id}.")}
    roles = {role["id"]: role for role in await store.list("roles")}
    by_name = {role["name"]: role for role in roles.values()}
    effective = {role_id: roles[role_id] for role_id in assigned if role_id in roles}
    for role in list(effective.values()):
        for implied in IMPLIED_ROLES.get(role["name"], ()):
            if implied in by_name:
                effective[by_name[implied]["id"]] = by_name[implied]
    ordered = sorted(effective.values(), key=lambda role: role["name"])
    return [{"id": role["id"], "name": role["name"]} for role in ordered][:TOKEN_ROLES_MAX]
