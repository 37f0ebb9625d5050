"""The proxy's HTTP application: the Swift v1 API, `/auth/v1.0`, `/info`, `/healthcheck`, `/metrics`.

Layers, outermost first: `edge` (request id in a contextvar, `X-Trans-Id` and
`X-Openstack-Request-Id` on every answer, the one log line, metrics) ->
`errors` (every exception becomes Swift's status and body here and only here)
-> the handlers in `dolmen.proxy.swift.handlers`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from dolmen.proxy.config import ProxyConfig
from dolmen.proxy.s3.buckets import BucketRegistry
from dolmen.proxy.s3.config import S3Config
from dolmen.proxy.swift.access import Gatekeeper
from dolmen.proxy.swift.cors import CorsSettings
from dolmen.proxy.swift.handlers import (
    BUCKET_REGION,
    BUCKET_REGISTRY,
    CLIENT,
    CLIENT_TIMEOUT_S,
    CORS,
    GATEKEEPER,
    adjust_answer,
    swift_request,
)
from dolmen.proxy.swift.info import capabilities
from dolmen.proxy.swift.requests import valid_request_id
from dolmen.proxy.swift.responses import error_body, error_status
from dolmen.proxy.swift.v1auth import issue_token, parse_v1_credentials, v1_answer_headers

from dolmen import __version__
from dolmen.cluster import ClusterClient
from dolmen.errors import DolmenError
from dolmen.logs import log_request, new_request_id, request_id_var
from dolmen.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from dolmen.metrics import HttpMetrics, Metrics
from dolmen.serving import answer_expect, not_found

log = logging.getLogger("dolmen.proxy")

CONFIG = web.AppKey("config", ProxyConfig)
PROXY_METRICS = web.AppKey("proxy_metrics", HttpMetrics)
IDENTITY_SESSION = web.AppKey("identity_session", aiohttp.ClientSession)
STANDARD_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "COPY", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind the request id, and write the one log line and the metrics of the request."""
    started_s = time.monotonic()
    offered = request.headers.get("X-Trans-Id")
    request_id = offered if offered is not None and valid_request_id(offered) else new_request_id()
    request_id_var.set(request_id)
    request["request_id"] = request_id
    status = 500
    response: web.StreamResponse | None = None
    try:
        response = await handler(request)
        status = request.get("cut_stream", response.status)
        return response
    finally:
        method = request.method if request.method in STANDARD_METHODS else "other"
        bytes_out = request.get("bytes_out", 0)
        if isinstance(response, web.Response) and isinstance(response.body, bytes):
            bytes_out = len(response.body)
        request.app[PROXY_METRICS].record(
            method, status, time.monotonic() - started_s, request.get("bytes_in", 0), bytes_out
        )
        log_request(
            log,
            method=request.method,
            path=request.raw_path[:512],
            status=status,
            bytes_in=request.get("bytes_in", 0),
            bytes_out=bytes_out,
            started_s=started_s,
            **({"error": request["error"]} if "error" in request else {}),
        )


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every exception to Swift's status and body: the only place that does. No traceback reaches a client."""
    error: DolmenError | None = None
    try:
        return await handler(request)
    except web.HTTPException as http_error:
        status = http_error.status
        if status < 400:
            raise
    except DolmenError as expected:
        error = expected
        status = error_status(expected)
        if status == 500:
            log.warning(
                "request.failed", extra={"error_type": type(expected).__name__, "reason": str(expected)}
            )
        request["error"] = type(expected).__name__
    except Exception:
        log.exception("request.unhandled")  # the traceback goes to the log only
        request["error"] = "unhandled"
        status = 500
    response: web.StreamResponse | None = request.get("response")
    if response is not None and response.prepared:
        # Bytes are out: the only honest signal left is to cut the connection short.
        request["cut_stream"] = status
        if request.transport is not None:
            request.transport.close()
        return response
    headers: dict[str, str] = {}
    length = getattr(error, "length", None)
    if status == 416 and isinstance(length, int):
        headers["Content-Range"] = f"bytes */{length}"
    if status == 401:
        headers["Www-Authenticate"] = 'Swift realm="unknown"'
    if status == 304:
        return web.Response(status=304, headers=headers)
    body, content_type = error_body(status, error)
    return web.Response(status=status, body=body, headers=headers, content_type=content_type, charset="utf-8")


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer, errors included, names its request id, as Swift's proxy does."""
    request_id = request.get("request_id")
    if request_id is not None:
        response.headers["X-Trans-Id"] = request_id
        response.headers["X-Openstack-Request-Id"] = request_id


async def healthcheck(request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[PROXY_METRICS].registry
    return web.Response(body=registry.exposition(), headers={"Content-Type": METRICS_CONTENT_TYPE})


async def info(request: web.Request) -> web.Response:
    return web.Response(
        body=json.dumps(capabilities(version=__version__, cors=request.app[CORS])).encode(),
        content_type="application/json",
    )


async def v1_auth(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    credentials = parse_v1_credentials(request.headers)
    issued = await issue_token(
        request.app[IDENTITY_SESSION],
        config.identity_url,
        credentials,
        timeout_s=config.identity_timeout_s,
        now_s=time.time(),
    )
    base_url = config.public_url or f"{request.scheme}://{request.host}"
    return web.Response(status=200, headers=v1_answer_headers(issued, base_url))


def make_app(
    config: ProxyConfig,
    client: ClusterClient,
    gatekeeper: Gatekeeper,
    *,
    metrics_registry: Metrics | None = None,
    bucket_region: str = S3Config.region,
) -> web.Application:
    app = web.Application(middlewares=[edge, errors], client_max_size=2**20)
    app[CONFIG] = config
    app[CLIENT] = client
    app[GATEKEEPER] = gatekeeper
    app[CLIENT_TIMEOUT_S] = config.client_timeout_s
    app[BUCKET_REGISTRY] = BucketRegistry(client)
    app[BUCKET_REGION] = bucket_region
    app[PROXY_METRICS] = HttpMetrics(metrics_registry or Metrics("proxy"))
    app[CORS] = CorsSettings(
        allow_origins=config.cors_allow_origin,
        strict_mode=config.strict_cors_mode,
        expose_headers=config.cors_expose_headers,
    )
    app.on_response_prepare.append(add_request_id)
    app.on_response_prepare.append(adjust_answer)

    async def identity_session(app: web.Application) -> Any:
        async with aiohttp.ClientSession() as session:
            app[IDENTITY_SESSION] = session
            yield

    app.cleanup_ctx.append(identity_session)
    app.router.add_get("/healthcheck", healthcheck, expect_handler=answer_expect)
    app.router.add_get("/metrics", metrics, expect_handler=answer_expect)
    app.router.add_get("/info", info, expect_handler=answer_expect)
    for auth_path in ("/auth/v1.0", "/auth/v1.0/"):
        app.router.add_get(auth_path, v1_auth, expect_handler=answer_expect)
    for version in ("v1", "v1.0"):
        app.router.add_route("*", f"/{version}/{{tail:.*}}", swift_request, expect_handler=answer_expect)
    app.router.add_route("*", "/{tail:.*}", not_found, expect_handler=answer_expect)
    return app
