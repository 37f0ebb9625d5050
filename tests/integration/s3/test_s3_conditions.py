"""S3's conditional requests that s3-tests checks: conditional writes, copy-source conditions,
and a range on an empty object, through boto3 against the real cluster."""

from __future__ import annotations

import asyncio
import socket
import time

from helpers.cluster import unique
from helpers.s3 import error_code, s3_client, sign_with_botocore


async def test_conditional_writes_judge_the_current_object(s3_endpoint):
    client = s3_client(s3_endpoint)
    bucket = unique("cond")

    def scenario() -> None:
        client.create_bucket(Bucket=bucket)
        etag = client.put_object(Bucket=bucket, Key="k", Body=b"one", IfNoneMatch="*")["ETag"]
        assert error_code(lambda: client.put_object(Bucket=bucket, Key="k", Body=b"x", IfNoneMatch="*")) == (
            "PreconditionFailed"
        )
        assert error_code(lambda: client.put_object(Bucket=bucket, Key="k", Body=b"x", IfNoneMatch=etag)) == (
            "PreconditionFailed"
        )
        assert error_code(
            lambda: client.put_object(Bucket=bucket, Key="k", Body=b"x", IfMatch='"0ff1ce"')
        ) == ("PreconditionFailed")
        assert (
            client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
        )  # nothing refused was stored
        client.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch=etag)
        client.put_object(Bucket=bucket, Key="k", Body=b"three", IfNoneMatch='"0ff1ce"')
        assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"three"
        assert (
            error_code(lambda: client.put_object(Bucket=bucket, Key="none", Body=b"x", IfMatch="*"))
            == "NoSuchKey"
        )

    await asyncio.to_thread(scenario)


async def test_a_copy_whose_source_condition_fails_is_refused_not_unmodified(s3_endpoint):
    client = s3_client(s3_endpoint)
    bucket = unique("cond")

    def scenario() -> None:
        client.create_bucket(Bucket=bucket)
        etag = client.put_object(Bucket=bucket, Key="source", Body=b"data")["ETag"]
        source = {"Bucket": bucket, "Key": "source"}

        def copy(**condition: str) -> None:
            client.copy_object(Bucket=bucket, Key="copy", CopySource=source, **condition)

        assert error_code(lambda: copy(CopySourceIfNoneMatch=etag)) == "PreconditionFailed"
        assert error_code(lambda: copy(CopySourceIfMatch='"0ff1ce"')) == "PreconditionFailed"
        client.copy_object(Bucket=bucket, Key="copy", CopySource=source, CopySourceIfMatch=etag)
        assert client.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"data"

    await asyncio.to_thread(scenario)


async def test_a_range_of_an_empty_object_is_not_satisfiable(s3_endpoint):
    client = s3_client(s3_endpoint)
    bucket = unique("cond")

    def scenario() -> None:
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="empty", Body=b"")
        assert error_code(lambda: client.get_object(Bucket=bucket, Key="empty", Range="bytes=40-50")) == (
            "InvalidRange"
        )
        assert client.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""

    await asyncio.to_thread(scenario)


async def test_an_unknown_expectation_is_ignored_and_100_continue_still_works(s3_endpoint):
    bucket = unique("cond")

    def scenario() -> None:
        s3_client(s3_endpoint).create_bucket(Bucket=bucket)
        for value in ("200", "100-continue"):
            client = s3_client(s3_endpoint)

            def add(params, value=value, **_):
                params["headers"]["Expect"] = value

            client.meta.events.register_first("before-call.s3.PutObject", add)
            client.put_object(Bucket=bucket, Key=value, Body=value.encode())
            assert client.get_object(Bucket=bucket, Key=value)["Body"].read() == value.encode()

    await asyncio.to_thread(scenario)


async def test_100_continue_is_answered_once_the_request_is_signed(s3_endpoint):
    """An anonymous PUT (never stored) is refused before its body is asked for; a signed one
    hears 100 Continue, then sends its body."""
    bucket = unique("cond")
    port = int(s3_endpoint.rsplit(":", 1)[1])

    def exchange(headers: dict[str, str]) -> tuple[bytes, bytes]:
        """The first answer to a PUT's head, and what comes after its body is sent."""
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(f"PUT /{bucket}/k HTTP/1.1\r\n{head}\r\n".encode())
            first = connection.recv(65536)
            connection.sendall(b"bar")
            later = connection.recv(65536) if first.startswith(b"HTTP/1.1 100 ") else b""
        return first, later

    def scenario() -> None:
        s3_client(s3_endpoint).create_bucket(Bucket=bucket)
        plain = {"Host": f"127.0.0.1:{port}", "Content-Length": "3", "Expect": "100-continue"}
        first, _ = exchange(plain)
        assert first.startswith(b"HTTP/1.1 403 ") and b"<Code>AccessDenied</Code>" in first
        _, _, signed, _ = sign_with_botocore(
            "PUT",
            f"http://127.0.0.1:{port}/{bucket}/k",
            {"x-amz-content-sha256": "UNSIGNED-PAYLOAD", **plain},
            b"bar",
            now_s=time.time(),
        )
        first, later = exchange(signed)
        assert first == b"HTTP/1.1 100 Continue\r\n\r\n" and later.startswith(b"HTTP/1.1 200 "), (
            first,
            later,
        )
        assert s3_client(s3_endpoint).get_object(Bucket=bucket, Key="k")["Body"].read() == b"bar"

    await asyncio.to_thread(scenario)


async def test_conditional_completes_of_multipart_uploads_judge_the_current_object(s3_endpoint):
    client = s3_client(s3_endpoint)
    bucket = unique("cond")

    def complete(data: bytes, **condition: str) -> dict:
        upload_id = client.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
        part = client.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=data)
        parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
        return client.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload=parts, **condition
        )

    def scenario() -> None:
        client.create_bucket(Bucket=bucket)
        assert error_code(lambda: complete(b"x", IfMatch="*")) == "NoSuchKey"
        etag = complete(b"one", IfNoneMatch="*")["ETag"]
        assert error_code(lambda: complete(b"x", IfNoneMatch="*")) == "PreconditionFailed"
        assert error_code(lambda: complete(b"x", IfNoneMatch=etag)) == "PreconditionFailed"
        assert error_code(lambda: complete(b"x", IfMatch='"0ff1ce-1"')) == "PreconditionFailed"
        assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"  # nothing refused landed
        etag = complete(b"two", IfMatch=etag)["ETag"]
        complete(b"three", IfMatch="*")
        assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"three"

    await asyncio.to_thread(scenario)
