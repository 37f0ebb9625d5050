"""The `dolmen` command: one entry point, a subcommand per component.

Each subcommand lives in its component (`dolmen ring` in `ring/cli.py`) and is
imported only when used, so that `dolmen ring` does not load the proxy.
"""

from __future__ import annotations

import importlib
import sys

from dolmen import __version__

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "ring": ("dolmen.ring.cli", "build and inspect rings: where every byte lives"),
    "storage-node": ("dolmen.storage_node.cli", "serve this host's devices: objects, registers, replication"),
    "identity": (
        "dolmen.identity.cli",
        "serve the identity API (Keystone v3): tokens, users, projects, roles",
    ),
    "proxy": ("dolmen.proxy.cli", "serve the Swift API over the cluster"),
    "up": ("dolmen.up", "start an all-in-one cluster on loopback: storage nodes, identity, proxy"),
    "down": ("dolmen.down", "stop a cluster started by `dolmen up --detach`"),
}


def usage() -> str:
    lines = [
        f"dolmen {__version__}: a storage-centric cloud platform",
        "",
        "usage: dolmen COMMAND [ARGS...]",
        "",
    ]
    lines += [f"  {name:<14} {summary}" for name, (_, summary) in SUBCOMMANDS.items()]
    lines += ["", "`dolmen COMMAND --help` describes each command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if args[0] == "--version":
        print(__version__)
        return 0
    if args[0] not in SUBCOMMANDS:
        print(f"dolmen: unknown command {args[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[args[0]][0])
    return int(module.main(args[1:]))
