"""The Operator interface (stage: execution): one required method, optional hooks."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable, Iterable

import pyarrow as pa

HEADERS_COL = "__headers"
#: true for a row, false for a delete (table) or a null value (stream)
OP_COL = "__op"
#: true where the source record's key was null (kept through projections, reset by re-keying)
NULL_KEY_COL = "__null_key"


@dataclass
class OperatorContext:
    """What an operator may use at run time: its query's id, config and error reporting."""

    query_id: str
    properties: dict[str, str] = field(default_factory=dict)
    #: report(error_type, message, record_info) → processing log; never raises
    report: Callable[[str, str, dict], None] = lambda kind, msg, info: None


class Operator(abc.ABC):
    """One physical step at run time. Synchronous, CPU only."""

    output_schema: pa.Schema | None = None

    def open(self, ctx: OperatorContext) -> None:
        self.ctx = ctx

    @abc.abstractmethod
    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        ...

    def on_checkpoint(self) -> None:
        """Flush dirty state (stateless operators have none)."""

    def describe(self) -> dict[str, str]:
        return {}


def take_rows(batch: pa.RecordBatch, mask: pa.Array) -> pa.RecordBatch:
    """Rows where ``mask`` is true (null counts as false)."""
    import pyarrow.compute as pc

    if mask.null_count:
        mask = pc.fill_null(mask, False)
    return batch.filter(mask)
