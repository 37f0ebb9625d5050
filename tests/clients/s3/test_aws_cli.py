"""The AWS CLI (`aws`, from the package registry) with nothing but s3.env's variables."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

AWS = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws") or ""
AWS_TIMEOUT_S = 60.0


def aws(s3_env, home: Path, *args: str) -> str:
    """Run `aws` as a user who sourced s3.env (path-style addressing: no DNS for buckets on loopback)."""
    config = home / "aws-config"
    config.write_text("[default]\ns3 =\n    addressing_style = path\n")
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
        **s3_env,
    }
    result = subprocess.run(
        [AWS, *args], capture_output=True, text=True, env=environment, timeout=AWS_TIMEOUT_S
    )
    assert result.returncode == 0, f"aws {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def test_aws_s3_cp_ls_and_head_object(s3_env, s3, bucket, tmp_path):
    source = tmp_path / "photo.jpg"
    source.write_bytes(os.urandom(1_500_000))
    aws(s3_env, tmp_path, "s3", "cp", str(source), f"s3://{bucket}/album/photo.jpg")
    assert s3.get_object(Bucket=bucket, Key="album/photo.jpg")["Body"].read() == source.read_bytes()

    listing = aws(s3_env, tmp_path, "s3", "ls", f"s3://{bucket}/album/")
    assert listing.split()[-2:] == [str(source.stat().st_size), "photo.jpg"]

    head = aws(s3_env, tmp_path, "s3api", "head-object", "--bucket", bucket, "--key", "album/photo.jpg")
    assert f'"ContentLength": {source.stat().st_size}' in head

    copy = tmp_path / "copy.jpg"
    aws(s3_env, tmp_path, "s3", "cp", f"s3://{bucket}/album/photo.jpg", str(copy))
    assert copy.read_bytes() == source.read_bytes()
