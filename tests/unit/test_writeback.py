"""Early writeback of a body's bytes: asked of the kernel on Linux, harmless where it cannot be."""

from __future__ import annotations

import os
import sys

import pytest
from dolmen.storage_node.writeback import start_writeback


@pytest.mark.skipif(sys.platform != "linux", reason="sync_file_range is Linux's")
def test_writeback_of_written_bytes_starts_and_the_bytes_stay(tmp_path):
    path = tmp_path / "body"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"x" * 300_000)
        assert start_writeback(fd, 0, 300_000)
        assert not start_writeback(fd, 0, 0)  # nothing to write: not asked
    finally:
        os.close(fd)
    assert path.read_bytes() == b"x" * 300_000


def test_a_failed_request_only_says_so(tmp_path):
    fd = os.open(tmp_path / "gone", os.O_WRONLY | os.O_CREAT, 0o644)
    os.close(fd)
    assert not start_writeback(fd, 0, 4096)  # a closed descriptor: EBADF, no exception
