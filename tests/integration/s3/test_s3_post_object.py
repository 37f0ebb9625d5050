"""POST Object over real HTTP: boto3's SigV4 presigned posts and s3-tests' SigV2 forms, policy checks,
success answers, and a file outside content-length-range storing nothing."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import json

import aiohttp
from helpers.cluster import unique
from helpers.s3 import ACCESS_KEY, SECRET_KEY, error_code, s3_client


async def post_form(url: str, fields: dict[str, str], file: bytes, filename: str = "f.txt"):
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", file, filename=filename, content_type="application/octet-stream")
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=form, allow_redirects=False) as answer,
    ):
        return answer.status, answer.headers.copy(), await answer.read()


def v2_form(bucket: str, conditions: list, fields: dict[str, str], expires_s: float = 600) -> dict[str, str]:
    expiration = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=expires_s)
    document = {
        "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "conditions": [{"bucket": bucket}, *conditions],
    }
    policy = base64.b64encode(json.dumps(document).encode()).decode()
    signature = base64.b64encode(
        hmac.new(SECRET_KEY.encode(), policy.encode(), hashlib.sha1).digest()
    ).decode()
    return {**fields, "AWSAccessKeyId": ACCESS_KEY, "policy": policy, "signature": signature}


async def test_presigned_posts_store_files_within_their_policy(s3_endpoint):
    client = s3_client(s3_endpoint)
    bucket = unique("post")
    await asyncio.to_thread(client.create_bucket, Bucket=bucket)
    presigned = await asyncio.to_thread(
        lambda: client.generate_presigned_post(
            bucket,
            "uploads/${filename}",
            Fields={
                "Content-Type": "text/plain",
                "success_action_status": "201",
                "x-amz-meta-colour": "blue",
            },
            Conditions=[
                ["starts-with", "$key", "uploads/"],
                {"Content-Type": "text/plain"},
                {"success_action_status": "201"},
                {"x-amz-meta-colour": "blue"},
                ["content-length-range", 1, 100_000],
            ],
            ExpiresIn=600,
        )
    )
    assert presigned["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    data = b"browser upload " * 1000
    status, headers, body = await post_form(presigned["url"], presigned["fields"], data, filename="a.txt")
    assert status == 201, body
    assert b"<Key>uploads/a.txt</Key>" in body and headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = await asyncio.to_thread(lambda: client.get_object(Bucket=bucket, Key="uploads/a.txt"))
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"colour": "blue"}
    assert await asyncio.to_thread(got["Body"].read) == data

    status, _, body = await post_form(
        presigned["url"], presigned["fields"], b"x" * 100_001, filename="big.txt"
    )
    assert status == 400 and b"EntityTooLarge" in body
    assert (
        await asyncio.to_thread(error_code, lambda: client.head_object(Bucket=bucket, Key="uploads/big.txt"))
        == "404"
    )

    tampered = {**presigned["fields"], "x-amz-meta-colour": "red"}
    status, _, body = await post_form(presigned["url"], tampered, b"y", filename="red.txt")
    assert status == 403 and b"AccessDenied" in body
    extra = {**presigned["fields"], "x-amz-meta-extra": "1"}
    status, _, body = await post_form(presigned["url"], extra, b"y", filename="extra.txt")
    assert status == 403 and b"Extra input fields" in body
    forged = {**presigned["fields"], "x-amz-signature": "0" * 64}
    status, _, _ = await post_form(presigned["url"], forged, b"y", filename="forged.txt")
    assert status == 403


async def test_sigv2_forms_as_s3_tests_send_them(s3_endpoint):
    client = s3_client(s3_endpoint)
    bucket = unique("post")
    await asyncio.to_thread(client.create_bucket, Bucket=bucket)
    url = f"{s3_endpoint}/{bucket}"
    conditions = [
        ["starts-with", "$key", "foo"],
        {"acl": "private"},
        ["starts-with", "$Content-Type", "text/plain"],
    ]
    fields = {"key": "foo.txt", "acl": "private", "Content-Type": "text/plain"}
    status, _, body = await post_form(url, v2_form(bucket, conditions, fields), b"bar")
    assert status == 204, body
    got = await asyncio.to_thread(lambda: client.get_object(Bucket=bucket, Key="foo.txt"))
    assert await asyncio.to_thread(got["Body"].read) == b"bar"

    redirect = "http://example.invalid/done"
    redirected = v2_form(
        bucket,
        [*conditions, ["eq", "$success_action_redirect", redirect]],
        {**fields, "success_action_redirect": redirect},
    )
    status, headers, _ = await post_form(url, redirected, b"bar")
    assert status == 303 and headers["Location"].startswith(
        redirect + "?bucket=" + bucket + "&key=foo.txt&etag="
    )

    expired = v2_form(bucket, conditions, fields, expires_s=-60)
    assert (await post_form(url, expired, b"bar"))[0] == 403
    no_key = v2_form(bucket, conditions[1:], {"acl": "private", "Content-Type": "text/plain"})
    assert (await post_form(url, no_key, b"bar"))[0] == 400
    other_bucket = v2_form("another-bucket", conditions, fields)
    assert (await post_form(url, other_bucket, b"bar"))[0] == 403
    async with aiohttp.ClientSession() as session, session.post(url, data=b"not a form") as answer:
        assert answer.status == 412


async def test_a_checksum_field_is_verified_and_stored_with_the_file(s3_endpoint):
    client = s3_client(s3_endpoint)
    bucket = unique("post")
    await asyncio.to_thread(client.create_bucket, Bucket=bucket)
    url = f"{s3_endpoint}/{bucket}"
    conditions = [["starts-with", "$key", "sum"], ["content-length-range", 0, 5 * 2**20]]
    data = b"x" * 2**21
    right = base64.b64encode(hashlib.sha256(data).digest()).decode()
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()

    form = v2_form(bucket, conditions, {"key": "sum-good", "x-amz-checksum-sha256": right})
    status, headers, body = await post_form(url, form, data)
    assert status == 204, body
    assert headers["x-amz-checksum-sha256"] == right
    head = await asyncio.to_thread(
        lambda: client.head_object(Bucket=bucket, Key="sum-good", ChecksumMode="ENABLED")
    )
    assert head["ChecksumSHA256"] == right

    for key, value in (("sum-wrong", wrong), ("sum-garbage", "sailorjerry")):
        form = v2_form(bucket, conditions, {"key": key, "x-amz-checksum-sha256": value})
        status, _, body = await post_form(url, form, data)
        assert status == 400, body
        missing = await asyncio.to_thread(
            error_code, lambda key=key: client.head_object(Bucket=bucket, Key=key)
        )
        assert missing == "404"
