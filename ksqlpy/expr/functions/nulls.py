"""Null handling: COALESCE, IFNULL, NULLIF."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.expr.registry import Call, scalar
from ksqlpy.expr.runtime import from_py, to_py

CAT = "CONDITIONAL"


def _coalesce(c: Call) -> pa.Array:
    if len(c.args) == 1:
        return c.args[0]
    try:
        return pc.coalesce(*c.args)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        cols = [to_py(a) for a in c.args]
        out = [next((col[i] for col in cols if col[i] is not None), None) for i in range(c.n)]
        return from_py(out, c.ret)


coalesce = scalar("COALESCE", CAT, "The first non-null argument.")
coalesce.add(["T", "T"], "T", _coalesce, variadic=True)

ifnull = scalar("IFNULL", CAT, "The first argument, or the second if it is null.")
ifnull.add(["T", "T"], "T", _coalesce)


def _nullif(c: Call) -> pa.Array:
    a, b = c.args
    if c.ret.base in ("ARRAY", "MAP", "STRUCT"):
        return c.rowwise(lambda x, y: None if x == y else x, null_on_null=False)
    eq = pc.fill_null(pc.equal(a, b), False)
    return pc.if_else(eq, pa.nulls(c.n, a.type), a)


nullif = scalar("NULLIF", CAT, "Null if both arguments are equal, else the first.")
nullif.add(["T", "T"], "T", _nullif)
