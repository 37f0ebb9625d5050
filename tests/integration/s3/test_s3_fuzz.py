"""Random requests at the S3 listener: signed and unsigned, mangled headers, paths, queries and XML bodies.

Nothing may answer 500 or anything but S3's XML error for a refusal. The seed is printed.
"""

from __future__ import annotations

import random
import time

import aiohttp
from helpers.cluster import unique
from helpers.s3 import sign_with_botocore

REQUESTS = 300
METHODS = ["GET", "PUT", "HEAD", "DELETE", "POST", "PATCH"]
PATHS = [
    "/",
    "/bkt",
    "/bkt/",
    "/bkt/key",
    "/Bad_Bucket/k",
    "/bkt/%ff",
    "/bkt/a%00b",
    "/bkt/" + "k" * 1100,
    "//",
    "/b/../x",
]
QUERIES = [
    "?x-id=GetObject",
    "",
    "?location",
    "?delete",
    "?list-type=2",
    "?acl",
    "?uploads",
    "?max-keys=x",
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256",
    "?X-Amz-Credential=a/b/c&X-Amz-Expires=999999999",
    "?AWSAccessKeyId=a&Signature=b",
    "?response-content-type=x",
    "?response-content-type=%00",
    "?list-type=2&prefix=%00",
    "?marker=%ff&delimiter=%00",
]
HEADERS = [
    {},
    {"x-amz-content-sha256": "nonsense"},
    {"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
    {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-trailer": "x-amz-checksum-crc32"},
    {"content-md5": "!!"},
    {"x-amz-copy-source": "/../etc/passwd"},
    {"x-amz-copy-source": "bkt"},
    {"x-amz-copy-source": "/bkt/key"},
    {"range": "bytes=9-1"},
    {"x-amz-checksum-crc64nvme": "AAAA"},
    {"x-amz-meta-x": "v" * 3000},
    {"authorization": "AWS4-HMAC-SHA256 Credential=x"},
    {"authorization": "AWS a:b"},
    {"x-amz-date": "yesterday"},
    {"x-amz-metadata-directive": "MERGE", "x-amz-copy-source": "/bkt/k"},
    {"x-amz-trailer": "a,b,c,d,e,f,g,h,i,j"},
    # Text outside ASCII (sent as UTF-8)
    {"x-amz-meta-x": "Müller 日本"},
    {"content-type": "text/é", "content-disposition": 'attachment; filename="é.pdf"'},
    {"x-amz-copy-source": "/bkt/é"},
    {"x-amz-grant-read": 'id="é"'},
    {"expect": "ÿ"},
]
BODIES = [b"", b"<Delete><Object><Key>k</Key></Object></Delete>", b"<Delete>", b"\x00\xff" * 50,
          b'<!DOCTYPE d [<!ENTITY a "aaaa">]><Delete><Object><Key>&a;</Key></Object></Delete>',
          b"5;chunk-signature=" + b"0" * 64 + b"\r\nhello\r\n0\r\n\r\n", b"<CreateBucketConfiguration><LocationConstraint>mars"]  # fmt: skip


async def test_random_requests_never_get_a_500_or_a_non_s3_error(s3_endpoint):
    seed = random.randrange(2**32)
    print(f"seed={seed}")
    rng = random.Random(seed)
    port = s3_endpoint.rsplit(":", 1)[1]
    bucket = unique("fuzz")
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for path in (f"/{bucket}", f"/{bucket}/key"):  # a bucket and an object to aim at
            _, _, headers, _ = sign_with_botocore(
                "PUT",
                f"http://127.0.0.1:{port}{path}",
                {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
                now_s=time.time(),
            )
            async with session.put(f"{s3_endpoint}{path}", headers=headers) as answer:
                assert answer.status == 200
        for _ in range(REQUESTS):
            method, query = rng.choice(METHODS), rng.choice(QUERIES)
            path = rng.choice(PATHS).replace("/bkt", f"/{bucket}")
            headers = {k: v.replace("bkt", bucket) for k, v in rng.choice(HEADERS).items()}
            body = rng.choice(BODIES)
            if rng.random() < 0.5:  # a valid signature over a hostile request
                signed_headers = {k: v for k, v in headers.items() if k.startswith("x-amz-")}
                signed_headers.setdefault("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
                _, _, headers, _ = sign_with_botocore(
                    method, f"http://127.0.0.1:{port}{path}{query}", signed_headers, now_s=time.time()
                )
            async with session.request(
                method,
                f"{s3_endpoint}{path}{query}",
                headers=headers,
                data=body,
                skip_auto_headers=["Content-Type"],
            ) as answer:
                text = await answer.read()
                case = f"seed={seed} {method} {path}{query} {headers} {body[:40]!r}: {answer.status} {text[:300]!r}"
                assert answer.status < 500 or answer.status in (501, 503), case
                if answer.status >= 400 and method != "HEAD":
                    assert b"<Error><Code>" in text, case
                assert answer.headers.get("x-amz-request-id"), case
