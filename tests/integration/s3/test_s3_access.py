"""Who may do what through S3: roles, ACLs, public buckets, and Swift containers as buckets.

The same rules as the Swift API (one Authoriser), on a real cluster: boto3 and
plain HTTP against the S3 listener, the cluster client for what the Swift API
would have done.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from dolmen.proxy.s3.acl import ALL_USERS
from dolmen.proxy.s3.buckets import BucketRegistry
from helpers.cluster import unique
from helpers.s3 import OTHER_KEY, OTHER_SECRET, READER_KEY, READER_SECRET
from integration.s3.test_s3_objects import error_code, s3_client


def anonymous_status(url: str, method: str = "GET") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method)) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


async def test_a_reader_reads_but_never_writes(s3_endpoint):
    def scenario() -> None:
        owner, reader = s3_client(s3_endpoint), s3_client(s3_endpoint, READER_KEY, READER_SECRET)
        bucket = unique("roles")
        owner.create_bucket(Bucket=bucket)
        owner.put_object(Bucket=bucket, Key="doc", Body=b"for readers")
        assert reader.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"for readers"
        assert [item["Key"] for item in reader.list_objects_v2(Bucket=bucket)["Contents"]] == ["doc"]
        assert error_code(lambda: reader.put_object(Bucket=bucket, Key="x", Body=b"x")) == "AccessDenied"
        assert error_code(lambda: reader.delete_object(Bucket=bucket, Key="doc")) == "AccessDenied"
        assert error_code(lambda: reader.create_bucket(Bucket=unique("nope"))) == "AccessDenied"
        assert error_code(lambda: reader.put_bucket_acl(Bucket=bucket, ACL="public-read")) == "AccessDenied"
        result = reader.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "doc"}]})
        assert [error["Code"] for error in result["Errors"]] == ["AccessDenied"]
        assert owner.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"for readers"

    await asyncio.to_thread(scenario)


async def test_a_public_read_bucket_serves_anonymous_reads_only(s3_endpoint):
    def scenario() -> None:
        owner = s3_client(s3_endpoint)
        public, private = unique("pub"), unique("priv")
        owner.create_bucket(Bucket=public, ACL="public-read")
        owner.create_bucket(Bucket=private)
        for bucket in (public, private):
            owner.put_object(Bucket=bucket, Key="page.html", Body=b"<p>hello</p>")
        assert anonymous_status(f"{s3_endpoint}/{public}/page.html") == (200, b"<p>hello</p>")
        assert anonymous_status(f"{s3_endpoint}/{public}/page.html", "HEAD")[0] == 200
        status, listing = anonymous_status(f"{s3_endpoint}/{public}?list-type=2")
        assert status == 200 and b"<Key>page.html</Key>" in listing
        status, body = anonymous_status(f"{s3_endpoint}/{private}/page.html")
        assert status == 403 and b"<Code>AccessDenied</Code>" in body
        status, body = anonymous_status(f"{s3_endpoint}/{public}/page.html", "DELETE")
        assert status == 403
        assert anonymous_status(f"{s3_endpoint}/{public}?acl")[0] == 403  # only the owner reads ACLs
        grants = owner.get_bucket_acl(Bucket=public)["Grants"]
        assert {(grant["Grantee"].get("URI"), grant["Permission"]) for grant in grants} == {
            (None, "FULL_CONTROL"),
            (ALL_USERS, "READ"),
        }
        owner.put_bucket_acl(Bucket=public, ACL="private")  # takes effect at once on this proxy
        assert anonymous_status(f"{s3_endpoint}/{public}/page.html")[0] == 403

    await asyncio.to_thread(scenario)


async def test_a_grant_to_another_project_lets_its_users_in_as_far_as_granted(s3_endpoint):
    def scenario() -> None:
        owner, other = s3_client(s3_endpoint), s3_client(s3_endpoint, OTHER_KEY, OTHER_SECRET)
        bucket = unique("shared")
        owner.create_bucket(Bucket=bucket)
        owner.put_object(Bucket=bucket, Key="report", Body=b"numbers")
        assert error_code(lambda: other.get_object(Bucket=bucket, Key="report")) == "AccessDenied"
        owner.put_bucket_acl(
            Bucket=bucket,
            AccessControlPolicy={
                "Owner": {"ID": "p1"},
                "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "p2"}, "Permission": "READ"}],
            },
        )
        assert other.get_object(Bucket=bucket, Key="report")["Body"].read() == b"numbers"
        assert error_code(lambda: other.put_object(Bucket=bucket, Key="x", Body=b"x")) == "AccessDenied"
        assert error_code(lambda: other.get_bucket_acl(Bucket=bucket)) == "AccessDenied"
        owner.put_bucket_acl(Bucket=bucket, GrantFullControl='id="p2"')
        other.put_object(Bucket=bucket, Key="reply", Body=b"thanks")
        assert owner.get_object(Bucket=bucket, Key="reply")["Body"].read() == b"thanks"
        listed = other.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"]
        assert {item["Owner"]["ID"] for item in listed} == {"p1"}  # the bucket owner's, not the reader's

    await asyncio.to_thread(scenario)


async def test_object_acls_follow_their_bucket(s3_endpoint):
    def scenario() -> None:
        owner = s3_client(s3_endpoint)
        bucket = unique("objacl")
        owner.create_bucket(Bucket=bucket, ACL="public-read")
        owner.put_object(Bucket=bucket, Key="k", Body=b"v", ACL="public-read")
        assert {grant["Permission"] for grant in owner.get_object_acl(Bucket=bucket, Key="k")["Grants"]} == {
            "FULL_CONTROL",
            "READ",
        }
        assert error_code(lambda: owner.put_object(Bucket=bucket, Key="p", Body=b"v", ACL="private")) == (
            "NotImplemented"
        )
        assert error_code(lambda: owner.head_object(Bucket=bucket, Key="p")) == "404"  # nothing stored
        assert error_code(lambda: owner.get_object_acl(Bucket=bucket, Key="missing")) == "NoSuchKey"

    await asyncio.to_thread(scenario)


async def test_a_container_made_without_s3_becomes_its_owners_bucket(s3_endpoint, cluster_client):
    name = unique("swiftmade")
    await cluster_client.put_container("AUTH_p1", name)  # as the Swift API stores it, with no claim

    def scenario() -> None:
        owner, other = s3_client(s3_endpoint), s3_client(s3_endpoint, OTHER_KEY, OTHER_SECRET)
        assert error_code(lambda: other.head_bucket(Bucket=name)) == "404"  # p2 has no such container
        owner.head_bucket(Bucket=name)  # the owner's first S3 request claims it
        owner.put_object(Bucket=name, Key="k", Body=b"through s3")
        assert error_code(lambda: other.create_bucket(Bucket=name)) == "BucketAlreadyExists"

    await asyncio.to_thread(scenario)
    claim = await BucketRegistry(cluster_client).lookup(name)
    assert claim is not None and claim.account == "AUTH_p1"


async def test_bucket_acls_are_the_containers_swift_acls(s3_endpoint, cluster_client):
    bucket = unique("bothapis")

    def scenario() -> None:
        s3_client(s3_endpoint).create_bucket(Bucket=bucket, ACL="public-read")

    await asyncio.to_thread(scenario)
    info = await cluster_client.head_container("AUTH_p1", bucket)
    assert set(info.metadata["dolmen-sys-read"].split(",")) == {".r:*", ".rlistings"}
    assert json.dumps(info.metadata)  # the ACL is ordinary container metadata the Swift API shows


@pytest.mark.parametrize("acl", ["public-read", "authenticated-read"])
async def test_other_projects_read_what_a_canned_acl_opens(s3_endpoint, acl):
    def scenario() -> None:
        owner, other = s3_client(s3_endpoint), s3_client(s3_endpoint, OTHER_KEY, OTHER_SECRET)
        bucket = unique("canned")
        owner.create_bucket(Bucket=bucket, ACL=acl)
        owner.put_object(Bucket=bucket, Key="k", Body=b"open")
        assert other.get_object(Bucket=bucket, Key="k")["Body"].read() == b"open"
        assert error_code(lambda: other.put_object(Bucket=bucket, Key="x", Body=b"x")) == "AccessDenied"

    await asyncio.to_thread(scenario)


async def test_uploads_list_the_project_that_started_each_one(s3_endpoint):
    def scenario() -> None:
        owner, other = s3_client(s3_endpoint), s3_client(s3_endpoint, OTHER_KEY, OTHER_SECRET)
        bucket = unique("uploads")
        owner.create_bucket(Bucket=bucket)
        owner.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
        mine = owner.create_multipart_upload(Bucket=bucket, Key="a")["UploadId"]
        theirs = other.create_multipart_upload(Bucket=bucket, Key="b")["UploadId"]
        listed = owner.list_multipart_uploads(Bucket=bucket)["Uploads"]
        assert [(u["UploadId"], u["Initiator"]["ID"], u["Owner"]["ID"]) for u in listed] == [
            (mine, "p1", "p1"),
            (theirs, "p2", "p2"),
        ]
        parts = owner.list_parts(Bucket=bucket, Key="b", UploadId=theirs)
        assert (parts["Initiator"]["ID"], parts["Owner"]["ID"]) == ("p2", "p2")

    await asyncio.to_thread(scenario)


async def test_an_expected_bucket_owner_other_than_the_owner_is_refused(s3_endpoint):
    def scenario() -> None:
        owner, other = s3_client(s3_endpoint), s3_client(s3_endpoint, OTHER_KEY, OTHER_SECRET)
        bucket, others = unique("expected"), unique("others")
        owner.create_bucket(Bucket=bucket, ACL="public-read")
        other.create_bucket(Bucket=others)
        owner_id = owner.list_buckets()["Owner"]["ID"]
        other_id = other.list_buckets()["Owner"]["ID"]
        owner.put_object(Bucket=bucket, Key="doc", Body=b"mine", ExpectedBucketOwner=owner_id)
        assert (
            owner.get_object(Bucket=bucket, Key="doc", ExpectedBucketOwner=owner_id)["Body"].read() == b"mine"
        )
        for call in (
            lambda: owner.put_object(Bucket=bucket, Key="doc", Body=b"x", ExpectedBucketOwner=other_id),
            lambda: owner.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=owner_id + "x"),
            lambda: other.get_object(Bucket=bucket, Key="doc", ExpectedBucketOwner=other_id),
            lambda: owner.copy_object(
                Bucket=bucket,
                Key="copy",
                CopySource={"Bucket": bucket, "Key": "doc"},
                ExpectedSourceBucketOwner=other_id,
            ),
        ):
            assert error_code(call) == "AccessDenied"
        assert (
            other.get_object(Bucket=bucket, Key="doc", ExpectedBucketOwner=owner_id)["Body"].read() == b"mine"
        )
        owner.copy_object(
            Bucket=bucket,
            Key="copy",
            CopySource={"Bucket": bucket, "Key": "doc"},
            ExpectedSourceBucketOwner=owner_id,
        )
        assert owner.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"mine"
        assert (
            error_code(lambda: owner.head_bucket(Bucket=unique("none"), ExpectedBucketOwner=owner_id))
            == "404"
        )

    await asyncio.to_thread(scenario)
