"""The catalog: streams, tables, custom types and persistent queries (engine metadata).

Stage: between analysis and execution. DDL statements are validated against it and then
applied to it; the planner reads source schemas and formats from it. The catalog itself holds
no data: records live in the log, state in stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ksqlpy.errors import AnalysisError
from ksqlpy.formats import FormatInfo
from ksqlpy.schema import LogicalSchema
from ksqlpy.types import SqlType

__all__ = ["WindowInfo", "Source", "QueryInfo", "Catalog"]


@dataclass(frozen=True)
class WindowInfo:
    """The window of a windowed source: TUMBLING, HOPPING or SESSION, size in ms (None for
    SESSION)."""

    type: str
    size_ms: int | None = None


@dataclass
class Source:
    """A stream or table registered in the catalog."""

    name: str
    kind: str                              # "STREAM" | "TABLE"
    topic: str
    schema: LogicalSchema
    key_format: FormatInfo
    value_format: FormatInfo
    statement: str = ""
    window: WindowInfo | None = None
    is_source: bool = False                # CREATE SOURCE STREAM/TABLE: read-only, materialized
    timestamp_column: str | None = None
    timestamp_format: str | None = None
    partitions: int = 1
    replicas: int = 1
    key_features: tuple[str, ...] = ()
    value_features: tuple[str, ...] = ()
    writer_query: str | None = None        # id of the C*AS query that writes it, if any
    cas_target: bool = False               # created by CREATE ... AS SELECT

    @property
    def type_name(self) -> str:
        return self.kind.lower()


@dataclass
class QueryInfo:
    """A persistent query as the catalog records it (the running object lives in the runtime)."""

    id: str
    statement: str
    sink: str | None
    sources: list[str]
    kind: str = "PERSISTENT"


@dataclass
class Catalog:
    _sources: dict[str, Source] = field(default_factory=dict)
    types: dict[str, SqlType] = field(default_factory=dict)

    def source(self, name: str) -> Source | None:
        return self._sources.get(name)

    def sources(self) -> list[Source]:
        return list(self._sources.values())

    def require(self, name: str) -> Source:
        src = self._sources.get(name)
        if src is None:
            raise AnalysisError(f"{name} does not exist.")
        return src

    def add(self, source: Source, replace: bool = False) -> None:
        if source.name in self._sources and not replace:
            existing = self._sources[source.name]
            raise AnalysisError(
                f"Cannot add {source.kind.lower()} '{source.name}': A "
                f"{existing.kind.lower()} with the same name already exists")
        self._sources[source.name] = source

    def alternatives_hint(self, name: str, kind: str | None = None) -> str:
        """ksqlDB's hint for an unknown source name that differs from a known one only in
        case: a line suggesting the name with or without double quotes (or "")."""
        for s in self._sources.values():
            if s.name == name or s.name.upper() != name.upper():
                continue
            if kind is not None and s.kind != kind:
                continue
            if s.name == s.name.upper():
                return (f"\nDid you mean {s.name}? Hint: try removing double quotes from the "
                        f"source name.")
            return (f"\nDid you mean \"{s.name}\"? Hint: wrap the source name in double quotes "
                    f"to make it case-sensitive.")
        return ""

    def remove(self, name: str) -> Source:
        return self._sources.pop(name)

    def sources_on_topic(self, topic: str) -> list[Source]:
        return [s for s in self._sources.values() if s.topic == topic]
