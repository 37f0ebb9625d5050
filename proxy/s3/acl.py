"""S3 access control lists in Swift's terms, pure.

A bucket's ACL is its container's Swift ACLs (`X-Container-Read`/`-Write`), so
both APIs grant and see the same thing. S3 grants map to Swift ACL items:

| S3 grant                              | Swift ACL item               |
|---------------------------------------|------------------------------|
| AllUsers READ                         | read `.r:*,.rlistings`       |
| AuthenticatedUsers READ / WRITE       | read / write `*:*`           |
| CanonicalUser `<project id>` READ / WRITE | read / write `<project id>:*` |
| FULL_CONTROL                          | READ and WRITE               |

Canned ACLs: `private` (nothing), `public-read`, `authenticated-read`,
`public-read-write` (AllUsers READ, and WRITE for any *authenticated* user:
anonymous writes are not served), `bucket-owner-read` and
`bucket-owner-full-control` (nothing beyond the owner, for buckets). The owner
always has FULL_CONTROL; READ_ACP and WRITE_ACP cannot be granted to others
(only the owner reads or changes an ACL), AllUsers WRITE is refused: both
NotImplemented. An object's ACL is its bucket's: Swift has no per-object ACLs.
Reading an ACL shows the grants S3 can express; other Swift items (roles,
single users, referrer rules) stay in force but are not listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dolmen.proxy.s3.errors import InvalidArgument, S3NotImplemented, UnresolvableGrantByEmailAddress
from dolmen.proxy.s3.render import document, element

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
PERMISSIONS = ("FULL_CONTROL", "READ", "WRITE", "READ_ACP", "WRITE_ACP")
PUBLIC_READ_ITEMS = (".r:*", ".rlistings")
ANY_USER = "*:*"
GRANT_HEADERS = {
    "x-amz-grant-read": "READ",
    "x-amz-grant-write": "WRITE",
    "x-amz-grant-full-control": "FULL_CONTROL",
    "x-amz-grant-read-acp": "READ_ACP",
    "x-amz-grant-write-acp": "WRITE_ACP",
}


@dataclass(frozen=True, slots=True)
class Grant:
    """One grant: to a group URI or a canonical user (a project id), of one permission."""

    permission: str
    group: str | None = None
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class SwiftAcls:
    """The container ACL headers' values that carry a bucket's grants."""

    read: str
    write: str

    def grants_same_as(self, other: SwiftAcls) -> bool:
        """Whether both grant the same (the items, whatever their order)."""
        return all(
            {item.strip() for item in mine.split(",") if item.strip()}
            == {item.strip() for item in theirs.split(",") if item.strip()}
            for mine, theirs in ((self.read, other.read), (self.write, other.write))
        )


CANNED: dict[str, tuple[Grant, ...]] = {
    "private": (),
    "bucket-owner-read": (),
    "bucket-owner-full-control": (),
    "public-read": (Grant("READ", group=ALL_USERS),),
    "authenticated-read": (Grant("READ", group=AUTHENTICATED_USERS),),
    "public-read-write": (Grant("READ", group=ALL_USERS), Grant("WRITE", group=AUTHENTICATED_USERS)),
}

# Accounts are projects, known by id only: a grant by email address names nobody here.
EMAIL_GRANTS_UNRESOLVED = (
    "The email address you provided does not match any account on record; "
    "grant to the project's id (a CanonicalUser) instead."
)


def canned_grants(name: str) -> tuple[Grant, ...]:
    if name not in CANNED:
        raise InvalidArgument(
            f"Unsupported canned ACL {name!r}", ArgumentName="x-amz-acl", ArgumentValue=name
        )
    return CANNED[name]


def grants_of_headers(headers: Mapping[str, str]) -> tuple[Grant, ...] | None:
    """The grants a request's `x-amz-acl` or `x-amz-grant-*` headers ask for; None if it has neither."""
    canned = headers.get("x-amz-acl")
    asked = [name for name in GRANT_HEADERS if name in headers]
    if canned is not None and asked:
        raise InvalidArgument("Specifying both Canned ACLs and Header Grants is not allowed")
    if canned is not None:
        return canned_grants(canned.strip())
    if not asked:
        return None
    grants: list[Grant] = []
    for name in asked:
        for item in headers[name].split(","):
            kind, _, value = item.strip().partition("=")
            value = value.strip().strip('"')
            if kind.strip().lower() == "uri":
                grants.append(Grant(GRANT_HEADERS[name], group=value))
            elif kind.strip().lower() == "id" and value:
                grants.append(Grant(GRANT_HEADERS[name], user_id=value))
            elif kind.strip().lower() == "emailaddress":
                raise UnresolvableGrantByEmailAddress(EMAIL_GRANTS_UNRESOLVED)
            else:
                raise InvalidArgument(f"Invalid grantee {item.strip()!r}", ArgumentName=name)
    return tuple(grants)


def swift_acls(grants: tuple[Grant, ...], *, owner_id: str) -> SwiftAcls:
    """The container ACLs that carry `grants` (the owner's own grants are implicit)."""
    read: list[str] = []
    write: list[str] = []
    for grant in grants:
        if grant.user_id == owner_id:
            continue
        if grant.permission in ("READ_ACP", "WRITE_ACP"):
            raise S3NotImplemented(
                "Only the owner may read or change an ACL; READ_ACP and WRITE_ACP grants are not supported."
            )
        targets = (
            (read, write)
            if grant.permission == "FULL_CONTROL"
            else (read,)
            if grant.permission == "READ"
            else (write,)
        )
        for target in targets:
            target.extend(_items(grant, writing=target is write))
    return SwiftAcls(read=",".join(dict.fromkeys(read)), write=",".join(dict.fromkeys(write)))


def _items(grant: Grant, *, writing: bool) -> tuple[str, ...]:
    if grant.group == ALL_USERS:
        if writing:
            raise S3NotImplemented("Anonymous writes are not supported: grant WRITE to AuthenticatedUsers.")
        return PUBLIC_READ_ITEMS
    if grant.group == AUTHENTICATED_USERS:
        return (ANY_USER,)
    if grant.group is not None:
        raise InvalidArgument(f"Unknown group {grant.group!r}", ArgumentName="Grantee")
    assert grant.user_id is not None
    if not grant.user_id or any(char in grant.user_id for char in ",:*"):
        raise InvalidArgument("Invalid canonical user id", ArgumentName="Grantee")
    return (f"{grant.user_id}:*",)


def grants_of(acls: SwiftAcls) -> tuple[Grant, ...]:
    """The grants S3 can express from a container's ACLs (see the module docstring)."""
    grants: list[Grant] = []
    for permission, value in (("READ", acls.read), ("WRITE", acls.write)):
        items = [item.strip() for item in value.split(",") if item.strip()]
        if permission == "READ" and ".r:*" in items:
            grants.append(Grant("READ", group=ALL_USERS))
        for item in items:
            project, colon, user = item.partition(":")
            if not colon or user != "*" or project.startswith("."):
                continue
            if project == "*":
                grants.append(Grant(permission, group=AUTHENTICATED_USERS))
            else:
                grants.append(Grant(permission, user_id=project))
    return tuple(grants)


def access_control_policy_xml(owner_id: str, grants: tuple[Grant, ...]) -> bytes:
    """GetBucketAcl/GetObjectAcl: group grants, the owner's FULL_CONTROL, then user grants (the
    order RGW answers and s3-tests compares in: a list led by a user grant is sorted by display
    name there, which fails on the groups' missing names)."""
    owner = element("ID", owner_id) + element("DisplayName", owner_id)
    groups = [grant for grant in grants if grant.group is not None]
    users = [grant for grant in grants if grant.group is None]
    rows = [
        _grant_xml(grant, owner_id) for grant in [*groups, Grant("FULL_CONTROL", user_id=owner_id), *users]
    ]
    body = f"<Owner>{owner}</Owner><AccessControlList>{''.join(rows)}</AccessControlList>"
    return document("AccessControlPolicy", body)


def _grant_xml(grant: Grant, owner_id: str) -> str:
    if grant.group is not None:
        grantee = f'<Grantee xmlns:xsi="{XSI}" xsi:type="Group">{element("URI", grant.group)}</Grantee>'
    else:
        assert grant.user_id is not None
        who = element("ID", grant.user_id) + element("DisplayName", grant.user_id)
        grantee = f'<Grantee xmlns:xsi="{XSI}" xsi:type="CanonicalUser">{who}</Grantee>'
    return f"<Grant>{grantee}{element('Permission', grant.permission)}</Grant>"
