"""The Fernet key repository: rotation as Keystone does it, and sealing at rest."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from dolmen.identity.errors import KeysUnavailable
from dolmen.identity.keyrepo import STAGED, KeyRepository, seal_repository, unseal_repository
from dolmen.identity.tokens import TokenCodec
from hypothesis import given
from hypothesis import strategies as st

from dolmen.keys import identity_storage_key


def fresh() -> KeyRepository:
    return KeyRepository.initial(staged=Fernet.generate_key(), primary=Fernet.generate_key())


def test_the_initial_repository_seals_with_key_one_and_stages_key_zero() -> None:
    repository = fresh()
    assert repository.primary_number == 1
    assert repository.validation_keys() == [repository.keys[1], repository.keys[STAGED]]


@given(rotations=st.integers(1, 20), active=st.integers(3, 8))
def test_rotation_promotes_the_staged_key_and_keeps_at_most_the_active_count(
    rotations: int, active: int
) -> None:
    repository = fresh()
    for _ in range(rotations):
        staged_before = repository.keys[STAGED]
        primary_before = repository.keys[repository.primary_number]
        repository = repository.rotate(Fernet.generate_key(), active_keys_max=active)
        assert repository.keys[repository.primary_number] == staged_before
        assert primary_before in repository.keys.values()  # the previous primary still opens its tokens
        assert len(repository.keys) <= active
        assert STAGED in repository.keys
        assert repository.validation_keys()[0] == repository.keys[repository.primary_number]


def test_a_token_sealed_before_a_rotation_validates_after_it_and_one_staged_ahead() -> None:
    repository = fresh()
    token = TokenCodec(repository.validation_keys()[:1]).seal(_payload())
    rotated = repository.rotate(Fernet.generate_key(), active_keys_max=3)
    assert TokenCodec(rotated.validation_keys()).open(token) == _payload()
    # A validator that has only the old repository opens tokens sealed with the new primary (its staged key).
    new_token = TokenCodec(rotated.validation_keys()[:1]).seal(_payload())
    assert TokenCodec(repository.validation_keys()).open(new_token) == _payload()


def test_a_sealed_repository_opens_only_under_the_same_storage_key() -> None:
    repository = fresh()
    key = identity_storage_key(bytes(range(32)))
    document = seal_repository(repository, key)
    assert all(raw.decode() not in str(document) for raw in repository.keys.values())
    assert unseal_repository(document, key) == repository
    with pytest.raises(KeysUnavailable):
        unseal_repository(document, identity_storage_key(bytes(range(1, 33))))


@pytest.mark.parametrize("document", [{}, {"keys": []}, {"keys": {"0": "x"}}, {"keys": {"a": "b", "0": "c"}}])
def test_a_malformed_repository_document_is_refused(document: dict) -> None:
    with pytest.raises(KeysUnavailable):
        unseal_repository(document, identity_storage_key(bytes(range(32))))


def _payload():  # type: ignore[no-untyped-def]
    from unit.identity.test_tokens import sample_payload

    return sample_payload()
