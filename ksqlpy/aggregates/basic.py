"""COUNT, SUM, SUM_LIST, AVG, MIN, MAX with ksqlDB's null handling, result types and Java
arithmetic (INT/BIGINT sums wrap; a DECIMAL sum that outgrows its precision fails)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

from ksqlpy.aggregates.base import (AggregateFunction, java_div, register, runtime_failure,
                                    signature_error, struct_type, widen_to, wrap_int, wrap_long)
from ksqlpy.types import BIGINT, DOUBLE, INTEGER, SqlType

_NUMERIC = ("INTEGER", "BIGINT", "DOUBLE")
_BY_BASE = {"INTEGER": INTEGER, "BIGINT": BIGINT, "DOUBLE": DOUBLE}


def _wrapper(base: str):
    if base == "INTEGER":
        return wrap_int
    if base == "BIGINT":
        return wrap_long
    return float


# -- COUNT -----------------------------------------------------------------------------------

class Count(AggregateFunction):
    """COUNT(*) / COUNT() / COUNT(<non-null literal>) count rows; COUNT(col) counts non-null
    values."""

    type = BIGINT
    intermediate_type = BIGINT

    def __init__(self, count_nulls: bool):
        self.count_nulls = count_nulls
        self.partials = ("count_all",) if count_nulls else ("count",)

    def merge_partial(self, acc, values):
        return acc + values[0]

    def init(self):
        return 0

    def add(self, acc, args):
        return acc + 1 if self.count_nulls or args[0] is not None else acc

    def undo(self, acc, args):
        return acc - 1 if self.count_nulls or args[0] is not None else acc

    def merge(self, a, b):
        return a + b


@register("COUNT")
def _count(ctx):
    if len(ctx.types) > 1:
        raise signature_error("COUNT", ctx.types)
    return Count(count_nulls=not ctx.types or ctx.literals[0] is not None)


# -- SUM -------------------------------------------------------------------------------------

class Sum(AggregateFunction):
    """SUM of INT (→ INT), BIGINT (→ BIGINT), DOUBLE (→ DOUBLE), DECIMAL(p, s) (→ the same
    DECIMAL). Nulls are skipped; an empty sum is 0."""

    def __init__(self, t: SqlType):
        self.type = self.intermediate_type = t
        self.wrap = _wrapper(t.base)
        if t.base == "DECIMAL":
            self.quantum = Decimal(1).scaleb(-t.scale)
            self.context = Context(prec=t.precision, rounding=ROUND_HALF_UP)
            self.limit = Decimal(10) ** (t.precision - t.scale)
            self.zero = Decimal(0).quantize(self.quantum)
        else:
            self.zero = 0.0 if t.base == "DOUBLE" else 0
            self.partials = ("sum",)  # int sums wrap mod 2^n, so summing a batch first is exact

    def merge_partial(self, acc, values):
        return acc if values[0] is None else self.wrap(acc + values[0])

    def init(self):
        return self.zero

    def _dec(self, v: Decimal) -> Decimal:
        return v.quantize(self.quantum, context=Context(prec=60))

    def add(self, acc, args):
        v = args[0]
        if v is None:
            return acc
        if self.type.base != "DECIMAL":
            return self.wrap(acc + v)
        out = self.context.add(acc, v)
        if abs(out) >= self.limit:
            t = self.type
            raise runtime_failure(
                f"Numeric field overflow: A field with precision {t.precision} and scale "
                f"{t.scale} must round to an absolute value less than 10^"
                f"{t.precision - t.scale}. Got {out:f}")
        return self._dec(out)

    def undo(self, acc, args):
        v = args[0]
        if v is None:
            return acc
        if self.type.base != "DECIMAL":
            return self.wrap(acc - v)
        return self._dec(self.context.subtract(acc, v))

    def merge(self, a, b):
        if self.type.base != "DECIMAL":
            return self.wrap(a + b)
        return self._dec(self.context.add(a, b))


@register("SUM")
def _sum(ctx):
    types = ctx.types
    if len(types) != 1:
        raise signature_error("SUM", types)
    base = widen_to(types[0], ("INTEGER", "BIGINT", "DOUBLE", "DECIMAL"))
    if base is None:
        raise signature_error("SUM", types)
    return Sum(types[0])


class SumList(AggregateFunction):
    """SUM_LIST(ARRAY<INT|BIGINT|DOUBLE>): the sum of every element of every list (null
    lists and null elements skipped), of the element type."""

    def __init__(self, t: SqlType):
        self.type = self.intermediate_type = t
        self.wrap = _wrapper(t.base)
        self.zero = 0.0 if t.base == "DOUBLE" else 0

    def _sum(self, values):
        total = self.zero
        for v in values:
            if v is not None:
                total = self.wrap(total + v)
        return total

    def init(self):
        return self.zero

    def add(self, acc, args):
        return acc if args[0] is None else self.wrap(acc + self._sum(args[0]))

    def undo(self, acc, args):
        return acc if args[0] is None else self.wrap(acc - self._sum(args[0]))

    def merge(self, a, b):
        return self.wrap(a + b)


@register("SUM_LIST")
def _sum_list(ctx):
    types = ctx.types
    if len(types) != 1 or types[0].base != "ARRAY" or types[0].item.base not in _NUMERIC:
        raise signature_error("sum_list", types)
    return SumList(_BY_BASE[types[0].item.base])


# -- AVG -------------------------------------------------------------------------------------

class Avg(AggregateFunction):
    """AVG of INT, BIGINT or DOUBLE (DECIMAL binds to the DOUBLE overload): DOUBLE, 0.0 when
    there are no non-null values. The sum is kept in the argument's Java type (so an INT sum
    wraps like ksqlDB's)."""

    type = DOUBLE

    def __init__(self, base: str):
        self.base = base
        self.wrap = _wrapper(base)
        self.zero = 0.0 if base == "DOUBLE" else 0
        self.intermediate_type = struct_type([("SUM", _BY_BASE[base]), ("COUNT", BIGINT)])
        self.partials = ("sum", "count")

    def merge_partial(self, acc, values):
        total, count = values
        if not count:
            return acc
        return (self.wrap(acc[0] + self.wrap(total)), acc[1] + count)

    def init(self):
        return (self.zero, 0)

    def add(self, acc, args):
        v = args[0]
        if v is None:
            return acc
        return (self.wrap(acc[0] + self.wrap(v)), acc[1] + 1)

    def undo(self, acc, args):
        v = args[0]
        if v is None:
            return acc
        return (self.wrap(acc[0] - self.wrap(v)), acc[1] - 1)

    def merge(self, a, b):
        return (self.wrap(a[0] + b[0]), a[1] + b[1])

    def result(self, acc):
        total, count = acc
        if count == 0:
            return 0.0
        return java_div(float(total), float(count))


@register("AVG")
def _avg(ctx):
    types = ctx.types
    base = widen_to(types[0], _NUMERIC) if len(types) == 1 else None
    if base is None:
        raise signature_error("avg", types)
    return Avg(base)


# -- MIN / MAX -------------------------------------------------------------------------------

_COMPARABLE = ("INTEGER", "BIGINT", "DOUBLE", "DECIMAL", "STRING", "BYTES", "DATE", "TIME",
               "TIMESTAMP")


class MinMax(AggregateFunction):
    """MIN/MAX of a comparable type, nulls ignored; null until a non-null value arrives.
    Like ksqlDB they cannot undo, so they aggregate streams only."""

    undoable = False

    def __init__(self, t: SqlType, is_max: bool):
        self.type = self.intermediate_type = t
        self.is_max = is_max
        self.partials = ("max",) if is_max else ("min",)

    def merge_partial(self, acc, values):
        return self._pick(acc, values[0])

    def init(self):
        return None

    def _pick(self, a, b):
        if a is None:
            return b
        if b is None:
            return a
        if self.is_max:
            return b if b > a else a
        return b if b < a else a

    def add(self, acc, args):
        return self._pick(acc, args[0])

    def merge(self, a, b):
        return self._pick(a, b)


def _make_minmax(name: str, is_max: bool):
    def factory(ctx):
        types = ctx.types
        if len(types) != 1 or types[0].base not in _COMPARABLE:
            raise signature_error(name, types)
        return MinMax(types[0], is_max)
    return factory


register("MIN")(_make_minmax("MIN", False))
register("MAX")(_make_minmax("MAX", True))
