"""The S3 listener on a real port over a real 3-node cluster, driven by boto3 and plain HTTP.

The credential lookup is a table in the test (identity's EC2 credentials are not
served yet); everything else is the real path: aiohttp on loopback, the cluster
client, real storage nodes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import time
import urllib.error
import urllib.request
import zlib

import aiohttp
import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from dolmen.proxy.s3.sigv4 import SigningContext, signing_key
from helpers.cluster import unique
from helpers.s3 import (
    ACCESS_KEY,
    DOMAIN,
    OTHER_KEY,
    OTHER_SECRET,
    SECRET_KEY,
    error_code,
    put_body,
    put_raw,
    s3_client,
    sign_with_botocore,
    signed_streaming_headers,
    wait_listed,
)


async def test_boto3_writes_reads_and_deletes_objects(s3_endpoint):
    def scenario() -> None:
        client = s3_client(s3_endpoint)
        bucket = unique("bkt")
        client.create_bucket(Bucket=bucket)
        assert error_code(lambda: client.create_bucket(Bucket=bucket)) == "BucketAlreadyOwnedByYou"
        body = b"hello dolmen " * 1000
        put = client.put_object(
            Bucket=bucket, Key="dir/a b+c.txt", Body=body, ContentType="text/plain",
            Metadata={"Color": "blue"}, CacheControl="no-cache",
        )  # fmt: skip
        assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        got = client.get_object(Bucket=bucket, Key="dir/a b+c.txt")
        assert got["Body"].read() == body
        assert got["ContentType"] == "text/plain" and got["Metadata"] == {"color": "blue"}
        assert got["CacheControl"] == "no-cache"
        assert got["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"].startswith("tx")
        ranged = client.get_object(Bucket=bucket, Key="dir/a b+c.txt", Range="bytes=6-11")
        assert ranged["Body"].read() == b"dolmen" and ranged["ContentRange"] == f"bytes 6-11/{len(body)}"
        head = client.head_object(Bucket=bucket, Key="dir/a b+c.txt")
        assert head["ContentLength"] == len(body)
        assert error_code(lambda: client.get_object(Bucket=bucket, Key="dir/a b+c.txt", IfMatch='"nope"')) in (
            "PreconditionFailed", "412"
        )  # fmt: skip
        overridden = client.get_object(Bucket=bucket, Key="dir/a b+c.txt", ResponseContentType="x/y")
        assert overridden["ContentType"] == "x/y"
        copied = client.copy_object(
            Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "dir/a b+c.txt"}
        )
        assert copied["CopyObjectResult"]["ETag"] == put["ETag"]
        assert client.get_object(Bucket=bucket, Key="copy")["Metadata"] == {"color": "blue"}
        client.delete_object(Bucket=bucket, Key="copy")
        assert error_code(lambda: client.get_object(Bucket=bucket, Key="copy")) == "NoSuchKey"
        deleted = client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": "dir/a b+c.txt"}, {"Key": "never-was"}]}
        )
        assert sorted(item["Key"] for item in deleted["Deleted"]) == ["dir/a b+c.txt", "never-was"]
        assert error_code(lambda: client.head_object(Bucket=bucket, Key="dir/a b+c.txt")) == "404"
        assert client.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None

    await asyncio.to_thread(scenario)


async def test_a_wrong_content_md5_stores_nothing(s3_endpoint):
    def scenario() -> None:
        client = s3_client(s3_endpoint)
        bucket = unique("bkt")
        client.create_bucket(Bucket=bucket)
        wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
        assert (
            error_code(lambda: client.put_object(Bucket=bucket, Key="k", Body=b"data", ContentMD5=wrong))
            == "BadDigest"
        )
        assert error_code(lambda: client.head_object(Bucket=bucket, Key="k")) == "404"

    await asyncio.to_thread(scenario)


async def test_another_project_and_anonymous_requests_are_denied(s3_endpoint):
    def scenario() -> None:
        owner, other = s3_client(s3_endpoint), s3_client(s3_endpoint, OTHER_KEY, OTHER_SECRET)
        bucket = unique("bkt")
        owner.create_bucket(Bucket=bucket)
        owner.put_object(Bucket=bucket, Key="secret", Body=b"mine")
        assert error_code(lambda: other.create_bucket(Bucket=bucket)) == "BucketAlreadyExists"
        assert error_code(lambda: other.get_object(Bucket=bucket, Key="secret")) == "AccessDenied"
        assert error_code(lambda: other.put_object(Bucket=bucket, Key="x", Body=b"x")) == "AccessDenied"
        with pytest.raises(urllib.error.HTTPError) as anonymous:
            urllib.request.urlopen(f"{s3_endpoint}/{bucket}/secret")
        assert anonymous.value.code == 403 and b"<Code>AccessDenied</Code>" in anonymous.value.read()
        bad = s3_client(s3_endpoint, ACCESS_KEY, "wrong-secret")
        assert error_code(lambda: bad.get_object(Bucket=bucket, Key="secret")) == "SignatureDoesNotMatch"
        unknown = s3_client(s3_endpoint, "AKIAUNKNOWN", "x")
        assert error_code(lambda: unknown.get_object(Bucket=bucket, Key="secret")) == "InvalidAccessKeyId"

    await asyncio.to_thread(scenario)


async def test_presigned_urls_work_with_plain_http_until_they_expire(s3_endpoint):
    def scenario() -> None:
        client = s3_client(s3_endpoint)
        bucket = unique("bkt")
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="shared", Body=b"presigned body")
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "shared"}, ExpiresIn=60
        )
        with urllib.request.urlopen(url) as answer:
            assert answer.read() == b"presigned body"
        put_url = client.generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=60
        )
        request = urllib.request.Request(put_url, data=b"uploaded", method="PUT")
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 200
        assert client.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded"
        tampered = url.replace("shared", "other")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(tampered)
        assert refused.value.code == 403

    await asyncio.to_thread(scenario)


async def test_virtual_hosted_style_takes_the_bucket_from_the_host(s3_endpoint):
    client = s3_client(s3_endpoint)
    bucket = unique("bkt")
    await asyncio.to_thread(client.create_bucket, Bucket=bucket)
    await asyncio.to_thread(client.put_object, Bucket=bucket, Key="v/key", Body=b"virtual")
    port = s3_endpoint.rsplit(":", 1)[1]
    _, _, headers, _ = sign_with_botocore(
        "GET", f"http://{bucket}.{DOMAIN}:{port}/v/key", {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
        now_s=time.time(),
    )  # fmt: skip
    headers["host"] = f"{bucket}.{DOMAIN}:{port}"  # signed as such; the connection goes to 127.0.0.1
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{s3_endpoint}/v/key", headers=headers) as answer,
    ):
        assert answer.status == 200, await answer.text()
        assert await answer.read() == b"virtual"


async def test_buckets_list_page_and_delete_only_when_empty(s3_endpoint):
    def scenario() -> None:
        client, other = s3_client(s3_endpoint), s3_client(s3_endpoint, OTHER_KEY, OTHER_SECRET)
        bucket, second = unique("bkt"), unique("bkt")
        client.create_bucket(Bucket=bucket)
        client.create_bucket(Bucket=second)
        wait_listed(client, {bucket, second})
        assert bucket not in {entry["Name"] for entry in other.list_buckets()["Buckets"]}
        keys = ["a/1", "a/2", "b/1", "c", "d e+f", "z/deep/x"]
        for key in keys:
            client.put_object(Bucket=bucket, Key=key, Body=key.encode())
        listed = [
            item["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, PaginationConfig={"PageSize": 2}
            )
            for item in page.get("Contents", [])
        ]
        assert listed == sorted(keys)
        v1 = [
            item["Key"]
            for page in client.get_paginator("list_objects").paginate(
                Bucket=bucket, PaginationConfig={"PageSize": 4}
            )
            for item in page.get("Contents", [])
        ]
        assert v1 == sorted(keys)
        rolled = client.list_objects_v2(Bucket=bucket, Delimiter="/")
        assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/", "b/", "z/"]
        assert [item["Key"] for item in rolled["Contents"]] == ["c", "d e+f"]
        assert client.list_objects_v2(Bucket=bucket, Prefix="a/")["KeyCount"] == 2
        owned = client.list_objects_v2(Bucket=bucket, FetchOwner=True, MaxKeys=1)["Contents"][0]["Owner"]
        assert owned["ID"] == "p1"
        assert error_code(lambda: client.delete_bucket(Bucket=bucket)) == "BucketNotEmpty"
        client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
        )
        client.delete_bucket(Bucket=bucket)
        assert error_code(lambda: client.head_bucket(Bucket=bucket)) == "404"
        other.create_bucket(Bucket=bucket)  # the name is free again
        assert error_code(lambda: client.list_objects_v2(Bucket=bucket)) == "AccessDenied"

    await asyncio.to_thread(scenario)


async def test_a_body_that_is_not_the_signed_sha256_is_refused_and_not_stored(s3_endpoint):
    client = s3_client(s3_endpoint)
    bucket = unique("bkt")
    await asyncio.to_thread(client.create_bucket, Bucket=bucket)
    port = s3_endpoint.rsplit(":", 1)[1]
    signed_body, sent_body = b"A" * 24, b"B" * 24  # same length: only the content differs
    _, _, headers, _ = sign_with_botocore(
        "PUT", f"http://127.0.0.1:{port}/{bucket}/k", {}, body=signed_body, now_s=time.time()
    )
    assert headers["x-amz-content-sha256"] == hashlib.sha256(signed_body).hexdigest()
    url = f"{s3_endpoint}/{bucket}/k"
    async with (
        aiohttp.ClientSession() as session,
        session.put(url, headers=headers, data=sent_body) as answer,
    ):
        assert answer.status == 400
        assert b"<Code>XAmzContentSHA256Mismatch</Code>" in await answer.read()
    stored = await asyncio.to_thread(error_code, lambda: client.head_object(Bucket=bucket, Key="k"))
    assert stored == "404"


async def test_aws_chunked_bodies_with_a_trailing_checksum_are_stored_decoded(s3_endpoint):
    client = s3_client(s3_endpoint)
    bucket = unique("bkt")
    await asyncio.to_thread(client.create_bucket, Bucket=bucket)
    data = bytes(range(256)) * 1000
    wrapped = AwsChunkedWrapper(
        io.BytesIO(data), checksum_cls=Crc32Checksum, checksum_name="x-amz-checksum-crc32", chunk_size=65536
    ).read()
    sign_headers = {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-decoded-content-length": str(len(data)),
        "content-encoding": "aws-chunked",
    }
    status, headers, _ = await put_raw(s3_endpoint, f"/{bucket}/chunked", sign_headers, wrapped)
    assert status == 200, headers
    assert headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert headers["x-amz-checksum-crc32"] == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    got = await asyncio.to_thread(lambda: client.get_object(Bucket=bucket, Key="chunked"))
    assert "ContentEncoding" not in got
    assert await asyncio.to_thread(got["Body"].read) == data
    corrupt = wrapped.replace(b"x-amz-checksum-crc32:", b"x-amz-checksum-crc32:AAAA")[: len(wrapped)]
    status, _, body = await put_raw(s3_endpoint, f"/{bucket}/bad", sign_headers, corrupt)
    assert status == 400, body
    assert await asyncio.to_thread(error_code, lambda: client.head_object(Bucket=bucket, Key="bad")) == "404"


async def test_signed_chunks_are_verified_and_a_wrong_one_stores_nothing(s3_endpoint):
    client = s3_client(s3_endpoint)
    bucket = unique("bkt")
    await asyncio.to_thread(client.create_bucket, Bucket=bucket)
    data = b"signed chunk data " * 5000
    sign_headers = {
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "x-amz-decoded-content-length": str(len(data)),
        "content-encoding": "aws-chunked",
    }
    for key, tamper in (("good", False), ("tampered", True)):
        headers = signed_streaming_headers(s3_endpoint, f"/{bucket}/{key}", sign_headers)
        seed = headers["authorization"].rsplit("Signature=", 1)[1]
        scope = headers["authorization"].split("Credential=")[1].split(",")[0].split("/", 1)[1]
        context = SigningContext(
            key=signing_key(SECRET_KEY, scope[:8], "us-east-1", "s3"),
            amz_date=headers["x-amz-date"],
            scope=scope,
            seed_signature=seed,
        )
        body, previous = b"", seed
        for piece in [data[i : i + 8192] for i in range(0, len(data), 8192)] + [b""]:
            previous = context.chunk_signature(previous, hashlib.sha256(piece).hexdigest())
            sent = piece.replace(b"d", b"D", 1) if tamper and piece else piece
            body += b"%x;chunk-signature=%s\r\n%s\r\n" % (len(piece), previous.encode(), sent)
        status, _, answer = await put_body(s3_endpoint, f"/{bucket}/{key}", headers, body)
        assert status == (403 if tamper else 200), answer
        assert (b"SignatureDoesNotMatch" in answer) == tamper
    got = await asyncio.to_thread(lambda: client.get_object(Bucket=bucket, Key="good")["Body"].read())
    assert got == data
    assert (
        await asyncio.to_thread(error_code, lambda: client.head_object(Bucket=bucket, Key="tampered"))
        == "404"
    )


async def test_list_buckets_pages_by_max_buckets_and_filters_by_prefix(s3_endpoint):
    client = s3_client(s3_endpoint)
    prefix = unique("lbp")
    names = [f"{prefix}-{index}" for index in range(3)]

    def scenario() -> None:
        for name in names:
            client.create_bucket(Bucket=name)
        wait_listed(client, set(names))
        seen, token = [], None
        while True:
            asked = {"MaxBuckets": 2, "Prefix": prefix} | ({"ContinuationToken": token} if token else {})
            answer = client.list_buckets(**asked)
            assert len(answer["Buckets"]) <= 2 and answer["Prefix"] == prefix
            seen += [bucket["Name"] for bucket in answer["Buckets"]]
            token = answer.get("ContinuationToken")
            if token is None:
                break
        assert seen == names
        assert all(bucket["BucketRegion"] == "us-east-1" for bucket in client.list_buckets()["Buckets"])
        assert error_code(lambda: client.list_buckets(ContinuationToken="forged")) == "InvalidArgument"

    await asyncio.to_thread(scenario)


async def test_a_plain_chunked_body_is_stored_whole(s3_endpoint):
    client = s3_client(s3_endpoint)
    bucket = unique("chunked")

    def chunked(request, **kwargs) -> None:
        request.headers.add_header("Transfer-Encoding", "chunked")

    def scenario() -> None:
        client.create_bucket(Bucket=bucket)
        client.meta.events.register_first("before-sign.s3.PutObject", chunked)
        body = b"chunked body " * 10_000
        etag = client.put_object(Bucket=bucket, Key="k", Body=body)["ETag"]
        client.meta.events.unregister("before-sign.s3.PutObject", chunked)
        stored = client.get_object(Bucket=bucket, Key="k")
        assert stored["Body"].read() == body and stored["ETag"] == etag
        assert stored["ContentLength"] == len(body)

    await asyncio.to_thread(scenario)


async def test_presigned_urls_out_of_their_time_and_preflights_get_s3s_answers(s3_endpoint):
    def status_and_code(
        url: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method=method, headers=headers or {})):
                return 200, ""
        except urllib.error.HTTPError as refused:
            body = refused.read().decode()
            return refused.code, body.split("<Code>")[1].split("</Code>")[0] if "<Code>" in body else ""

    def scenario() -> None:
        client = s3_client(s3_endpoint)
        bucket = unique("bkt")
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="k", Body=b"x")
        params = {"Bucket": bucket, "Key": "k"}
        object_url = f"{s3_endpoint}/{bucket}/k"

        def presigned(expires_s: int) -> str:  # botocore's own signer: the CRT one refuses these
            return sign_with_botocore("GET", object_url, now_s=time.time(), presign_expires_s=expires_s)[1]

        assert status_and_code(presigned(0)) == (403, "AccessDenied")  # valid, and over at once
        assert status_and_code(presigned(-7)) == (403, "AccessDenied")  # never valid
        assert status_and_code(presigned(7 * 86_400 + 1)) == (403, "AccessDenied")
        url = client.generate_presigned_url("get_object", Params=params, ExpiresIn=60)
        assert status_and_code(url, "OPTIONS") == (400, "BadRequest")
        preflight = {"Origin": "https://example.com", "Access-Control-Request-Method": "GET"}
        assert status_and_code(url, "OPTIONS", preflight) == (403, "AccessForbidden")

    await asyncio.to_thread(scenario)


async def test_latin1_metadata_is_stored_as_text_not_refused(s3_endpoint):
    """botocore sends header text as Latin-1 bytes; the value is read as Latin-1, stored, and
    answered in UTF-8 (aiohttp writes headers so), never refused with a 5xx."""

    def scenario() -> None:
        client = s3_client(s3_endpoint)
        bucket = unique("meta")
        client.create_bucket(Bucket=bucket)

        def latin1_header(params, **_):
            params["headers"]["x-amz-meta-greet"] = "Hello\xe9"
            params["headers"]["Content-Disposition"] = 'attachment; filename="r\xe9sum\xe9.pdf"'

        client.meta.events.register("before-call.s3.PutObject", latin1_header)
        client.put_object(Bucket=bucket, Key="k", Body=b"x")
        answer = s3_client(s3_endpoint).head_object(Bucket=bucket, Key="k")
        raw = answer["ResponseMetadata"]["HTTPHeaders"]  # http.client decodes bytes as Latin-1
        assert raw["x-amz-meta-greet"].encode("latin-1").decode("utf-8") == "Helloé"
        assert (
            raw["content-disposition"].encode("latin-1").decode("utf-8")
            == 'attachment; filename="résumé.pdf"'
        )

    await asyncio.to_thread(scenario)
