"""STDDEV_SAMP / STDDEV_SAMPLE and CORRELATION (DOUBLE results, Java arithmetic)."""

from __future__ import annotations

import math

from ksqlpy.aggregates.base import (AggregateFunction, java_div, register, signature_error,
                                    struct_type, widen_to, wrap_int, wrap_long)
from ksqlpy.types import BIGINT, DOUBLE, INTEGER

_NUMERIC = ("INTEGER", "BIGINT", "DOUBLE")
_BY_BASE = {"INTEGER": INTEGER, "BIGINT": BIGINT, "DOUBLE": DOUBLE}


def _java_int_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


class StdDevSamp(AggregateFunction):
    """Youngs-Cramer updates of (count, sum, M2); 0.0 for fewer than two values. The sum is
    kept in the argument's Java type, as ksqlDB does.

    ksqlDB ships two UDAFs here: STDDEV_SAMPLE returns the sample standard deviation
    sqrt(M2 / (n - 1)), while STDDEV_SAMP returns M2 / (n - 1), the sample *variance* (its
    tests expect e.g. 50.0 for the values 0 and 10). ``sqrt`` selects which."""

    type = DOUBLE

    def __init__(self, base: str, sqrt: bool):
        self.base = base
        self.sqrt = sqrt
        self.intermediate_type = struct_type([("SUM", _BY_BASE[base]), ("COUNT", INTEGER),
                                              ("M2", DOUBLE)])
        if base == "INTEGER":
            self.wrap = wrap_int
        elif base == "BIGINT":
            self.wrap = wrap_long
        else:
            self.wrap = float
        self.zero = 0.0 if base == "DOUBLE" else 0

    def init(self):
        return (0, self.zero, 0.0)  # count, sum, M2

    def _delta(self, count: int, total, v) -> float:
        # v * (count + 1) - (sum + v), in the argument's Java type
        w = self.wrap
        return float(w(w(v * (count + 1)) - w(total + v)))

    def add(self, acc, args):
        v = args[0]
        if v is None:
            return acc
        v = self.wrap(v)
        count, total, m2 = acc
        new_count = count + 1
        inc = 0.0
        if count > 0:
            d = self._delta(count, total, v)
            inc = d * d / (new_count * count)
        return (new_count, self.wrap(total + v), m2 + inc)

    def undo(self, acc, args):
        v = args[0]
        if v is None:
            return acc
        v = self.wrap(v)
        count, total, m2 = acc
        new_count = count - 1
        dec = 0.0
        if new_count > 0:
            d = self._delta(count, total, v)
            dec = d * d / (new_count * (new_count + 1))
        return (new_count, self.wrap(total - v), m2 - dec)

    def merge(self, a, b):
        ca, sa, ma = a
        cb, sb, mb = b
        n = ca + cb
        if ca == 0 or cb == 0:
            m2 = ma + mb
        else:
            if self.base == "DOUBLE":
                inner = sa / ca - sb / cb
            else:
                inner = float(self.wrap(_java_int_div(sa, ca) - _java_int_div(sb, cb)))
            m2 = ma + mb + ca * cb * inner * inner / n
        return (n, self.wrap(sa + sb), m2)

    def result(self, acc):
        count, _, m2 = acc
        if count < 2:
            return 0.0
        variance = m2 / (count - 1)
        if not self.sqrt:
            return variance
        return math.sqrt(variance) if variance >= 0 else math.nan


def _stddev(display: str, sqrt: bool):
    def factory(ctx):
        types = ctx.types
        base = widen_to(types[0], _NUMERIC) if len(types) == 1 else None
        if base is None:
            raise signature_error(display, types)
        return StdDevSamp(base, sqrt)
    return factory


register("STDDEV_SAMP")(_stddev("STDDEV_SAMP", sqrt=False))
register("STDDEV_SAMPLE")(_stddev("STDDEV_SAMPLE", sqrt=True))


_CORR_FIELDS = ("X_SUM", "Y_SUM", "X_SQUARED_SUM", "Y_SQUARED_SUM", "XY_SUM")


class Correlation(AggregateFunction):
    """Pearson correlation of (x, y) pairs where both are non-null (single-pass sums);
    NaN while it is undefined (fewer than two pairs, or a constant column)."""

    type = DOUBLE
    intermediate_type = struct_type([(f, DOUBLE) for f in _CORR_FIELDS] + [("COUNT", BIGINT)])

    def init(self):
        return (0.0, 0.0, 0.0, 0.0, 0.0, 0)

    @staticmethod
    def _pair(args):
        x, y = args[0], args[1]
        if x is None or y is None:
            return None
        return float(x), float(y)

    def add(self, acc, args):
        p = self._pair(args)
        if p is None:
            return acc
        x, y = p
        sx, sy, sxx, syy, sxy, n = acc
        return (sx + x, sy + y, sxx + x * x, syy + y * y, sxy + x * y, n + 1)

    def undo(self, acc, args):
        p = self._pair(args)
        if p is None:
            return acc
        x, y = p
        sx, sy, sxx, syy, sxy, n = acc
        return (sx - x, sy - y, sxx - x * x, syy - y * y, sxy - x * y, n - 1)

    def merge(self, a, b):
        return tuple(u + v for u, v in zip(a, b))

    def result(self, acc):
        sx, sy, sxx, syy, sxy, n = acc
        numerator = n * sxy - sx * sy
        dx = n * sxx - sx * sx
        dy = n * syy - sy * sy
        prod = dx * dy
        denominator = math.sqrt(prod) if prod >= 0 else math.nan
        return java_div(numerator, denominator)


@register("CORRELATION")
def _correlation(ctx):
    types = ctx.types
    if len(types) != 2 or any(widen_to(t, ("DOUBLE",)) is None for t in types):
        raise signature_error("correlation", types)
    return Correlation()

