"""Swift containers as S3 buckets: the Swift API keeps the bucket registry in step.

S3 bucket names are global, Swift container names are per account (see
`dolmen.proxy.s3.buckets`). A container the Swift API creates whose name is a
valid bucket name claims that name for its account when nobody holds it, so
the S3 API sees it as a bucket at once; if another account holds the name, the
container simply is not a bucket (Swift's per-account names stay usable). The
claim is best effort: when it cannot be made now, the S3 API claims the name on
the owner's first S3 request. Deleting the container releases the name if this
account holds it; a delete that finds no container releases it too, so a retry
after a failed release completes it.
"""

from __future__ import annotations

import logging

from dolmen.proxy.s3.buckets import BucketRegistry, claim_for_container
from dolmen.proxy.s3.names import is_valid_bucket_name
from dolmen.proxy.swift.paths import SwiftPath

from dolmen.errors import DolmenError

log = logging.getLogger("dolmen.proxy.swift")


async def claim_bucket_name(registry: BucketRegistry, path: SwiftPath, *, region: str) -> None:
    """After a container was created: make it a bucket if its name is one and is free."""
    assert path.container is not None
    if not is_valid_bucket_name(path.container):
        return
    try:
        await claim_for_container(registry, path.container, path.account, path.project_id, region=region)
    except DolmenError as error:  # the S3 API claims it later, on the owner's first request
        log.warning("swift.bucket_claim_deferred", extra={"reason": type(error).__name__})


async def release_bucket_name(registry: BucketRegistry, path: SwiftPath) -> None:
    """After a container was deleted (or found missing): free its name if this account holds it."""
    assert path.container is not None
    if is_valid_bucket_name(path.container):
        await registry.release(path.container, path.account)
