"""`dolmen down --data DIR`: stop a cluster started by `dolmen up` (code in dolmen/up.py)."""

from dolmen.up import down_main as main

__all__ = ["main"]
