"""The root of Dolmen's exception tree.

    DolmenError                       expected failures: bad input, dead peers, full disks
     +-- ConfigError                  a configuration file is missing, malformed or wrong
     +-- KeyMismatch                  a ring or device was made under another cluster secret
     +-- dolmen.ring.errors.RingError and its subclasses

Programmer errors are assertions, never DolmenError.
"""


class DolmenError(Exception):
    """An expected failure that callers map to their protocol's error."""


class ConfigError(DolmenError):
    """A configuration file is missing, malformed, or has unknown keys or wrong types."""


class KeyMismatch(DolmenError):
    """Something was made under another cluster secret than the one given."""
