"""Repartition topics (stage: runtime, between a query's stateless and stateful operators).

When a stream aggregation groups by anything but the source key, the records of one group
arrive on several source partitions. On one server that does not matter: the server reads
every partition. On a scale-out cluster it does: each server owns some partitions, so the
query is cut in two, as Kafka Streams does: the operators before the aggregation run on the
source partitions and write their rows to an internal topic
``<application id>-Aggregate-GroupBy-repartition``, partitioned by the group key; the
aggregation and what follows read that topic. Every group then lives in one partition, and
the query splits by partition like any key-aligned query.

The topic is internal: ksqlpy writes each batch's rows for a partition as one record whose
value is an Arrow IPC stream of the rows, in the exact in-memory schema the next operator
reads (pseudo columns, headers and all), so nothing is lost to a wire format and decoding is
a memory copy. Rows keep their order per source partition.

The embedded log has one owner for every partition, so queries there are never cut.
"""

from __future__ import annotations

import zlib

import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.log.base import records
from ksqlpy.schema import ROWTIME

__all__ = ["RepartitionWriter", "RepartitionDecoder", "repartition_cut"]

_STATELESS = {"Filter", "Select", "SelectKey", "TableFunctions"}


def repartition_cut(routes) -> int | None:
    """Where to cut a query's single route (the index of its stream aggregation), or None
    when the query is not a stream aggregation behind stateless operators. Table
    aggregations retract a row from its old group, which may live in another partition, so
    they are not cut (they run whole on one server)."""
    if len(routes) != 1:
        return None
    _, _, ops = routes[0]
    for i, op in enumerate(ops):
        kind = type(op).__name__
        if kind in ("Aggregate", "ColumnarAggregate"):
            return i if getattr(op, "table_key", None) is None else None
        if kind not in _STATELESS:
            return None
    return None


class RepartitionWriter:
    """Rows → records of the repartition topic, one per target partition per batch."""

    def __init__(self, topic: str, key_fns, partitions: int):
        self.topic = topic
        self.key_fns = key_fns
        self.partitions = max(1, partitions)
        self._cache: dict = {}

    def _partition(self, key) -> int:
        # stable across processes (Python's hash() is salted per process)
        p = self._cache.get(key)
        if p is None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            p = self._cache[key] = zlib.crc32(repr(key).encode()) % self.partitions
        return p

    def records(self, batches: list[pa.RecordBatch]) -> dict[int, pa.RecordBatch]:
        out: dict[int, list] = {}
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if self.partitions == 1:
                parts = {0: batch}
            else:
                cols = [fn(batch).to_pylist() for fn in self.key_fns]
                targets = [self._partition(k) for k in zip(*cols)]
                arr = pa.array(targets, pa.int32())
                parts = {p: batch.filter(pc.equal(arr, p)) for p in sorted(set(targets))}
            for p, rows in parts.items():
                out.setdefault(p, []).append(rows)
        result = {}
        for p, rows in out.items():
            values = [_ipc(b) for b in rows]
            times = [int(pc.min(b.column(ROWTIME)).as_py() or 0) for b in rows]
            result[p] = records([None] * len(values), values, times)
        return result


def _ipc(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


class RepartitionDecoder:
    """Records of the repartition topic → the rows written (the decoder of the second
    half of a cut query)."""

    def decode(self, batch: pa.RecordBatch, partition: int) -> pa.RecordBatch:
        tables = [pa.ipc.open_stream(v).read_all() for v in batch.column("value").to_pylist()
                  if v is not None]
        if not tables:
            return pa.RecordBatch.from_pylist([])
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        return table.combine_chunks().to_batches()[0] if table.num_rows else \
            pa.RecordBatch.from_pylist([], schema=table.schema)
