"""Container updates sent together: the UPDATE body round-trips, and anything else is refused."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest
from dolmen.storage_node.entries import ObjectEntry
from dolmen.storage_node.errors import BadRequest, UploadChecksumMismatch
from dolmen.storage_node.timestamps import Timestamp
from dolmen.storage_node.update_batches import BODY_SHA256_HEADER, batch_request, parse_batch
from dolmen.storage_node.updates import (
    PendingUpdate,
    Replica,
    decode_journal,
    decode_pending,
    due_key,
    encode_journal,
    encode_pending,
    journal_due_micros,
    journal_key,
    journal_size,
    parse_replica,
    pending_due_s,
    split_due_key,
)
from hypothesis import given
from hypothesis import strategies as st

from dolmen.limits import UPDATE_BATCH_ENTRIES_MAX

REPLICA = Replica("127.0.0.1:6201", "d1", 7)
names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1, max_size=60
)
updates = st.builds(
    PendingUpdate,
    replica=st.just(REPLICA),
    account=st.just("AUTH_u"),
    container=st.just("photos"),
    obj=names,
    timestamp=st.integers(1, 2**40).map(
        lambda ticks: Timestamp.parse(f"{ticks // 100_000:010d}.{ticks % 100_000:05d}")
    ),
    deleted=st.booleans(),
    size=st.integers(0, 2**62),
    etag=st.text(max_size=32),
    content_type=st.text(max_size=40),
)


@given(updates, st.integers(0, 50), st.floats(0, 2e9))
def test_a_queued_update_round_trips_and_its_due_time_reads_alone(update, attempts, due_s):
    update = replace(update, attempts=attempts, next_attempt_s=due_s)
    stored = encode_pending(update)
    assert decode_pending(stored) == update
    assert pending_due_s(stored) == due_s


object_keys = st.binary(min_size=1, max_size=511)


@given(st.lists(st.tuples(object_keys, updates), min_size=1, max_size=UPDATE_BATCH_ENTRIES_MAX))
def test_a_journal_record_round_trips_in_order(journaled):
    assert decode_journal(encode_journal(journaled)) == journaled
    assert journal_size(encode_journal(journaled)) == len(journaled)


@given(st.floats(0, 2e9), st.floats(0, 2e9), st.integers(1, 2**63), st.integers(1, 2**63))
def test_journal_records_sort_by_due_time_and_read_it_back(first_s, second_s, first_txn, second_txn):
    first, second = journal_key(first_s, first_txn), journal_key(second_s, second_txn)
    assert journal_due_micros(first) == round(first_s * 1e6)
    if round(first_s * 1e6) < round(second_s * 1e6):
        assert first < second
    assert (first == second) == (round(first_s * 1e6) == round(second_s * 1e6) and first_txn == second_txn)


@given(st.floats(0, 2e9), st.floats(0, 2e9), object_keys, object_keys)
def test_due_index_keys_sort_by_due_time_and_give_back_the_object_key(due_a, due_b, key_a, key_b):
    index_a, index_b = due_key(due_a, key_a), due_key(due_b, key_b)
    assert split_due_key(index_a) == (round(due_a * 1e6), key_a)
    if round(due_a * 1e6) < round(due_b * 1e6):
        assert index_a < index_b  # LMDB's order is the bytes' order: the soonest due come first


@given(st.lists(updates, min_size=1, max_size=20))
def test_an_update_batch_round_trips_signed_by_its_body_hash(batch):
    method, path, headers, body = batch_request(batch)
    assert (method, path) == ("POST", "/d1/7/AUTH_u/photos")
    assert headers["X-Backend-Verb"] == "UPDATE" and headers["X-Backend-Role"] == "container"
    assert headers["X-Timestamp"] == max(update.timestamp for update in batch).internal
    assert parse_batch(body, headers[BODY_SHA256_HEADER]) == [
        ObjectEntry(u.obj, u.timestamp, u.deleted, u.size, u.etag, u.content_type) for u in batch
    ]


def test_a_changed_body_or_a_missing_hash_is_refused():
    update = PendingUpdate(
        REPLICA, "AUTH_u", "photos", "cat.jpg", Timestamp.parse("1700000000.00001"), False, 5
    )
    _, _, headers, body = batch_request([update])
    with pytest.raises(UploadChecksumMismatch):
        parse_batch(body.replace(b'"size":5', b'"size":6'), headers[BODY_SHA256_HEADER])
    with pytest.raises(BadRequest):
        parse_batch(body, None)


ENTRY = {
    "name": "a",
    "timestamp": "1700000000.00001",
    "deleted": False,
    "size": 1,
    "etag": "",
    "content_type": "",
}


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"\xff\xfe",
        json.dumps({"name": "a"}).encode(),
        b"[]",
        json.dumps([ENTRY] * (UPDATE_BATCH_ENTRIES_MAX + 1)).encode(),
        json.dumps([ENTRY | {"size": True}]).encode(),
        json.dumps([ENTRY | {"size": "1"}]).encode(),
        json.dumps([ENTRY | {"name": ""}]).encode(),
        json.dumps([ENTRY | {"extra": 1}]).encode(),
        json.dumps([{key: value for key, value in ENTRY.items() if key != "etag"}]).encode(),
        json.dumps([ENTRY | {"timestamp": "yesterday"}]).encode(),
        json.dumps([ENTRY | {"deleted": 0}]).encode(),
        json.dumps([ENTRY | {"size": 2**64}]).encode(),  # past what a size can be
        json.dumps([ENTRY]).encode().replace(b'"a"', b'"\xff"'),  # a name that is not UTF-8
        json.dumps([ENTRY]).replace('"size": 1', '"size": NaN').encode(),
    ],
)
def test_anything_but_an_array_of_whole_entries_is_a_bad_request(document):
    with pytest.raises(BadRequest):
        parse_batch(document, hashlib.sha256(document).hexdigest())


def test_an_entry_is_read_by_field_name_whatever_the_order_of_its_fields():
    document = json.dumps([dict(reversed(ENTRY.items())) | {"size": 7, "etag": "e"}]).encode()
    timestamp = Timestamp.parse("1700000000.00001")
    assert parse_batch(document, hashlib.sha256(document).hexdigest()) == [
        ObjectEntry("a", timestamp, False, 7, "e", "")
    ]


def replica_headers(host: str, device: str = "d1", partition: str = "7") -> dict[str, str]:
    prefix = "X-Backend-Container-"
    return {prefix + "Host": host, prefix + "Device": device, prefix + "Partition": partition}


def test_a_replica_named_in_headers_is_parsed_and_each_malformed_one_refused_every_time():
    assert parse_replica({}, "X-Backend-Container-") is None
    assert parse_replica(replica_headers("127.0.0.1:6201"), "X-Backend-Container-") == REPLICA
    assert parse_replica(replica_headers("[::1]:6201"), "X-Backend-Container-") == Replica(
        "[::1]:6201", "d1", 7
    )
    refused = [
        {"X-Backend-Container-Host": "127.0.0.1:6201"},  # not all three
        replica_headers("::1:6201"),  # IPv6 without brackets
        replica_headers("node-1:6201"),  # a host name
        replica_headers("127.0.0.1:6201", device="../d1"),
        replica_headers("127.0.0.1:6201", partition="-1"),
    ]
    for headers in refused * 2:  # (parsed replicas are remembered; refusals must not be)
        with pytest.raises(BadRequest):
            parse_replica(headers, "X-Backend-Container-")
