"""Entry lookups, pure: the body of a `LOOKUP` and its parsing.

The cluster client merges the listings of two container (or account) replicas from their live
entries alone, so that a listing never reads tombstones. Where the replicas disagree (a name
one lists and the other does not), it asks the other replica for its record of those names,
tombstones included: `POST` with `X-Backend-Verb: LOOKUP` on the container's (account's) path,
a JSON array of names as the body, its SHA-256 in `X-Backend-Body-Sha256` (PROTOCOL.md,
"Container server").
"""

from __future__ import annotations

import orjson
from dolmen.storage_node.errors import BadRequest
from dolmen.storage_node.signed_bodies import BODY_SHA256_HEADER, body_sha256, signed_json
from dolmen.storage_node.verbs import VERB_HEADER

from dolmen.limits import LOOKUP_BYTES_MAX, LOOKUP_NAMES_MAX

LOOKUP_VERB = "LOOKUP"


def lookup_request(names: list[str]) -> tuple[dict[str, str], bytes]:
    """(headers, body) of the LOOKUP of `names` (1..LOOKUP_NAMES_MAX); the caller adds the role."""
    assert 0 < len(names) <= LOOKUP_NAMES_MAX
    body = orjson.dumps(names)
    return {VERB_HEADER: LOOKUP_VERB, BODY_SHA256_HEADER: body_sha256(body)}, body


def parse_lookup(body: bytes, signed_sha256: str | None) -> list[str]:
    """The names of a LOOKUP body. UploadChecksumMismatch unless the body has the signed SHA-256;
    BadRequest for anything but a JSON array of 1..LOOKUP_NAMES_MAX strings (their legality is
    the engine's to check)."""
    names = signed_json(
        body, signed_sha256, bytes_max=LOOKUP_BYTES_MAX, what="a LOOKUP body", shape="a JSON array of names"
    )
    if (
        not isinstance(names, list)
        or not 1 <= len(names) <= LOOKUP_NAMES_MAX
        or not all(type(name) is str for name in names)
    ):
        raise BadRequest(f"a LOOKUP body is a JSON array of 1..{LOOKUP_NAMES_MAX} names")
    return names
