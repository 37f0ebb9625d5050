"""s3cmd and rclone (Debian packages), one command each, configured from s3.env's values."""

from __future__ import annotations

import os
import subprocess
from urllib.parse import urlsplit

TOOL_TIMEOUT_S = 60.0


def run(command: list[str], environment: dict[str, str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=TOOL_TIMEOUT_S)
    assert result.returncode == 0, f"{command[0]}: {result.stdout}{result.stderr}"
    return result.stdout


def test_s3cmd_put(s3_env, s3, bucket, tmp_path):
    host = urlsplit(s3_env["AWS_ENDPOINT_URL"]).netloc
    config = tmp_path / "s3cfg"
    config.write_text(
        "[default]\n"
        f"access_key = {s3_env['AWS_ACCESS_KEY_ID']}\n"
        f"secret_key = {s3_env['AWS_SECRET_ACCESS_KEY']}\n"
        f"bucket_location = {s3_env['AWS_DEFAULT_REGION']}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"  # no %(bucket)s: path-style addressing
        "use_https = False\n"
    )
    source = tmp_path / "notes.txt"
    source.write_bytes(os.urandom(70_000))
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    run(["s3cmd", "--config", str(config), "put", str(source), f"s3://{bucket}/s3cmd/notes.txt"], environment)
    assert s3.get_object(Bucket=bucket, Key="s3cmd/notes.txt")["Body"].read() == source.read_bytes()


def test_rclone_copyto(s3_env, s3, bucket, tmp_path):
    remote = {
        "TYPE": "s3",
        "PROVIDER": "Other",
        "ACCESS_KEY_ID": s3_env["AWS_ACCESS_KEY_ID"],
        "SECRET_ACCESS_KEY": s3_env["AWS_SECRET_ACCESS_KEY"],
        "ENDPOINT": s3_env["AWS_ENDPOINT_URL"],
        "REGION": s3_env["AWS_DEFAULT_REGION"],
        "FORCE_PATH_STYLE": "true",
    }
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),
        **{f"RCLONE_CONFIG_DOLMEN_{name}": value for name, value in remote.items()},
    }
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(200_000))
    run(["rclone", "copyto", str(source), f"dolmen:{bucket}/rclone/data.bin"], environment)
    assert s3.get_object(Bucket=bucket, Key="rclone/data.bin")["Body"].read() == source.read_bytes()
