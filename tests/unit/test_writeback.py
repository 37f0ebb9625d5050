"""Early writeback of a body's bytes: asked of the kernel on Linux, harmless where it cannot be."""

from __future__ import annotations

import os
import sys

import pytest
from dolmen.storage_node.writeback import drop_cached, start_writeback
from helpers.pagecache import cached_bytes


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


@pytest.mark.skipif(sys.platform != "linux", reason="the page cache seen through fincore is Linux's")
def test_synced_bytes_leave_the_page_cache_when_dropped_and_stay_readable(tmp_path):
    path = tmp_path / "body"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for _ in range(4):
            os.write(fd, b"y" * 2**20)
        os.fdatasync(fd)  # clean pages: the only ones the kernel lets go
        assert cached_bytes(path) == 4 * 2**20
        assert drop_cached(fd, 0, 2**20)
        assert 0 < cached_bytes(path) < 4 * 2**20  # the range asked for (whole folios of it) only
        assert drop_cached(fd)  # length 0: to the end of the file
        assert cached_bytes(path) == 0
    finally:
        os.close(fd)
    assert path.read_bytes() == b"y" * 4 * 2**20
    assert not drop_cached(fd)  # a closed descriptor: EBADF, no exception
