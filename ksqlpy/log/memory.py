"""MemoryLog: the Log protocol held in memory, for unit tests (storage edge of the pipeline).

Same semantics as the embedded log — offsets, timestamps, keys, values, headers, group offsets,
atomic transactions, ``wait`` — but nothing survives the process. Each committed append is
kept as one RECORD_SCHEMA batch ("frame"), so reads slice them just like the embedded log does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from ._common import (Appends, GroupOffsets, LogClosedError, Notifier, StagedTransaction,
                      TopicPartition, check_partition, read_frames, with_offsets)
from .base import TopicExistsError, TopicInfo, UnknownTopicError

__all__ = ["MemoryLog"]


@dataclass
class _Partition:
    frames: list[pa.RecordBatch] = field(default_factory=list)
    bases: list[int] = field(default_factory=list)  # first offset of each frame, for bisect
    end: int = 0


class MemoryLog:
    """An in-memory :class:`~ksqlpy.log.base.Log` (tests only: no durability, no retention)."""

    def __init__(self) -> None:
        self._topics: dict[str, TopicInfo] = {}
        self._parts: dict[str, list[_Partition]] = {}
        self._groups: dict[str, dict[TopicPartition, int]] = {}
        self._notifier = Notifier()
        self._closed = False

    # -- topics --------------------------------------------------------------------------

    async def create_topic(self, name: str, partitions: int = 1, replicas: int = 1,
                           config: dict[str, str] | None = None) -> None:
        self._check_open()
        if name in self._topics:
            raise TopicExistsError(f"topic {name!r} already exists")
        if not name or partitions < 1:
            raise ValueError(f"invalid topic {name!r} with {partitions} partitions")
        cfg = {str(k): str(v) for k, v in (config or {}).items()}
        self._topics[name] = TopicInfo(name, partitions, replicas, cfg)
        self._parts[name] = [_Partition() for _ in range(partitions)]

    def topic(self, name: str) -> TopicInfo | None:
        return self._topics.get(name)

    def topics(self) -> list[TopicInfo]:
        return sorted(self._topics.values(), key=lambda t: t.name)

    async def delete_topic(self, name: str) -> None:
        self._check_open()
        if name not in self._topics:
            raise UnknownTopicError(f"topic {name!r} does not exist")
        del self._topics[name], self._parts[name]
        # A topic created later under the same name must not inherit old consumer positions.
        for offsets in self._groups.values():
            for tp in [tp for tp in offsets if tp[0] == name]:
                del offsets[tp]
        self._notifier.notify()

    # -- writing -------------------------------------------------------------------------

    def transaction(self) -> StagedTransaction:
        self._check_open()
        return StagedTransaction(self)

    async def append(self, topic: str, partition: int, batch: pa.RecordBatch) -> int:
        txn = self.transaction()
        txn.append(topic, partition, batch)
        return (await txn.commit())[(topic, partition)]

    async def _commit(self, appends: Appends, offsets: GroupOffsets) -> dict[TopicPartition, int]:
        self._check_open()
        # Validate everything first, so a failing transaction changes nothing.
        for topic, partition, _ in appends:
            self._check_partition(topic, partition)
        for group_offsets in offsets.values():
            for topic, partition in group_offsets:
                self._check_partition(topic, partition)
        firsts: dict[TopicPartition, int] = {}
        for topic, partition, batch in appends:
            part = self._parts[topic][partition]
            firsts.setdefault((topic, partition), part.end)
            if batch.num_rows:
                part.frames.append(with_offsets(batch, part.end))
                part.bases.append(part.end)
                part.end += batch.num_rows
        for group, group_offsets in offsets.items():
            self._groups.setdefault(group, {}).update(group_offsets)
        self._notifier.notify()
        return firsts

    # -- reading -------------------------------------------------------------------------

    async def read(self, topic: str, partition: int, offset: int,
                   max_records: int = 10_000) -> pa.RecordBatch:
        part = self._partition(topic, partition)
        return read_frames(part.bases, part.frames.__getitem__, offset, part.end, max_records)

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
                parts = self._parts.get(topic)
                if parts and 0 <= partition < len(parts) and parts[partition].end > position:
                    return True
            return False
        return await self._notifier.wait_until(ready, timeout)

    async def delete_records(self, topic: str, partition: int, before_offset: int) -> int:
        """Drop the stored batches that end at or before ``before_offset`` (batch-granular:
        a batch holding ``before_offset - 1`` and later offsets stays whole)."""
        self._check_open()
        part = self._partition(topic, partition)
        n = 0
        while n < len(part.frames) and part.bases[n] + part.frames[n].num_rows <= before_offset:
            n += 1
        if n:
            del part.frames[:n], part.bases[:n]
        return self.start_offset(topic, partition)

    async def apply_retention(self, now_ms: int | None = None) -> int:
        """Retention is not modelled in memory; present so callers need not special-case."""
        return 0

    async def close(self) -> None:
        self._closed = True
        self._notifier.notify()

    # -- helpers -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError("log is closed")

    def _check_partition(self, topic: str, partition: int) -> None:
        info = self._topics.get(topic)
        check_partition(info.partitions if info else None, topic, partition)

    def _partition(self, topic: str, partition: int) -> _Partition:
        self._check_partition(topic, partition)
        return self._parts[topic][partition]
