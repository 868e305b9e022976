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
    """WHERE. On a stream, rows that do not match (and null-value rows) are dropped. On a
    table, a row that does not match becomes a delete of its key, as a KTable filter
    forwards a tombstone, so downstream state forgets a row that stopped matching."""

    def __init__(self, predicate: Compiled, sql: str, table: bool = False):
        self.predicate = predicate
        self.sql = sql
        self.table = table

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if batch.num_rows == 0:
            return ()
        mask = pc.fill_null(self.predicate(batch), False)
        idx = batch.schema.get_field_index(OP_COL)
        if self.table and idx >= 0:
            op = pc.and_(batch.column(idx), mask)
            return (batch.set_column(idx, OP_COL, op),)
        if idx >= 0:
            mask = pc.and_(mask, batch.column(idx))
        out = batch.filter(mask)
        return (out,) if out.num_rows else ()

    def describe(self):
        return {"filterExpression": self.sql}


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
