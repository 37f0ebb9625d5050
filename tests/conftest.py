"""Fixtures shared across test folders: the session's `dolmen up` cluster (tests/helpers/allinone.py)."""

from helpers.allinone import identity, member, member_connection, up_cluster  # noqa: F401
