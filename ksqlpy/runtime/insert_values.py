"""INSERT INTO … VALUES (stage: runtime): evaluate the literal row, encode it in the target's
formats and append it to the target's topic."""

from __future__ import annotations

import time

import pyarrow as pa

from ksqlpy.errors import AnalysisError
from ksqlpy.expr import CompileContext, compile_expr
from ksqlpy.operators.sink import SinkEncoder
from ksqlpy.parse import name_of
from ksqlpy.plan.planner import normalize
from ksqlpy.runtime.partitioner import split_by_partition
from ksqlpy.schema import HEADER, HEADERS, ROWTIME

_ONE_ROW = pa.RecordBatch.from_pydict({"__dummy": [0]})


class _EmptyScope:
    def resolve(self, qualifier, name):
        raise AnalysisError(f"Column '{name}' cannot be resolved.")


async def insert_values(engine, session, node) -> None:
    normalize(node)
    name = name_of(node.this)
    target = engine.catalog.source(name)
    if target is None:
        raise AnalysisError(f"Cannot insert values into an unknown stream/table: `{name}`"
                            + engine.catalog.alternatives_hint(name))
    if target.writer_query is not None or target.is_source:
        raise AnalysisError(
            f"Cannot insert values into read-only {target.kind.lower()}: {name}"
            if target.is_source else
            f"Cannot insert values into {name}: it is written by {target.writer_query}.")
    if target.window is not None:
        raise AnalysisError(f"Cannot insert values into windowed source: {name}")
    columns = [name_of(c) for c in node.args.get("columns") or []]
    values = list(node.expressions)
    insertable = [c for c in target.schema.columns if c.namespace not in (HEADER, HEADERS)]
    if not columns:
        # no column list means every column, header columns included (which can't be set)
        headers = [c.name for c in target.schema.columns if c.namespace in (HEADER, HEADERS)]
        if headers:
            raise AnalysisError(f"Cannot insert into HEADER columns: {', '.join(headers)}")
        columns = [c.name for c in insertable]
    if len(columns) != len(values):
        raise AnalysisError(
            f"Failed to prepare statement: Expected a value for each column. Expected "
            f"Columns: {columns}. Got {[v.sql() for v in values]}")
    for c in columns:
        col = target.schema.find(c)
        if col is not None and col.namespace in (HEADER, HEADERS):
            raise AnalysisError(f"Cannot insert into HEADER columns: {c}")
        if col is None and c != ROWTIME:
            raise AnalysisError(f"Column name {c} does not exist.")
    ctx = CompileContext(properties=session.properties)
    row: dict[str, pa.Array] = {}
    for c, v in zip(columns, values):
        compiled = compile_expr(v, _EmptyScope(), ctx)
        arr = compiled(_ONE_ROW)
        want = target.schema.find(c).type if c != ROWTIME else None
        arrow_type = want.to_arrow() if want is not None else pa.int64()
        try:
            arr = arr.cast(arrow_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise AnalysisError(
                f"Failed to insert values into '{name}'. Expected type "
                f"{want or 'BIGINT'} for column {c} but got {compiled.type}") from None
        row[c] = arr
    n = 1
    for col in target.schema.columns:
        if col.name not in row:
            row[col.name] = pa.nulls(n, col.type.to_arrow())
    if ROWTIME not in row or row[ROWTIME][0].as_py() is None:
        ts = None
        if target.timestamp_column and row[target.timestamp_column][0].as_py() is not None:
            ts = row[target.timestamp_column].cast(pa.int64())
        row[ROWTIME] = ts if ts is not None else pa.array([int(time.time() * 1000)], pa.int64())
    batch = pa.RecordBatch.from_pydict(row)
    encoder = SinkEncoder(target, engine.operator_context("insert", session.properties),
                          copy_headers=False)
    encoder.timestamp_column = None
    out = encoder.encode(batch)
    if out.num_rows == 0:
        raise AnalysisError(f"Failed to insert values into '{name}'.")
    info = engine.log.topic(target.topic)
    if info is None:
        raise AnalysisError(f"Kafka topic does not exist: {target.topic}")
    for p, b in split_by_partition(out, info.partitions).items():
        await engine.log.append(target.topic, p, b)
