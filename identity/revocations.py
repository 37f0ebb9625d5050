"""Revocation events and the check of a token against them (pure).

An event names what it revokes and revokes only tokens issued at or before
`issued_before_s`:
- `audit_id`: one token (DELETE /v3/auth/tokens);
- `user_id`: every token of a user (disabled, deleted, password changed);
- `user_id` and `project_id`: a user's tokens on one project (a role removed);
- `project_id`: every token scoped to a project (disabled, deleted);
- `role_id`: every token carrying a role (the role deleted).
An event is kept until `expires_at_s`, when every token it could match has expired anyway.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from dolmen.identity.tokens import TokenPayload


@dataclass(frozen=True, kw_only=True)
class RevocationEvent:
    issued_before_s: float
    expires_at_s: float
    audit_id: str | None = None
    user_id: str | None = None
    project_id: str | None = None
    role_id: str | None = None

    def __post_init__(self) -> None:
        assert any((self.audit_id, self.user_id, self.project_id, self.role_id)), (
            "an event must name something"
        )
        assert self.role_id is None or (self.user_id is None and self.project_id is None)

    def matches(self, token: TokenPayload) -> bool:
        return (
            token.issued_at_s <= self.issued_before_s
            and (self.audit_id is None or self.audit_id == token.audit_id)
            and (self.user_id is None or self.user_id == token.user_id)
            and (self.project_id is None or self.project_id == token.project_id)
            and (self.role_id is None or self.role_id in token.role_ids)
        )

    def to_document(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> RevocationEvent:
        fields = ("audit_id", "user_id", "project_id", "role_id")
        return cls(
            issued_before_s=float(document["issued_before_s"]),
            expires_at_s=float(document["expires_at_s"]),
            **{name: str(document[name]) for name in fields if document.get(name) is not None},
        )


class RevocationList:
    """Events indexed by what they name, so that checking a token costs a few dict lookups."""

    def __init__(self, events: Iterable[RevocationEvent] = ()) -> None:
        self._by_audit_id: dict[str, list[RevocationEvent]] = defaultdict(list)
        self._by_user_id: dict[str, list[RevocationEvent]] = defaultdict(list)
        self._by_project_id: dict[str, list[RevocationEvent]] = defaultdict(list)
        self._by_role_id: dict[str, list[RevocationEvent]] = defaultdict(list)
        self.count = 0
        for event in events:
            self.count += 1
            if event.audit_id is not None:
                self._by_audit_id[event.audit_id].append(event)
            elif event.user_id is not None:
                self._by_user_id[event.user_id].append(event)
            elif event.project_id is not None:
                self._by_project_id[event.project_id].append(event)
            else:
                assert event.role_id is not None
                self._by_role_id[event.role_id].append(event)

    def is_revoked(self, token: TokenPayload) -> bool:
        candidates = [
            self._by_audit_id.get(token.audit_id, ()),
            self._by_user_id.get(token.user_id, ()),
            self._by_project_id.get(token.project_id, ()) if token.project_id is not None else (),
            *(self._by_role_id.get(role_id, ()) for role_id in token.role_ids),
        ]
        return any(event.matches(token) for events in candidates for event in events)
