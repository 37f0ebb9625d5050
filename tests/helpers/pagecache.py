"""How much of a file sits in the kernel's page cache, read with util-linux's `fincore`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def cached_bytes(path: Path) -> int:
    """Bytes of `path` resident in the page cache (skips the test where fincore is missing)."""
    if shutil.which("fincore") is None:
        pytest.skip("util-linux's fincore is needed to see the page cache")
    output = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(output.strip())
