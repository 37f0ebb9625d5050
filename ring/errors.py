"""Ring errors.

dolmen.errors.DolmenError
 +-- RingError                 a request the ring cannot honour
      +-- InvalidDevice         bad device fields, a duplicate ip:port/device, weight <= 0
      +-- UnknownDevice         no device with that id
      +-- InvalidParameters     part power or replica count out of range
      +-- NotEnoughDevices      fewer devices with weight than replicas
      +-- RebalanceRefused      min_part_hours forbids moving anything yet
      +-- RingFileError         a ring or builder file is missing, corrupt or of another version
      +-- PlacementKeyMismatch  a ring built under another cluster secret
"""

from dolmen.errors import DolmenError, KeyMismatch


class RingError(DolmenError):
    """A ring operation that cannot be done as asked."""


class InvalidDevice(RingError):
    pass


class UnknownDevice(RingError):
    pass


class InvalidParameters(RingError):
    pass


class NotEnoughDevices(RingError):
    pass


class RebalanceRefused(RingError):
    pass


class RingFileError(RingError):
    pass


class PlacementKeyMismatch(RingError, KeyMismatch):
    pass
