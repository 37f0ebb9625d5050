"""Garbage collector settings for long-running services.

`freeze_startup_objects` moves what startup made (modules, configuration, rings, stores) out of
the collector's view, so that its full collections stop walking them again and again.

The collection thresholds stay CPython's. Raising them (a storage node answering 4 KiB PUTs
spent 3% of its CPU collecting) made objects caught in reference cycles live much longer, and
one of them held a scarce resource: a failed read's frames held its LMDB read transaction,
and with it one of the 126 reader slots, until a collection found them (DeviceStore._read_sync
now lets go of it at once). Nothing here may depend on the collector's timing; while that is
not shown for every resource, its timing stays the default.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Call once, when startup is done and serving begins."""
    gc.freeze()
