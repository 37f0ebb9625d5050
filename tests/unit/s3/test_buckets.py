"""Bucket claims, pure: who wins, what the loser hears, who may release."""

from __future__ import annotations

import pytest
from dolmen.proxy.s3 import errors
from dolmen.proxy.s3.buckets import BucketClaim, claim_change, claim_outcome, new_claim, release_change


def claim(account: str) -> BucketClaim:
    return new_claim(account=account, project_id=account.removeprefix("AUTH_"), region="us-east-1", now_s=1.0)


def test_the_first_claim_takes_a_free_name_and_keeps_it():
    mine = claim("AUTH_a")
    value = claim_change(mine)(None)
    assert claim_outcome("b", value, mine) == mine
    assert BucketClaim.decode(value) == mine
    assert claim_change(claim("AUTH_z"))(value) == value


def test_a_second_claim_hears_who_holds_the_name():
    first = claim("AUTH_a").encode()
    with pytest.raises(errors.BucketAlreadyOwnedByYou) as owned:
        claim_outcome("b", first, claim("AUTH_a"))
    assert owned.value.fields == {"BucketName": "b"}
    with pytest.raises(errors.BucketAlreadyExists):
        claim_outcome("b", first, claim("AUTH_other"))


def test_only_the_owner_releases_a_name():
    held = claim("AUTH_a").encode()
    assert release_change("AUTH_other")(held) == held
    assert release_change("AUTH_a")(held) is None
    assert release_change("AUTH_a")(None) is None
