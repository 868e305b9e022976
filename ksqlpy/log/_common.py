"""Pieces shared by the log backends (the storage edge of the pipeline: input → output).

Both the embedded and the in-memory log stage transactions the same way, check produce batches
the same way, wake waiters the same way and assemble reads from stored batches ("frames") the
same way; only where the frames live differs.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import PRODUCE_SCHEMA, RECORD_SCHEMA, UnknownTopicError

#: Returned by ``read`` at the end of a partition.
EMPTY_RECORDS = pa.RecordBatch.from_arrays([pa.array([], f.type) for f in RECORD_SCHEMA],
                                           schema=RECORD_SCHEMA)

TopicPartition = tuple[str, int]
Appends = list[tuple[str, int, pa.RecordBatch]]
GroupOffsets = dict[str, dict[TopicPartition, int]]


class LogClosedError(RuntimeError):
    """The log was closed (or broken by an interrupted commit) and cannot be used."""


def check_produce_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Return ``batch`` as PRODUCE_SCHEMA, casting compatible columns.

    Callers often build batches with ``from_arrays`` (everything nullable, maybe large_binary);
    accepting those by name saves every producer from rebuilding the exact schema. Missing
    timestamps get the current wall-clock time, as a Kafka producer would stamp them.
    """
    if not isinstance(batch, pa.RecordBatch):
        raise TypeError(f"expected a pyarrow.RecordBatch, got {type(batch).__name__}")
    if batch.schema.equals(PRODUCE_SCHEMA) and batch.column(0).null_count == 0:
        return batch
    names = set(batch.schema.names)
    missing = [f.name for f in PRODUCE_SCHEMA if f.name not in names]
    if missing:
        raise ValueError(f"produce batch lacks column(s) {missing}; expected {PRODUCE_SCHEMA}")
    cols = []
    for f in PRODUCE_SCHEMA:
        col = batch.column(f.name)
        if not col.type.equals(f.type):
            col = col.cast(f.type)
        cols.append(col)
    if cols[0].null_count:
        cols[0] = pc.fill_null(cols[0], pa.scalar(int(time.time() * 1000), pa.int64()))
    return pa.RecordBatch.from_arrays(cols, schema=PRODUCE_SCHEMA)


def with_offsets(batch: pa.RecordBatch, base: int) -> pa.RecordBatch:
    """The stored form of a produce batch: RECORD_SCHEMA with offsets base, base+1, …"""
    offsets = pa.array(np.arange(base, base + batch.num_rows, dtype=np.int64))
    return pa.RecordBatch.from_arrays([offsets, *batch.columns], schema=RECORD_SCHEMA)


def read_frames(bases: Sequence[int], load: Callable[[int], pa.RecordBatch], offset: int,
                end: int, max_records: int) -> pa.RecordBatch:
    """Records from ``offset`` on, out of stored batches starting at ``bases`` (sorted).

    The first frame is sliced (zero-copy); later frames are added only whole and only while
    they fit in ``max_records``. One frame — the common case with batch-sized appends — comes
    back without copying; small frames (single-record INSERTs) are concatenated so a consumer
    still gets a useful batch.
    """
    if max_records <= 0 or offset >= end or not bases:
        return EMPTY_RECORDS
    i = max(bisect_right(bases, offset) - 1, 0)  # before the start: read from the start
    first = load(i)
    skip = max(offset - bases[i], 0)
    pieces = [first.slice(skip, max_records)]
    total = pieces[0].num_rows
    i += 1
    while i < len(bases) and total < max_records:
        frame = load(i)
        if total + frame.num_rows > max_records:
            break
        pieces.append(frame)
        total += frame.num_rows
        i += 1
    return pieces[0] if len(pieces) == 1 else pa.concat_batches(pieces)


class Notifier:
    """Wakes coroutines waiting for commits.

    Plain futures created per wait, rather than an asyncio.Condition created with the log, so a
    log built outside an event loop (or used by several ``asyncio.run`` calls) still works.
    """

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future] = set()

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait_until(self, ready: Callable[[], bool], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while not ready():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            fut = loop.create_future()
            self._waiters.add(fut)
            try:
                await asyncio.wait({fut}, timeout=remaining)
            finally:
                self._waiters.discard(fut)
        return True


class StagedTransaction:
    """Appends and offset commits held in memory until ``commit`` hands them to the log."""

    def __init__(self, log) -> None:
        self._log = log
        self._appends: Appends = []
        self._offsets: GroupOffsets = {}
        self._done = False

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError("transaction already committed")

    def append(self, topic: str, partition: int, batch: pa.RecordBatch) -> None:
        self._check_open()
        self._log._check_partition(topic, partition)
        self._appends.append((topic, partition, check_produce_batch(batch)))

    def commit_offsets(self, group: str, offsets: dict[TopicPartition, int]) -> None:
        self._check_open()
        self._offsets.setdefault(group, {}).update(
            {(t, int(p)): int(o) for (t, p), o in offsets.items()})

    async def commit(self) -> dict[TopicPartition, int]:
        self._check_open()
        self._done = True  # a transaction is used once, whether its commit succeeds or not
        return await self._log._commit(self._appends, self._offsets)


def check_partition(partitions: int | None, topic: str, partition: int) -> None:
    if partitions is None:
        raise UnknownTopicError(f"topic {topic!r} does not exist")
    if not 0 <= partition < partitions:
        raise UnknownTopicError(f"topic {topic!r} has no partition {partition} "
                                f"(it has {partitions})")
