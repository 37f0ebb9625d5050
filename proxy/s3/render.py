"""S3's XML response bodies and the headers every S3 response carries, pure.

Text is escaped for XML; characters XML 1.0 cannot carry literally (control
characters in keys) are written as character references, as S3 does; clients
that need them exact ask for `encoding-type=url`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from dolmen.proxy.s3.errors import S3Error
from dolmen.storage_node.timestamps import iso_second

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
XML_CONTENT_TYPE = "application/xml"
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
_NEEDS_ESCAPE = re.compile(r"[&<>\"'\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_XML_10 = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # not even as references


def escape(text: str) -> str:
    if _NEEDS_ESCAPE.search(text) is None:
        return text  # (most keys and values: no new string)
    return _NEEDS_ESCAPE.sub(lambda match: _ESCAPES.get(match[0]) or f"&#x{ord(match[0]):x};", text)


def element(name: str, text: str) -> str:
    return f"<{name}>{escape(text)}</{name}>"


def document(root: str, body: str, *, namespaced: bool = True) -> bytes:
    opening = f'<{root} xmlns="{XMLNS}">' if namespaced else f"<{root}>"
    return f"{XML_DECLARATION}{opening}{body}</{root}>".encode("utf-8", "surrogateescape")


def iso8601(time_s: float) -> str:
    """S3's timestamps in XML: 2006-02-03T16:45:09.000Z (UTC, milliseconds)."""
    milliseconds = int(round(time_s * 1000))
    seconds, millis = divmod(milliseconds, 1000)
    return f"{iso_second(seconds)}.{millis:03d}Z"


def http_date(time_s: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(int(time_s)))


def quoted_etag(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def request_id_headers(request_id: str, host_id: str) -> dict[str, str]:
    """The ids on every S3 response: the request's, and `x-amz-id-2` naming the proxy that served it."""
    return {"x-amz-request-id": request_id, "x-amz-id-2": host_id}


def error_xml(error: S3Error, *, request_id: str, host_id: str, resource: str = "") -> bytes:
    """An error document every XML 1.0 parser reads: a refused request's path may hold what a
    character reference cannot carry there (a NUL), so the Resource is %-escaped where needed."""
    fields = "".join(element(name, value) for name, value in error.fields.items())
    resource = _NOT_XML_10.sub(lambda match: quote(match[0], errors="surrogateescape"), resource)
    resource_field = element("Resource", resource) if resource else ""
    body = (
        element("Code", error.code)
        + element("Message", error.message)
        + fields
        + resource_field
        + element("RequestId", request_id)
        + element("HostId", host_id)
    )
    return document("Error", body, namespaced=False)


@dataclass(frozen=True)
class Owner:
    """A bucket's owner as S3 shows it: the project's id and name (ACLs build on this later)."""

    id: str
    display_name: str

    def xml(self, name: str = "Owner") -> str:
        return f"<{name}>{element('ID', self.id)}{element('DisplayName', self.display_name)}</{name}>"


@dataclass(frozen=True)
class BucketRow:
    name: str
    created_s: float
    region: str


def list_buckets_xml(
    owner: Owner,
    buckets: Iterable[BucketRow],
    *,
    prefix: str | None = None,
    continuation_token: str | None = None,
) -> bytes:
    """ListBuckets; `continuation_token` is where the next page starts (more buckets follow)."""
    rows = "".join(
        f"<Bucket>{element('Name', bucket.name)}{element('CreationDate', iso8601(bucket.created_s))}"
        f"{element('BucketRegion', bucket.region)}</Bucket>"
        for bucket in buckets
    )
    body = f"{owner.xml()}<Buckets>{rows}</Buckets>"
    if continuation_token is not None:
        body += element("ContinuationToken", continuation_token)
    if prefix is not None:
        body += element("Prefix", prefix)
    return document("ListAllMyBucketsResult", body)


def location_xml(region: str) -> bytes:
    """GetBucketLocation: us-east-1 is the empty constraint, as S3 answers it."""
    constraint = "" if region == "us-east-1" else escape(region)
    return f'{XML_DECLARATION}<LocationConstraint xmlns="{XMLNS}">{constraint}</LocationConstraint>'.encode()


def copy_result_xml(etag: str, last_modified_s: float) -> bytes:
    body = element("LastModified", iso8601(last_modified_s)) + element("ETag", quoted_etag(etag))
    return document("CopyObjectResult", body)


@dataclass(frozen=True)
class DeleteFailure:
    key: str
    code: str
    message: str


def delete_result_xml(deleted: Iterable[str], failures: Iterable[DeleteFailure], *, quiet: bool) -> bytes:
    """DeleteObjects: every deleted key unless `quiet`, and every failure always."""
    rows = "" if quiet else "".join(f"<Deleted>{element('Key', key)}</Deleted>" for key in deleted)
    rows += "".join(
        f"<Error>{element('Key', failure.key)}{element('Code', failure.code)}{element('Message', failure.message)}</Error>"
        for failure in failures
    )
    return document("DeleteResult", rows)
