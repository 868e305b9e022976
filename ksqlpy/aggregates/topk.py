"""TOPK and TOPKDISTINCT.

``TOPK(col, k)`` keeps the ``k`` greatest non-null values, greatest first (duplicates kept).
``TOPK(col, other1, ..., k)`` keeps whole rows instead: an ARRAY of
``STRUCT<sort_col T, col0 T1, col1 T2, ...>`` ordered by ``sort_col`` (rows with a null
``col`` are skipped; ties keep arrival order). ``TOPKDISTINCT(col, k)`` keeps the ``k``
greatest distinct values. ``k`` must be an INT literal. Neither can undo (stream input only).
"""

from __future__ import annotations

from ksqlpy.aggregates.base import (AggregateFunction, literal_arg, register, signature_error,
                                    struct_type, widen_to)
from ksqlpy.types import array

TOPK_TYPES = ("INTEGER", "BIGINT", "DOUBLE", "STRING")
TOPKDISTINCT_TYPES = ("INTEGER", "BIGINT", "DOUBLE", "STRING", "DECIMAL", "BYTES", "DATE",
                      "TIME", "TIMESTAMP")


def _merge_desc(a: list, b: list, k: int, key) -> list:
    """Merge two lists sorted greatest-first, keeping ``k`` (ties: ``a``'s entries first)."""
    out, i, j = [], 0, 0
    while len(out) < k and (i < len(a) or j < len(b)):
        if j >= len(b) or (i < len(a) and key(a[i]) >= key(b[j])):
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    return out


class TopK(AggregateFunction):
    undoable = False

    def __init__(self, element_type, k: int, n_other: int, convert=None):
        self.type = self.intermediate_type = array(element_type)
        self.k = k
        self.convert = convert
        self.n_other = n_other
        if n_other:
            names = ["sort_col"] + [f"col{i}" for i in range(n_other)]
            self.names = names
            self.key = lambda e: e["sort_col"]
        else:
            self.key = lambda e: e

    def init(self):
        return []

    def add(self, acc, args):
        v = args[0]
        if v is None or self.k <= 0:
            return acc
        if self.convert is not None:
            v = self.convert(v)
        if len(acc) == self.k and v <= self.key(acc[-1]):
            return acc
        entry = dict(zip(self.names, (v,) + tuple(args[1:self.n_other + 1]))) \
            if self.n_other else v
        if len(acc) == self.k:
            acc[-1] = entry
        else:
            acc.append(entry)
        acc.sort(key=self.key, reverse=True)  # stable: ties keep arrival order
        return acc

    def merge(self, a, b):
        return _merge_desc(a, b, self.k, self.key)

    def result(self, acc):
        return [dict(e) for e in acc] if self.n_other else list(acc)


@register("TOPK")
def _topk(ctx):
    types = ctx.types
    if len(types) < 2 or types[-1].base != "INTEGER":
        raise signature_error("TOPK", types)
    sort_base = widen_to(types[0], TOPK_TYPES)
    if sort_base is None or any(t.base == "NULL" for t in types[1:-1]):
        raise signature_error("TOPK", types)
    k = int(literal_arg(ctx, len(types) - 1))
    sort_t = types[0] if sort_base == types[0].base else _base_type(sort_base)
    convert = float if sort_base != types[0].base else None
    others = types[1:-1]
    if not others:
        return TopK(sort_t, k, 0, convert)
    element = struct_type([("sort_col", sort_t)]
                          + [(f"col{i}", t) for i, t in enumerate(others)])
    return TopK(element, k, len(others), convert)


class TopKDistinct(AggregateFunction):
    undoable = False

    def __init__(self, t, k: int):
        self.type = self.intermediate_type = array(t)
        self.k = k

    def init(self):
        return []

    def add(self, acc, args):
        v = args[0]
        if v is None or self.k <= 0:
            return acc
        if len(acc) == self.k and v <= acc[-1]:
            return acc
        if v in acc:
            return acc
        if len(acc) == self.k:
            acc[-1] = v
        else:
            acc.append(v)
        acc.sort(reverse=True)
        return acc

    def merge(self, a, b):
        out, i, j = [], 0, 0
        while len(out) < self.k and (i < len(a) or j < len(b)):
            if j >= len(b) or (i < len(a) and a[i] > b[j]):
                out.append(a[i])
                i += 1
            elif i >= len(a) or b[j] > a[i]:
                out.append(b[j])
                j += 1
            else:  # equal
                out.append(a[i])
                i += 1
                j += 1
        return out

    def result(self, acc):
        return list(acc)


@register("TOPKDISTINCT")
def _topk_distinct(ctx):
    types = ctx.types
    if len(types) != 2 or types[1].base != "INTEGER":
        raise signature_error("TOPKDISTINCT", types)
    base = widen_to(types[0], TOPKDISTINCT_TYPES)
    if base is None:
        raise signature_error("TOPKDISTINCT", types)
    k = int(literal_arg(ctx, 1))
    return TopKDistinct(types[0] if base == types[0].base else _base_type(base), k)


def _base_type(base: str):
    from ksqlpy.types import SqlType

    return SqlType(base)
