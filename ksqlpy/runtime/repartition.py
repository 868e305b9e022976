"""Repartition topics (stage: runtime, between a query's stateless and stateful operators).

When a query's state is keyed by something other than its sources' keys — a stream
aggregation grouped by a value column, a join on a stream's value column — the records of
one key arrive on several source partitions. On one server that does not matter: it reads
every partition. On a scale-out cluster it does: each server owns some partitions, so the
query is cut, as Kafka Streams does: the operators before the stateful one run on the source
partitions and write their rows to an internal topic partitioned by the state key; the
stateful operator and what follows read that topic. Every key then lives in one partition,
and the query splits by partition like any key-aligned query.

- a stream aggregation: ``<application id>-Aggregate-GroupBy-repartition``, partitioned by
  a stable hash of the group key;
- a two-source join whose stream side joins on a value column:
  ``<application id>-Join-repartition`` (stream-table; the stream side) or
  ``-Join-left-repartition`` / ``-Join-right-repartition`` (stream-stream), partitioned as
  Kafka's default partitioner would partition the join key written in the other side's key
  format — so row *k* lands in the partition where the other side keeps key *k*.

The topic is internal: each record holds one batch's rows for one partition as an Arrow IPC
stream, in the exact in-memory schema the next operator reads (pseudo columns, headers and
all), so nothing is lost to a wire format and decoding is a memory copy. Rows keep their
order per source partition.

The embedded log has one owner for every partition, so queries there are never cut.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.log.base import records
from ksqlpy.plan.partitioning import is_key
from ksqlpy.runtime.partitioner import murmur2
from ksqlpy.schema import ROWTIME

__all__ = ["Cut", "RepartitionWriter", "RepartitionDecoder", "plan_cuts"]

_STATELESS = {"Filter", "Select", "SelectKey", "TableFunctions", "Prefix"}


@dataclass
class Cut:
    """Route ``route`` is cut before its operator ``index``; ``writer`` writes the rows."""

    route: int
    index: int
    writer: RepartitionWriter


def _first_stateful(ops) -> int | None:
    for i, op in enumerate(ops):
        if type(op).__name__ not in _STATELESS:
            return i
    return None


def _aggregation_cut(routes, group: str, log) -> list[Cut]:
    """A stream aggregation behind stateless operators. Table aggregations retract a row
    from its old group, which may live in another partition: not cut (they run whole)."""
    topic, _, ops = routes[0]
    i = _first_stateful(ops)
    if i is None or type(ops[i]).__name__ not in ("Aggregate", "ColumnarAggregate") \
            or getattr(ops[i], "table_key", None) is not None:
        return []
    info = log.topic(topic)
    writer = RepartitionWriter(f"{group}-Aggregate-GroupBy-repartition", ops[i].key_fns,
                               info.partitions if info else 1)
    return [Cut(0, i, writer)]


def _join_cuts(plan, routes, group: str, log) -> list[Cut]:
    """A two-source join whose only non-key sides are streams, with nothing stateful after
    the join. Each such stream side is cut before the join."""
    joins = [s for s in plan.steps if s.get("@type") in (
        "streamStreamJoin/v1", "streamTableJoin/v1")]
    sides = getattr(plan.scope, "sides", None)
    if len(joins) != 1 or not sides or len(sides) != 2 or len(routes) != 2 \
            or routes[0][0] == routes[1][0]:
        return []
    keys = {alias: {c.name for c in src.schema.key} for alias, src in sides}
    exprs = (joins[0].get("leftJoinExpression", ""), joins[0].get("rightJoinExpression", ""))
    rekey = [not is_key(e, keys) for e in exprs]
    if not any(rekey) or any(r and src.kind != "STREAM" for r, (_, src) in zip(rekey, sides)):
        return []
    indexes = [_first_stateful(ops) for _, _, ops in routes]
    if any(i is None or type(routes[r][2][i]).__name__ != "JoinSide"
           for r, i in enumerate(indexes)):
        return []
    after = routes[0][2][indexes[0] + 1:]
    if any(type(op).__name__ not in _STATELESS for op in after):
        return []  # e.g. an aggregation after the join, keyed otherwise
    infos = [log.topic(t) for t, _, _ in routes]
    partitions = max(i.partitions if i else 1 for i in infos)
    stream_stream = joins[0]["@type"] == "streamStreamJoin/v1"
    cuts = []
    for r, (needed, (_, src)) in enumerate(zip(rekey, sides)):
        if not needed:
            continue
        join = routes[r][2][indexes[r]].join
        # the other side's key format, so the row meets its key's partition there
        other = sides[1 - r][1]
        key_format = other.key_format if not rekey[1 - r] else sides[0][1].key_format
        name = ("Join-left-repartition" if r == 0 else "Join-right-repartition") \
            if stream_stream else "Join-repartition"
        writer = RepartitionWriter(f"{group}-{name}", [join.key_fns[r]], partitions,
                                   key_encoder=_key_encoder(key_format, other))
        cuts.append(Cut(r, indexes[r], writer))
    return cuts


def _key_encoder(key_format, source):
    """Join key arrays → the bytes the other side's key format writes for them."""
    from ksqlpy.formats import get_format

    fmt = get_format(key_format, is_key=True)
    columns = list(source.schema.key)

    def encode(arrays):
        return fmt.encode(arrays, columns).data.to_pylist()
    return encode


def plan_cuts(plan, routes, group: str, log) -> list[Cut]:
    """Where to cut a query that is not partition-local (see the module doc); [] when it
    cannot be cut and must run whole on one server."""
    if len(routes) == 1:
        return _aggregation_cut(routes, group, log)
    return _join_cuts(plan, routes, group, log)


class RepartitionWriter:
    """Rows → records of the repartition topic, one per target partition per batch.
    ``key_encoder`` (arrays → key bytes) partitions as Kafka's default partitioner does;
    without it a stable hash of the key values is used."""

    def __init__(self, topic: str, key_fns, partitions: int, key_encoder=None):
        self.topic = topic
        self.key_fns = key_fns
        self.partitions = max(1, partitions)
        self.key_encoder = key_encoder
        self._cache: dict = {}

    def _partition(self, key) -> int:
        # stable across processes (Python's hash() is salted per process)
        p = self._cache.get(key)
        if p is None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            p = self._cache[key] = zlib.crc32(repr(key).encode()) % self.partitions
        return p

    def _targets(self, batch: pa.RecordBatch) -> list[int]:
        arrays = [fn(batch) for fn in self.key_fns]
        if self.key_encoder is not None:
            return [0 if b is None else (murmur2(b) & 0x7FFFFFFF) % self.partitions
                    for b in self.key_encoder(arrays)]
        return [self._partition(k) for k in zip(*(a.to_pylist() for a in arrays))]

    def records(self, batches: list[pa.RecordBatch]) -> dict[int, pa.RecordBatch]:
        out: dict[int, list] = {}
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if self.partitions == 1:
                parts = {0: batch}
            else:
                targets = self._targets(batch)
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
