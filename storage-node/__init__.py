"""Storage nodes: object, container and account servers over per-device LMDB and files."""
