"""Which names a container or account listing answers: pure logic over a sorted name source.

Semantics (Swift's, over the UTF-8 bytes of names, which sort in code point order):

* `prefix`: only names that start with it.
* `marker`: only names after it (exclusive); `end_marker`: only names before it (exclusive).
* `reverse`: descending order; `marker` then bounds from above and `end_marker` from below.
* `delimiter`: a name whose rest after `prefix` contains the delimiter is rolled up into one
  `Subdir` entry (prefix + rest up to and including the first delimiter), listed once, in
  place of every name under it; a subdir equal to `marker` is not listed again (paging).
* `limit`: at most this many entries, subdirs included (1 .. LISTING_PAGE_ENTRIES_MAX).

A source yields (name, entry) pairs in exact name order from a seek point, so a listing
reads only what it answers: it starts at max(prefix, marker), and skips a whole subdir by
seeking past it (`subdir + 0xFF`: 0xFF never occurs in UTF-8, so every name under the subdir
sorts before it and every later name after it), instead of scanning the names under it.
Names never contain NUL, so `marker + 0x00` is the first name after `marker`.

`in_name_order` turns LMDB key order into exact name order where keycodec's long-name keys
disturb it (see keycodec.py): a run of keys sharing a 474-byte name prefix is read whole and
sorted by full names. Such a run holds only names of 474 bytes or more sharing those 474
bytes, so its size is whatever the container holds of those; it is read in one step.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeAlias, TypeVar
from urllib.parse import parse_qsl

from dolmen.storage_node.errors import BadRequest, ListingLimitTooLarge
from dolmen.storage_node.keycodec import NAME_PREFIX_BYTES

from dolmen.limits import LISTING_DELIMITER_BYTES_MAX, LISTING_PAGE_ENTRIES_MAX, OBJECT_NAME_BYTES_MAX

E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)
V = TypeVar("V")

NAME_AFTER_ALL = b"\xff"  # greater than every UTF-8 continuation: seeks past a subdir or a prefix
FORMATS = ("json", "xml", "plain")


@dataclass(frozen=True, slots=True)
class ListingQuery:
    """A parsed listing query; names are UTF-8 bytes."""

    prefix: bytes = b""
    delimiter: bytes = b""
    marker: bytes = b""
    end_marker: bytes = b""
    limit: int = LISTING_PAGE_ENTRIES_MAX
    reverse: bool = False
    format: str = "plain"

    def __post_init__(self) -> None:
        assert 1 <= self.limit <= LISTING_PAGE_ENTRIES_MAX
        assert self.format in FORMATS


@dataclass(frozen=True, slots=True)
class Subdir:
    """A delimiter roll-up: every listed name under `name` (which ends with the delimiter)."""

    name: bytes


# A listed name and its entry (as the source gave it). A plain pair, not a named one: a
# listing builds thousands, and a NamedTuple costs four times as much to make.
Row: TypeAlias = tuple[bytes, E]


class NameSource(Protocol[E_co]):
    """Names in exact byte order from a seek point (an LMDB cursor, or a sorted list in tests)."""

    def ascending(self, start: bytes) -> Iterator[tuple[bytes, E_co]]:
        """Every (name, entry) with name >= start, ascending."""
        ...

    def descending(self, stop: bytes | None) -> Iterator[tuple[bytes, E_co]]:
        """Every (name, entry) with name < stop (all names if None), descending."""
        ...


class MergedNames(Generic[E]):
    """One NameSource over several that never hold the same name (a container's live entries
    and its tombstones, kept apart): their names in one order."""

    def __init__(self, *sources: NameSource[E]) -> None:
        self.sources = sources

    def ascending(self, start: bytes) -> Iterator[tuple[bytes, E]]:
        return heapq.merge(*(source.ascending(start) for source in self.sources), key=_first)

    def descending(self, stop: bytes | None) -> Iterator[tuple[bytes, E]]:
        return heapq.merge(*(source.descending(stop) for source in self.sources), key=_first, reverse=True)


def parse_listing_query(query: str) -> ListingQuery:
    """The listing parameters of a raw query string; BadRequest if malformed (or not UTF-8),
    ListingLimitTooLarge (412, as Swift) for a limit over LISTING_PAGE_ENTRIES_MAX."""
    try:
        params = dict(parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="strict"))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the query string is not valid percent-encoded UTF-8") from None
    return listing_query_from(params)


def listing_query_from(params: Mapping[str, str]) -> ListingQuery:
    names = {}
    for field in ("prefix", "delimiter", "marker", "end_marker"):
        value = params.get(field, "")
        try:
            encoded = value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(f"{field} is not valid UTF-8") from None
        if b"\0" in encoded or len(encoded) > OBJECT_NAME_BYTES_MAX:
            raise BadRequest(f"{field} must be at most {OBJECT_NAME_BYTES_MAX} bytes without NUL")
        names[field] = encoded
    if len(names["delimiter"]) > LISTING_DELIMITER_BYTES_MAX:
        raise BadRequest(f"delimiter must be at most {LISTING_DELIMITER_BYTES_MAX} bytes")
    limit_text = params.get("limit", "")
    if limit_text == "":
        limit = LISTING_PAGE_ENTRIES_MAX
    elif not limit_text.isascii() or not limit_text.isdigit() or len(limit_text) > 12:
        raise BadRequest("limit must be a decimal number")
    else:
        limit = int(limit_text)
        if limit > LISTING_PAGE_ENTRIES_MAX:
            raise ListingLimitTooLarge(f"limit must be at most {LISTING_PAGE_ENTRIES_MAX}")
        if limit == 0:
            raise BadRequest("limit must be at least 1")
    reverse_text = params.get("reverse", "").lower()
    if reverse_text not in ("", "true", "false", "1", "0", "yes", "no", "on", "off", "t", "f", "y", "n"):
        raise BadRequest("reverse must be true or false")
    listing_format = params.get("format", "plain").lower() or "plain"
    if listing_format not in FORMATS:
        raise BadRequest("format must be json, xml or plain")
    return ListingQuery(
        **names,
        limit=limit,
        reverse=reverse_text in ("true", "1", "yes", "on", "t", "y"),
        format=listing_format,
    )


def list_names(
    source: NameSource[E], query: ListingQuery, *, listed: Callable[[E], bool] | None = None
) -> list[Row[E] | Subdir]:
    """The page `query` asks for. `listed(entry)` says whether an entry shows (public listings hide
    tombstones; None shows all); hidden entries neither count nor make a subdir appear."""
    answer: list[Row[E] | Subdir] = []
    prefix, marker = query.prefix, query.marker
    if query.reverse:
        stop: bytes | None = prefix + NAME_AFTER_ALL if prefix else None
        if marker and (stop is None or marker < stop):
            stop = marker
        # A subdir's names are all >= the subdir: descend from just below it.
        while (stop := _fill(answer, source.descending(stop), query, listed)) is not None:
            pass
    else:
        start: bytes | None = max(prefix, marker + b"\0") if marker else prefix
        while start is not None:
            subdir = _fill(answer, source.ascending(start), query, listed)
            start = None if subdir is None else subdir + NAME_AFTER_ALL
    return answer


def _fill(
    answer: list[Row[E] | Subdir],
    rows: Iterator[tuple[bytes, E]],
    query: ListingQuery,
    listed: Callable[[E], bool] | None,
) -> bytes | None:
    """Append rows in the listing's range to `answer` until the limit; the subdir to seek past, if any."""
    prefix, delimiter, end_marker, limit = query.prefix, query.delimiter, query.end_marker, query.limit
    prefix_bytes = len(prefix)
    if len(answer) >= limit:
        return None
    for name, entry in rows:
        if end_marker and (name <= end_marker if query.reverse else name >= end_marker):
            return None
        if not name.startswith(prefix):
            return None
        if listed is not None and not listed(entry):
            continue
        if delimiter and (found := name.find(delimiter, prefix_bytes)) >= 0:
            subdir = name[: found + len(delimiter)]
            if subdir != query.marker:
                answer.append(Subdir(subdir))
            return subdir
        answer.append((name, entry))
        if len(answer) >= limit:
            return None
    return None


# --- LMDB key order to name order ------------------------------------------------


def seek_low(name: bytes) -> bytes:
    """The key name part to seek to so that every name >= `name` lies at or after it."""
    return name[:NAME_PREFIX_BYTES]


def seek_high(name: bytes) -> bytes:
    """A key name part above every key of a name < `name` (descend from the key before it)."""
    if len(name) < NAME_PREFIX_BYTES:
        return name
    return name[:NAME_PREFIX_BYTES] + NAME_AFTER_ALL * 17  # past the run: marker + 16-byte digest


def in_name_order(
    pairs: Iterator[tuple[bytes, V]], full_name: Callable[[bytes, V], bytes], *, descending: bool
) -> Iterator[tuple[bytes, V]]:
    """(name part of a key, value) pairs in key order -> (full name, value) in name order.

    Key name parts shorter than the long-name prefix are the names themselves and already in
    order; a run of parts sharing a 474-byte prefix is collected and sorted by full name.
    """
    run: list[tuple[bytes, V]] = []
    run_prefix = b""
    for part, value in pairs:
        if len(part) >= NAME_PREFIX_BYTES:
            if run and part[:NAME_PREFIX_BYTES] != run_prefix:
                yield from sorted(run, key=_first, reverse=descending)
                run = []
            run_prefix = part[:NAME_PREFIX_BYTES]
            run.append((full_name(part, value), value))
            continue
        if run:
            yield from sorted(run, key=_first, reverse=descending)
            run = []
        yield part, value
    if run:
        yield from sorted(run, key=_first, reverse=descending)


def _first(pair: tuple[bytes, object]) -> bytes:
    return pair[0]
