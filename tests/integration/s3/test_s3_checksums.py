"""S3's flexible checksums over real HTTP and a real cluster: every algorithm, in a header and in an
aws-chunked trailer; a wrong one stores nothing; the stored one comes back with checksum mode."""

from __future__ import annotations

import asyncio
import io

import botocore.exceptions
import pytest
from botocore.httpchecksum import (
    AwsChunkedWrapper,
    Crc32Checksum,
    CrtCrc32cChecksum,
    CrtCrc64NvmeChecksum,
    Sha1Checksum,
    Sha256Checksum,
)
from dolmen.proxy.s3.checksums import b64
from helpers.cluster import unique
from helpers.s3 import error_code, put_body, put_raw, s3_client, signed_streaming_headers

BOTOCORE_CHECKSUMS = {
    "crc32": Crc32Checksum,
    "crc32c": CrtCrc32cChecksum,
    "crc64nvme": CrtCrc64NvmeChecksum,
    "sha1": Sha1Checksum,
    "sha256": Sha256Checksum,
}
DATA = bytes(range(256)) * 700


def reference(algorithm: str, data: bytes) -> str:
    checksum = BOTOCORE_CHECKSUMS[algorithm]()
    checksum.update(data)
    return b64(checksum.digest())


@pytest.mark.parametrize("algorithm", sorted(BOTOCORE_CHECKSUMS))
async def test_each_checksum_is_verified_in_a_header_and_a_trailer_and_returned(s3_endpoint, algorithm):
    client = s3_client(s3_endpoint)
    bucket = unique("ck")
    await asyncio.to_thread(client.create_bucket, Bucket=bucket)
    expected = reference(algorithm, DATA)
    header = f"x-amz-checksum-{algorithm}"
    member = "Checksum" + algorithm.upper()

    # Header form, as boto3 sends a checksum value it was given.
    put = await asyncio.to_thread(
        lambda: client.put_object(Bucket=bucket, Key="header", Body=DATA, **{member: expected})
    )
    assert put[member] == expected
    wrong = reference(algorithm, DATA + b"!")
    assert (
        await asyncio.to_thread(
            error_code,
            lambda: client.put_object(Bucket=bucket, Key="bad-header", Body=DATA, **{member: wrong}),
        )
        == "BadDigest"
    )

    # Trailer form: an unsigned aws-chunked body with the checksum after the last chunk.
    wrapped = AwsChunkedWrapper(
        io.BytesIO(DATA), checksum_cls=BOTOCORE_CHECKSUMS[algorithm], checksum_name=header, chunk_size=65536
    ).read()
    sign_headers = {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-trailer": header,
        "x-amz-sdk-checksum-algorithm": algorithm.upper(),
        "x-amz-decoded-content-length": str(len(DATA)),
        "content-encoding": "aws-chunked",
    }
    status, answer, body = await put_raw(s3_endpoint, f"/{bucket}/trailer", sign_headers, wrapped)
    assert status == 200 and answer[header] == expected, body
    corrupt = wrapped[: wrapped.index(f"{header}:".encode())] + f"{header}:{wrong}\r\n\r\n".encode()
    status, _, body = await put_raw(s3_endpoint, f"/{bucket}/bad-trailer", sign_headers, corrupt)
    assert status == 400 and b"BadDigest" in body, body

    for key in ("header", "trailer"):
        head = await asyncio.to_thread(
            lambda key=key: client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        )
        assert head[member] == expected and head["ChecksumType"] == "FULL_OBJECT"
        got = await asyncio.to_thread(
            lambda key=key: client.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        )
        assert got[member] == expected and await asyncio.to_thread(got["Body"].read) == DATA
        with pytest.raises(botocore.exceptions.ClientError) as unchanged:
            await asyncio.to_thread(
                lambda key=key, etag=got["ETag"]: client.get_object(Bucket=bucket, Key=key, IfNoneMatch=etag)
            )
        assert unchanged.value.response["ResponseMetadata"]["HTTPHeaders"]["etag"] == got["ETag"]
        plain = await asyncio.to_thread(lambda key=key: client.head_object(Bucket=bucket, Key=key))
        assert member not in plain  # only asked for
        attributes = await asyncio.to_thread(
            lambda key=key: client.get_object_attributes(
                Bucket=bucket, Key=key, ObjectAttributes=["Checksum", "ObjectSize", "ETag"]
            )
        )
        assert attributes["Checksum"][member] == expected and attributes["ObjectSize"] == len(DATA)
    for key in ("bad-header", "bad-trailer"):
        assert (
            await asyncio.to_thread(error_code, lambda key=key: client.head_object(Bucket=bucket, Key=key))
            == "404"
        )


async def test_an_sdk_algorithm_without_its_checksum_is_refused(s3_endpoint):
    client = s3_client(s3_endpoint)
    bucket = unique("ck")
    await asyncio.to_thread(client.create_bucket, Bucket=bucket)
    headers = signed_streaming_headers(
        s3_endpoint,
        f"/{bucket}/k",
        {"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-sdk-checksum-algorithm": "CRC32"},
    )
    status, _, body = await put_body(s3_endpoint, f"/{bucket}/k", headers, b"abc")
    assert status == 400 and b"InvalidRequest" in body
