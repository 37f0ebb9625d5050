"""Small request bodies the request signature covers, pure: their SHA-256 travels in a header.

A node request's signature covers its method, path, query and `X-Backend-*` headers, not its
body. A small body that must not be changed on the way (an UPDATE's entries, a LOOKUP's names)
therefore carries its SHA-256 in `X-Backend-Body-Sha256`, and the node checks it before
reading the body (PROTOCOL.md, "Container server").
"""

from __future__ import annotations

import hashlib
import hmac

import orjson
from dolmen.storage_node.errors import BadRequest, UploadChecksumMismatch

BODY_SHA256_HEADER = "X-Backend-Body-Sha256"


def body_sha256(body: bytes) -> str:
    """The header value for `body`: its SHA-256 in lower-case hex."""
    return hashlib.sha256(body).hexdigest()


def check_body_sha256(body: bytes, header: str | None) -> None:
    """BadRequest without the header; UploadChecksumMismatch unless `body` has that SHA-256."""
    if header is None:
        raise BadRequest(f"{BODY_SHA256_HEADER} is required")
    if not hmac.compare_digest(body_sha256(body), header.strip().lower()):
        raise UploadChecksumMismatch(f"the body does not match {BODY_SHA256_HEADER}")


def signed_json(body: bytes, header: str | None, *, bytes_max: int, what: str, shape: str) -> object:
    """The JSON value of a signed body (check_body_sha256), at most `bytes_max` bytes; BadRequest,
    naming `what` and the `shape` it should have, for one too long or not JSON."""
    check_body_sha256(body, header)
    if len(body) > bytes_max:
        raise BadRequest(f"{what} is at most {bytes_max} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:  # (not UTF-8 included)
        raise BadRequest(f"{what} is {shape}") from None
