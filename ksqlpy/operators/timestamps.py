"""Record timestamps from a column (stage: source decoding), for the TIMESTAMP and
TIMESTAMP_FORMAT properties. BIGINT columns are epoch ms, TIMESTAMP columns are converted, and
STRING columns are parsed with the Java DateTimeFormatter pattern through PARSE_TIMESTAMP, the
same function users call. Rows with a null or unparseable timestamp are dropped and reported
(ksqlDB's default, ``ksql.timestamp.throw.on.invalid=false``)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from ksqlpy.catalog import Source
from ksqlpy.errors import AnalysisError


class _BatchScope:
    def __init__(self, types):
        self.types = types

    def resolve(self, qualifier, name):
        if name not in self.types:
            raise AnalysisError(f"Column '{name}' cannot be resolved.")
        return name, self.types[name]


def timestamp_extractor(source: Source):
    col = source.schema.find(source.timestamp_column)
    if col is None:
        raise AnalysisError(
            f"The TIMESTAMP column set in the WITH clause does not exist in the schema: "
            f"'{source.timestamp_column}'")
    base = col.type.base
    fmt = source.timestamp_format
    if base == "STRING":
        if not fmt:
            raise AnalysisError(
                f"A String timestamp field has been specified without also specifying the "
                f"TIMESTAMP_FORMAT property for '{col.name}'")
        from ksqlpy.expr import CompileContext, compile_expr

        errors: dict[int, str] = {}
        node = exp.Anonymous(this="PARSE_TIMESTAMP", expressions=[
            exp.column(exp.to_identifier(col.name, quoted=True)), exp.Literal.string(fmt)])
        ctx = CompileContext(on_error=lambda i, msg: errors.setdefault(i, msg))
        compiled = compile_expr(node, _BatchScope({col.name: col.type}), ctx)

        def from_string(batch):
            errors.clear()
            ts = compiled(batch).cast(pa.int64())
            return _validate(ts, dict(errors), col.name)
        return from_string
    if base not in ("BIGINT", "TIMESTAMP"):
        raise AnalysisError(
            f"Timestamp column, {col.name}, should be LONG(INT64), TIMESTAMP, or a String "
            f"with a timestamp_format specified.")

    def from_column(batch):
        ts = batch.column(col.name).cast(pa.int64())
        return _validate(ts, {}, col.name)
    return from_column


def _validate(ts: pa.Array, errors: dict[int, str], name: str):
    invalid = pc.or_kleene(pc.is_null(ts), pc.less(ts, 0))
    if invalid.true_count:
        for i, bad in enumerate(invalid.to_pylist()):
            if bad:
                errors.setdefault(i, f"Invalid timestamp in column {name}")
        ts = pc.if_else(invalid, 0, ts)
    return ts, errors
