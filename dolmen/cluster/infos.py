"""What a container or account replica says of itself, pure: its stats, metadata and creation time.

A replica tells it in the headers of every answer about the record, a HEAD's or a listing's
(storage-node/PROTOCOL.md, "Container server"), so a listing carries the info of what it lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dolmen.storage_node.errors import InvalidTimestamp
from dolmen.storage_node.timestamps import ZERO, Timestamp


@dataclass(frozen=True, slots=True)
class AccountInfo:
    container_count: int
    object_count: int
    bytes_used: int
    metadata: Mapping[str, str]
    timestamp: Timestamp


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    object_count: int
    bytes_used: int
    policy_index: int
    metadata: Mapping[str, str]
    timestamp: Timestamp


def account_info(headers: Mapping[str, str]) -> AccountInfo:
    return AccountInfo(
        container_count=_int(headers, "X-Account-Container-Count"),
        object_count=_int(headers, "X-Account-Object-Count"),
        bytes_used=_int(headers, "X-Account-Bytes-Used"),
        metadata=_metadata(headers, "x-account-meta-"),
        timestamp=_timestamp(headers),
    )


def container_info(headers: Mapping[str, str]) -> ContainerInfo:
    return ContainerInfo(
        object_count=_int(headers, "X-Container-Object-Count"),
        bytes_used=_int(headers, "X-Container-Bytes-Used"),
        policy_index=_int(headers, "X-Backend-Storage-Policy-Index"),
        metadata=_metadata(headers, "x-container-meta-"),
        timestamp=_timestamp(headers),
    )


def _int(headers: Mapping[str, str], name: str) -> int:
    text = headers.get(name, "0")
    return int(text) if text.isdigit() else 0


def _metadata(headers: Mapping[str, str], prefix: str) -> dict[str, str]:
    return {
        name[len(prefix) :].lower(): value
        for name, value in headers.items()
        if name.lower().startswith(prefix)
    }


def _timestamp(headers: Mapping[str, str]) -> Timestamp:
    try:
        return Timestamp.parse(headers.get("X-Timestamp", ""))
    except InvalidTimestamp:
        return ZERO
