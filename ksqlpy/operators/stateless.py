"""Stateless row operators (stage: execution): filter, select (projection) and select-key
(PARTITION BY re-keying). Each evaluates compiled Arrow expressions over whole batches."""

from __future__ import annotations

from typing import Iterable

import pyarrow as pa

from ksqlpy.expr import Compiled
from ksqlpy.operators.base import HEADERS_COL, Operator, take_rows
from ksqlpy.schema import ROWTIME

#: Internal columns a projection carries through unchanged when present.
PASSTHROUGH = (HEADERS_COL, "__op", "WINDOWSTART", "WINDOWEND")


class Filter(Operator):
    def __init__(self, predicate: Compiled, sql: str):
        self.predicate = predicate
        self.sql = sql

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if batch.num_rows == 0:
            return ()
        out = take_rows(batch, self.predicate(batch))
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
        for name, arr in computed:
            idx = batch.schema.get_field_index(name)
            if idx >= 0:
                batch = batch.set_column(idx, name, arr)
            else:
                batch = batch.append_column(name, arr)
        return (batch,)
