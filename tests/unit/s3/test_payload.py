"""PUT body integrity: what each kind of body must prove, and that a body proving less is refused."""

from __future__ import annotations

import base64
import hashlib
import io
import zlib

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from dolmen.proxy.s3 import errors
from dolmen.proxy.s3.payload import PayloadVerifier
from dolmen.proxy.s3.sigv4 import STREAMING_UNSIGNED_TRAILER, UNSIGNED_PAYLOAD
from hypothesis import given, settings
from hypothesis import strategies as st


def run(verifier: PayloadVerifier, raw: bytes, piece_bytes: int = 7) -> tuple[bytes, dict[str, str]]:
    out = []
    for start in range(0, len(raw), piece_bytes):
        out += verifier.feed(raw[start : start + piece_bytes])
    return b"".join(out), verifier.finish()


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=500), chunk_size=st.integers(1, 200))
def test_what_boto3_sends_by_default_decodes_and_yields_its_crc32(data, chunk_size):
    raw = AwsChunkedWrapper(
        io.BytesIO(data),
        checksum_cls=Crc32Checksum,
        checksum_name="x-amz-checksum-crc32",
        chunk_size=chunk_size,
    ).read()
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-sdk-checksum-algorithm": "CRC32",
        "content-length": str(len(raw)),
    }
    verifier = PayloadVerifier.for_request(headers, payload_hash=STREAMING_UNSIGNED_TRAILER, signing=None)
    assert run(verifier, raw) == (data, {"crc32": crc32_b64(data)})


def test_a_signed_payload_hash_must_match_the_body():
    body = b"hello world"
    headers = {"content-length": str(len(body))}
    good = PayloadVerifier.for_request(headers, payload_hash=hashlib.sha256(body).hexdigest(), signing=None)
    assert run(good, body) == (body, {})
    bad = PayloadVerifier.for_request(
        headers, payload_hash=hashlib.sha256(b"other").hexdigest(), signing=None
    )
    with pytest.raises(errors.XAmzContentSHA256Mismatch):
        run(bad, body)


def test_a_checksum_header_must_match_the_body():
    body = b"payload"
    headers = {"content-length": str(len(body)), "x-amz-checksum-crc32": crc32_b64(body)}
    assert run(PayloadVerifier.for_request(headers, payload_hash=UNSIGNED_PAYLOAD, signing=None), body)[
        1
    ] == {"crc32": crc32_b64(body)}
    headers["x-amz-checksum-crc32"] = crc32_b64(b"other")
    with pytest.raises(errors.BadDigest):
        run(PayloadVerifier.for_request(headers, payload_hash=UNSIGNED_PAYLOAD, signing=None), body)


def test_a_body_shorter_or_longer_than_announced_is_incomplete():
    headers = {"content-length": "5"}
    with pytest.raises(errors.IncompleteBody):
        run(PayloadVerifier.for_request(headers, payload_hash=UNSIGNED_PAYLOAD, signing=None), b"abcd")
    with pytest.raises(errors.IncompleteBody):
        run(PayloadVerifier.for_request(headers, payload_hash=UNSIGNED_PAYLOAD, signing=None), b"abcdef")


@pytest.mark.parametrize(
    "headers, payload_hash, error",
    [
        ({}, UNSIGNED_PAYLOAD, errors.MissingContentLength),
        ({"content-length": "x"}, UNSIGNED_PAYLOAD, errors.InvalidRequest),
        ({"content-length": str(5 * 2**30 + 1)}, UNSIGNED_PAYLOAD, errors.EntityTooLarge),
        ({"content-length": "9"}, STREAMING_UNSIGNED_TRAILER, errors.MissingContentLength),
        ({"x-amz-decoded-content-length": "1"}, STREAMING_UNSIGNED_TRAILER, errors.InvalidRequest),  # no trailer
        (
            {"x-amz-decoded-content-length": "1", "x-amz-trailer": "x-amz-checksum-crc32",
             "x-amz-checksum-sha256": "AAAA"},
            STREAMING_UNSIGNED_TRAILER,
            errors.InvalidRequest,
        ),  # two checksums
        ({"content-length": "1", "x-amz-checksum-sha512": "AAAAAAAAAAA="}, UNSIGNED_PAYLOAD, errors.InvalidRequest),
        ({"content-length": "1", "x-amz-sdk-checksum-algorithm": "CRC32"}, UNSIGNED_PAYLOAD, errors.InvalidRequest),
    ],
)  # fmt: skip
def test_bodies_that_cannot_prove_what_they_claim_are_refused_before_any_byte(headers, payload_hash, error):
    with pytest.raises(error):
        PayloadVerifier.for_request(headers, payload_hash=payload_hash, signing=None)
