"""Helpers for S3 tests: requests signed by botocore (an independent SigV4 implementation), boto3
clients of a test listener, raw PUTs with the payload hash of our choice."""

from __future__ import annotations

import datetime
import math
import time
import unittest.mock
from urllib.parse import urlsplit

import aiohttp
import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions
import pytest
from dolmen.identity import AuthContext, Ec2Credential, Policy
from dolmen.proxy.s3.sigv4 import authorization_header, lower_headers
from dolmen.proxy.swift.access import Authoriser

from dolmen.cluster import ClusterClient

ACCESS_KEY, SECRET_KEY, REGION = "AKIAEXAMPLEDOLMEN", "secret/key+example", "us-east-1"
NOW_S = 1_700_000_000.0
OTHER_KEY, OTHER_SECRET = "AKIAOTHERPROJECT", "other-secret"  # a second project's credential
READER_KEY, READER_SECRET = (
    "AKIAREADERONLY",
    "reader-secret",
)  # the first project's, with the reader role only
MEMBER_ROLES = frozenset({"member", "reader"})
DOMAIN = "s3.test"  # virtual-hosted style: <bucket>.s3.test


def botocore_request(
    method: str, url: str, headers: dict[str, str], body: bytes
) -> botocore.awsrequest.AWSRequest:
    return botocore.awsrequest.AWSRequest(method=method, url=url, headers=headers, data=body)


def split(prepared_url: str) -> tuple[str, str]:
    parts = urlsplit(prepared_url)
    return parts.path, parts.query


def sign_with_botocore(
    method, url, headers=None, body=b"", now_s=NOW_S, region=REGION, presign_expires_s=None
):
    request = botocore_request(method, url, dict(headers or {}), body)
    credentials = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
    if presign_expires_s is None:
        signer = botocore.auth.S3SigV4Auth(credentials, "s3", region)
    else:
        signer = botocore.auth.S3SigV4QueryAuth(credentials, "s3", region, expires=presign_expires_s)
    signing_time = datetime.datetime.fromtimestamp(now_s, datetime.UTC).replace(tzinfo=None)
    with unittest.mock.patch("botocore.auth.get_current_datetime", lambda: signing_time):
        signer.add_auth(request)
    prepared = request.prepare()
    return prepared.method, prepared.url, lower_headers(prepared.headers.items()), prepared.body


def credential(
    access_key: str, secret_key: str, *, user_id: str, project_id: str, roles: frozenset[str] = MEMBER_ROLES
) -> Ec2Credential:
    """An EC2 credential acting as `user_id` in `project_id` with `roles` (effective roles, lower case)."""
    context = AuthContext(
        user_id=user_id,
        user_name=user_id,
        user_domain_id="default",
        project_id=project_id,
        project_name=project_id,
        project_domain_id="default",
        roles=roles,
        methods=("ec2credential",),
        expires_at_s=math.inf,
        issued_at_s=0.0,
        audit_id=access_key,
    )
    return Ec2Credential(access=access_key, secret=secret_key, context=context)


def authoriser_for(client: ClusterClient) -> Authoriser:
    """The authoriser a proxy worker shares between its Swift and S3 APIs, with identity's default policy."""
    return Authoriser(client, policy=Policy.default(), cache_ttl_s=5.0, cache_entries_max=1_000)


def s3_client(endpoint: str, access_key: str = ACCESS_KEY, secret: str = SECRET_KEY):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        # s3v4: botocore still presigns with SigV2 by default, which Dolmen refuses (InvalidRequest).
        config=botocore.config.Config(
            signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}
        ),
    )


ACCOUNT_LISTING_LAG_S_MAX = 60.0  # the account hears of new containers within account_update_interval_s


def wait_listed(client, buckets: set[str]) -> None:
    """Until ListBuckets shows `buckets`: account listings follow container creation (as Swift's)."""
    deadline_s = time.monotonic() + ACCOUNT_LISTING_LAG_S_MAX
    while not buckets <= {entry["Name"] for entry in client.list_buckets()["Buckets"]}:
        assert time.monotonic() < deadline_s, f"{buckets} not listed after {ACCOUNT_LISTING_LAG_S_MAX} s"
        time.sleep(0.2)


def error_code(call) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def signed_streaming_headers(s3_endpoint: str, path: str, extra: dict[str, str]) -> dict[str, str]:
    """Headers of a PUT signed with an x-amz-content-sha256 of our choice (botocore would replace it)."""
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    headers = {"host": s3_endpoint.removeprefix("http://"), "x-amz-date": amz_date, **extra}
    headers["authorization"] = authorization_header(
        access_key=ACCESS_KEY, secret_key=SECRET_KEY, method="PUT", raw_path=path, raw_query="",
        headers=headers, payload_hash=extra["x-amz-content-sha256"], amz_date=amz_date, region="us-east-1",
    )  # fmt: skip
    return headers


async def put_raw(s3_endpoint: str, path: str, sign_headers: dict[str, str], body: bytes):
    return await put_body(s3_endpoint, path, signed_streaming_headers(s3_endpoint, path, sign_headers), body)


async def put_body(s3_endpoint: str, path: str, headers: dict[str, str], body: bytes):
    async with (
        aiohttp.ClientSession() as session,
        session.put(f"{s3_endpoint}{path}", headers=headers, data=body) as answer,
    ):
        return answer.status, answer.headers.copy(), await answer.read()
