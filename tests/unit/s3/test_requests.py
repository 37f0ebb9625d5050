"""Bucket names and addressing, request XML, CopyObject's source, object headers: S3's rules, pure."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from dolmen.proxy.s3 import errors
from dolmen.proxy.s3.copy import (
    check_not_a_self_copy,
    metadata_directive,
    parse_copy_source,
    source_conditions,
)
from dolmen.proxy.s3.headers import (
    byte_range,
    content_md5_hex,
    is_aws_chunked,
    response_overrides,
    standard_headers,
    user_metadata,
)
from dolmen.proxy.s3.names import Target, is_valid_bucket_name, parse_target
from dolmen.proxy.s3.requestxml import parse_delete_objects, parse_location_constraint
from hypothesis import given, settings
from hypothesis import strategies as st

# --- bucket names and addressing -------------------------------------------


@pytest.mark.parametrize("name", ["abc", "my-bucket.2", "a" * 63, "0bucket9", "a.b-c"])
def test_valid_bucket_names(name):
    assert is_valid_bucket_name(name)


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "Bucket", "my_bucket", "-abc", "abc-", "a..b", "192.168.5.4", "xn--abc", "abc-s3alias",
     "sthree-x", ".hidden", "a b", "abc/"],
)  # fmt: skip
def test_invalid_bucket_names(name):
    assert not is_valid_bucket_name(name)


def test_path_style_targets():
    assert parse_target("s3.test:9000", "/", domain="s3.test") == Target(None, None, False)
    assert parse_target("127.0.0.1:9000", "/bkt", domain="s3.test") == Target("bkt", None, False)
    assert parse_target("127.0.0.1", "/bkt/", domain="s3.test") == Target("bkt", None, False)
    assert parse_target("127.0.0.1", "/bkt/a//b/./c%20d%2Fe", domain="s3.test") == Target(
        "bkt", "a//b/./c d/e", False
    )


def test_virtual_hosted_targets_take_the_bucket_from_the_host():
    assert parse_target("bkt.s3.test:9000", "/a/b", domain="s3.test") == Target("bkt", "a/b", True)
    assert parse_target("BKT.S3.TEST", "/", domain="s3.test") == Target("bkt", None, True)
    assert parse_target("my.dotted.bkt.s3.test", "/k", domain="s3.test") == Target("my.dotted.bkt", "k", True)


def test_bad_names_in_targets_are_refused():
    with pytest.raises(errors.InvalidBucketName):
        parse_target("h", "/Bad_Bucket/k", domain="s3.test")
    with pytest.raises(errors.KeyTooLongError):
        parse_target("h", "/bkt/" + "k" * 1025, domain="s3.test")
    with pytest.raises(errors.InvalidArgument):
        parse_target("h", "/bkt/%ff", domain="s3.test")
    with pytest.raises(errors.InvalidArgument):
        parse_target("h", "/bkt/a%00b", domain="s3.test")


@settings(max_examples=150, deadline=None)
@given(host=st.text(max_size=30), path=st.text(max_size=60))
def test_any_host_and_path_parse_or_are_refused_with_an_s3_error(host, path):
    try:
        target = parse_target(host, path, domain="s3.test")
    except errors.S3Error:
        return
    if target.bucket is not None:
        assert is_valid_bucket_name(target.bucket)


# --- request XML ------------------------------------------------------------

S3_NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def test_delete_objects_bodies_with_and_without_namespace():
    body = f"<Delete {S3_NS}><Object><Key>a&amp;b</Key></Object><Object><Key>c</Key><VersionId>null</VersionId></Object><Quiet>true</Quiet></Delete>"
    request = parse_delete_objects(body.encode())
    assert request.keys == [("a&b", None), ("c", "null")] and request.quiet
    plain = parse_delete_objects(b"<Delete><Object><Key>k</Key></Object></Delete>")
    assert plain.keys == [("k", None)] and not plain.quiet


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<Delete></Delete>",
        b"<Delete><Object></Object></Delete>",
        b"<Delete><Object><Key></Key></Object></Delete>",
        b"<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
        b"<Delete><Object><Key>a</Key></Object><Quiet>perhaps</Quiet></Delete>",
        b"<Remove><Object><Key>a</Key></Object></Remove>",
        b"<Delete><Object><Key>a</Key></Object>",
        b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>",
    ],
)
def test_malformed_delete_objects_bodies(body):
    with pytest.raises(errors.MalformedXML):
        parse_delete_objects(body)


def test_entity_expansion_and_external_entities_are_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><Delete><Object><Key>&b;</Key></Object></Delete>'
    external = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&x;</Key></Object></Delete>'
    for body in (bomb, external):
        with pytest.raises(errors.MalformedXML):
            parse_delete_objects(body)


def test_an_oversized_xml_body_is_refused_before_parsing():
    with pytest.raises(errors.MaxMessageLengthExceeded):
        parse_delete_objects(b"<Delete>" + b" " * (2 * 2**20) + b"</Delete>")


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=200) | st.text(st.sampled_from("<>/DeleObjcKy&;! x"), max_size=80).map(str.encode)
)
def test_any_delete_body_parses_or_is_malformed_xml(body):
    with contextlib.suppress(errors.MalformedXML):
        parse_delete_objects(body)


def test_location_constraints():
    config = f"<CreateBucketConfiguration {S3_NS}><LocationConstraint>eu-west-3</LocationConstraint></CreateBucketConfiguration>"
    assert parse_location_constraint(config.encode(), region="eu-west-3") == "eu-west-3"
    assert parse_location_constraint(b"", region="eu-west-3") == "eu-west-3"
    assert parse_location_constraint(b"<CreateBucketConfiguration/>", region="us-east-1") == "us-east-1"
    with pytest.raises(errors.InvalidLocationConstraint):
        parse_location_constraint(config.encode(), region="us-east-1")
    with pytest.raises(errors.MalformedXML):
        parse_location_constraint(b"<Create>", region="us-east-1")


# --- CopyObject ---------------------------------------------------------------


def test_copy_sources():
    source = parse_copy_source("/bkt/a%20b/c%3Fd")
    assert (source.bucket, source.key) == ("bkt", "a b/c?d")
    assert parse_copy_source("bkt/k?versionId=null").key == "k"
    for bad in ("bkt", "/bkt/", "", "/Bad_B/k"):
        with pytest.raises((errors.InvalidArgument, errors.InvalidBucketName)):
            parse_copy_source(bad)
    with pytest.raises(errors.InvalidArgument):
        parse_copy_source("bkt/k?versionId=3HL4kqtJlcpXroDTDmJ")


def test_copy_directives_and_conditions():
    assert metadata_directive({}) == "COPY"
    assert metadata_directive({"x-amz-metadata-directive": "replace"}) == "REPLACE"
    with pytest.raises(errors.InvalidArgument):
        metadata_directive({"x-amz-metadata-directive": "MERGE"})
    assert source_conditions({"x-amz-copy-source-if-match": '"e"', "if-match": "x"}) == {"If-Match": '"e"'}


def test_a_copy_onto_itself_must_replace_something():
    source = parse_copy_source("bkt/k")
    with pytest.raises(errors.InvalidRequest):
        check_not_a_self_copy(source, "bkt", "k", {})
    check_not_a_self_copy(source, "bkt", "k", {"x-amz-metadata-directive": "REPLACE"})
    check_not_a_self_copy(source, "bkt", "other", {})


# --- object headers -----------------------------------------------------------


def test_user_metadata_is_bounded_to_two_kib():
    assert user_metadata({"x-amz-meta-color": " blue ", "content-type": "x"}) == {"color": "blue"}
    user_metadata({"x-amz-meta-a": "v" * 2047})
    with pytest.raises(errors.MetadataTooLarge):
        user_metadata({"x-amz-meta-a": "v" * 2048})


def test_aws_chunked_is_never_the_objects_content_encoding():
    assert is_aws_chunked({"content-encoding": "gzip, aws-chunked"})
    assert standard_headers({"content-encoding": "aws-chunked", "cache-control": "no-cache"}) == {
        "cache-control": "no-cache"
    }
    assert standard_headers({"content-encoding": "aws-chunked,gzip"}) == {"content-encoding": "gzip"}


def test_response_overrides_need_a_signed_request():
    query = {"response-content-type": "text/plain", "response-expires": "0", "prefix": "x"}
    assert response_overrides(query, anonymous=False) == {"Content-Type": "text/plain", "Expires": "0"}
    with pytest.raises(errors.InvalidRequest):
        response_overrides(query, anonymous=True)
    assert response_overrides({}, anonymous=True) == {}
    for control in ("\x00", "\r\nSet-Cookie: a=b", "\x7f"):
        with pytest.raises(errors.InvalidArgument):
            response_overrides({"response-content-type": f"text/{control}"}, anonymous=False)
    assert response_overrides({"response-content-disposition": "a;\tb"}, anonymous=False)


def test_content_md5_is_base64_of_sixteen_bytes():
    digest = hashlib.md5(b"x").digest()
    assert content_md5_hex(base64.b64encode(digest).decode()) == digest.hex()
    for bad in ("not base64!", base64.b64encode(b"short").decode(), hashlib.md5(b"x").hexdigest()):
        with pytest.raises(errors.InvalidDigest):
            content_md5_hex(bad)


@pytest.mark.parametrize(
    "value, passed",
    [
        ("bytes=0-9", "bytes=0-9"),
        ("bytes=5-", "bytes=5-"),
        ("bytes=-3", "bytes=-3"),
        ("bytes=0-1,4-5", None),  # S3 serves one range; several: the whole object
        ("bytes=9-2", None),
        ("bytes=-0", None),
        ("items=0-1", None),
        ("", None),
    ],
)
def test_byte_ranges(value, passed):
    assert byte_range(value) == passed
