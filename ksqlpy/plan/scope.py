"""Name resolution for expressions (stage: analysis). A scope maps (qualifier, column name)
to the batch column that holds it and its SQL type; the expression compiler asks it."""

from __future__ import annotations

from dataclasses import dataclass

from ksqlpy.errors import AnalysisError
from ksqlpy.types import SqlType


@dataclass(frozen=True)
class ScopeColumn:
    name: str          # column name as the user sees it
    type: SqlType
    namespace: str     # KEY, VALUE, HEADER(S), PSEUDO, WINDOW
    batch_name: str    # the batch column holding it


class RowScope:
    """Columns visible to expressions over one (possibly aliased) source."""

    def __init__(self, columns: list[ScopeColumn], aliases: set[str],
                 alias: str | None = None):
        self.columns = {c.name: c for c in columns}
        self.order = list(columns)
        self.aliases = aliases
        self.alias = alias  # the single source's alias (its name unless aliased), if known
        self.clause = ""  # e.g. "WHERE", "SELECT": prefixes resolution errors like ksqlDB

    def resolve(self, qualifier: str | None, name: str) -> tuple[str, SqlType]:
        if qualifier is not None and qualifier not in self.aliases:
            raise AnalysisError(f"'{qualifier}' is not a valid stream/table name or alias.")
        col = self.columns.get(name)
        if col is None:
            shown = f"{qualifier}.{name}" if qualifier else name
            prefix = f"{self.clause} column" if self.clause else "Column"
            raise AnalysisError(f"{prefix} '{shown}' cannot be resolved.")
        return col.batch_name, col.type

    def lookup(self, name: str) -> ScopeColumn | None:
        return self.columns.get(name)

    def with_columns(self, columns: list[ScopeColumn]) -> RowScope:
        return RowScope(columns, self.aliases, self.alias)
