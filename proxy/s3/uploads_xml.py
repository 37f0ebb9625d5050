"""The XML answers of the multipart operations, pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from dolmen.proxy.s3.attributes import checksum_element
from dolmen.proxy.s3.render import Owner, document, element, iso8601, quoted_etag
from dolmen.proxy.s3.uploads import StoredPart, initiated_s


def initiate_xml(bucket: str, key: str, upload_id: str) -> bytes:
    body = element("Bucket", bucket) + element("Key", key) + element("UploadId", upload_id)
    return document("InitiateMultipartUploadResult", body)


def complete_xml(
    *, location: str, bucket: str, key: str, etag: str, checksum: tuple[str, str, str] | None
) -> bytes:
    body = element("Location", location) + element("Bucket", bucket) + element("Key", key)
    body += element("ETag", quoted_etag(etag))
    if checksum is not None:
        algorithm, value, checksum_type = checksum
        body += element(checksum_element(algorithm), value) + element("ChecksumType", checksum_type)
    return document("CompleteMultipartUploadResult", body)


def copy_part_xml(etag: str, last_modified_s: float, checksum: tuple[str, str] | None) -> bytes:
    body = element("LastModified", iso8601(last_modified_s)) + element("ETag", quoted_etag(etag))
    if checksum is not None:
        body += element(checksum_element(checksum[0]), checksum[1])
    return document("CopyPartResult", body)


@dataclass(frozen=True)
class PartsPage:
    bucket: str
    key: str
    upload_id: str
    owner: Owner
    marker: int
    max_parts: int
    parts: Sequence[StoredPart]
    checksums: Sequence[str | None]  # each part's, in the upload's algorithm
    truncated: bool
    checksum_algorithm: str | None
    checksum_type: str | None


def list_parts_xml(page: PartsPage) -> bytes:
    body = element("Bucket", page.bucket) + element("Key", page.key) + element("UploadId", page.upload_id)
    body += page.owner.xml("Initiator") + page.owner.xml() + element("StorageClass", "STANDARD")
    body += element("PartNumberMarker", str(page.marker))
    next_marker = page.parts[-1].number if page.parts else page.marker
    body += element("NextPartNumberMarker", str(next_marker)) + element("MaxParts", str(page.max_parts))
    body += element("IsTruncated", "true" if page.truncated else "false")
    if page.checksum_algorithm:
        body += element("ChecksumAlgorithm", page.checksum_algorithm.upper())
        body += element("ChecksumType", page.checksum_type or "")
    for part, checksum in zip(page.parts, page.checksums, strict=True):
        body += "<Part>" + element("PartNumber", str(part.number))
        body += element("LastModified", iso8601(part.last_modified_s)) + element(
            "ETag", quoted_etag(part.etag)
        )
        body += element("Size", str(part.size))
        if checksum is not None and page.checksum_algorithm:
            body += element(checksum_element(page.checksum_algorithm), checksum)
        body += "</Part>"
    return document("ListPartsResult", body)


@dataclass(frozen=True)
class UploadsPage:
    bucket: str
    prefix: str
    delimiter: str
    key_marker: str
    upload_id_marker: str
    max_uploads: int
    uploads: Sequence[tuple[str, str, Owner]]  # (key, upload id, initiator)
    common_prefixes: Sequence[str]
    truncated: bool
    url_encoded: bool


def list_uploads_xml(page: UploadsPage) -> bytes:
    def text(value: str) -> str:
        return quote(value, safe="/") if page.url_encoded else value

    body = element("Bucket", page.bucket) + element("KeyMarker", text(page.key_marker))
    body += element("UploadIdMarker", page.upload_id_marker)
    next_key, next_upload = page.uploads[-1][:2] if page.uploads else (page.key_marker, page.upload_id_marker)
    if page.common_prefixes and (not page.uploads or page.common_prefixes[-1] > page.uploads[-1][0]):
        next_key, next_upload = page.common_prefixes[-1], ""
    body += element("NextKeyMarker", text(next_key)) + element("NextUploadIdMarker", next_upload)
    if page.delimiter:
        body += element("Delimiter", text(page.delimiter))
    body += element("Prefix", text(page.prefix)) + element("MaxUploads", str(page.max_uploads))
    if page.url_encoded:
        body += element("EncodingType", "url")
    body += element("IsTruncated", "true" if page.truncated else "false")
    for key, upload_id, initiator in page.uploads:
        body += "<Upload>" + element("Key", text(key)) + element("UploadId", upload_id)
        body += initiator.xml("Initiator") + initiator.xml() + element("StorageClass", "STANDARD")
        body += element("Initiated", iso8601(initiated_s(upload_id))) + "</Upload>"
    for prefix in page.common_prefixes:
        body += f"<CommonPrefixes>{element('Prefix', text(prefix))}</CommonPrefixes>"
    return document("ListMultipartUploadsResult", body)
