"""POST Object (browser uploads): a multipart/form-data body whose signed policy says what it may store.

The fields before the file (at most S3_POST_FIELDS_BYTES_MAX bytes,
S3_POST_FIELDS_COUNT_MAX fields) are read and checked (postpolicy.py) before a
byte of the file is stored; the file then streams into the object, its length
checked against the policy's content-length-range as it arrives and once more
before the write commits, so a file outside the range stores nothing. A checksum
field (`x-amz-checksum-<algorithm>`, at most one) is verified the same way and
stored with the object, as a PutObject's header would be. Fields after the file
are ignored, as S3 ignores them.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, web
from dolmen.proxy.errors import AccessDenied, NotAuthenticated
from dolmen.proxy.s3 import errors as s3
from dolmen.proxy.s3.checksums import footer_items as checksums_footer
from dolmen.proxy.s3.checksums import requested_checksums
from dolmen.proxy.s3.handlers import S3Context, checksum_answer, stored_metadata
from dolmen.proxy.s3.headers import stored_content_type
from dolmen.proxy.s3.names import check_key
from dolmen.proxy.s3.payload import PayloadVerifier
from dolmen.proxy.s3.postpolicy import (
    Policy,
    check_length,
    check_policy,
    check_signature,
    form_signature,
    parse_policy,
)
from dolmen.proxy.s3.render import XML_CONTENT_TYPE, document, element, quoted_etag
from dolmen.proxy.swift.paths import SwiftPath

from dolmen.limits import HTTP_CHUNK_BYTES, S3_POST_FIELDS_BYTES_MAX, S3_POST_FIELDS_COUNT_MAX

_SUCCESS_STATUSES = {"200": 200, "201": 201, "204": 204}


async def read_fields(request: web.Request) -> tuple[dict[str, str], BodyPartReader, str]:
    """The form fields before the file (lower-cased names), the file's part and its filename."""
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        raise s3.PreconditionFailed("Bucket POST must be of the enclosure-type multipart/form-data") from None
    fields: dict[str, str] = {}
    budget_bytes = S3_POST_FIELDS_BYTES_MAX
    for _ in range(S3_POST_FIELDS_COUNT_MAX + 1):
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader) or part.name is None:
            raise s3.MalformedPOSTRequest()
        name = part.name.lower()
        if name == "file":
            return fields, part, part.filename or ""
        value = bytearray()
        while chunk := await part.read_chunk(min(HTTP_CHUNK_BYTES, budget_bytes + 1)):
            value += chunk
            budget_bytes -= len(chunk)
            if budget_bytes < 0:
                raise s3.MaxPostPreDataLengthExceeded()
        try:
            fields[name] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise s3.MalformedPOSTRequest() from None
    else:
        raise s3.MaxPostPreDataLengthExceeded()
    raise s3.InvalidArgument("POST requires exactly one file upload per request.", ArgumentName="file")


async def post_object(
    context: S3Context, request, target, headers, query, authenticated
) -> web.StreamResponse:
    bucket = target.bucket
    assert bucket is not None
    fields, file_part, filename = await read_fields(request)
    if "key" not in fields:
        raise s3.InvalidArgument("Bucket POST must contain a field named 'key'.", ArgumentName="key")
    fields["key"] = check_key(fields["key"].replace("${filename}", filename))
    fields["bucket"] = bucket
    signature = form_signature(fields, region=context.config.region)
    if signature is None:
        raise s3.AccessDenied()  # anonymous writes need bucket ACLs or policies (later work)
    credential = await context.credentials.get(signature.access_key)
    if credential is None:
        raise s3.InvalidAccessKeyId(AWSAccessKeyId=signature.access_key)
    check_signature(signature, fields["policy"], credential.secret)
    policy = parse_policy(fields["policy"])
    check_policy(policy, fields, now_s=time.time())
    claim = await context.owners.get(bucket)
    if claim is None:
        raise s3.NoSuchBucket(BucketName=bucket)
    try:  # the signer writes the key as a PUT would (the Swift API's rules: roles, then ACLs)
        await context.authoriser.authorise_context(
            "PUT", SwiftPath(claim.account, bucket, fields["key"]), credential.context
        )
    except (NotAuthenticated, AccessDenied):
        raise s3.AccessDenied() from None
    request["key"] = fields["key"]
    claimed = requested_checksums(fields)
    algorithm, expected = next(iter(claimed.items()), (None, None))
    verifier = PayloadVerifier(payload_length=None, checksum_algorithm=algorithm, checksum_expected=expected)
    received = [0]
    checksums: dict[str, str] = {}

    async def file_body() -> AsyncIterator[bytes]:
        while chunk := await file_part.read_chunk(HTTP_CHUNK_BYTES):
            received[0] += len(chunk)
            request["bytes_in"] = received[0]
            if policy.length_range is not None and received[0] > policy.length_range[1]:
                check_length(policy, received[0])
            verifier.feed(chunk)
            yield chunk

    async def check_body() -> None:
        check_length(policy, received[0])
        checksums.update(verifier.finish())

    result = await context.client.put_object(
        claim.account,
        bucket,
        fields["key"],
        file_body(),
        content_type=stored_content_type(fields),
        metadata=stored_metadata(fields),
        check_body=check_body,
        footer_metadata=lambda: checksums_footer(checksums),
    )
    answer = success_answer(fields, bucket=bucket, etag=result.etag, policy=policy)
    answer.headers.update(checksum_answer(checksums))
    return answer


def success_answer(fields: dict[str, str], *, bucket: str, etag: str, policy: Policy) -> web.Response:
    """A redirect to success_action_redirect, or success_action_status (204 by default)."""
    key = fields["key"]
    location = f"/{urllib.parse.quote(bucket)}/{urllib.parse.quote(key)}"
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect and redirect.lower().startswith(("http://", "https://")):
        parameters = urllib.parse.urlencode({"bucket": bucket, "key": key, "etag": quoted_etag(etag)})
        separator = "&" if "?" in redirect else "?"
        return web.Response(
            status=303, headers={"Location": f"{redirect}{separator}{parameters}", "ETag": quoted_etag(etag)}
        )
    status = _SUCCESS_STATUSES.get(fields.get("success_action_status", ""), 204)
    answer_headers = {"ETag": quoted_etag(etag), "Location": location}
    if status != 201:
        return web.Response(status=status, headers=answer_headers)
    body = element("Location", location) + element("Bucket", bucket) + element("Key", key)
    body += element("ETag", quoted_etag(etag))
    return web.Response(
        status=201,
        body=document("PostResponse", body, namespaced=False),
        content_type=XML_CONTENT_TYPE,
        headers=answer_headers,
    )
