"""CASPaxos acceptor rules, checked against the safety properties a proposer relies on."""

from __future__ import annotations

import pytest
from dolmen.storage_node.errors import InvalidRegister
from dolmen.storage_node.registers import (
    EMPTY_STATE,
    Ballot,
    RegisterState,
    accept,
    check_ballot,
    check_value,
    decode_state,
    encode_state,
    prepare,
)
from hypothesis import given
from hypothesis import strategies as st

ballots = st.builds(Ballot, st.integers(1, 20), st.sampled_from(["p1", "p2", "p3"]))
values = st.binary(max_size=8)
messages = st.lists(
    st.one_of(st.tuples(st.just("prepare"), ballots), st.tuples(st.just("accept"), ballots, values))
)


@given(script=messages)
def test_acceptor_state_only_moves_forward_and_honours_promises(script):
    state = EMPTY_STATE
    for message in script:
        before = state
        if message[0] == "prepare":
            state, answer = prepare(state, message[1])
            assert answer.ok == (message[1] >= before.promised and message[1] > before.accepted)
            assert answer.accepted == before.accepted and answer.value == before.value
        else:
            _, ballot, value = message
            state, answer = accept(state, ballot, value)
            if answer.ok and state != before:
                # Never accept below a promise or at/below an earlier acceptance.
                assert ballot >= before.promised and ballot > before.accepted
                assert state.value == value and state.accepted == ballot
        if not answer.ok:
            assert state == before and answer.highest == max(before.promised, before.accepted)
            assert answer.highest >= message[1] or answer.highest == before.accepted
        assert state.promised >= before.promised and state.accepted >= before.accepted
        assert state.promised >= state.accepted
        assert decode_state(encode_state(state)) == state


@given(ballot=ballots, value=values)
def test_a_retried_accept_is_idempotent_and_a_conflicting_one_is_rejected(ballot, value):
    state, answer = accept(EMPTY_STATE, ballot, value)
    assert answer.ok
    again, answer = accept(state, ballot, value)
    assert answer.ok and again == state
    _, answer = accept(state, ballot, value + b"!")
    assert not answer.ok


def test_a_promise_blocks_lower_accepts():
    state, answer = prepare(EMPTY_STATE, Ballot(2, "b"))
    assert answer.ok
    _, answer = accept(state, Ballot(1, "a"), b"x")
    assert not answer.ok and answer.highest == Ballot(2, "b")
    state, answer = accept(state, Ballot(2, "b"), b"y")
    assert answer.ok and state == RegisterState(Ballot(2, "b"), Ballot(2, "b"), b"y")


@pytest.mark.parametrize("ballot", [Ballot(0, "a"), Ballot(1, ""), Ballot(1, "x" * 65), Ballot(-1, "a")])
def test_bad_ballots_are_refused(ballot):
    with pytest.raises(InvalidRegister):
        check_ballot(ballot)


def test_values_over_64_kib_are_refused():
    check_value(b"x" * 65536)
    with pytest.raises(InvalidRegister):
        check_value(b"x" * 65537)
