"""Dolmen: a storage-centric cloud platform.

Public core modules: `dolmen.config` (typed TOML configuration), `dolmen.limits`
(every bound the code relies on), `dolmen.logs` (JSON-lines logging with a request
id), `dolmen.metrics` (Prometheus helpers), `dolmen.keys` (keys derived from the
cluster secret), `dolmen.errors` (the base of every Dolmen exception).
"""

__version__ = "0.1.0"
