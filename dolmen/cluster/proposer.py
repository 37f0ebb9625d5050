"""CASPaxos proposer: compare-and-swap on a register through the PREPARE/ACCEPT verbs of its acceptors.

The acceptors are the primaries of the register key's partition in the account ring
(placement.Rings.register_partition). A round: PREPARE with a ballot above any seen;
with promises from a quorum, continue from the value accepted at the highest ballot,
apply the change, ACCEPT it at the same ballot; done when a quorum accepts. A round
beaten by another proposer backs off (random, doubling) and retries, at most
register_rounds_max rounds (then RegisterContention). Fewer live acceptors than a
quorum: QuorumNotReached at once. See registers.py for why values carry operation ids.

A read first asks every acceptor's state (READ, which writes nothing): a value a quorum
accepted at one ballot is returned as it is (registers.agreed), so reads neither sync a
promise on the acceptors nor beat each other's ballots. Only when no quorum agrees (a write
in flight, or an acceptor behind while another is down) does it run a round with no change.

A cancel leaves the register either unchanged or changed by this call, never half
changed; the change may still become visible later (its ACCEPT reached some acceptors).
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
from collections.abc import Callable, Sequence

from dolmen.cluster.config import ClusterClientConfig
from dolmen.cluster.errors import BadName, QuorumNotReached, RegisterContention
from dolmen.cluster.names import node_path
from dolmen.cluster.placement import Rings, node_of, quorum_size
from dolmen.cluster.registers import (
    Ballot,
    Promise,
    agreed,
    already_chosen,
    backoff_s,
    decode_envelope,
    format_ballot,
    newest_accepted,
    parse_ballot,
)
from dolmen.cluster.transport import NodeAnswer, NodeError, Transport
from dolmen.limits import (
    REGISTER_KEY_BYTES_MAX,
    REGISTER_OPERATION_ID_BYTES,
    REGISTER_PAYLOAD_BYTES_MAX,
    REGISTER_PROPOSER_BYTES_MAX,
)

BALLOT_HEADER = "X-Backend-Register-Ballot"
VERB_HEADER = "X-Backend-Verb"

Change = Callable[[bytes | None], bytes | None]


def new_proposer_id() -> str:
    """Unique per client: host, process and random bits (ballots of two proposers never tie)."""
    proposer = f"{socket.gethostname()[:24]}-{os.getpid()}-{secrets.token_hex(6)}"
    assert len(proposer.encode()) <= REGISTER_PROPOSER_BYTES_MAX
    return proposer


def register_key_bytes(key: str) -> bytes:
    try:
        data = key.encode("utf-8")
    except (AttributeError, UnicodeEncodeError):
        raise BadName("register key must be a valid Unicode string") from None
    if not 1 <= len(data) <= REGISTER_KEY_BYTES_MAX:
        raise BadName(f"register key must be 1..{REGISTER_KEY_BYTES_MAX} bytes of UTF-8")
    return data


class _RoundLost(Exception):
    """Another proposer's ballot won this round: back off and retry."""


class Proposer:
    def __init__(self, transport: Transport, rings: Rings, config: ClusterClientConfig) -> None:
        self.transport = transport
        self.rings = rings
        self.config = config
        self.proposer_id = new_proposer_id()
        self._counter = 0
        self._random = random.Random()
        # Concurrent cas() calls of this process on one key take turns instead of fighting
        # each other with ballots: contention is then only between processes.
        self._turns: dict[bytes, tuple[asyncio.Lock, int]] = {}

    async def cas(self, key: str, change: Change) -> bytes | None:
        """Apply `change(current) -> new` atomically; return the register's value after it.

        `change` may run several times (once per round) and must not have side effects; an
        exception from it propagates and nothing is written. If a retry finds that this call's
        change already landed (adopted by another proposer), the register's current value is
        returned without applying it again. Raises QuorumNotReached, RegisterContention, BadName.
        """
        key_bytes = register_key_bytes(key)
        lock, users = self._turns.get(key_bytes, (asyncio.Lock(), 0))
        self._turns[key_bytes] = (lock, users + 1)
        try:
            async with lock:
                return await self._cas(key, key_bytes, change)
        finally:
            lock, users = self._turns[key_bytes]
            if users == 1:
                del self._turns[key_bytes]
            else:
                self._turns[key_bytes] = (lock, users - 1)

    async def read(self, key: str) -> bytes | None:
        """The register's value, linearizable; see the module docstring.

        Raises QuorumNotReached, RegisterContention, BadName.
        """
        nodes = self.acceptors(register_key_bytes(key))
        quorum = quorum_size(len(nodes))
        answers = await self._ask(
            nodes,
            "GET",
            {VERB_HEADER: "READ"},
            None,
            quorum,
            enough=lambda answers: agreed(accepted_states(answers), quorum) is not None,
        )
        state = agreed(accepted_states(answers), quorum)
        if state is None:
            return await self.cas(key, unchanged)
        return decode_envelope(state.value).value

    def acceptors(self, key_bytes: bytes) -> list[tuple[str, str]]:
        """(node, path) of each acceptor of the register `key_bytes`."""
        partition, acceptors = self.rings.register_partition(key_bytes)
        return [(node_of(device), node_path(device.device, partition, key_bytes)) for device in acceptors]

    async def _cas(self, key: str, key_bytes: bytes, change: Change) -> bytes | None:
        nodes = self.acceptors(key_bytes)
        operation = secrets.token_bytes(REGISTER_OPERATION_ID_BYTES)
        for round_number in range(1, self.config.register_rounds_max + 1):
            try:
                return await self._round(nodes, change, operation)
            except _RoundLost:
                pause_s = backoff_s(
                    round_number,
                    minimum_s=self.config.register_backoff_s_min,
                    maximum_s=self.config.register_backoff_s_max,
                    unit=self._random.random(),
                )
                await asyncio.sleep(pause_s)
        raise RegisterContention(f"register {key!r}: {self.config.register_rounds_max} rounds lost")

    async def _round(self, nodes: list[tuple[str, str]], change: Change, operation: bytes) -> bytes | None:
        quorum = quorum_size(len(nodes))
        said_yes = quorum_said_yes(quorum)
        self._counter += 1
        ballot = Ballot(self._counter, self.proposer_id)
        headers = {VERB_HEADER: "PREPARE", BALLOT_HEADER: format_ballot(ballot)}
        answers = await self._ask(nodes, "POST", headers, None, quorum, enough=said_yes)
        promises = accepted_states(answers)
        if len(promises) < quorum:
            raise _RoundLost()
        newest = newest_accepted(promises)
        current = decode_envelope(newest.value)
        if operation in current.operations:
            return current.value  # this call's change landed in an earlier round
        new_value = change(current.value)
        if new_value is not None and len(new_value) > REGISTER_PAYLOAD_BYTES_MAX:
            raise BadName(f"register value over {REGISTER_PAYLOAD_BYTES_MAX} bytes")
        if new_value == current.value:
            if newest.value is None or already_chosen(promises, quorum):
                return current.value  # a read of a chosen value needs no ACCEPT
            proposed = current  # re-accept it at our ballot, so that it is chosen before we answer
        else:
            proposed = current.changed(new_value, operation)
        headers = {VERB_HEADER: "ACCEPT", BALLOT_HEADER: format_ballot(ballot)}
        answers = await self._ask(nodes, "POST", headers, proposed.encode(), quorum, enough=said_yes)
        if not said_yes(answers):
            raise _RoundLost()
        return proposed.value

    async def _ask(
        self,
        nodes: list[tuple[str, str]],
        method: str,
        headers: dict[str, str],
        body: bytes | None,
        quorum: int,
        *,
        enough: Callable[[list[NodeAnswer]], bool],
    ) -> list[NodeAnswer]:
        """Send to every acceptor; return once the answers so far are `enough`, or every answer is in.

        Learns higher ballots from the answers. Raises QuorumNotReached when fewer than
        `quorum` acceptors answered at all (down, not merely beaten).
        """
        tasks = [
            asyncio.ensure_future(self.transport.request(node, method, path, headers=headers, body=body))
            for node, path in nodes
        ]
        answers: list[NodeAnswer] = []
        failed = 0
        try:
            for next_done in asyncio.as_completed(tasks):
                try:
                    answer = await next_done
                except NodeError:
                    failed += 1
                    if len(nodes) - failed < quorum:
                        raise QuorumNotReached(
                            f"register: {failed} of {len(nodes)} acceptors unreachable"
                        ) from None
                    continue
                highest = parse_ballot(  # PREPARE and ACCEPT say the highest; READ, its promise
                    answer.headers.get("X-Backend-Register-Highest-Ballot")
                    or answer.headers.get("X-Backend-Register-Promised-Ballot")
                )
                self._counter = max(self._counter, highest.counter)
                if answer.status not in (200, 409):
                    failed += 1
                    if len(nodes) - failed < quorum:
                        raise QuorumNotReached(f"register: acceptor answered {answer.status}")
                    continue
                answers.append(answer)
                if enough(answers):
                    break
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return answers


def unchanged(current: bytes | None) -> bytes | None:
    """The change of a read: none."""
    return current


def quorum_said_yes(quorum: int) -> Callable[[list[NodeAnswer]], bool]:
    """Whether `quorum` of the answers so far are yes (200): enough for PREPARE and ACCEPT."""
    return lambda answers: sum(answer.status == 200 for answer in answers) >= quorum


def accepted_states(answers: Sequence[NodeAnswer]) -> list[Promise]:
    """What each acceptor that answered 200 (a promise, or a READ) had accepted."""
    return [
        Promise(
            parse_ballot(answer.headers.get("X-Backend-Register-Accepted-Ballot")),
            answer.body if answer.headers.get("X-Backend-Register-Has-Value") == "true" else None,
        )
        for answer in answers
        if answer.status == 200
    ]
