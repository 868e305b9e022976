"""Mathematical functions."""

from __future__ import annotations

import math
import random as _random
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.expr.registry import Call, scalar
from ksqlpy.expr.runtime import null_mask
from ksqlpy.types import DOUBLE, SqlType

CAT = "MATHEMATICAL"
NUMS = ("INTEGER", "BIGINT", "DOUBLE")


def _same(types):
    return types[0]


def _dbl(c: Call, i: int = 0) -> np.ndarray:
    return np.asarray(pc.fill_null(c.args[i].cast(pa.float64()), 0.0)
                      .to_numpy(zero_copy_only=False), dtype=np.float64)


def _mask(c: Call) -> np.ndarray:
    m = np.zeros(c.n, dtype=bool)
    for a in c.args:
        m |= null_mask(a)
    return m


def _np_unary(fn):
    def impl(c: Call) -> pa.Array:
        with np.errstate(all="ignore"):
            r = fn(_dbl(c))
        return pa.array(r, type=pa.float64(), mask=_mask(c))
    return impl


# ---------------------------------------------------------------- ABS / CEIL / FLOOR / SIGN

abs_ = scalar("ABS", CAT, "The absolute value of a value.")
for t in NUMS:
    abs_.add([t], t, lambda c: pc.abs(c.args[0]))
abs_.add(["DECIMAL"], _same, lambda c: pc.abs(c.args[0]))

ceil = scalar("CEIL", CAT, "The ceiling of a value.")
floor = scalar("FLOOR", CAT, "The floor of a value.")
for spec, kern, mode in ((ceil, pc.ceil, ROUND_CEILING), (floor, pc.floor, ROUND_FLOOR)):
    spec.add(["INTEGER"], "INTEGER", lambda c: c.args[0])
    spec.add(["BIGINT"], "BIGINT", lambda c: c.args[0])
    spec.add(["DOUBLE"], "DOUBLE", lambda c, k=kern: k(c.args[0]))
    spec.add(["DECIMAL"], _same, lambda c, m=mode: c.rowwise(
        lambda v: v.quantize(Decimal(1), rounding=m)))

sign = scalar("SIGN", CAT, "The sign of a numeric value as an INTEGER: -1, 0 or 1.")
for t in NUMS:
    sign.add([t], "INTEGER", lambda c: pc.sign(c.args[0]).cast(pa.int32()))
sign.add(["DECIMAL"], "INTEGER", lambda c: c.rowwise(lambda v: (v > 0) - (v < 0)))


# ---------------------------------------------------------------- ROUND / TRUNC

def _round_half(v: Decimal, places: int) -> Decimal:
    mode = ROUND_HALF_UP if v > 0 else ROUND_HALF_DOWN
    return v.quantize(Decimal(1).scaleb(-places), rounding=mode)


def _java_round(x: float) -> int:
    """``Math.round(double)``: floor(x + 0.5), NaN → 0, saturating."""
    if x != x:
        return 0
    if x >= 9.223372036854775807e18:
        return 2 ** 63 - 1
    if x <= -9.223372036854775808e18:
        return -(2 ** 63)
    return math.floor(x + 0.5)


def _dec_round_type(types):
    t = types[0]
    return SqlType("DECIMAL", precision=max(t.precision - t.scale, 1), scale=0)


round_ = scalar("ROUND", CAT, "Round a value to the given number of decimal places (half up).",
                display="Round")
round_.add(["INTEGER"], "BIGINT", lambda c: c.args[0].cast(pa.int64()))
round_.add(["BIGINT"], "BIGINT", lambda c: c.args[0])
def _round_double(c: Call) -> pa.Array:
    """``Math.round`` vectorized: floor(x + 0.5), NaN → 0, saturating at the long range."""
    x = _dbl(c)
    with np.errstate(all="ignore"):
        r = np.floor(x + 0.5)
    r = np.nan_to_num(r, nan=0.0)
    big, small = r >= 2.0 ** 63, r < -(2.0 ** 63)
    out = np.where(big | small, 0.0, r).astype(np.int64)
    out = np.where(big, 2 ** 63 - 1, np.where(small, -(2 ** 63), out))
    # floor(x + 0.5) is off by one for the largest double below 0.5 (Java special-cases it)
    fix = (x == 0.49999999999999994)
    out = np.where(fix, 0, out)
    return pa.array(out, type=pa.int64(), mask=_mask(c))


round_.add(["DOUBLE"], "BIGINT", _round_double)
round_.add(["DOUBLE", "INTEGER"], "DOUBLE", lambda c: c.rowwise(
    lambda v, p: float(_round_half(Decimal(repr(v)), p)) if math.isfinite(v) else v))
round_.add(["DECIMAL"], _dec_round_type, lambda c: c.rowwise(lambda v: _round_half(v, 0)))


def _round_dec_places(c: Call) -> pa.Array:
    s = c.ret.scale

    def f(v, p):
        r = _round_half(v, p)
        return r.quantize(Decimal(1).scaleb(-s)) if p <= s else _round_half(v, s)
    return c.rowwise(f)


round_.add(["DECIMAL", "INTEGER"], _same, _round_dec_places)


def _trunc_dec(v: Decimal, places: int) -> Decimal:
    from decimal import ROUND_DOWN
    return v.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


trunc = scalar("TRUNC", CAT, "Truncate a value to the given number of decimal places.")
trunc.add(["INTEGER"], "BIGINT", lambda c: c.args[0].cast(pa.int64()))
trunc.add(["BIGINT"], "BIGINT", lambda c: c.args[0])
trunc.add(["DOUBLE"], "BIGINT", lambda c: pc.trunc(c.args[0]).cast(pa.int64(), safe=False))
trunc.add(["DOUBLE", "INTEGER"], "DOUBLE", lambda c: c.rowwise(
    lambda v, p: float(_trunc_dec(Decimal(repr(v)), p)) if math.isfinite(v) else v))
trunc.add(["DECIMAL"], _dec_round_type, lambda c: c.rowwise(lambda v: _trunc_dec(v, 0)))
trunc.add(["DECIMAL", "INTEGER"], _same, lambda c: c.rowwise(
    lambda v, p: _trunc_dec(v, p).quantize(Decimal(1).scaleb(-c.ret.scale))
    if p <= c.ret.scale else v))


# ---------------------------------------------------------------- DOUBLE-valued functions

def _unary_double(name: str, fn, desc: str) -> None:
    spec = scalar(name, CAT, desc)
    spec.add(["DOUBLE"], "DOUBLE", _np_unary(fn))


def _ln(x):
    return np.log(x)


_unary_double("SQRT", np.sqrt, "The square root of a value.")
_unary_double("CBRT", np.cbrt, "The cube root of a value.")
_unary_double("EXP", np.exp, "Euler's number raised to a value.")
_unary_double("LN", _ln, "The natural logarithm of a value.")
_unary_double("SIN", np.sin, "The sine of a value in radians.")
_unary_double("COS", np.cos, "The cosine of a value in radians.")
_unary_double("TAN", np.tan, "The tangent of a value in radians.")
_unary_double("ASIN", np.arcsin, "The inverse sine of a value.")
_unary_double("ACOS", np.arccos, "The inverse cosine of a value.")
_unary_double("ATAN", np.arctan, "The inverse tangent of a value.")
_unary_double("SINH", np.sinh, "The hyperbolic sine of a value.")
_unary_double("COSH", np.cosh, "The hyperbolic cosine of a value.")
_unary_double("TANH", np.tanh, "The hyperbolic tangent of a value.")
_unary_double("COT", lambda x: 1.0 / np.tan(x), "The cotangent of a value.")
_unary_double("DEGREES", np.degrees, "Converts radians to degrees.")
_unary_double("RADIANS", np.radians, "Converts degrees to radians.")


def _binary_double(fn):
    def impl(c: Call) -> pa.Array:
        with np.errstate(all="ignore"):
            r = fn(_dbl(c, 0), _dbl(c, 1))
        return pa.array(r, type=pa.float64(), mask=_mask(c))
    return impl


def _log_base(base, value):
    return np.log(value) / np.log(base)


log = scalar("LOG", CAT, "The natural logarithm, or the logarithm to a base.")
log.add(["DOUBLE"], "DOUBLE", _np_unary(np.log))
log.add(["DOUBLE", "DOUBLE"], "DOUBLE", _binary_double(_log_base))

power = scalar("POWER", CAT, "A value raised to a power.")
power.add(["DOUBLE", "DOUBLE"], "DOUBLE", _binary_double(np.power))

atan2 = scalar("ATAN2", CAT, "The angle theta from rectangular coordinates (y, x).")
atan2.add(["DOUBLE", "DOUBLE"], "DOUBLE", _binary_double(np.arctan2))

pi = scalar("PI", CAT, "The value of pi.")
pi.add([], "DOUBLE", lambda c: pa.repeat(pa.scalar(math.pi), c.n))

rnd = scalar("RANDOM", CAT, "A random DOUBLE in [0.0, 1.0).")
rnd.add([], "DOUBLE", lambda c: pa.array([_random.random() for _ in range(c.n)], pa.float64()))


# ---------------------------------------------------------------- GREATEST / LEAST

def _extreme(kernel, pyfn):
    def impl(c: Call) -> pa.Array:
        t = c.ret
        if t.base in ("INTEGER", "BIGINT", "DOUBLE", "STRING", "DATE", "TIME", "TIMESTAMP"):
            if len(c.args) == 1:
                return c.args[0]
            return kernel(*c.args, skip_nulls=True)
        return c.rowwise(lambda *vs: pyfn([v for v in vs if v is not None]) if any(
            v is not None for v in vs) else None, null_on_null=False)
    return impl


def _dec_widest(types):
    ds = [t for t in types if t.base == "DECIMAL"]
    if not ds:
        return SqlType("DECIMAL", precision=38, scale=10)
    scale = max(t.scale for t in ds)
    digits = max(t.precision - t.scale for t in ds)
    return SqlType("DECIMAL", precision=min(digits + scale, 38), scale=scale)


for _name, _k, _py in (("GREATEST", pc.max_element_wise, max),
                       ("LEAST", pc.min_element_wise, min)):
    spec = scalar(_name, CAT, f"The {_name.lower()} of the arguments, ignoring nulls.",
                  display=_name.lower())
    impl = _extreme(_k, _py)
    for t in ("INTEGER", "BIGINT", "DOUBLE", "STRING", "BYTES", "DATE", "TIME", "TIMESTAMP"):
        spec.add([t, t], t, impl, variadic=True)
    spec.add(["DECIMAL", "DECIMAL"], _dec_widest, impl, variadic=True)

_ = DOUBLE
