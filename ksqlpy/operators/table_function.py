"""Table functions (stage: execution): EXPLODE and CUBE_EXPLODE in the SELECT list.

Each input row yields as many output rows as its longest table-function result; shorter
results are padded with NULL (ksqlDB's semantics). The input row's columns are repeated
(``take``), and each table function's values land in a new column the projection reads."""

from __future__ import annotations

import itertools
from typing import Iterable

import pyarrow as pa

from ksqlpy.expr import Compiled
from ksqlpy.operators.base import Operator


def _explode(value):
    return list(value) if value is not None else []


def _cube(value):
    """All combinations of the array's elements and NULL (ksqlDB's CUBE_EXPLODE)."""
    if value is None:
        return []
    choices = [[None, v] if v is not None else [None] for v in value]
    return [list(c) for c in itertools.product(*choices)]


_IMPLS = {"EXPLODE": _explode, "CUBE_EXPLODE": _cube}


class TableFunctions(Operator):
    def __init__(self, calls: list[tuple[str, str, Compiled, pa.DataType]]):
        """``calls``: (function name, output column, compiled argument, output Arrow type)."""
        self.calls = calls

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if batch.num_rows == 0:
            return ()
        results = [[_IMPLS[name](v) for v in arg(batch).to_pylist()]
                   for name, _, arg, _ in self.calls]
        index: list[int] = []
        columns: list[list] = [[] for _ in self.calls]
        for row in range(batch.num_rows):
            per_call = [r[row] for r in results]
            n = max((len(v) for v in per_call), default=0)
            index.extend([row] * n)
            for j, values in enumerate(per_call):
                columns[j].extend(values + [None] * (n - len(values)))
        out = batch.take(pa.array(index, pa.int64()))
        for (_, col_name, _, arrow_type), values in zip(self.calls, columns):
            out = out.append_column(col_name, pa.array(values, arrow_type))
        return (out,) if out.num_rows else ()
