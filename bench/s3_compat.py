"""Helpers of bench/s3_compat.sh: make s3-tests' three users through identity, and count results per group.

    s3_compat.py users DATA_DIR HOST PORT CONF     # writes s3tests.conf for a `dolmen up` in DATA_DIR
    s3_compat.py report JUNIT_XML                  # passed/failed/skipped per feature group, then the failures

Users: `main`, `alt` and `tenant`, each in a project of its own with the member
role, each with an EC2 key made by identity's OS-EC2 API as the user itself (as
any user would make one). S3 shows a bucket owner's ID and display name as the
project's id, so those go into the configuration.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections import Counter, defaultdict
from pathlib import Path

# Feature groups by test name, first match wins (the core groups of issue 12 first).
GROUPS = [
    ("checksums", r"checksum"),
    ("post", r"post_object"),
    ("multipart", r"multipart|_mpu|upload_part|abort_upload|list_uploads"),
    ("copy", r"copy"),
    ("ranges", r"range"),
    ("conditionals", r"_if_|ifmatch|ifnonematch|if_match|if_none|modified|conditional|unmodified"),
    ("acl", r"acl|grant|canned|permission"),
    ("policy", r"policy|public_access|block_public"),
    ("versioning", r"version|delete_marker"),
    ("lifecycle", r"lifecycle|_lc_"),
    ("encryption", r"sse|encrypt|kms"),
    ("tagging", r"tag"),
    ("object lock", r"object_lock|retention|legal_hold"),
    ("cors", r"cors"),
    ("website", r"website"),
    ("logging", r"logging"),
    ("ownership", r"ownership"),
    ("auth", r"auth|signature|presign|anon|sigv|credential|expire|date|access_key|token"),
    (
        "listings",
        r"list|prefix|delimiter|marker|maxkeys|max_keys|continuation|startafter|fetchowner|encoding",
    ),
    ("buckets", r"bucket"),
    ("objects", r"object|key|metadata|meta|head|get|put|delete|body"),
]
CORE = (
    "buckets",
    "objects",
    "listings",
    "auth",
    "multipart",
    "checksums",
    "post",
    "copy",
    "ranges",
    "conditionals",
)


def call(url: str, body: dict | None = None, token: str | None = None, method: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("X-Auth-Token", token)
    with urllib.request.urlopen(request, timeout=60) as answer:
        text = answer.read()
        return answer.headers, json.loads(text) if text else {}


def password_token(identity: str, user: str, password: str, project: str) -> tuple[str, dict]:
    auth = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
            },
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }
    }
    headers, body = call(f"{identity}/auth/tokens", auth)
    return headers["X-Subject-Token"], body["token"]


def make_users(data_dir: Path, host: str, port: int, conf: Path) -> None:
    identity = next(
        line.split("=", 1)[1]
        for line in (data_dir / "openrc").read_text().splitlines()
        if "OS_AUTH_URL=" in line
    )
    admin = json.loads((data_dir / "admin.json").read_text())
    admin_token, _ = password_token(identity, admin["user"], admin["password"], admin["project"])
    _, roles = call(f"{identity}/roles?name=member", token=admin_token)
    member = roles["roles"][0]["id"]
    sections = []
    for name in ("main", "alt", "tenant"):
        project_name, user_name, password = f"s3tests-{name}", f"s3tests-{name}", secrets.token_urlsafe(18)
        _, project = call(
            f"{identity}/projects", {"project": {"name": project_name, "domain_id": "default"}}, admin_token
        )
        project_id = project["project"]["id"]
        _, user = call(
            f"{identity}/users",
            {
                "user": {
                    "name": user_name,
                    "password": password,
                    "domain_id": "default",
                    "default_project_id": project_id,
                }
            },
            admin_token,
        )
        user_id = user["user"]["id"]
        call(
            f"{identity}/projects/{project_id}/users/{user_id}/roles/{member}",
            None,
            admin_token,
            method="PUT",
        )
        token, _ = password_token(identity, user_name, password, project_name)
        _, credential = call(
            f"{identity}/users/{user_id}/credentials/OS-EC2", {"tenant_id": project_id}, token
        )
        sections.append(
            f"[s3 {name}]\ndisplay_name = {project_id}\nuser_id = {project_id}\nemail = {name}@example.com\n"
            f"access_key = {credential['credential']['access']}\nsecret_key = {credential['credential']['secret']}\n"
            + ("tenant = testx\n" if name == "tenant" else "")
        )
    # The IAM sections must exist for s3-tests to start; their tests are not selected, so they
    # only repeat the main and alt users.
    main, alt = sections[0].split("\n", 1)[1], sections[1].split("\n", 1)[1]
    sections += [f"[iam]\n{main}", f"[iam root]\n{main}", f"[iam alt root]\n{alt}"]
    conf.write_text(
        f"[DEFAULT]\nhost = {host}\nport = {port}\nis_secure = False\nssl_verify = False\n\n"
        "[fixtures]\nbucket prefix = dolmen-{random}-\niam name prefix = s3-tests-\niam path prefix = /s3-tests/\n\n"
        + "\n".join(sections).replace("[s3 main]\n", "[s3 main]\napi_name = default\n", 1)
    )


def group_of(test: str) -> str:
    name = test.rsplit("::", 1)[-1].removeprefix("test_")
    for group, pattern in GROUPS:
        if re.search(pattern, name):
            return group
    return "other"


def report(junit: Path) -> None:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    failures: dict[str, list[str]] = defaultdict(list)
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        test = case.get("name", "")
        group = group_of(test)
        if case.find("skipped") is not None:
            outcome = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
            failures[group].append(test)
        else:
            outcome = "passed"
        counts[group][outcome] += 1
    order = [group for group in CORE if group in counts] + sorted(set(counts) - set(CORE))
    print("| group | passed | failed | skipped |\n|---|---|---|---|")
    total: Counter[str] = Counter()
    for group in order:
        total.update(counts[group])
        core = " (core)" if group in CORE else ""
        print(
            f"| {group}{core} | {counts[group]['passed']} | {counts[group]['failed']} | {counts[group]['skipped']} |"
        )
    run = sum(total.values())
    print(
        f"| **all** | {total['passed']} ({100 * total['passed'] // max(run, 1)}%) | {total['failed']} | {total['skipped']} |"
    )
    print()
    for group in order:
        if failures[group]:
            print(f"{group} failures: {' '.join(sorted(failures[group]))}")


def main(argv: list[str]) -> int:
    if len(argv) == 5 and argv[0] == "users":
        make_users(Path(argv[1]), argv[2], int(argv[3]), Path(argv[4]))
        return 0
    if len(argv) == 2 and argv[0] == "report":
        report(Path(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
