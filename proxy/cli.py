"""`dolmen proxy --config proxy.toml`: the Swift and S3 APIs, each on its port, served by worker processes.

The parent reads the configuration, then forks `workers` children (one per core
by default) before any event loop exists; each opens the cluster client and the
token validator and listens on the same ports (SO_REUSEPORT: the kernel spreads
connections): the Swift port, and the S3 port (`[s3] bind_port`, 0 for none),
whose application shares the worker's cluster client. The parent forwards
SIGTERM/SIGINT to the workers and restarts a worker that dies, at most
worker_restarts_per_minute_max a minute. Exit status: 0 after a clean stop, 1
if the workers cannot run, 2 for a bad command line or configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import uvloop
from aiohttp import web
from dolmen.proxy.config import ProxyConfig, load_proxy_config, load_s3_config, read_tables
from dolmen.proxy.s3.app import open_s3_app
from dolmen.proxy.s3.config import S3Config
from dolmen.proxy.server import make_app
from dolmen.proxy.swift.access import Gatekeeper

from dolmen.allocator import keep_freed_memory
from dolmen.cluster import ClusterClient, ClusterClientConfig
from dolmen.collector import collecting_on_a_clock
from dolmen.config import config_from_mapping
from dolmen.errors import DolmenError
from dolmen.logs import configure_logging
from dolmen.metrics import Metrics
from dolmen.serving import runner_options, wait_stop_signal

log = logging.getLogger("dolmen.proxy")
RESTART_WINDOW_S = 60.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dolmen proxy", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", required=True, type=Path, help="the TOML file with [proxy], [cluster] and [s3]"
    )
    args = parser.parse_args(argv)
    try:
        config = load_proxy_config(args.config)
        cluster_config = load_cluster_table(args.config)
        s3_config = load_s3_config(args.config)
    except DolmenError as error:
        print(f"dolmen proxy: {error}", file=sys.stderr)
        return 2
    configure_logging("proxy", level=config.log_level)
    return supervise(config, cluster_config, s3_config)


def load_cluster_table(path: Path) -> ClusterClientConfig:
    """[cluster] of proxy.toml; ConfigError if absent or wrong."""
    tables = read_tables(path)
    return config_from_mapping(
        tables.get("cluster", {}),
        ClusterClientConfig,
        source=str(path),
        base_dir=path.parent,
        prefix="cluster",
    )


def supervise(config: ProxyConfig, cluster_config: ClusterClientConfig, s3_config: S3Config) -> int:
    """Fork the workers, restart those that die (bounded), stop them all on SIGTERM or SIGINT."""
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workers: dict[int, int] = {}  # pid -> worker index (worker 0 runs the S3 upload cleaner)
    restarts_s: list[float] = []
    for index in range(config.worker_count):
        workers[_fork_worker(config, cluster_config, s3_config, index)] = index
    log.info(
        "proxy.started",
        extra={"workers": len(workers), "port": config.bind_port, "s3_port": s3_config.bind_port},
    )
    status = 0
    while workers:
        if stopping:
            for pid in workers:
                _signal(pid, signal.SIGTERM)
            for pid in list(workers):
                _wait(pid)
                del workers[pid]
            break
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.1)  # a signal interrupts the sleep; the loop then sees `stopping`
            continue
        if pid not in workers:
            continue
        index = workers.pop(pid)
        now_s = time.monotonic()
        restarts_s = [moment for moment in restarts_s if now_s - moment < RESTART_WINDOW_S] + [now_s]
        code = os.waitstatus_to_exitcode(wait_status)
        log.warning("proxy.worker_exited", extra={"pid": pid, "code": code})
        if code == 3 or len(restarts_s) > config.worker_restarts_per_minute_max:
            log.error("proxy.giving_up", extra={"restarts_per_minute": len(restarts_s)})
            stopping, status = True, 1
            continue
        workers[_fork_worker(config, cluster_config, s3_config, index)] = index
    log.info("proxy.stopped")
    return status


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _fork_worker(
    config: ProxyConfig, cluster_config: ClusterClientConfig, s3_config: S3Config, index: int
) -> int:
    pid = os.fork()
    if pid:
        return pid
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    code = 0
    try:
        keep_freed_memory()
        uvloop.run(serve_worker(config, cluster_config, s3_config, index))
    except DolmenError as error:
        log.error("proxy.worker_failed", extra={"reason": str(error)})
        code = 3  # a worker that cannot start will not start when restarted either
    except BaseException:
        log.exception("proxy.worker_crashed")
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


async def serve_worker(
    config: ProxyConfig, cluster_config: ClusterClientConfig, s3_config: S3Config, index: int = 0
) -> None:
    """One worker: open the client and validator, listen on both ports with SO_REUSEPORT until SIGTERM.
    Worker 0 also runs the S3 upload cleaner (one component, whichever its pid)."""
    from dolmen.identity import Policy, TokenValidator

    client = await ClusterClient.open(cluster_config)
    try:
        validator = await TokenValidator.open(client, refresh_interval_s=config.token_refresh_interval_s)
        try:
            policy = Policy.load(config.policy_file) if config.policy_file is not None else Policy.default()
            gatekeeper = Gatekeeper(
                client,
                validator,
                policy=policy,
                cache_ttl_s=config.info_cache_ttl_s,
                cache_entries_max=config.info_cache_entries_max,
            )
            app = make_app(
                config, client, gatekeeper, metrics_registry=Metrics("proxy"), bucket_region=s3_config.region
            )
            async with contextlib.AsyncExitStack() as listeners:
                await listeners.enter_async_context(serving(app, config, config.bind_ip, config.bind_port))
                if s3_config.bind_port:
                    s3_app = await open_s3_app(s3_config, client, gatekeeper, run_cleaner=index == 0)
                    await listeners.enter_async_context(
                        serving(s3_app, config, s3_config.bind_ip, s3_config.bind_port)
                    )
                await listeners.enter_async_context(collecting_on_a_clock())
                await wait_stop_signal()
        finally:
            await validator.close()
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def serving(app: web.Application, config: ProxyConfig, ip: str, port: int) -> AsyncIterator[None]:
    """`app` listening on ip:port with SO_REUSEPORT (shared with the other workers) until the block ends."""
    runner = web.AppRunner(
        app,
        **runner_options(
            keepalive_timeout_s=config.keepalive_timeout_s, shutdown_timeout_s=config.shutdown_timeout_s
        ),
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, ip, port, reuse_port=True, reuse_address=True)
        await site.start()
        log.info("proxy.worker_listening", extra={"ip": ip, "port": port})
        yield
    finally:
        await runner.cleanup()
