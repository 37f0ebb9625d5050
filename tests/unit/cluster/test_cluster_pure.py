"""Pure parts of the cluster client: quorum arithmetic, error limiting, handoff choice, register envelopes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from dolmen.ring.devices import Device
from dolmen.storage_node.timestamps import Timestamp
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from dolmen.cluster.errorlimit import ErrorLimiter
from dolmen.cluster.errors import QuorumNotReached
from dolmen.cluster.objects import HandoffSource, Objects, PutResult, check_container_updates
from dolmen.cluster.placement import affinity_order, quorum_size
from dolmen.cluster.registers import (
    EMPTY,
    Ballot,
    Envelope,
    Promise,
    agreed,
    already_chosen,
    backoff_s,
    decode_envelope,
    format_ballot,
    newest_accepted,
    parse_ballot,
)
from dolmen.cluster.transport import NodeAnswer
from dolmen.limits import REGISTER_OPERATION_ID_BYTES, REGISTER_OPERATIONS_REMEMBERED


def device(device_id: int, *, port: int | None = None, region: int = 1, zone: int = 1) -> Device:
    return Device(
        id=device_id,
        region=region,
        zone=zone,
        ip="127.0.0.1",
        port=port or 6000 + device_id,
        device="d1",
        weight=1.0,
    )


@given(st.integers(1, 16))
def test_any_two_quorums_overlap_and_a_quorum_survives_a_minority_down(replicas):
    quorum = quorum_size(replicas)
    assert 2 * quorum > replicas  # R + W > N
    assert quorum <= replicas and replicas - quorum == (replicas - 1) // 2


def test_a_node_is_limited_after_enough_errors_within_the_interval_and_recovers_after_it():
    limiter = ErrorLimiter(errors_max=3, interval_s=10.0)
    assert not limiter.record_error("a", 0.0) and not limiter.record_error("a", 1.0)
    assert not limiter.is_limited("a", 1.0)
    assert limiter.record_error("a", 2.0)  # the third error limits it
    assert limiter.is_limited("a", 11.9) and not limiter.is_limited("b", 2.0)
    assert not limiter.is_limited("a", 12.0)  # interval_s after its last error


def test_errors_spread_wider_than_the_interval_never_limit():
    limiter = ErrorLimiter(errors_max=3, interval_s=10.0)
    for now_s in (0.0, 6.0, 12.0, 18.0, 24.0):
        limiter.record_error("a", now_s)
        assert not limiter.is_limited("a", now_s)


@given(down=st.sets(st.integers(0, 7)), tries_max=st.integers(0, 8))
def test_handoffs_stand_in_on_usable_nodes_never_twice_and_within_their_bound(down, tries_max):
    devices = [device(index, port=6000 + index % 4) for index in range(8)]  # two devices per node
    primaries, handoffs = devices[:3], devices[3:]
    source = HandoffSource(iter(handoffs), primaries, tries_max)
    source.unusable = {devices[index].host for index in down}
    given_out = [found for found in iter(source, None)]
    assert len({d.id for d in given_out}) == len(given_out)
    assert not {d.id for d in given_out} & {d.id for d in primaries}
    assert all(d.host not in source.unusable for d in given_out)
    expected = [d for d in handoffs[:tries_max] if d.host not in source.unusable]
    assert given_out == expected


def test_reads_prefer_the_zone_then_the_region_of_the_client():
    devices = [device(0, region=2, zone=1), device(1, region=1, zone=2), device(2, region=1, zone=1)]
    assert [d.id for d in affinity_order(devices, region=1, zone=1)] == [2, 1, 0]
    assert [d.id for d in affinity_order(devices, region=1, zone=None)] == [1, 2, 0]
    assert [d.id for d in affinity_order(devices, region=None, zone=None)] == [0, 1, 2]


operation_ids = st.binary(min_size=REGISTER_OPERATION_ID_BYTES, max_size=REGISTER_OPERATION_ID_BYTES)


@given(
    value=st.none() | st.binary(max_size=512),
    operations=st.lists(operation_ids, max_size=REGISTER_OPERATIONS_REMEMBERED),
)
def test_register_envelopes_round_trip(value, operations):
    envelope = Envelope(value, tuple(operations))
    assert decode_envelope(envelope.encode()) == envelope


@given(st.lists(operation_ids, min_size=1, max_size=3 * REGISTER_OPERATIONS_REMEMBERED))
def test_an_envelope_remembers_the_newest_operations_first_and_no_more_than_its_bound(operations):
    envelope = EMPTY
    for operation in operations:
        envelope = envelope.changed(b"v", operation)
    assert list(envelope.operations) == operations[::-1][:REGISTER_OPERATIONS_REMEMBERED]


@pytest.mark.parametrize("data", [b"", b"\x02\x01\x00", b"\x01\x02\x00", b"\x01\x01\x02" + b"x" * 8])
def test_malformed_register_values_are_refused(data):
    with pytest.raises(ValueError):
        decode_envelope(data)


@given(st.integers(1, 2**64 - 1), st.text(min_size=1, max_size=20).filter(lambda text: "\0" not in text))
def test_ballots_round_trip_through_their_header_form(counter, proposer):
    ballot = Ballot(counter, proposer)
    assert parse_ballot(format_ballot(ballot)) == ballot


def test_a_value_accepted_by_a_quorum_at_one_ballot_is_already_chosen():
    a, b = Ballot(3, "p"), Ballot(4, "q")
    assert already_chosen([Promise(a, b"x"), Promise(a, b"x")], 2)
    assert not already_chosen([Promise(a, b"x"), Promise(b, b"y")], 2)
    assert newest_accepted([Promise(a, b"x"), Promise(b, b"y")]).value == b"y"


def test_a_read_returns_the_state_a_quorum_shares_even_under_a_newer_minority():
    old, new, newer = Ballot(3, "p"), Ballot(4, "q"), Ballot(5, "r")
    assert agreed([Promise(new, b"y"), Promise(old, b"x"), Promise(old, b"x")], 2) == Promise(old, b"x")
    assert agreed([Promise(new, b"y"), Promise(new, b"y")], 2) == Promise(new, b"y")
    assert agreed([Promise(old, b"x"), Promise(new, b"y"), Promise(newer, b"z")], 2) is None
    assert agreed([Promise(old, b"x")], 2) is None
    assert agreed([], 1) is None
    never_written = Promise(Ballot(0, ""), None)
    assert agreed([never_written, never_written], 2) == never_written


@given(st.integers(1, 40), st.floats(0, 0.999))
def test_backoff_doubles_up_to_its_cap(round_number, unit):
    pause = backoff_s(round_number, minimum_s=0.01, maximum_s=0.5, unit=unit)
    assert 0 <= pause <= min(0.5, 0.01 * 2 ** (round_number - 1))


def _answer(node: str, status: int, update: str) -> NodeAnswer:
    return NodeAnswer(
        node, status, CIMultiDictProxy(CIMultiDict({"X-Backend-Container-Update": update})), b""
    )


def test_container_updates_count_replicas_not_nodes() -> None:
    # Three nodes, C down: a primary on B and the handoff beside it on B each updated their
    # own container replica, so two container replicas hold the entry.
    check_container_updates(
        [_answer("A:1", 201, "queued"), _answer("B:1", 201, "done"), _answer("B:1", 201, "done")], (201,), 2
    )
    with pytest.raises(QuorumNotReached):
        check_container_updates(
            [_answer("A:1", 201, "queued"), _answer("B:1", 201, "done"), _answer("C:1", 503, "done")],
            (201,),
            2,
        )


def test_a_write_superseded_beside_a_queued_update_is_acknowledged_as_superseded() -> None:
    # Racing writes of one name, one node down: a newer write won on one replica (409), ours is
    # stored on two, and one of those two updates is queued for the down node's container replica.
    result = PutResult(etag="e", timestamp=Timestamp.from_seconds(1.0), bytes=0)
    answers = [_answer("A:1", 201, "queued"), _answer("B:1", 201, "done"), _answer("B:1", 409, "")]
    assert Objects._put_outcome(answers, 2, result) == replace(result, superseded=True)
    answers[2] = _answer("B:1", 201, "queued")
    with pytest.raises(QuorumNotReached):  # no newer write: the listing may really miss it
        Objects._put_outcome(answers, 2, result)
    answers[2] = _answer("B:1", 201, "done")
    assert Objects._put_outcome(answers, 2, result) is result


def test_a_write_stored_on_a_minority_beside_a_newer_one_is_superseded_not_failed() -> None:
    # Two racing writes: the newer one is stored where ours is not (409 to us). A quorum holds
    # ours or newer, so any quorum read shows at least ours: acknowledged, as superseded.
    result = PutResult(etag="e", timestamp=Timestamp.from_seconds(1.0), bytes=0)
    answers = [_answer("A:1", 201, "done"), _answer("B:1", 409, ""), _answer("C:1", 409, "")]
    assert Objects._put_outcome(answers, 2, result).superseded
    answers[2] = _answer("C:1", 503, "")
    assert Objects._put_outcome(answers, 2, result).superseded
    answers[1] = _answer("B:1", 503, "")
    with pytest.raises(QuorumNotReached):  # ours on one replica only, nothing newer known
        Objects._put_outcome(answers, 2, result)
