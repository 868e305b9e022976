"""Java-style text of values: ``Double.toString``, ``BigDecimal.toPlainString``,
``List/Map/Struct.toString`` and ksqlDB's ISO spellings of DATE/TIME/TIMESTAMP.

``java_double_str`` is ``ksqlpy.formats.javafmt.java_double_str`` when that module is present
(one implementation for the engine); the private fallback keeps this package standalone.
"""

from __future__ import annotations

import datetime as _dt
import math
from decimal import Decimal
from typing import Any

__all__ = ["java_double_str", "decimal_plain", "java_str", "format_date", "format_time",
           "format_timestamp"]


def _java_double_str(x: float) -> str:
    """``Double.toString(x)``: shortest digits; plain for 1e-3 <= |x| < 1e7 else ``d.dddE±n``."""
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    t = Decimal(repr(abs(x))).as_tuple()
    digits = "".join(map(str, t.digits))
    exp = t.exponent
    stripped = digits.rstrip("0")
    exp += len(digits) - len(stripped)
    digits = stripped or "0"
    e = len(digits) - 1 + exp          # scientific exponent
    ax = abs(x)
    if 1e-3 <= ax < 1e7:
        if e >= 0:
            ip = digits[: e + 1].ljust(e + 1, "0")
            fp = digits[e + 1:] or "0"
            return f"{sign}{ip}.{fp}"
        return f"{sign}0.{'0' * (-e - 1)}{digits}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{e}"


try:  # one implementation for the whole engine when the formats package provides it
    from ksqlpy.formats.javafmt import java_double_str  # type: ignore
except ImportError:  # pragma: no cover
    java_double_str = _java_double_str


def decimal_plain(d: Decimal) -> str:
    """``BigDecimal.toPlainString()``."""
    return format(d, "f")


def format_date(d: _dt.date) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}" if d.year >= 0 else d.isoformat()


def format_time(t: _dt.time) -> str:
    """``LocalTime.toString()``: HH:mm, HH:mm:ss or HH:mm:ss.SSS."""
    s = f"{t.hour:02d}:{t.minute:02d}"
    if t.second or t.microsecond:
        s += f":{t.second:02d}"
        if t.microsecond:
            ms = t.microsecond // 1000
            s += f".{ms:03d}"
    return s


def format_timestamp(ts: _dt.datetime) -> str:
    """ksqlDB's TIMESTAMP text: ``yyyy-MM-dd'T'HH:mm:ss.SSS`` (UTC)."""
    return (f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}T{ts.hour:02d}:{ts.minute:02d}:"
            f"{ts.second:02d}.{ts.microsecond // 1000:03d}")


def java_str(v: Any) -> str:
    """``String.valueOf`` of a ksqlDB runtime value (List/Map/Struct/Double…)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return java_double_str(v)
    if isinstance(v, Decimal):
        return str(v) if "E" in str(v) else decimal_plain(v)
    if isinstance(v, _dt.datetime):
        return format_timestamp(v)
    if isinstance(v, _dt.date):
        return format_date(v)
    if isinstance(v, _dt.time):
        return format_time(v)
    if isinstance(v, (bytes, bytearray)):
        return "[B@" + format(id(v) & 0xFFFFFF, "x")
    if isinstance(v, list):
        return "[" + ", ".join(java_str(x) for x in v) + "]"
    if isinstance(v, StructValue):
        return "Struct{" + ",".join(f"{k}={java_str(x)}" for k, x in v.items()
                                    if x is not None) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{java_str(k)}={java_str(x)}" for k, x in v.items()) + "}"
    return str(v)


class StructValue(dict):
    """Marks a dict that came from a STRUCT (so it prints as ``Struct{...}``)."""
