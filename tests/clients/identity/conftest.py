"""Fixtures for the identity client tests: the session's development cluster."""

from helpers.cluster import dev_cluster  # noqa: F401
