"""The JSON bodies of the Keystone v3 API, shaped from stored documents (pure).

Field sets follow `shared/reference/openstack-api-surface.md`: the token body always
has methods, expires_at, issued_at, user (id, name, domain), project (id, name,
domain) when scoped, roles and catalog; errors are {"error": {code, message, title}}.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from dolmen.identity.errors import IdentityError

API_VERSION_ID = "v3.14"
DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"

Document = Mapping[str, Any]


def iso_time(seconds: float) -> str:
    """Keystone's timestamp format: 2030-01-01T00:00:00.000000Z (UTC, microseconds)."""
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_body(error: IdentityError) -> dict[str, Any]:
    return error_body_for(error.status, error.title, str(error))


def error_body_for(status: int, title: str, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "title": title}}


def v3_url(base_url: str, path: str) -> str:
    """The URL of `path` under identity's /v3 (`base_url` is identity's root, with or without a slash)."""
    return f"{base_url.rstrip('/')}/v3/{path}"


def version_document(base_url: str) -> dict[str, Any]:
    """The v3 version entry; `base_url` is identity's root (no /v3)."""
    return {
        "id": API_VERSION_ID,
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": v3_url(base_url, "")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }


def link(base_url: str, collection: str, entity_id: str) -> dict[str, str]:
    return {"self": v3_url(base_url, f"{collection}/{entity_id}")}


def collection_links(base_url: str, collection: str) -> dict[str, Any]:
    return {"self": v3_url(base_url, collection), "previous": None, "next": None}


def domain_view(domain: Document, base_url: str) -> dict[str, Any]:
    return {
        "id": domain["id"],
        "name": domain["name"],
        "description": domain.get("description", ""),
        "enabled": domain.get("enabled", True),
        "tags": [],
        "options": {},
        "links": link(base_url, "domains", domain["id"]),
    }


def project_view(project: Document, base_url: str) -> dict[str, Any]:
    return {
        "id": project["id"],
        "name": project["name"],
        "domain_id": project["domain_id"],
        "description": project.get("description", ""),
        "enabled": project.get("enabled", True),
        "parent_id": project["domain_id"],
        "is_domain": False,
        "tags": [],
        "options": {},
        "links": link(base_url, "projects", project["id"]),
    }


def user_view(user: Document, base_url: str) -> dict[str, Any]:
    """A user, never its password hash."""
    view = {
        "id": user["id"],
        "name": user["name"],
        "domain_id": user["domain_id"],
        "enabled": user.get("enabled", True),
        "password_expires_at": None,
        "options": {},
        "links": link(base_url, "users", user["id"]),
    }
    for optional in ("email", "description", "default_project_id"):
        if user.get(optional) is not None:
            view[optional] = user[optional]
    return view


def role_view(role: Document, base_url: str) -> dict[str, Any]:
    return {
        "id": role["id"],
        "name": role["name"],
        "domain_id": None,
        "description": role.get("description"),
        "options": {},
        "links": link(base_url, "roles", role["id"]),
    }


def service_view(service: Document, base_url: str) -> dict[str, Any]:
    return {
        "id": service["id"],
        "type": service["type"],
        "name": service.get("name", ""),
        "description": service.get("description", ""),
        "enabled": service.get("enabled", True),
        "links": link(base_url, "services", service["id"]),
    }


def endpoint_view(endpoint: Document, base_url: str) -> dict[str, Any]:
    return {
        "id": endpoint["id"],
        "service_id": endpoint["service_id"],
        "interface": endpoint["interface"],
        "url": endpoint["url"],
        "region": endpoint.get("region_id"),
        "region_id": endpoint.get("region_id"),
        "enabled": endpoint.get("enabled", True),
        "links": link(base_url, "endpoints", endpoint["id"]),
    }


def assignment_view(assignment: Document, base_url: str) -> dict[str, Any]:
    user_id, project_id, role_id = assignment["user_id"], assignment["project_id"], assignment["role_id"]
    return {
        "user": {"id": user_id},
        "scope": {"project": {"id": project_id}},
        "role": {"id": role_id},
        "links": {"assignment": v3_url(base_url, f"projects/{project_id}/users/{user_id}/roles/{role_id}")},
    }


def ec2_view(credential: Document, secret: str, base_url: str) -> dict[str, Any]:
    user_id, access = credential["user_id"], credential["access"]
    return {
        "access": access,
        "secret": secret,
        "tenant_id": credential["project_id"],
        "user_id": user_id,
        "trust_id": None,
        "links": link(base_url, f"users/{user_id}/credentials/OS-EC2", access),
    }


def endpoint_url(template: str, project_id: str | None) -> str:
    """An endpoint URL with `$(project_id)s` / `%(project_id)s` filled in (as Keystone's templates)."""
    if project_id is None:
        return template
    return template.replace("$(project_id)s", project_id).replace("%(project_id)s", project_id)


def catalog_view(
    services: Iterable[Document], endpoints: Iterable[Document], project_id: str | None
) -> list[dict[str, Any]]:
    """The token's catalog: every enabled service with its enabled endpoints.

    Endpoints whose URL needs a project are left out of an unscoped catalog.
    """
    by_service: dict[str, list[Document]] = {}
    for endpoint in endpoints:
        if endpoint.get("enabled", True):
            by_service.setdefault(endpoint["service_id"], []).append(endpoint)
    catalog = []
    for service in sorted(services, key=lambda service: (service["type"], service["id"])):
        if not service.get("enabled", True):
            continue
        entries = []
        for endpoint in sorted(by_service.get(service["id"], []), key=lambda e: (e["interface"], e["id"])):
            needs_project = "project_id)s" in endpoint["url"]
            if needs_project and project_id is None:
                continue
            entries.append(
                {
                    "id": endpoint["id"],
                    "interface": endpoint["interface"],
                    "region": endpoint.get("region_id"),
                    "region_id": endpoint.get("region_id"),
                    "url": endpoint_url(endpoint["url"], project_id),
                }
            )
        catalog.append(
            {
                "id": service["id"],
                "type": service["type"],
                "name": service.get("name", ""),
                "endpoints": entries,
            }
        )
    return catalog


def token_view(
    *,
    methods: Iterable[str],
    user: Document,
    user_domain: Document,
    project: Document | None,
    project_domain: Document | None,
    roles: Iterable[Document],
    issued_at_s: float,
    expires_at_s: float,
    audit_id: str,
    catalog: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """The token body of POST and GET /v3/auth/tokens (`catalog` None: ?nocatalog)."""
    token: dict[str, Any] = {
        "methods": list(methods),
        "expires_at": iso_time(expires_at_s),
        "issued_at": iso_time(issued_at_s),
        "audit_ids": [audit_id],
        "user": {
            "id": user["id"],
            "name": user["name"],
            "domain": {"id": user_domain["id"], "name": user_domain["name"]},
            "password_expires_at": None,
        },
    }
    if project is not None:
        assert project_domain is not None
        token["project"] = {
            "id": project["id"],
            "name": project["name"],
            "domain": {"id": project_domain["id"], "name": project_domain["name"]},
        }
        token["is_domain"] = False
        token["roles"] = [{"id": role["id"], "name": role["name"]} for role in roles]
    if catalog is not None:
        token["catalog"] = catalog
    return {"token": token}
