"""TempURL: temporary, signed access to one object without a token, as Swift's tempurl middleware.

A URL carries `temp_url_sig` and `temp_url_expires` (Unix seconds or ISO 8601
`%Y-%m-%dT%H:%M:%SZ`), optionally `temp_url_prefix`, `temp_url_ip_range`,
`filename` and `inline`. The signature is an HMAC over
`[ip=<range>\\n]<METHOD>\\n<expires>\\n<path>` where path is
`/v1/<account>/<container>/<object>` (decoded), or `prefix:/v1/<a>/<c>/<prefix>`,
keyed with one of the account's or the container's Temp-URL keys (metadata
`temp-url-key` and `temp-url-key-2`). Digests: SHA-1 (hex, 40 characters;
accepted for compatibility), SHA-256 (hex, 64) and SHA-512 (hex, 128), or any of
them as `<digest>:<base64>` (standard or URL-safe, padding optional). A HEAD is
also accepted with a signature for GET, POST or PUT. Comparisons take constant time.

Any failure is Swift's 401 with the body `401 Unauthorized: Temp URL invalid`.
A valid URL acts as the account owner for the addressed object only. Writes
through a TempURL may not carry `X-Object-Manifest` or `X-Symlink-Target` (400);
answers lose `X-Object-Meta-*` except `X-Object-Meta-Public-*`, and successful
GETs and HEADs gain `Content-Disposition` and `Expires`.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import ipaddress
import posixpath
import time
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from dolmen.proxy.errors import BadRequest, TempUrlInvalid
from dolmen.proxy.swift.access import Access, Gatekeeper
from dolmen.proxy.swift.authorize import OwnerRights
from dolmen.proxy.swift.headers import http_date
from dolmen.proxy.swift.paths import SwiftPath

METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE")
DIGESTS = ("sha1", "sha256", "sha512")
HEX_LENGTHS = {40: "sha1", 64: "sha256", 128: "sha512"}
HEAD_SIGNED_BY = ("HEAD", "GET", "POST", "PUT")
KEY_ITEMS = ("temp-url-key", "temp-url-key-2")
EXPIRES_ISO8601_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
EXPIRES_S_MAX = 253_402_300_799  # 9999-12-31T23:59:59Z: the last moment an HTTP date can name
DISALLOWED_WRITE_HEADERS = ("X-Object-Manifest", "X-Symlink-Target")
KEPT_META_PREFIX = "x-object-meta-public-"
REMOVED_META_PREFIX = "x-object-meta-"
INVALID_BODY = "401 Unauthorized: Temp URL invalid\n"


@dataclass(frozen=True, slots=True)
class TempUrl:
    """The TempURL parameters of one request, parsed but not yet verified."""

    signature_hex: str
    digest: str
    expires_s: int
    prefix: str | None = None
    ip_range: str | None = None
    filename: str | None = None
    inline: bool = False


def requested(query: Mapping[str, str]) -> bool:
    """Whether a request asks for TempURL access (then it must pass, whatever else it carries)."""
    return "temp_url_sig" in query or "temp_url_expires" in query


def parse_tempurl(query: Mapping[str, str], *, now_s: float) -> TempUrl:
    """The TempURL of a decoded query; TempUrlInvalid if incomplete, malformed or expired."""
    signature, expires = query.get("temp_url_sig", ""), query.get("temp_url_expires", "")
    if not signature or not expires:
        raise TempUrlInvalid(INVALID_BODY)
    expires_s = parse_expires(expires)
    if expires_s < now_s:
        raise TempUrlInvalid(INVALID_BODY)
    digest, signature_hex = signature_digest(signature)
    return TempUrl(
        signature_hex=signature_hex,
        digest=digest,
        expires_s=expires_s,
        prefix=query.get("temp_url_prefix"),
        ip_range=query.get("temp_url_ip_range"),
        filename=query.get("filename") or None,
        inline="inline" in query,
    )


def parse_expires(text: str) -> int:
    """Unix seconds of `temp_url_expires`; TempUrlInvalid if neither an integer nor ISO 8601 UTC."""
    if text.isascii() and text.isdigit() and len(text) <= 20:
        expires_s = int(text)
    else:
        try:
            expires_s = calendar.timegm(time.strptime(text, EXPIRES_ISO8601_FORMAT))
        except ValueError:
            raise TempUrlInvalid(INVALID_BODY) from None
    if expires_s > EXPIRES_S_MAX:
        raise TempUrlInvalid(INVALID_BODY)
    return expires_s


def signature_digest(signature: str) -> tuple[str, str]:
    """(digest name, signature as lower-case hex) of `temp_url_sig`; TempUrlInvalid if unusable."""
    if ":" in signature:
        digest, encoded = signature.split(":", 1)
        if digest not in DIGESTS:
            raise TempUrlInvalid(INVALID_BODY)
        encoded = encoded.replace("-", "+").replace("_", "/").rstrip("=")
        try:
            raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise TempUrlInvalid(INVALID_BODY) from None
        if len(raw) != hashlib.new(digest).digest_size:
            raise TempUrlInvalid(INVALID_BODY)
        return digest, raw.hex()
    hex_digest = HEX_LENGTHS.get(len(signature))
    if hex_digest is None or not all(character in "0123456789abcdefABCDEF" for character in signature):
        raise TempUrlInvalid(INVALID_BODY)
    return hex_digest, signature.lower()


def signed_path(account: str, container: str, obj: str, prefix: str | None) -> str:
    """The path a signature covers; TempUrlInvalid when the object is outside the prefix."""
    if prefix is None:
        return f"/v1/{account}/{container}/{obj}"
    if not obj.startswith(prefix):
        raise TempUrlInvalid(INVALID_BODY)
    return f"prefix:/v1/{account}/{container}/{prefix}"


def signature(key: str, *, method: str, expires_s: int, path: str, ip_range: str | None, digest: str) -> str:
    """The HMAC (hex) a client computes for these values, as `swift tempurl` does."""
    parts = [method, str(expires_s), path]
    if ip_range:
        parts.insert(0, f"ip={ip_range}")
    return hmac.new(key.encode(), "\n".join(parts).encode(), digest).hexdigest()


def verify(
    tempurl: TempUrl,
    *,
    method: str,
    path: str,
    keys: Sequence[tuple[str, str]],
    client_ip: str | None,
) -> str:
    """The scope ("account" or "container") of the key that signed the request; TempUrlInvalid if none did.

    `keys` are (key, scope) pairs; every candidate is compared in constant time.
    """
    if method not in METHODS or not keys:
        raise TempUrlInvalid(INVALID_BODY)
    if tempurl.ip_range is not None and not _ip_allowed(client_ip, tempurl.ip_range):
        raise TempUrlInvalid(INVALID_BODY)
    methods = HEAD_SIGNED_BY if method == "HEAD" else (method,)
    matched: str | None = None
    for signed_method in methods:
        for key, scope in keys:
            expected = signature(
                key,
                method=signed_method,
                expires_s=tempurl.expires_s,
                path=path,
                ip_range=tempurl.ip_range,
                digest=tempurl.digest,
            )
            if hmac.compare_digest(expected, tempurl.signature_hex) and matched is None:
                matched = scope
    if matched is None:
        raise TempUrlInvalid(INVALID_BODY)
    return matched


def _ip_allowed(client_ip: str | None, ip_range: str) -> bool:
    if client_ip is None:
        return False
    try:
        return ipaddress.ip_address(client_ip) in ipaddress.ip_network(ip_range)
    except ValueError:
        return False


def keys_of(metadata: Mapping[str, str], scope: str) -> list[tuple[str, str]]:
    """The (key, scope) pairs set in account or container metadata."""
    return [(metadata[item], scope) for item in KEY_ITEMS if metadata.get(item)]


def check_write_headers(method: str, headers: Mapping[str, str]) -> None:
    """BadRequest, as Swift, when a TempURL write carries a pointer to other data."""
    if method in ("GET", "HEAD"):
        return
    for name in DISALLOWED_WRITE_HEADERS:
        if name in headers:
            raise BadRequest(f"The header {name!r} is not allowed in this tempurl")


def content_disposition(tempurl: TempUrl, obj: str, stored: str | None) -> str:
    """Content-Disposition of a successful GET or HEAD: query first, then the object's own, then its name."""
    if tempurl.inline:
        return _disposition("inline", tempurl.filename) if tempurl.filename else "inline"
    if tempurl.filename:
        return _disposition("attachment", tempurl.filename)
    if stored:
        return stored
    return _disposition("attachment", posixpath.basename(obj.rstrip("/")))


def _disposition(kind: str, filename: str) -> str:
    # RFC 6266: a quoted name for old agents, RFC 5987's filename* for the rest.
    value = f"{kind}; filename=\"{quote(filename, safe=' /')}\"; filename*=UTF-8''{quote(filename)}"
    return value.replace("\n", "%0A")


def adjust_response_headers(
    headers: MutableMapping[str, str], tempurl: TempUrl, *, method: str, status: int, obj: str
) -> None:
    """What Swift changes on a TempURL answer: private metadata out, disposition and expiry in."""
    for name in list(headers):
        lowered = name.lower()
        if lowered.startswith(REMOVED_META_PREFIX) and not lowered.startswith(KEPT_META_PREFIX):
            del headers[name]
    if method in ("GET", "HEAD") and 200 <= status < 300:
        headers["Content-Disposition"] = content_disposition(tempurl, obj, headers.get("Content-Disposition"))
        headers["Expires"] = http_date(tempurl.expires_s)


async def authorise_tempurl(
    gatekeeper: Gatekeeper,
    *,
    method: str,
    path: SwiftPath,
    version: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    client_ip: str | None,
    now_s: float,
) -> tuple[TempUrl, Access]:
    """Verify a TempURL request against the account's and container's keys (read through the info cache).

    Returns the TempURL and the owner's rights on this object; raises
    TempUrlInvalid (401) or BadRequest (a disallowed write header).
    """
    tempurl = parse_tempurl(query, now_s=now_s)
    if version != "v1" or path.container is None or path.obj is None:
        raise TempUrlInvalid(INVALID_BODY)
    account = await gatekeeper.account_info(path.account)
    container = await gatekeeper.container_info(path.account, path.container)
    keys = keys_of(account.metadata if account else {}, "account")
    keys += keys_of(container.metadata if container else {}, "container")
    verify(
        tempurl,
        method=method,
        path=signed_path(path.account, path.container, path.obj, tempurl.prefix),
        keys=keys,
        client_ip=client_ip,
    )
    check_write_headers(method, headers)
    return tempurl, Access(requester=None, rights=OwnerRights(read=True, write=True))
