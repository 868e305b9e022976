"""Logical schemas of streams and tables: key, value and header columns plus pseudo columns.

Shared by the catalog, the planner, the formats and the conformance runner. ``str(schema)``
is ksqlDB's spelling (``DESCRIBE``, QTT ``post.sources[].schema``)::

    `ID` BIGINT KEY, `NAME` STRING, `H` BYTES HEADER('h')
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ksqlpy.types import BIGINT, INTEGER, SqlType

__all__ = ["Column", "LogicalSchema", "KEY", "VALUE", "HEADERS", "HEADER", "PSEUDO_COLUMNS",
           "WINDOW_BOUNDS", "ROWTIME", "ROWPARTITION", "ROWOFFSET", "WINDOWSTART", "WINDOWEND"]

KEY, VALUE, HEADERS, HEADER = "KEY", "VALUE", "HEADERS", "HEADER"

ROWTIME, ROWPARTITION, ROWOFFSET = "ROWTIME", "ROWPARTITION", "ROWOFFSET"
WINDOWSTART, WINDOWEND = "WINDOWSTART", "WINDOWEND"
#: Pseudo columns every source row carries (ksqlDB pseudo-column version 1).
PSEUDO_COLUMNS: dict[str, SqlType] = {ROWTIME: BIGINT, ROWPARTITION: INTEGER, ROWOFFSET: BIGINT}
#: Extra pseudo columns of windowed sources.
WINDOW_BOUNDS: dict[str, SqlType] = {WINDOWSTART: BIGINT, WINDOWEND: BIGINT}


@dataclass(frozen=True, slots=True)
class Column:
    """One column. ``namespace`` is KEY, VALUE, HEADERS (all headers) or HEADER (one key)."""

    name: str
    type: SqlType
    namespace: str = VALUE
    header_key: str | None = None

    def sql(self) -> str:
        suffix = {KEY: " KEY", VALUE: "", HEADERS: " HEADERS"}.get(self.namespace)
        if suffix is None:
            suffix = f" HEADER('{self.header_key}')"
        return f"`{self.name}` {self.type}{suffix}"


@dataclass(frozen=True, slots=True)
class LogicalSchema:
    """Columns in declaration order, split by namespace."""

    key: tuple[Column, ...] = ()
    value: tuple[Column, ...] = ()
    headers: tuple[Column, ...] = field(default=())

    @staticmethod
    def of(columns: list[Column]) -> LogicalSchema:
        return LogicalSchema(
            key=tuple(c for c in columns if c.namespace == KEY),
            value=tuple(c for c in columns if c.namespace == VALUE),
            headers=tuple(c for c in columns if c.namespace in (HEADERS, HEADER)))

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.key + self.value + self.headers

    def find(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    def __str__(self) -> str:
        return ", ".join(c.sql() for c in self.columns)
