"""COUNT, SUM, AVG, MIN, MAX with ksqlDB's null handling and result types."""

from __future__ import annotations

from decimal import Decimal

from ksqlpy.aggregates.base import AggregateFunction, describe_types, register
from ksqlpy.errors import AnalysisError
from ksqlpy.types import BIGINT, DOUBLE, INTEGER, SqlType, decimal


def _signature_error(name: str, types: list[SqlType]) -> AnalysisError:
    return AnalysisError(f"Function '{name}' does not accept parameters "
                         f"({describe_types(types)}).")


class Count(AggregateFunction):
    """COUNT(*) / COUNT(1) counts rows; COUNT(col) counts non-null values."""

    type = BIGINT

    def __init__(self, count_nulls: bool):
        self.count_nulls = count_nulls

    def init(self):
        return 0

    def add(self, acc, args):
        return acc + 1 if self.count_nulls or args[0] is not None else acc

    def undo(self, acc, args):
        return acc - 1 if self.count_nulls or args[0] is not None else acc

    def merge(self, a, b):
        return a + b


@register("COUNT")
def _count(types, literals):
    if len(types) > 1:
        raise _signature_error("COUNT", types)
    # COUNT(*) and COUNT(<literal>) count every row
    return Count(count_nulls=not types or literals[0] is not None)


class Sum(AggregateFunction):
    def __init__(self, t: SqlType):
        self.type = t
        self.zero = Decimal(0).quantize(Decimal(1).scaleb(-t.scale)) if t.base == "DECIMAL" \
            else (0.0 if t.base == "DOUBLE" else 0)

    def init(self):
        return self.zero

    def add(self, acc, args):
        v = args[0]
        return acc if v is None else self._wrap(acc + v)

    def undo(self, acc, args):
        v = args[0]
        return acc if v is None else self._wrap(acc - v)

    def merge(self, a, b):
        return self._wrap(a + b)

    def _wrap(self, v):
        # Java int/long arithmetic wraps on overflow
        if self.type.base == "INTEGER":
            return (v + 2**31) % 2**32 - 2**31
        if self.type.base == "BIGINT":
            return (v + 2**63) % 2**64 - 2**63
        return v


@register("SUM")
def _sum(types, literals):
    if len(types) != 1 or types[0].base not in ("INTEGER", "BIGINT", "DOUBLE", "DECIMAL"):
        raise _signature_error("SUM", types)
    t = types[0]
    if t.base == "DECIMAL":
        t = decimal(min(38, t.precision + 10), t.scale) if False else t
    return Sum(t)


class Avg(AggregateFunction):
    """AVG keeps (sum, count) of non-null values; the result is DOUBLE (DECIMAL for decimals)."""

    def __init__(self, t: SqlType):
        self.arg = t
        self.type = t if t.base == "DECIMAL" else DOUBLE

    def init(self):
        return (0, 0)

    def add(self, acc, args):
        v = args[0]
        return acc if v is None else (acc[0] + v, acc[1] + 1)

    def undo(self, acc, args):
        v = args[0]
        return acc if v is None else (acc[0] - v, acc[1] - 1)

    def merge(self, a, b):
        return (a[0] + b[0], a[1] + b[1])

    def result(self, acc):
        total, count = acc
        if count == 0:
            return None if self.type.base == "DECIMAL" else 0.0
        if self.type.base == "DECIMAL":
            q = Decimal(1).scaleb(-self.type.scale)
            return (Decimal(total) / count).quantize(q)
        return total / count


@register("AVG")
def _avg(types, literals):
    if len(types) != 1 or types[0].base not in ("INTEGER", "BIGINT", "DOUBLE", "DECIMAL"):
        raise _signature_error("AVG", types)
    return Avg(types[0])


class MinMax(AggregateFunction):
    """MIN/MAX ignore nulls. Undo keeps a count per value so a retraction can restore the
    previous extreme."""

    def __init__(self, t: SqlType, is_max: bool):
        self.type = t
        self.is_max = is_max

    def init(self):
        return {}

    def add(self, acc, args):
        v = args[0]
        if v is None:
            return acc
        acc = dict(acc)
        acc[v] = acc.get(v, 0) + 1
        return acc

    def undo(self, acc, args):
        v = args[0]
        if v is None or v not in acc:
            return acc
        acc = dict(acc)
        acc[v] -= 1
        if acc[v] <= 0:
            del acc[v]
        return acc

    def merge(self, a, b):
        out = dict(a)
        for k, c in b.items():
            out[k] = out.get(k, 0) + c
        return out

    def result(self, acc):
        if not acc:
            return None
        return max(acc) if self.is_max else min(acc)


_COMPARABLE = ("INTEGER", "BIGINT", "DOUBLE", "DECIMAL", "STRING", "DATE", "TIME", "TIMESTAMP",
               "BOOLEAN", "BYTES")


@register("MIN", "MAX")
def _minmax(types, literals, _name=None):
    raise NotImplementedError  # replaced below (needs the name)


def _make_minmax(name: str, is_max: bool):
    def factory(types, literals):
        if len(types) != 1 or types[0].base not in _COMPARABLE:
            raise _signature_error(name, types)
        return MinMax(types[0], is_max)
    return factory


register("MIN")(_make_minmax("MIN", False))
register("MAX")(_make_minmax("MAX", True))
