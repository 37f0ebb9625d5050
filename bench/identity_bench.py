"""Benchmark identity: token issue per second (over HTTP, real cluster) and local validations per second.

Starts a 3-node development cluster and one `dolmen identity` process, bootstrapped,
then measures:
- issue: POST /v3/auth/tokens (password, project-scoped, with catalog) at concurrency
  `--concurrency`, for the production argon2 cost and a cheap one; the peer is one bare
  argon2 verification at the same cost in this process (the floor a login cannot go under);
- validate: TokenValidator.validate on a project-scoped token, in-process, with
  `--revocations` live revocation events for other users; the peer is one bare
  MultiFernet decryption of the same token (the floor of any Fernet validation).
Prints one JSON object with ops_per_s, latency percentiles and the ratios.

    .venv/bin/python bench/identity_bench.py [--duration-s 3] [--concurrency 4] [--revocations 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import argon2
import requests
from cryptography.fernet import Fernet, MultiFernet
from dolmen.identity import TokenValidator
from dolmen.identity.revocations import RevocationEvent, RevocationList
from dolmen.identity.tokens import TokenCodec, new_audit_id
from dolmen.identity.validator import ValidationState

from dolmen.cluster import ClusterClient
from dolmen.devcluster import DevCluster, free_port_run
from dolmen.limits import OPENED_TOKENS_MAX

PASSWORD = "bench-" + secrets.token_hex(8)
CHEAP = {"password_time_cost": 1, "password_memory_cost_kib": 64, "password_parallelism": 1}


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)
    return {
        "latency_ms_p50": round(statistics.median(ordered) * 1000, 3),
        "latency_ms_p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
        "latency_ms_max": round(ordered[-1] * 1000, 3),
    }


class Identity:
    def __init__(self, root: Path, cluster: DevCluster, settings: dict[str, Any]) -> None:
        self.root, self.settings = root, settings
        self.port = free_port_run(1)
        identity = {"bind_port": self.port, **settings}
        lines = ["[identity]"] + [f"{k} = {json.dumps(v)}" for k, v in identity.items()]
        lines += ["[cluster]", f"ring_dir = {json.dumps(str(cluster.ring_dir))}"]
        lines += [f"cluster_secret_file = {json.dumps(str(cluster.secret_file))}"]
        self.config = root / "identity.toml"
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "dolmen", "identity", *args, "--config", str(self.config)]

    def start(self) -> None:
        subprocess.run(
            self.command("bootstrap", "--admin-password", PASSWORD), check=True, capture_output=True
        )
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthcheck", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("identity did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


def auth_body() -> dict[str, Any]:
    user = {"name": "admin", "password": PASSWORD, "domain": {"name": "Default"}}
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
        }
    }


def measure_issue(port: int, duration_s: float, concurrency: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/v3/auth/tokens"
    deadline = time.monotonic() + duration_s
    latencies: list[float] = []

    def worker() -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = session.post(url, json=auth_body(), timeout=60)
                assert response.status_code == 201, response.text
                latencies.append(time.perf_counter() - started)

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    elapsed = time.monotonic() - started
    return {
        "ops_per_s": round(len(latencies) / elapsed, 1),
        "requests": len(latencies),
        **percentiles(latencies),
    }


def argon2_floor(settings: dict[str, Any], duration_s: float) -> float:
    """Bare argon2 verifications per second, one thread, at the cost of `settings`."""
    hasher = argon2.PasswordHasher(
        time_cost=settings.get("password_time_cost", argon2.DEFAULT_TIME_COST),
        memory_cost=settings.get("password_memory_cost_kib", argon2.DEFAULT_MEMORY_COST),
        parallelism=settings.get("password_parallelism", argon2.DEFAULT_PARALLELISM),
    )
    stored = hasher.hash(PASSWORD)
    count, deadline, started = 0, time.monotonic() + duration_s, time.monotonic()
    while time.monotonic() < deadline:
        hasher.verify(stored, PASSWORD)
        count += 1
    return count / (time.monotonic() - started)


def time_per_call_s(function: Any, argument: Any, duration_s: float) -> tuple[float, list[float]]:
    samples: list[float] = []
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        started = time.perf_counter()
        for _ in range(100):
            function(argument)
        samples.append((time.perf_counter() - started) / 100)
    return statistics.median(samples), samples


async def measure_validate(
    cluster: DevCluster, port: int, duration_s: float, revocations: int
) -> dict[str, Any]:
    answer = await asyncio.to_thread(
        requests.post, f"http://127.0.0.1:{port}/v3/auth/tokens", json=auth_body(), timeout=60
    )
    token = answer.headers["X-Subject-Token"]
    client = await ClusterClient.open(cluster.client_config())
    try:
        validator = await TokenValidator.open(client)
        try:
            # Live revocations for other users, as a busy cluster would carry (in memory: the
            # validator's lookup cost, not the store's).
            now_s = time.time()
            events = [
                RevocationEvent(
                    issued_before_s=now_s, expires_at_s=now_s + 3600, user_id=secrets.token_hex(16)
                )
                for _ in range(revocations)
            ]
            state = validator.state
            validator._state = ValidationState(  # noqa: SLF001 - the benchmark loads a synthetic event list
                state.codec,
                state.keys,
                RevocationList(events),
                state.role_names,
                state.generation,
                state.loaded_at_s,
            )
            validate_s, samples = time_per_call_s(validator.validate, token, duration_s)
            # First use of each token: distinct tokens (fresh audit ids), so every call decrypts.
            primary = TokenCodec(state.keys.validation_keys()[:1])
            payload = state.codec.open(token)
            fresh = [
                primary.seal(dataclasses.replace(payload, audit_id=new_audit_id(secrets.token_bytes(16))))
                for _ in range(OPENED_TOKENS_MAX // 2)
            ]
            started_s = time.perf_counter()
            for each in fresh:
                validator.validate(each)
            first_use_s = (time.perf_counter() - started_s) / len(fresh)
            fernet = MultiFernet([Fernet(key) for key in state.keys.validation_keys()])
            padded = (token + "=" * (-len(token) % 4)).encode()
            fernet_s, _ = time_per_call_s(fernet.decrypt, padded, duration_s)
        finally:
            await validator.close()
    finally:
        await client.close()
    return {
        "ops_per_s": round(1 / validate_s),
        "latency_us_p50": round(validate_s * 1e6, 2),
        "latency_us_p99": round(sorted(samples)[int(len(samples) * 0.99)] * 1e6, 2),
        "first_use_latency_us_mean": round(first_use_s * 1e6, 2),
        "revocation_events": revocations,
        "token_chars": len(token),
        "peer_bare_fernet_decrypt_us": round(fernet_s * 1e6, 2),
        "ratio_validate_to_bare_fernet": round(validate_s / fernet_s, 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="identity-bench-") as temp:
        root = Path(temp)
        cluster = DevCluster(root / "cluster", free_port_run(3), nodes=3)
        await cluster.start()
        result: dict[str, Any] = {"concurrency": args.concurrency, "duration_s": args.duration_s}
        try:
            for label, settings in (("issue_production_cost", {}), ("issue_cheap_cost", CHEAP)):
                directory = root / label
                directory.mkdir()
                identity = Identity(directory, cluster, {"failed_logins_per_address_max": 10**6, **settings})
                identity.start()
                try:
                    issued = await asyncio.to_thread(
                        measure_issue, identity.port, args.duration_s, args.concurrency
                    )
                    floor = argon2_floor(settings, args.duration_s)
                    issued["peer_bare_argon2_verify_per_s"] = round(floor, 1)
                    issued["ratio_issue_to_bare_argon2"] = round(issued["ops_per_s"] / floor, 2)
                    result[label] = issued
                    if label == "issue_production_cost":
                        result["validate"] = await measure_validate(
                            cluster, identity.port, args.duration_s, args.revocations
                        )
                finally:
                    identity.stop()
        finally:
            await cluster.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--revocations", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
