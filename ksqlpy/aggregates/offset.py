"""EARLIEST_BY_OFFSET and LATEST_BY_OFFSET.

Forms: ``(col)``, ``(col, ignoreNulls)``, ``(col, n)``, ``(col, n, ignoreNulls)`` with
literal ``n`` (INT) and ``ignoreNulls`` (BOOLEAN, default true). ``n`` = 1 returns the
value itself, ``n`` > 1 an ARRAY of up to ``n`` values in offset order. Rows are added in
processing (= offset) order; each kept value carries a sequence number so that merging
session windows can still tell which value came first.
"""

from __future__ import annotations

from ksqlpy.aggregates.base import (AggregateFunction, literal_arg, next_sequence, register,
                                    signature_error, struct_type)
from ksqlpy.errors import AnalysisError
from ksqlpy.types import BIGINT, array


def _entry_type(t):
    return struct_type([("SEQ", BIGINT), ("VAL", t)])


class _ByOffset(AggregateFunction):
    undoable = False

    def __init__(self, t, ignore_nulls: bool):
        self.type = t
        self.intermediate_type = _entry_type(t)
        self.ignore_nulls = ignore_nulls

    def result(self, acc):
        return None if acc is None else acc[1]


class Earliest(_ByOffset):
    def add(self, acc, args):
        if acc is not None:
            return acc
        v = args[0]
        if v is None and self.ignore_nulls:
            return None
        return (next_sequence(), v)

    def merge(self, a, b):
        if a is None:
            return b
        if b is None:
            return a
        return a if a[0] < b[0] else b


class Latest(_ByOffset):
    def add(self, acc, args):
        v = args[0]
        if v is None and self.ignore_nulls:
            return acc
        return (next_sequence(), v)

    def merge(self, a, b):
        if a is None:
            return b
        if b is None:
            return a
        return a if a[0] >= b[0] else b


class _NByOffset(AggregateFunction):
    undoable = False

    def __init__(self, t, n: int, ignore_nulls: bool):
        self.type = array(t)
        self.intermediate_type = array(_entry_type(t))
        self.n = n
        self.ignore_nulls = ignore_nulls

    def init(self):
        return []

    def result(self, acc):
        return [v for _, v in acc]


class EarliestN(_NByOffset):
    def add(self, acc, args):
        v = args[0]
        if (v is None and self.ignore_nulls) or len(acc) >= self.n:
            return acc
        acc.append((next_sequence(), v))
        return acc

    def merge(self, a, b):
        return sorted(list(a) + list(b), key=lambda e: e[0])[:self.n]


class LatestN(_NByOffset):
    def add(self, acc, args):
        v = args[0]
        if v is None and self.ignore_nulls:
            return acc
        acc.append((next_sequence(), v))
        if len(acc) > self.n:
            del acc[:len(acc) - self.n]
        return acc

    def merge(self, a, b):
        merged = sorted(list(a) + list(b), key=lambda e: e[0])
        return merged[max(0, len(merged) - self.n):]


def _factory(name: str, label: str, single, multi):
    def factory(ctx):
        types = ctx.types
        bases = [t.base for t in types[1:]]
        if not types or types[0].base == "NULL" or bases not in ([], ["BOOLEAN"], ["INTEGER"], ["INTEGER", "BOOLEAN"]):
            raise signature_error(name, types)
        n, ignore_nulls = 1, True
        for i, b in enumerate(bases, start=1):
            v = literal_arg(ctx, i)
            if b == "BOOLEAN":
                ignore_nulls = bool(v)
            else:
                n = int(v)
        if n == 1:
            return single(types[0], ignore_nulls)
        if n > 1:
            return multi(types[0], n, ignore_nulls)
        raise AnalysisError(f"For {label}, n must be positive.  It was {n}")
    return factory


register("EARLIEST_BY_OFFSET")(
    _factory("EARLIEST_BY_OFFSET", "EarliestByOffset", Earliest, EarliestN))
register("LATEST_BY_OFFSET")(
    _factory("LATEST_BY_OFFSET", "LatestByOffset", Latest, LatestN))
