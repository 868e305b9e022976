"""SQL types and their Arrow representation (shared by every pipeline stage).

A :class:`SqlType` is ksqlDB's logical type. ``to_arrow()`` gives the Arrow type a column of
that SQL type has inside the engine; ``str()`` gives ksqlDB's wire spelling (``columnTypes``,
``DESCRIBE``, header schemas).

>>> str(struct([("A", INTEGER), ("B", array(STRING))]))
'STRUCT<`A` INTEGER, `B` ARRAY<STRING>>'
>>> decimal(4, 2).to_arrow()
Decimal128Type(decimal128(4, 2))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import pyarrow as pa

from ksqlpy.errors import AnalysisError

__all__ = [
    "SqlType", "BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "STRING", "BYTES", "DATE", "TIME",
    "TIMESTAMP", "NULL", "decimal", "array", "map_", "struct", "from_arrow", "from_ast",
    "parse_type", "is_numeric", "widen", "RESERVED_FIELD_NAMES",
]

PRIMITIVES = ("BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "STRING", "BYTES", "DATE", "TIME",
              "TIMESTAMP")

# Struct field names that ksqlDB back-ticks even in the unquoted (columnTypes) spelling.
RESERVED_FIELD_NAMES = frozenset({
    "DECIMAL", "INTEGER", "INT", "BIGINT", "DOUBLE", "STRING", "VARCHAR", "BOOLEAN", "BYTES",
    "DATE", "TIME", "TIMESTAMP", "ARRAY", "MAP", "STRUCT", "SELECT", "FROM", "WHERE", "AS",
    "KEY", "VALUE", "TABLE", "STREAM", "BY", "GROUP", "WINDOW", "AND", "OR", "NOT", "NULL",
    "TRUE", "FALSE", "CASE", "WHEN", "THEN", "ELSE", "END", "CAST", "IN", "IS", "LIKE",
})


@dataclass(frozen=True, slots=True)
class SqlType:
    """A ksqlDB SQL type. Compound types keep their element types in ``item``/``key``/``fields``."""

    base: str
    precision: int | None = None
    scale: int | None = None
    item: SqlType | None = None          # ARRAY element, MAP value
    key: SqlType | None = None           # MAP key
    fields: tuple[tuple[str, SqlType], ...] | None = None  # STRUCT fields, in order

    def __str__(self) -> str:
        return self.sql(quote_fields=True)

    def sql(self, quote_fields: bool = True) -> str:
        """ksqlDB's spelling; ``quote_fields=False`` back-ticks only reserved field names."""
        b = self.base
        if b == "DECIMAL":
            return f"DECIMAL({self.precision}, {self.scale})"
        if b == "ARRAY":
            return f"ARRAY<{self.item.sql(quote_fields)}>"
        if b == "MAP":
            return f"MAP<{self.key.sql(quote_fields)}, {self.item.sql(quote_fields)}>"
        if b == "STRUCT":
            parts = []
            for name, t in self.fields:
                q = quote_fields or name.upper() in RESERVED_FIELD_NAMES or not _plain(name)
                parts.append(f"{'`' + name + '`' if q else name} {t.sql(quote_fields)}")
            return f"STRUCT<{', '.join(parts)}>"
        return b

    def to_arrow(self) -> pa.DataType:
        return _to_arrow(self)

    def field(self, name: str) -> SqlType | None:
        for n, t in self.fields or ():
            if n == name:
                return t
        return None


def _plain(name: str) -> bool:
    return name.replace("_", "a").isalnum() and not name[0].isdigit() and name == name.upper()


BOOLEAN = SqlType("BOOLEAN")
INTEGER = SqlType("INTEGER")
BIGINT = SqlType("BIGINT")
DOUBLE = SqlType("DOUBLE")
STRING = SqlType("STRING")
BYTES = SqlType("BYTES")
DATE = SqlType("DATE")
TIME = SqlType("TIME")
TIMESTAMP = SqlType("TIMESTAMP")
NULL = SqlType("NULL")  # the type of an untyped NULL literal; never a column type


def decimal(precision: int, scale: int) -> SqlType:
    if precision < 1:
        raise AnalysisError(f"DECIMAL precision must be >= 1: DECIMAL({precision}, {scale})")
    if scale < 0 or scale > precision:
        raise AnalysisError(
            f"DECIMAL scale must be between 0 and precision: DECIMAL({precision}, {scale})")
    return SqlType("DECIMAL", precision=precision, scale=scale)


def array(item: SqlType) -> SqlType:
    return SqlType("ARRAY", item=item)


def map_(key: SqlType, value: SqlType) -> SqlType:
    return SqlType("MAP", key=key, item=value)


def struct(fields: Iterable[tuple[str, SqlType]]) -> SqlType:
    return SqlType("STRUCT", fields=tuple(fields))


_SIMPLE_ARROW = {
    "BOOLEAN": pa.bool_(), "INTEGER": pa.int32(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(),
    "STRING": pa.string(), "BYTES": pa.binary(), "DATE": pa.date32(), "TIME": pa.time32("ms"),
    "TIMESTAMP": pa.timestamp("ms"), "NULL": pa.null(),
}


def _to_arrow(t: SqlType) -> pa.DataType:
    simple = _SIMPLE_ARROW.get(t.base)
    if simple is not None:
        return simple
    if t.base == "DECIMAL":
        return pa.decimal128(t.precision, t.scale)
    if t.base == "ARRAY":
        return pa.list_(t.item.to_arrow())
    if t.base == "MAP":
        return pa.map_(t.key.to_arrow(), t.item.to_arrow())
    if t.base == "STRUCT":
        return pa.struct([pa.field(n, ft.to_arrow()) for n, ft in t.fields])
    raise AnalysisError(f"Unknown type: {t.base}")


def from_arrow(t: pa.DataType) -> SqlType:
    """The SQL type of an Arrow type produced inside the engine."""
    if pa.types.is_boolean(t):
        return BOOLEAN
    if pa.types.is_int32(t) or pa.types.is_int16(t) or pa.types.is_int8(t):
        return INTEGER
    if pa.types.is_int64(t):
        return BIGINT
    if pa.types.is_floating(t):
        return DOUBLE
    if pa.types.is_decimal(t):
        return SqlType("DECIMAL", precision=t.precision, scale=t.scale)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return STRING
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return BYTES
    if pa.types.is_date(t):
        return DATE
    if pa.types.is_time(t):
        return TIME
    if pa.types.is_timestamp(t):
        return TIMESTAMP
    if pa.types.is_map(t):
        return map_(from_arrow(t.key_type), from_arrow(t.item_type))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return array(from_arrow(t.value_type))
    if pa.types.is_struct(t):
        return struct((t.field(i).name, from_arrow(t.field(i).type)) for i in range(t.num_fields))
    if pa.types.is_null(t):
        return NULL
    raise AnalysisError(f"No SQL type for Arrow type {t}")


_NAME_ALIASES = {
    "INT": "INTEGER", "INTEGER": "INTEGER", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE",
    "BOOLEAN": "BOOLEAN", "BOOL": "BOOLEAN", "VARCHAR": "STRING", "STRING": "STRING",
    "TEXT": "STRING", "BYTES": "BYTES", "VARBINARY": "BYTES", "BINARY": "BYTES", "DATE": "DATE",
    "TIME": "TIME", "TIMESTAMP": "TIMESTAMP",
}


def from_ast(node, custom_types: dict[str, SqlType] | None = None) -> SqlType:
    """Convert a sqlglot ``exp.DataType`` (as the ksql dialect parses it) to a SqlType.

    ``custom_types`` maps names registered with CREATE TYPE to their SqlType.
    """
    from sqlglot import exp

    custom_types = custom_types or {}
    if not isinstance(node, exp.DataType):
        raise AnalysisError(f"Not a type: {node}")
    dt = node.this
    name = dt.name if hasattr(dt, "name") else str(dt)
    if name == "USERDEFINED":
        kind = node.args.get("kind") or ""
        alias = str(kind).upper()
        if alias in custom_types:
            return custom_types[alias]
        if alias in _NAME_ALIASES:
            return SqlType(_NAME_ALIASES[alias])
        raise AnalysisError(f"Can't find type {alias}")
    if name in ("DECIMAL", "DECIMAL32", "DECIMAL64", "DECIMAL128", "NUMERIC"):
        params = [int(p.this.this if isinstance(p, exp.DataTypeParam) else p.this)
                  for p in node.expressions]
        if len(params) != 2:
            raise AnalysisError("DECIMAL requires precision and scale: DECIMAL(p, s)")
        return decimal(params[0], params[1])
    if name == "ARRAY":
        return array(from_ast(node.expressions[0], custom_types))
    if name == "MAP":
        k, v = node.expressions
        return map_(from_ast(k, custom_types), from_ast(v, custom_types))
    if name == "STRUCT":
        fields = []
        for f in node.expressions:
            # sqlglot represents struct members as ColumnDef(this=Identifier, kind=DataType)
            fname = f.this.this if f.this.quoted else f.this.this.upper()
            fields.append((fname, from_ast(f.args["kind"], custom_types)))
        return struct(fields)
    for key in (name, name.rstrip("0123456789")):
        if key in _NAME_ALIASES:
            return SqlType(_NAME_ALIASES[key])
    if name in ("TEXT", "NVARCHAR", "CHAR", "NCHAR"):
        return STRING
    if name in ("INT", "SMALLINT", "TINYINT"):
        return INTEGER
    raise AnalysisError(f"Unknown type: {name}")


def parse_type(text: str, custom_types: dict[str, SqlType] | None = None) -> SqlType:
    """Parse a type written in ksql syntax, e.g. ``'ARRAY<STRUCT<A INT>>'``."""
    from ksqlpy.grammar import parse_data_type

    return from_ast(parse_data_type(text), custom_types)


def is_numeric(t: SqlType) -> bool:
    return t.base in ("INTEGER", "BIGINT", "DECIMAL", "DOUBLE")


_RANK = {"INTEGER": 0, "BIGINT": 1, "DECIMAL": 2, "DOUBLE": 3}


def widen(a: SqlType, b: SqlType) -> SqlType | None:
    """The common type of two numeric types under ksqlDB's implicit widening
    (INT → BIGINT → DECIMAL → DOUBLE), or None if they have none."""
    if a == b:
        return a
    if a.base == "NULL":
        return b
    if b.base == "NULL":
        return a
    if not (is_numeric(a) and is_numeric(b)):
        return None
    if a.base == "DECIMAL" and b.base == "DECIMAL":
        scale = max(a.scale, b.scale)
        digits = max(a.precision - a.scale, b.precision - b.scale)
        return SqlType("DECIMAL", precision=min(digits + scale, 38), scale=scale)
    hi, lo = (a, b) if _RANK[a.base] >= _RANK[b.base] else (b, a)
    if hi.base == "DECIMAL":
        lo_dec = _int_as_decimal(lo)
        return widen(hi, lo_dec)
    return hi


def _int_as_decimal(t: SqlType) -> SqlType:
    """ksqlDB's decimal form of an integer type (INT → DECIMAL(10,0), BIGINT → DECIMAL(19,0))."""
    if t.base == "INTEGER":
        return SqlType("DECIMAL", precision=10, scale=0)
    if t.base == "BIGINT":
        return SqlType("DECIMAL", precision=19, scale=0)
    return t
