"""Signatures of internal requests between Dolmen services (HMAC-SHA256 with a key id).

The storage network is not a trust boundary: every request a service sends to
another carries a signature, and storage nodes refuse (403) any request that is
unsigned, expired or wrongly signed. Keys come from `dolmen.keys.request_signing_key`
(one per key id, so keys can be rotated: a node accepts a set of key ids, a
client signs with one of them).

Headers (all three required on a signed request):

    X-Backend-Signature-Key-Id    decimal key id, 0 <= id < 2**31
    X-Backend-Signature-Expires   expiry, Unix time in whole seconds (decimal)
    X-Backend-Signature           64 lowercase hex digits: HMAC-SHA256 of the canonical request

The canonical request is these lines, each ended by "\\n", encoded UTF-8:

    dolmen-request-v1
    <METHOD, upper case>
    <raw path: the request target up to "?", exactly as sent (percent-encoding kept)>
    <raw query: the request target after the first "?", exactly as sent, or empty>
    <X-Timestamp value, or empty>
    <expiry, as in X-Backend-Signature-Expires>
    <key id, as in X-Backend-Signature-Key-Id>
    then one line per X-Backend-* header other than X-Backend-Signature, sorted by
    lower-case name: "<lower-case name>:<value with surrounding whitespace stripped>"

A header name cannot contain ":" or "\\n" and HTTP values cannot contain "\\n", so
the string is unambiguous; a repeated X-Backend-* header is refused rather than
guessed at. Other headers (Content-Type, X-Object-Meta-*, Range, ...) are not
signed: a service that needs one protected sends it as X-Backend-*.

The PUT footer (storage-node/PROTOCOL.md) is signed with the same key, over the
request's signature and the footer's exact bytes, so a footer cannot be moved to
another request: see `footer_signature`.

Errors (all DolmenError, all mapped to 403 by the storage node):

    RequestSignatureError
     +-- SignatureMissing    no signature headers
     +-- SignatureExpired    expiry in the past, or further ahead than the maximum lifetime
     +-- SignatureInvalid    malformed headers, unknown key id, repeated header, wrong HMAC
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from dolmen.errors import DolmenError
from dolmen.limits import REQUEST_SIGNATURE_CLOCK_SKEW_S_MAX, REQUEST_SIGNATURE_LIFETIME_S_MAX
from dolmen.values import value_class

SIGNATURE_HEADER = "X-Backend-Signature"
KEY_ID_HEADER = "X-Backend-Signature-Key-Id"
EXPIRES_HEADER = "X-Backend-Signature-Expires"
BACKEND_HEADER_PREFIX = "x-backend-"
_SIGNATURE_LOWER, _KEY_ID_LOWER, _EXPIRES_LOWER = (
    SIGNATURE_HEADER.lower(),
    KEY_ID_HEADER.lower(),
    EXPIRES_HEADER.lower(),
)
KEY_ID_MAX = 2**31 - 1
_REQUEST_DOMAIN = "dolmen-request-v1\n"
_FOOTER_DOMAIN = b"dolmen-footer-v1\n"
SIGNATURE_HEX_DIGITS = 64
_PREPARED_MACS_MAX = 64
_prepared_macs: dict[bytes, hmac.HMAC] = {}  # per key: an HMAC that has seen the key, and nothing else


class RequestSignatureError(DolmenError):
    """A request's signature is absent, expired or wrong: the request is refused."""


class SignatureMissing(RequestSignatureError):
    """The request carries no signature."""


class SignatureExpired(RequestSignatureError):
    """The signature's expiry has passed, or lies further ahead than a signature may live."""


class SignatureInvalid(RequestSignatureError):
    """The signature headers are malformed, name an unknown key, or do not match the request."""


@value_class(kw_only=True)
class VerifiedSignature:
    """What a successful verification learned: the key id and the signature (to bind the footer)."""

    key_id: int
    signature_hex: str
    expires_s: int


def canonical_request(
    *,
    method: str,
    path: str,
    query: str,
    headers: Iterable[tuple[str, str]],
    key_id: int,
    expires_s: int,
) -> bytes:
    """The exact bytes the request signature covers (see the module docstring).

    `headers` are every header of the request as (name, value) pairs; only
    X-Backend-* ones (except X-Backend-Signature) are used. Raises SignatureInvalid
    if an X-Backend-* header is repeated.
    """
    timestamp, backend = _signed_headers(headers)
    backend.pop(_SIGNATURE_LOWER, None)
    return _canonical(method, path, query, timestamp, expires_s, key_id, backend)


def _signed_headers(headers: Iterable[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    """(the X-Timestamp value, {lower-case name: value} of every X-Backend-* header), in one pass
    over the headers; SignatureInvalid if an X-Backend-* header is repeated."""
    timestamp = ""
    backend: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower.startswith(BACKEND_HEADER_PREFIX):
            if lower in backend:
                raise SignatureInvalid(f"repeated header {name}")
            backend[lower] = value
        elif lower == "x-timestamp":
            timestamp = value
    return timestamp, backend


def _mac(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of `message` under `key`, from a copy of the key's prepared HMAC: about half
    the time of hmac.new, which prepares the key again for every message (twice per PUT)."""
    prepared = _prepared_macs.get(key)
    if prepared is None:
        if len(_prepared_macs) >= _PREPARED_MACS_MAX:  # (keys are few, one per key id: bounded all the same)
            _prepared_macs.clear()
        prepared = _prepared_macs[key] = hmac.new(key, digestmod=hashlib.sha256)
    mac = prepared.copy()
    mac.update(message)
    return mac.digest()


def _canonical(
    method: str, path: str, query: str, timestamp: str, expires_s: int, key_id: int, backend: dict[str, str]
) -> bytes:
    """The canonical request of already collected parts (`backend` without the signature): made
    as one text and encoded once (it is made for every request a node answers)."""
    lines = [
        f"{_REQUEST_DOMAIN}{method.upper()}\n{path}\n{query}\n{timestamp.strip()}\n{expires_s}\n{key_id}\n"
    ]
    lines += [f"{lower}:{backend[lower].strip()}\n" for lower in sorted(backend)]
    # Header values as received (decoded UTF-8 with surrogateescape): this restores the bytes sent.
    return "".join(lines).encode("utf-8", "surrogateescape")


def sign_request(
    key: bytes,
    *,
    key_id: int,
    method: str,
    path: str,
    query: str = "",
    headers: Mapping[str, str],
    now_s: float,
    lifetime_s: float = 60.0,
) -> dict[str, str]:
    """The headers to add to a request so that it verifies: key id, expiry and signature.

    `headers` must already hold every X-Backend-* header and X-Timestamp the request
    will carry (adding one afterwards breaks the signature). `lifetime_s` is how long
    the signature stays valid, at most REQUEST_SIGNATURE_LIFETIME_S_MAX.
    """
    assert 0 <= key_id <= KEY_ID_MAX
    assert 0 < lifetime_s <= REQUEST_SIGNATURE_LIFETIME_S_MAX
    expires_s = int(now_s + lifetime_s)
    signed_headers = [
        (name, value)
        for name, value in headers.items()
        if name.lower() not in (_KEY_ID_LOWER, _EXPIRES_LOWER, _SIGNATURE_LOWER)
    ]
    signed_headers += [(KEY_ID_HEADER, str(key_id)), (EXPIRES_HEADER, str(expires_s))]
    message = canonical_request(
        method=method, path=path, query=query, headers=signed_headers, key_id=key_id, expires_s=expires_s
    )
    signature = _mac(key, message).hex()
    return {KEY_ID_HEADER: str(key_id), EXPIRES_HEADER: str(expires_s), SIGNATURE_HEADER: signature}


def _parse_decimal(text: str, name: str, maximum: int) -> int:
    # Digits only: int() would also take "+1", " 1" or "1_0", which would let two texts sign alike.
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise SignatureInvalid(f"malformed {name}")
    value = int(text)
    if value > maximum or str(value) != text:
        raise SignatureInvalid(f"malformed {name}")
    return value


def verify_request(
    keys: Mapping[int, bytes],
    *,
    method: str,
    path: str,
    query: str,
    headers: Iterable[tuple[str, str]],
    now_s: float,
) -> VerifiedSignature:
    """Check a request's signature in constant time; return what it proved.

    `keys` maps each accepted key id to its key. Raises SignatureMissing,
    SignatureExpired or SignatureInvalid; never returns on a bad request.
    """
    timestamp, backend = _signed_headers(headers)  # one pass: this runs on every request
    signature = backend.pop(_SIGNATURE_LOWER, None)
    key_id_text = backend.get(_KEY_ID_LOWER)
    expires_text = backend.get(_EXPIRES_LOWER)
    if signature is None and key_id_text is None and expires_text is None:
        raise SignatureMissing("request is not signed")
    if signature is None or key_id_text is None or expires_text is None:
        raise SignatureInvalid("incomplete signature headers")
    signature, key_id_text, expires_text = (
        signature.strip().lower(),
        key_id_text.strip(),
        expires_text.strip(),
    )
    key_id = _parse_decimal(key_id_text, KEY_ID_HEADER, KEY_ID_MAX)
    expires_s = _parse_decimal(expires_text, EXPIRES_HEADER, 2**40)
    if expires_s < now_s - REQUEST_SIGNATURE_CLOCK_SKEW_S_MAX:
        raise SignatureExpired("signature expired")
    if expires_s > now_s + REQUEST_SIGNATURE_LIFETIME_S_MAX + REQUEST_SIGNATURE_CLOCK_SKEW_S_MAX:
        raise SignatureExpired("signature expiry too far ahead")
    key = keys.get(key_id)
    if key is None:
        raise SignatureInvalid("unknown signature key id")
    if len(signature) != SIGNATURE_HEX_DIGITS or not signature.isascii():
        raise SignatureInvalid("malformed signature")
    message = _canonical(method, path, query, timestamp, expires_s, key_id, backend)
    expected = _mac(key, message).hex()
    if not hmac.compare_digest(expected, signature):
        raise SignatureInvalid("wrong signature")
    return VerifiedSignature(key_id=key_id, signature_hex=signature, expires_s=expires_s)


def footer_signature(key: bytes, *, request_signature_hex: str, footer_bytes: bytes) -> bytes:
    """The 32-byte HMAC-SHA256 that signs a PUT footer, bound to its request's signature.

    Covers b"dolmen-footer-v1\\n" + the request's X-Backend-Signature (lower-case hex)
    + b"\\n" + the footer's exact bytes. A client calls it to sign; the node calls
    `verify_footer`.
    """
    assert len(request_signature_hex) == SIGNATURE_HEX_DIGITS
    message = _FOOTER_DOMAIN + request_signature_hex.lower().encode("ascii") + b"\n" + footer_bytes
    return _mac(key, message)


def verify_footer(key: bytes, *, request_signature_hex: str, footer_bytes: bytes, mac: bytes) -> None:
    """Raise SignatureInvalid unless `mac` signs `footer_bytes` for this request (constant time)."""
    expected = footer_signature(key, request_signature_hex=request_signature_hex, footer_bytes=footer_bytes)
    if not hmac.compare_digest(expected, mac):
        raise SignatureInvalid("wrong footer signature")
