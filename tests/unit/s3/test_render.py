"""S3's XML responses as boto3 reads them: errors, ListBuckets, location, copy and delete results."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import botocore.session
import pytest
from botocore.parsers import RestXMLParser
from dolmen.proxy.s3 import errors
from dolmen.proxy.s3.listing import BucketListParams, parse_bucket_list_params
from dolmen.proxy.s3.render import (
    BucketRow,
    DeleteFailure,
    Owner,
    copy_result_xml,
    delete_result_xml,
    error_xml,
    escape,
    iso8601,
    list_buckets_xml,
    location_xml,
    request_id_headers,
)
from hypothesis import given, settings
from hypothesis import strategies as st

MODEL = botocore.session.get_session().get_service_model("s3")


def parse(body: bytes, operation: str, status: int = 200) -> dict:
    shape = MODEL.operation_model(operation).output_shape
    return RestXMLParser().parse({"body": body, "headers": {}, "status_code": status}, shape)


def test_an_error_reads_in_botocore_with_its_code_message_and_fields():
    error = errors.AuthorizationHeaderMalformed(
        "the region 'x' is wrong; expecting 'us-east-1'", Region="us-east-1"
    )
    body = error_xml(error, request_id="tx123", host_id="proxy-1", resource="/b/k")
    parsed = parse(body, "HeadBucket", status=400)["Error"]
    assert parsed["Code"] == "AuthorizationHeaderMalformed"
    assert parsed["Message"] == "the region 'x' is wrong; expecting 'us-east-1'"
    assert parsed["Region"] == "us-east-1"
    root = ElementTree.fromstring(body)
    assert root.findtext("RequestId") == "tx123" and root.findtext("HostId") == "proxy-1"
    assert request_id_headers("tx123", "proxy-1") == {"x-amz-request-id": "tx123", "x-amz-id-2": "proxy-1"}


def test_an_error_about_a_key_no_xml_can_carry_still_reads_in_botocore():
    body = error_xml(
        errors.InvalidArgument("bad key"), request_id="tx1", host_id="h", resource="/b/a\x00\udce9&"
    )
    assert parse(body, "PutObject", status=400)["Error"]["Code"] == "InvalidArgument"
    assert ElementTree.fromstring(body).findtext("Resource") == "/b/a%00%E9&"


def test_every_error_class_has_its_s3_code_and_a_client_or_server_status():
    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.S3Error)
    ]
    assert len(classes) > 30
    for error_class in classes:
        assert 300 <= error_class.status < 600 and error_class.code
    assert (errors.NoSuchKey.status, errors.NoSuchKey.code) == (404, "NoSuchKey")
    assert (errors.S3NotImplemented.status, errors.S3NotImplemented.code) == (501, "NotImplemented")
    assert (errors.BucketNotEmpty.status, errors.InvalidRange.status) == (409, 416)


def test_list_buckets_reads_in_botocore():
    owner = Owner(id="p1", display_name="demo")
    rows = [BucketRow("a", 1_700_000_000.0, "us-east-1"), BucketRow("b", 0.5, "eu-west-3")]
    parsed = parse(list_buckets_xml(owner, rows), "ListBuckets")
    assert [bucket["Name"] for bucket in parsed["Buckets"]] == ["a", "b"]
    assert [bucket["BucketRegion"] for bucket in parsed["Buckets"]] == ["us-east-1", "eu-west-3"]
    assert parsed["Owner"] == {"ID": "p1", "DisplayName": "demo"}
    assert parsed["Buckets"][1]["CreationDate"].isoformat() == "1970-01-01T00:00:00.500000+00:00"
    assert "ContinuationToken" not in parsed and "Prefix" not in parsed
    paged = parse(list_buckets_xml(owner, rows[:1], prefix="", continuation_token="t0k"), "ListBuckets")
    assert (paged["ContinuationToken"], paged["Prefix"]) == ("t0k", "")


@pytest.mark.parametrize("value", ["0", "10001", "-1", "ten", ""])
def test_max_buckets_outside_s3s_bounds_is_an_invalid_argument(value):
    with pytest.raises(errors.InvalidArgument):
        parse_bucket_list_params({"max-buckets": value})


def test_bucket_list_parameters_are_read_as_s3_names_them():
    params = parse_bucket_list_params(
        {"max-buckets": "2", "continuation-token": "t", "prefix": "p", "bucket-region": "eu-west-3"}
    )
    assert (params.max_buckets, params.continuation_token, params.prefix, params.region) == (
        2,
        "t",
        "p",
        "eu-west-3",
    )
    assert parse_bucket_list_params({}) == BucketListParams(None, None, None, None)


def test_location_of_us_east_1_is_empty():
    # botocore reads this one response by hand: the root element's text (handlers.parse_get_bucket_location).
    assert ElementTree.fromstring(location_xml("us-east-1")).text is None
    assert ElementTree.fromstring(location_xml("eu-west-3")).text == "eu-west-3"


def test_copy_and_delete_results_read_in_botocore():
    copied = parse(copy_result_xml("abc", 10.0), "CopyObject")["CopyObjectResult"]
    assert copied["ETag"] == '"abc"' and copied["LastModified"].year == 1970
    failures = [DeleteFailure("k2", "AccessDenied", "Access Denied")]
    verbose = parse(delete_result_xml(["k1"], failures, quiet=False), "DeleteObjects")
    assert [d["Key"] for d in verbose["Deleted"]] == ["k1"] and verbose["Errors"][0]["Code"] == "AccessDenied"
    quiet = parse(delete_result_xml(["k1"], failures, quiet=True), "DeleteObjects")
    assert "Deleted" not in quiet and quiet["Errors"][0]["Key"] == "k2"


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\r"), max_size=40
    )
)
def test_escaped_text_round_trips_through_an_xml_parser(text):
    # Control characters XML 1.0 cannot carry come back as character references S3 also sends.
    if any(ord(char) < 0x20 and char not in "\t\n" for char in text) or "\ufffe" in text or "\uffff" in text:
        assert "&#x" in escape(text)
        return
    root = ElementTree.fromstring(f"<a>{escape(text)}</a>")
    assert (root.text or "") == text


def test_iso8601_has_milliseconds_and_z():
    assert iso8601(1_700_000_000.1234) == "2023-11-14T22:13:20.123Z"


def test_a_bucket_prefix_with_a_nul_is_an_invalid_argument():
    with pytest.raises(errors.InvalidArgument):
        parse_bucket_list_params({"prefix": "a\x00"})
    assert parse_bucket_list_params({"prefix": "a"}).prefix == "a"
