"""Request bodies in XML (DeleteObjects, CreateBucketConfiguration, AccessControlPolicy,
CompleteMultipartUpload), parsed safely, pure.

defusedxml refuses DTDs, entity declarations and external references, so no
body can expand or fetch anything; the caller reads at most the stated number
of bytes (S3_REQUEST_XML_BYTES_MAX, S3_BUCKET_CONFIG_XML_BYTES_MAX) before
parsing. Elements may be in S3's namespace or none. Anything else than the
documented shape is MalformedXML.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree
from defusedxml import DefusedXmlException
from dolmen.proxy.s3.acl import EMAIL_GRANTS_UNRESOLVED, PERMISSIONS, Grant
from dolmen.proxy.s3.errors import (
    InvalidLocationConstraint,
    MalformedACLError,
    MalformedXML,
    MaxMessageLengthExceeded,
    S3NotImplemented,
    UnresolvableGrantByEmailAddress,
)
from dolmen.proxy.s3.uploads import RequestedPart

from dolmen.limits import (
    S3_BUCKET_CONFIG_XML_BYTES_MAX,
    S3_COMPLETE_XML_BYTES_MAX,
    S3_DELETE_OBJECTS_KEYS_MAX,
    S3_PARTS_MAX,
    S3_REQUEST_XML_BYTES_MAX,
)

_PART_CHECKSUMS = {
    "ChecksumCRC32": "crc32",
    "ChecksumCRC32C": "crc32c",
    "ChecksumCRC64NVME": "crc64nvme",
    "ChecksumSHA1": "sha1",
    "ChecksumSHA256": "sha256",
}


def _parse(body: bytes, size_bytes_max: int) -> Element:
    if len(body) > size_bytes_max:
        raise MaxMessageLengthExceeded()
    try:
        root = defusedxml.ElementTree.fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError, UnicodeError):
        raise MalformedXML() from None
    assert isinstance(root, Element)
    return root


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(parent: Element, name: str) -> list[Element]:
    return [child for child in parent if _local(child.tag) == name]


def _only_text(parent: Element, name: str) -> str | None:
    found = _children(parent, name)
    if len(found) > 1:
        raise MalformedXML()
    return (found[0].text or "") if found else None


@dataclass(frozen=True)
class DeleteRequest:
    keys: list[tuple[str, str | None]]  # (key, version id)
    quiet: bool


def parse_delete_objects(body: bytes) -> DeleteRequest:
    """The keys of a DeleteObjects body: 1 to 1,000 `<Object><Key>` and an optional `<Quiet>`."""
    root = _parse(body, S3_REQUEST_XML_BYTES_MAX)
    if _local(root.tag) != "Delete":
        raise MalformedXML()
    quiet = (_only_text(root, "Quiet") or "false").strip().lower()
    if quiet not in ("true", "false"):
        raise MalformedXML()
    objects = _children(root, "Object")
    if not 1 <= len(objects) <= S3_DELETE_OBJECTS_KEYS_MAX:
        raise MalformedXML()
    keys = []
    for item in objects:
        key = _only_text(item, "Key")
        if not key:
            raise MalformedXML()
        keys.append((key, _only_text(item, "VersionId")))
    return DeleteRequest(keys=keys, quiet=quiet == "true")


def parse_location_constraint(body: bytes, *, region: str) -> str:
    """The region a CreateBucket body asks for (an empty body: ours); InvalidLocationConstraint for another."""
    if not body.strip():
        return region
    root = _parse(body, S3_BUCKET_CONFIG_XML_BYTES_MAX)
    if _local(root.tag) != "CreateBucketConfiguration":
        raise MalformedXML()
    constraint = (_only_text(root, "LocationConstraint") or "").strip()
    if constraint in ("", "us-east-1") and region == "us-east-1":
        return region
    if constraint != region:
        raise InvalidLocationConstraint(
            f"The {constraint or 'unspecified'} location constraint is incompatible with the region "
            f"specific endpoint this request was sent to.",
            LocationConstraint=constraint,
        )
    return region


def parse_access_control_policy(body: bytes) -> tuple[Grant, ...]:
    """The grants of a PutBucketAcl/PutObjectAcl body (`AccessControlPolicy`)."""
    root = _parse(body, S3_REQUEST_XML_BYTES_MAX)
    if _local(root.tag) != "AccessControlPolicy":
        raise MalformedACLError()
    grants: list[Grant] = []
    for acl in _children(root, "AccessControlList"):
        for grant in _children(acl, "Grant"):
            grantees, permissions = _children(grant, "Grantee"), _children(grant, "Permission")
            if len(grantees) != 1 or len(permissions) != 1:
                raise MalformedACLError()
            permission = (permissions[0].text or "").strip()
            if permission not in PERMISSIONS:
                raise MalformedACLError()
            uri, user_id = _only_text(grantees[0], "URI"), _only_text(grantees[0], "ID")
            if uri is not None and user_id is None:
                grants.append(Grant(permission, group=uri.strip()))
            elif user_id is not None and uri is None:
                grants.append(Grant(permission, user_id=user_id.strip()))
            elif uri is None and _only_text(grantees[0], "EmailAddress") is not None:
                raise UnresolvableGrantByEmailAddress(EMAIL_GRANTS_UNRESOLVED)
            else:
                raise S3NotImplemented("Only group and canonical-user grantees are supported.")
    return tuple(grants)


def parse_complete_multipart(body: bytes) -> list[RequestedPart]:
    """The parts a CompleteMultipartUpload body names, in its order: 1 to 10,000 `<Part>`, each with a
    `<PartNumber>` (1..10,000) and an `<ETag>`, and optionally its checksum."""
    root = _parse(body, S3_COMPLETE_XML_BYTES_MAX)
    if _local(root.tag) != "CompleteMultipartUpload":
        raise MalformedXML()
    items = _children(root, "Part")
    if not 1 <= len(items) <= S3_PARTS_MAX:
        raise MalformedXML()
    parts = []
    for item in items:
        number = (_only_text(item, "PartNumber") or "").strip()
        etag = _only_text(item, "ETag")
        if not number.isascii() or not number.isdigit() or len(number) > 5 or etag is None:
            raise MalformedXML()
        if not 1 <= int(number) <= S3_PARTS_MAX:
            raise MalformedXML()
        checksums = {}
        for element_name, algorithm in _PART_CHECKSUMS.items():
            value = _only_text(item, element_name)
            if value is not None:
                checksums[algorithm] = value.strip()
        parts.append(RequestedPart(int(number), etag, checksums))
    return parts
