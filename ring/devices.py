"""Devices and the failure-domain tiers they sit in: region > zone > host (ip:port) > device."""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass

from dolmen.ring.errors import InvalidDevice

from dolmen.limits import RING_DEVICE_NAME_BYTES_MAX, RING_META_BYTES_MAX

DEVICE_FIELDS = ("id", "region", "zone", "ip", "port", "device", "weight", "meta")


def node_host(ip: str, port: int) -> str:
    """A storage node's address as rings and container updates write it: `ip:port`, `[ipv6]:port`."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@dataclass(frozen=True, kw_only=True)
class Device:
    """One disk of one storage node. `weight` is relative capacity (any unit, consistent across the ring)."""

    id: int
    region: int
    zone: int
    ip: str
    port: int
    device: str
    weight: float
    meta: str = ""

    @property
    def host(self) -> str:
        """The host tier: one storage node process, ip:port (several may share an ip)."""
        return node_host(self.ip, self.port)

    @property
    def tiers(self) -> tuple[tuple[int], tuple[int, int], tuple[int, int, str], tuple[int, int, str, int]]:
        """This device's item in each tier, outermost first."""
        return (
            (self.region,),
            (self.region, self.zone),
            (self.region, self.zone, self.host),
            (self.region, self.zone, self.host, self.id),
        )

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, fields: dict[str, object]) -> Device:
        unknown = set(fields) - set(DEVICE_FIELDS)
        if unknown:
            raise InvalidDevice(f"unknown device field {sorted(unknown)[0]!r}")
        try:
            device = cls(**fields)  # type: ignore[arg-type]
        except TypeError as error:
            raise InvalidDevice(f"device fields: {error}") from None
        return validate_device(device)


def validate_device(device: Device) -> Device:
    """`device` with its fields normalised, or InvalidDevice saying which field is wrong."""
    for name in ("id", "region", "zone", "port"):
        value = getattr(device, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidDevice(f"device {name} must be a whole number >= 0, not {value!r}")
    if not 1 <= device.port <= 65_535:
        raise InvalidDevice(f"port must be between 1 and 65535, not {device.port}")
    try:
        ip = str(ipaddress.ip_address(device.ip))
    except ValueError:
        raise InvalidDevice(f"ip must be an IPv4 or IPv6 address, not {device.ip!r}") from None
    name = device.device
    if (
        not isinstance(name, str)
        or not name
        or len(name.encode()) > RING_DEVICE_NAME_BYTES_MAX
        or name in (".", "..")
        or not all(c.isalnum() or c in "-_." for c in name)
    ):
        raise InvalidDevice(
            f"device name must be 1 to {RING_DEVICE_NAME_BYTES_MAX} letters, digits, '-', '_' or '.', "
            f"not {name!r}"
        )
    weight = device.weight
    if (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not weight > 0
        or weight == float("inf")
    ):
        raise InvalidDevice(f"weight must be a number greater than 0, not {weight!r}")
    if not isinstance(device.meta, str) or len(device.meta.encode()) > RING_META_BYTES_MAX:
        raise InvalidDevice(f"meta must be text of at most {RING_META_BYTES_MAX} bytes")
    return dataclasses.replace(device, ip=ip, weight=float(weight))
