"""EmbeddedLog: durable topics on local disk — the storage edge of the pipeline (input → output).

Every source reads from and every sink writes to a Log; this is the default one, with no broker.

Layout under the data directory::

    LOCK                      flock'ed by the one process that may write here
    MANIFEST.json             what is committed: topics, segments (+ committed bytes), group offsets
    topics/<id>-<name>/<partition>/<base offset:020d>.seg

A segment file is a sequence of frames, one per appended batch::

    magic "KQF1" | body length u32 | crc32 u32 | base offset i64 | count u32 | max timestamp i64
    body: one Arrow IPC record-batch message (RECORD_SCHEMA), zero-padded to 8 bytes

Why this shape (DESIGN.md §4): a produced batch is written as one frame, and a consumer gets it
back memory-mapped without copying, so the log costs little of the pipeline's time budget.

Commit protocol (atomic across every partition and group offset in a transaction):

1. write the frames at each partition's committed end; fdatasync the touched segment files;
2. write the whole manifest to MANIFEST.tmp, fsync it, ``os.replace`` it over MANIFEST.json,
   fsync the directory. The rename is the commit point.

On open, every segment is truncated to the committed length recorded in the manifest, so a torn
or uncommitted tail is never readable, and files the manifest does not name are removed.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import shutil
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from ._common import (Appends, GroupOffsets, LogClosedError, Notifier, StagedTransaction,
                      TopicPartition, check_partition, read_frames, with_offsets)
from .base import RECORD_SCHEMA, TopicExistsError, TopicInfo, UnknownTopicError

__all__ = ["EmbeddedLog", "LogCorruptError", "LogLockedError"]

MANIFEST = "MANIFEST.json"
MANIFEST_TMP = "MANIFEST.tmp"
LOCK = "LOCK"
MAGIC = b"KQF1"
HEAD = struct.Struct("<4sII")   # magic, body length, crc32
META = struct.Struct("<qIq")    # base offset, record count, max timestamp (covered by the crc)
FRAME_HEADER = HEAD.size + META.size  # 32: keeps the IPC body 8-byte aligned in the mapping
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024


class LogCorruptError(Exception):
    """Committed data on disk does not match the manifest or its checksum."""


class LogLockedError(RuntimeError):
    """Another process (or another EmbeddedLog in this one) has the data directory open."""


class _Segment:
    """One segment file. ``size`` is its committed length; only commits change it."""

    __slots__ = ("base", "path", "size", "max_ts", "fd", "_buf")

    def __init__(self, base: int, path: Path, size: int = 0, max_ts: int = -(2**63)):
        self.base, self.path, self.size, self.max_ts = base, path, size, max_ts
        self.fd: int | None = None          # open for writing while this is the active segment
        self._buf: pa.Buffer | None = None  # the file memory-mapped, at least up to what was read

    def buffer(self, end: int) -> pa.Buffer:
        # A mapping has the file's size when made; map again once reads pass its end (the
        # segment grew). Batches handed out earlier keep the old mapping alive by reference.
        if self._buf is None or self._buf.size < end:
            mm = pa.memory_map(str(self.path), "r")
            self._buf = mm.read_buffer(mm.size())
            mm.close()
        return self._buf

    def open_for_write(self) -> int:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        return self.fd

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self._buf = None


class _Frame:
    __slots__ = ("seg", "pos", "length", "checked")

    def __init__(self, seg: _Segment, pos: int, length: int, checked: bool = False):
        self.seg, self.pos, self.length, self.checked = seg, pos, length, checked


@dataclass(eq=False)
class _Partition:
    dir: Path
    segments: list[_Segment] = field(default_factory=list)
    frames: list[_Frame] = field(default_factory=list)   # committed frames, in offset order
    bases: list[int] = field(default_factory=list)       # first offset of each frame (bisect)
    end: int = 0


@dataclass(eq=False)
class _Topic:
    info: TopicInfo
    id: int
    dir: Path
    parts: list[_Partition]

    def segment_bytes(self) -> int:
        return int(self.info.config.get("segment.bytes", DEFAULT_SEGMENT_BYTES))


@dataclass(eq=False)
class _PartWrite:
    """What a commit will change in one partition; applied to it only once durable."""
    part: _Partition
    segments: list[_Segment]
    end: int
    sizes: dict[_Segment, int] = field(default_factory=dict)
    max_ts: dict[_Segment, int] = field(default_factory=dict)
    frames: list[_Frame] = field(default_factory=list)
    bases: list[int] = field(default_factory=list)
    new_segments: list[_Segment] = field(default_factory=list)

    def size(self, seg: _Segment) -> int:
        return self.sizes.get(seg, seg.size)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _frame_crc(meta: bytes | memoryview, body) -> int:
    return zlib.crc32(body, zlib.crc32(meta))


class EmbeddedLog:
    """The durable, single-process :class:`~ksqlpy.log.base.Log` (see the module docstring)."""

    def __init__(self, data_dir: str | Path) -> None:
        self._dir = Path(data_dir)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._topics_dir = self._dir / "topics"
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[str, dict[TopicPartition, int]] = {}
        self._next_topic_id = 1
        self._notifier = Notifier()
        self._alock: asyncio.Lock | None = None
        self._alock_loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._broken: str | None = None
        self._lock_fd = self._take_lock()
        try:
            self._recover()
        except BaseException:
            os.close(self._lock_fd)
            raise

    # -- opening -------------------------------------------------------------------------

    def _take_lock(self) -> int:
        fd = os.open(self._dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LogLockedError(f"data directory {self._dir} is already open for writing "
                                 f"(lock held by pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def _recover(self) -> None:
        """Load the manifest, cut every segment back to its committed length, drop strays."""
        self._topics_dir.mkdir(exist_ok=True)
        (self._dir / MANIFEST_TMP).unlink(missing_ok=True)
        path = self._dir / MANIFEST
        manifest = msgspec.json.decode(path.read_bytes()) if path.exists() else {
            "version": 1, "next_topic_id": 1, "topics": {}, "groups": []}
        if manifest.get("version") != 1:
            raise LogCorruptError(f"{path}: unsupported manifest version {manifest.get('version')}")
        self._next_topic_id = manifest["next_topic_id"]
        for name, t in manifest["topics"].items():
            info = TopicInfo(name, t["partitions"], t["replicas"], dict(t["config"]))
            tdir = self._topics_dir / t["dir"]
            parts = []
            for p, plog in enumerate(t["log"]):
                part = _Partition(tdir / str(p))
                if plog["segments"]:  # retention may have removed the earliest offsets
                    part.end = plog["segments"][0][0]
                for base, size in plog["segments"]:
                    seg = _Segment(base, part.dir / f"{base:020d}.seg", size)
                    self._recover_segment(seg, part)
                    part.segments.append(seg)
                if part.end != plog["end"]:
                    raise LogCorruptError(f"{part.dir}: frames end at offset {part.end}, "
                                          f"manifest says {plog['end']}")
                if part.frames:  # the newest frame is the likeliest to be damaged: check it now
                    self._load(part.frames[-1])
                self._remove_strays(part)
                parts.append(part)
            self._topics[name] = _Topic(info, t["id"], tdir, parts)
        for group, topic, partition, offset in manifest["groups"]:
            self._groups.setdefault(group, {})[(topic, partition)] = offset
        known = {t.dir.name for t in self._topics.values()}
        for entry in self._topics_dir.iterdir():  # half-created or half-deleted topics
            if entry.name not in known:
                shutil.rmtree(entry, ignore_errors=True)

    def _recover_segment(self, seg: _Segment, part: _Partition) -> None:
        try:
            actual = os.path.getsize(seg.path)
        except FileNotFoundError:
            raise LogCorruptError(f"{seg.path}: committed segment is missing") from None
        if actual < seg.size:
            raise LogCorruptError(f"{seg.path}: {actual} bytes on disk, {seg.size} committed")
        if actual > seg.size:  # a torn or uncommitted tail: never visible
            os.truncate(seg.path, seg.size)
        if part.end != seg.base:
            raise LogCorruptError(f"{seg.path}: starts at offset {seg.base}, expected {part.end}")
        buf = seg.buffer(seg.size) if seg.size else b""
        pos = 0
        while pos < seg.size:
            if pos + FRAME_HEADER > seg.size:
                raise LogCorruptError(f"{seg.path}: truncated frame header at byte {pos}")
            magic, length, _crc = HEAD.unpack_from(buf, pos)
            base, count, max_ts = META.unpack_from(buf, pos + HEAD.size)
            total = FRAME_HEADER + length + (-length % 8)
            if magic != MAGIC or base != part.end or pos + total > seg.size:
                raise LogCorruptError(f"{seg.path}: bad frame at byte {pos}")
            part.frames.append(_Frame(seg, pos, length))
            part.bases.append(base)
            part.end = base + count
            seg.max_ts = max(seg.max_ts, max_ts)
            pos += total

    @staticmethod
    def _remove_strays(part: _Partition) -> None:
        keep = {seg.path.name for seg in part.segments}
        if part.dir.exists():
            for entry in part.dir.iterdir():
                if entry.name not in keep:  # a segment made by a commit that never finished
                    entry.unlink()

    # -- topics --------------------------------------------------------------------------

    async def create_topic(self, name: str, partitions: int = 1, replicas: int = 1,
                           config: dict[str, str] | None = None) -> None:
        async with self._write_lock():
            if name in self._topics:
                raise TopicExistsError(f"topic {name!r} already exists")
            if not name or partitions < 1:
                raise ValueError(f"invalid topic {name!r} with {partitions} partitions")
            cfg = {str(k): str(v) for k, v in (config or {}).items()}
            tid = self._next_topic_id
            tdir = self._topics_dir / f"{tid}-{re.sub(r'[^A-Za-z0-9._-]', '_', name)[:100]}"
            topic = _Topic(TopicInfo(name, partitions, replicas, cfg), tid, tdir,
                           [_Partition(tdir / str(p)) for p in range(partitions)])

            def write() -> None:
                for part in topic.parts:
                    part.dir.mkdir(parents=True)
                    _fsync_dir(part.dir)
                _fsync_dir(tdir)
                _fsync_dir(self._topics_dir)
                self._write_manifest({**self._topics, name: topic}, self._groups, tid + 1)

            await asyncio.to_thread(write)
            self._topics[name] = topic
            self._next_topic_id = tid + 1

    def topic(self, name: str) -> TopicInfo | None:
        t = self._topics.get(name)
        return t.info if t else None

    def topics(self) -> list[TopicInfo]:
        return sorted((t.info for t in self._topics.values()), key=lambda i: i.name)

    async def delete_topic(self, name: str) -> None:
        async with self._write_lock():
            topic = self._topics.get(name)
            if topic is None:
                raise UnknownTopicError(f"topic {name!r} does not exist")
            topics = {n: t for n, t in self._topics.items() if n != name}
            # A topic created later under this name must not inherit old consumer positions.
            groups = {g: {tp: o for tp, o in offs.items() if tp[0] != name}
                      for g, offs in self._groups.items()}

            def write() -> None:
                self._write_manifest(topics, groups, self._next_topic_id)
                for part in topic.parts:
                    for seg in part.segments:
                        seg.close()
                shutil.rmtree(topic.dir, ignore_errors=True)  # leftovers are removed on open

            await asyncio.to_thread(write)
            self._topics, self._groups = topics, groups
            self._notifier.notify()

    # -- writing -------------------------------------------------------------------------

    def transaction(self) -> StagedTransaction:
        self._check_usable()
        return StagedTransaction(self)

    async def append(self, topic: str, partition: int, batch: pa.RecordBatch) -> int:
        txn = self.transaction()
        txn.append(topic, partition, batch)
        return (await txn.commit())[(topic, partition)]

    async def _commit(self, appends: Appends, offsets: GroupOffsets) -> dict[TopicPartition, int]:
        # Shielded: if the caller is cancelled mid-commit, the commit still finishes and its
        # result is still applied in memory, so memory never disagrees with the manifest.
        task = asyncio.ensure_future(self._commit_locked(appends, offsets))
        # If nobody awaits it any more, still collect its outcome (no "never retrieved" noise).
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return await asyncio.shield(task)

    async def _commit_locked(self, appends: Appends,
                             offsets: GroupOffsets) -> dict[TopicPartition, int]:
        if not appends and not offsets:
            return {}
        async with self._write_lock():
            for topic, partition, _ in appends:  # topics may have gone since staging
                self._check_partition(topic, partition)
            for group_offsets in offsets.values():
                for topic, partition in group_offsets:
                    self._check_partition(topic, partition)
            try:
                writes, firsts = await asyncio.to_thread(self._write_txn, appends, offsets)
            except asyncio.CancelledError:
                # Only the event loop shutting down gets here; the write thread runs on and the
                # outcome is unknown, so refuse further use rather than guess.
                self._broken = "a commit was interrupted by event-loop shutdown; reopen the log"
                raise
            self._publish(writes, offsets)
            return firsts

    def _write_txn(self, appends: Appends, offsets: GroupOffsets):
        """Runs in a worker thread: make the transaction durable; change nothing readers see."""
        writes: dict[TopicPartition, _PartWrite] = {}
        firsts: dict[TopicPartition, int] = {}
        try:
            for topic, partition, batch in appends:
                t = self._topics[topic]
                part = t.parts[partition]
                w = writes.get((topic, partition))
                if w is None:
                    w = writes[(topic, partition)] = _PartWrite(part, list(part.segments),
                                                                part.end)
                firsts.setdefault((topic, partition), w.end)
                if batch.num_rows:
                    self._write_frame(w, batch, t.segment_bytes())
            for w in writes.values():
                for seg in w.sizes:
                    os.fdatasync(seg.fd)
                if w.new_segments:  # the new files' directory entries must be durable too
                    _fsync_dir(w.part.dir)
            groups = {g: dict(offs) for g, offs in self._groups.items()}
            for group, group_offsets in offsets.items():
                groups.setdefault(group, {}).update(group_offsets)
            self._write_manifest(self._topics, groups, self._next_topic_id, writes)
            return writes, firsts
        except BaseException:
            if not self._broken:  # not committed: put every file back to its committed length
                for w in writes.values():
                    for seg in {*w.sizes, *w.new_segments}:
                        if seg in w.new_segments:
                            seg.close()
                            seg.path.unlink(missing_ok=True)
                        elif seg.fd is not None:
                            os.ftruncate(seg.fd, seg.size)
            raise

    @staticmethod
    def _write_frame(w: _PartWrite, batch: pa.RecordBatch, segment_bytes: int) -> None:
        body = with_offsets(batch, w.end).serialize()
        length = body.size
        max_ts = pc.max(batch.column(0)).as_py()
        meta = META.pack(w.end, batch.num_rows, max_ts)
        header = HEAD.pack(MAGIC, length, _frame_crc(meta, body)) + meta
        pad = b"\0" * (-length % 8)
        total = FRAME_HEADER + length + len(pad)
        seg = w.segments[-1] if w.segments else None
        if seg is None or (w.size(seg) and w.size(seg) + total > segment_bytes):
            seg = _Segment(w.end, w.part.dir / f"{w.end:020d}.seg")  # roll a new segment
            w.segments.append(seg)
            w.new_segments.append(seg)
        pos = w.size(seg)
        # Positional write at the committed end: bytes left by a failed commit are overwritten.
        written = os.pwritev(seg.open_for_write(), [header, body, pad], pos)
        if written != total:
            raise OSError(f"short write to {seg.path}: {written} of {total} bytes")
        w.sizes[seg] = pos + total
        w.max_ts[seg] = max(w.max_ts.get(seg, seg.max_ts), max_ts)
        w.frames.append(_Frame(seg, pos, length, checked=True))
        w.bases.append(w.end)
        w.end += batch.num_rows

    def _publish(self, writes: dict[TopicPartition, _PartWrite], offsets: GroupOffsets) -> None:
        """Apply a durable commit to the in-memory state readers use, and wake waiters."""
        for w in writes.values():
            part = w.part
            for seg, size in w.sizes.items():
                seg.size = size
                seg.max_ts = w.max_ts[seg]
            if w.new_segments:  # rolled: the segments before the new active one are sealed
                for seg in {*w.sizes, *part.segments[-1:]} - {w.segments[-1]}:
                    if seg.fd is not None:
                        os.close(seg.fd)
                        seg.fd = None
            part.segments = w.segments
            part.frames.extend(w.frames)
            part.bases.extend(w.bases)
            part.end = w.end
        for group, group_offsets in offsets.items():
            self._groups.setdefault(group, {}).update(group_offsets)
        self._notifier.notify()

    def _write_manifest(self, topics: dict[str, _Topic], groups: dict[str, dict],
                        next_topic_id: int,
                        writes: dict[TopicPartition, _PartWrite] | None = None,
                        segments: dict[int, list[_Segment]] | None = None) -> None:
        """Atomically replace the manifest (write a temp file, fsync, rename, fsync the dir).

        ``writes`` overlays a commit's new sizes/segments; ``segments`` (keyed by partition id)
        overlays retention's shortened segment lists.
        """
        writes = writes or {}
        segments = segments or {}
        doc_topics = {}
        for name, t in topics.items():
            log = []
            for p, part in enumerate(t.parts):
                w = writes.get((name, p))
                if w is not None:
                    segs = [[s.base, w.size(s)] for s in w.segments]
                    end = w.end
                else:
                    segs = [[s.base, s.size] for s in segments.get(id(part), part.segments)]
                    end = part.end
                log.append({"end": end, "segments": segs})
            doc_topics[name] = {"id": t.id, "dir": t.dir.name, "partitions": t.info.partitions,
                                "replicas": t.info.replicas, "config": t.info.config, "log": log}
        doc = {"version": 1, "next_topic_id": next_topic_id, "topics": doc_topics,
               "groups": [[g, tp[0], tp[1], o] for g, offs in groups.items()
                          for tp, o in offs.items()]}
        tmp = self._dir / MANIFEST_TMP
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, msgspec.json.encode(doc))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._dir / MANIFEST)
        try:
            _fsync_dir(self._dir)
        except BaseException:
            # The new manifest may or may not survive a crash, so memory cannot be updated or
            # rolled back with confidence.
            self._broken = "the manifest was replaced but not synced; reopen the log"
            raise

    # -- reading -------------------------------------------------------------------------

    def _load(self, frame: _Frame) -> pa.RecordBatch:
        start = frame.pos + FRAME_HEADER
        buf = frame.seg.buffer(start + frame.length)
        body = buf.slice(start, frame.length)
        if not frame.checked:  # verify each frame's checksum once, on first read
            magic, length, crc = HEAD.unpack_from(buf, frame.pos)
            meta = buf.slice(frame.pos + HEAD.size, META.size)
            if magic != MAGIC or length != frame.length or crc != _frame_crc(meta, body):
                raise LogCorruptError(f"{frame.seg.path}: checksum mismatch in frame at byte "
                                      f"{frame.pos}")
            frame.checked = True
        return pa.ipc.read_record_batch(body, RECORD_SCHEMA)

    async def read(self, topic: str, partition: int, offset: int,
                   max_records: int = 10_000) -> pa.RecordBatch:
        part = self._partition(topic, partition)
        frames = part.frames
        return read_frames(part.bases, lambda i: self._load(frames[i]), offset, part.end,
                           max_records)

    def start_offset(self, topic: str, partition: int) -> int:
        part = self._partition(topic, partition)
        return part.bases[0] if part.bases else part.end

    def end_offset(self, topic: str, partition: int) -> int:
        return self._partition(topic, partition).end

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        return self._groups.get(group, {}).get((topic, partition))

    async def wait(self, positions: dict[TopicPartition, int], timeout: float) -> bool:
        def ready() -> bool:
            for (topic, partition), position in positions.items():
                t = self._topics.get(topic)
                if t and 0 <= partition < len(t.parts) and t.parts[partition].end > position:
                    return True
            return False
        return await self._notifier.wait_until(ready, timeout)

    # -- retention -----------------------------------------------------------------------

    async def apply_retention(self, now_ms: int | None = None) -> int:
        """Delete whole segments past the topic's ``retention.ms`` / ``retention.bytes``.

        Like Kafka: a segment goes when its newest timestamp is older than ``now - retention.ms``
        or when the partition stays over ``retention.bytes`` without it; the active (last)
        segment is never deleted. Unset or -1 means keep forever. Returns segments deleted.
        """
        now = int(time.time() * 1000) if now_ms is None else now_ms
        async with self._write_lock():
            keep: dict[int, list[_Segment]] = {}
            parts: dict[int, _Partition] = {}
            for t in self._topics.values():
                ms = int(t.info.config.get("retention.ms", -1))
                limit = int(t.info.config.get("retention.bytes", -1))
                for part in t.parts:
                    segs, k = part.segments, 0
                    if ms >= 0:
                        while k < len(segs) - 1 and segs[k].max_ts < now - ms:
                            k += 1
                    if limit >= 0:
                        total = sum(s.size for s in segs[k:])
                        while k < len(segs) - 1 and total - segs[k].size >= limit:
                            total -= segs[k].size
                            k += 1
                    if k:
                        keep[id(part)], parts[id(part)] = segs[k:], part
            return await self._drop_segments(keep, parts)

    async def _drop_segments(self, keep: dict[int, list[_Segment]],
                             parts: dict[int, _Partition]) -> int:
        """Shorten partitions' segment lists to ``keep`` (keyed by id of the partition; the
        write lock held): the manifest stops naming the dropped segments first — the commit
        point — then memory follows and the files go. A crash before the manifest is
        replaced keeps them all; after, recovery removes files the manifest does not name."""
        if not keep:
            return 0
        await asyncio.to_thread(self._write_manifest, self._topics, self._groups,
                                self._next_topic_id, None, keep)
        deleted: list[_Segment] = []
        for key, part in parts.items():
            gone = part.segments[:len(part.segments) - len(keep[key])]
            first_kept = keep[key][0]
            n = 0
            while part.frames[n].seg is not first_kept:  # frames are in segment order
                n += 1
            del part.frames[:n], part.bases[:n]
            part.segments = keep[key]
            deleted.extend(gone)
        for seg in deleted:  # unlinked only after the manifest stopped naming them
            seg.close()
            seg.path.unlink(missing_ok=True)
        return len(deleted)

    async def delete_records(self, topic: str, partition: int, before_offset: int) -> int:
        """Delete the whole segments that end at or before ``before_offset`` (the next
        segment starts there or earlier). Segment-granular, like Kafka's retention: the
        segment holding ``before_offset - 1`` stays whole, and the active segment is never
        deleted. Returns the partition's start offset afterwards."""
        async with self._write_lock():
            part = self._partition(topic, partition)
            segs, k = part.segments, 0
            while k < len(segs) - 1 and segs[k + 1].base <= before_offset:
                k += 1
            if k:
                await self._drop_segments({id(part): segs[k:]}, {id(part): part})
            return part.bases[0] if part.bases else part.end

    # -- closing and helpers -------------------------------------------------------------

    async def close(self) -> None:
        if self._closed:
            return
        async with self._lock_for_loop():  # let an in-flight commit finish first
            self._closed = True
            for t in self._topics.values():
                for part in t.parts:
                    for seg in part.segments:
                        seg.close()
            os.close(self._lock_fd)  # releases the flock
            self._notifier.notify()

    def _lock_for_loop(self) -> asyncio.Lock:
        # One asyncio.Lock per event loop, so the log can outlive an ``asyncio.run`` call.
        loop = asyncio.get_running_loop()
        if self._alock_loop is not loop:
            self._alock, self._alock_loop = asyncio.Lock(), loop
        return self._alock

    def _write_lock(self):
        self._check_usable()
        return _CheckedLock(self)

    def _check_usable(self) -> None:
        if self._closed:
            raise LogClosedError("log is closed")
        if self._broken:
            raise LogClosedError(self._broken)

    def _check_partition(self, topic: str, partition: int) -> None:
        t = self._topics.get(topic)
        check_partition(t.info.partitions if t else None, topic, partition)

    def _partition(self, topic: str, partition: int) -> _Partition:
        self._check_partition(topic, partition)
        return self._topics[topic].parts[partition]


class _CheckedLock:
    """The writer lock; re-checks the log is usable once acquired (it may have closed)."""

    def __init__(self, log: EmbeddedLog) -> None:
        self._log = log
        self._lock = log._lock_for_loop()

    async def __aenter__(self) -> None:
        await self._lock.acquire()
        try:
            self._log._check_usable()
        except BaseException:
            self._lock.release()
            raise

    async def __aexit__(self, *exc) -> None:
        self._lock.release()
