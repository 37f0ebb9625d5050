"""glibc settings for body-moving processes: freed buffers are reused, not faulted in anew."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Rounds of sixteen 1 MiB buffers alive at once, then freed: what a proxy does with frames.
CHURN = """
import resource, sys
from dolmen.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(2):  # warm up: the first rounds fault in what is reused after
    frames = [bytearray(2**20) for _ in range(16)]
    del frames
start = faults()
for _ in range(20):
    frames = [bytearray(2**20) for _ in range(16)]
    del frames
print(faults() - start)
"""


def page_faults(mode: str) -> int:
    result = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True)
    return int(result.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_freed_buffers_are_reused_without_page_faults():
    by_default = page_faults("default")
    kept = page_faults("keep")
    assert by_default > 20 * 16 * 2**20 // 4096 // 2  # most of the 80 MiB churned came as fresh pages
    assert kept < by_default // 20
