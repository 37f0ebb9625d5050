"""Garbage collector settings for services that answer many small requests.

CPython runs a collection of its youngest generation every 700 net allocations of container
objects. A storage node answering a 4 KiB PUT allocates hundreds of them, nearly all freed by
reference counting as the request ends, so it collected every few requests: 3% of its CPU
(py-spy). Only reference cycles need the collector (an exception kept with its traceback, for
one); they are rare here, and wait a little longer for it.
"""

from __future__ import annotations

import gc

YOUNG_COLLECTION_ALLOCATIONS = 20_000  # CPython's default: 700


def tune_for_requests() -> None:
    """Call once, when startup is done and serving begins: collect the youngest generation
    every YOUNG_COLLECTION_ALLOCATIONS allocations (older ones as before, relative to it), and
    move what startup made (modules, configuration, rings, stores) out of the collector's
    view, so that full collections stop walking it again."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_ALLOCATIONS, middle, oldest)
    gc.freeze()
