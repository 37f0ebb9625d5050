"""The cluster client: the one data path every Dolmen service uses (API.md lists what it offers)."""

from dolmen.cluster.client import ClusterClient
from dolmen.cluster.config import ClusterClientConfig, load_cluster_config
from dolmen.cluster.errors import (
    BadName,
    BodyCheckFailed,
    ClusterError,
    Conflict,
    ContainerNotEmpty,
    EtagMismatch,
    NotFound,
    NotModified,
    PreconditionFailed,
    QuorumNotReached,
    RangeNotSatisfiable,
    RecordError,
    RecordExists,
    RecordNotFound,
    RecordTooLarge,
    RegisterContention,
    SystemAccountRefused,
    VersionConflict,
)
from dolmen.cluster.infos import AccountInfo, ContainerInfo
from dolmen.cluster.listing import ContainerEntry, Listing, ListingQuery, ObjectEntry, Subdir
from dolmen.cluster.objects import ObjectInfo, ObjectReader, PutResult
from dolmen.cluster.records import Record, Records
from dolmen.storage_node.timestamps import Timestamp
from dolmen.storage_node.updates import LISTING_ETAG_OVERRIDE, LISTING_SIZE_OVERRIDE

__all__ = [
    "LISTING_ETAG_OVERRIDE",
    "LISTING_SIZE_OVERRIDE",
    "AccountInfo",
    "BadName",
    "BodyCheckFailed",
    "ClusterClient",
    "ClusterClientConfig",
    "ClusterError",
    "Conflict",
    "ContainerEntry",
    "ContainerInfo",
    "ContainerNotEmpty",
    "EtagMismatch",
    "Listing",
    "ListingQuery",
    "NotFound",
    "NotModified",
    "ObjectEntry",
    "ObjectInfo",
    "ObjectReader",
    "PreconditionFailed",
    "PutResult",
    "QuorumNotReached",
    "RangeNotSatisfiable",
    "Record",
    "RecordError",
    "RecordExists",
    "RecordNotFound",
    "RecordTooLarge",
    "Records",
    "RegisterContention",
    "Subdir",
    "SystemAccountRefused",
    "Timestamp",
    "VersionConflict",
    "load_cluster_config",
]
