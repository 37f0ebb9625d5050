"""Who may do what to a Swift path: one pure decision over the requester's rights and the ACLs.

The caller computes the requester's rights on the account from the policy
(`OwnerRights`) and fetches the ACLs (from the container and account info
cache); `decide` then says whether the request goes on. Rules, as keystoneauth
with tempauth's account ACLs:
- reads (GET, HEAD) need read rights, a grant in the container's read ACL, or
  an allowed referrer (objects; listings also need `.rlistings`);
- object writes (PUT, POST, DELETE, COPY) need write rights or a grant in the
  container's write ACL;
- container writes (PUT, POST, DELETE) need write rights;
- account writes (POST) and any change of ACL headers need owner rights
  (`manage`); nobody deletes an account through the API.
Account ACLs raise the rights of the people they name: read-only to read,
read-write to write, admin to manage.
"""

from __future__ import annotations

from dataclasses import dataclass

from dolmen.proxy.errors import AccessDenied, NotAuthenticated
from dolmen.proxy.swift.acl import AccountAccess, ContainerAcl, Requester, grant_matches, referrer_allowed
from dolmen.proxy.swift.paths import SwiftPath

READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class OwnerRights:
    """What the policy grants the requester on the addressed account."""

    read: bool = False
    write: bool = False
    manage: bool = False  # set account metadata and ACLs (Swift's "swift_owner")

    def raised_by(self, access: AccountAccess) -> OwnerRights:
        return OwnerRights(
            read=self.read or access >= AccountAccess.READ_ONLY,
            write=self.write or access >= AccountAccess.READ_WRITE,
            manage=self.manage or access >= AccountAccess.ADMIN,
        )


NO_RIGHTS = OwnerRights()


def decide(
    *,
    method: str,
    path: SwiftPath,
    requester: Requester | None,
    rights: OwnerRights,
    read_acl: ContainerAcl,
    write_acl: ContainerAcl,
    referrer: str | None,
    changes_acls: bool,
) -> None:
    """Return if the request may go on; raise NotAuthenticated (anonymous) or AccessDenied."""
    if _allowed(method, path, requester, rights, read_acl, write_acl, referrer, changes_acls):
        return
    if requester is None:
        raise NotAuthenticated(
            "This server could not verify that you are authorized to access the document you requested."
        )
    raise AccessDenied("Access was denied to this resource.")


def _allowed(
    method: str,
    path: SwiftPath,
    requester: Requester | None,
    rights: OwnerRights,
    read_acl: ContainerAcl,
    write_acl: ContainerAcl,
    referrer: str | None,
    changes_acls: bool,
) -> bool:
    if changes_acls and not rights.manage:
        return False
    reading = method in READ_METHODS
    if path.container is None:
        if reading:
            return rights.read
        return method == "POST" and rights.manage
    if not reading:
        if rights.write:
            return True
        # The container's write ACL grants its objects, never the container itself.
        return path.obj is not None and requester is not None and grant_matches(write_acl.groups, requester)
    if rights.read or (requester is not None and grant_matches(read_acl.groups, requester)):
        return True
    # Referrers read objects; listing the container also needs `.rlistings`.
    return (path.obj is not None or read_acl.listings) and referrer_allowed(referrer, read_acl.referrers)
