"""`GET /auth/v1.0`: Swift's v1 auth for tools that still use it, answered with a Keystone token.

`X-Auth-User: <project>:<user>` and `X-Auth-Key: <password>` (or the
`X-Storage-User`/`X-Storage-Pass` spellings) become a password authentication,
scoped to that project, sent to identity's `POST /v3/auth/tokens`: the proxy
never checks a password itself. Both names are in the default domain. The
answer carries `X-Auth-Token`/`X-Storage-Token` and `X-Storage-Url`
(`<public url>/v1/AUTH_<project_id>`); wrong credentials are 401, an identity
that does not answer in identity_timeout_s is 503.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from dolmen.proxy.errors import IdentityUnavailable, NotAuthenticated
from dolmen.proxy.swift.paths import account_for_project

CREDENTIAL_BYTES_MAX = 512  # user, project and password each; Keystone's own limits are lower


@dataclass(frozen=True, slots=True)
class V1Credentials:
    project: str
    user: str
    password: str


def parse_v1_credentials(headers: Mapping[str, str]) -> V1Credentials:
    """The credentials of a v1 auth request; NotAuthenticated if missing or malformed."""
    user_header = headers.get("X-Auth-User") or headers.get("X-Storage-User") or ""
    password = headers.get("X-Auth-Key") or headers.get("X-Storage-Pass") or ""
    project, colon, user = user_header.partition(":")
    if not (colon and project and user and password):
        raise NotAuthenticated("X-Auth-User must be project:user, with X-Auth-Key")
    if max(len(project), len(user), len(password)) > CREDENTIAL_BYTES_MAX:
        raise NotAuthenticated("credentials too long")
    return V1Credentials(project, user, password)


def token_request(credentials: V1Credentials) -> dict[str, object]:
    default = {"name": "Default"}
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": credentials.user, "domain": default, "password": credentials.password}
                },
            },
            "scope": {"project": {"name": credentials.project, "domain": default}},
        }
    }


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    project_id: str
    expires_in_s: int


async def issue_token(
    session: aiohttp.ClientSession,
    identity_url: str,
    credentials: V1Credentials,
    *,
    timeout_s: float,
    now_s: float,
) -> IssuedToken:
    """Ask identity for a project-scoped token; NotAuthenticated or IdentityUnavailable."""
    url = identity_url.rstrip("/") + "/v3/auth/tokens"
    try:
        async with (
            asyncio.timeout(timeout_s),
            session.post(url, json=token_request(credentials)) as answer,
        ):
            if answer.status in (400, 401, 403, 404):
                raise NotAuthenticated("wrong credentials")
            if answer.status != 201:
                raise IdentityUnavailable(f"identity answered {answer.status}")
            token = answer.headers.get("X-Subject-Token", "")
            document = await answer.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        raise IdentityUnavailable(f"identity did not answer: {type(error).__name__}") from None
    try:
        body = document["token"]
        project_id = str(body["project"]["id"])
        expires = datetime.datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        raise IdentityUnavailable("identity answered a token without a project") from None
    if not token:
        raise IdentityUnavailable("identity answered no X-Subject-Token")
    return IssuedToken(token, project_id, max(0, int(expires.timestamp() - now_s)))


def v1_answer_headers(issued: IssuedToken, base_url: str) -> dict[str, str]:
    return {
        "X-Storage-Url": f"{base_url.rstrip('/')}/v1/{account_for_project(issued.project_id)}",
        "X-Auth-Token": issued.token,
        "X-Storage-Token": issued.token,
        "X-Auth-Token-Expires": str(issued.expires_in_s),
    }
