"""Revocation events match exactly the tokens they name, issued at or before their time."""

from __future__ import annotations

from dolmen.identity.revocations import RevocationEvent, RevocationList
from hypothesis import given
from hypothesis import strategies as st

from unit.identity.test_tokens import payloads, sample_payload

TOKEN = sample_payload()  # user 000..., project 111..., roles 222... and 333..., issued 1_900_000_000.123456
LATER = TOKEN.issued_at_s + 1
EARLIER = TOKEN.issued_at_s - 1


def event(**fields: object) -> RevocationEvent:
    return RevocationEvent(expires_at_s=LATER + 3600, **fields)  # type: ignore[arg-type]


def test_each_kind_of_event_revokes_its_tokens_issued_before_it() -> None:
    for kind in (
        {"audit_id": TOKEN.audit_id},
        {"user_id": TOKEN.user_id},
        {"user_id": TOKEN.user_id, "project_id": TOKEN.project_id},
        {"project_id": TOKEN.project_id},
        {"role_id": TOKEN.role_ids[1]},
    ):
        assert RevocationList([event(issued_before_s=LATER, **kind)]).is_revoked(TOKEN), kind
        assert not RevocationList([event(issued_before_s=EARLIER, **kind)]).is_revoked(TOKEN), kind


def test_a_token_issued_in_the_same_microsecond_as_the_event_is_revoked() -> None:
    assert RevocationList([event(issued_before_s=TOKEN.issued_at_s, user_id=TOKEN.user_id)]).is_revoked(TOKEN)


def test_events_for_other_users_projects_roles_and_tokens_do_not_match() -> None:
    others = RevocationList(
        [
            event(issued_before_s=LATER, audit_id="AAAAAAAAAAAAAAAAAAAAAB"),
            event(issued_before_s=LATER, user_id="f" * 32),
            event(issued_before_s=LATER, user_id=TOKEN.user_id, project_id="f" * 32),
            event(issued_before_s=LATER, project_id="f" * 32),
            event(issued_before_s=LATER, role_id="f" * 32),
        ]
    )
    assert not others.is_revoked(TOKEN)


@given(token=payloads(), before=st.booleans())
def test_a_user_event_revokes_exactly_the_tokens_issued_up_to_it(token, before: bool) -> None:  # type: ignore[no-untyped-def]
    moment = token.issued_at_s + (1.0 if before else -1.0)
    revocations = RevocationList([event(issued_before_s=moment, user_id=token.user_id)])
    assert revocations.is_revoked(token) is before


def test_events_survive_their_document_form() -> None:
    original = event(issued_before_s=LATER, user_id="u", project_id="p")
    assert RevocationEvent.from_document(original.to_document()) == original
