"""`dolmen identity`: serve the identity API, bootstrap it, or rotate its token keys.

    dolmen identity --config identity.toml
    dolmen identity bootstrap --config identity.toml --admin-password P
        [--public-url TYPE=URL ... --internal-url TYPE=URL ...]
    dolmen identity rotate-keys --config identity.toml

identity.toml holds an [identity] table (IdentityConfig) and a [cluster] table
(ClusterClientConfig). `bootstrap` prints the admin's credentials as JSON. On SIGTERM
or SIGINT the server stops accepting, gives in-flight requests shutdown_timeout_s, and
closes its store connections. Exit status: 0 after a clean stop, 1 if the store cannot
be used, 2 for a bad command line or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import uvloop
from aiohttp import web
from dolmen.identity.bootstrap import ServiceEndpoints, bootstrap, rotate_keys
from dolmen.identity.config import IdentityConfig
from dolmen.identity.passwords import Passwords
from dolmen.identity.policy import Policy
from dolmen.identity.server import make_app
from dolmen.identity.service import IdentityService
from dolmen.identity.store import IdentityStore, open_records
from dolmen.identity.validator import TokenValidator, storage_key_of

from dolmen.cluster import ClusterClient, ClusterClientConfig
from dolmen.config import load_config
from dolmen.errors import DolmenError
from dolmen.logs import configure_logging
from dolmen.metrics import Metrics
from dolmen.serving import runner_options, wait_stop_signal

log = logging.getLogger("dolmen.identity")


@dataclass(frozen=True, kw_only=True)
class IdentityFile:
    """identity.toml: the two tables."""

    identity: IdentityConfig = IdentityConfig()
    cluster: ClusterClientConfig


def load_identity_file(path: Path | str) -> IdentityFile:
    return load_config(path, IdentityFile)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        settings = load_identity_file(args.config)
        policy = (
            Policy.load(settings.identity.policy_file) if settings.identity.policy_file else Policy.default()
        )
    except DolmenError as error:
        print(f"dolmen identity: {error}", file=sys.stderr)
        return 2
    configure_logging("identity", level=settings.identity.log_level)
    try:
        if args.command == "bootstrap":
            services = endpoints_of(args.public_url, args.internal_url)
            result = uvloop.run(run_bootstrap(settings, args.admin_password, services))
            print(json.dumps(result, indent=2))
        elif args.command == "rotate-keys":
            uvloop.run(run_rotation(settings))
        else:
            uvloop.run(serve(settings, policy))
    except DolmenError as error:
        print(f"dolmen identity: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"dolmen identity: {error}", file=sys.stderr)
        return 2
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dolmen identity", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=("serve", "bootstrap", "rotate-keys"), default="serve")
    parser.add_argument("--config", required=True, help="identity.toml with [identity] and [cluster] tables")
    parser.add_argument("--admin-password", help="bootstrap: the admin user's password")
    parser.add_argument(
        "--public-url",
        action="append",
        default=[],
        metavar="TYPE=URL",
        help="bootstrap: a service's public endpoint",
    )
    parser.add_argument(
        "--internal-url",
        action="append",
        default=[],
        metavar="TYPE=URL",
        help="bootstrap: a service's internal endpoint",
    )
    args = parser.parse_args(argv)
    if args.command == "bootstrap" and not args.admin_password:
        parser.error("bootstrap needs --admin-password")
    return args


def endpoints_of(public: list[str], internal: list[str]) -> list[ServiceEndpoints]:
    """Pair `TYPE=URL` arguments by type; a type given only once uses its URL for both interfaces."""

    def split(values: list[str]) -> dict[str, str]:
        pairs = {}
        for value in values:
            service_type, equals, url = value.partition("=")
            if not equals or not service_type or not url.startswith(("http://", "https://")):
                raise ValueError(
                    f"{value!r}: expected TYPE=URL, such as object-store=http://host:8080/v1/AUTH_$(project_id)s"
                )
            pairs[service_type] = url
        return pairs

    public_urls, internal_urls = split(public), split(internal)
    return [
        ServiceEndpoints(
            type=service_type,
            public_url=public_urls.get(service_type) or internal_urls[service_type],
            internal_url=internal_urls.get(service_type) or public_urls[service_type],
        )
        for service_type in sorted(public_urls.keys() | internal_urls.keys())
    ]


async def run_bootstrap(
    settings: IdentityFile, admin_password: str, services: list[ServiceEndpoints]
) -> dict:
    client = await ClusterClient.open(settings.cluster)
    try:
        result = await bootstrap(
            client, admin_password=admin_password, services=services, config=settings.identity
        )
    finally:
        await client.close()
    return result.as_json()


async def run_rotation(settings: IdentityFile) -> None:
    client = await ClusterClient.open(settings.cluster)
    try:
        store = IdentityStore(open_records(client))
        repository = await rotate_keys(
            store, storage_key_of(client), active_keys_max=settings.identity.fernet_active_keys_max
        )
        print(json.dumps({"primary_key": repository.primary_number, "keys": len(repository.keys)}))
    finally:
        await client.close()


async def open_service(client: ClusterClient, config: IdentityConfig, policy: Policy) -> IdentityService:
    """The service over an open client; the caller closes it with close_service."""
    storage_key = await asyncio.to_thread(storage_key_of, client)
    store = IdentityStore(open_records(client), claim_grace_s=config.name_claim_grace_s)
    return await open_service_over(store, storage_key, config, policy)


async def open_service_over(
    store: IdentityStore, storage_key: bytes, config: IdentityConfig, policy: Policy
) -> IdentityService:
    validator = await TokenValidator.open_store(
        store, storage_key, refresh_interval_s=config.validator_refresh_interval_s
    )
    passwords = Passwords(
        config.password_cost,
        threads=config.password_hash_threads,
        waiting_max=config.password_checks_waiting_max,
    )
    return IdentityService(
        store, validator, config=config, passwords=passwords, policy=policy, storage_key=storage_key
    )


async def close_service(service: IdentityService) -> None:
    await service.validator.close()
    service.passwords.close()


async def serve(settings: IdentityFile, policy: Policy) -> None:
    config = settings.identity
    client = await ClusterClient.open(settings.cluster)
    try:
        service = await open_service(client, config, policy)
        try:
            runner = web.AppRunner(
                make_app(service, Metrics("identity")),
                **runner_options(
                    keepalive_timeout_s=config.keepalive_timeout_s,
                    shutdown_timeout_s=config.shutdown_timeout_s,
                ),
            )
            await runner.setup()
            try:
                site = web.TCPSite(runner, config.bind_ip, config.bind_port, reuse_address=True)
                await site.start()
                log.info("identity.listening", extra={"ip": config.bind_ip, "port": config.bind_port})
                await wait_stop_signal()
                log.info("identity.stopping")
            finally:
                await runner.cleanup()
        finally:
            await close_service(service)
    finally:
        await client.close()
    log.info("identity.stopped")
