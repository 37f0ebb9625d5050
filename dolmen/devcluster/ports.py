"""Free loopback ports for a development cluster (node i listens on base_port + i).

Runs are taken below the kernel's ephemeral range, from which outgoing connections get
their local ports: a cluster that takes a while to start on a busy machine must not find
one of its ports taken meanwhile by some client's connection.
"""

from __future__ import annotations

import contextlib
import random
import socket
from pathlib import Path

PORT_LOW = 10_000
PORT_RUN_TRIES_MAX = 1000
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
EPHEMERAL_LOW_DEFAULT = 32_768  # Linux's default, and where the file cannot be read


def ephemeral_port_low() -> int:
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return EPHEMERAL_LOW_DEFAULT


def free_port_run(count: int) -> int:
    """The first of `count` consecutive loopback ports that are free right now.

    Another process may take one before a node binds it: callers retry the start on a race.
    """
    high = ephemeral_port_low()
    assert high - PORT_LOW > 10 * count, f"no room for {count} ports below the ephemeral range"
    for _ in range(PORT_RUN_TRIES_MAX):
        base = random.randrange(PORT_LOW, high - count)
        try:
            with contextlib.ExitStack() as stack:
                for port in range(base, base + count):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError(f"no run of {count} free ports")
