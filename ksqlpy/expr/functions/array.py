"""Array functions."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.expr.casts import typed_str
from ksqlpy.expr.registry import Call, scalar
from ksqlpy.expr.runtime import null_mask
from ksqlpy.types import STRING, SqlType, array, struct

CAT = "ARRAY"


def _key(v):
    """Hashable form of a runtime value (lists/dicts inside arrays)."""
    if isinstance(v, list):
        return ("L", tuple(_key(x) for x in v))
    if isinstance(v, dict):
        return ("D", tuple((k, _key(x)) for k, x in v.items()))
    if isinstance(v, float) and v != v:
        return ("NaN",)
    return v


def _distinct(xs):
    seen, out = set(), []
    for x in xs:
        k = _key(x)
        if k not in seen:
            seen.add(k)
            out.append(x)
    return out


length = scalar("ARRAY_LENGTH", CAT, "The number of elements of an array.")
length.add(["ARRAY<T>"], "INTEGER", lambda c: pc.list_value_length(c.args[0]).cast(pa.int32()))


def _contains(c: Call) -> pa.Array:
    def f(xs, v):
        if xs is None:
            return False
        k = _key(v)
        return any(_key(x) == k for x in xs)
    return c.rowwise(f, null_on_null=False)


contains = scalar("ARRAY_CONTAINS", CAT, "Whether an array contains a value.")
contains.add(["ARRAY<T>", "T"], "BOOLEAN", _contains)

distinct = scalar("ARRAY_DISTINCT", CAT, "The distinct elements of an array, in order.")
distinct.add(["ARRAY<T>"], "ARRAY<T>", lambda c: c.rowwise(_distinct))


def _except(xs, ys):
    ban = {_key(y) for y in ys}
    return _distinct([x for x in xs if _key(x) not in ban])


def _intersect(xs, ys):
    keep = {_key(y) for y in ys}
    return _distinct([x for x in xs if _key(x) in keep])


ex = scalar("ARRAY_EXCEPT", CAT, "Elements of the first array not in the second.")
ex.add(["ARRAY<T>", "ARRAY<T>"], "ARRAY<T>", lambda c: c.rowwise(_except))
inter = scalar("ARRAY_INTERSECT", CAT, "Distinct elements present in both arrays.")
inter.add(["ARRAY<T>", "ARRAY<T>"], "ARRAY<T>", lambda c: c.rowwise(_intersect))
union = scalar("ARRAY_UNION", CAT, "Distinct elements of both arrays.")
union.add(["ARRAY<T>", "ARRAY<T>"], "ARRAY<T>", lambda c: c.rowwise(lambda x, y: _distinct(x + y)))


def _concat(x, y):
    if x is None and y is None:
        return None
    return (x or []) + (y or [])


concat = scalar("ARRAY_CONCAT", CAT, "The elements of both arrays.")
concat.add(["ARRAY<T>", "ARRAY<T>"], "ARRAY<T>",
           lambda c: c.rowwise(_concat, null_on_null=False))


def _remove(xs, v):
    if xs is None:
        return None
    k = _key(v)
    return [x for x in xs if _key(x) != k]


remove = scalar("ARRAY_REMOVE", CAT, "The array without every element equal to a value.")
remove.add(["ARRAY<T>", "T"], "ARRAY<T>", lambda c: c.rowwise(_remove, null_on_null=False))


def _join(c: Call) -> pa.Array:
    item = c.types[0].item

    def f(xs, sep=","):
        if xs is None:
            return None
        if sep is None:
            sep = ""
        return sep.join("null" if x is None else typed_str(x, item) for x in xs)
    return c.rowwise(f, null_on_null=False)


join = scalar("ARRAY_JOIN", CAT, "Join array elements into a string with a delimiter.")
join.add(["ARRAY<T>"], "STRING", _join)
join.add(["ARRAY<T>", "STRING"], "STRING", _join)


def _minmax(fn):
    def f(xs):
        vals = [x for x in xs if x is not None]
        return fn(vals) if vals else None
    return lambda c: c.rowwise(f)


amax = scalar("ARRAY_MAX", CAT, "The maximum non-null element.")
amax.add(["ARRAY<T>"], "T", _minmax(max))
amin = scalar("ARRAY_MIN", CAT, "The minimum non-null element.")
amin.add(["ARRAY<T>"], "T", _minmax(min))


def _sort(xs, direction="ASC"):
    vals = [x for x in xs if x is not None]
    nulls = [None] * (len(xs) - len(vals))
    d = (direction or "ASC").upper()
    if d not in ("ASC", "DESC"):
        return None
    return sorted(vals, reverse=(d == "DESC")) + nulls


sort = scalar("ARRAY_SORT", CAT, "Sort an array ascending (default) or descending; nulls last.")
sort.add(["ARRAY<T>"], "ARRAY<T>", lambda c: c.rowwise(_sort))
sort.add(["ARRAY<T>", "STRING"], "ARRAY<T>", lambda c: c.rowwise(_sort))


def _slice(xs, a, b):
    if a is None or b is None:
        return None
    lo = max(a - 1, 0)
    hi = min(b, len(xs))
    if lo >= len(xs) or hi < lo:
        return []
    return xs[lo:hi]


slice_ = scalar("SLICE", CAT, "The elements between two 1-based positions, inclusive.")
slice_.add(["ARRAY<T>", "INTEGER", "INTEGER"], "ARRAY<T>",
           lambda c: c.rowwise(_slice, null_on_null=False))


def _series(a, b, step=None):
    if step is None:
        step = 1 if b >= a else -1
    if step == 0:
        raise ValueError("GENERATE_SERIES step cannot be zero")
    if (b - a) * step < 0:
        raise ValueError("GENERATE_SERIES has a step in the wrong direction")
    return list(range(a, b + (1 if step > 0 else -1), step))


series = scalar("GENERATE_SERIES", CAT, "An array of values from start to end, inclusive.")
for _t in ("INTEGER", "BIGINT"):
    series.add([_t, _t], f"ARRAY<{_t}>", lambda c: c.rowwise(_series))
    series.add([_t, _t, "INTEGER"], f"ARRAY<{_t}>", lambda c: c.rowwise(_series))


def _entries_type(types: list[SqlType]) -> SqlType:
    m = types[0]
    return array(struct([("K", STRING), ("V", m.item)]))


def _entries(c: Call) -> pa.Array:
    def f(m, sort):
        items = list(m.items())
        if sort:
            items.sort(key=lambda kv: kv[0])
        return [{"K": k, "V": v} for k, v in items]
    return c.rowwise(f)


entries = scalar("ENTRIES", CAT, "The entries of a map as an array of K/V structs.")
entries.add(["MAP<STRING, T>", "BOOLEAN"], _entries_type, _entries)

_ = (np, null_mask)
