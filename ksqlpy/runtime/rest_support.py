"""Helpers the REST server needs from the engine (stage: runtime, additive).

- :class:`StatementRunner` runs a /ksql request one statement at a time with one shared
  session, so SET/DEFINE carry over within the request and a failure can report the entities
  of the statements before it (ksqlDB's ``statement_error``).
- :func:`insert_json_rows` encodes JSON objects (the /inserts-stream body) for a source with
  its formats and appends them to its topic, the same path INSERT VALUES takes.
- :func:`close_transient` closes a push query even when its bounded buffer is full.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import time
from decimal import Decimal, InvalidOperation

import pyarrow as pa

from ksqlpy.errors import AnalysisError, KsqlError

__all__ = ["StatementRunner", "insert_json_rows", "close_transient", "resolve_source"]


class StatementRunner:
    """One /ksql request: ``split()`` the text, then ``run(text)`` each statement in order."""

    def __init__(self, engine, properties: dict | None = None, variables: dict | None = None):
        from ksqlpy.runtime.engine import Session

        self.engine = engine
        self.session = Session(engine, dict(properties or {}),
                               {**engine.variables, **(variables or {})})

    @staticmethod
    def split(sql: str) -> list[str]:
        from ksqlpy.parse.script import split_statements

        return split_statements(sql)

    def parse(self, text: str):
        """(substituted text, AST) of one statement; raises ParseError."""
        from ksqlpy.parse.script import split_and_parse

        parsed = list(split_and_parse(text, self.session.variables))
        if len(parsed) != 1:
            raise AnalysisError("Expected exactly one statement.")
        return parsed[0]

    async def run(self, text: str, node=None):
        """Execute one statement; returns a StatementResult or None."""
        from ksqlpy.runtime import statements

        if node is None:
            text, node = self.parse(text)
        return await statements.execute(self.engine, self.session, node, text)


def resolve_source(engine, name: str):
    """A source by the name a client sent: as given, then upper-cased (unquoted names)."""
    if name.startswith("`") and name.endswith("`") and len(name) > 1:
        return engine.catalog.source(name[1:-1])
    return engine.catalog.source(name) or engine.catalog.source(name.upper())


# -- /inserts-stream -------------------------------------------------------------------------

def _coerce(value, t, path: str):
    """A JSON value → the Python value Arrow builds for SQL type ``t``; raises ValueError."""
    if value is None:
        return None
    b = t.base
    if b == "BOOLEAN":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif b in ("INTEGER", "BIGINT"):
        if isinstance(value, int) and not isinstance(value, bool):
            lo, hi = (-2**31, 2**31 - 1) if b == "INTEGER" else (-2**63, 2**63 - 1)
            if lo <= value <= hi:
                return value
        elif isinstance(value, str):
            try:
                return _coerce(int(value), t, path)
            except ValueError:
                pass
    elif b == "DOUBLE":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif b == "DECIMAL":
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                d = Decimal(str(value)).quantize(Decimal(1).scaleb(-t.scale))
            except InvalidOperation:
                d = None
            if d is not None and len(d.as_tuple().digits) <= t.precision:
                return d
    elif b == "STRING":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float, bool)):
            return str(value).lower() if isinstance(value, bool) else str(value)
    elif b == "BYTES":
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except ValueError:
                pass
    elif b == "TIMESTAMP":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                ts = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                if ts.tzinfo is None:
                    ts = ts.replace(tzinfo=dt.timezone.utc)
                return int(ts.timestamp() * 1000)
            except ValueError:
                pass
    elif b == "DATE":
        if isinstance(value, int) and not isinstance(value, bool):
            return dt.date(1970, 1, 1) + dt.timedelta(days=value)
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
    elif b == "TIME":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                tm = dt.time.fromisoformat(value)
                return ((tm.hour * 60 + tm.minute) * 60 + tm.second) * 1000 + \
                    tm.microsecond // 1000
            except ValueError:
                pass
    elif b == "ARRAY":
        if isinstance(value, list):
            return [_coerce(v, t.item, f"{path}[{i}]") for i, v in enumerate(value)]
    elif b == "MAP":
        if isinstance(value, dict):
            return [(_coerce(k, t.key, path), _coerce(v, t.item, f"{path}.{k}"))
                    for k, v in value.items()]
    elif b == "STRUCT":
        if isinstance(value, dict):
            lower = {str(k).upper(): v for k, v in value.items()}
            out = {}
            for name, ft in t.fields:
                v = value[name] if name in value else lower.get(name.upper())
                out[name] = _coerce(v, ft, f"{path}.{name}")
            return out
    raise ValueError(f"Can't coerce a field of type {type(value).__name__} ({value!r}) into "
                     f"type {t} for column {path}")


def _row_arrays(target, row: dict) -> dict:
    from ksqlpy.schema import HEADER, HEADERS

    if not isinstance(row, dict):
        raise ValueError("Invalid JSON in inserts stream")
    upper = {str(k).upper(): k for k in row}
    values = {}
    known = set()
    for col in target.schema.columns:
        if col.namespace in (HEADER, HEADERS):
            continue
        key = col.name if col.name in row else upper.get(col.name.upper())
        if key is not None:
            known.add(key)
        values[col.name] = _coerce(row.get(key) if key is not None else None, col.type,
                                   col.name)
    unknown = [k for k in row if k not in known]
    if unknown:
        raise ValueError(f"Column name {str(unknown[0]).upper()} does not exist.")
    return values


async def insert_json_rows(engine, target, rows: list, properties: dict | None = None
                           ) -> list[str | None]:
    """Insert JSON objects into ``target`` (a catalog Source) in one append; returns one error
    message (or None for success) per row, in order."""
    from ksqlpy.operators.sink import SinkEncoder
    from ksqlpy.runtime.partitioner import split_by_partition
    from ksqlpy.schema import HEADER, HEADERS, ROWTIME

    if target.writer_query is not None or target.is_source or target.window is not None:
        msg = (f"Cannot insert values into read-only {target.kind.lower()}: {target.name}"
               if target.is_source or target.window is not None else
               f"Cannot insert values into {target.name}: it is written by "
               f"{target.writer_query}.")
        return [msg] * len(rows)
    results: list[str | None] = []
    good: list[dict] = []
    for row in rows:
        try:
            good.append(_row_arrays(target, row))
            results.append(None)
        except (ValueError, TypeError, KsqlError) as e:
            results.append(str(e))
    if not good:
        return results
    props = engine.effective_properties(properties)
    cols = {}
    for col in target.schema.columns:
        if col.namespace in (HEADER, HEADERS):
            cols[col.name] = pa.nulls(len(good), col.type.to_arrow())
            continue
        try:
            cols[col.name] = pa.array([g[col.name] for g in good], col.type.to_arrow())
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
            return [r if r is not None else f"Failed to insert values into "
                    f"'{target.name}': {e}" for r in results]
    now = int(time.time() * 1000)
    if target.timestamp_column and target.timestamp_column in cols:
        ts = cols[target.timestamp_column].cast(pa.int64()).to_pylist()
        cols[ROWTIME] = pa.array([t if t is not None else now for t in ts], pa.int64())
    else:
        cols[ROWTIME] = pa.array([now] * len(good), pa.int64())
    batch = pa.RecordBatch.from_pydict(cols)
    encoder = SinkEncoder(target, engine.operator_context("insert", props), copy_headers=False)
    encoder.timestamp_column = None
    out = encoder.encode(batch)
    if out.num_rows != len(good):
        # some rows failed to serialize: fall back to one row at a time to say which
        if len(rows) == 1:
            return [f"Failed to insert values into '{target.name}'."]
        merged = []
        for row, r in zip(rows, results):
            merged.append(r if r is not None else
                          (await insert_json_rows(engine, target, [row], properties))[0])
        return merged
    info = engine.log.topic(target.topic)
    if info is None:
        return [r if r is not None else f"Kafka topic does not exist: {target.topic}"
                for r in results]
    for p, b in split_by_partition(out, info.partitions).items():
        await engine.log.append(target.topic, p, b)
    return results


# -- push queries ----------------------------------------------------------------------------

async def close_transient(engine, query_id: str) -> bool:
    """Close a transient query. The buffer is emptied first: the query task's final
    end-of-rows marker must not wait on a full bounded queue."""
    query = engine.transient.get(query_id)
    if query is None:
        return False
    while True:
        try:
            query.queue.get_nowait()
        except asyncio.QueueEmpty:
            break
    return await engine.close_push_query(query_id)
