"""The Log protocol: durable, partitioned topics of records (the storage edge of the pipeline).

Every backend (embedded on-disk, in-memory for unit tests, Kafka) implements :class:`Log`.
Records travel as Arrow record batches with the fixed :data:`RECORD_SCHEMA` columns, so a
consumer hands the ``value`` column straight to a batch decoder.

Writes are acknowledged only when durable. A :class:`Transaction` groups appends to several
partitions with consumer-group offset commits; on the embedded log it commits atomically, which
is what gives persistent queries exactly-once results on one machine (DESIGN.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["HEADER_TYPE", "RECORD_SCHEMA", "PRODUCE_SCHEMA", "TopicInfo", "Log", "Transaction",
           "ensure_topic", "read_to_end", "records", "TopicExistsError", "UnknownTopicError"]

#: One header: Kafka header keys are strings, values are bytes (or null).
HEADER_TYPE = pa.list_(pa.struct([pa.field("key", pa.string()), pa.field("value", pa.binary())]))

#: What ``Log.read`` returns.
RECORD_SCHEMA = pa.schema([
    pa.field("offset", pa.int64(), nullable=False),
    pa.field("timestamp", pa.int64(), nullable=False),
    pa.field("key", pa.binary()),
    pa.field("value", pa.binary()),
    pa.field("headers", HEADER_TYPE),
])

#: What ``append`` takes: the record schema without offsets (the log assigns them).
PRODUCE_SCHEMA = pa.schema([f for f in RECORD_SCHEMA if f.name != "offset"])


def records(keys, values, timestamps, headers=None) -> pa.RecordBatch:
    """Build a produce batch from Python lists (convenience for tests and INSERT VALUES)."""
    n = len(values)
    if headers is None:
        headers = [None] * n
    return pa.RecordBatch.from_arrays(
        [pa.array(timestamps, pa.int64()), pa.array(keys, pa.binary()),
         pa.array(values, pa.binary()), pa.array(headers, HEADER_TYPE)],
        schema=PRODUCE_SCHEMA)


class TopicExistsError(Exception):
    pass


class UnknownTopicError(Exception):
    pass


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    replicas: int = 1
    config: dict[str, str] = field(default_factory=dict)


class Transaction(Protocol):
    """Appends and offset commits that become visible together, or not at all."""

    def append(self, topic: str, partition: int, batch: pa.RecordBatch) -> None:
        """Stage ``batch`` (PRODUCE_SCHEMA) for ``topic``/``partition``."""

    def commit_offsets(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Stage consumer-group offsets: (topic, partition) → next offset to read."""

    async def commit(self) -> dict[tuple[str, int], int]:
        """Make everything staged durable and visible at once. Returns, per (topic, partition)
        appended to, the offset given to the first staged record."""


class Log(Protocol):
    """A set of partitioned topics. All offsets are per partition, starting at 0."""

    async def create_topic(self, name: str, partitions: int = 1, replicas: int = 1,
                           config: dict[str, str] | None = None) -> None:
        """Create a topic; raises TopicExistsError if it exists."""

    def topic(self, name: str) -> TopicInfo | None:
        """The topic's description, or None when it does not exist."""

    def topics(self) -> list[TopicInfo]:
        ...

    async def delete_topic(self, name: str) -> None:
        ...

    def transaction(self) -> Transaction:
        ...

    async def append(self, topic: str, partition: int, batch: pa.RecordBatch) -> int:
        """Append durably (one transaction); returns the first record's offset."""

    async def read(self, topic: str, partition: int, offset: int,
                   max_records: int = 10_000) -> pa.RecordBatch:
        """Committed records with offset >= ``offset`` (RECORD_SCHEMA); empty at the end."""

    def start_offset(self, topic: str, partition: int) -> int:
        """The first offset still retained."""

    def end_offset(self, topic: str, partition: int) -> int:
        """One past the last committed offset."""

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        """The group's committed next offset, or None."""

    async def wait(self, positions: dict[tuple[str, int], int], timeout: float) -> bool:
        """Wait until any (topic, partition) has committed records at or past its position,
        or ``timeout`` seconds pass. True if data is there."""

    async def delete_records(self, topic: str, partition: int, before_offset: int) -> int:
        """Allow the records before ``before_offset`` to be deleted (Kafka's DeleteRecords),
        as far as the backend's granularity permits: the embedded log drops whole segments,
        so some earlier records may stay. Records at or after ``before_offset`` always stay.
        Returns the partition's start offset afterwards. A backend or broker that cannot
        delete keeps everything (and says so in the log)."""

    async def close(self) -> None:
        ...


async def ensure_topic(log: Log, name: str, partitions: int = 1,
                       config: dict[str, str] | None = None) -> None:
    """Create ``name`` unless it exists. Servers sharing a log race to create the same
    internal topics; losing that race is fine."""
    if log.topic(name) is not None:
        return
    try:
        await log.create_topic(name, partitions, config=config)
    except TopicExistsError:
        pass


async def read_to_end(log: Log, topic: str, partition: int, start: int | None = None,
                      end: int | None = None, max_records: int = 50_000):
    """Yield the partition's batches from ``start`` (default: the first retained offset) up
    to ``end`` (default: its end as of now, asked of the broker where ends are cached)."""
    if end is None:
        refresh = getattr(log, "refresh_ends", None)
        end = (await refresh(topic))[partition] if refresh is not None \
            else log.end_offset(topic, partition)
    offset = log.start_offset(topic, partition) if start is None else start
    while offset < end:
        batch = await log.read(topic, partition, offset, min(max_records, end - offset))
        if batch.num_rows == 0:
            # not fetched yet, or only transaction markers remain before the end
            if await log.wait({(topic, partition): offset}, timeout=0.5):
                continue
            return
        batch = batch.slice(0, pc.sum(pc.less(batch.column("offset"), end)).as_py() or 0)
        if batch.num_rows == 0:
            return
        yield batch
        offset = batch.column("offset")[-1].as_py() + 1
