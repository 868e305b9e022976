"""Stateless row operators (stage: execution): filter, select (projection) and select-key
(PARTITION BY re-keying). Each evaluates compiled Arrow expressions over whole batches."""

from __future__ import annotations

from typing import Iterable

import pyarrow as pa

from ksqlpy.expr import Compiled
import pyarrow.compute as pc

from ksqlpy.operators.base import HEADERS_COL, NULL_KEY_COL, OP_COL, Operator
from ksqlpy.schema import ROWTIME

#: Internal columns a projection carries through unchanged when present.
PASSTHROUGH = (HEADERS_COL, OP_COL, NULL_KEY_COL, "WINDOWSTART", "WINDOWEND")


class Filter(Operator):
    """WHERE / HAVING. On a stream, rows that do not match (and null-value rows) are dropped.
    On a table (``key_columns`` given) a KTable filter's rule applies: a row that stops
    matching becomes a delete of its key, so downstream state forgets it, while a key that
    never matched produces nothing."""

    def __init__(self, predicate: Compiled, sql: str, table: bool = False,
                 key_columns: list[str] | None = None):
        self.predicate = predicate
        self.sql = sql
        self.table = table
        self.key_columns = key_columns
        self.passing: set = set()   # table keys whose current row matches

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if batch.num_rows == 0:
            return ()
        mask = pc.fill_null(self.predicate(batch), False)
        idx = batch.schema.get_field_index(OP_COL)
        if self.table and idx >= 0:
            op = pc.and_(batch.column(idx), mask)
            if self.key_columns is None:
                return (batch.set_column(idx, OP_COL, op),)
            keys = list(zip(*[batch.column(k).to_pylist() for k in self.key_columns])) \
                if self.key_columns else [()] * batch.num_rows
            keep = []
            for key, live in zip(keys, op.to_pylist()):
                key = repr(key)  # hashable whatever the key types
                if live:
                    self.passing.add(key)
                    keep.append(True)
                elif key in self.passing:
                    self.passing.discard(key)
                    keep.append(True)
                else:
                    keep.append(False)
            out = batch.set_column(idx, OP_COL, op).filter(pa.array(keep))
            return (out,) if out.num_rows else ()
        if idx >= 0:
            mask = pc.and_(mask, batch.column(idx))
        out = batch.filter(mask)
        return (out,) if out.num_rows else ()

    def describe(self):
        return {"filterExpression": self.sql}


class TableFilter(Filter):
    """A table's filter: its set of matching keys is state, so it has a changelog like
    the aggregate stores (one record per checkpoint with the keys that changed)."""

    def __init__(self, predicate: Compiled, sql: str, key_columns: list[str]):
        super().__init__(predicate, sql, table=True, key_columns=key_columns)
        self._before: set = set()
        self.part_of: dict = {}  # passing key -> changelog partition (partitioned changelogs)

    def changelog(self, partition: int | None = None):
        import pickle

        if self.passing == self._before:
            return []
        change = (self.passing - self._before, self._before - self.passing)
        self._before = set(self.passing)
        if partition is not None:
            self._tag(change, partition)
        return [(b"filter", pickle.dumps(change))]

    def _tag(self, change, partition: int) -> None:
        """Remember each passing key's changelog partition (partitioned changelogs)."""
        parts = self.part_of
        added, removed = change
        for k in removed:
            parts.pop(k, None)
        for k in added:
            parts[k] = partition

    def _mine(self, partition: int | None) -> set:
        if partition is None:
            return set(self.passing)
        parts = self.part_of
        return {k for k in self.passing if parts.get(k) == partition}

    def snapshot(self, partition: int | None = None):
        """The passing keys (of changelog ``partition``; None: all) as one record."""
        import pickle

        from ksqlpy.operators.aggregate import SNAPSHOT

        return [(SNAPSHOT, pickle.dumps((self._mine(partition), set())))]

    def restore_changelog(self, records, partition: int | None = None) -> None:
        import pickle

        from ksqlpy.operators.aggregate import since_snapshot

        snap, records = since_snapshot(records)
        if snap:  # a snapshot replaces the partition's keys
            mine = self._mine(partition)
            self.passing -= mine
            self._tag((set(), mine), partition if partition is not None else -1)
        for _, v in records:
            added, removed = pickle.loads(v)
            self.passing |= added
            self.passing -= removed
            if partition is not None:
                self._tag((added, removed), partition)
        self._before = set(self.passing)


class Select(Operator):
    """Projects a batch to ROWTIME + the output's key and value columns."""

    def __init__(self, columns: list[tuple[str, Compiled]], keep: tuple[str, ...] = PASSTHROUGH):
        self.columns = columns
        self.keep = keep

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if batch.num_rows == 0:
            return ()
        names = [ROWTIME]
        arrays = [batch.column(ROWTIME)]
        for name, compiled in self.columns:
            names.append(name)
            arrays.append(compiled(batch))
        for name in self.keep:
            idx = batch.schema.get_field_index(name)
            if idx >= 0 and name not in names:
                names.append(name)
                arrays.append(batch.column(idx))
        return (pa.RecordBatch.from_arrays(arrays, names=names),)


class SelectKey(Operator):
    """PARTITION BY: adds the new key columns (computed from the row) to the batch."""

    def __init__(self, keys: list[tuple[str, Compiled]]):
        self.keys = keys

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if batch.num_rows == 0:
            return ()
        computed = [(name, c(batch)) for name, c in self.keys]
        idx = batch.schema.get_field_index(NULL_KEY_COL)
        if idx >= 0:  # the new key is computed: no longer the source's null key
            batch = batch.remove_column(idx)
        for name, arr in computed:
            idx = batch.schema.get_field_index(name)
            if idx >= 0:
                batch = batch.set_column(idx, name, arr)
            else:
                batch = batch.append_column(name, arr)
        return (batch,)
