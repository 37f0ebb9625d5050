"""aws-chunked bodies, decoded incrementally: whatever the split points, the same bytes and the same errors.

An aws-chunked body is a sequence of chunks, `<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n`,
ending with a chunk of size 0, then trailing headers (`name:value\\r\\n`, for
example `x-amz-checksum-crc32:<base64>`) and an empty line:

- STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk carries a signature chained
  from the request's (SigV4's seed signature); no trailers.
- STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: the same, and the trailers carry
  `x-amz-trailer-signature`, chained from the last chunk's.
- STREAMING-UNSIGNED-PAYLOAD-TRAILER: no signatures; trailers (what boto3 and
  the AWS CLI send by default, with a CRC32 trailer).

`feed` returns the payload bytes as they arrive: a chunk's data is released
before its signature is checked (at the chunk's end), so the caller must not
commit the body before `finish` returns; the cluster client's abort covers that.
Memory is bounded: one line (S3_CHUNK_LINE_BYTES_MAX) is buffered, never a chunk.
Errors: IncompleteBody for a body that ends early or whose decoded length is
not the announced one, InvalidRequest for malformed framing,
SignatureDoesNotMatch for a wrong chunk or trailer signature.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from dolmen.proxy.s3.errors import IncompleteBody, InvalidRequest, SignatureDoesNotMatch
from dolmen.proxy.s3.sigv4 import SigningContext

from dolmen.limits import S3_CHUNK_BYTES_MAX, S3_CHUNK_LINE_BYTES_MAX, S3_TRAILERS_COUNT_MAX

_SIGNATURE_EXTENSION = b";chunk-signature="
_TRAILER_SIGNATURE = "x-amz-trailer-signature"
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")

_CHUNK_HEADER, _CHUNK_DATA, _CHUNK_END, _TRAILER, _DONE = range(5)


def parse_trailer_names(header: str | None) -> frozenset[str]:
    """The trailers announced in `x-amz-trailer` (comma-separated), lower-cased."""
    if not header:
        return frozenset()
    names = frozenset(name.strip().lower() for name in header.split(",") if name.strip())
    if len(names) > S3_TRAILERS_COUNT_MAX:
        raise InvalidRequest("Too many trailing headers")
    return names


class AwsChunkedDecoder:
    """Decodes one aws-chunked body fed in pieces of any size.

    `signing` verifies chunk signatures (None for unsigned payloads);
    `trailer_names` are the trailers announced in `x-amz-trailer` (each must
    arrive, and no other); `decoded_length` is `x-amz-decoded-content-length`.
    """

    def __init__(
        self,
        *,
        signing: SigningContext | None,
        trailer_names: frozenset[str] = frozenset(),
        decoded_length: int | None = None,
    ) -> None:
        self._signing = signing
        self._previous_signature = signing.seed_signature if signing else ""
        self._trailer_names = trailer_names
        self._decoded_length = decoded_length
        self._state = _CHUNK_HEADER
        self._line = bytearray()
        self._remaining = 0  # bytes of the current chunk's data still to come
        self._chunk_signature = ""
        self._chunk_hash = hashlib.sha256()
        self._trailer_lines: list[tuple[str, str]] = []
        self._trailer_signature = ""
        self.decoded_bytes = 0
        self.trailers: dict[str, str] = {}

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def feed(self, data: bytes) -> list[memoryview]:
        """The payload bytes contained in `data`, in order (possibly none): views of `data`,
        not copies."""
        out: list[memoryview] = []
        view = memoryview(data)
        position = 0
        while position < len(view):
            if self._state == _CHUNK_DATA:
                take = min(self._remaining, len(view) - position)
                piece = view[position : position + take]
                position += take
                self._remaining -= take
                self.decoded_bytes += take
                if self._signing:
                    self._chunk_hash.update(piece)
                out.append(piece)
                if self._remaining == 0:
                    self._state = _CHUNK_END
                continue
            if self._state == _DONE:
                raise InvalidRequest("Data after the end of the aws-chunked body")
            line, position = self._read_line(view, position)
            if line is None:
                break
            if self._state == _CHUNK_HEADER:
                self._start_chunk(line)
            elif self._state == _CHUNK_END:
                if line:
                    raise InvalidRequest("An aws-chunked chunk is longer than its size")
                self._end_chunk()
                self._state = _CHUNK_HEADER
            else:
                self._trailer_line(line)
        if self._decoded_length is not None and self.decoded_bytes > self._decoded_length:
            raise IncompleteBody("The decoded body is longer than x-amz-decoded-content-length")
        return out

    def finish(self) -> dict[str, str]:
        """The trailers, once the whole body was fed; IncompleteBody if it ended early."""
        if self._state != _DONE:
            raise IncompleteBody("The aws-chunked body ended early")
        return self.trailers

    # --- steps ---------------------------------------------------------------

    def _read_line(self, view: memoryview, position: int) -> tuple[bytes | None, int]:
        """The next CRLF-terminated line (without CRLF) and the position after it; None if incomplete."""
        if self._line.endswith(b"\r") and view[position] == 0x0A:  # a CRLF split across two feeds
            line = bytes(self._line[:-1])
            self._line.clear()
            return line, position + 1
        end = bytes(view[position : position + S3_CHUNK_LINE_BYTES_MAX + 2]).find(b"\r\n")
        if end < 0:
            self._line += view[position:]
            if len(self._line) > S3_CHUNK_LINE_BYTES_MAX + 1:  # +1: the CR of a CRLF split across feeds
                raise InvalidRequest("An aws-chunked header or trailer line is too long")
            return None, len(view)
        line = bytes(self._line) + bytes(view[position : position + end])
        self._line.clear()
        if len(line) > S3_CHUNK_LINE_BYTES_MAX:
            raise InvalidRequest("An aws-chunked header or trailer line is too long")
        return line, position + end + 2

    def _start_chunk(self, line: bytes) -> None:
        size_field, signature = line, b""
        if self._signing:
            size_field, found, signature = line.partition(_SIGNATURE_EXTENSION)
            if not found or len(signature) != 64:
                raise InvalidRequest("An aws-chunked chunk has no valid chunk-signature")
        if not size_field or len(size_field) > 8 or not _HEX_DIGITS.issuperset(size_field):
            raise InvalidRequest("An aws-chunked chunk size is not hexadecimal")
        size = int(size_field, 16)
        if size > S3_CHUNK_BYTES_MAX:
            raise InvalidRequest(f"An aws-chunked chunk is larger than {S3_CHUNK_BYTES_MAX} bytes")
        self._chunk_signature = signature.decode("ascii", "replace")
        self._chunk_hash = hashlib.sha256()
        self._remaining = size
        if size == 0:
            self._end_chunk()  # the final chunk has no data and no CRLF of its own before the trailers
            self._state = _TRAILER
        else:
            self._state = _CHUNK_DATA

    def _end_chunk(self) -> None:
        if self._signing:
            expected = self._signing.chunk_signature(self._previous_signature, self._chunk_hash.hexdigest())
            _check_signature(expected, self._chunk_signature)
            self._previous_signature = expected

    def _trailer_line(self, line: bytes) -> None:
        if line:
            name, colon, value = line.decode("utf-8", "replace").partition(":")
            name = name.strip().lower()
            if not colon or not name:
                raise InvalidRequest("An aws-chunked trailer is malformed")
            if name == _TRAILER_SIGNATURE and self._signing:
                self._trailer_signature = value.strip()
                return
            if name not in self._trailer_names or name in self.trailers:
                raise InvalidRequest(f"The trailer {name!r} was not announced in x-amz-trailer")
            self.trailers[name] = value.strip()
            self._trailer_lines.append((name, value.strip()))
            return
        missing = self._trailer_names - set(self.trailers)
        if missing:
            raise IncompleteBody(f"The trailers {sorted(missing)} were announced but not sent")
        if self._signing and self._trailer_names:
            expected = self._signing.trailer_signature(
                self._previous_signature, canonical_trailers(self._trailer_lines)
            )
            _check_signature(expected, self._trailer_signature)
        if self._decoded_length is not None and self.decoded_bytes != self._decoded_length:
            raise IncompleteBody("The decoded body is shorter than x-amz-decoded-content-length")
        self._state = _DONE


def canonical_trailers(lines: Iterable[tuple[str, str]]) -> bytes:
    """Trailers as their signature covers them: `name:value\\n` each, in the order sent."""
    return "".join(f"{name}:{value}\n" for name, value in lines).encode("utf-8")


def _check_signature(expected: str, claimed: str) -> None:
    if not hmac.compare_digest(expected.encode("ascii"), claimed.encode("utf-8", "surrogateescape")):
        raise SignatureDoesNotMatch(
            "The chunk signature we calculated does not match the signature you provided."
        )
