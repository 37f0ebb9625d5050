"""The token format: a compact binary payload, encrypted and signed with Fernet (pure, no I/O).

A token carries everything a service needs to authorise a request without asking
identity: user (id, name, domain), project scope (id, name, domain) or none, the
ids of the roles held on that project, the authentication methods, issue and expiry
times (microseconds) and a random audit id that names the token in revocations.

Payload layout, version 1 (integers big-endian):

    u8 version | u8 methods bitmask | u8 flags (bit 0: project-scoped)
    u64 issued_at_us | u64 expires_at_us | 16 bytes audit id
    id user_id | text user_name | id user_domain_id
    [id project_id | text project_name | id project_domain_id]     if project-scoped
    u8 role count | id role_id ...

An `id` is 0x00 and 16 bytes when it is 32 lowercase hex digits (every generated id),
else 0x01, a u8 length and UTF-8 bytes (`default`). A `text` is a u16 length and UTF-8.
The Fernet token is URL-safe base64 without its `=` padding, as Keystone's.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, MultiFernet
from cryptography.fernet import InvalidToken as FernetInvalidToken
from dolmen.identity.errors import InvalidToken

from dolmen.limits import ID_BYTES_MAX, NAME_CHARS_MAX, OPENED_TOKENS_MAX, TOKEN_CHARS_MAX, TOKEN_ROLES_MAX

PAYLOAD_VERSION = 1
METHODS = ("password", "token")  # bit i of the methods byte is METHODS[i]
AUDIT_ID_BYTES = 16
_HEADER = struct.Struct(">BBBQQ16s")
_PROJECT_SCOPED = 0x01
_HEX_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, kw_only=True)
class TokenPayload:
    """What a token says; times are seconds since the epoch (microsecond precision)."""

    user_id: str
    user_name: str
    user_domain_id: str
    project_id: str | None
    project_name: str | None
    project_domain_id: str | None
    role_ids: tuple[str, ...]
    methods: tuple[str, ...]
    issued_at_s: float
    expires_at_s: float
    audit_id: str

    def __post_init__(self) -> None:
        assert self.methods and all(method in METHODS for method in self.methods), self.methods
        assert (self.project_id is None) == (self.project_name is None) == (self.project_domain_id is None)
        assert len(self.role_ids) <= TOKEN_ROLES_MAX
        assert self.project_id is not None or not self.role_ids, "roles only come with a project scope"
        assert self.issued_at_s <= self.expires_at_s


def whole_microseconds(seconds: float) -> float:
    """`seconds` on the token's microsecond grid, so that what a response shows (expires_at)
    and what the token carries are the same instant, not 1 µs apart after two roundings."""
    return round(seconds * 1e6) / 1e6


def new_audit_id(random_bytes: bytes) -> str:
    """The printable audit id of AUDIT_ID_BYTES random bytes (22 URL-safe base64 characters)."""
    assert len(random_bytes) == AUDIT_ID_BYTES
    return base64.urlsafe_b64encode(random_bytes).rstrip(b"=").decode("ascii")


def encode_payload(payload: TokenPayload) -> bytes:
    methods = sum(1 << METHODS.index(method) for method in payload.methods)
    flags = _PROJECT_SCOPED if payload.project_id is not None else 0
    parts = [
        _HEADER.pack(
            PAYLOAD_VERSION,
            methods,
            flags,
            round(payload.issued_at_s * 1e6),
            round(payload.expires_at_s * 1e6),
            _decode_audit_id(payload.audit_id),
        ),
        _encode_id(payload.user_id),
        _encode_text(payload.user_name),
        _encode_id(payload.user_domain_id),
    ]
    if payload.project_id is not None:
        assert payload.project_name is not None and payload.project_domain_id is not None
        parts += [
            _encode_id(payload.project_id),
            _encode_text(payload.project_name),
            _encode_id(payload.project_domain_id),
        ]
    parts.append(bytes([len(payload.role_ids)]))
    parts += [_encode_id(role_id) for role_id in payload.role_ids]
    return b"".join(parts)


def decode_payload(data: bytes) -> TokenPayload:
    """The payload in `data`; raises InvalidToken if it is not a well-formed version-1 payload.

    Written as one pass with a running offset: it runs on every request of every service.
    """
    try:
        version, methods_bits, flags, issued_at_us, expires_at_us, audit = _HEADER.unpack_from(data, 0)
        if version != PAYLOAD_VERSION or methods_bits not in _METHODS_BY_BITS or flags & ~_PROJECT_SCOPED:
            raise InvalidToken("unknown token payload")
        offset = _HEADER.size
        user_id, offset = _read_id(data, offset)
        user_name, offset = _read_text(data, offset)
        user_domain_id, offset = _read_id(data, offset)
        project_id = project_name = project_domain_id = None
        if flags & _PROJECT_SCOPED:
            project_id, offset = _read_id(data, offset)
            project_name, offset = _read_text(data, offset)
            project_domain_id, offset = _read_id(data, offset)
        role_count = data[offset]
        offset += 1
        if role_count > TOKEN_ROLES_MAX or (role_count and project_id is None):
            raise InvalidToken("malformed token payload")
        role_ids = []
        for _ in range(role_count):
            role_id, offset = _read_id(data, offset)
            role_ids.append(role_id)
        if offset != len(data) or issued_at_us > expires_at_us:
            raise InvalidToken("malformed token payload")
    except (struct.error, UnicodeDecodeError, ValueError, IndexError):
        raise InvalidToken("malformed token payload") from None
    return TokenPayload(
        user_id=user_id,
        user_name=user_name,
        user_domain_id=user_domain_id,
        project_id=project_id,
        project_name=project_name,
        project_domain_id=project_domain_id,
        role_ids=tuple(role_ids),
        methods=_METHODS_BY_BITS[methods_bits],
        issued_at_s=issued_at_us / 1e6,
        expires_at_s=expires_at_us / 1e6,
        audit_id=new_audit_id(audit),
    )


class TokenCodec:
    """Seals payloads with the primary Fernet key; opens tokens sealed with any current key.

    `keys` is primary first (see KeyRepository.validation_keys). Opening does not check
    expiry or revocation: that is the validator's job, with its clock.
    """

    def __init__(self, keys: Sequence[bytes]) -> None:
        assert keys
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        # Tokens these keys opened, oldest first (FIFO, at most OPENED_TOKENS_MAX). A token is
        # immutable and the cache dies with the key set, so a hit is exactly what opening it
        # again would give; expiry and revocation are the validator's, checked on every call.
        self._opened: dict[str, TokenPayload] = {}

    def seal(self, payload: TokenPayload) -> str:
        token = self._fernet.encrypt_at_time(encode_payload(payload), int(payload.issued_at_s))
        return token.rstrip(b"=").decode("ascii")

    def open(self, token: str) -> TokenPayload:
        """The payload of `token`; raises InvalidToken if it is malformed or no key opens it."""
        opened = self._opened.get(token)
        if opened is not None:
            return opened
        if not token or len(token) > TOKEN_CHARS_MAX or not token.isascii():
            raise InvalidToken("malformed token")
        padded = token + "=" * (-len(token) % 4)
        try:
            data = self._fernet.decrypt(padded.encode("ascii"))
        except (FernetInvalidToken, binascii.Error, ValueError, TypeError):
            raise InvalidToken("the token does not open under any current key") from None
        payload = decode_payload(data)
        if len(self._opened) >= OPENED_TOKENS_MAX:
            del self._opened[next(iter(self._opened))]
        self._opened[token] = payload
        return payload


# --- encoding helpers -------------------------------------------------------

_U16 = struct.Struct(">H")
_METHODS_BY_BITS = {
    bits: tuple(method for bit, method in enumerate(METHODS) if bits >> bit & 1)
    for bits in range(1, 2 ** len(METHODS))
}


def _encode_id(value: str) -> bytes:
    if _HEX_ID.fullmatch(value):
        return b"\x00" + bytes.fromhex(value)
    raw = value.encode("utf-8")
    assert 0 < len(raw) <= ID_BYTES_MAX, value
    return b"\x01" + bytes([len(raw)]) + raw


def _encode_text(value: str) -> bytes:
    raw = value.encode("utf-8")
    assert len(value) <= NAME_CHARS_MAX and len(raw) < 2**16, value
    return _U16.pack(len(raw)) + raw


def _decode_audit_id(audit_id: str) -> bytes:
    raw = base64.urlsafe_b64decode(audit_id + "=" * (-len(audit_id) % 4))
    assert len(raw) == AUDIT_ID_BYTES, audit_id
    return raw


def _read_id(data: bytes, offset: int) -> tuple[str, int]:
    kind = data[offset]
    if kind == 0:
        end = offset + 17
        if end > len(data):
            raise ValueError("short payload")
        return data[offset + 1 : end].hex(), end
    if kind == 1:
        size = data[offset + 1]
        end = offset + 2 + size
        if size == 0 or end > len(data):
            raise ValueError("malformed id")
        return data[offset + 2 : end].decode("utf-8"), end
    raise ValueError("unknown id kind")


def _read_text(data: bytes, offset: int) -> tuple[str, int]:
    (size,) = _U16.unpack_from(data, offset)
    end = offset + 2 + size
    if end > len(data):
        raise ValueError("short payload")
    return data[offset + 2 : end].decode("utf-8"), end
