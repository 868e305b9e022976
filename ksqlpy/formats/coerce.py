"""Record-level value coercion (the formats' slow path and the conformance runner's helper).

Input: plain Python values as a JSON parser produces them (``dict``, ``list``, ``str``,
``bool``, ``int``, ``Decimal`` for JSON floats, or ``float``) → output: Python values that
``pa.array(values, type=sql_type.to_arrow())`` accepts (``Decimal`` at the column scale, ints
for DATE/TIME/TIMESTAMP, lists of pairs for MAP, dicts for STRUCT).

The rules follow ksqlDB's JSON deserializer (``KsqlJsonDeserializer`` / ``JsonSerdeUtils``):

* INT/BIGINT from any JSON number (fractions truncate toward zero, out-of-range values wrap
  like Java's ``intValue()``/``longValue()``) or from an integer string (strict,
  ``Integer.parseInt``); DOUBLE from numbers and ``Double.parseDouble`` strings.
* BOOLEAN only from JSON ``true``/``false`` (ksqlDB rejects the strings ``"true"``); the
  lenient mode used by :func:`to_arrow_array` also takes those strings.
* DECIMAL from a number or a string, exactly: a value needing rounding or too large for the
  precision is an error (``DecimalUtil.ensureFit``); the result has the column scale.
* STRING from anything: numbers and booleans as their text, objects as compact JSON, arrays
  as Java's ``List.toString`` (``[a, b]``) of their string-converted elements.
* BYTES from base64 strings; TIMESTAMP (epoch ms), DATE (days), TIME (ms of day) from numbers
  or integer strings.
* ARRAY/MAP/STRUCT recursively; STRUCT fields match exactly first, else by upper-cased JSON
  name; MAP keys are strings.

Errors raise :class:`CoercionError` whose message copies ksqlDB's, with a JSON path suffix,
e.g. ``Can't convert type. sourceType: TextNode, requiredType: INTEGER, path: $.FOO``.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

import msgspec

from ksqlpy.types import SqlType

__all__ = ["CoercionError", "converter", "node_type", "record_converter", "JSON_ENCODER"]

_INT_RE = re.compile(r"[+-]?[0-9]+\Z")
# Double.parseDouble: trims chars <= ' ', optional sign, NaN/Infinity, optional f/d suffix.
_DOUBLE_RE = re.compile(
    r"[\x00-\x20]*[+-]?(NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?)"
    r"[\x00-\x20]*\Z")
_BIGDEC_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")

#: Compact JSON with decimals as numbers (Jackson's writeValueAsString equivalent).
JSON_ENCODER = msgspec.json.Encoder(decimal_format="number")

_I32 = 1 << 32
_I64 = 1 << 64


class CoercionError(ValueError):
    """A value that cannot be coerced; ``raw`` is the message without the path."""

    def __init__(self, raw: str, path: str = ""):
        self.raw = raw
        self.path = path
        super().__init__(f"{raw}, path: {path}" if path else raw)

    def under(self, prefix: str) -> CoercionError:
        return CoercionError(self.raw, prefix + self.path)


def node_type(v: Any) -> str:
    """The Jackson node class a parsed JSON value would have (for error messages)."""
    if isinstance(v, bool):
        return "BooleanNode"
    if isinstance(v, int):
        if -(1 << 31) <= v < (1 << 31):
            return "IntNode"
        if -(1 << 63) <= v < (1 << 63):
            return "LongNode"
        return "BigIntegerNode"
    if isinstance(v, (Decimal, float)):
        return "DecimalNode"
    if isinstance(v, str):
        return "TextNode"
    if isinstance(v, (list, tuple)):
        return "ArrayNode"
    if isinstance(v, dict):
        return "ObjectNode"
    return type(v).__name__


def _invalid(v: Any, t: SqlType | str) -> CoercionError:
    req = t if isinstance(t, str) else t.sql(quote_fields=False)
    return CoercionError(f"Can't convert type. sourceType: {node_type(v)}, requiredType: {req}")


def _failed_string(target: str) -> CoercionError:
    return CoercionError(f"Can't coerce string to type. targetType: {target}")


def _wrap(x: int, mod: int) -> int:
    x %= mod
    return x - mod if x >= mod >> 1 else x


def _to_decimal(v: Any) -> Decimal:
    """A JSON number as an exact Decimal (floats via their shortest repr)."""
    if isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise CoercionError(f"Cannot convert non-finite value {v} to a number")
        return Decimal(repr(v))
    return Decimal(v)


def _integral(v: Any, mod: int) -> int:
    """Java ``intValue()``/``longValue()`` of a numeric node: truncate, then wrap."""
    if isinstance(v, int):
        return _wrap(v, mod) if not (-(mod >> 1) <= v < (mod >> 1)) else v
    d = _to_decimal(v)
    if not d.is_finite():
        raise CoercionError(f"Cannot convert non-finite value {v} to an integer")
    return _wrap(int(d), mod)


def _parse_int_str(s: str, bits: int, target: str) -> int:
    if not _INT_RE.match(s):
        raise _failed_string(target)
    x = int(s)
    if not (-(1 << (bits - 1)) <= x < (1 << (bits - 1))):
        raise _failed_string(target)
    return x


def _make_int(target: str, bits: int, lenient: bool) -> Callable[[Any], int]:
    mod = 1 << bits

    def conv(v):
        if v.__class__ is int:
            return v if -(mod >> 1) <= v < (mod >> 1) else _wrap(v, mod)
        if isinstance(v, bool):
            raise _invalid(v, target)
        if isinstance(v, (int, Decimal, float)):
            return _integral(v, mod)
        if isinstance(v, str):
            return _parse_int_str(v.strip() if lenient else v, bits, target)
        raise _invalid(v, target)
    return conv


def _parse_java_double(s: str) -> float:
    m = _DOUBLE_RE.match(s)
    if not m:
        raise _failed_string("DOUBLE")
    body = s.strip("".join(chr(c) for c in range(0x21)))
    if body[-1] in "fFdD" and not body.endswith("Infinity") and not body.endswith("NaN"):
        body = body[:-1]
    return float(body)


def _double(v):
    c = v.__class__
    if c is float:
        return v
    if c is int or c is Decimal:
        try:
            return float(v)
        except OverflowError:
            return math.inf if v > 0 else -math.inf
    if isinstance(v, bool):
        raise _invalid(v, "DOUBLE")
    if isinstance(v, str):
        return _parse_java_double(v)
    raise _invalid(v, "DOUBLE")


def _boolean(lenient: bool):
    def conv(v):
        if v is True or v is False:
            return v
        if lenient and isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
        raise _invalid(v, "BOOLEAN")
    return conv


def _java_bigdecimal_text(d: Decimal) -> str:
    return str(d)   # Python's to-sci-string matches BigDecimal.toString()


def _string_of(v: Any) -> str:
    c = v.__class__
    if c is str:
        return v
    if c is bool:
        return "true" if v else "false"
    if c is int:
        return str(v)
    if c is Decimal:
        return _java_bigdecimal_text(v)
    if c is float:
        return _java_bigdecimal_text(_to_decimal(v)) if math.isfinite(v) else repr(v)
    if c is dict:
        return JSON_ENCODER.encode(v).decode()
    if c is list or c is tuple:
        return "[" + ", ".join("null" if x is None else _string_of(x) for x in v) + "]"
    return str(v)


def decimal_fit(d: Decimal, precision: int, scale: int) -> Decimal:
    """``DecimalUtil.ensureFit``: exact conversion to DECIMAL(p, s) or an error."""
    if not d.is_finite():
        raise CoercionError(f"Cannot fit decimal '{d}' into DECIMAL({precision}, {scale})")
    digits = precision - scale
    if abs(d) >= Decimal(10) ** digits:
        raise CoercionError(
            f"Numeric field overflow: A field with precision {precision} and scale {scale} "
            f"must round to an absolute value less than 10^{digits}. Got {d:f}")
    q = d.quantize(Decimal(1).scaleb(-scale))
    if q != d:
        sign, dig, exp = d.as_tuple()
        raise CoercionError(
            f"Cannot fit decimal '{d:f}' into DECIMAL({precision}, {scale}) without rounding. "
            f"(Requires {len(dig)},{-exp})")
    return q


def _make_decimal(t: SqlType, lenient: bool):
    p, s = t.precision, t.scale
    req = t.sql(quote_fields=False)

    def conv(v):
        if isinstance(v, bool):
            raise _invalid(v, req)
        if isinstance(v, (int, Decimal, float)):
            return decimal_fit(_to_decimal(v), p, s)
        if isinstance(v, str):
            text = v.strip() if lenient else v
            if not _BIGDEC_RE.match(text):
                raise CoercionError(f"Invalid decimal string: '{v}'")
            try:
                return decimal_fit(Decimal(text), p, s)
            except InvalidOperation:
                raise CoercionError(f"Invalid decimal string: '{v}'") from None
        raise _invalid(v, req)
    return conv


def _bytes(v):
    if isinstance(v, str):
        try:
            return base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise CoercionError(f"Value is not a valid Base64 encoded string: {v}") from None
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    raise _invalid(v, "BYTES")


def _make_temporal(target: str, bits: int):
    mod = 1 << bits

    def conv(v):
        if v.__class__ is int and -(mod >> 1) <= v < (mod >> 1):
            return v
        if isinstance(v, bool):
            raise _invalid(v, target)
        if isinstance(v, (int, Decimal, float)):
            return _integral(v, mod)
        if isinstance(v, str):
            return _parse_int_str(v, bits, target)
        raise _invalid(v, target)
    return conv


def _make_array(t: SqlType, lenient: bool):
    item = converter(t.item, lenient)
    req = t.sql(quote_fields=False)

    def conv(v):
        if not isinstance(v, (list, tuple)):
            raise _invalid(v, req)
        out = []
        for i, x in enumerate(v):
            if x is None:
                out.append(None)
                continue
            try:
                out.append(item(x))
            except CoercionError as e:
                raise e.under(f"[{i}]") from None
        return out
    return conv


def _make_map(t: SqlType, lenient: bool):
    val = converter(t.item, lenient)
    key = converter(t.key, lenient)
    req = t.sql(quote_fields=False)

    def conv(v):
        if isinstance(v, dict):
            items = v.items()
        elif lenient and isinstance(v, (list, tuple)):
            items = v     # already a list of (key, value) pairs
        else:
            raise _invalid(v, req)
        out = []
        for k, x in items:
            try:
                kk = key(k) if k is not None else None
            except CoercionError as e:
                raise e.under(f".{k}.key") from None
            try:
                out.append((kk, None if x is None else val(x)))
            except CoercionError as e:
                raise e.under(f".{k}.value") from None
        return out
    return conv


def _make_struct(t: SqlType, lenient: bool):
    fields = [(name, converter(ft, lenient)) for name, ft in t.fields]
    req = t.sql(quote_fields=False)

    def conv(v):
        if not isinstance(v, dict):
            raise _invalid(v, req)
        return _convert_fields(v, fields)
    return conv


def _convert_fields(obj: dict, fields) -> dict:
    """Match ``obj``'s keys to ``fields`` the ksqlDB way and convert each value."""
    out = {}
    upper = None
    for name, conv in fields:
        if name in obj:
            x = obj[name]
        else:
            if upper is None:
                upper = {k.upper(): val for k, val in obj.items()}
            x = upper.get(name)
        if x is None:
            out[name] = None
            continue
        try:
            out[name] = conv(x)
        except CoercionError as e:
            raise e.under("." + name) from None
    return out


_INT = {False: _make_int("INTEGER", 32, False), True: _make_int("INTEGER", 32, True)}
_BIGINT = {False: _make_int("BIGINT", 64, False), True: _make_int("BIGINT", 64, True)}


def converter(t: SqlType, lenient: bool = False) -> Callable[[Any], Any]:
    """A function converting one non-null parsed JSON value to the Python value for ``t``."""
    b = t.base
    if b == "INTEGER":
        return _INT[lenient]
    if b == "BIGINT":
        return _BIGINT[lenient]
    if b == "DOUBLE":
        return _double
    if b == "STRING":
        return _string_of
    if b == "BOOLEAN":
        return _boolean(lenient)
    if b == "DECIMAL":
        return _make_decimal(t, lenient)
    if b == "BYTES":
        return _bytes
    if b == "TIMESTAMP":
        return _make_temporal("TIMESTAMP", 64)
    if b == "DATE":
        return _make_temporal("DATE", 32)
    if b == "TIME":
        return _make_temporal("TIME", 32)
    if b == "ARRAY":
        return _make_array(t, lenient)
    if b == "MAP":
        return _make_map(t, lenient)
    if b == "STRUCT":
        return _make_struct(t, lenient)
    raise ValueError(f"Type is not supported: {t}")


def record_converter(names_types: list[tuple[str, SqlType]], lenient: bool = False):
    """Converter of a whole wrapped record (a JSON object) to a dict of column values."""
    fields = [(n, converter(t, lenient)) for n, t in names_types]
    req = "STRUCT<" + ", ".join(f"{n} {t.sql(quote_fields=False)}" for n, t in names_types) + ">"

    def conv(obj):
        if not isinstance(obj, dict):
            raise _invalid(obj, req)
        return _convert_fields(obj, fields)
    return conv
