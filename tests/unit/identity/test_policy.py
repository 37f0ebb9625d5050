"""The policy language: checks, precedence, references, and the default rules."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dolmen.identity.policy import Policy, PolicySyntaxError, parse
from hypothesis import given
from hypothesis import strategies as st

from dolmen.errors import ConfigError


@dataclass(frozen=True)
class Caller:
    roles: frozenset[str] = frozenset()
    user_id: str = "u1"
    user_name: str = "alice"
    user_domain_id: str = "default"
    project_id: str | None = "p1"
    project_name: str | None = "demo"
    project_domain_id: str | None = "default"
    extra: dict[str, str] = field(default_factory=dict)


ADMIN = Caller(roles=frozenset({"admin", "member", "reader"}))
MEMBER = Caller(roles=frozenset({"member", "reader"}))
READER = Caller(roles=frozenset({"reader"}))
NOBODY = Caller()

RULE = "role:admin or (role:member and project_id:%(project_id)s)"


@pytest.mark.parametrize(
    ("caller", "target", "allowed"),
    [
        (ADMIN, {"project_id": "other"}, True),
        (MEMBER, {"project_id": "p1"}, True),
        (MEMBER, {"project_id": "other"}, False),
        (MEMBER, {}, False),
        (READER, {"project_id": "p1"}, False),
        (NOBODY, {"project_id": "p1"}, False),
    ],
)
def test_the_example_rule_of_the_contract(caller: Caller, target: dict, allowed: bool) -> None:
    assert Policy.default().enforce(RULE, caller, target) is allowed


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    policy = Policy.default()
    # "a or b and c" is "a or (b and c)"
    assert policy.enforce("role:x or role:member and role:nope", Caller(roles=frozenset({"x"})), {})
    assert not policy.enforce("(role:x or role:member) and role:nope", Caller(roles=frozenset({"x"})), {})
    assert policy.enforce("not role:admin and role:reader", READER, {})
    assert not policy.enforce("not (role:admin or role:reader)", READER, {})


def test_roles_compare_without_case_and_literals_may_be_quoted() -> None:
    policy = Policy.default()
    assert policy.enforce("role:Admin", Caller(roles=frozenset({"ADMIN"})), {})
    assert policy.enforce("user_name:'alice'", NOBODY, {})
    assert not policy.enforce("user_name:alicia", NOBODY, {})


def test_a_missing_caller_attribute_or_target_key_never_matches() -> None:
    policy = Policy.default()
    unscoped = Caller(project_id=None)
    assert not policy.enforce("project_id:%(project_id)s", unscoped, {"project_id": "None"})
    assert not policy.enforce("user_id:%(owner)s", NOBODY, {})


@pytest.mark.parametrize(
    "expression", ["role:", "(role:a", "role:a)", "role:a or", "and role:a", "bogus:%(x)s", "x"]
)
def test_malformed_expressions_do_not_parse_and_refuse_when_enforced(expression: str) -> None:
    with pytest.raises(PolicySyntaxError):
        parse(expression)
    assert Policy.default().enforce(expression, ADMIN, {}) is False


def test_always_never_and_empty() -> None:
    policy = Policy.default()
    assert policy.enforce("@", NOBODY, {}) and not policy.enforce("!", ADMIN, {})
    assert parse("")(NOBODY, {}, {}, 0)


def test_a_policy_file_overrides_defaults_and_may_reference_rules(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"identity:list_users": "rule:readers", "readers": "role:reader"}))
    policy = Policy.load(path)
    assert policy.enforce("identity:list_users", READER, {})
    assert policy.enforce("identity:create_user", ADMIN, {}) and not policy.enforce(
        "identity:create_user", READER, {}
    )


@pytest.mark.parametrize(
    "rules",
    [
        {"a": "rule:b", "b": "rule:a"},
        {"a": "rule:a"},
        {"a": "rule:missing"},
        {"a": "role:"},
        {"a": 3},
    ],
)
def test_cycles_unknown_references_and_bad_rules_refuse_to_load(tmp_path: Path, rules: dict) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(rules))
    with pytest.raises(ConfigError):
        Policy.load(path)


def test_an_unreadable_policy_file_refuses_to_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Policy.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("[1, 2")
    with pytest.raises(ConfigError):
        Policy.load(tmp_path / "bad.json")


@pytest.mark.parametrize(
    ("rule", "caller", "target", "allowed"),
    [
        ("identity:create_project", ADMIN, {}, True),
        ("identity:create_project", MEMBER, {}, False),
        ("identity:get_project", READER, {"project_id": "p1"}, True),
        ("identity:get_project", READER, {"project_id": "p2"}, False),
        ("identity:get_user", NOBODY, {"user_id": "u1"}, True),
        ("identity:get_user", MEMBER, {"user_id": "u2"}, False),
        ("identity:change_password", ADMIN, {"user_id": "u2"}, False),
        ("identity:validate_token", NOBODY, {"token_user_id": "u1"}, True),
        ("identity:validate_token", MEMBER, {"token_user_id": "u2"}, False),
        ("identity:ec2_create_credential", NOBODY, {"user_id": "u1"}, True),
        ("identity:ec2_create_credential", MEMBER, {"user_id": "u2"}, False),
        ("object:write", MEMBER, {"project_id": "p1"}, True),
        ("object:write", READER, {"project_id": "p1"}, False),
        ("object:read", READER, {"project_id": "p1"}, True),
        ("object:read", READER, {"project_id": "p2"}, False),
    ],
)
def test_default_rules_admin_manages_member_manages_its_project_reader_reads(
    rule: str, caller: Caller, target: dict, allowed: bool
) -> None:
    assert Policy.default().enforce(rule, caller, target) is allowed


names = st.sampled_from(["role:a", "role:b", "role:c", "@", "!"])


@st.composite
def expressions(draw: st.DrawFn, depth: int = 3) -> tuple[str, object]:
    """An expression and a Python function computing its meaning over a set of roles."""
    if depth == 0 or draw(st.booleans()):
        check = draw(names)
        if check == "@":
            return check, lambda roles: True
        if check == "!":
            return check, lambda roles: False
        role = check.split(":")[1]
        return check, lambda roles: role in roles
    kind = draw(st.sampled_from(["and", "or", "not"]))
    left, left_meaning = draw(expressions(depth - 1))
    if kind == "not":
        return f"not ({left})", lambda roles: not left_meaning(roles)  # type: ignore[operator]
    right, right_meaning = draw(expressions(depth - 1))
    if kind == "and":
        return f"({left}) and ({right})", lambda roles: left_meaning(roles) and right_meaning(roles)  # type: ignore[operator]
    return f"({left}) or ({right})", lambda roles: left_meaning(roles) or right_meaning(roles)  # type: ignore[operator]


@given(expression=expressions(), roles=st.sets(st.sampled_from(["a", "b", "c"])))
def test_enforce_agrees_with_the_boolean_meaning_of_any_expression(expression: tuple, roles: set) -> None:
    text, meaning = expression
    assert Policy.default().enforce(text, Caller(roles=frozenset(roles)), {}) is meaning(roles)
