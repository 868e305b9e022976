"""Test helpers: a ksql-like sqlglot dialect (every call is Anonymous, `=>` lambdas,
`->` dereference), a dict scope and a one-liner evaluator."""

from __future__ import annotations

import pyarrow as pa
import sqlglot
from sqlglot import exp, parser, tokens
from sqlglot.dialects.dialect import Dialect

from ksqlpy.errors import AnalysisError
from ksqlpy.expr import CompileContext, compile_expr
from ksqlpy.types import SqlType, parse_type


class Dereference(exp.Expression):
    arg_types = {"this": True, "expression": True}


class TestKsql(Dialect):
    class Parser(parser.Parser):
        FUNCTIONS = {}
        FUNCTION_PARSERS = {k: v for k, v in parser.Parser.FUNCTION_PARSERS.items()
                            if k in ("CAST", "TRY_CAST")}
        NO_PAREN_FUNCTIONS = {}
        LAMBDAS = {**parser.Parser.LAMBDAS,
                   tokens.TokenType.FARROW: parser.Parser.LAMBDAS[tokens.TokenType.ARROW]}
        COLUMN_OPERATORS = {
            **parser.Parser.COLUMN_OPERATORS,
            tokens.TokenType.ARROW: lambda self, this, path: Dereference(
                this=this, expression=exp.to_identifier(path.name)),
        }


def _normalize(node: exp.Expression) -> exp.Expression:
    for ident in node.find_all(exp.Identifier):
        if not ident.quoted:
            ident.set("this", ident.this.upper())
    return node


def parse(sql: str) -> exp.Expression:
    return _normalize(sqlglot.parse_one("SELECT " + sql, dialect=TestKsql).expressions[0])


class DictScope:
    def __init__(self, cols: dict[str, SqlType]):
        self.cols = cols

    def resolve(self, qualifier, name):
        if name in self.cols:
            return name, self.cols[name]
        raise AnalysisError(f"column '{name}' cannot be resolved.")


def T(text: str) -> SqlType:
    from ksqlpy.types import (BIGINT, BOOLEAN, BYTES, DATE, DOUBLE, INTEGER, STRING, TIME,
                              TIMESTAMP)
    simple = {"INT": INTEGER, "INTEGER": INTEGER, "BIGINT": BIGINT, "DOUBLE": DOUBLE,
              "STRING": STRING, "BOOLEAN": BOOLEAN, "BYTES": BYTES, "DATE": DATE,
              "TIME": TIME, "TIMESTAMP": TIMESTAMP}
    if text.upper() in simple:
        return simple[text.upper()]
    from sqlglot import exp as e
    from ksqlpy.types import from_ast
    node = sqlglot.parse_one(f"CAST(x AS {text})").args["to"]
    return from_ast(node)


def batch(cols: dict[str, tuple[str, list]]) -> tuple[pa.RecordBatch, DictScope]:
    types = {k: T(t) for k, (t, _) in cols.items()}
    arrays = {}
    for k, (t, vals) in cols.items():
        st = types[k]
        from ksqlpy.expr.runtime import from_py
        arrays[k] = from_py(vals, st)
    if not arrays:
        rb = pa.RecordBatch.from_arrays([pa.nulls(1)], names=["__dummy"])
    else:
        rb = pa.RecordBatch.from_pydict(arrays)
    return rb, DictScope(types)


def ev(sql: str, cols: dict | None = None, props: dict | None = None, errors: list | None = None,
       rows: int = 1):
    """Evaluate; returns the python list of results (or the single value if no columns)."""
    cols = cols or {}
    rb, scope = batch(cols)
    if not cols and rows != 1:
        rb = pa.RecordBatch.from_arrays([pa.nulls(rows)], names=["__dummy"])
    errs = errors if errors is not None else []
    c = compile_expr(parse(sql), scope, CompileContext(properties=props or {},
                                                       on_error=lambda r, m: errs.append((r, m))))
    out = c(rb)
    assert len(out) == rb.num_rows
    assert out.type == c.type.to_arrow(), (out.type, c.type)
    vals = out.to_pylist(maps_as_pydicts="lossy") if _has_map(out.type) else out.to_pylist()
    return vals[0] if not cols and rows == 1 else vals


def typeof(sql: str, cols: dict | None = None) -> str:
    cols = cols or {}
    _, scope = batch(cols)
    return str(compile_expr(parse(sql), scope).type)


def _has_map(t):
    from ksqlpy.expr.runtime import _has_map as h
    return h(t)
