"""Authorisation rules over roles and ownership: one small language, one function (pure).

A policy maps rule names to expressions:

    expression := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expression ")" | check
    check      := "@" (always) | "!" (never) | "rule:NAME" (another rule of the policy)
                | "role:NAME" (the caller holds the role; case-insensitive)
                | ATTRIBUTE ":" VALUE

In `ATTRIBUTE:VALUE`, ATTRIBUTE is one of the caller's attributes (`user_id`,
`user_name`, `user_domain_id`, `project_id`, `project_name`, `project_domain_id`)
and VALUE is a literal (optionally in single quotes) or `%(KEY)s`, the value of KEY
in the target of the operation: `project_id:%(project_id)s` holds when the caller's
project is the target's. A missing attribute or target key never matches. An empty
expression means `@`, as in oslo.policy files. The file is JSON: {"name": "expression"}.

`Policy.enforce(rule, credentials, target)` evaluates a rule named in the policy or, if
no rule has that name, `rule` itself as an expression; anything it cannot parse or a
reference to an unknown rule refuses (False), it never raises on a caller's input.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dolmen.errors import ConfigError
from dolmen.limits import POLICY_RULE_CHARS_MAX, POLICY_RULES_CACHED_MAX


class Credentials(Protocol):
    """What a rule may look at: AuthContext has all of it."""

    @property
    def roles(self) -> frozenset[str]: ...


CREDENTIAL_ATTRIBUTES = (
    "user_id",
    "user_name",
    "user_domain_id",
    "project_id",
    "project_name",
    "project_domain_id",
)

Target = Mapping[str, str]
Rules = Mapping[str, "Check"]


class PolicySyntaxError(ValueError):
    """An expression that is not in the rule language."""


class Check:
    def __call__(self, credentials: Credentials, target: Target, rules: Rules, depth: int) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Check):
    value: bool

    def __call__(self, credentials: Credentials, target: Target, rules: Rules, depth: int) -> bool:
        return self.value


@dataclass(frozen=True)
class RoleCheck(Check):
    role: str  # lower case

    def __call__(self, credentials: Credentials, target: Target, rules: Rules, depth: int) -> bool:
        return any(role.lower() == self.role for role in credentials.roles)


@dataclass(frozen=True)
class AttributeCheck(Check):
    attribute: str
    literal: str | None
    target_key: str | None

    def __call__(self, credentials: Credentials, target: Target, rules: Rules, depth: int) -> bool:
        have = getattr(credentials, self.attribute, None)
        want = self.literal if self.target_key is None else target.get(self.target_key)
        return have is not None and want is not None and str(have) == str(want)


@dataclass(frozen=True)
class RuleReference(Check):
    name: str

    def __call__(self, credentials: Credentials, target: Target, rules: Rules, depth: int) -> bool:
        rule = rules.get(self.name)
        # Cycles are refused when a policy loads; the depth bound guards ad-hoc expressions too.
        return rule is not None and depth < len(rules) + 1 and rule(credentials, target, rules, depth + 1)


@dataclass(frozen=True)
class Not(Check):
    operand: Check

    def __call__(self, credentials: Credentials, target: Target, rules: Rules, depth: int) -> bool:
        return not self.operand(credentials, target, rules, depth)


@dataclass(frozen=True)
class All(Check):
    operands: tuple[Check, ...]

    def __call__(self, credentials: Credentials, target: Target, rules: Rules, depth: int) -> bool:
        return all(operand(credentials, target, rules, depth) for operand in self.operands)


@dataclass(frozen=True)
class Any_(Check):
    operands: tuple[Check, ...]

    def __call__(self, credentials: Credentials, target: Target, rules: Rules, depth: int) -> bool:
        return any(operand(credentials, target, rules, depth) for operand in self.operands)


# A check may hold "%(key)s": parentheses glued to a word belong to it; free-standing ones group.
_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+(?:\([^\s()]*\)[^\s()]*)*)")
_TARGET_VALUE = re.compile(r"%\(([A-Za-z0-9_.-]+)\)s")


def parse(expression: str) -> Check:
    """The check tree of `expression`; raises PolicySyntaxError."""
    if len(expression) > POLICY_RULE_CHARS_MAX:
        raise PolicySyntaxError("rule too long")
    tokens = _TOKEN.findall(expression)
    if "".join(tokens) != "".join(expression.split()):
        raise PolicySyntaxError(f"cannot read {expression!r}")
    if not tokens:
        return Constant(True)
    parser = _Parser(tokens)
    check = parser.expression()
    if parser.position != len(tokens):
        raise PolicySyntaxError(f"unexpected {tokens[parser.position]!r} in {expression!r}")
    return check


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise PolicySyntaxError("expression ends too early")
        self.position += 1
        return token

    def expression(self) -> Check:
        operands = [self.term()]
        while self.peek() == "or":
            self.take()
            operands.append(self.term())
        return operands[0] if len(operands) == 1 else Any_(tuple(operands))

    def term(self) -> Check:
        operands = [self.factor()]
        while self.peek() == "and":
            self.take()
            operands.append(self.factor())
        return operands[0] if len(operands) == 1 else All(tuple(operands))

    def factor(self) -> Check:
        token = self.take()
        if token == "not":
            return Not(self.factor())
        if token == "(":
            check = self.expression()
            if self.take() != ")":
                raise PolicySyntaxError("missing )")
            return check
        return _check(token)


def _check(token: str) -> Check:
    if token == "@":
        return Constant(True)
    if token == "!":
        return Constant(False)
    kind, colon, value = token.partition(":")
    if not colon or not kind or not value or token in ("or", "and", ")"):
        raise PolicySyntaxError(f"not a check: {token!r}")
    if kind == "rule":
        return RuleReference(value)
    if kind == "role":
        return RoleCheck(value.lower())
    if kind not in CREDENTIAL_ATTRIBUTES:
        raise PolicySyntaxError(f"unknown attribute {kind!r} (known: {', '.join(CREDENTIAL_ATTRIBUTES)})")
    target = _TARGET_VALUE.fullmatch(value)
    if target:
        return AttributeCheck(kind, None, target.group(1))
    if len(value) >= 2 and value[0] == value[-1] == "'":
        value = value[1:-1]
    return AttributeCheck(kind, value, None)


# Admin manages everything; a member manages what belongs to its project; a reader reads it.
# Roles imply each other (admin > member > reader: see roles.IMPLIED_ROLES), so `role:reader`
# also holds for members and admins.
DEFAULT_RULES: dict[str, str] = {
    "admin_required": "role:admin",
    "service_role": "role:service",
    "owner": "user_id:%(user_id)s",
    "admin_or_owner": "rule:admin_required or rule:owner",
    "project_reader": "role:reader and project_id:%(project_id)s",
    "project_member": "role:member and project_id:%(project_id)s",
    "project_admin": "rule:admin_required",
    "token_subject": "user_id:%(token_user_id)s",
    # identity API
    "identity:validate_token": "rule:admin_required or rule:service_role or rule:token_subject",
    "identity:revoke_token": "rule:admin_required or rule:token_subject",
    "identity:get_domain": "rule:admin_required or (role:reader and project_domain_id:%(domain_id)s)",
    "identity:list_domains": "rule:admin_required",
    "identity:create_domain": "rule:admin_required",
    "identity:update_domain": "rule:admin_required",
    "identity:delete_domain": "rule:admin_required",
    "identity:get_project": "rule:admin_required or rule:project_reader",
    "identity:list_projects": "rule:admin_required",
    "identity:create_project": "rule:admin_required",
    "identity:update_project": "rule:admin_required",
    "identity:delete_project": "rule:admin_required",
    "identity:get_user": "rule:admin_or_owner",
    "identity:list_users": "rule:admin_required",
    "identity:create_user": "rule:admin_required",
    "identity:update_user": "rule:admin_required",
    "identity:delete_user": "rule:admin_required",
    "identity:change_password": "rule:owner",
    "identity:get_role": "rule:admin_required or role:reader",
    "identity:list_roles": "rule:admin_required or role:reader",
    "identity:create_role": "rule:admin_required",
    "identity:update_role": "rule:admin_required",
    "identity:delete_role": "rule:admin_required",
    "identity:check_grant": "rule:admin_required or rule:project_reader",
    "identity:list_grants": "rule:admin_required or rule:project_reader",
    "identity:create_grant": "rule:admin_required",
    "identity:revoke_grant": "rule:admin_required",
    "identity:list_role_assignments": "rule:admin_required or rule:project_reader",
    "identity:get_service": "rule:admin_required or role:reader",
    "identity:list_services": "rule:admin_required or role:reader",
    "identity:create_service": "rule:admin_required",
    "identity:update_service": "rule:admin_required",
    "identity:delete_service": "rule:admin_required",
    "identity:get_endpoint": "rule:admin_required or role:reader",
    "identity:list_endpoints": "rule:admin_required or role:reader",
    "identity:create_endpoint": "rule:admin_required",
    "identity:update_endpoint": "rule:admin_required",
    "identity:delete_endpoint": "rule:admin_required",
    "identity:ec2_create_credential": "rule:admin_or_owner",
    "identity:ec2_list_credentials": "rule:admin_or_owner",
    "identity:ec2_get_credential": "rule:admin_or_owner",
    "identity:ec2_delete_credential": "rule:admin_or_owner",
    # object storage (the proxy): target project_id is the account's project
    "object:read": "rule:admin_required or rule:project_reader",
    "object:write": "rule:admin_required or rule:project_member",
}


class Policy:
    """Named rules, checked for syntax, unknown references and cycles when loaded."""

    def __init__(self, rules: Mapping[str, str], *, source: str = "policy") -> None:
        checks: dict[str, Check] = {}
        for name, expression in rules.items():
            if not isinstance(expression, str):
                raise ConfigError(f"{source}: rule {name!r} must be a string")
            try:
                checks[name] = parse(expression)
            except PolicySyntaxError as error:
                raise ConfigError(f"{source}: rule {name!r}: {error}") from None
        _check_references(checks, source)
        self._rules: dict[str, Check] = checks
        self._parse_cached: Callable[[str], Check | None] = functools.lru_cache(POLICY_RULES_CACHED_MAX)(
            _parse_or_none
        )

    @classmethod
    def default(cls) -> Policy:
        return cls(DEFAULT_RULES, source="default policy")

    @classmethod
    def load(cls, path: Path | str) -> Policy:
        """The default rules overridden by those in the JSON file `path`; raises ConfigError."""
        path = Path(path)
        try:
            rules = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such policy file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConfigError(f"{path}: not a JSON policy file: {error}") from None
        if not isinstance(rules, dict):
            raise ConfigError(f"{path}: a policy file is a JSON object of rule names to expressions")
        return cls(DEFAULT_RULES | rules, source=str(path))

    def enforce(self, rule: str, credentials: Credentials, target: Target) -> bool:
        """Whether `credentials` may do `rule` (a rule name, else an expression) to `target`."""
        check = self._rules.get(rule)
        if check is None:
            check = self._parse_cached(rule)
            if check is None:
                return False
        return check(credentials, target, self._rules, 0)


def _parse_or_none(expression: str) -> Check | None:
    try:
        return parse(expression)
    except PolicySyntaxError:
        return None


def _references(check: Check) -> list[str]:
    if isinstance(check, RuleReference):
        return [check.name]
    if isinstance(check, Not):
        return _references(check.operand)
    if isinstance(check, All | Any_):
        return [name for operand in check.operands for name in _references(operand)]
    return []


def _check_references(checks: Mapping[str, Check], source: str) -> None:
    state: dict[str, str] = {}  # name -> "visiting" | "done"

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ConfigError(
                f"{source}: rules refer to each other in a cycle: {' -> '.join(path + (name,))}"
            )
        state[name] = "visiting"
        for reference in _references(checks[name]):
            if reference not in checks:
                raise ConfigError(f"{source}: rule {name!r} refers to unknown rule {reference!r}")
            visit(reference, path + (name,))
        state[name] = "done"

    for name in checks:
        visit(name, ())
