"""COLLECT_LIST, COLLECT_SET, HISTOGRAM, ATTR and COUNT_DISTINCT."""

from __future__ import annotations

import hashlib
import math

from ksqlpy.aggregates.base import (AggregateFunction, canon, register, signature_error,
                                    struct_type)
from ksqlpy.errors import AnalysisError
from ksqlpy.types import BIGINT, INTEGER, STRING, array, map_

LIST_LIMIT = "ksql.functions.collect_list.limit"
SET_LIMIT = "ksql.functions.collect_set.limit"
_MAX_INT = 2**31 - 1


def _limit(properties: dict, key: str) -> int:
    """ksqlDB's ``configure``: a number or a numeric string; negative means no limit."""
    raw = properties.get(key)
    if raw is None:
        return _MAX_INT
    if isinstance(raw, bool):
        raise AnalysisError(f"Invalid value {raw} for configuration {key}")
    if isinstance(raw, (int, float)):
        n = int(raw)
    else:
        try:
            n = int(str(raw).strip())
        except ValueError:
            raise AnalysisError(f'For input string: "{raw}"') from None
    return _MAX_INT if n < 0 else n


def _one_arg(ctx, display: str):
    if len(ctx.types) != 1 or ctx.types[0].base == "NULL":
        raise signature_error(display, ctx.types)
    return ctx.types[0]


# -- COLLECT_LIST ----------------------------------------------------------------------------

class CollectList(AggregateFunction):
    """Every value (nulls included) in arrival order, up to the limit; undo removes the last
    equal value."""

    def __init__(self, t, limit: int):
        self.type = self.intermediate_type = array(t)
        self.limit = limit
        self.key = canon(t)

    def init(self):
        return []

    def add(self, acc, args):
        if len(acc) < self.limit:
            acc.append(args[0])
        return acc

    def undo(self, acc, args):
        k = self.key(args[0])
        for i in range(len(acc) - 1, -1, -1):
            if self.key(acc[i]) == k:
                del acc[i]
                break
        return acc

    def merge(self, a, b):
        room = max(0, self.limit - len(a))
        return list(a) + list(b[:room])

    def result(self, acc):
        return list(acc)


@register("COLLECT_LIST")
def _collect_list(ctx):
    return CollectList(_one_arg(ctx, "collect_list"), _limit(ctx.properties, LIST_LIMIT))


# -- COLLECT_SET -----------------------------------------------------------------------------

class CollectSet(AggregateFunction):
    """The distinct values (a null counts once) in first-seen order, up to the limit. No
    undo: stream input only. The accumulator is (values, keys)."""

    undoable = False

    def __init__(self, t, limit: int):
        self.type = self.intermediate_type = array(t)
        self.limit = limit
        self.key = canon(t)

    def init(self):
        return ([], set())

    def add(self, acc, args):
        values, keys = acc
        v = args[0]
        if len(values) < self.limit:
            k = self.key(v)
            if k not in keys:
                keys.add(k)
                values.append(v)
        return acc

    def merge(self, a, b):
        values, keys = list(a[0]), set(a[1])
        for v in b[0]:
            if len(values) >= self.limit:
                break
            k = self.key(v)
            if k not in keys:
                keys.add(k)
                values.append(v)
        return (values, keys)

    def result(self, acc):
        return list(acc[0])


@register("COLLECT_SET")
def _collect_set(ctx):
    return CollectSet(_one_arg(ctx, "collect_set"), _limit(ctx.properties, SET_LIMIT))


# -- HISTOGRAM -------------------------------------------------------------------------------

HISTOGRAM_LIMIT = 1000


class Histogram(AggregateFunction):
    """MAP<STRING, BIGINT> of value → occurrences, at most 1000 distinct values (later ones
    are ignored). A null value has no map key to count under and is skipped."""

    type = intermediate_type = map_(STRING, BIGINT)

    def init(self):
        return {}

    def add(self, acc, args):
        v = args[0]
        if v is not None and (len(acc) < HISTOGRAM_LIMIT or v in acc):
            acc[v] = acc.get(v, 0) + 1
        return acc

    def undo(self, acc, args):
        v = args[0]
        if v in acc:
            n = acc[v] - 1
            if n < 1:
                del acc[v]
            else:
                acc[v] = n
        return acc

    def merge(self, a, b):
        out = dict(a)
        for k, n in b.items():
            if len(out) < HISTOGRAM_LIMIT or k in out:
                out[k] = out.get(k, 0) + n
        return out

    def result(self, acc):
        return dict(acc)


@register("HISTOGRAM")
def _histogram(ctx):
    if len(ctx.types) != 1 or ctx.types[0].base != "STRING":
        raise signature_error("histogram", ctx.types)
    return Histogram()


# -- ATTR ------------------------------------------------------------------------------------

class Attr(AggregateFunction):
    """The value when every value seen (null included) is the same, else null. Keeps a count
    per distinct value so undo (tables) can restore a single remaining value."""

    def __init__(self, t):
        self.type = t
        self.intermediate_type = array(struct_type([("VALUE", t), ("COUNT", INTEGER)]))
        self.key = canon(t)

    def init(self):
        return {}  # key -> [value, count]

    def _update(self, acc, v, n):
        k = self.key(v)
        entry = acc.get(k)
        if entry is not None:
            entry[1] = max(0, entry[1] + n)
        elif n > 0:
            acc[k] = [v, n]
        return acc

    def add(self, acc, args):
        return self._update(acc, args[0], 1)

    def undo(self, acc, args):
        return self._update(acc, args[0], -1)

    def merge(self, a, b):
        out = {k: list(e) for k, e in a.items()}
        for e in b.values():
            self._update(out, e[0], e[1])
        return out

    def result(self, acc):
        live = [e[0] for e in acc.values() if e[1] > 0]
        return live[0] if len(live) == 1 else None


@register("ATTR")
def _attr(ctx):
    return Attr(_one_arg(ctx, "ATTR"))


# -- COUNT_DISTINCT --------------------------------------------------------------------------

_HLL_P = 14
_HLL_M = 1 << _HLL_P
_EXACT_MAX = 2048


def _hash64(key) -> int:
    return int.from_bytes(hashlib.blake2b(repr(key).encode(), digest_size=8).digest(), "big")


def _hll_offer(regs: bytearray, key) -> None:
    h = _hash64(key)
    idx = h >> (64 - _HLL_P)
    rest = (h << _HLL_P) & (2**64 - 1)
    rank = 1
    while rank <= 64 - _HLL_P and not rest & (1 << 63):
        rank += 1
        rest = (rest << 1) & (2**64 - 1)
    if rank > regs[idx]:
        regs[idx] = rank


def _hll_estimate(regs: bytearray) -> int:
    m = _HLL_M
    alpha = 0.7213 / (1 + 1.079 / m)
    total = sum(2.0 ** -r for r in regs)
    est = alpha * m * m / total
    zeros = regs.count(0)
    if est <= 2.5 * m and zeros:
        est = m * math.log(m / zeros)
    return round(est)


class CountDistinct(AggregateFunction):
    """The number of distinct non-null values. ksqlDB estimates it with a HyperLogLog of
    2^14 registers (error < 1%); this counts exactly up to 2048 distinct values (where
    ksqlDB's linear-counting estimate is exact in practice too) and then switches to a
    HyperLogLog of the same size. No undo: stream input only."""

    type = BIGINT
    undoable = False

    def __init__(self, t):
        self.key = canon(t)
        self.intermediate_type = array(INTEGER)

    def init(self):
        return set()

    def _to_hll(self, keys) -> bytearray:
        regs = bytearray(_HLL_M)
        for k in keys:
            _hll_offer(regs, k)
        return regs

    def add(self, acc, args):
        v = args[0]
        if v is None:
            return acc
        k = self.key(v)
        if isinstance(acc, set):
            acc.add(k)
            return self._to_hll(acc) if len(acc) > _EXACT_MAX else acc
        _hll_offer(acc, k)
        return acc

    def merge(self, a, b):
        if isinstance(a, set) and isinstance(b, set):
            out = a | b
            return self._to_hll(out) if len(out) > _EXACT_MAX else out
        ra = self._to_hll(a) if isinstance(a, set) else bytearray(a)
        rb = self._to_hll(b) if isinstance(b, set) else b
        for i, r in enumerate(rb):
            if r > ra[i]:
                ra[i] = r
        return ra

    def result(self, acc):
        return len(acc) if isinstance(acc, set) else _hll_estimate(acc)


@register("COUNT_DISTINCT")
def _count_distinct(ctx):
    return CountDistinct(_one_arg(ctx, "COUNT_DISTINCT"))
