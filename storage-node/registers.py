"""CASPaxos acceptor rules for single-key registers, as pure functions over the acceptor's state.

A register's acceptor state is (promised ballot, accepted ballot, accepted value). Ballots are
(counter, proposer id) pairs ordered lexicographically; every proposer has its own id, so two
proposers never use the same ballot. ZERO_BALLOT (0, "") is below every ballot a proposer uses.

Rules (Rystsov, "CASPaxos: Replicated State Machines without logs", 2018):
- prepare(b): promise iff b >= promised and b > accepted. The promise returns the accepted
  ballot and value so the proposer can pick the value with the highest accepted ballot.
  Re-promising the same ballot is allowed so that a proposer may retry a lost answer.
  Otherwise reject with the highest ballot seen, so the proposer can pick a higher one.
- accept(b, v): accept iff b >= promised and b > accepted; then promised = accepted = b and
  value = v. Accepting the same ballot with the same value again is an idempotent success (a
  retried message); the same ballot with another value is rejected (a proposer bug or a forgery).

The store (device.py) makes the new state durable (a synced LMDB commit) before answering.
Serialized state (sub-database "registers", key = the register key, 1..REGISTER_KEY_BYTES_MAX
bytes): version 1 byte = 1, promised counter 8 bytes, accepted counter 8 bytes, has-value
1 byte, promised proposer and accepted proposer each a 1-byte length then UTF-8, then the value.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from dolmen.storage_node.errors import InvalidRegister

from dolmen.limits import REGISTER_KEY_BYTES_MAX, REGISTER_PROPOSER_BYTES_MAX, REGISTER_VALUE_BYTES_MAX

REGISTER_FORMAT_VERSION = 1
COUNTER_MAX = 2**64 - 1

_HEADER = struct.Struct(">BQQB")


class Ballot(NamedTuple):
    """A proposal number: compared as (counter, proposer)."""

    counter: int
    proposer: str


ZERO_BALLOT = Ballot(0, "")


@dataclass(frozen=True, slots=True)
class RegisterState:
    """An acceptor's durable state for one register; `value` is None until something is accepted."""

    promised: Ballot = ZERO_BALLOT
    accepted: Ballot = ZERO_BALLOT
    value: bytes | None = None


EMPTY_STATE = RegisterState()


@dataclass(frozen=True, slots=True)
class PrepareAnswer:
    """`ok`: promised. Either way `accepted`/`value` are the acceptor's; `highest` is the highest ballot seen."""

    ok: bool
    accepted: Ballot
    value: bytes | None
    highest: Ballot


@dataclass(frozen=True, slots=True)
class AcceptAnswer:
    """`ok`: accepted; otherwise `highest` is the ballot that beat it."""

    ok: bool
    highest: Ballot


def check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes) or not 1 <= len(key) <= REGISTER_KEY_BYTES_MAX:
        raise InvalidRegister(f"register key must be 1..{REGISTER_KEY_BYTES_MAX} bytes")
    return key


def check_ballot(ballot: Ballot) -> Ballot:
    """A ballot a proposer may use: counter 1..2**64-1 and a non-empty proposer id."""
    counter, proposer = ballot
    if isinstance(counter, bool) or not isinstance(counter, int) or not 1 <= counter <= COUNTER_MAX:
        raise InvalidRegister(f"ballot counter must be 1..{COUNTER_MAX}")
    if not isinstance(proposer, str) or not proposer or "\0" in proposer:
        raise InvalidRegister("ballot proposer must be a non-empty string without NUL")
    try:
        size = len(proposer.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidRegister("ballot proposer is not valid Unicode") from None
    if size > REGISTER_PROPOSER_BYTES_MAX:
        raise InvalidRegister(f"ballot proposer over {REGISTER_PROPOSER_BYTES_MAX} bytes")
    return Ballot(counter, proposer)


def check_value(value: bytes) -> bytes:
    if not isinstance(value, bytes) or len(value) > REGISTER_VALUE_BYTES_MAX:
        raise InvalidRegister(f"register value must be at most {REGISTER_VALUE_BYTES_MAX} bytes")
    return value


def highest(state: RegisterState) -> Ballot:
    return max(state.promised, state.accepted)


def prepare(state: RegisterState, ballot: Ballot) -> tuple[RegisterState, PrepareAnswer]:
    """The acceptor's answer to PREPARE(ballot) and its state afterwards (unchanged on reject)."""
    if ballot >= state.promised and ballot > state.accepted:
        after = RegisterState(promised=ballot, accepted=state.accepted, value=state.value)
        return after, PrepareAnswer(True, state.accepted, state.value, ballot)
    return state, PrepareAnswer(False, state.accepted, state.value, highest(state))


def accept(state: RegisterState, ballot: Ballot, value: bytes) -> tuple[RegisterState, AcceptAnswer]:
    """The acceptor's answer to ACCEPT(ballot, value) and its state afterwards (unchanged on reject)."""
    if ballot == state.accepted and value == state.value:
        return state, AcceptAnswer(True, ballot)  # a retried ACCEPT
    if ballot >= state.promised and ballot > state.accepted:
        return RegisterState(promised=ballot, accepted=ballot, value=value), AcceptAnswer(True, ballot)
    return state, AcceptAnswer(False, highest(state))


def encode_state(state: RegisterState) -> bytes:
    promised_proposer = state.promised.proposer.encode("utf-8")
    accepted_proposer = state.accepted.proposer.encode("utf-8")
    return b"".join(
        (
            _HEADER.pack(
                REGISTER_FORMAT_VERSION,
                state.promised.counter,
                state.accepted.counter,
                state.value is not None,
            ),
            bytes([len(promised_proposer)]),
            promised_proposer,
            bytes([len(accepted_proposer)]),
            accepted_proposer,
            state.value or b"",
        )
    )


def decode_state(data: bytes) -> RegisterState:
    version, promised_counter, accepted_counter, has_value = _HEADER.unpack_from(data)
    assert version == REGISTER_FORMAT_VERSION, f"register format {version} is not supported"
    offset = _HEADER.size
    size = data[offset]
    promised_proposer = data[offset + 1 : offset + 1 + size].decode("utf-8")
    offset += 1 + size
    size = data[offset]
    accepted_proposer = data[offset + 1 : offset + 1 + size].decode("utf-8")
    offset += 1 + size
    return RegisterState(
        promised=Ballot(promised_counter, promised_proposer),
        accepted=Ballot(accepted_counter, accepted_proposer),
        value=bytes(data[offset:]) if has_value else None,
    )
