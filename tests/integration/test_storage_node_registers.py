"""Registers: CASPaxos through three real nodes; racing proposers never both change one version."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from helpers.storage_node import NodeProcess, SignedClient

KEY = "/buckets/photos"
PROPOSERS = 4
ATTEMPTS_PER_PROPOSER = 12


def register_path(key: str) -> str:
    return f"/d1/42/{quote(key, safe='')}"


def parse_ballot(text: str) -> tuple[int, str]:
    counter, _, proposer = text.partition(" ")
    return int(counter), proposer


@dataclass
class Proposer:
    """A test-harness CASPaxos proposer (the cluster client will have the real one)."""

    name: str
    acceptors: list[SignedClient]
    counter: int = 0

    @property
    def quorum(self) -> int:
        return len(self.acceptors) // 2 + 1

    async def change(self, key: str, change) -> dict | None:
        """One CAS round: apply `change(current) -> new or None`; the new value if it was accepted."""
        self.counter += 1
        ballot = f"{self.counter} {self.name}"
        headers = {"X-Backend-Register-Ballot": ballot}
        answers = await asyncio.gather(
            *(acceptor.request("PREPARE", register_path(key), headers=headers) for acceptor in self.acceptors)
        )
        self.counter = max(
            [self.counter]
            + [parse_ballot(a.headers["X-Backend-Register-Highest-Ballot"])[0] for a in answers]
        )
        promises = [answer for answer in answers if answer.status == 200]
        if len(promises) < self.quorum:
            return None
        newest = max(promises, key=lambda a: parse_ballot(a.headers["X-Backend-Register-Accepted-Ballot"]))
        current = (
            json.loads(newest.body) if newest.headers["X-Backend-Register-Has-Value"] == "true" else None
        )
        proposed = change(current)
        if proposed is None:
            return None
        value = json.dumps(proposed).encode()
        accepted = await asyncio.gather(
            *(
                acceptor.request("ACCEPT", register_path(key), headers=headers, body=value)
                for acceptor in self.acceptors
            )
        )
        return proposed if sum(answer.status == 200 for answer in accepted) >= self.quorum else None


@pytest.fixture(scope="module")
def three_nodes(tmp_path_factory):
    nodes = [NodeProcess(tmp_path_factory.mktemp(f"acceptor{index}")) for index in range(3)]
    for node in nodes:
        node.launch()
    for node in nodes:
        node.wait_healthy()
    yield nodes
    for node in nodes:
        node.stop()


async def test_racing_proposers_never_both_change_the_same_version(three_nodes):
    seed = random.randrange(2**32)
    print(f"seed={seed}")
    rng = random.Random(seed)
    successes: list[tuple[int, str]] = []
    clients = [SignedClient(node.url) for node in three_nodes]
    for client in clients:
        await client.__aenter__()
    try:

        async def run(name: str) -> None:
            proposer = Proposer(name, clients)
            for _ in range(ATTEMPTS_PER_PROPOSER):
                await asyncio.sleep(rng.random() * 0.01)

                def bump(current):
                    version = 0 if current is None else current["version"]
                    return {"version": version + 1, "writer": name}

                result = await proposer.change(KEY, bump)
                if result is not None:
                    successes.append((result["version"], name))

        await asyncio.gather(*(run(f"proposer-{index}") for index in range(PROPOSERS)))
        versions = [version for version, _ in successes]
        assert len(versions) == len(set(versions)), f"two proposers changed one version (seed {seed})"
        # (A version may be missing: an ACCEPT that reached only a minority can still be built upon.)
        assert len(versions) >= ATTEMPTS_PER_PROPOSER // 2
        reader = Proposer("reader", clients)
        for _ in range(5):  # the reader's first ballots may be too low: it learns the highest and retries
            final = await reader.change(KEY, lambda current: current)  # a linearizable read
            if final is not None:
                break
        assert final is not None and final["version"] == max(versions)
    finally:
        for client in clients:
            await client.__aexit__(None, None, None)


async def test_acceptor_state_survives_a_restart_and_stale_ballots_are_rejected(three_nodes):
    node = three_nodes[0]
    path = register_path("/leases/volume-1")
    async with SignedClient(node.url) as client:
        assert (
            await client.request("PREPARE", path, headers={"X-Backend-Register-Ballot": "5 a"})
        ).status == 200
        accept = await client.request(
            "ACCEPT", path, headers={"X-Backend-Register-Ballot": "5 a"}, body=b"v1"
        )
        assert accept.status == 200
        stale = await client.request("PREPARE", path, headers={"X-Backend-Register-Ballot": "4 z"})
        assert stale.status == 409 and stale.headers["X-Backend-Register-Highest-Ballot"] == "5 a"
        assert stale.body == b"v1"
    node.stop()
    node.start()
    async with SignedClient(node.url) as client:
        state = await client.request("READ", path)
        assert state.status == 200 and state.body == b"v1"
        assert state.headers["X-Backend-Register-Accepted-Ballot"] == "5 a"
        again = await client.request("ACCEPT", path, headers={"X-Backend-Register-Ballot": "5 a"}, body=b"v1")
        assert again.status == 200  # a retried ACCEPT is idempotent
        other = await client.request("ACCEPT", path, headers={"X-Backend-Register-Ballot": "5 a"}, body=b"v2")
        assert other.status == 409
