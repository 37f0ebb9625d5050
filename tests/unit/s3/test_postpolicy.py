"""POST policies, pure: conditions, coverage, expiry, signatures, and a fuzz that finds only S3 errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from dolmen.proxy.s3 import errors
from dolmen.proxy.s3.postpolicy import (
    check_length,
    check_policy,
    check_signature,
    form_signature,
    parse_policy,
)
from hypothesis import given, settings
from hypothesis import strategies as st

NOW_S = 1_700_000_000.0
FUTURE = "2030-01-01T00:00:00.000Z"


def encoded(document) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


FIELDS = {"bucket": "b", "key": "user/a.txt", "content-type": "text/plain", "acl": "private"}
CONDITIONS = [
    {"bucket": "b"},
    ["starts-with", "$key", "user/"],
    ["eq", "$Content-Type", "text/plain"],
    {"acl": "private"},
]


def test_a_policy_whose_conditions_hold_and_cover_every_field_passes():
    policy = parse_policy(
        encoded({"expiration": FUTURE, "conditions": [*CONDITIONS, ["content-length-range", 1, 10]]})
    )
    check_policy(policy, FIELDS, now_s=NOW_S)
    assert policy.length_range == (1, 10)
    check_length(policy, 10)
    with pytest.raises(errors.EntityTooLarge):
        check_length(policy, 11)
    with pytest.raises(errors.EntityTooSmall):
        check_length(policy, 0)


@pytest.mark.parametrize(
    "fields",
    [
        {**FIELDS, "key": "other/a.txt"},  # starts-with fails
        {**FIELDS, "content-type": "text/html"},  # eq fails
        {**FIELDS, "x-amz-meta-extra": "1"},  # a field no condition covers
        {key: value for key, value in FIELDS.items() if key != "acl"},  # a condition's field is missing
    ],
)
def test_a_failed_condition_or_an_uncovered_field_is_access_denied(fields):
    policy = parse_policy(encoded({"expiration": FUTURE, "conditions": CONDITIONS}))
    with pytest.raises(errors.AccessDenied):
        check_policy(policy, fields, now_s=NOW_S)


def test_expired_policies_are_refused_and_ignored_fields_need_no_condition():
    policy = parse_policy(encoded({"expiration": "2020-01-01T00:00:00Z", "conditions": CONDITIONS}))
    with pytest.raises(errors.AccessDenied):
        check_policy(policy, FIELDS, now_s=NOW_S)
    current = parse_policy(encoded({"expiration": FUTURE, "conditions": CONDITIONS}))
    check_policy(current, {**FIELDS, "x-ignore-me": "1", "signature": "s", "policy": "p"}, now_s=NOW_S)


@pytest.mark.parametrize(
    "document",
    [
        {"conditions": CONDITIONS},
        {"EXPIRATION": FUTURE, "conditions": CONDITIONS},
        {"expiration": "2030-01-01 00:00:00", "conditions": CONDITIONS},
        {"expiration": FUTURE},
        {"expiration": FUTURE, "conditions": []},
        {"expiration": FUTURE, "conditions": [["content-length-range", -1, 0]]},
        {"expiration": FUTURE, "conditions": [["content-length-range", 0]]},
    ],
)
def test_malformed_policies_are_invalid_arguments(document):
    with pytest.raises(errors.InvalidArgument):
        parse_policy(encoded(document))


def test_v4_and_v2_signatures_are_checked():
    policy = encoded({"expiration": FUTURE, "conditions": CONDITIONS})
    v2 = base64.b64encode(hmac.new(b"secret", policy.encode(), hashlib.sha1).digest()).decode()
    signature = form_signature(
        {"awsaccesskeyid": "AK", "signature": v2, "policy": policy}, region="us-east-1"
    )
    assert signature is not None and signature.version == 2
    check_signature(signature, policy, "secret")
    with pytest.raises(errors.AccessDenied):
        check_signature(signature, policy, "other")
    v4_fields = {
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": "AK/20300101/us-east-1/s3/aws4_request",
        "x-amz-date": "20300101T000000Z",
        "x-amz-signature": "0" * 64,
        "policy": policy,
    }
    v4 = form_signature(v4_fields, region="us-east-1")
    assert v4 is not None and v4.version == 4 and v4.access_key == "AK"
    with pytest.raises(errors.AccessDenied):
        check_signature(v4, policy, "secret")
    with pytest.raises(errors.InvalidArgument):
        form_signature(v4_fields, region="eu-west-1")
    assert form_signature({"key": "k"}, region="us-east-1") is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
CONDITION = st.one_of(
    st.dictionaries(st.sampled_from(["bucket", "key", "acl", "$key"]), JSON, min_size=1, max_size=2),
    st.tuples(st.sampled_from(["eq", "starts-with", "EQ", "content-length-range", "x"]), JSON, JSON).map(
        list
    ),
    JSON,
)


@settings(max_examples=300, deadline=None)
@given(
    expiration=st.one_of(st.just(FUTURE), JSON),
    conditions=st.one_of(st.lists(CONDITION, max_size=5), JSON),
    fields=st.dictionaries(
        st.sampled_from(["key", "acl", "bucket", "x-amz-meta-a", "policy"]), st.text(max_size=8)
    ),
    raw=st.one_of(st.none(), st.text(max_size=40)),
)
def test_any_policy_is_accepted_or_refused_with_an_s3_client_error(expiration, conditions, fields, raw):
    text = raw if raw is not None else encoded({"expiration": expiration, "conditions": conditions})
    try:
        policy = parse_policy(text)
        check_policy(policy, fields, now_s=NOW_S)
        check_length(policy, 5)
    except errors.S3Error as error:
        assert error.status < 500
