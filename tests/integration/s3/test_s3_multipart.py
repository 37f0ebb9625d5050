"""Multipart uploads over real HTTP and a real cluster: parts, listings, abort, expiry and the cleaner,
with "nothing left" checked on every storage node's container replica and object replica."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import zlib

from dolmen.proxy.reserved import reserved_container
from dolmen.proxy.s3.checksums import b64
from dolmen.proxy.s3.cleaner import UploadCleaner
from dolmen.proxy.s3.uploads import PART_PREFIX
from helpers.cluster import unique
from helpers.s3 import error_code, s3_client

from dolmen.cluster.names import node_path
from dolmen.cluster.placement import node_of

ACCOUNT = "AUTH_p1"  # the test credential's project


async def names_on_every_replica(client, container: str, prefix: str) -> set[str]:
    """The names each container replica lists (not the merged view): what is left on disk."""
    ring = client.rings.container
    partition, devices = ring.get_nodes(ACCOUNT, container)
    names: set[str] = set()
    for device in devices:
        answer = await client.transport.request(
            node_of(device),
            "GET",
            node_path(device.device, partition, ACCOUNT, container),
            query=f"format=json&prefix={prefix}",
            headers={"X-Backend-Role": "container"},
            body_bytes_max=2**22,
        )
        if answer.status == 200:
            names |= {entry["name"] for entry in json.loads(answer.body)}
        else:
            assert answer.status in (204, 404), answer.status
    return names


async def object_replicas_left(client, container: str, names: set[str]) -> list[str]:
    left = []
    ring = client.rings.object(0)
    for name in names:
        partition, devices = ring.get_nodes(ACCOUNT, container, name)
        for device in devices:
            path = node_path(device.device, partition, ACCOUNT, container, name)
            answer = await client.transport.request(node_of(device), "HEAD", path, headers={})
            if answer.status == 200:
                left.append(f"{name} on {device.device}")
    return left


def cleaner(client, **settings) -> UploadCleaner:
    defaults = {
        "upload_expiry_s": 7 * 86_400.0,
        "interval_s": 1.0,
        "sweeps_per_pass": 100,
        "deletes_per_pass": 1000,
    }
    return UploadCleaner(client, **{**defaults, **settings})


async def test_parts_list_replace_and_abort_and_the_cleaner_leaves_no_part(s3_endpoint, cluster_client):
    client = s3_client(s3_endpoint)
    bucket = unique("mp")
    uploads = reserved_container("uploads", bucket)

    def scenario() -> tuple[str, str]:
        client.create_bucket(Bucket=bucket)
        created = client.create_multipart_upload(Bucket=bucket, Key="big", ChecksumAlgorithm="CRC32")
        upload_id = created["UploadId"]
        assert created["ChecksumAlgorithm"] == "CRC32"
        first = client.upload_part(
            Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=1, Body=b"a" * 1000
        )
        client.upload_part(Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=2, Body=b"old")
        second = client.upload_part(Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=2, Body=b"new!")
        client.put_object(Bucket=bucket, Key="source", Body=b"0123456789")
        copied = client.upload_part_copy(
            Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=3,
            CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange="bytes=2-5",
        )["CopyPartResult"]  # fmt: skip
        assert copied["ETag"] == '"' + hashlib.md5(b"2345").hexdigest() + '"'
        assert copied["ChecksumCRC32"] == b64(zlib.crc32(b"2345").to_bytes(4, "big"))
        for bad_range, code in (("bytes=5-2", "InvalidArgument"), ("bytes=0-10", "InvalidRange")):
            assert (
                error_code(
                    lambda bad_range=bad_range: client.upload_part_copy(
                        Bucket=bucket,
                        Key="big",
                        UploadId=upload_id,
                        PartNumber=4,
                        CopySource={"Bucket": bucket, "Key": "source"},
                        CopySourceRange=bad_range,
                    )  # fmt: skip
                )
                == code
            )
        listed = client.list_parts(Bucket=bucket, Key="big", UploadId=upload_id)
        assert [(part["PartNumber"], part["ETag"], part["Size"]) for part in listed["Parts"]] == [
            (1, first["ETag"], 1000),
            (2, second["ETag"], 4),
            (3, copied["ETag"], 4),
        ]
        assert listed["Parts"][1]["ChecksumCRC32"] == second["ChecksumCRC32"]
        paged = client.list_parts(Bucket=bucket, Key="big", UploadId=upload_id, MaxParts=1)
        assert paged["IsTruncated"] and paged["NextPartNumberMarker"] == 1 and len(paged["Parts"]) == 1
        other = client.create_multipart_upload(Bucket=bucket, Key="dir/x")["UploadId"]
        client.upload_part(Bucket=bucket, Key="dir/x", UploadId=other, PartNumber=1, Body=b"x" * 10)
        everything = client.list_multipart_uploads(Bucket=bucket)
        assert [(u["Key"], u["UploadId"]) for u in everything["Uploads"]] == [
            ("big", upload_id),
            ("dir/x", other),
        ]
        rolled = client.list_multipart_uploads(Bucket=bucket, Delimiter="/")
        assert [u["Key"] for u in rolled["Uploads"]] == ["big"]
        assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["dir/"]
        assert client.list_multipart_uploads(Bucket=bucket, MaxUploads=1)["IsTruncated"]
        assert (
            error_code(
                lambda: client.upload_part(
                    Bucket=bucket, Key="big", UploadId="0" * 32, PartNumber=1, Body=b""
                )
            )
            == "NoSuchUpload"
        )
        assert (
            error_code(
                lambda: client.upload_part(
                    Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=10_001, Body=b""
                )
            )
            == "InvalidArgument"
        )
        assert (
            error_code(
                lambda: client.upload_part(
                    Bucket=bucket,
                    Key="big",
                    UploadId=upload_id,
                    PartNumber=3,
                    Body=b"abc",
                    ChecksumCRC32="AAAAAA==",
                )
            )
            == "BadDigest"
        )
        client.abort_multipart_upload(Bucket=bucket, Key="big", UploadId=upload_id)
        assert (
            error_code(lambda: client.list_parts(Bucket=bucket, Key="big", UploadId=upload_id))
            == "NoSuchUpload"
        )
        assert (
            error_code(
                lambda: client.upload_part(
                    Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=3, Body=b"late"
                )
            )
            == "NoSuchUpload"
        )
        assert [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [
            "dir/x"
        ]
        return upload_id, other

    upload_id, other = await asyncio.to_thread(scenario)
    stored = await names_on_every_replica(cluster_client, uploads, PART_PREFIX)
    aborted_parts = {name for name in stored if upload_id in name}
    assert len(aborted_parts) == 4  # parts 1, 2, 3 and the replaced 2; the late UploadPart stored nothing
    await cleaner(cluster_client).run_pass(now_s=time.time())
    left = await names_on_every_replica(cluster_client, uploads, PART_PREFIX)
    assert not {name for name in left if upload_id in name}
    assert await object_replicas_left(cluster_client, uploads, aborted_parts) == []
    assert any(other in name for name in left)  # the live upload keeps its part

    # Expiry: a week later the other upload is aborted by the cleaner, and its part removed.
    await cleaner(cluster_client).run_pass(now_s=time.time() + 8 * 86_400)
    assert not await names_on_every_replica(cluster_client, uploads, PART_PREFIX)
    listed = await asyncio.to_thread(client.list_multipart_uploads, Bucket=bucket)
    assert listed.get("Uploads", []) == []
