"""The S3 listener: an aiohttp application of its own, on its own port, inside the proxy.

Layers, outermost first: `s3_edge` (request id, `x-amz-request-id` and
`x-amz-id-2` on every answer, the one log line) -> `s3_errors` (every exception
becomes S3's XML error here and only here) -> `s3_request`, which finds the
target and the operation (pure), authenticates, and calls one thin handler in
`handlers.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from dolmen.identity import Ec2CredentialReader
from dolmen.proxy.s3 import errors as s3
from dolmen.proxy.s3.auth import CredentialCache, authenticate, identity_lookup
from dolmen.proxy.s3.buckets import BucketRegistry
from dolmen.proxy.s3.cleaner import UploadCleaner
from dolmen.proxy.s3.config import S3Config
from dolmen.proxy.s3.handlers import HANDLERS, S3Context, check_expected_owners, claim_gone
from dolmen.proxy.s3.multipart import MULTIPART_HANDLERS
from dolmen.proxy.s3.names import parse_target
from dolmen.proxy.s3.operations import operation_of, preflight_refusal
from dolmen.proxy.s3.post import post_object
from dolmen.proxy.s3.reads import READ_HANDLERS
from dolmen.proxy.s3.render import XML_CONTENT_TYPE, error_xml, request_id_headers
from dolmen.proxy.s3.sigv4 import lower_headers, query_pairs
from dolmen.proxy.swift.access import Authoriser

from dolmen.cluster import (
    BadName,
    ClusterClient,
    EtagMismatch,
    NotFound,
    NotModified,
    PreconditionFailed,
    QuorumNotReached,
    RangeNotSatisfiable,
    RegisterContention,
)
from dolmen.errors import DolmenError
from dolmen.keys import derive_key, read_secret
from dolmen.logs import log_request, new_request_id, request_id_var
from dolmen.serving import send_continue

log = logging.getLogger("dolmen.proxy.s3")

S3_CONTEXT = web.AppKey("s3_context", S3Context)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPERATIONS = {**HANDLERS, **READ_HANDLERS, **MULTIPART_HANDLERS, "PostObject": post_object}

# Cluster errors as S3 answers them; NotFound depends on what was addressed (s3_errors).
_CLUSTER_ERRORS: dict[type[DolmenError], type[s3.S3Error]] = {
    PreconditionFailed: s3.PreconditionFailed,
    RangeNotSatisfiable: s3.InvalidRange,
    EtagMismatch: s3.BadDigest,
    QuorumNotReached: s3.ServiceUnavailable,
    RegisterContention: s3.ServiceUnavailable,
    BadName: s3.InvalidArgument,
}


@web.middleware
async def s3_edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind the request id and write the request's one log line."""
    started_s = time.monotonic()
    request["started_s"] = started_s
    request_id = new_request_id()
    request_id_var.set(request_id)
    request["request_id"] = request_id
    status = 500
    try:
        response = await handler(request)
        status = request.get("cut_stream", response.status)
        return response
    except web.HTTPException as answer:  # a bare HTTP answer (304 with the object's ETag)
        status = answer.status
        raise
    finally:
        log_request(
            log,
            method=request.method,
            path=request.raw_path[:512],
            status=status,
            bytes_in=request.get("bytes_in", 0),
            bytes_out=request.get("bytes_out", 0),
            started_s=started_s,
            api="s3",
            **({"error": request["error"]} if "error" in request else {}),
        )


@web.middleware
async def s3_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every exception as S3's XML error; no traceback reaches a client. After bytes are out, cut."""
    extra_headers: dict[str, str] = {}
    try:
        return await handler(request)
    except s3.S3Error as s3_error:
        error = s3_error
    except NotModified:
        return web.Response(status=304)
    except NotFound:
        error = await _not_found(request)
    except DolmenError as expected:
        error = _CLUSTER_ERRORS.get(type(expected), s3.InternalError)()
        if isinstance(expected, RangeNotSatisfiable):
            extra_headers["Content-Range"] = f"bytes */{expected.length}"
        if isinstance(error, s3.InternalError):
            log.warning("s3.failed", extra={"error_type": type(expected).__name__, "reason": str(expected)})
    except web.HTTPException:
        raise
    except ConnectionResetError:
        error = s3.IncompleteBody("The client closed the connection")  # nobody is left to answer
    except Exception:
        log.exception("s3.unhandled")  # the traceback goes to the log only
        error = s3.InternalError()
    request["error"] = error.code
    response: web.StreamResponse | None = request.get("response")
    if response is not None and response.prepared:
        request["cut_stream"] = error.status
        if request.transport is not None:
            request.transport.close()
        return response
    context = request.app[S3_CONTEXT]
    body = (
        b""
        if request.method == "HEAD"
        else error_xml(
            error, request_id=request["request_id"], host_id=context.host_id, resource=request.path
        )
    )
    return web.Response(status=error.status, body=body, headers=extra_headers, content_type=XML_CONTENT_TYPE)


async def _not_found(request: web.Request) -> s3.S3Error:
    """S3's answer to a NotFound from the cluster: NoSuchKey when a key was addressed, unless
    its bucket is gone (deleted elsewhere while this worker remembered its claim)."""
    bucket, key = request.get("bucket") or "", request.get("key")
    if key and not (
        bucket and await claim_gone(request.app[S3_CONTEXT], bucket, since_s=request["started_s"])
    ):
        return s3.NoSuchKey(Key=key)
    return s3.NoSuchBucket(BucketName=bucket)


async def add_request_ids(request: web.Request, response: web.StreamResponse) -> None:
    request_id = request.get("request_id")
    if request_id is not None:
        response.headers.update(request_id_headers(request_id, request.app[S3_CONTEXT].host_id))


async def s3_request(request: web.Request) -> web.StreamResponse:
    """Find the target and operation, authenticate, and run the operation's handler."""
    context = request.app[S3_CONTEXT]
    raw_path, _, raw_query = request.raw_path.partition("?")
    target = parse_target(request.headers.get("Host", ""), raw_path, domain=context.config.domain)
    request["bucket"], request["key"] = target.bucket, target.key
    headers = lower_headers(request.headers.items())
    query = dict(query_pairs(raw_query))
    if request.method == "OPTIONS":  # a CORS preflight: unsigned by nature
        raise preflight_refusal(headers)
    operation = operation_of(request.method, target, query, headers)
    authenticated = await authenticate(
        method=request.method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=headers,
        query=query,
        credentials=context.credentials,
        region=context.config.region,
        now_s=time.time(),
        skew_s_max=context.config.clock_skew_s_max,
    )
    if authenticated is not None or operation == "PostObject":  # an anonymous body is never stored
        await send_continue(request)
    await check_expected_owners(context, target.bucket, headers)
    handler = OPERATIONS[operation]
    return await handler(context, request, target, headers, query, authenticated)


async def open_s3_app(
    config: S3Config, client: ClusterClient, authoriser: Authoriser, *, run_cleaner: bool = False
) -> web.Application:
    """The S3 application as a proxy worker runs it: secrets from identity's EC2 credentials,
    listing tokens sealed with a key derived from the cluster secret; `run_cleaner` in one worker."""
    reader = await Ec2CredentialReader.open(client)
    credentials = CredentialCache(
        identity_lookup(reader),
        ttl_s=config.credential_cache_ttl_s,
        entries_max=config.credential_cache_entries_max,
    )
    secret = await asyncio.to_thread(read_secret, client.config.cluster_secret_file)
    app = make_s3_app(
        config,
        client,
        credentials,
        authoriser=authoriser,
        token_key=derive_key(secret, "s3-continuation-token"),
    )
    if run_cleaner:
        app.cleanup_ctx.append(_cleaner_running)
    return app


async def _cleaner_running(app: web.Application) -> AsyncIterator[None]:
    """The upload cleaner for as long as the application serves; cancelled between two steps."""
    context = app[S3_CONTEXT]
    cleaner = UploadCleaner(
        context.client,
        upload_expiry_s=context.config.upload_expiry_s,
        interval_s=context.config.cleaner_interval_s,
        sweeps_per_pass=context.config.cleaner_sweeps_per_pass,
        deletes_per_pass=context.config.cleaner_deletes_per_pass,
    )
    task = asyncio.create_task(cleaner.run(), name="s3-upload-cleaner")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def make_s3_app(
    config: S3Config,
    client: ClusterClient,
    credentials: CredentialCache,
    *,
    authoriser: Authoriser,
    token_key: bytes,
    host_id: str | None = None,
) -> web.Application:
    """The S3 application; `authoriser` is the Swift API's (one per worker: the same rules and caches),
    `token_key` seals listing continuation tokens (derived from the cluster secret)."""
    app = web.Application(middlewares=[s3_edge, s3_errors], client_max_size=2**20)
    app[S3_CONTEXT] = S3Context(
        config=config,
        client=client,
        credentials=credentials,
        authoriser=authoriser,
        registry=BucketRegistry(client),
        token_key=token_key,
        host_id=host_id or socket.gethostname(),
    )
    app.on_response_prepare.append(add_request_ids)
    app.router.add_route("*", "/{tail:.*}", s3_request, expect_handler=answer_expect)
    return app


async def answer_expect(request: web.Request) -> None:
    """Expectations are answered in s3_request (`send_continue`), once the request is known to
    be signed; any other than 100-continue is ignored, as S3 ignores it (aiohttp would refuse
    the request with 417)."""
