"""Objects: quorum writes streamed to every replica at once, quorum metadata reads, resumable GETs.

PUT: the body streams once from the caller; its MD5 (the ETag) and xxh3 are computed once
while it streams and sent in the signed footer of each replica's framed body. The body is
gathered into frames of FRAME_DATA_BYTES_MAX without copying (`framing.FrameAssembler`) and
every target receives the same frames, one vectored write each, on a connection of its own
(`upload.py`); the writer waits for a replica holding more than `write_queue_chunks` frames
unsent, so the slowest live replica paces the write, and one that stalls longer than
chunk_timeout_s is dropped. A primary that cannot be reached at connect time (or is
error-limited) is replaced by the next handoff. The write succeeds when a quorum of
distinct nodes answered 201 (two replicas on one node count once);
otherwise QuorumNotReached, and what reached a minority may
appear later, whole, never partial (nodes store nothing without a valid footer).

HEAD asks a quorum of primaries and the newest timestamp wins (tombstones included); when
that is not a live object, up to handoffs_checked_on_404 handoffs are asked too. GET
does the same, then streams from a replica holding the newest timestamp (read affinity
first); if the stream breaks, it resumes at the same offset from another replica holding
the same timestamp (a multipart/byteranges answer cannot resume: the stream is cut).

A cancel of a PUT leaves nothing visible that was not acknowledged; a cancelled GET closes
its connection (never reused).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

import xxhash
from multidict import CIMultiDictProxy

from dolmen.cluster.config import ClusterClientConfig
from dolmen.cluster.errors import (
    EtagMismatch,
    NotFound,
    NotModified,
    PreconditionFailed,
    QuorumNotReached,
    RangeNotSatisfiable,
)
from dolmen.cluster.names import node_path
from dolmen.cluster.placement import affinity_order, node_of, quorum_size
from dolmen.cluster.transport import (
    SMALL_BODY_BYTES_MAX,
    NodeAnswer,
    NodeError,
    NodeFailed,
    NodeResponse,
    NodeUnreachable,
    Transport,
)
from dolmen.cluster.upload import ReplicaUpload
from dolmen.limits import FRAME_DATA_BYTES_MAX
from dolmen.ring.devices import Device
from dolmen.ring.ring import Ring
from dolmen.storage_node import framing
from dolmen.storage_node.errors import InvalidTimestamp
from dolmen.storage_node.http_conditions import evaluate_preconditions
from dolmen.storage_node.timestamps import ZERO, Timestamp

META_PREFIX = "x-object-meta-"
# Headers every object answer has; any other (besides X-Object-Meta-*) is footer metadata.
STANDARD_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-range",
        "etag",
        "last-modified",
        "x-timestamp",
        "x-backend-timestamp",
        "x-backend-data-timestamp",
        "accept-ranges",
        "x-delete-at",
        "x-trans-id",
        "date",
        "server",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "x-backend-container-update",
    }
)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


@dataclass(frozen=True, slots=True)
class PutResult:
    etag: str
    timestamp: Timestamp
    bytes: int
    # A newer write of the name won on some replicas: ours is the older of two racing writes,
    # acknowledged as S3 and Swift acknowledge both (the newer one is what every read sees).
    superseded: bool = False


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """An object's metadata. `last_modified` is Unix seconds (the timestamp rounded up, as HTTP shows it)."""

    content_type: str
    length: int
    etag: str
    timestamp: Timestamp
    last_modified: int
    metadata: Mapping[str, str]
    delete_at: int | None
    extra: Mapping[str, str]


def object_info(headers: Mapping[str, str]) -> ObjectInfo:
    """ObjectInfo from a node's GET or HEAD answer headers."""
    metadata: dict[str, str] = {}
    extra: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith(META_PREFIX):
            metadata[lower[len(META_PREFIX) :]] = value
        elif lower not in STANDARD_HEADERS:
            extra[name] = value
    timestamp = Timestamp.parse(headers["X-Backend-Timestamp"])
    delete_at = headers.get("X-Delete-At")
    return ObjectInfo(
        content_type=headers.get("Content-Type", ""),
        length=int(headers.get("Content-Length", "0")),
        etag=headers.get("ETag", "").strip('"'),
        timestamp=timestamp,
        last_modified=math.ceil(timestamp.seconds),
        metadata=metadata,
        delete_at=int(delete_at) if delete_at else None,
        extra=extra,
    )


def answer_timestamp(answer: NodeAnswer) -> Timestamp:
    """The record timestamp an answer reports (ZERO when the node has nothing)."""
    text = answer.headers.get("X-Backend-Timestamp")
    if not text:
        return ZERO
    try:
        return Timestamp.parse(text)
    except InvalidTimestamp:
        return ZERO


def is_live(answer: NodeAnswer) -> bool:
    """A record exists and is not deleted (objects answer 200, containers and accounts 204)."""
    return 200 <= answer.status < 300


def newest_first(answers: list[tuple[Device, NodeAnswer]]) -> list[tuple[Device, NodeAnswer]]:
    """Answers by record timestamp, newest first (a live copy before a tombstone of the same time)."""
    return sorted(answers, key=lambda pair: (answer_timestamp(pair[1]), is_live(pair[1])), reverse=True)


def nodes_of(replicas: Iterable[ReplicaUpload | NodeAnswer]) -> int:
    """How many distinct nodes these replicas are on: a quorum counts nodes, not devices, so two
    replicas on one node (a handoff beside a primary) never make a write survive one host alone."""
    return len({replica.node for replica in replicas})


class HandoffSource:
    """Hands out the handoffs that stand in for unreachable primaries, in ring order.

    A handoff is skipped if its node is unusable (unreachable, error-limited) or it is
    already a target; at most `tries_max` handoffs are looked at in all. Nodes may hold
    two targets on different devices (three nodes, one down: the handoff shares a node).
    """

    def __init__(self, handoffs: Iterator[Device], targets: list[Device], tries_max: int) -> None:
        self._handoffs = handoffs
        self._targets = {device.id for device in targets}
        self._tries_left = tries_max
        self.unusable: set[str] = set()

    def __call__(self) -> Device | None:
        while self._tries_left > 0:
            device = next(self._handoffs, None)
            if device is None:
                return None
            self._tries_left -= 1
            if node_of(device) not in self.unusable and device.id not in self._targets:
                self._targets.add(device.id)
                return device
        return None


class Objects:
    """Object operations over one ring; ClusterClient picks the ring and checks names first."""

    def __init__(self, transport: Transport, config: ClusterClientConfig) -> None:
        self.transport = transport
        self.config = config
        # Frames a replica's socket may hold unsent before the writer waits for it.
        self._write_buffer_bytes_max = config.write_queue_chunks * FRAME_DATA_BYTES_MAX

    def read_order(self, devices: list[Device]) -> list[Device]:
        """Nearest first (read affinity), error-limited nodes last."""
        ordered = affinity_order(
            devices, region=self.config.read_affinity_region, zone=self.config.read_affinity_zone
        )
        return sorted(ordered, key=lambda device: self.transport.is_limited(node_of(device)))

    # --- PUT -------------------------------------------------------------------

    async def _connect_uploads(
        self,
        ring: Ring,
        partition: int,
        path_of: Callable[[Device], str],
        headers_for: Callable[[int], dict[str, str]],
    ) -> list[ReplicaUpload]:
        """One connected upload per primary, or per handoff standing in for an unreachable one."""
        primaries = ring.primaries(partition)
        next_handoff = HandoffSource(ring.handoffs(partition), primaries, self.config.write_handoffs_max)
        for device in primaries:
            if self.transport.is_limited(node_of(device)):
                next_handoff.unusable.add(node_of(device))

        async def connect(index: int, device: Device | None) -> ReplicaUpload | None:
            while device is not None:
                path = path_of(device)
                signed = self.transport.signed_headers("PUT", path, "", headers_for(index))
                try:
                    return await ReplicaUpload.open(
                        self.transport, device, path, signed, buffer_bytes_max=self._write_buffer_bytes_max
                    )
                except NodeUnreachable:
                    next_handoff.unusable.add(node_of(device))
                    device = next_handoff()
            return None

        firsts = [
            device if node_of(device) not in next_handoff.unusable else next_handoff() for device in primaries
        ]
        connecting = [asyncio.ensure_future(connect(index, device)) for index, device in enumerate(firsts)]
        try:
            results = await asyncio.gather(*connecting, return_exceptions=True)
        except BaseException:  # cancelled: close what did connect
            for task in connecting:
                upload = (
                    task.result() if task.done() and not task.cancelled() and not task.exception() else None
                )
                if upload is not None:
                    upload.abort()
            raise
        uploads = [result for result in results if isinstance(result, ReplicaUpload)]
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            for upload in uploads:
                upload.abort()
            raise errors[0]
        return uploads

    async def put(
        self,
        ring: Ring,
        account: str,
        container: str,
        obj: str,
        body: AsyncIterable[bytes | memoryview] | bytes,
        *,
        headers_for: Callable[[int], dict[str, str]],
        timestamp: Timestamp,
        expected_etag: str | None,
        check_body: Callable[[], Awaitable[None]] | None,
        footer_metadata: Callable[[], Mapping[str, str]] | None,
    ) -> PutResult:
        """Store `body` (a stream, or small bytes already whole: `_put_whole`) on a quorum."""
        if isinstance(body, bytes):
            return await self._put_whole(
                ring,
                account,
                container,
                obj,
                body,
                headers_for=headers_for,
                timestamp=timestamp,
                expected_etag=expected_etag,
                check_body=check_body,
                footer_metadata=footer_metadata,
            )
        partition = ring.partition(account, container, obj)
        quorum = quorum_size(ring.replicas)
        uploads = await self._connect_uploads(
            ring,
            partition,
            lambda device: node_path(device.device, partition, account, container, obj),
            headers_for,
        )
        try:
            if nodes_of(uploads) < quorum:
                raise QuorumNotReached(
                    f"only {nodes_of(uploads)} nodes reachable for a write, {quorum} needed"
                )
            etag, body_bytes, body_xxh3 = await self._stream(body, uploads, quorum)
            failure: BaseException | None = None
            try:
                if expected_etag is not None and expected_etag.strip('"').lower() != etag:
                    raise EtagMismatch(f"the body's MD5 {etag} is not the expected {expected_etag}")
                if check_body is not None:
                    await check_body()
            except Exception as error:  # the caller's check refused the body: abort everywhere
                failure = error
            if failure is None:
                footer = framing.Footer(
                    action=framing.ACTION_COMMIT,
                    etag=etag,
                    body_bytes=body_bytes,
                    body_xxh3_64=body_xxh3,
                    metadata=dict(footer_metadata()) if footer_metadata else {},
                )
            else:
                footer = framing.Footer(action=framing.ACTION_ABORT)
            # Each replica answers once its copy is durable: wait first_byte_timeout_s at most.
            answers = [
                answer
                for answer in await asyncio.gather(
                    *(
                        upload.finish(
                            framing.encode_footer(
                                footer, key=self.transport.signing_key, request_signature_hex=upload.signature
                            ),
                            self.config.first_byte_timeout_s,
                        )
                        for upload in uploads
                    )
                )
                if answer is not None
            ]
            if failure is not None:
                raise failure
            return self._put_outcome(
                answers, quorum, PutResult(etag=etag, timestamp=timestamp, bytes=body_bytes)
            )
        finally:
            for upload in uploads:
                upload.abort()  # a no-op for those that answered

    @staticmethod
    def _put_outcome(answers: list[NodeAnswer], quorum: int, result: PutResult) -> PutResult:
        """The write's result once a quorum stored it (with a quorum of container updates), or
        once it is superseded: a newer write of the name is stored where ours is not, so every
        read and listing shows that one, as if ours came just before it (last writer wins)."""
        stored = nodes_of(answer for answer in answers if answer.status == 201)
        newer = any(answer.status == 409 for answer in answers)
        if stored >= quorum:
            try:
                check_container_updates(answers, (201,), quorum)
            except QuorumNotReached:
                if not newer:
                    raise
                # The newer write's entry supersedes ours in every listing: ours missing from a
                # quorum of them is that write's to settle.
                return replace(result, superseded=True)
            return result
        if any(answer.status == 412 for answer in answers):
            raise PreconditionFailed("the condition of the write does not hold (If-None-Match, If-Match)")
        if nodes_of(answer for answer in answers if answer.status in (201, 409)) >= quorum:
            return replace(result, superseded=True)
        statuses = sorted(answer.status for answer in answers)
        raise QuorumNotReached(f"{stored} nodes stored the object, {quorum} needed (answers {statuses})")

    async def _stream(
        self, body: AsyncIterable[bytes | memoryview], uploads: list[ReplicaUpload], quorum: int
    ) -> tuple[str, int, str]:
        """Frame the body to every upload; (MD5 hex, length, xxh3-64 hex). QuorumNotReached if too many drop."""
        md5 = hashlib.md5()
        xxh3 = xxhash.xxh3_64()
        total = 0
        frames = framing.FrameAssembler()
        timeout_s = self.config.chunk_timeout_s

        async def send(whole_frames: list[list[bytes | memoryview]]) -> None:
            for frame in whole_frames:
                for upload in uploads:
                    upload.write(frame)
                for upload in uploads:
                    await upload.drain(timeout_s)
                if nodes_of(upload for upload in uploads if upload.alive) < quorum:
                    raise QuorumNotReached("too many replicas failed while the body was sent")

        async for chunk in body:
            md5.update(chunk)
            xxh3.update(chunk)
            total += len(chunk)
            await send(frames.feed(chunk))
        await send(frames.finish())
        return md5.hexdigest(), total, xxh3.hexdigest()

    # --- HEAD, GET ---------------------------------------------------------------

    async def _ask(
        self, devices: list[Device], method: str, path_of: Callable[[Device], str], headers: dict[str, str]
    ) -> list[tuple[Device, NodeAnswer]]:
        """The same small request to several devices at once; (device, answer) of those that answered."""
        results = await asyncio.gather(
            *(
                self.transport.request(node_of(device), method, path_of(device), headers=headers)
                for device in devices
            ),
            return_exceptions=True,
        )
        answered: list[tuple[Device, NodeAnswer]] = []
        for device, result in zip(devices, results, strict=True):
            if isinstance(result, NodeAnswer):
                if result.status < 500:
                    answered.append((device, result))
            elif not isinstance(result, NodeError):
                raise result
        return answered

    async def head_quorum(
        self,
        ring: Ring,
        partition: int,
        path_of: Callable[[Device], str],
        headers: dict[str, str] | None = None,
        *,
        known: list[tuple[Device, NodeAnswer]] | None = None,
        asked: list[Device] | None = None,
    ) -> list[tuple[Device, NodeAnswer]]:
        """HEAD answers of a quorum of primaries, newest first, plus handoffs' if nothing is live.

        Asks `quorum` primaries (nearest first), and more only to replace failures; when the
        newest answer is not a live object, also up to handoffs_checked_on_404 handoffs.
        `known`: answers in hand already (a GET's), from devices among `asked`, which are
        not asked again. Raises QuorumNotReached when nothing live was found and fewer than
        a quorum answered.
        """
        primaries = self.read_order(ring.primaries(partition))
        quorum = quorum_size(len(primaries))
        answers = list(known or [])
        remaining = [device for device in primaries if device not in (asked or [])]
        while remaining and len(answers) < quorum:
            wanted = quorum - len(answers)
            answers += await self._ask(remaining[:wanted], "HEAD", path_of, headers or {})
            remaining = remaining[wanted:]
        if not answers or not is_live(newest_first(answers)[0][1]):
            handoffs = list(itertools.islice(ring.handoffs(partition), self.config.handoffs_checked_on_404))
            answers += await self._ask(handoffs, "HEAD", path_of, headers or {})
            if (not answers or not is_live(newest_first(answers)[0][1])) and len(answers) < quorum:
                raise QuorumNotReached(f"{len(answers)} nodes answered, {quorum} needed")
        return newest_first(answers)

    async def head(
        self, ring: Ring, account: str, container: str, obj: str, headers: Mapping[str, str]
    ) -> ObjectInfo:
        partition = ring.partition(account, container, obj)
        answers = await self.head_quorum(
            ring, partition, lambda device: node_path(device.device, partition, account, container, obj)
        )
        if not answers or not is_live(answers[0][1]):
            raise NotFound(f"no object {account}/{container}/{obj}")
        info = object_info(answers[0][1].headers)
        check_conditions("HEAD", headers, info)
        return info

    async def open_reader(
        self, ring: Ring, account: str, container: str, obj: str, headers: Mapping[str, str]
    ) -> ObjectReader:
        partition = ring.partition(account, container, obj)

        def path_of(device: Device) -> str:
            return node_path(device.device, partition, account, container, obj)

        nearest, opened = None, None
        known: list[tuple[Device, NodeAnswer]] = []
        asked: list[Device] = []
        if not any(name.lower() == "range" for name in headers):
            # A whole GET of the nearest primary stands for its HEAD, asked beside the quorum's
            # other HEADs: one request and one round trip fewer when it holds the newest copy.
            primaries = self.read_order(ring.primaries(partition))
            nearest, asked = primaries[0], primaries[: quorum_size(len(primaries))]
            opened, heads = await asyncio.gather(
                self._open_whole(nearest, path_of(nearest)), self._ask(asked[1:], "HEAD", path_of, {})
            )
            known = heads if opened is None else [(nearest, opened[0]), *heads]
        try:
            answers = await self.head_quorum(ring, partition, path_of, known=known, asked=asked)
            if not answers or not is_live(answers[0][1]):
                raise NotFound(f"no object {account}/{container}/{obj}")
            info = object_info(answers[0][1].headers)
            check_conditions("GET", headers, info)
        except BaseException:
            if opened is not None and opened[1] is not None:
                opened[1].close()
            raise
        # Replicas known to hold the newest copy first (nearest first), then the others
        # (their answers are checked for the same timestamp before a byte is used).
        holders = [device for device, answer in answers if answer_timestamp(answer) == info.timestamp]
        others = [
            device
            for device in [
                *ring.primaries(partition),
                *itertools.islice(ring.handoffs(partition), self.config.handoffs_checked_on_404),
            ]
            if device not in holders
        ]
        candidates = self.read_order(holders) + self.read_order(others)
        reader = ObjectReader(self.transport, self.config, info, candidates, path_of, headers)
        if opened is not None and opened[1] is not None:
            if answer_timestamp(opened[0]) == info.timestamp:
                assert nearest is not None
                reader.adopt(nearest, opened[1])
                return reader
            opened[1].close()  # an older copy: its stream is not used
        await reader.start()
        return reader

    async def _open_whole(self, device: Device, path: str) -> tuple[NodeAnswer, NodeResponse | None] | None:
        """A whole GET: its answer's headers as a HEAD's, and its open stream if it is a 200;
        None if the node failed (or answered 5xx)."""
        node = node_of(device)
        try:
            response = await self.transport.open(node, "GET", path, headers={})
        except NodeError:
            return None
        answer = NodeAnswer(node, response.status, response.headers, b"")
        if response.status == 200:
            return answer, response
        self.transport.record_status(node, response.status)
        if response.status >= 500:
            response.close()
            return None
        try:  # a 404's small body, read so that the connection is kept
            received = 0
            async with asyncio.timeout(self.config.chunk_timeout_s):
                while received <= SMALL_BODY_BYTES_MAX and (chunk := await response.readany()):
                    received += len(chunk)
        except (TimeoutError, OSError):
            response.close()
            return answer, None
        response.release()
        return answer, None

    # --- DELETE, POST ------------------------------------------------------------

    async def _put_whole(
        self,
        ring: Ring,
        account: str,
        container: str,
        obj: str,
        body: bytes,
        *,
        headers_for: Callable[[int], dict[str, str]],
        timestamp: Timestamp,
        expected_etag: str | None,
        check_body: Callable[[], Awaitable[None]] | None,
        footer_metadata: Callable[[], Mapping[str, str]] | None,
    ) -> PutResult:
        """`put` of a body already whole in memory (at most put_whole_bytes_max): checked before
        anything is sent, then one request per replica carrying every frame and the footer.
        The same outcomes as `put`; a refused body sends nothing at all."""
        etag = hashlib.md5(body).hexdigest()
        if expected_etag is not None and expected_etag.strip('"').lower() != etag:
            raise EtagMismatch(f"the body's MD5 {etag} is not the expected {expected_etag}")
        if check_body is not None:
            await check_body()
        footer = framing.Footer(
            action=framing.ACTION_COMMIT,
            etag=etag,
            body_bytes=len(body),
            body_xxh3_64=xxhash.xxh3_64_hexdigest(body),
            metadata=dict(footer_metadata()) if footer_metadata else {},
        )
        frames = framing.data_frames(body)
        partition = ring.partition(account, container, obj)

        async def send(index: int, device: Device) -> NodeAnswer:
            path = node_path(device.device, partition, account, container, obj)
            signed = self.transport.signed_headers("PUT", path, "", headers_for(index))
            signature = signed["X-Backend-Signature"]
            footer_frame = framing.encode_footer(
                footer, key=self.transport.signing_key, request_signature_hex=signature
            )
            return await self.transport.request(
                node_of(device), "PUT", path, headers=signed, body=frames + footer_frame, signed=True
            )

        answers = await self._to_replicas(ring, partition, send)
        return self._put_outcome(
            answers, quorum_size(ring.replicas), PutResult(etag=etag, timestamp=timestamp, bytes=len(body))
        )

    async def write_small(
        self,
        ring: Ring,
        partition: int,
        method: str,
        path_of: Callable[[Device], str],
        headers_for: Callable[[int], dict[str, str]],
    ) -> list[NodeAnswer]:
        """A small write (DELETE, POST, container or account changes) to every primary,
        a handoff standing in for each primary that cannot be reached.

        `headers_for(index)` are the headers for replica `index` (a handoff gets those of the
        primary it stands in for: the 1:1 replica mappings go with it).
        """

        async def send(index: int, device: Device) -> NodeAnswer:
            return await self.transport.request(
                node_of(device), method, path_of(device), headers=headers_for(index)
            )

        return await self._to_replicas(ring, partition, send)

    async def _to_replicas(
        self, ring: Ring, partition: int, send: Callable[[int, Device], Awaitable[NodeAnswer]]
    ) -> list[NodeAnswer]:
        """`send(replica index, device)` to every primary at once, the next handoff standing in
        for one that cannot be reached (or is error-limited); the answers of those that answered."""
        primaries = ring.primaries(partition)
        next_handoff = HandoffSource(ring.handoffs(partition), primaries, self.config.write_handoffs_max)
        for device in primaries:
            if self.transport.is_limited(node_of(device)):
                next_handoff.unusable.add(node_of(device))

        async def send_one(index: int, device: Device | None) -> NodeAnswer | None:
            while device is not None:
                try:
                    return await send(index, device)
                except NodeUnreachable:
                    next_handoff.unusable.add(node_of(device))
                    device = next_handoff()
                except NodeFailed:
                    return None
            return None

        firsts = [
            device if node_of(device) not in next_handoff.unusable else next_handoff() for device in primaries
        ]
        results = await asyncio.gather(*(send_one(index, device) for index, device in enumerate(firsts)))
        return [answer for answer in results if answer is not None]

    async def delete(
        self,
        ring: Ring,
        account: str,
        container: str,
        obj: str,
        headers_for: Callable[[int], dict[str, str]],
    ) -> None:
        partition = ring.partition(account, container, obj)
        answers = await self.write_small(
            ring,
            partition,
            "DELETE",
            lambda d: node_path(d.device, partition, account, container, obj),
            headers_for,
        )
        quorum = quorum_size(ring.replicas)
        if nodes_of(answer for answer in answers if answer.status in (204, 404, 409)) < quorum:
            raise QuorumNotReached(f"{len(answers)} replicas answered the delete, {quorum} needed")
        if any(answer.status == 409 for answer in answers):
            return  # superseded by a newer write of the name, as a PUT can be (_put_outcome)
        check_container_updates(answers, (204, 404), quorum)
        if not any(answer.status == 204 for answer in answers):
            raise NotFound(f"no object {account}/{container}/{obj}")

    async def post(self, ring: Ring, account: str, container: str, obj: str, headers: dict[str, str]) -> None:
        partition = ring.partition(account, container, obj)
        answers = await self.write_small(
            ring,
            partition,
            "POST",
            lambda d: node_path(d.device, partition, account, container, obj),
            lambda index: headers,
        )
        quorum = quorum_size(ring.replicas)
        if nodes_of(answer for answer in answers if answer.status in (202, 409)) >= quorum:
            return  # stored, or superseded by a newer write of the name (_put_outcome)
        if nodes_of(answer for answer in answers if answer.status == 404) >= quorum:
            raise NotFound(f"no object {account}/{container}/{obj}")
        raise QuorumNotReached(f"{len(answers)} replicas answered the post, {quorum} needed")


CONTAINER_UPDATE_HEADER = "X-Backend-Container-Update"


def check_container_updates(answers: list[NodeAnswer], statuses: tuple[int, ...], quorum: int) -> None:
    """QuorumNotReached unless a quorum of container replicas has the entry (`done`; `queued`
    updates arrive later, so the write is not acknowledged yet).

    Each answer is one object replica, and each object replica (a handoff included) updates its
    own container replica, so answers are counted, not their nodes: with three nodes and one
    down, a handoff beside a primary on one node still updates a container replica elsewhere.
    """
    done = sum(
        1
        for answer in answers
        if answer.status in statuses and answer.headers.get(CONTAINER_UPDATE_HEADER) == "done"
    )
    if done < quorum:
        raise QuorumNotReached(f"{done} container updates done, {quorum} needed (the write may appear later)")


def check_conditions(method: str, headers: Mapping[str, str], info: ObjectInfo) -> None:
    """Raise NotModified or PreconditionFailed as the conditional headers say (RFC 9110 order)."""
    status = evaluate_preconditions(method, headers, etag=info.etag, last_modified_s=info.last_modified)
    if status == 304:
        raise NotModified("not modified")
    if status == 412:
        raise PreconditionFailed("precondition failed")


def _parse_content_range(text: str | None) -> tuple[int, int, int] | None:
    match = _CONTENT_RANGE.fullmatch(text or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


class ObjectReader:
    """A GET in progress: `status` (200 or 206), `info`, `headers`, and `body`, an async iterator
    that resumes from another replica holding the same timestamp if a node fails mid-stream."""

    def __init__(
        self,
        transport: Transport,
        config: ClusterClientConfig,
        info: ObjectInfo,
        candidates: list[Device],
        path_of: Callable[[Device], str],
        headers: Mapping[str, str],
    ) -> None:
        self.transport = transport
        self.config = config
        self.info = info
        self._candidates = list(candidates)
        self._path_of = path_of
        self._request_headers = {name: value for name, value in headers.items() if name.lower() == "range"}
        self._response: NodeResponse | None = None
        self.status = 0
        self.headers: CIMultiDictProxy[str] | None = None
        self._range: tuple[int, int] | None = None  # [start, stop) of the bytes this answer carries
        self._resumable = False
        self._node = ""

    async def start(self) -> None:
        """Open the stream on the first candidate that serves the newest timestamp."""
        while self._candidates:
            device = self._candidates.pop(0)
            response = await self._open(device, self._request_headers)
            if response is None:
                continue
            if response.status == 416:
                response.release()
                raise RangeNotSatisfiable(self.info.length)
            self.adopt(device, response)
            return
        raise QuorumNotReached("no replica holding the newest copy could be read")

    def adopt(self, device: Device, response: NodeResponse) -> None:
        """Read the body from `response`, a 200 or 206 of `device` with the newest timestamp."""
        if device in self._candidates:
            self._candidates.remove(device)  # a resume tries the others
        self._node = node_of(device)
        self._response = response
        self.status = response.status
        self.headers = response.headers
        if response.status == 200:
            self._range = (0, self.info.length)
            self._resumable = True
        else:
            parsed = _parse_content_range(response.headers.get("Content-Range"))
            self._resumable = parsed is not None
            if parsed is not None:
                self._range = (parsed[0], parsed[1] + 1)

    async def _open(self, device: Device, headers: dict[str, str]) -> NodeResponse | None:
        """A GET answered 200/206/416 with the expected timestamp, or None (try the next replica)."""
        node = node_of(device)
        try:
            response = await self.transport.open(node, "GET", self._path_of(device), headers=headers)
        except NodeError:
            return None
        same = response.headers.get("X-Backend-Timestamp") == self.info.timestamp.internal
        if response.status in (200, 206) and same or response.status == 416:
            return response
        self.transport.record_status(node, response.status)
        response.close()
        return None

    @property
    def node(self) -> str:
        """The node (ip:port) the body is being read from now."""
        return self._node

    @property
    def body(self) -> AsyncIterator[bytes]:
        return self._body()

    async def _body(self) -> AsyncIterator[bytes]:
        delivered = 0
        while self._response is not None:
            response = self._response
            try:
                while True:
                    async with asyncio.timeout(self.config.chunk_timeout_s):
                        chunk = await response.readany()
                    if not chunk:
                        break
                    delivered += len(chunk)
                    yield chunk
                expected = None if self._range is None else self._range[1] - self._range[0]
                if expected is not None and delivered < expected:
                    raise ConnectionResetError("short body")
                response.release()
                self._response = None
                return
            except (TimeoutError, OSError) as error:
                response.close()
                self._response = None
                self.transport.record_error(
                    self._node, "timeout" if isinstance(error, TimeoutError) else "connection"
                )
                if not self._resumable or self._range is None:
                    raise NodeFailed(f"object stream broke and cannot resume: {error}") from None
                await self._resume(self._range[0] + delivered, self._range[1])
                self._range = (self._range[0] + delivered, self._range[1])
                delivered = 0

    async def _resume(self, start: int, stop: int) -> None:
        while self._candidates:
            device = self._candidates.pop(0)
            response = await self._open(device, {"Range": f"bytes={start}-{stop - 1}"})
            if response is None:
                continue
            if response.status == 206 and _parse_content_range(response.headers.get("Content-Range")) == (
                start,
                stop - 1,
                self.info.length,
            ):
                self._response = response
                self._node = node_of(device)
                return
            response.close()
        raise NodeFailed("object stream broke and no other replica could resume it")

    async def close(self) -> None:
        """Release the connection (closed, not reused, if the body was not read to its end)."""
        if self._response is not None:
            self._response.close()
            self._response = None
