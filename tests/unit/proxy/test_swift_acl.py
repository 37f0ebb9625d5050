import json

import pytest
from dolmen.proxy.errors import AccessDenied, InvalidAcl, NotAuthenticated
from dolmen.proxy.swift.acl import (
    AccountAccess,
    Requester,
    account_access,
    clean_account_acl,
    clean_acl,
    grant_matches,
    parse_container_acl,
    referrer_allowed,
)
from dolmen.proxy.swift.authorize import NO_RIGHTS, OwnerRights, decide
from dolmen.proxy.swift.paths import SwiftPath
from hypothesis import given
from hypothesis import strategies as st

ALICE = Requester("u1", "alice", "default", "p1", "one", "default", frozenset({"member"}))
BOB = Requester("u2", "bob", "default", "p2", "two", "default", frozenset({"member"}))
CAROL_ELSEWHERE = Requester("u3", "carol", "d9", "p3", "three", "d9", frozenset({"reader"}))


@pytest.mark.parametrize(
    ("header", "value", "cleaned"),
    [
        ("X-Container-Read", "bob, sue", "bob,sue"),
        ("X-Container-Read", "bob,,,sue", "bob,sue"),
        ("X-Container-Read", ".referrer : *", ".r:*"),
        ("X-Container-Read", ".ref:*.example.com", ".r:.example.com"),
        ("X-Container-Read", ".r:*, .rlistings", ".r:*,.rlistings"),
        ("X-Container-Read", ".r:-thief.com", ".r:-thief.com"),
        ("X-Container-Write", "p1:u1,p2:*", "p1:u1,p2:*"),
    ],
)
def test_acls_are_cleaned_as_swift_cleans_them(header, value, cleaned):
    assert clean_acl(header, value) == cleaned
    assert clean_acl(header, cleaned) == cleaned


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Container-Read", ".r:"),
        ("X-Container-Read", ".r:-"),
        ("X-Container-Write", ".r:*"),
        ("X-Container-Read", ".x:y"),
    ],
)
def test_malformed_acls_are_refused(header, value):
    with pytest.raises(InvalidAcl):
        clean_acl(header, value)


@given(st.text(max_size=60))
def test_cleaning_is_idempotent_or_refuses(value):
    try:
        cleaned = clean_acl("X-Container-Read", value)
    except InvalidAcl:
        return
    assert clean_acl("X-Container-Read", cleaned) == cleaned


def test_referrers_last_match_wins():
    designations = parse_container_acl(".r:.example.com,.r:-thief.example.com").referrers
    assert referrer_allowed("http://www.example.com/page", designations)
    assert not referrer_allowed("http://thief.example.com/page", designations)
    assert not referrer_allowed("http://other.org/", designations)
    assert not referrer_allowed(None, designations)
    assert referrer_allowed(None, parse_container_acl(".r:*").referrers)
    assert not referrer_allowed("http://x.org", parse_container_acl(".r:*,.r:-x.org").referrers)


def test_project_user_grants_by_id_name_and_star():
    for item in ("p1:u1", "one:alice", "p1:*", "*:u1", "*:*", "member"):
        assert grant_matches(frozenset({item}), ALICE), item
    assert not grant_matches(frozenset({"p1:u2", "two:*"}), ALICE)


def test_names_match_only_in_the_default_domain():
    assert grant_matches(frozenset({"p3:u3"}), CAROL_ELSEWHERE)
    assert not grant_matches(frozenset({"three:carol"}), CAROL_ELSEWHERE)


def test_account_acl_is_validated_and_normalised():
    assert clean_account_acl('{"read-only": ["p2", "p2"], "admin": []}') == '{"read-only":["p2"]}'
    assert clean_account_acl("{}") == ""
    assert clean_account_acl("") == ""
    for bad in (
        "[",
        "[]",
        '{"owner": ["x"]}',
        '{"admin": "x"}',
        '{"admin": [1]}',
        json.dumps({"admin": ["x" * 300]}),
    ):
        with pytest.raises(InvalidAcl):
            clean_account_acl(bad)


def test_account_acl_grants_by_project_or_project_user_but_never_by_role():
    stored = clean_account_acl('{"read-write": ["p2"], "read-only": ["*:u3"], "admin": ["member"]}')
    assert account_access(stored, BOB) is AccountAccess.READ_WRITE
    assert account_access(stored, CAROL_ELSEWHERE) is AccountAccess.READ_ONLY
    assert account_access(stored, ALICE) is AccountAccess.NONE
    assert account_access(None, ALICE) is AccountAccess.NONE


OWNER = OwnerRights(read=True, write=True, manage=True)
READER = OwnerRights(read=True)
EMPTY = parse_container_acl(None)


def allowed(method, path, requester, rights, *, read="", write="", referrer=None, changes_acls=False):
    try:
        decide(
            method=method,
            path=SwiftPath(*path),
            requester=requester,
            rights=rights,
            read_acl=parse_container_acl(read),
            write_acl=parse_container_acl(write),
            referrer=referrer,
            changes_acls=changes_acls,
        )
    except (AccessDenied, NotAuthenticated):
        return False
    return True


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "POST", "DELETE"])
@pytest.mark.parametrize("path", [("AUTH_p1",), ("AUTH_p1", "c"), ("AUTH_p1", "c", "o")])
def test_owners_may_do_anything_but_delete_their_account_and_strangers_nothing(method, path):
    account_delete = method == "DELETE" and len(path) == 1
    account_put = method == "PUT" and len(path) == 1
    assert allowed(method, path, ALICE, OWNER) is not (account_delete or account_put)
    assert not allowed(method, path, BOB, NO_RIGHTS)


def test_readers_read_and_never_write():
    for path in [("AUTH_p1",), ("AUTH_p1", "c"), ("AUTH_p1", "c", "o")]:
        assert allowed("GET", path, ALICE, READER)
        for method in ("PUT", "POST", "DELETE"):
            assert not allowed(method, path, ALICE, READER)


def test_public_read_acl_serves_objects_and_listings_only_with_rlistings():
    obj, container = ("AUTH_p1", "c", "o"), ("AUTH_p1", "c")
    assert allowed("GET", obj, None, NO_RIGHTS, read=".r:*")
    assert not allowed("GET", container, None, NO_RIGHTS, read=".r:*")
    assert allowed("GET", container, None, NO_RIGHTS, read=".r:*,.rlistings")
    assert not allowed("PUT", obj, None, NO_RIGHTS, read=".r:*,.rlistings")
    assert not allowed("GET", ("AUTH_p1",), None, NO_RIGHTS, read=".r:*,.rlistings")


def test_anonymous_refusals_are_401_and_authenticated_ones_403():
    common = {"method": "GET", "path": SwiftPath("AUTH_p1", "c", "o"), "rights": NO_RIGHTS}
    acls = {"read_acl": EMPTY, "write_acl": EMPTY, "referrer": None, "changes_acls": False}
    with pytest.raises(NotAuthenticated):
        decide(requester=None, **common, **acls)
    with pytest.raises(AccessDenied):
        decide(requester=BOB, **common, **acls)


def test_container_acls_grant_other_projects():
    obj = ("AUTH_p1", "c", "o")
    assert allowed("GET", obj, BOB, NO_RIGHTS, read="p2:*")
    assert allowed("GET", ("AUTH_p1", "c"), BOB, NO_RIGHTS, read="two:bob")
    assert not allowed("PUT", obj, BOB, NO_RIGHTS, read="p2:*")
    assert allowed("PUT", obj, BOB, NO_RIGHTS, write="p2:u2")
    assert allowed("DELETE", obj, BOB, NO_RIGHTS, write="p2:u2")
    assert not allowed("DELETE", ("AUTH_p1", "c"), BOB, NO_RIGHTS, write="p2:u2")


def test_only_managers_change_acls():
    obj = ("AUTH_p1", "c")
    assert not allowed("POST", obj, ALICE, OwnerRights(read=True, write=True), changes_acls=True)
    assert allowed("POST", obj, ALICE, OWNER, changes_acls=True)


def test_account_acls_raise_rights():
    assert NO_RIGHTS.raised_by(AccountAccess.READ_ONLY) == READER
    assert NO_RIGHTS.raised_by(AccountAccess.ADMIN) == OWNER
    assert READER.raised_by(AccountAccess.NONE) == READER
