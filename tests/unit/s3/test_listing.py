"""ListObjects v1/v2: parameters, paging against a naive oracle, sealed tokens, the XML clients read."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest
from botocore.parsers import RestXMLParser
from dolmen.proxy.s3 import errors
from dolmen.proxy.s3.listing import (
    ObjectRow,
    cluster_limit,
    list_objects_xml,
    open_token,
    page,
    parse_list_params,
    seal_token,
    start_marker,
)
from dolmen.proxy.s3.render import Owner
from hypothesis import given, settings
from hypothesis import strategies as st

KEY = b"k" * 32
OWNER = Owner(id="0123456789abcdef", display_name="demo")


def container_listing(keys, *, prefix, delimiter, marker, limit):
    """What a container listing answers: names after marker with prefix, rolled up at delimiter.

    As Swift's, a common prefix is listed again when names after the marker fall under it,
    even if the marker is that prefix."""
    entries: list[ObjectRow | str] = []
    for key in sorted(keys):
        if key <= marker or not key.startswith(prefix):
            continue
        if delimiter and delimiter in key[len(prefix) :]:
            rolled = key[: len(prefix) + key[len(prefix) :].index(delimiter) + len(delimiter)]
            if entries and entries[-1] == rolled:
                continue
            entries.append(rolled)
        else:
            entries.append(ObjectRow(key, 1, "etag", 0.0))
        if len(entries) == limit:
            return entries, True
    return entries, False


def s3_oracle(keys, *, prefix, delimiter):
    """Every key and common prefix S3 lists, in order, all pages together."""
    seen: list[str] = []
    for key in sorted(keys):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        name = (
            prefix + rest[: rest.index(delimiter) + len(delimiter)]
            if delimiter and delimiter in rest
            else key
        )
        if not seen or seen[-1] != name:
            seen.append(name)
    return seen


names = st.text(st.sampled_from("ab/-"), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(
    keys=st.sets(names, max_size=30),
    prefix=st.sampled_from(["", "a", "a/", "b"]),
    delimiter=st.sampled_from(["", "/", "-", "b/"]),
    max_keys=st.integers(1, 5),
    version=st.sampled_from([1, 2]),
)
def test_pages_together_list_every_key_and_prefix_once_in_order(keys, prefix, delimiter, max_keys, version):
    query = {"prefix": prefix, "delimiter": delimiter, "max-keys": str(max_keys)}
    listed: list[str] = []
    for _ in range(100):
        params = parse_list_params(query, version=version)
        marker = start_marker(params, token_key=KEY, bucket="b")
        entries, truncated = container_listing(
            keys, prefix=prefix, delimiter=delimiter, marker=marker, limit=cluster_limit(params)
        )
        result = page(entries, marker=marker, max_keys=params.max_keys, cluster_truncated=truncated)
        assert len(result.contents) + len(result.common_prefixes) <= max_keys
        listed += sorted([row.key for row in result.contents] + result.common_prefixes)
        if not result.truncated:
            break
        if version == 1:
            query["marker"] = result.last_name
        else:
            query["continuation-token"] = seal_token(KEY, "b", result.last_name)
    assert listed == s3_oracle(keys, prefix=prefix, delimiter=delimiter)


@settings(max_examples=100, deadline=None)
@given(marker=st.text(max_size=50), bucket=st.sampled_from(["b1", "b2"]))
def test_a_token_opens_only_in_the_bucket_that_sealed_it(marker, bucket):
    token = seal_token(KEY, bucket, marker)
    assert open_token(KEY, bucket, token) == marker
    other = "b2" if bucket == "b1" else "b1"
    with pytest.raises(errors.InvalidArgument):
        open_token(KEY, other, token)
    with pytest.raises(errors.InvalidArgument):
        open_token(b"x" * 32, bucket, token)


@settings(max_examples=200, deadline=None)
@given(token=st.text(max_size=80))
def test_no_forged_token_opens(token):
    with pytest.raises(errors.InvalidArgument):
        open_token(KEY, "b", token)


@pytest.mark.parametrize(
    "query, version",
    [
        ({"max-keys": "-1"}, 1),
        ({"max-keys": "ten"}, 2),
        ({"encoding-type": "base64"}, 2),
        ({"fetch-owner": "maybe"}, 2),
        ({"prefix": "a\x00"}, 1),
        ({"delimiter": "\x00"}, 2),
        ({"marker": "\x00"}, 1),
        ({"start-after": "k\x00"}, 2),
    ],
)
def test_bad_listing_parameters_are_invalid_arguments(query, version):
    with pytest.raises(errors.InvalidArgument):
        parse_list_params(query, version=version)


def test_an_empty_continuation_token_starts_at_the_beginning_and_is_echoed():
    params = parse_list_params({"continuation-token": ""}, version=2)
    result = page([ObjectRow("k", 1, "e", 0.0)], marker="", max_keys=10, cluster_truncated=False)
    parsed = parse_with_botocore(
        list_objects_xml(params, result, bucket="b", owner=OWNER, token_key=KEY), "ListObjectsV2"
    )
    assert parsed["ContinuationToken"] == "" and [item["Key"] for item in parsed["Contents"]] == ["k"]
    absent = list_objects_xml(
        parse_list_params({}, version=2), result, bucket="b", owner=OWNER, token_key=KEY
    )
    assert b"ContinuationToken" not in absent


def test_max_keys_is_capped_at_a_thousand():
    assert parse_list_params({"max-keys": "5000"}, version=2).max_keys == 1000


def parse_with_botocore(body: bytes, operation: str) -> dict:
    """What boto3 makes of our XML: botocore's own parser with S3's output shape."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("s3")
    shape = model.operation_model(operation).output_shape
    return RestXMLParser().parse({"body": body, "headers": {}, "status_code": 200}, shape)


def test_v2_xml_reads_in_botocore_with_url_encoded_keys_and_owner():
    params = parse_list_params(
        {"prefix": "a b", "delimiter": "/", "encoding-type": "url", "fetch-owner": "true", "max-keys": "2"},
        version=2,
    )
    rows = [ObjectRow("a b+c&<d>", 5, "abc", 1_700_000_000.25), "a b/"]
    result = page(rows, marker="", max_keys=2, cluster_truncated=True)
    parsed = parse_with_botocore(
        list_objects_xml(params, result, bucket="bkt", owner=OWNER, token_key=KEY), "ListObjectsV2"
    )
    contents = parsed["Contents"][0]
    assert unquote_plus(contents["Key"]) == "a b+c&<d>"
    assert contents["Size"] == 5 and contents["ETag"] == '"abc"'
    assert contents["Owner"] == {"ID": OWNER.id, "DisplayName": OWNER.display_name}
    # whole seconds, rounded up as HEAD's Last-Modified is, so that the two compare equal
    assert contents["LastModified"].isoformat() == "2023-11-14T22:13:21+00:00"
    assert [unquote_plus(p["Prefix"]) for p in parsed["CommonPrefixes"]] == ["a b/"]
    assert parsed["KeyCount"] == 2 and parsed["IsTruncated"] is True
    assert open_token(KEY, "bkt", parsed["NextContinuationToken"]) == "a b/"


def test_v1_xml_names_the_next_marker_only_with_a_delimiter():
    rows = [ObjectRow("k1", 1, "e", 0.0), ObjectRow("k2", 1, "e", 0.0)]
    result = page(rows, marker="", max_keys=1, cluster_truncated=False)
    without = parse_with_botocore(
        list_objects_xml(parse_list_params({}, version=1), result, bucket="b", owner=OWNER, token_key=KEY),
        "ListObjects",
    )
    assert without["IsTruncated"] is True and "NextMarker" not in without
    assert without["Contents"][0]["Owner"]["ID"] == OWNER.id  # v1 always names the owner
    with_delimiter = parse_with_botocore(
        list_objects_xml(
            parse_list_params({"delimiter": "/"}, version=1), result, bucket="b", owner=OWNER, token_key=KEY
        ),
        "ListObjects",
    )
    assert with_delimiter["NextMarker"] == "k1"


def test_v2_without_fetch_owner_names_no_owner():
    result = page([ObjectRow("k", 1, "e", 0.0)], marker="", max_keys=10, cluster_truncated=False)
    xml = list_objects_xml(parse_list_params({}, version=2), result, bucket="b", owner=OWNER, token_key=KEY)
    assert b"<Owner>" not in xml and b"<IsTruncated>false</IsTruncated>" in xml


@pytest.mark.parametrize("version, shown", [(1, "a\nb c"), (2, "a%0Ab%20c")])
def test_url_encoding_covers_the_prefix_in_v2_only_as_sdks_decode_it(version, shown):
    params = parse_list_params({"prefix": "a\nb c", "encoding-type": "url"}, version=version)
    result = page([], marker="", max_keys=10, cluster_truncated=False)
    operation = "ListObjects" if version == 1 else "ListObjectsV2"
    parsed = parse_with_botocore(
        list_objects_xml(params, result, bucket="b", owner=OWNER, token_key=KEY), operation
    )
    assert parsed["Prefix"] == shown
