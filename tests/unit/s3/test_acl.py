"""S3 ACLs in Swift's terms: canned ACLs, grant headers and bodies, and what GetBucketAcl shows."""

from __future__ import annotations

import botocore.session
import pytest
from dolmen.proxy.s3 import errors
from dolmen.proxy.s3.acl import (
    ALL_USERS,
    AUTHENTICATED_USERS,
    Grant,
    SwiftAcls,
    access_control_policy_xml,
    grants_of,
    grants_of_headers,
    swift_acls,
)
from dolmen.proxy.s3.requestxml import parse_access_control_policy
from dolmen.proxy.swift.acl import parse_container_acl
from hypothesis import given
from hypothesis import strategies as st

OWNER = "ownerproject"


@pytest.mark.parametrize(
    ("canned", "read", "write"),
    [
        ("private", "", ""),
        ("bucket-owner-full-control", "", ""),
        ("public-read", ".r:*,.rlistings", ""),
        ("authenticated-read", "*:*", ""),
        ("public-read-write", ".r:*,.rlistings", "*:*"),
    ],
)
def test_canned_acls_become_swift_acls(canned: str, read: str, write: str) -> None:
    grants = grants_of_headers({"x-amz-acl": canned})
    assert grants is not None
    assert swift_acls(grants, owner_id=OWNER) == SwiftAcls(read=read, write=write)


def test_a_public_read_acl_parses_as_swift_reads_it() -> None:
    acls = swift_acls(grants_of_headers({"x-amz-acl": "public-read"}) or (), owner_id=OWNER)
    parsed = parse_container_acl(acls.read)
    assert parsed.listings and parsed.referrers == ("*",)


def test_grant_headers_name_groups_and_projects() -> None:
    grants = grants_of_headers(
        {
            "x-amz-grant-read": f'uri="{ALL_USERS}", id="p2"',
            "x-amz-grant-full-control": f'id="p3", id="{OWNER}"',
        }
    )
    assert grants is not None
    assert swift_acls(grants, owner_id=OWNER) == SwiftAcls(read=".r:*,.rlistings,p2:*,p3:*", write="p3:*")


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"x-amz-acl": "log-delivery-write-everything"}, errors.InvalidArgument),
        ({"x-amz-acl": "private", "x-amz-grant-read": 'id="p2"'}, errors.InvalidArgument),
        ({"x-amz-grant-read": 'emailAddress="a@example.com"'}, errors.UnresolvableGrantByEmailAddress),
        ({"x-amz-grant-write": f'uri="{ALL_USERS}"'}, errors.S3NotImplemented),
        ({"x-amz-grant-read-acp": 'id="p2"'}, errors.S3NotImplemented),
        ({"x-amz-grant-read": 'id="p2:evil"'}, errors.InvalidArgument),
        ({"x-amz-grant-read": 'uri="http://example.com/group"'}, errors.InvalidArgument),
    ],
)
def test_grants_that_cannot_be_kept_are_refused(headers: dict[str, str], error: type[Exception]) -> None:
    with pytest.raises(error):
        swift_acls(grants_of_headers(headers) or (), owner_id=OWNER)


def test_no_acl_headers_mean_no_change() -> None:
    assert grants_of_headers({"content-type": "text/plain"}) is None


expressible = st.lists(
    st.one_of(
        st.just(Grant("READ", group=ALL_USERS)),
        st.builds(Grant, st.sampled_from(["READ", "WRITE"]), group=st.just(AUTHENTICATED_USERS)),
        st.builds(
            Grant,
            st.sampled_from(["READ", "WRITE"]),
            user_id=st.text("abcdef0123456789", min_size=1, max_size=8),
        ),
    ),
    max_size=6,
)


@given(expressible)
def test_what_is_granted_is_what_is_shown(grants: list[Grant]) -> None:
    shown = grants_of(swift_acls(tuple(grants), owner_id=OWNER))
    assert set(shown) == {grant for grant in grants if grant.user_id != OWNER}
    assert swift_acls(shown, owner_id=OWNER).grants_same_as(swift_acls(tuple(grants), owner_id=OWNER))
    assert not SwiftAcls(read="p1:*", write="").grants_same_as(SwiftAcls(read="p1:*", write="p1:*"))


def test_swift_items_s3_cannot_express_are_not_shown() -> None:
    assert grants_of(SwiftAcls(read=".r:.example.com,admin,p2:u7,.rlistings", write="p4:u1")) == ()


def test_our_acl_xml_is_what_botocore_parses() -> None:
    body = access_control_policy_xml(OWNER, (Grant("READ", group=ALL_USERS), Grant("WRITE", user_id="p2")))
    parsed = parse_with_botocore("GetBucketAcl", body)
    assert parsed["Owner"]["ID"] == OWNER
    assert [
        (grant["Grantee"].get("URI") or grant["Grantee"]["ID"], grant["Permission"])
        for grant in parsed["Grants"]
    ] == [  # groups first, then the owner, then users: the order RGW answers and s3-tests expects
        (ALL_USERS, "READ"),
        (OWNER, "FULL_CONTROL"),
        ("p2", "WRITE"),
    ]


def test_botocores_acl_body_parses_as_it_was_meant() -> None:
    policy = {
        "Owner": {"ID": OWNER},
        "Grants": [
            {"Grantee": {"Type": "Group", "URI": AUTHENTICATED_USERS}, "Permission": "READ"},
            {"Grantee": {"Type": "CanonicalUser", "ID": "p9"}, "Permission": "FULL_CONTROL"},
        ],
    }
    grants = parse_access_control_policy(
        serialize_with_botocore("PutBucketAcl", {"Bucket": "b", "AccessControlPolicy": policy})
    )
    assert grants == (Grant("READ", group=AUTHENTICATED_USERS), Grant("FULL_CONTROL", user_id="p9"))


def test_a_grant_by_email_address_names_nobody() -> None:
    policy = {
        "Owner": {"ID": OWNER},
        "Grants": [
            {
                "Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": "a@example.com"},
                "Permission": "READ",
            }
        ],
    }
    body = serialize_with_botocore("PutBucketAcl", {"Bucket": "b", "AccessControlPolicy": policy})
    with pytest.raises(errors.UnresolvableGrantByEmailAddress):
        parse_access_control_policy(body)


@pytest.mark.parametrize(
    "body",
    [b"<AccessControlPolicy><AccessControlList><Grant><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>",
     b"<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>p</ID></Grantee><Permission>ALL</Permission></Grant></AccessControlList></AccessControlPolicy>",
     b"<Other/>"],
)  # fmt: skip
def test_malformed_acl_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(errors.MalformedACLError):
        parse_access_control_policy(body)


def _s3_model():
    return botocore.session.get_session().get_service_model("s3")


def parse_with_botocore(operation: str, body: bytes) -> dict:
    from botocore.parsers import RestXMLParser

    shape = _s3_model().operation_model(operation).output_shape
    return RestXMLParser().parse({"body": body, "headers": {}, "status_code": 200}, shape)


def serialize_with_botocore(operation: str, params: dict) -> bytes:
    from botocore.serialize import RestXMLSerializer

    serialized = RestXMLSerializer().serialize_to_request(params, _s3_model().operation_model(operation))
    return serialized["body"]
