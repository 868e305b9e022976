"""The DuckDB mirror of materialized tables (stage: log → pull-query state).

Every materialized table — the sink of a CTAS (a TABLE with ``writer_query``) and every
``CREATE SOURCE TABLE`` — is mirrored into one DuckDB table by reading the table's changelog
topic from the log, decoding it with the table's formats (:class:`SourceDecoder`: windowed keys
give WINDOWSTART/WINDOWEND, null values are tombstones, null keys are dropped) and applying
each batch: the last record per primary key in the batch wins; upserts go in with
``INSERT OR REPLACE``, tombstones ``DELETE``. The primary key is the key columns, plus
WINDOWSTART and WINDOWEND on windowed tables. ROWTIME (the record timestamp) and header
columns are stored next to the value columns.

The mirror lives in memory and is rebuilt from the changelog on start (the changelog topic is
the durable state, as for ksqlDB's state stores).

>>> duckdb_type(parse_type("STRUCT<A INT, B ARRAY<DECIMAL(4, 2)>>"))
'STRUCT("A" INTEGER, "B" DECIMAL(4,2)[])'
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.catalog import Source
from ksqlpy.operators.base import OP_COL, OperatorContext
from ksqlpy.schema import ROWPARTITION, ROWTIME, WINDOWEND, WINDOWSTART
from ksqlpy.types import BIGINT, INTEGER, SqlType, parse_type

__all__ = ["duckdb_type", "quote", "MirrorColumn", "TableMirror", "PullStore", "is_materialized"]

logger = logging.getLogger(__name__)

_SIMPLE = {"BOOLEAN": "BOOLEAN", "INTEGER": "INTEGER", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE",
           "STRING": "VARCHAR", "BYTES": "BLOB", "DATE": "DATE", "TIME": "TIME",
           "TIMESTAMP": "TIMESTAMP"}


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duckdb_type(t: SqlType) -> str:
    """The DuckDB column type of a SQL type."""
    simple = _SIMPLE.get(t.base)
    if simple is not None:
        return simple
    if t.base == "DECIMAL":
        return f"DECIMAL({t.precision},{t.scale})"
    if t.base == "ARRAY":
        return f"{duckdb_type(t.item)}[]"
    if t.base == "MAP":
        return f"MAP({duckdb_type(t.key)}, {duckdb_type(t.item)})"
    if t.base == "STRUCT":
        return "STRUCT(" + ", ".join(f"{quote(n)} {duckdb_type(ft)}" for n, ft in t.fields) + ")"
    raise ValueError(f"no DuckDB type for {t}")


def is_materialized(source: Source) -> bool:
    """Is ``source`` a table pull queries can read (a CTAS sink or a SOURCE table)?"""
    return source.kind == "TABLE" and (source.is_source or source.writer_query is not None)


@dataclass(frozen=True)
class MirrorColumn:
    name: str
    type: SqlType
    role: str          # "KEY" | "WINDOW" | "ROWTIME" | "PARTITION" | "VALUE" | "HEADER"


_INDEXABLE = {"BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "STRING", "BYTES", "DATE", "TIME",
              "TIMESTAMP", "DECIMAL"}


class TableMirror:
    """One table's DuckDB mirror and the changelog position it has applied up to."""

    def __init__(self, store: PullStore, source: Source, table_name: str):
        from ksqlpy.operators.source import SourceDecoder

        self.store = store
        self.source = source
        self.table = table_name
        self.windowed = source.window is not None
        cols = [MirrorColumn(c.name, c.type, "KEY") for c in source.schema.key]
        if self.windowed:
            cols += [MirrorColumn(WINDOWSTART, BIGINT, "WINDOW"),
                     MirrorColumn(WINDOWEND, BIGINT, "WINDOW")]
        cols.append(MirrorColumn(ROWTIME, BIGINT, "ROWTIME"))
        # the partition: a table scan goes partition by partition, in key order, as ksqlDB's
        # stores do (it decides which rows LIMIT keeps)
        cols.append(MirrorColumn(ROWPARTITION, INTEGER, "PARTITION"))
        cols += [MirrorColumn(c.name, c.type, "VALUE") for c in source.schema.value]
        cols += [MirrorColumn(c.name, c.type, "HEADER") for c in source.schema.headers]
        self.columns = cols
        self.pk = [c.name for c in cols if c.role in ("KEY", "WINDOW")]
        # DuckDB's ART index takes primitive keys only; nested keys go without an index.
        self.indexed = bool(self.pk) and all(c.type.base in _INDEXABLE for c in cols
                                             if c.role in ("KEY", "WINDOW"))
        self.arrow_schema = pa.schema([pa.field(c.name, c.type.to_arrow()) for c in cols])
        ctx = OperatorContext(query_id=f"materialize_{source.name}",
                              properties=dict(store.properties))
        self.decoder = SourceDecoder(source, ctx)   # errors are the writer query's to report
        self.positions: dict[int, int] = {}
        self.lock = asyncio.Lock()
        self.task: asyncio.Task | None = None
        self.rows_applied = 0
        self._create()

    # -- DDL ------------------------------------------------------------------------------
    def _create(self) -> None:
        defs = [f"{quote(c.name)} {duckdb_type(c.type)}" for c in self.columns]
        if self.indexed:
            defs.append("PRIMARY KEY (" + ", ".join(quote(n) for n in self.pk) + ")")
        self.store.con.execute(f"DROP TABLE IF EXISTS {quote(self.table)}")
        self.store.con.execute(f"CREATE TABLE {quote(self.table)} ({', '.join(defs)})")
        names = ", ".join(quote(c.name) for c in self.columns)
        last = (f"SELECT {names}, {quote(OP_COL)} FROM __batch QUALIFY row_number() OVER "
                f"(PARTITION BY {', '.join(quote(n) for n in self.pk)} ORDER BY __i DESC) = 1"
                if self.pk else f"SELECT {names}, {quote(OP_COL)} FROM __batch")
        on = " AND ".join(f"{quote(self.table)}.{quote(n)} = __del.{quote(n)}" for n in self.pk)
        t = quote(self.table)
        self._upsert_sql = (f"INSERT {'OR REPLACE ' if self.indexed else ''}INTO {t} "
                            f"SELECT {names} FROM ({last}) WHERE {quote(OP_COL)}")
        self._delete_tombstones_sql = (
            f"DELETE FROM {t} USING (SELECT * FROM ({last}) WHERE NOT {quote(OP_COL)}) __del "
            f"WHERE {on}") if self.pk else None
        self._delete_all_sql = (
            f"DELETE FROM {t} USING (SELECT DISTINCT {', '.join(quote(n) for n in self.pk)} "
            f"FROM __batch) __del WHERE {on}") if self.pk else None

    def drop(self) -> None:
        try:
            self.store.con.execute(f"DROP TABLE IF EXISTS {quote(self.table)}")
        except duckdb.Error:
            pass

    # -- applying the changelog -------------------------------------------------------------
    def apply(self, records: pa.RecordBatch, partition: int) -> int:
        """Decode one batch of changelog records and apply it; returns rows decoded."""
        rows = self.decoder.decode(records, partition)
        if rows.num_rows == 0:
            return 0
        arrays = [rows.column(c.name).cast(self.arrow_schema.field(c.name).type)
                  if rows.schema.field(c.name).type != self.arrow_schema.field(c.name).type
                  else rows.column(c.name) for c in self.columns]
        n = rows.num_rows
        op = rows.column(OP_COL)
        batch = pa.RecordBatch.from_arrays(
            arrays + [op, pa.array(range(n), pa.int64())],
            names=[c.name for c in self.columns] + [OP_COL, "__i"])
        con = self.store.con
        con.register("__batch", batch)
        try:
            if not self.indexed:
                if self._delete_all_sql:
                    con.execute(self._delete_all_sql)
            elif pc.any(pc.invert(op)).as_py():
                con.execute(self._delete_tombstones_sql)
            con.execute(self._upsert_sql)
        finally:
            con.unregister("__batch")
        self.rows_applied += n
        return n

    def _topic_partitions(self) -> int:
        info = self.store.log.topic(self.source.topic)
        return info.partitions if info else 0

    async def catch_up(self, batch_size: int = 10_000, max_batches: int | None = None) -> int:
        """Apply everything the changelog holds now (or ``max_batches`` batches of it);
        returns records read."""
        log = self.store.log
        total = 0
        async with self.lock:
            for p in range(self._topic_partitions()):
                pos = self.positions.get(p)
                if pos is None:
                    pos = log.start_offset(self.source.topic, p)
                end = log.end_offset(self.source.topic, p)
                budget = max_batches
                while pos < end and (budget is None or budget > 0):
                    batch = await log.read(self.source.topic, p, pos, batch_size)
                    if batch.num_rows == 0:
                        break
                    self.apply(batch, p)
                    pos = batch.column("offset")[-1].as_py() + 1
                    total += batch.num_rows
                    if budget is not None:
                        budget -= 1
                self.positions[p] = pos
        return total

    def is_caught_up(self) -> bool:
        log = self.store.log
        for p in range(self._topic_partitions()):
            pos = self.positions.get(p, log.start_offset(self.source.topic, p))
            if pos < log.end_offset(self.source.topic, p):
                return False
        return True

    async def run(self, batch_size: int = 10_000) -> None:
        """The materializer task: follow the changelog until cancelled."""
        log = self.store.log
        while True:
            try:
                if self.store.busy():
                    # the queries come first: a little mirroring per tick while they work;
                    # a pull query catches up the rest before it answers
                    await self.catch_up(batch_size, max_batches=1)
                    await asyncio.sleep(0.5)
                    continue
                await self.catch_up(batch_size)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad batch must not stop the mirror for good
                logger.exception("materializing %s failed", self.source.name)
                await asyncio.sleep(0.5)
                continue
            parts = self._topic_partitions()
            if parts == 0:
                await asyncio.sleep(0.5)
                continue
            positions = {(self.source.topic, p): self.positions.get(p, 0) for p in range(parts)}
            await log.wait(positions, timeout=0.5)

    def start(self, batch_size: int = 10_000) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self.run(batch_size), name=f"materialize-{self.source.name}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass
            self.task = None


class PullStore:
    """The DuckDB database holding every materialized table's mirror."""

    def __init__(self, log, properties: dict | None = None, run_tasks: bool = True,
                 batch_size: int = 10_000):
        self.log = log
        self.properties = dict(properties or {})
        self.run_tasks = run_tasks
        self.batch_size = batch_size
        self.con = duckdb.connect(":memory:")
        self.mirrors: dict[str, TableMirror] = {}
        #: True while persistent queries have input waiting: background mirroring then
        #: slows down (pull queries still catch up before they answer)
        self.busy = lambda: False
        self._seq = 0

    def mirror(self, name: str) -> TableMirror | None:
        return self.mirrors.get(name)

    def register(self, source: Source) -> TableMirror:
        """Start mirroring ``source`` (replacing an earlier mirror of the same name)."""
        old = self.mirrors.pop(source.name, None)
        if old is not None:
            self._discard(old)
        self._seq += 1
        m = TableMirror(self, source, f"mv_{self._seq}_{source.name}")
        self.mirrors[source.name] = m
        if self.run_tasks:
            try:
                m.start(self.batch_size)
            except RuntimeError:  # no running loop: caught up on demand instead
                pass
        return m

    def unregister(self, name: str) -> None:
        m = self.mirrors.pop(name, None)
        if m is not None:
            self._discard(m)

    def _discard(self, m: TableMirror) -> None:
        if m.task is not None:
            m.task.cancel()
            m.task = None
        m.drop()

    def sync(self, sources) -> None:
        """Mirror exactly the materialized tables among ``sources`` (the catalog)."""
        wanted = {s.name: s for s in sources if is_materialized(s)}
        for name in list(self.mirrors):
            if name not in wanted or self.mirrors[name].source is not wanted[name]:
                self.unregister(name)
        for name, s in wanted.items():
            if name not in self.mirrors:
                self.register(s)

    async def catch_up_all(self) -> int:
        total = 0
        for m in list(self.mirrors.values()):
            total += await m.catch_up(self.batch_size)
        return total

    async def close(self) -> None:
        for m in list(self.mirrors.values()):
            await m.stop()
        self.mirrors.clear()
        self.con.close()


# a doctest helper: parse_type is re-exported for the module docstring's example
_ = parse_type
