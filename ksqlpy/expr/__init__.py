"""Expressions compiled once to Arrow kernels.

``compile_expr(node, scope, ctx)`` type-checks a sqlglot expression (as the ksql dialect
parses it, identifiers already normalized) and returns a :class:`Compiled` whose ``fn`` maps
a ``pa.RecordBatch`` to a full-length ``pa.Array`` of ``type.to_arrow()``. Evaluation never
raises for bad data: a failing row yields null and is reported through
``CompileContext.on_error(row, message)``.

>>> import pyarrow as pa, sqlglot
>>> from ksqlpy.types import INTEGER
>>> class S:
...     def resolve(self, q, name): return name, INTEGER
>>> c = compile_expr(sqlglot.parse_one("SELECT X * 2 + 1").expressions[0], S())
>>> c(pa.record_batch({"X": pa.array([1, None, 3], pa.int32())})).to_pylist()
[3, None, 7]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import pyarrow as pa

from ksqlpy.expr.registry import function_names, is_aggregate, is_table_function
from ksqlpy.expr.runtime import Errors
from ksqlpy.types import SqlType

__all__ = ["Scope", "CompileContext", "Compiled", "compile_expr", "expression_type",
           "is_aggregate", "is_table_function", "function_names", "table_function_type"]


class Scope(Protocol):
    def resolve(self, qualifier: str | None, name: str) -> tuple[str, SqlType]:
        """Batch column name + SQL type for a column reference; raises AnalysisError."""


@dataclass
class CompileContext:
    properties: dict[str, str] = field(default_factory=dict)
    on_error: Callable[[int, str], None] | None = None


@dataclass(frozen=True)
class Compiled:
    type: SqlType
    fn: Callable[[pa.RecordBatch], pa.Array]
    sql: str = ""

    def __call__(self, batch: pa.RecordBatch) -> pa.Array:
        return self.fn(batch)


def compile_expr(node, scope: Scope, ctx: CompileContext | None = None) -> Compiled:
    from ksqlpy.expr.compiler import Compiler

    ctx = ctx or CompileContext()
    n = Compiler(scope, ctx).compile(node)
    ev, at = n.ev, n.type.to_arrow()

    def fn(batch: pa.RecordBatch) -> pa.Array:
        errs = Errors()
        out = ev(batch, errs)
        if isinstance(out, pa.ChunkedArray):
            out = out.combine_chunks()
        if out.type != at:
            out = out.cast(at)
        if errs.items and ctx.on_error is not None:
            for row, msg in sorted(errs.items, key=lambda x: x[0]):
                ctx.on_error(row, msg)
        return out

    return Compiled(n.type, fn, n.sql)


def expression_type(node, scope: Scope) -> SqlType:
    from ksqlpy.expr.compiler import Compiler

    return Compiler(scope, CompileContext()).compile(node).type


def table_function_type(name: str, arg_types: list[SqlType]) -> SqlType:
    """Output element type of EXPLODE / CUBE_EXPLODE for the given argument types."""
    from ksqlpy.errors import AnalysisError
    from ksqlpy.types import array

    up = name.upper()
    if up == "EXPLODE" and len(arg_types) == 1 and arg_types[0].base == "ARRAY":
        return arg_types[0].item
    if up == "CUBE_EXPLODE" and len(arg_types) == 1 and arg_types[0].base == "ARRAY":
        return array(arg_types[0].item)
    shown = ", ".join(str(t) for t in arg_types)
    alternatives = {"EXPLODE": "explode(ARRAY<DECIMAL> input)\nexplode(ARRAY<T> list)",
                    "CUBE_EXPLODE": "cube_explode(ARRAY<T> list)"}.get(up)
    suffix = f"\nValid alternatives are:\n{alternatives}" if alternatives else ""
    raise AnalysisError(f"Function '{name.lower()}' does not accept parameters ({shown})."
                        + suffix)
