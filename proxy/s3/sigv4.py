"""AWS Signature Version 4 for S3, pure: parse, check scope and time, verify.

A request is signed either in its `Authorization` header or in its query string
(a presigned URL). The listener calls, in this order:

    signed = parse_auth(method, headers, query)     # None: anonymous
    check_scope(signed, region=...)                 # before looking up the key
    check_time(signed, now_s=...)
    context = verify(signed, secret_key, ...)       # the signing context for aws-chunked

S3's canonical request differs from other services': the path is not
normalised (`//` and `/./` are kept) and is URI-encoded once. Every comparison
of a signature is constant-time. Errors are S3's (errors.py):
AuthorizationHeaderMalformed / AuthorizationQueryParametersError for bad syntax
or a wrong region (naming the expected one), RequestTimeTooSkewed, AccessDenied
for expired presigned URLs and unsigned `x-amz-*` headers, SignatureDoesNotMatch.
SigV2 is refused with InvalidRequest.
"""

from __future__ import annotations

import calendar
import email.utils
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import quote, unquote_to_bytes

from dolmen.proxy.s3.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    S3Error,
    S3NotImplemented,
    SignatureDoesNotMatch,
)

from dolmen.limits import (
    S3_CLOCK_SKEW_S_MAX,
    S3_PRESIGNED_EXPIRES_S_MAX,
    S3_SIGNED_HEADERS_COUNT_MAX,
)

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_PAYLOADS = (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_WHITESPACE = re.compile(r"\s+")
_URI_SAFE = "-_.~"  # with letters and digits: RFC 3986's unreserved characters
_V2_REFUSED = "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."

Headers = Mapping[str, str]  # lower-cased names; repeated headers joined with ","
Malformed = Callable[[str], S3Error]


@dataclass(frozen=True)
class Credential:
    """The `Credential=` of a signature: who signed, and the scope the key was derived for."""

    access_key: str
    date: str  # YYYYMMDD
    region: str
    service: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


@dataclass(frozen=True)
class SignedRequest:
    """What a request claims about its signature, before anything is verified."""

    credential: Credential
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str  # YYYYMMDDTHHMMSSZ, the time the request was signed
    payload_hash: str  # as signed: a SHA-256 hex, UNSIGNED-PAYLOAD or a STREAMING-* value
    presigned: bool
    expires_s: int  # presigned URLs only; 0 for a signed header

    @property
    def request_time_s(self) -> int:
        return calendar.timegm(time.strptime(self.amz_date, AMZ_DATE_FORMAT))


@dataclass(frozen=True)
class SigningContext:
    """What verifying the request yields for the signatures of an aws-chunked body."""

    key: bytes
    amz_date: str
    scope: str
    seed_signature: str

    def chunk_signature(self, previous_signature: str, chunk_sha256_hex: str) -> str:
        string_to_sign = "\n".join(
            (
                "AWS4-HMAC-SHA256-PAYLOAD",
                self.amz_date,
                self.scope,
                previous_signature,
                EMPTY_SHA256,
                chunk_sha256_hex,
            )
        )
        return _hmac_hex(self.key, string_to_sign)

    def trailer_signature(self, previous_signature: str, trailer_bytes: bytes) -> str:
        trailer_sha256 = hashlib.sha256(trailer_bytes).hexdigest()
        string_to_sign = "\n".join(
            ("AWS4-HMAC-SHA256-TRAILER", self.amz_date, self.scope, previous_signature, trailer_sha256)
        )
        return _hmac_hex(self.key, string_to_sign)


def lower_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header pairs as one lower-cased mapping; a repeated header's values joined with "," in order."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        lowered = name.lower()
        headers[lowered] = f"{headers[lowered]},{value}" if lowered in headers else value
    return headers


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The decoded (name, value) pairs of a raw query string; `+` is kept, as SigV4 signs it."""
    pairs = []
    for item in raw_query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((_unquote(name), _unquote(value)))
    return pairs


# --- canonical request -----------------------------------------------------


def uri_encode(value: str, *, keep_slash: bool) -> str:
    """AWS's URI encoding: every byte but the unreserved characters as %XX, upper-case hex."""
    return quote(value.encode("utf-8", "surrogateescape"), safe=_URI_SAFE + ("/" if keep_slash else ""))


def canonical_uri(raw_path: str) -> str:
    """The path as S3 signs it: decoded once, then encoded once; never normalised."""
    return quote(unquote_to_bytes(raw_path), safe=_URI_SAFE + "/") or "/"


def canonical_query(raw_query: str, *, exclude: str = "") -> str:
    """The query sorted by encoded name, then value; `exclude` drops one parameter (the signature)."""
    encoded = sorted(
        (uri_encode(name, keep_slash=False), uri_encode(value, keep_slash=False))
        for name, value in query_pairs(raw_query)
        if name != exclude
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_header_value(value: str) -> str:
    return _WHITESPACE.sub(" ", value.strip())


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Headers,
    signed_headers: Iterable[str],
    payload_hash: str,
    *,
    exclude_query: str = "",
) -> str:
    signed = list(signed_headers)
    header_lines = "".join(f"{name}:{canonical_header_value(headers.get(name, ''))}\n" for name in signed)
    return "\n".join(
        (
            method,
            canonical_uri(raw_path),
            canonical_query(raw_query, exclude=exclude_query),
            header_lines,
            ";".join(signed),
            payload_hash,
        )
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    return "\n".join((ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()))


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret_key).encode("utf-8")
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def _hmac_hex(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def _unquote(value: str) -> str:
    return unquote_to_bytes(value).decode("utf-8", "surrogateescape")


# --- parsing ---------------------------------------------------------------


def parse_auth(method: str, headers: Headers, query: Mapping[str, str]) -> SignedRequest | None:
    """The signature a request claims, from its Authorization header or its query; None if anonymous."""
    authorization = headers.get("authorization")
    if authorization is not None:
        if authorization.startswith("AWS "):
            raise InvalidRequest(_V2_REFUSED)
        if authorization.startswith("AWS4-ECDSA-P256-SHA256"):
            raise S3NotImplemented("Signature Version 4A is not supported.")
        return _parse_header(authorization, headers)
    if "X-Amz-Algorithm" in query or "X-Amz-Credential" in query:
        return _parse_query(query, headers)
    if "AWSAccessKeyId" in query or "Signature" in query:
        raise InvalidRequest(_V2_REFUSED)
    return None


def _parse_header(authorization: str, headers: Headers) -> SignedRequest:
    def malformed(detail: str) -> S3Error:
        return AuthorizationHeaderMalformed(f"The authorization header is malformed; {detail}")

    algorithm, _, rest = authorization.partition(" ")
    if algorithm != ALGORITHM:
        raise malformed(f"the authorization header requires '{ALGORITHM}'.")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, equals, value = item.strip().partition("=")
        if not equals or name in fields:
            raise malformed("the authorization component is malformed.")
        fields[name] = value
    if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
        raise malformed("it must have Credential, SignedHeaders and Signature, and nothing else.")
    amz_date = headers.get("x-amz-date") or _amz_date_of_http_date(headers.get("date", ""))
    if not _AMZ_DATE.fullmatch(amz_date):
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    payload_hash = headers.get("x-amz-content-sha256")
    if payload_hash is None:
        raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
    _check_payload_hash(payload_hash)
    return SignedRequest(
        credential=_parse_credential(fields["Credential"], amz_date, malformed),
        signed_headers=_parse_signed_headers(fields["SignedHeaders"], malformed),
        signature=fields["Signature"],
        amz_date=amz_date,
        payload_hash=payload_hash,
        presigned=False,
        expires_s=0,
    )


def _parse_query(query: Mapping[str, str], headers: Headers) -> SignedRequest:
    malformed: Malformed = AuthorizationQueryParametersError

    required = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders")
    if any(name not in query for name in (*required, "X-Amz-Expires")):
        raise malformed(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
        )
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise malformed(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    amz_date = query["X-Amz-Date"]
    if not _AMZ_DATE.fullmatch(amz_date) or not _is_valid_time(amz_date):
        raise malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    # A lifetime out of range refuses the URL (403, as Ceph RGW and s3-tests have it; AWS's
    # reference answers 400 AuthorizationQueryParametersError): never valid, like an expired one.
    expires = query["X-Amz-Expires"]
    if expires.startswith("-") and expires[1:].isdigit():
        raise AccessDenied("X-Amz-Expires must be non-negative")
    if not expires.isascii() or not expires.isdigit() or len(expires) > 9:
        raise malformed("X-Amz-Expires should be a number")
    expires_s = int(expires)
    if expires_s > S3_PRESIGNED_EXPIRES_S_MAX:
        raise AccessDenied(
            "X-Amz-Expires must be less than a week (in seconds) that is; "
            f"{S3_PRESIGNED_EXPIRES_S_MAX} seconds"
        )
    return SignedRequest(
        credential=_parse_credential(query["X-Amz-Credential"], amz_date, malformed),
        signed_headers=_parse_signed_headers(query["X-Amz-SignedHeaders"], malformed),
        signature=query["X-Amz-Signature"],
        amz_date=amz_date,
        payload_hash=UNSIGNED_PAYLOAD,  # what S3 presigned URLs sign, whatever the body
        presigned=True,
        expires_s=expires_s,
    )


def _parse_credential(value: str, amz_date: str, malformed: Malformed) -> Credential:
    parts = value.split("/")
    if len(parts) != 5 or not parts[0] or parts[4] != TERMINATOR:
        raise malformed(
            'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
        )
    access_key, date, region, service, _ = parts
    if date != amz_date[:8]:
        raise malformed(
            f'Invalid credential date "{date}". This date is not the same as X-Amz-Date: "{amz_date[:8]}".'
        )
    return Credential(access_key=access_key, date=date, region=region, service=service)


def _parse_signed_headers(value: str, malformed: Malformed) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    if len(names) > S3_SIGNED_HEADERS_COUNT_MAX or any(not name or name != name.lower() for name in names):
        raise malformed("the SignedHeaders are malformed.")
    return names


def _check_payload_hash(payload_hash: str) -> None:
    if payload_hash in (UNSIGNED_PAYLOAD, *STREAMING_PAYLOADS) or _HEX_SHA256.fullmatch(payload_hash):
        return
    if payload_hash.startswith("STREAMING-"):
        raise S3NotImplemented(f"x-amz-content-sha256 {payload_hash!r} is not supported.")
    raise InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
        "or a valid sha256 value.",
        ArgumentName="x-amz-content-sha256",
    )


def _amz_date_of_http_date(value: str) -> str:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return ""
    # "-0000" (RFC 5322: UTC, source unknown; what Python's formatdate writes) parses naive.
    utc = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return utc.strftime(AMZ_DATE_FORMAT)


def _is_valid_time(amz_date: str) -> bool:
    try:
        time.strptime(amz_date, AMZ_DATE_FORMAT)
    except ValueError:
        return False
    return True


# --- checks and verification -----------------------------------------------


def check_scope(signed: SignedRequest, *, region: str) -> None:
    """The signature is for S3 in this region; else the malformed-auth error naming the expected one."""
    error = AuthorizationQueryParametersError if signed.presigned else AuthorizationHeaderMalformed
    where = (
        "Error parsing the X-Amz-Credential parameter"
        if signed.presigned
        else "The authorization header is malformed"
    )
    credential = signed.credential
    if credential.region != region:
        raise error(
            f"{where}; the region '{credential.region}' is wrong; expecting '{region}'", Region=region
        )
    if credential.service != SERVICE:
        raise error(
            f"{where}; incorrect service '{credential.service}'. This endpoint belongs to '{SERVICE}'."
        )


def check_time(signed: SignedRequest, *, now_s: float, skew_s_max: float = S3_CLOCK_SKEW_S_MAX) -> None:
    """A signed header is within the allowed clock skew; a presigned URL is neither early nor expired."""
    if not _is_valid_time(signed.amz_date):
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    request_time_s = signed.request_time_s
    if signed.presigned:
        if request_time_s - now_s > skew_s_max:
            raise AccessDenied("Request is not valid yet")
        if now_s > request_time_s + signed.expires_s:
            raise AccessDenied(
                "Request has expired",
                **{
                    "X-Amz-Expires": str(signed.expires_s),
                    "Expires": _iso(request_time_s + signed.expires_s),
                },
                ServerTime=_iso(now_s),
            )
    elif abs(request_time_s - now_s) > skew_s_max:
        raise RequestTimeTooSkewed(
            RequestTime=signed.amz_date,
            ServerTime=_iso(now_s),
            MaxAllowedSkewMilliseconds=str(int(skew_s_max * 1000)),
        )


def verify(
    signed: SignedRequest,
    secret_key: str,
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Headers,
) -> SigningContext:
    """Check the signature with the signer's secret key (constant time); SignatureDoesNotMatch if wrong.

    Every `x-amz-*` header present must be signed, and so must `host`, so that
    nobody holding a presigned URL can add a header that changes what it does.
    """
    if "host" not in signed.signed_headers:
        raise AccessDenied("The host header must be signed")
    unsigned = sorted(
        name for name in headers if name.startswith("x-amz-") and name not in signed.signed_headers
    )
    if unsigned:
        raise AccessDenied(
            "There were headers present in the request which were not signed",
            HeadersNotSigned=", ".join(unsigned),
        )
    credential = signed.credential
    canonical = canonical_request(
        method,
        raw_path,
        raw_query,
        headers,
        signed.signed_headers,
        signed.payload_hash,
        exclude_query="X-Amz-Signature" if signed.presigned else "",
    )
    key = signing_key(secret_key, credential.date, credential.region, credential.service)
    expected = _hmac_hex(key, string_to_sign(signed.amz_date, credential.scope, canonical))
    if not hmac.compare_digest(expected.encode("ascii"), signed.signature.encode("utf-8", "surrogateescape")):
        raise SignatureDoesNotMatch(AWSAccessKeyId=credential.access_key)
    return SigningContext(key=key, amz_date=signed.amz_date, scope=credential.scope, seed_signature=expected)


def _iso(time_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time_s))


# --- signing (clients, tests and benchmarks) -------------------------------


def authorization_header(
    *,
    access_key: str,
    secret_key: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Headers,
    payload_hash: str,
    amz_date: str,
    region: str,
) -> str:
    """The Authorization header value for a request whose lower-cased `headers` are all signed."""
    credential = Credential(access_key=access_key, date=amz_date[:8], region=region, service=SERVICE)
    names = sorted(headers)
    canonical = canonical_request(method, raw_path, raw_query, headers, names, payload_hash)
    key = signing_key(secret_key, credential.date, region, SERVICE)
    signature = _hmac_hex(key, string_to_sign(amz_date, credential.scope, canonical))
    return f"{ALGORITHM} Credential={access_key}/{credential.scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
