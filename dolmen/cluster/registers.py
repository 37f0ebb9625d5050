"""CASPaxos proposer logic over register values, pure: ballots, the value envelope, round decisions.

A register's value as the acceptors store it is an envelope around the caller's bytes:

    offset  size  field
    0       1     format version (1)
    1       1     1 if the register holds a value, 0 if it was deleted (cas returned None)
    2       1     n, the number of operation ids that follow (0..REGISTER_OPERATIONS_REMEMBERED)
    3       8n    the ids of the newest operations that changed the register, newest first
    3+8n    rest  the caller's value

Why operation ids: an ACCEPT that reached only a minority may still be adopted and
completed by another proposer. Without a record of it, the first proposer would retry and
apply its change twice (a counter would count one increment twice; a create would find
"its" record and report that someone else won). Each `cas` call draws a random id and the
value it produces lists it, so a retry that finds its id knows its change already landed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, unquote

from dolmen.limits import (
    REGISTER_ENVELOPE_BYTES_MAX,
    REGISTER_OPERATION_ID_BYTES,
    REGISTER_OPERATIONS_REMEMBERED,
    REGISTER_PAYLOAD_BYTES_MAX,
    REGISTER_VALUE_BYTES_MAX,
)

ENVELOPE_VERSION = 1
_HEADER = struct.Struct(">BBB")


class Ballot(NamedTuple):
    """A proposal number, ordered as (counter, proposer)."""

    counter: int
    proposer: str


ZERO_BALLOT = Ballot(0, "")


def format_ballot(ballot: Ballot) -> str:
    return f"{ballot.counter} {quote(ballot.proposer, safe='')}"


def parse_ballot(text: str | None) -> Ballot:
    """A ballot header as answered by an acceptor; ZERO_BALLOT if absent or malformed."""
    if not text:
        return ZERO_BALLOT
    counter, _, proposer = text.partition(" ")
    if not counter.isascii() or not counter.isdigit():
        return ZERO_BALLOT
    return Ballot(int(counter), unquote(proposer))


@dataclass(frozen=True, slots=True)
class Envelope:
    """A register value: the caller's bytes (None: deleted or never set) and recent operation ids."""

    value: bytes | None
    operations: tuple[bytes, ...] = ()

    def encode(self) -> bytes:
        assert len(self.operations) <= REGISTER_OPERATIONS_REMEMBERED
        assert all(len(operation) == REGISTER_OPERATION_ID_BYTES for operation in self.operations)
        payload = self.value or b""
        assert len(payload) <= REGISTER_PAYLOAD_BYTES_MAX
        data = b"".join(
            (
                _HEADER.pack(ENVELOPE_VERSION, self.value is not None, len(self.operations)),
                *self.operations,
                payload,
            )
        )
        assert len(data) <= REGISTER_VALUE_BYTES_MAX
        return data

    def changed(self, value: bytes | None, operation: bytes) -> Envelope:
        """The envelope after `operation` set `value`: its id goes first, the oldest id drops off."""
        kept = self.operations[: REGISTER_OPERATIONS_REMEMBERED - 1]
        return Envelope(value, (operation, *kept))


EMPTY = Envelope(None)


def decode_envelope(data: bytes | None) -> Envelope:
    """The envelope an acceptor holds (None: it never accepted anything). ValueError if malformed."""
    if data is None:
        return EMPTY
    if len(data) < _HEADER.size:
        raise ValueError("register value shorter than its header")
    version, has_value, count = _HEADER.unpack_from(data)
    if version != ENVELOPE_VERSION or has_value > 1 or count > REGISTER_OPERATIONS_REMEMBERED:
        raise ValueError("not a register value of this format")
    start = _HEADER.size
    end = start + count * REGISTER_OPERATION_ID_BYTES
    if len(data) < end:
        raise ValueError("register value shorter than its operation ids")
    operations = tuple(
        data[offset : offset + REGISTER_OPERATION_ID_BYTES]
        for offset in range(start, end, REGISTER_OPERATION_ID_BYTES)
    )
    return Envelope(data[end:] if has_value else None, operations)


@dataclass(frozen=True, slots=True)
class Promise:
    """What one acceptor had accepted (ballot and raw value, None if nothing), as its promise or
    its READ answer says."""

    accepted: Ballot
    value: bytes | None


def agreed(promises: list[Promise], quorum: int) -> Promise | None:
    """The state that `quorum` of these acceptors share (the same accepted ballot), or None.

    A read may return that value without a promise or an ACCEPT: it is chosen, and nothing was
    chosen at a higher ballot before the acceptors answered (that would have been accepted by
    one of them, and accepted ballots only grow). Writes still in flight, accepted by a
    minority, are ordered after the read.
    """
    counts: dict[Ballot, int] = {}
    for promise in promises:
        counts[promise.accepted] = counts.get(promise.accepted, 0) + 1
        if counts[promise.accepted] >= quorum:
            return promise
    return None


def newest_accepted(promises: list[Promise]) -> Promise:
    """The promise whose accepted ballot is highest: CASPaxos continues from its value."""
    assert promises
    return max(promises, key=lambda promise: promise.accepted)


def already_chosen(promises: list[Promise], quorum: int) -> bool:
    """True if a quorum of these promises accepted the newest value at the same ballot.

    That value is then chosen, and no later write has completed (it would have reached one of
    these acceptors), so a read may return it without an ACCEPT round.
    """
    newest = newest_accepted(promises).accepted
    return sum(promise.accepted == newest for promise in promises) >= quorum


def backoff_s(round_number: int, *, minimum_s: float, maximum_s: float, unit: float) -> float:
    """The random pause before round `round_number` (1-based): uniform up to a doubling cap.

    `unit` is a random number in [0, 1) supplied by the caller (randomness as an argument).
    """
    assert round_number >= 1 and 0 <= unit < 1
    return unit * min(maximum_s, minimum_s * 2 ** (round_number - 1))


assert (
    _HEADER.size + REGISTER_OPERATION_ID_BYTES * REGISTER_OPERATIONS_REMEMBERED == REGISTER_ENVELOPE_BYTES_MAX
)
