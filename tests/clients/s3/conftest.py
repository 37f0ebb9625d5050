"""S3 clients against the session's `dolmen up` cluster, configured from the `s3.env` it writes."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.config import Config


def read_env_file(path) -> dict[str, str]:
    """The `export NAME=value` lines of a file like s3.env, as a shell would read them."""
    variables = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            variables[name] = value
    return variables


@pytest.fixture(scope="session")
def s3_env(up_cluster):
    """The admin's AWS_* variables, exactly as `dolmen up` wrote them."""
    return read_env_file(up_cluster.data_dir / "s3.env")


@pytest.fixture(scope="session")
def s3(s3_env):
    """A boto3 client built only from s3.env's values, path-style addressing."""
    return boto3.client(
        "s3",
        endpoint_url=s3_env["AWS_ENDPOINT_URL"],
        aws_access_key_id=s3_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3_env["AWS_SECRET_ACCESS_KEY"],
        region_name=s3_env["AWS_DEFAULT_REGION"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture
def bucket(s3):
    """A new bucket of the admin's, emptied and deleted afterwards."""
    name = f"s3c-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    yield name
    for entry in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=entry["Key"])
    s3.delete_bucket(Bucket=name)
