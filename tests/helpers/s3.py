"""Helpers for S3 tests: requests signed by botocore (an independent SigV4 implementation)."""

from __future__ import annotations

import datetime
import math
import unittest.mock
from urllib.parse import urlsplit

import botocore.auth
import botocore.awsrequest
import botocore.credentials
from dolmen.identity import AuthContext, Ec2Credential, Policy
from dolmen.proxy.s3.sigv4 import lower_headers
from dolmen.proxy.swift.access import Authoriser

from dolmen.cluster import ClusterClient

ACCESS_KEY, SECRET_KEY, REGION = "AKIAEXAMPLEDOLMEN", "secret/key+example", "us-east-1"
NOW_S = 1_700_000_000.0
OTHER_KEY, OTHER_SECRET = "AKIAOTHERPROJECT", "other-secret"  # a second project's credential
READER_KEY, READER_SECRET = "AKIAREADERONLY", "reader-secret"  # the first project's, with the reader role only
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
