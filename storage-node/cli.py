"""`dolmen storage-node --config node.toml`: serve every device of this host on one port.

Starts in this order: read the configuration and the cluster secret, open every
device (stamp check, lock, orphan sweep), then listen. On SIGTERM or SIGINT:
stop accepting, give in-flight requests shutdown_timeout_s, close the stores.
Exit status: 0 after a clean stop, 1 if a device or the secret cannot be used,
2 for a bad command line or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import uvloop
from dolmen.storage_node.config import (
    StorageNodeConfig,
    device_config,
    load_storage_node_config,
    outbound_key_id,
)
from dolmen.storage_node.device import DeviceStore
from dolmen.storage_node.server import NodeMetrics, background_tasks, http_limits, make_server, node_context

from dolmen.allocator import keep_freed_memory
from dolmen.collector import collecting_on_a_clock
from dolmen.errors import DolmenError
from dolmen.keys import key_fingerprint, placement_key, read_secret, request_signing_key
from dolmen.logs import configure_logging
from dolmen.metrics import Metrics
from dolmen.serving import wait_stop_signal

log = logging.getLogger("dolmen.storage_node")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dolmen storage-node", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the TOML file with a [storage-node] table")
    args = parser.parse_args(argv)
    try:
        config = load_storage_node_config(args.config)
        secret = read_secret(config.cluster_secret_file)
    except DolmenError as error:
        print(f"dolmen storage-node: {error}", file=sys.stderr)
        return 2
    configure_logging("storage-node", level=config.log_level)
    try:
        keep_freed_memory()
        uvloop.run(serve(config, secret))
    except DolmenError as error:
        log.error("storage_node.start_failed", extra={"reason": str(error)})
        print(f"dolmen storage-node: {error}", file=sys.stderr)
        return 1
    return 0


async def open_stores(
    config: StorageNodeConfig, secret: bytes, metrics: NodeMetrics
) -> dict[str, DeviceStore]:
    """Open every configured device; on any failure close the ones already open and raise."""
    fingerprint = key_fingerprint(placement_key(secret))
    stores: dict[str, DeviceStore] = {}
    try:
        for device in config.devices:
            root = config.devices_dir / device
            if not config.mount_check:
                # Without mount checks a device is just a directory (development, tests).
                await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
            stores[device] = await DeviceStore.open(
                root,
                device_config(config),
                cluster_fingerprint=fingerprint,
                device=device,
                metrics=metrics.store,
            )
    except BaseException:
        await close_stores(stores)
        raise
    return stores


async def close_stores(stores: dict[str, DeviceStore]) -> None:
    for store in stores.values():
        await store.close()


async def serve(config: StorageNodeConfig, secret: bytes) -> None:
    metrics = NodeMetrics(Metrics("storage-node"))
    stores = await open_stores(config, secret, metrics)
    try:
        keys = {key_id: request_signing_key(secret, key_id) for key_id in config.signing_key_ids}
        outbound_id = outbound_key_id(config)
        outbound = (outbound_id, request_signing_key(secret, outbound_id))
        ctx = node_context(config, stores, signing_keys=keys, metrics=metrics, outbound_key=outbound)
        async with background_tasks(ctx):
            server = make_server(ctx, http_limits(config))
            for store in stores.values():
                # Answering one request at most (say, the container update a batch applies, which
                # waits for that very commit), the loop has nothing to run: it is not held.
                store.loop_is_quiet = lambda: server.answering <= 1
            async with collecting_on_a_clock():
                listener = await asyncio.get_running_loop().create_server(
                    server,
                    config.bind_ip,
                    config.bind_port,
                    backlog=config.listen_backlog,
                    reuse_address=True,
                )
                try:
                    log.info(
                        "storage_node.listening",
                        extra={
                            "ip": config.bind_ip,
                            "port": config.bind_port,
                            "devices": list(config.devices),
                            "own_address": ctx.updater.own_address.described,
                        },
                    )
                    await wait_stop_signal()
                    log.info("storage_node.stopping")
                finally:
                    # Stop accepting; in-flight requests get up to shutdown_timeout_s to finish (the
                    # updater and the deadlines still run meanwhile), then connections close.
                    listener.close()
                    await server.shutdown(config.shutdown_timeout_s)
    finally:
        await close_stores(stores)
    log.info("storage_node.stopped")
