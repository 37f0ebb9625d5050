"""Browser uploads (POST Object): the form's signature and its policy document, pure.

A POST form carries `policy` (base64 of a JSON document: `expiration` and
`conditions`) and a signature of that base64 text:

- SigV4: `x-amz-algorithm=AWS4-HMAC-SHA256`, `x-amz-credential`
  (`<key>/<date>/<region>/s3/aws4_request`), `x-amz-date`, and
  `x-amz-signature` = hex HMAC-SHA256 of the policy under the derived key;
- SigV2 (what the s3-tests `test_post_object_*` cases and older browser forms
  send): `AWSAccessKeyId` and `signature` = base64 HMAC-SHA1 of the policy. The
  policy is the only thing a V2 form signs, and HMAC-SHA1 is still a sound MAC,
  so Dolmen accepts it here while refusing SigV2 everywhere else.

Conditions: `{"field": "value"}` and `["eq", "$field", "value"]` (exact),
`["starts-with", "$field", "prefix"]` (a `starts-with` on Content-Type
applies to each comma-separated type), and `["content-length-range", min, max]`.
Every form field must be covered by a condition, except the signature, the
policy, the file, the V2 access key and `x-ignore-*` fields, as S3 requires, and
`x-amz-checksum-*` fields, which the file itself is checked against (post.py).
A failed check is AccessDenied ("Invalid according to Policy"); comparisons of
the signature are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from dolmen.proxy.s3.errors import AccessDenied, EntityTooLarge, EntityTooSmall, InvalidArgument, S3Error
from dolmen.proxy.s3.sigv4 import ALGORITHM, SERVICE, TERMINATOR, signing_key

from dolmen.limits import S3_POST_CONDITIONS_MAX

# Fields the policy need not name (lower-cased).
_UNCOVERED = frozenset({"x-amz-signature", "signature", "awsaccesskeyid", "file", "policy"})
_EXPIRATION = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")


@dataclass(frozen=True)
class FormSignature:
    """Who signed a form and how: `version` 4 (with its scope) or 2."""

    version: int
    access_key: str
    signature: str
    date: str = ""
    region: str = ""


@dataclass(frozen=True)
class Policy:
    expiration_s: float
    conditions: list[object]
    length_range: tuple[int, int] | None


def form_signature(fields: Mapping[str, str], *, region: str) -> FormSignature | None:
    """The form's signature fields (lower-cased names); None for an unsigned (anonymous) form."""
    if "x-amz-signature" in fields or "x-amz-credential" in fields:
        if fields.get("x-amz-algorithm") != ALGORITHM:
            raise InvalidArgument("Only AWS4-HMAC-SHA256 is supported", ArgumentName="x-amz-algorithm")
        parts = fields.get("x-amz-credential", "").split("/")
        if len(parts) != 5 or parts[3] != SERVICE or parts[4] != TERMINATOR or not parts[0]:
            raise InvalidArgument("Invalid credential", ArgumentName="x-amz-credential")
        if parts[2] != region:
            raise InvalidArgument(
                f"The region {parts[2]!r} is wrong; expecting {region!r}", ArgumentName="x-amz-credential"
            )
        if not fields.get("x-amz-date", "").startswith(parts[1]):
            raise InvalidArgument(
                "x-amz-date does not match the credential's date", ArgumentName="x-amz-date"
            )
        if "x-amz-signature" not in fields or "policy" not in fields:
            raise InvalidArgument(
                "A signed POST needs x-amz-signature and policy", ArgumentName="x-amz-signature"
            )
        return FormSignature(4, parts[0], fields["x-amz-signature"], parts[1], parts[2])
    if "awsaccesskeyid" in fields or "signature" in fields:
        if "signature" not in fields or "policy" not in fields or "awsaccesskeyid" not in fields:
            raise InvalidArgument(
                "A signed POST needs AWSAccessKeyId, signature and policy", ArgumentName="signature"
            )
        return FormSignature(2, fields["awsaccesskeyid"], fields["signature"])
    if "policy" in fields:
        raise InvalidArgument("A POST policy must be signed", ArgumentName="policy")
    return None


def check_signature(signature: FormSignature, policy_b64: str, secret_key: str) -> None:
    """AccessDenied unless the form's signature is the policy's under this secret (SignatureDoesNotMatch's meaning)."""
    if signature.version == 4:
        key = signing_key(secret_key, signature.date, signature.region, SERVICE)
        expected = hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()
    else:
        digest = hmac.new(secret_key.encode(), policy_b64.encode(), hashlib.sha1).digest()
        expected = base64.b64encode(digest).decode()
    if not hmac.compare_digest(expected.encode(), signature.signature.encode("utf-8", "surrogateescape")):
        raise AccessDenied("The request signature we calculated does not match the signature you provided.")


def parse_policy(policy_b64: str) -> Policy:
    """The policy document; InvalidPolicyDocument's meaning (InvalidArgument) when it is not one."""
    try:
        document = json.loads(base64.b64decode(policy_b64, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidArgument("Invalid Policy: Invalid JSON.", ArgumentName="policy") from None
    if not isinstance(document, dict) or not isinstance(document.get("conditions"), list):
        raise InvalidArgument("Invalid Policy: Invalid 'conditions'.", ArgumentName="policy")
    expiration = document.get("expiration")
    if not isinstance(expiration, str):
        raise InvalidArgument("Invalid Policy: Policy missing expiration.", ArgumentName="policy")
    conditions = document["conditions"]
    if not conditions or len(conditions) > S3_POST_CONDITIONS_MAX:
        raise InvalidArgument("Invalid Policy: too many conditions.", ArgumentName="policy")
    length_range = None
    for condition in conditions:
        if isinstance(condition, list) and condition and _operator(condition) == "content-length-range":
            if len(condition) != 3 or not all(_is_integer(bound) for bound in condition[1:]):
                raise InvalidArgument("Invalid Policy: Invalid content-length-range.", ArgumentName="policy")
            length_range = (int(condition[1]), int(condition[2]))
            if length_range[0] < 0 or length_range[1] < length_range[0]:
                raise InvalidArgument("Invalid Policy: Invalid content-length-range.", ArgumentName="policy")
    return Policy(_expiration_s(expiration), conditions, length_range)


def _operator(condition: list[object]) -> str:
    return condition[0].lower() if isinstance(condition[0], str) else ""


def _is_integer(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit() and len(value) < 20


def _expiration_s(text: str) -> float:
    """ISO 8601 in UTC, as policies write it: 2030-01-01T00:00:00Z, with or without fractions."""
    if _EXPIRATION.fullmatch(text) is None:
        raise InvalidArgument("Invalid Policy: Invalid 'expiration' value.", ArgumentName="policy")
    try:
        return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        raise InvalidArgument("Invalid Policy: Invalid 'expiration' value.", ArgumentName="policy") from None


def _failed(condition: object) -> S3Error:
    text = json.dumps(condition)[:200]
    return AccessDenied(f"Invalid according to Policy: Policy Condition failed: {text}")


def check_policy(policy: Policy, fields: Mapping[str, str], *, now_s: float) -> None:
    """AccessDenied unless the policy is current, every condition holds and every field is covered.

    `fields` are the form's fields (lower-cased names) plus `bucket`."""
    if now_s > policy.expiration_s:
        raise AccessDenied("Invalid according to Policy: Policy expired.")
    covered: set[str] = set()
    for condition in policy.conditions:
        if isinstance(condition, dict):
            if len(condition) != 1:
                raise InvalidArgument("Invalid Policy: a condition names one field.", ArgumentName="policy")
            ((name, value),) = condition.items()
            name = str(name).lower().removeprefix("$")
            if not isinstance(value, str) or fields.get(name) != value:
                raise _failed(condition)
            covered.add(name)
        elif (
            isinstance(condition, list)
            and len(condition) == 3
            and _operator(condition) in ("eq", "starts-with")
        ):
            operator, name, value = _operator(condition), condition[1], condition[2]
            if not isinstance(name, str) or not name.startswith("$") or not isinstance(value, str):
                raise InvalidArgument("Invalid Policy: Invalid condition.", ArgumentName="policy")
            name = name[1:].lower()
            actual = fields.get(name)
            if actual is None or not _holds(operator, name, actual, value):
                raise _failed(condition)
            covered.add(name)
        elif isinstance(condition, list) and condition and _operator(condition) == "content-length-range":
            continue  # checked against the file's length as it streams
        else:
            raise InvalidArgument("Invalid Policy: Invalid condition.", ArgumentName="policy")
    for name in fields:
        if (
            name not in covered
            and name not in _UNCOVERED
            and name != "bucket"
            and not name.startswith(("x-ignore-", "x-amz-checksum-"))  # checked against the file
        ):
            raise AccessDenied(f"Invalid according to Policy: Extra input fields: {name[:100]}")


def _holds(operator: str, name: str, actual: str, value: str) -> bool:
    if operator == "eq":
        return actual == value
    if name == "content-type":
        return all(part.strip().startswith(value) for part in actual.split(","))
    return actual.startswith(value)


def check_length(policy: Policy | None, length: int) -> None:
    """EntityTooSmall/EntityTooLarge's meaning when the file's length is outside content-length-range."""
    if policy is None or policy.length_range is None:
        return
    low, high = policy.length_range
    if length < low:
        raise EntityTooSmall(ProposedSize=str(length), MinSizeAllowed=str(low))
    if length > high:
        raise EntityTooLarge(ProposedSize=str(length), MaxSizeAllowed=str(high))
