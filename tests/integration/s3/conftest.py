"""The S3 listener on a free loopback port over the session's real cluster, for the S3 integration tests.

The credential lookup is a table here (test_ec2_credentials covers identity's own).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from dolmen.identity import Ec2Credential
from dolmen.proxy.s3.app import make_s3_app
from dolmen.proxy.s3.auth import CredentialCache
from dolmen.proxy.s3.config import S3Config
from helpers.s3 import (
    ACCESS_KEY,
    DOMAIN,
    OTHER_KEY,
    OTHER_SECRET,
    READER_KEY,
    READER_SECRET,
    SECRET_KEY,
    authoriser_for,
    credential,
)

CREDENTIALS = {
    ACCESS_KEY: credential(ACCESS_KEY, SECRET_KEY, user_id="u1", project_id="p1"),
    OTHER_KEY: credential(OTHER_KEY, OTHER_SECRET, user_id="u2", project_id="p2"),
    READER_KEY: credential(
        READER_KEY, READER_SECRET, user_id="u3", project_id="p1", roles=frozenset({"reader"})
    ),
}


async def lookup(access_key: str) -> Ec2Credential | None:
    return CREDENTIALS.get(access_key)


@pytest.fixture
async def s3_endpoint(cluster_client) -> AsyncIterator[str]:
    config = S3Config(bind_port=0, domain=DOMAIN)
    credentials = CredentialCache(lookup, ttl_s=10.0, entries_max=100)
    app = make_s3_app(
        config,
        cluster_client,
        credentials,
        authoriser=authoriser_for(cluster_client),
        token_key=b"t" * 32,
        host_id="test-proxy",
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)  # the kernel picks a free port
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
