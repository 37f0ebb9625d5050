"""The integrity of a PUT body, checked as it streams: SHA-256, aws-chunked signatures, S3 checksums.

`PayloadVerifier.for_request` decides, from the request's headers alone, what
the body must prove; `feed` turns raw body bytes into payload bytes (decoding
aws-chunked) while hashing them; `finish` raises if anything did not hold. The
listener passes `finish` to the cluster client's `check_body`, so a body that
fails is aborted on every replica and never becomes visible. (Content-MD5 is
the cluster client's `expected_etag`: the MD5 is computed once, there.)

Errors: XAmzContentSHA256Mismatch, BadDigest (a checksum), IncompleteBody,
SignatureDoesNotMatch (a chunk), InvalidRequest, MissingContentLength,
EntityTooLarge.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from dolmen.proxy.s3.checksums import (
    Checksum,
    b64,
    check_digest,
    check_sdk_algorithm,
    new_checksum,
    requested_checksums,
)
from dolmen.proxy.s3.chunked import AwsChunkedDecoder, parse_trailer_names
from dolmen.proxy.s3.errors import (
    EntityTooLarge,
    IncompleteBody,
    InvalidRequest,
    MissingContentLength,
    XAmzContentSHA256Mismatch,
)
from dolmen.proxy.s3.sigv4 import (
    STREAMING_PAYLOADS,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    SigningContext,
)

from dolmen.limits import OBJECT_BODY_BYTES_MAX


class PayloadVerifier:
    """Verifies one request body; `payload_length` is the object's size in bytes (None: a
    chunked body, known at its end and bounded by OBJECT_BODY_BYTES_MAX)."""

    def __init__(
        self,
        *,
        payload_length: int | None,
        sha256_hex: str | None = None,
        decoder: AwsChunkedDecoder | None = None,
        checksum_algorithm: str | None = None,
        checksum_expected: str | None = None,
    ) -> None:
        self.payload_length = payload_length
        self._sha256_hex = sha256_hex
        self._sha256 = hashlib.sha256() if sha256_hex else None
        self._decoder = decoder
        self._checksum_algorithm = checksum_algorithm
        self._checksum: Checksum | None = new_checksum(checksum_algorithm) if checksum_algorithm else None
        self._checksum_expected = checksum_expected
        self._received_bytes = 0

    @classmethod
    def for_request(
        cls,
        headers: Mapping[str, str],
        *,
        payload_hash: str,
        signing: SigningContext | None,
        default_algorithm: str | None = None,
    ) -> PayloadVerifier:
        """What this request's body must prove. `headers` are lower-cased; `payload_hash` as signed
        (UNSIGNED-PAYLOAD for anonymous and presigned requests). `default_algorithm` (a multipart
        upload's) is computed when the request claims no checksum, and no other may be claimed."""
        claimed = requested_checksums(headers)
        if payload_hash in STREAMING_PAYLOADS:
            length = _length(headers, "x-amz-decoded-content-length")
            trailers = parse_trailer_names(headers.get("x-amz-trailer"))
            trailer_checksums = [name for name in trailers if name.startswith("x-amz-checksum-")]
            if len(trailer_checksums) + len(claimed) > 1 or len(trailers) > len(trailer_checksums):
                raise InvalidRequest("Expecting a single x-amz-checksum- trailer or header.")
            if payload_hash == STREAMING_UNSIGNED_TRAILER and not trailers:
                raise InvalidRequest("STREAMING-UNSIGNED-PAYLOAD-TRAILER needs an x-amz-trailer header.")
            signed_chunks = payload_hash != STREAMING_UNSIGNED_TRAILER
            assert signing is not None or not signed_chunks, "signed chunks come with a verified signature"
            decoder = AwsChunkedDecoder(
                signing=signing if signed_chunks else None, trailer_names=trailers, decoded_length=length
            )
            algorithm = trailer_checksums[0].removeprefix("x-amz-checksum-") if trailer_checksums else None
            algorithm = algorithm or next(iter(claimed), None)
            check_sdk_algorithm(headers, algorithm)
            algorithm = _with_default(algorithm, default_algorithm)
            return cls(
                payload_length=length,
                decoder=decoder,
                checksum_algorithm=algorithm,
                checksum_expected=claimed.get(algorithm or ""),
            )
        # A plain chunked body (Transfer-Encoding, not aws-chunked) has no length before its end.
        chunked = (
            "chunked" in headers.get("transfer-encoding", "").lower() and "content-length" not in headers
        )
        plain_length = None if chunked else _length(headers, "content-length")
        algorithm = next(iter(claimed), None)
        check_sdk_algorithm(headers, algorithm)
        algorithm = _with_default(algorithm, default_algorithm)
        return cls(
            payload_length=plain_length,
            sha256_hex=None if payload_hash == UNSIGNED_PAYLOAD else payload_hash,
            checksum_algorithm=algorithm,
            checksum_expected=claimed.get(algorithm or ""),
        )

    def feed(self, raw: bytes) -> Sequence[bytes | memoryview]:
        """The payload bytes in `raw` (raw body bytes as received, or views of them), hashed
        on the way."""
        if self._sha256 is not None:
            self._sha256.update(raw)
        pieces: Sequence[bytes | memoryview] = self._decoder.feed(raw) if self._decoder is not None else [raw]
        for piece in pieces:
            self._received_bytes += len(piece)
            if self._checksum is not None:
                self._checksum.update(piece)
        if self._received_bytes > (
            OBJECT_BODY_BYTES_MAX if self.payload_length is None else self.payload_length
        ):
            if self.payload_length is None:
                raise EntityTooLarge(MaxSizeAllowed=str(OBJECT_BODY_BYTES_MAX))
            raise IncompleteBody("The body is longer than its announced length")
        return pieces

    def finish(self) -> dict[str, str]:
        """Raise unless the whole body arrived and proved all it claimed; the checksums to store."""
        trailers = self._decoder.finish() if self._decoder is not None else {}
        if self.payload_length is not None and self._received_bytes != self.payload_length:
            raise IncompleteBody()
        if self._sha256 is not None:
            assert self._sha256_hex is not None
            if not hmac.compare_digest(self._sha256.hexdigest(), self._sha256_hex):
                raise XAmzContentSHA256Mismatch(
                    ClientComputedContentSHA256=self._sha256_hex,
                    S3ComputedContentSHA256=self._sha256.hexdigest(),
                )
        if self._checksum is None:
            return {}
        assert self._checksum_algorithm is not None
        expected = trailers.get("x-amz-checksum-" + self._checksum_algorithm, self._checksum_expected)
        computed = self._checksum.digest()
        if expected is not None:
            check_digest(self._checksum_algorithm, expected, computed)
        return {self._checksum_algorithm: b64(computed)}


def _with_default(claimed: str | None, default: str | None) -> str | None:
    """The algorithm to compute: the claimed one, which must be the default when there is one."""
    if claimed is not None and default is not None and claimed != default:
        raise InvalidRequest(
            f"Checksum Type mismatch occurred, expected checksum Type: {default}, actual checksum Type: {claimed}"
        )
    return claimed or default


def _length(headers: Mapping[str, str], name: str) -> int:
    value = headers.get(name)
    if value is None:
        raise MissingContentLength(f"You must provide the {name} HTTP header.")
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        raise InvalidRequest(f"The {name} header is not a number")
    length = int(value)
    if length > OBJECT_BODY_BYTES_MAX:
        raise EntityTooLarge(ProposedSize=str(length), MaxSizeAllowed=str(OBJECT_BODY_BYTES_MAX))
    return length
