"""aws-chunked decoding: AWS's published signed example, botocore's trailer bodies, any split points."""

from __future__ import annotations

import contextlib
import hashlib
import io
import zlib
from collections.abc import Sequence

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum, Sha256Checksum
from dolmen.proxy.s3 import errors
from dolmen.proxy.s3.checksums import b64, check_digest, new_checksum
from dolmen.proxy.s3.chunked import AwsChunkedDecoder, canonical_trailers, parse_trailer_names
from dolmen.proxy.s3.sigv4 import SigningContext, check_scope, lower_headers, parse_auth, verify
from hypothesis import given, settings
from hypothesis import strategies as st

from dolmen.limits import S3_CHUNK_BYTES_MAX, S3_CHUNK_LINE_BYTES_MAX

# AWS's example of a signed chunked upload (S3 API reference, "Transferring payload in
# multiple chunks"): 66,560 bytes of "a" in chunks of 65,536, 1,024 and 0 bytes.
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EXAMPLE_HEADERS = {
    "host": "s3.amazonaws.com",
    "x-amz-date": "20130524T000000Z",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
    "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
    "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
    "x-amz-decoded-content-length;x-amz-storage-class, "
    "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": "66560",
    "content-length": "66824",
}
EXAMPLE_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)


def example_context() -> SigningContext:
    signed = parse_auth("PUT", EXAMPLE_HEADERS, {})
    assert signed is not None
    check_scope(signed, region="us-east-1")
    return verify(
        signed, EXAMPLE_SECRET, method="PUT", raw_path="/examplebucket/chunkObject.txt", raw_query="",
        headers=EXAMPLE_HEADERS,
    )  # fmt: skip


def example_body(data: bytes = b"a" * 66560) -> bytes:
    sizes = (65536, 1024, 0)
    body, offset = b"", 0
    for size, signature in zip(sizes, EXAMPLE_SIGNATURES, strict=True):
        body += b"%x;chunk-signature=%s\r\n%s\r\n" % (size, signature.encode(), data[offset : offset + size])
        offset += size
    return body


def decode(decoder: AwsChunkedDecoder, body: bytes, cuts: Sequence[int] = ()) -> bytes:
    out, start = [], 0
    for cut in sorted(set(cuts)) + [len(body)]:
        out += decoder.feed(body[start:cut])
        start = cut
    decoder.finish()
    return b"".join(out)


def test_the_aws_example_seed_signature_verifies():
    assert (
        example_context().seed_signature == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    )


@settings(max_examples=80, deadline=None)
@given(cuts=st.lists(st.integers(0, len(example_body())), max_size=12))
def test_the_aws_example_body_decodes_at_any_split_points(cuts):
    decoder = AwsChunkedDecoder(signing=example_context(), decoded_length=66560)
    assert decode(decoder, example_body(), cuts) == b"a" * 66560
    assert decoder.decoded_bytes == 66560


@settings(max_examples=40, deadline=None)
@given(position=st.integers(0, 66559), cuts=st.lists(st.integers(0, 66900), max_size=5))
def test_one_changed_byte_of_a_signed_chunk_is_refused(position, cuts):
    data = bytearray(b"a" * 66560)
    data[position] = ord("b")
    decoder = AwsChunkedDecoder(signing=example_context(), decoded_length=66560)
    with pytest.raises(errors.SignatureDoesNotMatch):
        decode(decoder, example_body(bytes(data)), cuts)


def test_chunks_in_another_order_are_refused():
    body = b"400;chunk-signature=%s\r\n%s\r\n" % (EXAMPLE_SIGNATURES[1].encode(), b"a" * 1024)
    with pytest.raises(errors.SignatureDoesNotMatch):
        AwsChunkedDecoder(signing=example_context()).feed(body)


def test_a_signed_body_without_its_last_chunk_is_incomplete():
    body = example_body()
    decoder = AwsChunkedDecoder(signing=example_context(), decoded_length=66560)
    decoder.feed(body[: body.rindex(b"0;chunk-signature")])
    with pytest.raises(errors.IncompleteBody):
        decoder.finish()


# --- unsigned payload with a trailing checksum (what boto3 sends by default) --


def botocore_body(
    data: bytes, chunk_size: int, checksum_cls=Crc32Checksum, name="x-amz-checksum-crc32"
) -> bytes:
    return AwsChunkedWrapper(
        io.BytesIO(data), checksum_cls=checksum_cls, checksum_name=name, chunk_size=chunk_size
    ).read()


@settings(max_examples=100, deadline=None)
@given(
    data=st.binary(max_size=3000),
    chunk_size=st.integers(1, 1024),
    cuts=st.lists(st.integers(0, 8000), max_size=10),
)
def test_botocore_trailer_bodies_decode_at_any_split_points_with_their_checksum(data, chunk_size, cuts):
    decoder = AwsChunkedDecoder(
        signing=None, trailer_names=parse_trailer_names("x-amz-checksum-crc32"), decoded_length=len(data)
    )
    assert decode(decoder, botocore_body(data, chunk_size), cuts) == data
    crc = new_checksum("crc32")
    crc.update(data)
    check_digest("crc32", decoder.trailers["x-amz-checksum-crc32"], crc.digest())


def test_a_wrong_trailing_checksum_is_a_bad_digest():
    body = botocore_body(b"hello", 4, Sha256Checksum, "x-amz-checksum-sha256")
    decoder = AwsChunkedDecoder(signing=None, trailer_names=frozenset({"x-amz-checksum-sha256"}))
    assert decode(decoder, body) == b"hello"
    checksum = new_checksum("sha256")
    checksum.update(b"hellO")
    with pytest.raises(errors.BadDigest):
        check_digest("sha256", decoder.trailers["x-amz-checksum-sha256"], checksum.digest())


@pytest.mark.parametrize(
    "announced, body, error",
    [
        ("x-amz-checksum-crc32", b"1\r\na\r\n0\r\n\r\n", errors.IncompleteBody),  # announced, never sent
        ("", b"1\r\na\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", errors.InvalidRequest),  # not announced
        ("", b"2\r\na\r\n0\r\n\r\n", errors.InvalidRequest),  # a chunk shorter than its size
        ("", b"1\r\nab\r\n0\r\n\r\n", errors.InvalidRequest),  # longer than its size
        ("", b"zz\r\na\r\n", errors.InvalidRequest),  # not hexadecimal
        ("", b"-1\r\n", errors.InvalidRequest),
        ("", b"%x\r\n" % (S3_CHUNK_BYTES_MAX + 1), errors.InvalidRequest),  # over the bound
        ("", b"1" * (S3_CHUNK_LINE_BYTES_MAX + 10), errors.InvalidRequest),  # a line with no end
        ("", b"0\r\n\r\nmore", errors.InvalidRequest),  # bytes after the end
    ],
)
def test_malformed_unsigned_bodies_are_refused(announced, body, error):
    decoder = AwsChunkedDecoder(signing=None, trailer_names=parse_trailer_names(announced))
    with pytest.raises(error):
        decode(decoder, body)


def test_the_decoded_length_must_be_the_announced_one():
    body = botocore_body(b"abc", 2)
    with pytest.raises(errors.IncompleteBody):
        decode(
            AwsChunkedDecoder(
                signing=None, trailer_names=frozenset({"x-amz-checksum-crc32"}), decoded_length=4
            ),
            body,
        )
    with pytest.raises(errors.IncompleteBody):
        decode(
            AwsChunkedDecoder(
                signing=None, trailer_names=frozenset({"x-amz-checksum-crc32"}), decoded_length=2
            ),
            body,
        )


# --- signed payload with signed trailers ------------------------------------

CONTEXT = SigningContext(key=b"k" * 32, amz_date="20250101T000000Z", scope="20250101/us-east-1/s3/aws4_request",
                         seed_signature="0" * 64)  # fmt: skip


def signed_trailer_body(
    data: bytes, chunk_size: int, trailers: list[tuple[str, str]], tamper: str = ""
) -> bytes:
    """Frames `data` as an AWS SDK does for STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER."""
    body, previous = b"", CONTEXT.seed_signature
    pieces = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for piece in pieces:
        previous = CONTEXT.chunk_signature(previous, hashlib.sha256(piece).hexdigest())
        body += b"%x;chunk-signature=%s\r\n" % (len(piece), previous.encode())
        body += piece + b"\r\n" if piece else b""
    signature = CONTEXT.trailer_signature(previous, canonical_trailers(trailers))
    signed_lines = [(name, value + tamper) for name, value in trailers]
    body += b"".join(b"%s:%s\r\n" % (name.encode(), value.encode()) for name, value in signed_lines)
    return body + b"x-amz-trailer-signature:%s\r\n\r\n" % signature.encode()


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=2000),
    chunk_size=st.integers(1, 700),
    cuts=st.lists(st.integers(0, 4000), max_size=8),
)
def test_signed_trailers_decode_at_any_split_points(data, chunk_size, cuts):
    trailers = [("x-amz-checksum-crc32", b64(zlib.crc32(data).to_bytes(4, "big")))]
    decoder = AwsChunkedDecoder(signing=CONTEXT, trailer_names=frozenset({"x-amz-checksum-crc32"}))
    assert decode(decoder, signed_trailer_body(data, chunk_size, trailers), cuts) == data
    assert decoder.trailers == dict(trailers)


def test_a_changed_signed_trailer_is_refused():
    body = signed_trailer_body(b"data", 3, [("x-amz-checksum-crc32", "AAAAAA==")], tamper="x")
    decoder = AwsChunkedDecoder(signing=CONTEXT, trailer_names=frozenset({"x-amz-checksum-crc32"}))
    with pytest.raises(errors.SignatureDoesNotMatch):
        decode(decoder, body)


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=300), signed=st.booleans(), cuts=st.lists(st.integers(0, 300), max_size=4))
def test_any_bytes_decode_or_are_refused_with_an_s3_error(body, signed, cuts):
    decoder = AwsChunkedDecoder(
        signing=CONTEXT if signed else None, trailer_names=frozenset({"x-amz-checksum-crc32"})
    )
    with contextlib.suppress(errors.S3Error):
        decode(decoder, body, cuts)


def test_header_checksum_names_and_lookups():
    assert lower_headers([("X-Amz-Trailer", "x-amz-checksum-crc32")]) == {
        "x-amz-trailer": "x-amz-checksum-crc32"
    }
    with pytest.raises(errors.InvalidRequest):
        new_checksum("xxhash64")
