"""The development cluster launcher: real storage nodes on loopback for tests, benchmarks and `dolmen up`."""

from dolmen.devcluster.launcher import DevCluster, DevClusterError

__all__ = ["DevCluster", "DevClusterError"]
