"""ksqlDB's ``ExpectedRecordComparator`` rules, over Python values.

Expected values come from the QTT file, parsed with exact decimals (``parse_float=Decimal``),
so a JSON number is an ``int`` or a ``Decimal``. Actual values are what the test-side serde
decoded from the output bytes (see :mod:`ksqlpy.conformance.serde`), standing in for the Java
objects the ksqlDB runner compares:

========================  =============================================
actual Python value        Java object in ksqlDB's runner
========================  =============================================
``None``                   ``null``
``bool``                   ``Boolean``
``int``                    ``Integer`` / ``Long`` (``BigInteger`` if wider: never equal)
``float``                  ``Double`` (compared within 1e-6): KAFKA DOUBLE, and JSON
                           numbers in DOUBLE columns (see serde.doubles_as_floats)
``Decimal``                ``BigDecimal``: other JSON floats, read as exact decimals
``str``                    ``String``
``bytes``                  ``ByteBuffer`` (compared to a base64 string)
``list`` / ``dict``        ``List`` / ``Map``
========================  =============================================

Rules (the Java source, ksqldb-functional-tests ``ExpectedRecordComparator``):

- object: the actual must be a map with the same number of fields; each expected field is
  looked up as written, then upper-cased;
- array: same length, element by element;
- number: ``Integer``/``Long`` actual: ``expected.intValue()/longValue() == actual`` (a decimal
  expected value is truncated, as Java does); ``Double``: ``|expected - actual| < 1e-6``;
  ``BigDecimal``: an integer expected value matches only an actual of scale <= 0 with the same
  value, a decimal expected value must be ``BigDecimal.equals`` (same value *and* scale);
- string: equals a ``String``; or a ``BigDecimal`` via ``new BigDecimal(text).equals``;
  or bytes via base64;
- boolean and null: exact.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import json
from decimal import Decimal
from typing import Any

__all__ = ["matches", "explain", "decimal_equals", "headers_match", "fmt_value"]

DOUBLE_TOLERANCE = 0.000_001

_INT32 = (-(2 ** 31), 2 ** 31 - 1)
_INT64 = (-(2 ** 63), 2 ** 63 - 1)


def decimal_equals(a: Decimal, b: Decimal) -> bool:
    """``BigDecimal.equals``: equal value and equal scale (``1.10 != 1.1``)."""
    if not (a.is_finite() and b.is_finite()):
        return False
    return a == b and a.as_tuple().exponent == b.as_tuple().exponent


def _scale(d: Decimal) -> int:
    return -d.as_tuple().exponent  # type: ignore[operator]


def _java_int_value(expected: int | Decimal) -> int:
    """``NumericNode.intValue()/longValue()`` for a value that fits (decimals are truncated)."""
    if isinstance(expected, Decimal):
        return int(expected)  # truncates toward zero, like BigDecimal.longValue()
    return expected


def _compare_number(actual: Any, expected: int | Decimal) -> bool:
    if isinstance(actual, bool):
        return False
    if isinstance(actual, int):
        if not (_INT64[0] <= actual <= _INT64[1]):
            return False  # a BigInteger in Java: no comparator branch handles it
        try:
            return _java_int_value(expected) == actual
        except (ValueError, OverflowError, decimal.InvalidOperation):
            return False
    if isinstance(actual, float):
        try:
            return abs(float(expected) - actual) < DOUBLE_TOLERANCE
        except (ValueError, OverflowError):
            return False
    if isinstance(actual, Decimal):
        if not actual.is_finite():
            return False
        if isinstance(expected, int):
            # Only match if actual has no decimal places.
            if _scale(actual) > 0:
                return False
            return int(actual) == expected
        return decimal_equals(expected, actual)
    return False


def _compare_text(actual: Any, expected: str) -> bool:
    if isinstance(actual, str):
        return actual == expected
    if isinstance(actual, Decimal):
        try:
            return decimal_equals(_java_big_decimal(expected), actual)
        except (decimal.InvalidOperation, ValueError):
            return False
    if isinstance(actual, (bytes, bytearray)):
        try:
            return base64.b64decode(expected, validate=True) == bytes(actual)
        except (binascii.Error, ValueError):
            return False
    return False


def _java_big_decimal(text: str) -> Decimal:
    """``new BigDecimal(text)``: stricter than Python's Decimal (no spaces, no NaN/Infinity)."""
    if not text or text != text.strip() or "_" in text:
        raise ValueError(text)
    d = Decimal(text)
    if not d.is_finite():
        raise ValueError(text)
    return d


def matches(actual: Any, expected: Any) -> bool:
    """Does ``actual`` (a decoded record part) match ``expected`` (from the QTT file)?"""
    return explain(actual, expected) is None


def explain(actual: Any, expected: Any, path: str = "value") -> str | None:
    """None when ``actual`` matches ``expected``; else a short description of the first
    difference (with a path such as ``.F1[2]``)."""
    where = path
    if expected is None:
        return None if actual is None else f"{where}: expected null, got {fmt_value(actual)}"
    if isinstance(expected, bool):
        if isinstance(actual, bool) and actual == expected:
            return None
        return f"{where}: expected {fmt_value(expected)}, got {fmt_value(actual)}"
    if isinstance(expected, (int, Decimal)):
        if _compare_number(actual, expected):
            return None
        return f"{where}: expected {fmt_value(expected)}, got {fmt_value(actual)}{_why_number(actual, expected)}"
    if isinstance(expected, float):  # only if a caller parsed floats as binary doubles
        return explain(actual, Decimal(repr(expected)), path)
    if isinstance(expected, str):
        if _compare_text(actual, expected):
            return None
        return f"{where}: expected {fmt_value(expected)}, got {fmt_value(actual)}"
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{where}: expected an array, got {fmt_value(actual)}"
        if len(actual) != len(expected):
            return (f"{where}: expected an array of {len(expected)} elements, got "
                    f"{len(actual)}: {fmt_value(actual)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            r = explain(a, e, f"{path}[{i}]")
            if r is not None:
                return r
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected an object, got {fmt_value(actual)}"
        if len(actual) != len(expected):
            return (f"{where}: expected {len(expected)} fields {sorted(expected)}, got "
                    f"{len(actual)} fields {sorted(map(str, actual))}")
        for k, e in expected.items():
            a = actual.get(k)
            if a is None:
                a = actual.get(k.upper())
            r = explain(a, e, f"{path}.{k}")
            if r is not None:
                return r
        return None
    raise ValueError(f"KSQL Testing Tool cannot expect JSON node type: {type(expected).__name__}")


def _why_number(actual: Any, expected: Any) -> str:
    if isinstance(actual, Decimal) and isinstance(expected, Decimal) and actual == expected:
        return f" (same value, different scale: {_scale(expected)} vs {_scale(actual)})"
    if isinstance(actual, Decimal) and isinstance(expected, int) and actual == expected:
        return f" (actual has scale {_scale(actual)}; an integer expects scale 0)"
    return ""


def headers_match(actual: list[tuple[str, bytes | None]],
                  expected: list[tuple[str, bytes | None]]) -> bool:
    """Same count, and each header's key and value bytes equal, in order."""
    if len(actual) != len(expected):
        return False
    return all(ak == ek and av == ev for (ak, av), (ek, ev) in zip(actual, expected))


def fmt_value(v: Any) -> str:
    """A compact, JSON-like rendering for failure messages (decimals keep their scale)."""
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (bytes, bytearray)):
        return "b64:" + base64.b64encode(bytes(v)).decode()
    if isinstance(v, (list, dict)):
        return _dumps(v)
    return json.dumps(v, ensure_ascii=False) if isinstance(v, (str, bool)) or v is None else str(v)


def _dumps(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_dumps(x)}"
                              for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_dumps(x) for x in v) + "]"
    return fmt_value(v)
