"""Shared shapes of the formats (pipeline edges: bytes ↔ Arrow columns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import pyarrow as pa

from ksqlpy.schema import Column

__all__ = ["FormatInfo", "Format", "Decoded", "Encoded", "as_binary", "empty_decoded"]


@dataclass(frozen=True)
class FormatInfo:
    """What a source's WITH clause says about one side (key or value)."""

    name: str                         # "KAFKA", "JSON", "DELIMITED", "NONE"
    properties: dict = field(default_factory=dict)   # e.g. {"delimiter": ","}
    wrap_single: bool | None = None   # WRAP_SINGLE_VALUE; None = format default
    # Schema-registry formats only: the engine's registry and the source's topic (runtime
    # context, not part of the format's identity).
    registry: object = field(default=None, compare=False, repr=False)
    topic: str | None = field(default=None, compare=False, repr=False)

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.properties.items())), self.wrap_single))


@dataclass
class Decoded:
    """Columns decoded from a batch of serialized records."""

    arrays: list[pa.Array]            # one per column, typed column.type.to_arrow()
    errors: dict[int, str]            # row index → cause, for rows that failed (values null)
    null_rows: pa.Array | None        # bool mask of null (tombstone) records, or None if none


@dataclass
class Encoded:
    """A batch of serialized records."""

    data: pa.Array                    # binary, one per row; null = no bytes (tombstone/null key)
    errors: dict[int, str]


class Format(Protocol):
    def decode(self, data: pa.Array, columns: Sequence[Column]) -> Decoded: ...

    def encode(self, arrays: Sequence[pa.Array], columns: Sequence[Column]) -> Encoded: ...


def as_binary(data) -> pa.Array:
    """Accept a binary/string (chunked) array or a list of bytes; return a pa.BinaryArray."""
    if isinstance(data, pa.ChunkedArray):
        data = data.combine_chunks()
    if not isinstance(data, pa.Array):
        data = pa.array(list(data), pa.binary())
    if data.type == pa.large_binary() or data.type == pa.large_string():
        data = data.cast(pa.large_binary()).cast(pa.binary())
    elif data.type != pa.binary():
        data = data.cast(pa.binary())
    return data


def empty_decoded(n: int, columns: Sequence[Column]) -> list[pa.Array]:
    return [pa.nulls(n, c.type.to_arrow()) for c in columns]


def arrays_from_values(columns: Sequence[Column], values: list[list], errors: dict[int, str],
                       n: int) -> list[pa.Array]:
    """Arrow columns from per-record Python values (the record-level decode paths). A value
    Arrow refuses nulls just its row and is reported in ``errors``; every row in ``errors``
    ends up with no values at all."""
    import numpy as np
    import pyarrow.compute as pc

    bad_types = (pa.ArrowException, ValueError, TypeError, OverflowError)
    arrays = []
    for c, vals in zip(columns, values):
        t = c.type.to_arrow()
        try:
            arrays.append(pa.array(vals, t))
        except bad_types:
            fixed = []
            for i, v in enumerate(vals):
                try:
                    pa.array([v], t)
                    fixed.append(v)
                except bad_types as e:
                    errors.setdefault(i, f"Cannot represent value of {c.name}: {e}")
                    fixed.append(None)
            arrays.append(pa.array(fixed, t))
    if errors:
        bad = np.zeros(n, dtype=bool)
        bad[list(errors)] = True
        mask = pa.array(bad)
        arrays = [pc.if_else(mask, pa.nulls(n, a.type), a) for a in arrays]
    return arrays
