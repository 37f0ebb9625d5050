"""Multipart uploads over real HTTP and a real cluster: parts, listings, abort, expiry and the cleaner,
with "nothing left" checked on every storage node's container replica and object replica."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
import zlib

import aiohttp
import botocore.exceptions
import pytest
from boto3.s3.transfer import TransferConfig
from dolmen.proxy.reserved import reserved_container
from dolmen.proxy.s3.checksums import b64, new_checksum
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


def checksum_of(algorithm: str, data: bytes) -> bytes:
    checksum = new_checksum(algorithm)
    checksum.update(data)
    return checksum.digest()


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


MIB = 2**20


async def test_completed_uploads_read_whole_by_range_and_by_part_and_their_parts_go_with_them(
    s3_endpoint, cluster_client, tmp_path
):
    client = s3_client(s3_endpoint)
    bucket = unique("mpc")
    uploads = reserved_container("uploads", bucket)
    data = os.urandom(12 * MIB + 12_345)
    source, copy = tmp_path / "source", tmp_path / "copy"
    source.write_bytes(data)
    transfer = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=3)

    def scenario() -> None:
        client.create_bucket(Bucket=bucket)
        client.upload_file(str(source), bucket, "big", Config=transfer)
        head = client.head_object(Bucket=bucket, Key="big")
        md5s = b"".join(hashlib.md5(data[i : i + 5 * MIB]).digest() for i in range(0, len(data), 5 * MIB))
        assert head["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"' and head["ContentLength"] == len(data)
        (listed,) = client.list_objects_v2(Bucket=bucket)["Contents"]  # the whole object, not its manifest
        assert (listed["Key"], listed["Size"], listed["ETag"]) == ("big", len(data), head["ETag"])
        client.download_file(bucket, "big", str(copy), Config=transfer)
        assert copy.read_bytes() == data
        ranged = client.get_object(Bucket=bucket, Key="big", Range=f"bytes={5 * MIB - 3}-{5 * MIB + 2}")
        assert ranged["Body"].read() == data[5 * MIB - 3 : 5 * MIB + 3]
        second = client.get_object(Bucket=bucket, Key="big", PartNumber=2)
        assert (
            second["PartsCount"] == 3
            and second["ContentRange"] == f"bytes {5 * MIB}-{10 * MIB - 1}/{len(data)}"
        )
        assert second["Body"].read() == data[5 * MIB : 10 * MIB]
        assert (
            client.head_object(Bucket=bucket, Key="big", PartNumber=3)["ContentLength"]
            == len(data) - 10 * MIB
        )
        assert error_code(lambda: client.head_object(Bucket=bucket, Key="big", PartNumber=4)) == "400"
        assert error_code(lambda: client.get_object(Bucket=bucket, Key="big", PartNumber=4)) == "InvalidPart"
        assert (
            error_code(lambda: client.get_object(Bucket=bucket, Key="big", IfMatch='"nope"'))
            == "PreconditionFailed"
        )
        with pytest.raises(botocore.exceptions.ClientError) as unchanged:
            client.get_object(Bucket=bucket, Key="big", IfNoneMatch=head["ETag"])
        assert unchanged.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
        assert unchanged.value.response["ResponseMetadata"]["HTTPHeaders"]["etag"] == head["ETag"]
        attributes = client.get_object_attributes(
            Bucket=bucket, Key="big", ObjectAttributes=["ObjectParts", "ETag"]
        )
        assert attributes["ObjectParts"]["TotalPartsCount"] == 3 and attributes["ETag"] == head["ETag"].strip(
            '"'
        )
        client.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "big"})
        assert (
            client.get_object(Bucket=bucket, Key="copied")["Body"].read() == data
        )  # the data, not the manifest

    await asyncio.to_thread(scenario)
    kept = {name for name in await names_on_every_replica(cluster_client, uploads, PART_PREFIX)}
    assert len(kept) == 3
    await cleaner(cluster_client).run_pass(now_s=time.time())
    assert await names_on_every_replica(cluster_client, uploads, PART_PREFIX) == kept  # in use: kept
    await asyncio.to_thread(client.put_object, Bucket=bucket, Key="big", Body=b"replaced")
    await cleaner(cluster_client).run_pass(now_s=time.time())
    assert not await names_on_every_replica(cluster_client, uploads, PART_PREFIX)
    assert await object_replicas_left(cluster_client, uploads, kept) == []


async def test_complete_refuses_what_s3_refuses_and_computes_checksums(s3_endpoint, cluster_client):
    client = s3_client(s3_endpoint)
    bucket = unique("mpr")
    uploads = reserved_container("uploads", bucket)
    first, last = os.urandom(5 * MIB), b"tail"

    def scenario() -> None:
        client.create_bucket(Bucket=bucket)
        for algorithm, checksum_type, combine in (
            ("CRC32", "COMPOSITE", None),
            ("CRC64NVME", "FULL_OBJECT", "crc64nvme"),
            ("SHA256", "COMPOSITE", None),
        ):
            key = f"sum-{algorithm}"
            upload = client.create_multipart_upload(
                Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm, ChecksumType=checksum_type
            )["UploadId"]
            member = "Checksum" + algorithm
            parts = []
            for number, body in ((1, first), (2, last)):
                answer = client.upload_part(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload,
                    PartNumber=number,
                    Body=body,
                    ChecksumAlgorithm=algorithm,
                )
                parts.append({"PartNumber": number, "ETag": answer["ETag"], member: answer[member]})
            done = client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
            )
            digests = [base64.b64decode(part[member]) for part in parts]
            if combine:
                expected = b64(checksum_of(combine, first + last))
            else:
                expected = b64(hashlib.new(algorithm.lower(), b"".join(digests)).digest() if algorithm == "SHA256"
                               else zlib.crc32(b"".join(digests)).to_bytes(4, "big")) + "-2"  # fmt: skip
            assert done[member] == expected and done["ChecksumType"] == checksum_type
            head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
            assert head[member] == expected and head["ContentLength"] == len(first) + len(last)
            second = client.get_object(Bucket=bucket, Key=key, PartNumber=2, ChecksumMode="ENABLED")
            assert second[member] == parts[1][member] and second["ChecksumType"] == checksum_type
            attributes = client.get_object_attributes(
                Bucket=bucket,
                Key=key,
                ObjectAttributes=["Checksum", "ObjectParts"],
                MaxParts=1,
                PartNumberMarker=1,
            )
            assert attributes["Checksum"][member] == expected
            [shown] = attributes["ObjectParts"]["Parts"]  # one page of one part, after part 1
            assert (shown["PartNumber"], shown[member]) == (2, parts[1][member])

        upload = client.create_multipart_upload(Bucket=bucket, Key="rules")["UploadId"]
        small = client.upload_part(Bucket=bucket, Key="rules", UploadId=upload, PartNumber=1, Body=b"small")
        end = client.upload_part(Bucket=bucket, Key="rules", UploadId=upload, PartNumber=2, Body=b"end")

        def complete(parts):
            return lambda: client.complete_multipart_upload(
                Bucket=bucket, Key="rules", UploadId=upload, MultipartUpload={"Parts": parts}
            )

        one = {"PartNumber": 1, "ETag": small["ETag"]}
        two = {"PartNumber": 2, "ETag": end["ETag"]}
        assert error_code(complete([one, two])) == "EntityTooSmall"
        assert error_code(complete([two, one])) == "InvalidPartOrder"
        assert error_code(complete([{"PartNumber": 1, "ETag": end["ETag"]}])) == "InvalidPart"
        assert error_code(complete([{"PartNumber": 3, "ETag": end["ETag"]}])) == "InvalidPart"
        client.complete_multipart_upload(
            Bucket=bucket, Key="rules", UploadId=upload, MultipartUpload={"Parts": [one]}
        )
        assert client.get_object(Bucket=bucket, Key="rules")["Body"].read() == b"small"
        again = complete([one])()  # completing a completed upload again answers the same, as S3
        assert again["ETag"] == client.head_object(Bucket=bucket, Key="rules")["ETag"]
        never = lambda: client.complete_multipart_upload(  # noqa: E731
            Bucket=bucket, Key="rules", UploadId="0" * 32, MultipartUpload={"Parts": [one]}
        )
        assert error_code(never) == "NoSuchUpload"

    await asyncio.to_thread(scenario)
    await cleaner(cluster_client).run_pass(now_s=time.time())
    left = await names_on_every_replica(cluster_client, uploads, PART_PREFIX)
    assert len(left) == 2 * 3 + 1  # the parts in use; the unused part 2 of "rules" is gone


async def node_requests(dev_cluster, method: str) -> float:
    """Requests of `method` every storage node of the cluster has answered."""
    total = 0.0
    async with aiohttp.ClientSession() as session:
        for port in dev_cluster.ports:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as answer:
                text = await answer.text()
            total += sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("dolmen_storage_node_requests_total{") and f'method="{method}"' in line
            )
    return total


async def test_only_buckets_that_had_uploads_look_for_a_replaced_one_before_a_write(s3_endpoint, dev_cluster):
    """A write or delete looks up the upload the key's object completed (a quorum HEAD) only in a
    bucket where an upload was ever started: elsewhere none can be replaced."""
    client = s3_client(s3_endpoint)
    plain, multipart = unique("plain"), unique("mpflag")

    def prepare() -> None:
        for bucket in (plain, multipart):
            client.create_bucket(Bucket=bucket)
            client.put_object(Bucket=bucket, Key="warm", Body=b"w")  # the bucket's info is cached
        client.create_multipart_upload(Bucket=multipart, Key="later")

    def writes(bucket: str) -> None:
        for index in range(5):
            client.put_object(Bucket=bucket, Key=f"k{index}", Body=b"x")
            client.delete_object(Bucket=bucket, Key=f"k{index}")

    await asyncio.to_thread(prepare)
    before = await node_requests(dev_cluster, "HEAD")
    await asyncio.to_thread(writes, plain)
    after_plain = await node_requests(dev_cluster, "HEAD")
    await asyncio.to_thread(writes, multipart)
    after_multipart = await node_requests(dev_cluster, "HEAD")
    assert after_plain - before < 5  # none of the 10 writes looked (background work may HEAD a little)
    assert after_multipart - after_plain >= 10  # each of the 10 looked
