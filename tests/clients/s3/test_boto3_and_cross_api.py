"""boto3 with the values of s3.env, and objects crossing between the S3 and Swift APIs."""

from __future__ import annotations

import hashlib
import os
import uuid

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError


def test_s3_env_points_at_the_s3_port(up_cluster, s3_env):
    assert s3_env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{up_cluster.port + 2}"
    assert s3_env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert oct((up_cluster.data_dir / "s3.env").stat().st_mode & 0o777) == "0o600"


def test_boto3_puts_gets_lists_and_deletes(s3, bucket):
    body = os.urandom(300_000)
    s3.put_object(Bucket=bucket, Key="dir/a.bin", Body=body, Metadata={"color": "blue"})
    s3.put_object(Bucket=bucket, Key="dir/b.txt", Body=b"b")
    s3.put_object(Bucket=bucket, Key="top", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="dir/a.bin")
    assert got["Body"].read() == body
    assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert got["Metadata"] == {"color": "blue"}
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="dir/")
    assert [entry["Key"] for entry in listing["Contents"]] == ["dir/a.bin", "dir/b.txt"]
    assert [entry["Size"] for entry in listing["Contents"]] == [len(body), 1]
    rolled = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [entry["Prefix"] for entry in rolled["CommonPrefixes"]] == ["dir/"]
    assert [entry["Key"] for entry in rolled["Contents"]] == ["top"]
    s3.delete_object(Bucket=bucket, Key="dir/a.bin")
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="dir/a.bin")
    assert caught.value.response["Error"]["Code"] == "NoSuchKey"


def test_an_object_written_with_s3_is_read_with_swift_and_the_reverse(up_cluster, s3, bucket):
    swift = up_cluster.connection(up_cluster.admin)
    s3.put_object(
        Bucket=bucket, Key="from-s3", Body=b"written by boto3", Metadata={"origin": "s3"},
        CacheControl="max-age=60", ContentLanguage="fr", ContentDisposition="inline",
    )  # fmt: skip
    headers, body = swift.get_object(bucket, "from-s3")
    assert body == b"written by boto3"
    assert headers["x-object-meta-origin"] == "s3"
    assert (headers["cache-control"], headers["content-language"], headers["content-disposition"]) == (
        "max-age=60",
        "fr",
        "inline",
    )
    swift.put_object(
        bucket, "from-swift", b"written by swiftclient",
        headers={"X-Object-Meta-Origin": "swift", "Cache-Control": "no-cache", "Expires": "Thu, 01 Dec 2044 16:00:00 GMT"},
    )  # fmt: skip
    got = s3.get_object(Bucket=bucket, Key="from-swift")
    assert got["Body"].read() == b"written by swiftclient"
    assert got["Metadata"] == {"origin": "swift"}
    assert (got["CacheControl"], got["ResponseMetadata"]["HTTPHeaders"]["expires"]) == (
        "no-cache",
        "Thu, 01 Dec 2044 16:00:00 GMT",
    )


def test_a_swift_container_claims_its_bucket_name_and_its_delete_releases_it(s3, member_connection):
    name = f"s3c-{uuid.uuid4().hex[:10]}"
    member_connection.put_container(name)  # another project's container, made through Swift only
    with pytest.raises(ClientError) as taken:
        s3.create_bucket(Bucket=name)
    assert taken.value.response["Error"]["Code"] == "BucketAlreadyExists"
    member_connection.delete_container(name)
    s3.create_bucket(Bucket=name)  # the name is free again
    s3.delete_bucket(Bucket=name)


def test_a_bucket_deleted_elsewhere_is_no_such_bucket_at_once(up_cluster, s3):
    """Deleted through the Swift API, while this proxy worker remembers the bucket's claim: a
    missing key, and an anonymous request it would have denied, are both NoSuchBucket."""
    anonymous = boto3.client(
        "s3",
        endpoint_url=s3.meta.endpoint_url,
        region_name=s3.meta.region_name,
        config=Config(
            signature_version=UNSIGNED, s3={"addressing_style": "path"}, retries={"max_attempts": 1}
        ),
    )
    swift = up_cluster.connection(up_cluster.admin)
    for probe in (
        lambda name: s3.get_object(Bucket=name, Key="k"),  # NoSuchKey from a stale claim before
        lambda name: anonymous.delete_object(Bucket=name, Key="k"),  # AccessDenied before
    ):
        name = f"s3c-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="k", Body=b"x")
        s3.get_object(Bucket=name, Key="k")  # the claim is now remembered by this worker
        swift.delete_object(name, "k")
        swift.delete_container(name)
        with pytest.raises(ClientError) as missing:
            probe(name)
        assert missing.value.response["Error"]["Code"] == "NoSuchBucket"
