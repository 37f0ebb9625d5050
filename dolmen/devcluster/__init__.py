"""The development cluster launcher: real storage nodes on loopback for tests, benchmarks and `dolmen up`."""

from dolmen.devcluster.launcher import DevCluster, DevClusterError
from dolmen.devcluster.ports import free_port_run

__all__ = ["DevCluster", "DevClusterError", "free_port_run"]
