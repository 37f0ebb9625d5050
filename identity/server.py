"""The identity HTTP API (Keystone v3 subset) on aiohttp: thin handlers over IdentityService.

Handlers parse (parsing.py), call the service, and shape (views.py). One middleware maps
every exception to Keystone's JSON error body; another writes the request's one log line
(never a token or a password) and its metrics.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from dolmen.identity import parsing, views
from dolmen.identity.errors import EntityNotFound, IdentityError, TooManyFailedLogins, ValidationError
from dolmen.identity.service import IdentityService

from dolmen.cluster import BadName, QuorumNotReached, RecordTooLarge, RegisterContention
from dolmen.errors import DolmenError
from dolmen.limits import (
    IDENTITY_BODY_BYTES_MAX,
)
from dolmen.logs import log_request, request_id_var
from dolmen.metrics import CONTENT_TYPE, Metrics
from dolmen.serving import answer_expect, not_found

log = logging.getLogger("dolmen.identity")

SERVICE = web.AppKey("service", IdentityService)


class IdentityMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.registry = metrics
        self.requests_total = metrics.counter(
            "requests_total", "Requests answered", ("method", "route", "status")
        )
        self.request_seconds = metrics.histogram("request_seconds", "Request duration", ("method", "route"))
        self.tokens_issued_total = metrics.counter("tokens_issued_total", "Tokens issued")


METRICS = web.AppKey("metrics", IdentityMetrics)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_request_numbers = itertools.count()
_error_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("identity_error", default=None)
_REQUEST_ID_PREFIX = f"tx{os.getpid():08x}"

# Storage failures identity reports as its own statuses.
CLUSTER_STATUSES: dict[type[DolmenError], tuple[int, str]] = {
    QuorumNotReached: (503, "Service Unavailable"),
    RegisterContention: (503, "Service Unavailable"),
    RecordTooLarge: (413, "Request Entity Too Large"),
    BadName: (400, "Bad Request"),
}


# --- middlewares --------------------------------------------------------------


@web.middleware
async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id, answer it in X-Openstack-Request-Id, write the log line and metrics."""
    started_s = time.monotonic()
    request_id = f"req-{_REQUEST_ID_PREFIX}{next(_request_numbers):016x}"
    request_id_var.set(request_id)
    _error_var.set(None)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Openstack-Request-Id"] = request_id
        return response
    except web.HTTPException as http_error:
        status = http_error.status
        raise
    finally:
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "other"
        request.app[METRICS].requests_total.labels(request.method, route, str(status)).inc()
        request.app[METRICS].request_seconds.labels(request.method, route).observe(
            time.monotonic() - started_s
        )
        log_request(
            log,
            method=request.method,
            path=request.path[:512],  # the query may hold nothing secret either, but paths suffice
            status=status,
            bytes_in=request.content_length or 0,
            bytes_out=0,
            started_s=started_s,
            remote=request.remote,
            **({"error": error} if (error := _error_var.get()) else {}),
        )


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes Keystone's JSON error body: the only place that maps them."""
    try:
        return await handler(request)
    except IdentityError as error:
        _error_var.set(type(error).__name__)
        headers = {}
        if isinstance(error, TooManyFailedLogins):
            headers["Retry-After"] = str(max(1, round(error.retry_after_s)))
        if error.status == 401:
            headers["WWW-Authenticate"] = f'Keystone uri="{base_url(request)}/v3"'
        return web.json_response(views.error_body(error), status=error.status, headers=headers)
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        _error_var.set(type(http_error).__name__)
        body = views.error_body_for(http_error.status, http_error.reason, http_error.reason)
        return web.json_response(body, status=http_error.status)
    except DolmenError as error:
        status, title = CLUSTER_STATUSES.get(type(error), (503, "Service Unavailable"))
        _error_var.set(type(error).__name__)
        log.warning(
            "identity.store_failed", extra={"error_type": type(error).__name__, "reason": str(error)[:200]}
        )
        return web.json_response(views.error_body_for(status, title, title), status=status)
    except Exception:
        log.exception("identity.unhandled")  # the traceback goes to the log only
        _error_var.set("unhandled")
        body = views.error_body_for(500, "Internal Server Error", "An unexpected error occurred.")
        return web.json_response(body, status=500)


# --- helpers -------------------------------------------------------------------


def base_url(request: web.Request) -> str:
    """Identity's root URL as clients reach it (public_url without /v3, else from Host)."""
    configured = request.app[SERVICE].config.public_url
    if configured:
        return configured.rstrip("/").removesuffix("/v3")
    return f"{request.scheme}://{request.host}"


async def body_of(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > IDENTITY_BODY_BYTES_MAX:
        raise ValidationError("The request body is too large.")
    return parsing.json_body(await request.read())


def service_of(request: web.Request) -> IdentityService:
    return request.app[SERVICE]


def caller_of(request: web.Request) -> Any:
    return service_of(request).caller(request.headers.get("X-Auth-Token"))


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


def json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


# --- discovery, health, metrics ------------------------------------------------------


async def versions(request: web.Request) -> web.Response:
    return json({"versions": {"values": [views.version_document(base_url(request))]}}, status=300)


async def version(request: web.Request) -> web.Response:
    return json({"version": views.version_document(base_url(request))})


async def healthcheck(request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def metrics_page(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].registry.exposition(), headers={"Content-Type": CONTENT_TYPE}
    )


# --- tokens ----------------------------------------------------------------------------


def wants_catalog(request: web.Request) -> bool:
    return "nocatalog" not in request.query


async def issue_token(request: web.Request) -> web.Response:
    auth = parsing.auth_request(await body_of(request))
    issued = await service_of(request).authenticate(
        auth, address=client_address(request), catalog=wants_catalog(request)
    )
    request.app[METRICS].tokens_issued_total.inc()
    return json(issued.body, status=201, headers={"X-Subject-Token": issued.token})


async def subject_of(request: web.Request) -> tuple[IdentityService, Any, Any]:
    """The service, the caller and the subject token's payload of GET/HEAD/DELETE /v3/auth/tokens.

    An invalid subject token is 404, as in Keystone (keystonemiddleware turns it into 401).
    """
    service = service_of(request)
    caller = caller_of(request)
    subject = request.headers.get("X-Subject-Token", "")
    if not subject:
        raise ValidationError("X-Subject-Token is required.")
    try:
        payload, _ = service.validator.check(subject)
    except IdentityError as error:
        raise EntityNotFound(f"Could not find token: {error}") from None
    return service, caller, payload


async def validate_token(request: web.Request) -> web.Response:
    service, caller, payload = await subject_of(request)
    service.authorize("identity:validate_token", caller, {"token_user_id": payload.user_id})
    body = await service.token_body(payload, catalog=wants_catalog(request))
    return json(body, headers={"X-Subject-Token": request.headers["X-Subject-Token"]})


async def check_token(request: web.Request) -> web.Response:
    service, caller, payload = await subject_of(request)
    service.authorize("identity:validate_token", caller, {"token_user_id": payload.user_id})
    return web.Response(status=200, headers={"X-Subject-Token": request.headers["X-Subject-Token"]})


async def revoke_token(request: web.Request) -> web.Response:
    service, caller, payload = await subject_of(request)
    service.authorize("identity:revoke_token", caller, {"token_user_id": payload.user_id})
    await service.revoke(audit_id=payload.audit_id)
    return web.Response(status=204)


async def auth_catalog(request: web.Request) -> web.Response:
    caller = caller_of(request)
    catalog = await service_of(request).catalog(caller.project_id)
    return json({"catalog": catalog, "links": views.collection_links(base_url(request), "auth/catalog")})


async def auth_projects(request: web.Request) -> web.Response:
    caller = caller_of(request)
    return await _projects_of(request, caller.user_id, "auth/projects")


async def user_projects(request: web.Request) -> web.Response:
    caller = caller_of(request)
    user_id = request.match_info["id"]
    service_of(request).authorize("identity:get_user", caller, {"user_id": user_id})
    return await _projects_of(request, user_id, f"users/{user_id}/projects")


async def _projects_of(request: web.Request, user_id: str, path: str) -> web.Response:
    projects = await service_of(request).user_projects(user_id)
    url = base_url(request)
    return json(
        {
            "projects": [views.project_view(p, url) for p in projects],
            "links": views.collection_links(url, path),
        }
    )


# --- entities: one table drives create, list, get, update and delete ---------------------


@dataclass(frozen=True)
class EntitySpec:
    collection: str  # URL segment and store collection
    member: str  # JSON key of one entity, and the noun of its policy rules
    fields: dict[str, str]  # field -> kind (parsing.optional_fields)
    required: tuple[str, ...]
    view: Callable[[Any, str], dict[str, Any]]
    filters: tuple[str, ...]  # query parameters that filter a listing
    named: bool = True  # has a unique name (claimed) and the named-entity lifecycle

    def target(self, entity_id: str) -> dict[str, str]:
        return {f"{self.member}_id": entity_id}


SPECS = {
    spec.collection: spec
    for spec in (
        EntitySpec(
            "domains",
            "domain",
            {"name": "name", "description": "description", "enabled": "bool"},
            ("name",),
            views.domain_view,
            ("name", "enabled"),
        ),
        EntitySpec(
            "projects",
            "project",
            {"name": "name", "description": "description", "enabled": "bool", "domain_id": "id"},
            ("name",),
            views.project_view,
            ("name", "domain_id", "enabled"),
        ),
        EntitySpec(
            "users",
            "user",
            {
                "name": "name",
                "description": "description",
                "enabled": "bool",
                "domain_id": "id",
                "password": "password",
                "email": "description",
                "default_project_id": "id",
            },
            ("name",),
            views.user_view,
            ("name", "domain_id", "enabled"),
        ),
        EntitySpec(
            "roles",
            "role",
            {"name": "name", "description": "description"},
            ("name",),
            views.role_view,
            ("name",),
        ),
        EntitySpec(
            "services",
            "service",
            {"type": "name", "name": "name", "description": "description", "enabled": "bool"},
            ("type",),
            views.service_view,
            ("type", "name"),
            named=False,
        ),
        EntitySpec(
            "endpoints",
            "endpoint",
            {
                "service_id": "id",
                "interface": "interface",
                "url": "url",
                "region_id": "name",
                "enabled": "bool",
            },
            ("service_id", "interface", "url"),
            views.endpoint_view,
            ("service_id", "interface", "region_id"),
            named=False,
        ),
    )
}


def spec_of(request: web.Request) -> EntitySpec:
    return SPECS[request.match_info["collection"]]


def entity_fields(body: dict[str, Any], spec: EntitySpec, *, creating: bool) -> dict[str, Any]:
    source = parsing.entity(body, spec.member)
    if spec.collection == "endpoints" and "region" in source and "region_id" not in source:
        source = source | {"region_id": source["region"]}  # older clients send "region"
    fields = parsing.optional_fields(source, allowed=spec.fields, prefix=spec.member)
    missing = [name for name in spec.required if name not in fields] if creating else []
    if missing:
        raise ValidationError(f"Invalid input for field '{spec.member}.{missing[0]}': it is required.")
    return fields


async def create_entity(request: web.Request) -> web.Response:
    spec, service = spec_of(request), service_of(request)
    service.authorize(f"identity:create_{spec.member}", caller_of(request))
    fields = entity_fields(await body_of(request), spec, creating=True)
    creators = {
        "domains": service.create_domain,
        "projects": service.create_project,
        "users": service.create_user,
        "roles": service.create_role,
        "services": service.create_service,
        "endpoints": service.create_endpoint,
    }
    entity = await creators[spec.collection](fields)
    return json({spec.member: spec.view(entity, base_url(request))}, status=201)


async def list_entities(request: web.Request) -> web.Response:
    spec, service = spec_of(request), service_of(request)
    service.authorize(f"identity:list_{spec.collection}", caller_of(request))
    filters = {name: request.query[name] for name in spec.filters if name in request.query}
    entities = await service.list_named(spec.collection, filters)
    url = base_url(request)
    body = {
        spec.collection: [spec.view(e, url) for e in entities],
        "links": views.collection_links(url, spec.collection),
    }
    return json(body)


async def get_entity(request: web.Request) -> web.Response:
    spec, service, entity_id = spec_of(request), service_of(request), request.match_info["id"]
    service.authorize(f"identity:get_{spec.member}", caller_of(request), spec.target(entity_id))
    entity = await service.store.get(spec.collection, entity_id)
    return json({spec.member: spec.view(entity, base_url(request))})


async def update_entity(request: web.Request) -> web.Response:
    spec, service, entity_id = spec_of(request), service_of(request), request.match_info["id"]
    service.authorize(f"identity:update_{spec.member}", caller_of(request), spec.target(entity_id))
    fields = entity_fields(await body_of(request), spec, creating=False)
    if spec.named:
        entity = await service.update_named(spec.collection, entity_id, fields)
    else:
        entity = await service.update_plain(spec.collection, entity_id, fields)
    return json({spec.member: spec.view(entity, base_url(request))})


async def delete_entity(request: web.Request) -> web.Response:
    spec, service, entity_id = spec_of(request), service_of(request), request.match_info["id"]
    service.authorize(f"identity:delete_{spec.member}", caller_of(request), spec.target(entity_id))
    if spec.named:
        await service.delete_named(spec.collection, entity_id)
    else:
        await service.delete_plain(spec.collection, entity_id)
    return web.Response(status=204)


async def change_password(request: web.Request) -> web.Response:
    service, user_id = service_of(request), request.match_info["id"]
    service.authorize("identity:change_password", caller_of(request), {"user_id": user_id})
    user = parsing.entity(await body_of(request), "user")
    original = parsing.required_text(user.get("original_password"), "user.original_password")
    new = parsing.required_text(user.get("password"), "user.password")
    await service.change_password(user_id, original, new, address=client_address(request))
    return web.Response(status=204)


# --- role assignments ----------------------------------------------------------------------


def authorized_grant(request: web.Request, rule: str) -> tuple[IdentityService, str, str, str]:
    """The service and the (project, user, role) ids of a grant URL, once `rule` allows the caller."""
    service, info = service_of(request), request.match_info
    project_id, user_id, role_id = info["project_id"], info["user_id"], info["role_id"]
    service.authorize(rule, caller_of(request), {"project_id": project_id})
    return service, project_id, user_id, role_id


async def put_grant(request: web.Request) -> web.Response:
    service, project_id, user_id, role_id = authorized_grant(request, "identity:create_grant")
    await service.grant(project_id, user_id, role_id)
    return web.Response(status=204)


async def head_grant(request: web.Request) -> web.Response:
    service, project_id, user_id, role_id = authorized_grant(request, "identity:check_grant")
    await service.check_grant(project_id, user_id, role_id)
    return web.Response(status=204)


async def delete_grant(request: web.Request) -> web.Response:
    service, project_id, user_id, role_id = authorized_grant(request, "identity:revoke_grant")
    await service.revoke_grant(project_id, user_id, role_id)
    return web.Response(status=204)


async def list_grants(request: web.Request) -> web.Response:
    service = service_of(request)
    project_id, user_id = request.match_info["project_id"], request.match_info["user_id"]
    service.authorize("identity:list_grants", caller_of(request), {"project_id": project_id})
    assignments = await service.list_assignments(user_id=user_id, project_id=project_id, role_id=None)
    url = base_url(request)
    roles = [await service.store.find("roles", a["role_id"]) for a in assignments]
    body = {
        "roles": [views.role_view(role, url) for role in roles if role is not None],
        "links": views.collection_links(url, f"projects/{project_id}/users/{user_id}/roles"),
    }
    return json(body)


async def list_role_assignments(request: web.Request) -> web.Response:
    service, query = service_of(request), request.query
    project_id = query.get("scope.project.id")
    service.authorize("identity:list_role_assignments", caller_of(request), {"project_id": project_id or ""})
    assignments = await service.list_assignments(
        user_id=query.get("user.id"), project_id=project_id, role_id=query.get("role.id")
    )
    url = base_url(request)
    views_list = [views.assignment_view(a, url) for a in assignments]
    if "include_names" in query and query["include_names"].lower() not in ("0", "false"):
        await _add_names(service, views_list)
    return json({"role_assignments": views_list, "links": views.collection_links(url, "role_assignments")})


async def _add_names(service: IdentityService, assignments: list[dict[str, Any]]) -> None:
    """Keystone's include_names: names of the user, project and role, and of their domains.

    Each entity is read once per request, however many assignments name it.
    """
    found: dict[tuple[str, str], Any] = {}

    async def find(collection: str, entity_id: str) -> Any:
        if (collection, entity_id) not in found:
            found[collection, entity_id] = await service.store.find(collection, entity_id)
        return found[collection, entity_id]

    for view in assignments:
        user = await find("users", view["user"]["id"])
        project = await find("projects", view["scope"]["project"]["id"])
        role = await find("roles", view["role"]["id"])
        for place, entity in ((view["user"], user), (view["scope"]["project"], project)):
            if entity is not None:
                domain = await find("domains", entity["domain_id"])
                place["name"] = entity["name"]
                place["domain"] = {"id": entity["domain_id"], "name": domain["name"] if domain else ""}
        if role is not None:
            view["role"]["name"] = role["name"]


# --- EC2 credentials ---------------------------------------------------------------------------


async def create_ec2(request: web.Request) -> web.Response:
    service, user_id = service_of(request), request.match_info["user_id"]
    caller = caller_of(request)
    service.authorize("identity:ec2_create_credential", caller, {"user_id": user_id})
    body = await body_of(request)
    project_id = parsing.entity_id(
        body.get("tenant_id") or body.get("project_id") or caller.project_id, "tenant_id"
    )
    credential, secret = await service.create_ec2(user_id, project_id)
    return json({"credential": views.ec2_view(credential, secret, base_url(request))}, status=201)


async def list_ec2(request: web.Request) -> web.Response:
    service, user_id = service_of(request), request.match_info["user_id"]
    service.authorize("identity:ec2_list_credentials", caller_of(request), {"user_id": user_id})
    url = base_url(request)
    credentials = await service.list_ec2(user_id)
    body = {
        "credentials": [views.ec2_view(c, service.ec2_secret(c), url) for c in credentials],
        "links": views.collection_links(url, f"users/{user_id}/credentials/OS-EC2"),
    }
    return json(body)


async def get_ec2(request: web.Request) -> web.Response:
    service, user_id = service_of(request), request.match_info["user_id"]
    service.authorize("identity:ec2_get_credential", caller_of(request), {"user_id": user_id})
    credential = await service.get_ec2(user_id, request.match_info["access"])
    return json({"credential": views.ec2_view(credential, service.ec2_secret(credential), base_url(request))})


async def delete_ec2(request: web.Request) -> web.Response:
    service, user_id = service_of(request), request.match_info["user_id"]
    service.authorize("identity:ec2_delete_credential", caller_of(request), {"user_id": user_id})
    await service.delete_ec2(user_id, request.match_info["access"])
    return web.Response(status=204)


# --- the application ---------------------------------------------------------------------------


def make_app(service: IdentityService, metrics: Metrics) -> web.Application:
    app = web.Application(middlewares=[edge, errors], client_max_size=IDENTITY_BODY_BYTES_MAX)
    app[SERVICE] = service
    app[METRICS] = IdentityMetrics(metrics)
    collections = "{collection:domains|projects|users|roles|services|endpoints}"
    routes = [
        web.get("/", versions, allow_head=False),
        web.get("/v3", version, allow_head=False),
        web.get("/v3/", version, allow_head=False),
        web.get("/healthcheck", healthcheck, allow_head=False),
        web.get("/metrics", metrics_page, allow_head=False),
        web.post("/v3/auth/tokens", issue_token),
        web.get("/v3/auth/tokens", validate_token, allow_head=False),
        web.head("/v3/auth/tokens", check_token),
        web.delete("/v3/auth/tokens", revoke_token),
        web.get("/v3/auth/catalog", auth_catalog, allow_head=False),
        web.get("/v3/auth/projects", auth_projects, allow_head=False),
        web.post("/v3/users/{id}/password", change_password),
        web.get("/v3/users/{id}/projects", user_projects, allow_head=False),
        web.get("/v3/role_assignments", list_role_assignments, allow_head=False),
        web.get("/v3/projects/{project_id}/users/{user_id}/roles", list_grants, allow_head=False),
        web.put("/v3/projects/{project_id}/users/{user_id}/roles/{role_id}", put_grant),
        web.head("/v3/projects/{project_id}/users/{user_id}/roles/{role_id}", head_grant),
        web.get("/v3/projects/{project_id}/users/{user_id}/roles/{role_id}", head_grant, allow_head=False),
        web.delete("/v3/projects/{project_id}/users/{user_id}/roles/{role_id}", delete_grant),
        web.post("/v3/users/{user_id}/credentials/OS-EC2", create_ec2),
        web.get("/v3/users/{user_id}/credentials/OS-EC2", list_ec2, allow_head=False),
        web.get("/v3/users/{user_id}/credentials/OS-EC2/{access}", get_ec2, allow_head=False),
        web.delete("/v3/users/{user_id}/credentials/OS-EC2/{access}", delete_ec2),
        web.post(f"/v3/{collections}", create_entity),
        web.get(f"/v3/{collections}", list_entities, allow_head=False),
        web.get(f"/v3/{collections}/{{id}}", get_entity, allow_head=False),
        web.patch(f"/v3/{collections}/{{id}}", update_entity),
        web.delete(f"/v3/{collections}/{{id}}", delete_entity),
        web.route("*", "/{tail:.*}", not_found),
    ]
    app.add_routes(
        web.RouteDef(
            route.method, route.path, route.handler, {**route.kwargs, "expect_handler": answer_expect}
        )
        for route in routes
    )
    return app
