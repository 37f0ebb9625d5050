"""What sending one body to 3 replicas over loopback TCP costs the sender, copied and uncopied.

The cluster client and the proxy send every byte of a PUT to each of 3 replicas. On loopback
the kernel charges the sender both the copy into socket buffers and the delivery to the
receiving socket. This measures that cost per GiB (CPU seconds of this process, user +
system), readers in child processes discarding what they get, in two ways:

- `send`: `sendall` of each 1 MiB chunk to each socket (three copies, what Dolmen does);
- `splice`: the chunk mapped into a pipe once (`vmsplice`), that pipe duplicated into one
  pipe per further replica (`tee`), and each pipe moved into its socket (`splice`): no copy
  of the bytes by the sender at all, only page references.

Prints one JSON object. Linux only (`vmsplice` and `tee` through ctypes).

    .venv/bin/python bench/loopback_send.py [--gib 1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import fcntl
import json
import os
import socket
import statistics
from collections.abc import Callable

CHUNK_BYTES = 2**20
REPLICAS = 3
F_SETPIPE_SZ = 1031
GIB = 2**30


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.vmsplice.argtypes = [ctypes.c_int, ctypes.POINTER(_IoVec), ctypes.c_ulong, ctypes.c_uint]
_libc.vmsplice.restype = ctypes.c_ssize_t
_libc.tee.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint]
_libc.tee.restype = ctypes.c_ssize_t


def _checked(result: int) -> int:
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return result


def send_copied(chunk: bytes, sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.sendall(chunk)


def make_send_spliced(sockets: list[socket.socket]) -> Callable[[bytes, list[socket.socket]], None]:
    pipes = [os.pipe() for _ in sockets]
    for _, write_end in pipes:
        fcntl.fcntl(write_end, F_SETPIPE_SZ, CHUNK_BYTES)

    def send_spliced(chunk: bytes, sockets: list[socket.socket]) -> None:
        base = ctypes.cast(ctypes.c_char_p(chunk), ctypes.c_void_p).value
        assert base is not None
        sent = 0
        while sent < len(chunk):
            vector = _IoVec(base + sent, len(chunk) - sent)
            mapped = _checked(_libc.vmsplice(pipes[0][1], ctypes.byref(vector), 1, 0))
            for _, write_end in pipes[1:]:
                assert _checked(_libc.tee(pipes[0][0], write_end, mapped, 0)) == mapped
            for (read_end, _), sock in zip(pipes, sockets, strict=True):
                left = mapped
                while left:
                    left -= os.splice(read_end, sock.fileno(), left)
            sent += mapped

    return send_spliced


def cpu_s_per_gib(way: str, gib: float) -> float:
    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(REPLICAS)]
    children = []
    for listener in listeners:
        child = os.fork()
        if child == 0:  # the reader: drain until the sender closes
            connection, _ = listener.accept()
            buffer = bytearray(CHUNK_BYTES)
            while connection.recv_into(buffer):
                pass
            os._exit(0)
        children.append(child)
    sockets = [socket.create_connection(listener.getsockname()) for listener in listeners]
    send = send_copied if way == "send" else make_send_spliced(sockets)
    chunks = [os.urandom(CHUNK_BYTES) for _ in range(8)]
    rounds = int(gib * GIB / CHUNK_BYTES)
    started = os.times()
    for index in range(rounds):
        send(chunks[index % len(chunks)], sockets)
    ended = os.times()
    for sock in sockets + listeners:
        sock.close()
    for child in children:
        os.waitpid(child, 0)
    spent_s = (ended.user - started.user) + (ended.system - started.system)
    return spent_s / (rounds * CHUNK_BYTES / GIB)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=1.0, help="GiB sent per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurements per way")
    args = parser.parse_args()
    measured: dict[str, list[float]] = {"send": [], "splice": []}
    for _ in range(args.rounds):
        for way, values in measured.items():
            values.append(cpu_s_per_gib(way, args.gib))
    report = {
        "bench": "loopback_send",
        "replicas": REPLICAS,
        "chunk_bytes": CHUNK_BYTES,
        **{f"{way}_cpu_s_per_gib": round(statistics.median(values), 3) for way, values in measured.items()},
        **{f"{way}_rounds": [round(value, 3) for value in values] for way, values in measured.items()},
    }
    report["splice_over_send_ratio"] = round(report["splice_cpu_s_per_gib"] / report["send_cpu_s_per_gib"], 2)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
