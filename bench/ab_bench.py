"""Two builds of the storage node side by side: is a change faster, by a few per cent?

On this shared 2-core machine a node's rate drifts by 10-25% between runs of a few seconds,
so two runs of node_bench.py, one per build, cannot tell a change of 2-5% from the drift.
This bench runs both builds at once instead: each revision is installed apart (`pip install
--target`), each gets its own node (and its own container node for the second-node case),
and one load generator alternates short slices between them, who goes first alternating
too. Each pair of slices saw the same machine; the median of the pairs' ratios is the
answer. Run it with `--change` equal to `--base` to see the noise of the method itself: on
this machine such medians came out at 0.96-1.03 with 12 pairs and 1.00-1.02 with 24 (the
default, about a minute).

Cases, all 4 KiB PUTs at one concurrency, as in node_bench.py:

* `put_4k`: no container update;
* `put_4k_update`: the container replica on the node's own device;
* `put_4k_update_remote`: the container replica on a second node (over HTTP).

    .venv/bin/python bench/ab_bench.py --base main [--change WORKTREE|<revision>]
        [--case put_4k_update_remote] [--concurrency 64] [--pairs 24] [--slice-s 1]
        [--partitions 1024]

The PUTs go to partitions 0..1,023 in turn, as in both of node_bench.py's suites;
`--partitions 1` keeps them all in partition 0, the default until 2026-12-07 (bench/README.md
says where a figure spread them).

Prints one JSON object: the settings (case, concurrency, pairs, slice, partitions), both
revisions (as given and resolved), per-slice rates of each, and the change's rate over the
base's: per pair, median and mean.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

sys.path.insert(0, str(Path(__file__).resolve().parent))
import node_bench as nb  # noqa: E402  (the bench directory is no package)

REPO = Path(__file__).resolve().parent.parent
WORKTREE = "WORKTREE"  # the checkout as it is, uncommitted changes included
CASES = ("put_4k", "put_4k_update", "put_4k_update_remote")


@dataclass
class Build:
    """One revision, installed apart, and the nodes running it."""

    name: str
    revision: str
    commit: str
    site: Path  # where it is installed: first on the nodes' PYTHONPATH
    rates: list[float] = field(default_factory=list)
    failures: int = 0

    @property
    def env(self) -> dict[str, str]:
        # PYTHONSAFEPATH: `python -m` would otherwise put the working directory (a checkout,
        # with its own dolmen package) before the build.
        return os.environ | {"PYTHONPATH": str(self.site), "PYTHONSAFEPATH": "1"}


def resolve(revision: str) -> str:
    if revision == WORKTREE:
        return "worktree at " + git("rev-parse", "--short", "HEAD")
    return git("rev-parse", "--short", revision + "^{commit}")


def git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    if done.returncode != 0:  # an unknown revision, say
        raise SystemExit(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def install(name: str, revision: str, into: Path) -> Build:
    """Install `revision` (WORKTREE: the checkout as it is) under `into`, without dependencies:
    those are this virtual environment's, shared by both builds."""
    commit = resolve(revision)
    source = into / f"src-{name}"  # a copy: building in the checkout would leave files there
    source.mkdir(parents=True)
    if revision == WORKTREE:
        listed = git("ls-files", "--cached", "--others", "--exclude-standard").splitlines()
        for relative in listed:
            if (REPO / relative).is_file():  # (a file deleted but not yet staged is listed too)
                (source / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / relative, source / relative)
    else:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", revision], check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    site = into / f"site-{name}"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    built = subprocess.run([*pip, "--target", str(site), str(source)], capture_output=True, text=True)
    if built.returncode != 0:  # (its output is setuptools' warnings otherwise)
        raise RuntimeError(f"{name}: pip could not install {revision}:\n{built.stderr}")
    build = Build(name, revision, commit, site)
    imported = subprocess.run(
        [sys.executable, "-c", "import dolmen.storage_node.server as s; print(s.__file__)"],
        env=build.env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not imported.startswith(str(site)):  # the nodes would run the checkout's code instead
        raise RuntimeError(f"{name}: the node would import {imported}, not the build in {site}")
    return build


def nodes(
    build: Build, data: Path, case: str, stack: contextlib.ExitStack
) -> tuple[nb.DolmenContainers, dict[str, str]]:
    """Start the build's node (and container node) for `case`, stopped with `stack`: its
    target and the PUTs' update headers."""
    target = nb.DolmenContainers(
        stack.enter_context(nb.dolmen_node(data / build.name / "a", build.env)), "d1"
    )
    if case == "put_4k":
        return target, {}
    container_node = target
    if case == "put_4k_update_remote":
        url = stack.enter_context(nb.dolmen_node(data / build.name / "b", build.env))
        container_node = nb.DolmenContainers(url, "d1")
    container_node.create_container("c")
    return target, container_node.update_headers()


async def alternate(
    sides: list[tuple[Build, nb.DolmenContainers, dict[str, str]]],
    *,
    concurrency: int,
    pairs: int,
    slice_s: float,
    partitions: int,
) -> None:
    """`pairs` slices per build, the order within each pair alternating; PUTs spread over
    `partitions` partitions in turn (node_bench.py's: OBJECT_PARTITIONS)."""
    body = os.urandom(nb.SMALL_BYTES)
    digest = xxhash.xxh3_128_hexdigest(body) + xxhash.xxh3_64_hexdigest(body)
    for index in range(pairs):
        for build, target, headers in sides if index % 2 == 0 else sides[::-1]:
            prefix = f"{build.name}-{index}-{time.time_ns()}"

            async def put(connection: nb.Connection, number: int) -> bool:
                path = target.path(number % partitions, f"{prefix}-{number}")  # noqa: B023 (awaited within this turn)
                return await target.put(connection, path, body, digest, extra=headers) == 201  # noqa: B023

            piece = await nb.run_slice(
                put, target, concurrency=concurrency, duration_s=slice_s, ops_min=concurrency
            )
            build.rates.append(nb.slice_rate(piece))
            build.failures += piece.failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="revision to compare against")
    parser.add_argument(
        "--change", default=WORKTREE, help=f"revision to measure (default {WORKTREE}: the checkout)"
    )
    parser.add_argument("--case", choices=CASES, default="put_4k_update_remote")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--pairs", type=int, default=24, help="slices per build")
    parser.add_argument("--slice-s", type=float, default=1.0, help="seconds per slice")
    parser.add_argument(
        "--partitions",
        type=int,
        default=nb.OBJECT_PARTITIONS,
        help=f"partitions the PUTs spread over (default, as node_bench.py: {nb.OBJECT_PARTITIONS})",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ab-bench-", dir="/var/tmp"))
    try:
        base, change = install("base", args.base, work), install("change", args.change, work)
        with contextlib.ExitStack() as stack:
            sides = [(build, *nodes(build, work, args.case, stack)) for build in (base, change)]
            nb.run_load(
                alternate(
                    sides,
                    concurrency=args.concurrency,
                    pairs=args.pairs,
                    slice_s=args.slice_s,
                    partitions=args.partitions,
                )
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratios = [ours / theirs for ours, theirs in zip(change.rates, base.rates, strict=True)]
    report = {
        "bench": "ab_bench",
        "case": args.case,
        "concurrency": args.concurrency,
        "pairs": args.pairs,
        "slice_s": args.slice_s,
        "partitions": args.partitions,
        "base": {"revision": args.base, "commit": base.commit},
        "change": {"revision": args.change, "commit": change.commit},
        "ops_per_s": {
            "base": [round(rate) for rate in base.rates],
            "change": [round(rate) for rate in change.rates],
        },
        "failures": {"base": base.failures, "change": change.failures},
        "change_over_base": {
            "median": round(statistics.median(ratios), 3),
            "mean": round(statistics.mean(ratios), 3),
            "per_pair": [round(ratio, 3) for ratio in ratios],
        },
    }
    print(json.dumps(report, indent=2))
    return 0 if base.failures == change.failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
