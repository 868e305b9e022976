"""Run-time helpers shared by the compiler and the function families.

Everything here works on whole ``pa.Array`` columns. Per-row Python appears only in
:func:`rowwise`, the escape hatch for functions that have no Arrow kernel.
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.types import SqlType

EPOCH_DATE = _dt.date(1970, 1, 1)
EPOCH_TS = _dt.datetime(1970, 1, 1)


class Errors:
    """Per-evaluation sink for row errors: ``(row index, message)`` pairs."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []

    def add(self, row: int, message: str) -> None:
        self.items.append((int(row), message))

    def add_many(self, rows: Sequence[int] | np.ndarray, message: str) -> None:
        for r in rows:
            self.items.append((int(r), message))


def as_array(x: Any) -> pa.Array:
    """A single ``pa.Array`` from an Array or ChunkedArray."""
    if isinstance(x, pa.ChunkedArray):
        if x.num_chunks == 1:
            return x.chunk(0)
        return x.combine_chunks() if x.num_chunks else pa.array([], type=x.type)
    return x


def const_array(value: Any, t: SqlType, n: int) -> pa.Array:
    """``n`` copies of a Python value of SQL type ``t``."""
    at = t.to_arrow()
    if value is None:
        return pa.nulls(n, at)
    if t.base in ("ARRAY", "MAP", "STRUCT"):
        return pa.array([value] * n, type=at)
    return pa.repeat(pa.scalar(value, type=at), n)


def null_mask(arr: pa.Array) -> np.ndarray:
    """Boolean numpy mask, True where ``arr`` is null."""
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    return np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False), dtype=bool)


def to_py(arr: pa.Array) -> list:
    """Python values; maps become dicts, temporals stay date/time/datetime objects."""
    if pa.types.is_map(arr.type) or _has_map(arr.type):
        return arr.to_pylist(maps_as_pydicts="lossy")
    return arr.to_pylist()


def _has_map(t: pa.DataType) -> bool:
    if pa.types.is_map(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_map(t.value_type)
    if pa.types.is_struct(t):
        return any(_has_map(t.field(i).type) for i in range(t.num_fields))
    return False


def from_py(values: list, t: SqlType) -> pa.Array:
    """Build an array of SQL type ``t`` from Python values (dicts accepted for maps)."""
    at = t.to_arrow()
    if t.base == "MAP" or _has_map(at):
        values = [_dicts_to_pairs(v, t) for v in values]
    return pa.array(values, type=at)


def _dicts_to_pairs(v: Any, t: SqlType) -> Any:
    if v is None:
        return None
    if t.base == "MAP":
        items = v.items() if isinstance(v, dict) else v
        return [(k, _dicts_to_pairs(x, t.item)) for k, x in items]
    if t.base == "ARRAY":
        return [_dicts_to_pairs(x, t.item) for x in v]
    if t.base == "STRUCT":
        return {n: _dicts_to_pairs(v.get(n), ft) for n, ft in t.fields}
    return v


def rowwise(args: Sequence[pa.Array], fn: Callable[..., Any], ret: SqlType, errs: Errors | None,
            null_on_null: bool = True, convert: Callable[[pa.Array], list] | None = None
            ) -> pa.Array:
    """Apply a Python scalar function row by row.

    Exceptions become a null result plus an entry in ``errs``; a ``None`` return is null.
    """
    conv = convert or to_py
    cols = [conv(a) for a in args]
    n = len(args[0]) if args else 0
    out: list = [None] * n
    for i in range(n):
        vals = [c[i] for c in cols]
        if null_on_null and any(v is None for v in vals):
            continue
        try:
            out[i] = fn(*vals)
        except Exception as e:  # noqa: BLE001 - every failure becomes a null + logged error
            if errs is not None:
                errs.add(i, _message(e))
    return from_py(out, ret)


def _message(e: Exception) -> str:
    msg = str(e)
    return msg if msg else type(e).__name__


def ints(arr: pa.Array) -> np.ndarray:
    """Integer view (nulls as 0) of an integer/temporal array, as int64 numpy."""
    if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type) or pa.types.is_time(arr.type):
        arr = arr.view(pa.int64() if arr.type.bit_width == 64 else pa.int32())
    return np.asarray(pc.fill_null(arr, 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def epoch_millis(arr: pa.Array) -> list:
    """TIMESTAMP array → list of int millis (or None)."""
    return arr.cast(pa.int64()).to_pylist()


def with_nulls(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    """``arr`` with extra nulls where ``mask`` is True."""
    if not mask.any():
        return arr
    return pc.if_else(pa.array(mask), pa.nulls(len(arr), arr.type), arr)


def decimal_of(v: Any) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(str(v))
