"""CAST and implicit conversions between SQL types, over whole Arrow arrays.

The supported pairs follow ksqlDB's ``CastEvaluator``: numbers among themselves and to/from
STRING, BOOLEAN ↔ STRING, temporals ↔ STRING and among themselves, ARRAY/MAP/STRUCT
element-wise, and anything to STRING (Java ``toString`` forms). A value that cannot be
converted becomes null and reports an error on its row.
"""

from __future__ import annotations

import datetime as _dt
import re
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.errors import AnalysisError
from ksqlpy.expr import javafmt
from ksqlpy.expr.runtime import EPOCH_DATE, EPOCH_TS, Errors, as_array, from_py, rowwise, to_py
from ksqlpy.types import STRING, SqlType, is_numeric

__all__ = ["check_cast", "cast", "can_cast", "coerce", "to_decimal", "parse_timestamp",
           "parse_date", "parse_time", "typed_str", "parse_java_double", "parse_java_int",
           "parse_boolean"]

_TEMPORAL = ("DATE", "TIME", "TIMESTAMP")
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def can_cast(src: SqlType, dst: SqlType) -> bool:
    s, d = src.base, dst.base
    if s == "NULL" or src == dst:
        return True
    if d == "STRING":
        return True
    if is_numeric(src) and is_numeric(dst):
        return True
    if s == "STRING":
        return d in ("BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "DECIMAL") + _TEMPORAL
    if s in _TEMPORAL and d in _TEMPORAL:
        return (s, d) in {("TIMESTAMP", "DATE"), ("TIMESTAMP", "TIME"), ("DATE", "TIMESTAMP")}
    if s == d == "ARRAY":
        return can_cast(src.item, dst.item)
    if s == d == "MAP":
        return can_cast(src.key, dst.key) and can_cast(src.item, dst.item)
    if s == d == "STRUCT":
        for name, ft in src.fields:
            other = dst.field(name)
            if other is not None and not can_cast(ft, other):
                return False
        return True
    return False


def check_cast(src: SqlType, dst: SqlType) -> None:
    if not can_cast(src, dst):
        raise AnalysisError(f"Cast of {src} to {dst} is not supported")


def coerce(arr: pa.Array, src: SqlType, dst: SqlType) -> pa.Array:
    """Implicit (widening) conversion; never fails at run time except decimal overflow."""
    return cast(arr, src, dst, None)


def cast(arr: pa.Array, src: SqlType, dst: SqlType, errs: Errors | None) -> pa.Array:
    arr = as_array(arr)
    if src == dst:
        return arr
    s, d = src.base, dst.base
    n = len(arr)
    if s == "NULL" or arr.null_count == n:
        return pa.nulls(n, dst.to_arrow())
    if d == "STRING":
        return _to_string(arr, src)
    if is_numeric(src) and is_numeric(dst):
        return _num_to_num(arr, src, dst, errs)
    if s == "STRING":
        return _from_string(arr, dst, errs)
    if s == "BIGINT" and d == "TIMESTAMP":
        return arr.cast(pa.timestamp("ms"))
    if s == "TIMESTAMP" and d == "DATE":
        ms = arr.cast(pa.int64())
        days = pc.floor(pc.divide(pc.cast(ms, pa.float64()), 86400000.0))
        return pc.cast(days, pa.int32()).cast(pa.date32())
    if s == "TIMESTAMP" and d == "TIME":
        ms = np.asarray(pc.fill_null(arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False))
        tod = np.mod(ms, 86400000).astype(np.int32)
        return pa.array(tod, mask=_mask(arr)).cast(pa.time32("ms"))
    if s == "DATE" and d == "TIMESTAMP":
        days = arr.cast(pa.int32()).cast(pa.int64())
        return pc.multiply(days, 86400000).cast(pa.timestamp("ms"))
    if s == d == "ARRAY":
        vals = cast(_list_values(arr), src.item, dst.item, None)
        return _rebuild_list(arr, vals, dst)
    if s == d == "MAP":
        keys = cast(_flat(arr.keys, arr), src.key, dst.key, None)
        items = cast(_flat(arr.items, arr), src.item, dst.item, None)
        offs = _offsets(arr)
        return pa.MapArray.from_arrays(offs, keys, items, type=dst.to_arrow(),
                                       mask=pc.is_null(arr))
    if s == d == "STRUCT":
        children, names = [], []
        for name, ft in dst.fields:
            sft = src.field(name)
            if sft is None:
                children.append(pa.nulls(n, ft.to_arrow()))
            else:
                children.append(cast(as_array(pc.struct_field(arr, [_idx(src, name)])), sft, ft,
                                     errs))
            names.append(name)
        return pa.StructArray.from_arrays(children, fields=[pa.field(nm, c.type) for nm, c in
                                                            zip(names, children)],
                                          mask=pc.is_null(arr))
    raise AnalysisError(f"Cast of {src} to {dst} is not supported")


def _idx(t: SqlType, name: str) -> int:
    for i, (nm, _) in enumerate(t.fields):
        if nm == name:
            return i
    raise KeyError(name)


def _mask(arr: pa.Array):
    if arr.null_count == 0:
        return None
    return np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False), dtype=bool)


def _offsets(arr: pa.Array) -> pa.Array:
    offs = arr.offsets
    first = offs[0].as_py()
    if first:
        offs = pc.subtract(offs, first)
    return offs


def _flat(child: pa.Array, arr: pa.Array) -> pa.Array:
    offs = arr.offsets
    a, b = offs[0].as_py(), offs[len(offs) - 1].as_py()
    return child.slice(a, b - a)


def _list_values(arr: pa.Array) -> pa.Array:
    return _flat(arr.values, arr)


def _rebuild_list(arr: pa.Array, values: pa.Array, dst: SqlType) -> pa.Array:
    return pa.ListArray.from_arrays(_offsets(arr), values, type=dst.to_arrow(),
                                    mask=pc.is_null(arr))


# --------------------------------------------------------------------------- numbers

def _num_to_num(arr: pa.Array, src: SqlType, dst: SqlType, errs: Errors | None) -> pa.Array:
    s, d = src.base, dst.base
    if d == "DOUBLE":
        return pc.cast(arr, pa.float64())
    if d in ("INTEGER", "BIGINT"):
        target = pa.int32() if d == "INTEGER" else pa.int64()
        if s in ("INTEGER", "BIGINT"):
            return pc.cast(arr, target, safe=False)         # Java narrowing wraps
        if s == "DOUBLE":
            # Java (int)/(long) of a double: truncate, saturate, NaN → 0
            lo, hi = (INT32_MIN, INT32_MAX) if d == "INTEGER" else (INT64_MIN, INT64_MAX)
            vals = np.asarray(pc.fill_null(arr, 0.0).to_numpy(zero_copy_only=False))
            with np.errstate(invalid="ignore"):
                t = np.trunc(np.nan_to_num(vals, nan=0.0, posinf=float(hi), neginf=float(lo)))
            if d == "BIGINT":
                big, small = t >= 2.0 ** 63, t < -(2.0 ** 63)
                safe = np.where(big | small, 0.0, t).astype(np.int64)
                out = np.where(big, INT64_MAX, np.where(small, INT64_MIN, safe))
            else:
                out = np.clip(t, lo, hi).astype(np.int64)
            return pa.array(out, mask=_mask(arr)).cast(target)
        # DECIMAL → int: BigDecimal.intValue()/longValue(): truncate, keep low-order bits
        vals = to_py(arr)
        bits = 32 if d == "INTEGER" else 64
        out = [None if v is None else _wrap(int(v), bits) for v in vals]
        return pa.array(out, type=target)
    if d == "DECIMAL":
        return to_decimal(arr, src, dst, errs)
    raise AnalysisError(f"Cast of {src} to {dst} is not supported")


def _wrap(v: int, bits: int) -> int:
    m = 1 << bits
    v &= m - 1
    return v - m if v >= (m >> 1) else v


def to_decimal(arr: pa.Array, src: SqlType, dst: SqlType, errs: Errors | None) -> pa.Array:
    p, s = dst.precision, dst.scale
    s_base = src.base
    q = Decimal(1).scaleb(-s)

    if s_base == "DECIMAL" and src.scale <= s and src.precision - src.scale <= p - s:
        return pc.cast(arr, dst.to_arrow())          # exact widening, vectorized

    def conv(v):
        if s_base == "DOUBLE":
            if v != v or v in (float("inf"), float("-inf")):
                raise ArithmeticError(f"Infinite or NaN: {v}")
            d = Context(prec=p, rounding=ROUND_HALF_UP).plus(Decimal(v))
        elif s_base == "STRING":
            d = _parse_decimal(v)
        else:
            d = Decimal(v)
        _ensure_max(d, p, s)
        return d.quantize(q, rounding=ROUND_HALF_UP, context=Context(prec=200))
    return rowwise([arr], conv, dst, errs)


def _ensure_max(d: Decimal, p: int, s: int) -> None:
    digits = p - s
    if abs(d) >= Decimal(10) ** digits:
        raise ArithmeticError(
            f"Numeric field overflow: A field with precision {p} and scale {s} must round to an "
            f"absolute value less than 10^{digits}. Got {javafmt.decimal_plain(d)}")


_DEC_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _parse_decimal(text: str) -> Decimal:
    t = text.strip()
    if not _DEC_RE.match(t):
        raise ValueError(f"Character array is missing \"exponent\" mark 'e' or 'E': {text}"
                         if t else "Index 0 out of bounds for length 0")
    try:
        return Decimal(t)
    except InvalidOperation as e:
        raise ValueError(str(e)) from None


# --------------------------------------------------------------------------- strings

_JAVA_INT_RE = re.compile(r"^[+-]?\d+$")


def parse_java_int(text: str, bits: int) -> int:
    """``Integer.parseInt`` / ``Long.parseLong`` of trimmed text."""
    t = text.strip()
    if not _JAVA_INT_RE.match(t):
        raise ValueError(f'For input string: "{t}"')
    v = int(t)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if v < lo or v > hi:
        raise ValueError(f'For input string: "{t}"' + ("" if bits == 32 else ""))
    return v


_JAVA_DOUBLE_RE = re.compile(
    r"^[+-]?(NaN|Infinity|((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)[fFdD]?)$")


def parse_java_double(text: str) -> float:
    """``Double.parseDouble`` of trimmed text."""
    t = text.strip()
    if not _JAVA_DOUBLE_RE.match(t):
        raise ValueError(f'For input string: "{t}"' if t else "empty String")
    if t[-1] in "fFdD" and not t.endswith("Infinity"):
        t = t[:-1]
    return float(t.replace("Infinity", "inf"))


_TRUE = {"true", "t", "yes", "y"}
_FALSE = {"false", "f", "no", "n"}


def parse_boolean(text: str) -> bool:
    """ksqlDB's ``SqlBooleans.parseBoolean``: true/t/yes/y, anything else false."""
    return text.strip().lower() in _TRUE


def parse_boolean_strict(text: str) -> bool:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError(f'invalid input syntax for type BOOLEAN: "{text}".')


_TS_RE = re.compile(
    r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})(?:[T ](\d{1,2})(?::(\d{1,2})(?::(\d{1,2})"
    r"(?:\.(\d{1,9}))?)?)?)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$")


def parse_timestamp(text: str) -> int:
    """Epoch millis of an ISO-8601 (possibly partial) timestamp string, UTC unless zoned."""
    m = _TS_RE.match(text.strip())
    if not m:
        raise ValueError(f"Failed to parse timestamp '{text}': Text '{text}' could not be "
                         "parsed")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    frac_ms = int((frac or "0").ljust(3, "0")[:3])
    dt = _dt.datetime(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0),
                      int(s or 0), frac_ms * 1000)
    ms = _millis(dt)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        z = zone[1:].replace(":", "")
        off = int(z[:2]) * 60 + (int(z[2:4]) if len(z) > 2 else 0)
        ms -= sign * off * 60000
    return ms


def _millis(dt: _dt.datetime) -> int:
    delta = dt - EPOCH_TS
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


def parse_date(text: str) -> int:
    m = _DATE_RE.match(text.strip())
    if not m:
        raise ValueError(f"Failed to parse date '{text}'")
    y, mo, d = m.groups()
    return (_dt.date(int(y), int(mo or 1), int(d or 1)) - EPOCH_DATE).days


_TIME_RE = re.compile(r"^(\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?)?$")


def parse_time(text: str) -> int:
    m = _TIME_RE.match(text.strip())
    if not m:
        raise ValueError(f"Failed to parse time '{text}'")
    h, mi, s, frac = m.groups()
    h, mi, s = int(h), int(mi or 0), int(s or 0)
    if h > 23 or mi > 59 or s > 59:
        raise ValueError(f"Failed to parse time '{text}'")
    return ((h * 60 + mi) * 60 + s) * 1000 + int((frac or "0").ljust(3, "0")[:3])


def _from_string(arr: pa.Array, dst: SqlType, errs: Errors | None) -> pa.Array:
    d = dst.base
    if d == "INTEGER":
        return rowwise([arr], lambda v: parse_java_int(v, 32), dst, errs)
    if d == "BIGINT":
        return rowwise([arr], lambda v: parse_java_int(v, 64), dst, errs)
    if d == "DOUBLE":
        return rowwise([arr], parse_java_double, dst, errs)
    if d == "BOOLEAN":
        return rowwise([arr], parse_boolean, dst, errs)
    if d == "DECIMAL":
        return to_decimal(arr, STRING, dst, errs)
    if d == "TIMESTAMP":
        return rowwise([arr], parse_timestamp, SqlType("BIGINT"), errs).cast(pa.timestamp("ms"))
    if d == "DATE":
        return rowwise([arr], parse_date, SqlType("INTEGER"), errs).cast(pa.date32())
    if d == "TIME":
        return rowwise([arr], parse_time, SqlType("INTEGER"), errs).cast(pa.time32("ms"))
    raise AnalysisError(f"Cast of STRING to {dst} is not supported")


def _to_string(arr: pa.Array, src: SqlType) -> pa.Array:
    b = src.base
    if b in ("INTEGER", "BIGINT"):
        return pc.cast(arr, pa.string())
    if b == "BOOLEAN":
        return pc.if_else(arr, "true", "false")
    if b == "DOUBLE":
        return pa.array([None if v is None else javafmt.java_double_str(v)
                         for v in arr.to_pylist()], type=pa.string())
    if b == "DECIMAL":
        return pa.array([None if v is None else javafmt.decimal_plain(v)
                         for v in arr.to_pylist()], type=pa.string())
    vals = to_py(arr)
    return pa.array([None if v is None else typed_str(v, src) for v in vals], type=pa.string())


def typed_str(v, t: SqlType) -> str:
    """Java ``String.valueOf`` of a runtime value of SQL type ``t``."""
    if v is None:
        return "null"
    b = t.base
    if b == "ARRAY":
        return "[" + ", ".join(typed_str(x, t.item) for x in v) + "]"
    if b == "MAP":
        items = v.items() if isinstance(v, dict) else v
        return "{" + ", ".join(f"{typed_str(k, t.key)}={typed_str(x, t.item)}"
                               for k, x in items) + "}"
    if b == "STRUCT":
        parts = [f"{n}={typed_str(v.get(n), ft)}" for n, ft in t.fields if v.get(n) is not None]
        return "Struct{" + ",".join(parts) + "}"
    if b == "BYTES":
        return "[B@" + format(hash(bytes(v)) & 0xFFFFFFF, "x")
    if b == "DECIMAL":
        return javafmt.decimal_plain(v)
    return javafmt.java_str(v)


def strings_of(arr: pa.Array, t: SqlType) -> pa.Array:
    """Public: the STRING form of any array (as CAST(x AS STRING))."""
    return _to_string(as_array(arr), t) if t.base != "STRING" else arr


def from_py_typed(values: list, t: SqlType) -> pa.Array:
    return from_py(values, t)
