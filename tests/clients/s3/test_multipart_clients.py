"""Multipart uploads by real clients against `dolmen up`: the AWS CLI (100 MiB up and back), s3cmd and
rclone with small part sizes, each file bit-identical when read back, through S3 and through Swift."""

from __future__ import annotations

import hashlib
import os

from test_aws_cli import aws
from test_s3cmd_and_rclone import run

MIB = 2**20


def write_random(path, size_bytes: int) -> str:
    """A file of random bytes, written in pieces (never all in memory); its SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for _ in range(0, size_bytes, 4 * MIB):
            piece = os.urandom(min(4 * MIB, size_bytes - file.tell()))
            digest.update(piece)
            file.write(piece)
    return digest.hexdigest()


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while piece := file.read(4 * MIB):
            digest.update(piece)
    return digest.hexdigest()


def test_aws_s3_cp_of_100_mib_goes_up_in_parts_and_comes_back_identical(s3_env, s3, bucket, tmp_path):
    source, back = tmp_path / "big.bin", tmp_path / "back.bin"
    expected = write_random(source, 100 * MIB)
    aws(s3_env, tmp_path, "s3", "cp", str(source), f"s3://{bucket}/big.bin")
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert (
        head["ETag"].endswith('-13"') and head["ContentLength"] == 100 * MIB
    )  # 8 MiB parts: the CLI's default
    aws(s3_env, tmp_path, "s3", "cp", f"s3://{bucket}/big.bin", str(back))
    assert sha256_of(back) == expected


def test_s3cmd_put_multipart_and_the_swift_api_reads_the_same_object(
    up_cluster, s3_env, s3, bucket, tmp_path
):
    host = s3_env["AWS_ENDPOINT_URL"].split("://", 1)[1]
    config = tmp_path / "s3cfg"
    config.write_text(
        "[default]\n"
        f"access_key = {s3_env['AWS_ACCESS_KEY_ID']}\n"
        f"secret_key = {s3_env['AWS_SECRET_ACCESS_KEY']}\n"
        f"bucket_location = {s3_env['AWS_DEFAULT_REGION']}\n"
        f"host_base = {host}\nhost_bucket = {host}\nuse_https = False\n"
        "multipart_chunk_size_mb = 5\n"
    )
    source = tmp_path / "s3cmd.bin"
    expected = write_random(source, 11 * MIB)
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    run(["s3cmd", "--config", str(config), "put", str(source), f"s3://{bucket}/s3cmd.bin"], environment)
    assert s3.head_object(Bucket=bucket, Key="s3cmd.bin")["ETag"].endswith('-3"')
    body = s3.get_object(Bucket=bucket, Key="s3cmd.bin")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == expected
    swift = up_cluster.connection(up_cluster.admin)
    headers, body = swift.get_object(bucket, "s3cmd.bin")  # the completed upload is an SLO to Swift
    assert hashlib.sha256(body).hexdigest() == expected and int(headers["content-length"]) == 11 * MIB


def test_rclone_copy_multipart(s3_env, s3, bucket, tmp_path):
    remote = {
        "TYPE": "s3",
        "PROVIDER": "Other",
        "ACCESS_KEY_ID": s3_env["AWS_ACCESS_KEY_ID"],
        "SECRET_ACCESS_KEY": s3_env["AWS_SECRET_ACCESS_KEY"],
        "ENDPOINT": s3_env["AWS_ENDPOINT_URL"],
        "REGION": s3_env["AWS_DEFAULT_REGION"],
        "FORCE_PATH_STYLE": "true",
        "UPLOAD_CUTOFF": "5M",
        "CHUNK_SIZE": "5M",
    }
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),
        **{f"RCLONE_CONFIG_DOLMEN_{name}": value for name, value in remote.items()},
    }
    folder = tmp_path / "folder"
    folder.mkdir()
    expected = write_random(folder / "rclone.bin", 11 * MIB)
    run(["rclone", "copy", str(folder), f"dolmen:{bucket}/rclone"], environment)
    assert s3.head_object(Bucket=bucket, Key="rclone/rclone.bin")["ETag"].endswith('-3"')
    body = s3.get_object(Bucket=bucket, Key="rclone/rclone.bin")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == expected
