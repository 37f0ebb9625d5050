"""Swift ACLs: container read/write ACLs and the account access-control document, pure.

Container ACLs (`X-Container-Read`, `X-Container-Write`) are comma-separated items:
- `.r:<host>` (also `.ref`, `.referer`, `.referrer`): a referrer designation,
  read ACLs only. `*` allows any referrer, `.example.com` or `*.example.com` a
  domain, `-<host>` denies; the last matching designation wins. Referrer access
  grants objects; listing the container also needs `.rlistings`.
- `<project>:<user>`, each an id, a name or `*`: keystoneauth's cross-project grant.
  Names only match when the requester's user and project are in the default domain.
- anything else is a role name: a requester holding that role is granted.
`clean_acl` normalises a header before it is stored, as Swift does.

`X-Account-Access-Control` is JSON: `{"admin": [...], "read-write": [...],
"read-only": [...]}`, each a list of `<project>:<user>` items as above or bare
project ids; an account's admins may do what its owners may, read-write
grants every container and object but not the account's own metadata,
read-only grants reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from urllib.parse import urlsplit

from dolmen.proxy.errors import InvalidAcl
from dolmen.proxy.headertext import is_utf8

from dolmen.limits import METADATA_VALUE_BYTES_MAX

REFERRER_DESIGNATORS = (".r", ".ref", ".referer", ".referrer")
LISTINGS_DESIGNATOR = ".rlistings"
DEFAULT_DOMAIN_ID = "default"
ACCOUNT_ACL_BYTES_MAX = METADATA_VALUE_BYTES_MAX  # stored as one metadata item


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks, as the ACLs see them (from a validated token)."""

    user_id: str
    user_name: str
    user_domain_id: str
    project_id: str | None
    project_name: str | None
    project_domain_id: str | None
    roles: frozenset[str]


@dataclass(frozen=True, slots=True)
class ContainerAcl:
    """One parsed container ACL header."""

    referrers: tuple[str, ...] = ()  # `.r:` values in order, `-` prefixed when they deny
    groups: frozenset[str] = frozenset()  # `project:user` items and role names
    listings: bool = False


def clean_acl(header_name: str, value: str) -> str:
    """The normalised form of an ACL header value; InvalidAcl if it does not parse."""
    if not is_utf8(value):
        raise InvalidAcl("ACL is not valid UTF-8")  # the names in it must be the names they grant
    items: list[str] = []
    for raw_item in value.split(","):
        item = raw_item.strip()
        if not item:
            continue
        first, colon, second = (part.strip() for part in item.partition(":"))
        if not colon or not first.startswith("."):
            if item.startswith(".") and item != LISTINGS_DESIGNATOR:
                raise InvalidAcl(f"Unknown designator in ACL: {item!r}")
            items.append(item)
            continue
        if first not in REFERRER_DESIGNATORS:
            raise InvalidAcl(f"Unknown designator {first!r} in ACL: {item!r}")
        if "write" in header_name.lower():
            raise InvalidAcl(f"Referrers not allowed in write ACL: {item!r}")
        negate = second.startswith("-")
        host = second[1:].strip() if negate else second
        if host != "*" and host.startswith("*"):
            host = host[1:].strip()
        if not host or host == ".":
            raise InvalidAcl(f"No host/domain value after referrer designation in ACL: {item!r}")
        items.append(f".r:{'-' if negate else ''}{host}")
    return ",".join(items)


def parse_container_acl(value: str | None) -> ContainerAcl:
    """A stored (cleaned) ACL header value as a ContainerAcl; empty for None."""
    if not value:
        return ContainerAcl()
    referrers: list[str] = []
    groups: set[str] = set()
    listings = False
    for item in value.split(","):
        item = item.strip()
        if item == LISTINGS_DESIGNATOR:
            listings = True
        elif item.startswith(".r:"):
            referrers.append(item[3:])
        elif item:
            groups.add(item)
    return ContainerAcl(tuple(referrers), frozenset(groups), listings)


def referrer_allowed(referrer: str | None, designations: Iterable[str]) -> bool:
    """Whether a request with this `Referer` passes the `.r:` designations (last match wins)."""
    host = ""
    if referrer:
        try:
            host = urlsplit(referrer).hostname or ""
        except ValueError:
            host = ""
    allowed = False
    for designation in designations:
        negate = designation.startswith("-")
        target = designation[1:] if negate else designation
        if target == "*" or (host and (host == target or (target.startswith(".") and host.endswith(target)))):
            allowed = not negate
    return allowed


def _names_allowed(requester: Requester) -> bool:
    return requester.user_domain_id == DEFAULT_DOMAIN_ID and requester.project_domain_id in (
        DEFAULT_DOMAIN_ID,
        None,
    )


def grant_matches(groups: frozenset[str], requester: Requester, *, roles: bool = True) -> bool:
    """Whether a `project:user` item (or, with `roles`, a role name) in `groups` designates the requester."""
    if requester.project_id is None:
        return False
    projects = {requester.project_id, "*"}
    users = {requester.user_id, "*"}
    if _names_allowed(requester):
        projects.add(requester.project_name or "")
        users.add(requester.user_name)
    if any(f"{project}:{user}" in groups for project in projects for user in users):
        return True
    return roles and bool(requester.roles & groups)


class AccountAccess(IntEnum):
    """What the account access-control document grants, weakest first."""

    NONE = 0
    READ_ONLY = 1
    READ_WRITE = 2
    ADMIN = 3


ACCOUNT_ACL_KEYS = {
    "read-only": AccountAccess.READ_ONLY,
    "read-write": AccountAccess.READ_WRITE,
    "admin": AccountAccess.ADMIN,
}


def clean_account_acl(value: str) -> str:
    """The normalised JSON of an `X-Account-Access-Control` header; InvalidAcl if malformed.

    An empty value (or `{}`) clears the ACL and returns "".
    """
    if not value.strip():
        return ""
    try:
        document = json.loads(value)
    except ValueError:
        raise InvalidAcl("X-Account-Access-Control is not valid JSON") from None
    if not isinstance(document, dict):
        raise InvalidAcl("X-Account-Access-Control must be a JSON object")
    cleaned: dict[str, list[str]] = {}
    for key, items in document.items():
        if key not in ACCOUNT_ACL_KEYS:
            raise InvalidAcl(f"Unknown key in X-Account-Access-Control: {key!r}")
        if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
            raise InvalidAcl(f"X-Account-Access-Control {key!r} must be a list of strings")
        if items:
            cleaned[key] = sorted(set(items))
    text = json.dumps(cleaned, separators=(",", ":"), sort_keys=True) if cleaned else ""
    if len(text.encode()) > ACCOUNT_ACL_BYTES_MAX:
        raise InvalidAcl(f"X-Account-Access-Control longer than {ACCOUNT_ACL_BYTES_MAX} bytes")
    return text


def account_access(stored: str | None, requester: Requester) -> AccountAccess:
    """The strongest access a stored (cleaned) account ACL grants the requester."""
    if not stored:
        return AccountAccess.NONE
    document = json.loads(stored)
    best = AccountAccess.NONE
    for key, items in document.items():
        groups = frozenset(items)
        # Role names never match here: "member" would grant every project's members.
        if grant_matches(groups, requester, roles=False) or requester.project_id in groups:
            best = max(best, ACCOUNT_ACL_KEYS[key])
    return best
