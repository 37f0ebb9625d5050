"""Request bodies of the identity API, checked and turned into values (pure; raises ValidationError).

Every string is bounded (dolmen.limits); unknown fields are ignored as Keystone does;
a wrong type or a missing required field is a 400 naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dolmen.identity.errors import ValidationError
from dolmen.identity.tokens import METHODS

from dolmen.limits import (
    DESCRIPTION_CHARS_MAX,
    ID_BYTES_MAX,
    IDENTITY_BODY_BYTES_MAX,
    NAME_CHARS_MAX,
    PASSWORD_CHARS_MAX,
    TOKEN_CHARS_MAX,
    URL_CHARS_MAX,
)

INTERFACES = ("public", "internal", "admin")


@dataclass(frozen=True)
class Ref:
    """An entity named by id, or by name (and, for users and projects, its domain's Ref)."""

    id: str | None = None
    name: str | None = None
    domain: Ref | None = None


@dataclass(frozen=True, kw_only=True)
class AuthRequest:
    methods: tuple[str, ...]
    user: Ref | None = None  # password method
    password: str | None = None
    token: str | None = None  # token method
    project: Ref | None = None  # None: unscoped


def json_body(raw: bytes) -> dict[str, Any]:
    if len(raw) > IDENTITY_BODY_BYTES_MAX:
        raise ValidationError("The request body is too large.")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationError("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object.")
    try:  # a \ud800 escape decodes to a lone surrogate: text no name, password or record can hold
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("The request body holds a lone surrogate (not Unicode text).") from None
    return body


def obj(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"Invalid input for field '{field}': expected an object.")
    return value


def text(value: Any, field: str, *, chars_max: int = NAME_CHARS_MAX, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError(f"Invalid input for field '{field}': expected a non-empty string.")
    if len(value) > chars_max:
        raise ValidationError(f"Invalid input for field '{field}': longer than {chars_max} characters.")
    return value


def required_text(value: Any, field: str, *, chars_max: int = NAME_CHARS_MAX) -> str:
    result = text(value, field, chars_max=chars_max)
    assert result is not None
    return result


def entity_id(value: Any, field: str) -> str:
    result = required_text(value, field, chars_max=ID_BYTES_MAX)
    if not result.isprintable() or "/" in result or len(result.encode()) > ID_BYTES_MAX:
        raise ValidationError(f"Invalid input for field '{field}'.")
    return result


def boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"Invalid input for field '{field}': expected true or false.")
    return value


def ref(value: Any, field: str, *, with_domain: bool) -> Ref:
    body = obj(value, field)
    if "id" in body:
        return Ref(id=entity_id(body["id"], f"{field}.id"))
    if "name" not in body:
        raise ValidationError(f"Expecting to find id or name in {field}.")
    name = required_text(body["name"], f"{field}.name")
    if not with_domain:
        return Ref(name=name)
    if "domain" not in body:
        raise ValidationError(f"Expecting to find domain in {field}.")
    return Ref(name=name, domain=ref(body["domain"], f"{field}.domain", with_domain=False))


def auth_request(body: Mapping[str, Any]) -> AuthRequest:
    """POST /v3/auth/tokens: password or token identity, project scope or none."""
    auth = obj(body.get("auth"), "auth")
    identity = obj(auth.get("identity"), "auth.identity")
    methods = identity.get("methods")
    if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
        raise ValidationError("Invalid input for field 'identity.methods'.")
    if any(method not in METHODS for method in methods):
        raise Unsupported(
            f"Unsupported authentication method: {', '.join(sorted(set(methods) - set(METHODS)))}"
        )
    user = password = token = None
    if "password" in methods:
        password_body = obj(identity.get("password"), "identity.password")
        user_body = obj(password_body.get("user"), "identity.password.user")
        user = ref(user_body, "identity.password.user", with_domain="id" not in user_body)
        password = text(user_body.get("password"), "password", chars_max=PASSWORD_CHARS_MAX)
    if "token" in methods:
        token_body = obj(identity.get("token"), "identity.token")
        token = text(token_body.get("id"), "identity.token.id", chars_max=TOKEN_CHARS_MAX)
    project = None
    scope = auth.get("scope")
    if scope is not None and scope != "unscoped":
        scope = obj(scope, "auth.scope")
        if "project" not in scope:
            raise ValidationError("Only project scope is supported.")
        project = ref(
            scope["project"], "scope.project", with_domain="id" not in obj(scope["project"], "project")
        )
    ordered = tuple(method for method in METHODS if method in methods)
    return AuthRequest(methods=ordered, user=user, password=password, token=token, project=project)


class Unsupported(ValidationError):
    """An authentication method or scope this subset does not implement (400, as Keystone)."""


def entity(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The `key` object of a create or update body: {"user": {...}}."""
    return obj(body.get(key), key)


def optional_fields(source: Mapping[str, Any], *, allowed: Mapping[str, str], prefix: str) -> dict[str, Any]:
    """The fields of `source` named in `allowed` (name -> kind: name, description, bool, id, url, interface)."""
    result: dict[str, Any] = {}
    for name, kind in allowed.items():
        if name not in source:
            continue
        value = source[name]
        field = f"{prefix}.{name}"
        if kind == "bool":
            result[name] = boolean(value, field)
        elif kind == "name":
            result[name] = required_text(value, field)
        elif kind == "description":
            result[name] = text(value, field, chars_max=DESCRIPTION_CHARS_MAX, required=False) or ""
        elif kind == "id":
            result[name] = None if value is None else entity_id(value, field)
        elif kind == "url":
            url = required_text(value, field, chars_max=URL_CHARS_MAX)
            if not url.startswith(("http://", "https://")):
                raise ValidationError(f"Invalid input for field '{field}': expected an http(s) URL.")
            result[name] = url
        elif kind == "interface":
            if value not in INTERFACES:
                raise ValidationError(f"Invalid input for field '{field}': one of {', '.join(INTERFACES)}.")
            result[name] = value
        elif kind == "password":
            result[name] = text(value, field, chars_max=PASSWORD_CHARS_MAX)
        else:
            raise AssertionError(kind)
    return result
