"""Cross-origin requests to containers and objects, as Swift's proxy answers them, pure.

A container allows origins with its metadata `Access-Control-Allow-Origin`
(space-separated origins, or `*`), and may set `-Max-Age` and
`-Expose-Headers`; the operator adds origins for every container
(`cors_allow_origin`). A preflight (`OPTIONS` with `Origin`) is 200 with the
`Access-Control-Allow-*` headers when the origin and the asked method are
allowed, else 401; an `OPTIONS` without `Origin`, or on an account, is 200 with
`Allow`. Actual requests with `Origin` get `Access-Control-Allow-Origin` and
`-Expose-Headers`; in `strict_cors_mode` (the default) only when the origin is
allowed, otherwise always (Swift's older behaviour).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

ALLOW_ORIGIN_ITEM = "access-control-allow-origin"
MAX_AGE_ITEM = "access-control-max-age"
EXPOSE_HEADERS_ITEM = "access-control-expose-headers"
# CORS's simple response headers, and what Swift adds to them.
EXPOSED_ALWAYS = (
    "cache-control",
    "content-language",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
    "etag",
    "x-timestamp",
    "x-trans-id",
    "x-openstack-request-id",
)
EXPOSED_METADATA_PREFIXES = ("x-container-meta-", "x-object-meta-")


@dataclass(frozen=True, slots=True)
class CorsSettings:
    """The operator's CORS settings ([proxy] cors_allow_origin, strict_cors_mode, cors_expose_headers)."""

    allow_origins: tuple[str, ...] = ()
    strict_mode: bool = True
    expose_headers: tuple[str, ...] = ()


def origin_allowed(metadata: Mapping[str, str], settings: CorsSettings, origin: str) -> bool:
    allowed = set(metadata.get(ALLOW_ORIGIN_ITEM, "").split()) | set(settings.allow_origins)
    return origin in allowed or "*" in allowed


def preflight(
    *,
    metadata: Mapping[str, str] | None,
    settings: CorsSettings,
    headers: Mapping[str, str],
    allowed_methods: Iterable[str],
) -> tuple[int, dict[str, str]]:
    """(status, headers) of an OPTIONS request; `metadata` is the container's (None above containers)."""
    methods = sorted(set(allowed_methods) | {"OPTIONS"})
    answer = {"Allow": ", ".join(methods)}
    origin = headers.get("Origin")
    if not origin or metadata is None:
        return 200, answer
    if (
        not origin_allowed(metadata, settings, origin)
        or headers.get("Access-Control-Request-Method") not in methods
    ):
        return 401, answer
    vary: list[str] = []
    answer |= _allow_origin(metadata, origin, vary)
    if metadata.get(MAX_AGE_ITEM):
        answer["Access-Control-Max-Age"] = metadata[MAX_AGE_ITEM]
    answer["Access-Control-Allow-Methods"] = ", ".join(methods)
    asked = sorted(
        {item.strip() for item in headers.get("Access-Control-Request-Headers", "").split(",")} - {""}
    )
    if asked:
        answer["Access-Control-Allow-Headers"] = ", ".join(asked)
        vary.append("Access-Control-Request-Headers")
    if vary:
        answer["Vary"] = ", ".join(vary)
    return 200, answer


def actual_headers(
    *, metadata: Mapping[str, str], settings: CorsSettings, origin: str, response_headers: Mapping[str, str]
) -> dict[str, str]:
    """The headers to add to the answer of a request that carries `Origin` (none if refused)."""
    if settings.strict_mode and not origin_allowed(metadata, settings, origin):
        return {}
    added: dict[str, str] = {}
    if "Access-Control-Expose-Headers" not in response_headers:
        exposed = set(EXPOSED_ALWAYS) | {name.lower() for name in settings.expose_headers}
        exposed |= {
            name.lower() for name in response_headers if name.lower().startswith(EXPOSED_METADATA_PREFIXES)
        }
        exposed |= {name.lower() for name in metadata.get(EXPOSE_HEADERS_ITEM, "").split()}
        added["Access-Control-Expose-Headers"] = ", ".join(sorted(exposed))
    if "Access-Control-Allow-Origin" not in response_headers:
        vary = [response_headers["Vary"]] if "Vary" in response_headers else []
        added |= _allow_origin(metadata, origin, vary)
        if vary:
            added["Vary"] = ", ".join(vary)
    return added


def _allow_origin(metadata: Mapping[str, str], origin: str, vary: list[str]) -> dict[str, str]:
    """`*` when the container allows every origin, else the origin itself (and the answer varies by Origin)."""
    if metadata.get(ALLOW_ORIGIN_ITEM, "").strip() == "*":
        return {"Access-Control-Allow-Origin": "*"}
    vary.append("Origin")
    return {"Access-Control-Allow-Origin": origin}
