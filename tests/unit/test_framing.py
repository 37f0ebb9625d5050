"""PUT body framing: any split of a framed body parses to the same bytes and footer; bad bodies are refused."""

from __future__ import annotations

import json
import struct

import pytest
import xxhash
from dolmen.storage_node.framing import (
    ACTION_ABORT,
    ACTION_COMMIT,
    BodyTruncated,
    Footer,
    FooterMalformed,
    FrameAssembler,
    FrameParser,
    FrameTooLarge,
    FramingError,
    RawFooter,
    data_frame_header,
    decode_footer,
    frame_body,
)
from hypothesis import given
from hypothesis import strategies as st

from dolmen.limits import FOOTER_BYTES_MAX, FRAME_DATA_BYTES_MAX
from dolmen.signing import SignatureInvalid, footer_signature

KEY = b"k" * 32
REQUEST_SIGNATURE = "ab" * 32


def commit_footer(body: bytes, **extra) -> Footer:
    return Footer(
        action=ACTION_COMMIT,
        etag="d41d8cd98f00b204e9800998ecf8427e",
        body_bytes=len(body),
        body_xxh3_64=xxhash.xxh3_64_hexdigest(body),
        **extra,
    )


def parse(framed: bytes, cuts: list[int]):
    parser = FrameParser()
    body = bytearray()
    footers = []
    previous = 0
    for cut in sorted(cuts) + [len(framed)]:
        for event in parser.feed(framed[previous:cut]):
            if isinstance(event, RawFooter):
                footers.append(event)
            else:
                body += event
        previous = cut
    parser.finish()
    assert len(footers) == 1
    return bytes(body), decode_footer(footers[0], key=KEY, request_signature_hex=REQUEST_SIGNATURE)


@given(
    chunks=st.lists(st.binary(min_size=1, max_size=300), max_size=6),
    cut_fractions=st.lists(st.floats(0, 1), max_size=12),
)
def test_any_split_of_a_framed_body_parses_to_the_same_body_and_footer(chunks, cut_fractions):
    body = b"".join(chunks)
    footer = commit_footer(body, metadata={"X-Object-Sysmeta-Crc": "é"})
    framed = frame_body(chunks, footer, key=KEY, request_signature_hex=REQUEST_SIGNATURE)
    parsed_body, parsed_footer = parse(framed, [int(len(framed) * f) for f in cut_fractions])
    assert parsed_body == body
    assert parsed_footer == footer


def test_an_abort_footer_needs_no_other_field():
    framed = frame_body(
        [b"abc"], Footer(action=ACTION_ABORT), key=KEY, request_signature_hex=REQUEST_SIGNATURE
    )
    assert parse(framed, [])[1].action == ACTION_ABORT


def test_a_body_without_its_footer_is_truncated():
    framed = frame_body(
        [b"abcdef"], commit_footer(b"abcdef"), key=KEY, request_signature_hex=REQUEST_SIGNATURE
    )
    for cut in range(len(framed)):
        parser = FrameParser()
        parser.feed(framed[:cut])
        with pytest.raises(BodyTruncated):
            parser.finish()


def test_bytes_after_the_footer_are_refused():
    framed = frame_body([b"x"], commit_footer(b"x"), key=KEY, request_signature_hex=REQUEST_SIGNATURE)
    with pytest.raises(FramingError):
        FrameParser().feed(framed + b"\0")


@pytest.mark.parametrize(
    "header",
    [
        struct.pack(">BI", 0x44, 0),
        struct.pack(">BI", 0x44, FRAME_DATA_BYTES_MAX + 1),
        struct.pack(">BI", 0x46, FOOTER_BYTES_MAX + 1),
        struct.pack(">BI", 0x46, 32),
    ],
)
def test_frames_of_illegal_sizes_are_refused_before_their_payload(header):
    with pytest.raises(FrameTooLarge):
        FrameParser().feed(header)


def test_unknown_frame_types_are_refused():
    with pytest.raises(FramingError):
        FrameParser().feed(b"Z\0\0\0\1")


def test_data_frame_header_is_type_then_big_endian_length():
    assert data_frame_header(258) == b"D\x00\x00\x01\x02"


def test_a_forged_or_moved_footer_is_refused():
    framed = frame_body([b"x"], commit_footer(b"x"), key=KEY, request_signature_hex=REQUEST_SIGNATURE)
    (raw,) = [event for event in FrameParser().feed(framed) if isinstance(event, RawFooter)]
    with pytest.raises(SignatureInvalid):
        decode_footer(raw, key=KEY, request_signature_hex="cd" * 32)
    with pytest.raises(SignatureInvalid):
        decode_footer(raw, key=b"o" * 32, request_signature_hex=REQUEST_SIGNATURE)


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"action": "maybe"},
        {"action": "commit", "etag": "e", "body_bytes": -1, "body_xxh3_64": "0" * 16},
        {"action": "commit", "etag": "e", "body_bytes": True, "body_xxh3_64": "0" * 16},
        {"action": "commit", "etag": "", "body_bytes": 0, "body_xxh3_64": "0" * 16},
        {"action": "commit", "etag": 'a"b', "body_bytes": 0, "body_xxh3_64": "0" * 16},
        {"action": "commit", "etag": "e", "body_bytes": 0, "body_xxh3_64": "0" * 15},
        {"action": "commit", "etag": "e", "body_bytes": 0, "body_xxh3_64": "0" * 16, "metadata": {"a": 1}},
        {"action": "commit", "etag": "e", "body_bytes": 0, "body_xxh3_64": "0" * 16, "other": 1},
    ],
)
def test_malformed_footers_are_refused(document):
    footer_bytes = json.dumps(document).encode()
    mac = footer_signature(KEY, request_signature_hex=REQUEST_SIGNATURE, footer_bytes=footer_bytes)
    with pytest.raises(FooterMalformed):
        decode_footer(
            RawFooter(mac=mac, footer_bytes=footer_bytes), key=KEY, request_signature_hex=REQUEST_SIGNATURE
        )


def signed_raw_footer(footer_bytes: bytes) -> RawFooter:
    mac = footer_signature(KEY, request_signature_hex=REQUEST_SIGNATURE, footer_bytes=footer_bytes)
    return RawFooter(mac=mac, footer_bytes=footer_bytes)


@pytest.mark.parametrize("around", [("", ""), (" \n", ""), ("", "\r\n\t "), (" ", " ")])
def test_a_footer_is_read_as_any_json_parser_reads_it_whitespace_around_included(around):
    document = '{"action": "commit", "etag": "e", "body_bytes": 0, "body_xxh3_64": "%s"}' % ("0" * 16)
    raw = signed_raw_footer((around[0] + document + around[1]).encode())
    footer = decode_footer(raw, key=KEY, request_signature_hex=REQUEST_SIGNATURE)
    assert (footer.action, footer.etag, footer.body_bytes) == (ACTION_COMMIT, "e", 0)


@pytest.mark.parametrize(
    "text",
    [
        b'{"action": "abort"} x',
        b'{"action": "abort"}{}',
        b'{"action": "abort"',
        b"",
        b" ",
        b'{"action": "abort", "etag": "\xff"}',  # not UTF-8
    ],
)
def test_a_footer_that_is_not_one_json_value_is_refused(text):
    with pytest.raises(FooterMalformed):
        decode_footer(signed_raw_footer(text), key=KEY, request_signature_hex=REQUEST_SIGNATURE)


@given(
    pieces=st.lists(st.binary(min_size=0, max_size=300), max_size=20),
    payload_bytes_max=st.integers(min_value=1, max_value=256),
    writable=st.booleans(),
)
def test_assembled_frames_are_whole_and_parse_back_to_the_pieces(pieces, payload_bytes_max, writable):
    assembler = FrameAssembler(payload_bytes_max)
    frames = []
    for piece in pieces:
        fed = bytearray(piece) if writable else piece
        frames += assembler.feed(fed)
        if writable:
            fed[:] = b"x" * len(fed)  # the caller reuses its buffer: the frames must not change
    frames += assembler.finish()
    wire = [b"".join(bytes(part) for part in frame) for frame in frames]
    body = b"".join(pieces)
    sizes = [len(frame) - 5 for frame in wire]
    assert all(size == payload_bytes_max for size in sizes[:-1])
    assert sum(sizes) == len(body) and all(size >= 1 for size in sizes)
    parser = FrameParser()
    parsed = [bytes(event) for frame in wire for event in parser.feed(frame)]
    assert b"".join(parsed) == body


def test_assembled_frames_reference_immutable_pieces_without_copying():
    piece = bytes(range(256)) * 8
    [frame] = FrameAssembler(len(piece)).feed(piece)
    header, payload = frame
    assert header == data_frame_header(len(piece))
    assert isinstance(payload, memoryview) and payload.obj is piece
