"""Java number formatting (shared by the formats, CAST and the REST writers).

ksqlDB writes DOUBLE values with ``Double.toString`` wherever a double becomes text: DELIMITED
fields, ``CAST(x AS STRING)``, string concatenation. QTT compares DELIMITED values as raw
strings, so the spelling matters.

>>> [java_double_str(x) for x in (1.0, 0.1, 1e10, 1.23e-5, 100.5, -0.0, float("nan"))]
['1.0', '0.1', '1.0E10', '1.23E-5', '100.5', '-0.0', 'NaN']
"""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["java_double_str", "java_double_str_array", "java_bigdecimal_str"]


def java_double_str(x: float) -> str:
    """``Double.toString(x)``: plain notation for 1e-3 <= |x| < 1e7, else ``d.dddE[-]n``.

    Digits are the shortest that round-trip (Python's ``repr``), which is what Java produces
    from JDK 19 on (older JDKs occasionally print one digit more).
    """
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    if abs(x) == 5e-324:
        # Java renders Double.MIN_VALUE with two digits (the closest 2-digit decimal)
        return "-4.9E-324" if x < 0 else "4.9E-324"
    r = repr(float(x))
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    # split repr into digits and a decimal exponent: value = 0.d1d2d3... * 10**point
    mant, _, exp = r.partition("e")
    e = int(exp) if exp else 0
    ip, _, fp = mant.partition(".")
    digits = (ip + fp).lstrip("0")
    point = len(ip) + e                       # position of the decimal point in ip+fp
    lead_zeros = len(ip + fp) - len((ip + fp).lstrip("0"))
    point -= lead_zeros
    digits = digits.rstrip("0") or "0"
    ax = abs(x)
    if 1e-3 <= ax < 1e7:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{sign}{digits}{'0' * (point - len(digits))}.0"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    frac = digits[1:] or "0"
    return f"{sign}{digits[0]}.{frac}E{point - 1}"


def java_double_str_array(arr: pa.Array) -> pa.Array:
    """Vectorized ``java_double_str`` over a float64 array (nulls stay null) → string array.

    Arrow's shortest round-trip formatting is used where it already prints plain notation
    (1e-3 <= |x| < 1e7); the rest goes through :func:`java_double_str` per value.
    """
    arr = arr.cast(pa.float64()) if arr.type != pa.float64() else arr
    text = pc.cast(arr, pa.string())
    ax = pc.abs(arr)
    plain = pc.and_(pc.greater_equal(ax, 1e-3), pc.less(ax, 1e7))
    needs_point = pc.invert(pc.match_substring(text, "."))
    text = pc.if_else(pc.and_(plain, needs_point), pc.binary_join_element_wise(text, ".0", ""),
                      text)
    odd = pc.invert(pc.fill_null(plain, True))       # zeros, NaN, inf, tiny, huge (not nulls)
    if pc.any(odd).as_py():
        idx = pc.indices_nonzero(odd).to_pylist()
        vals = arr.take(pa.array(idx)).to_pylist()
        repl = pa.array([java_double_str(v) for v in vals], pa.string())
        mask = pa.array(odd.to_numpy(zero_copy_only=False))
        text = pc.replace_with_mask(text, mask, repl)
    return text


def java_bigdecimal_str(unscaled: int, scale: int) -> str:
    """``BigDecimal.toString()`` (scientific when the adjusted exponent is < -6 or scale < 0)."""
    neg = unscaled < 0
    digits = str(abs(unscaled))
    adjusted = len(digits) - 1 - scale
    if scale >= 0 and adjusted >= -6:
        if scale == 0:
            out = digits
        elif len(digits) > scale:
            out = f"{digits[:-scale]}.{digits[-scale:]}"
        else:
            out = f"0.{'0' * (scale - len(digits))}{digits}"
    else:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        out = f"{mant}E{'+' if adjusted > 0 else ''}{adjusted}"
    return ("-" if neg else "") + out
