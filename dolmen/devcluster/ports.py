"""Free loopback ports for a development cluster (node i listens on base_port + i)."""

from __future__ import annotations

import contextlib
import random
import socket

PORT_RANGE = (20_000, 60_000)
PORT_RUN_TRIES_MAX = 1000


def free_port_run(count: int) -> int:
    """The first of `count` consecutive loopback ports that are free right now.

    Another process may take one before a node binds it: callers retry the start on a race.
    """
    for _ in range(PORT_RUN_TRIES_MAX):
        base = random.randrange(PORT_RANGE[0], PORT_RANGE[1] - count)
        try:
            with contextlib.ExitStack() as stack:
                for port in range(base, base + count):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError(f"no run of {count} free ports")
