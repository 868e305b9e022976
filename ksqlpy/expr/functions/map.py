"""Map functions."""

from __future__ import annotations

from ksqlpy.expr.registry import Call, scalar

CAT = "MAP"

keys = scalar("MAP_KEYS", CAT, "The keys of a map.")
keys.add(["MAP<K, V>"], "ARRAY<K>", lambda c: c.rowwise(lambda m: list(m.keys())))
values = scalar("MAP_VALUES", CAT, "The values of a map.")
values.add(["MAP<K, V>"], "ARRAY<V>", lambda c: c.rowwise(lambda m: list(m.values())))


def _union(a, b):
    if a is None and b is None:
        return None
    out = dict(a or {})
    out.update(b or {})
    return out


union = scalar("MAP_UNION", CAT, "The union of two maps; the second wins on duplicate keys.")
union.add(["MAP<K, V>", "MAP<K, V>"], "MAP<K, V>", lambda c: c.rowwise(_union, null_on_null=False))


def _as_map(ks, vs):
    out = {}
    for i, k in enumerate(ks):
        if k is None:
            continue
        out[k] = vs[i] if i < len(vs) else None
    return out


def _as_map_impl(c: Call):
    return c.rowwise(_as_map)


as_map = scalar("AS_MAP", CAT, "A map built from an array of keys and an array of values.")
as_map.add(["ARRAY<STRING>", "ARRAY<T>"], "MAP<STRING, T>", _as_map_impl)
