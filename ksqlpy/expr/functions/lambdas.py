"""Lambda invocation functions: TRANSFORM, FILTER, REDUCE over arrays and maps.

The lambda body is compiled once against a scope extended with its parameters, then
evaluated vectorized over the flattened elements of the whole batch (REDUCE steps element
position by position, still vectorized across rows).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.errors import AnalysisError
from ksqlpy.expr import casts
from ksqlpy.expr.compiler import Node, lambda_batch, list_parts, ksql_text
from ksqlpy.expr.registry import scalar
from ksqlpy.expr.runtime import Errors, as_array, null_mask
from ksqlpy.types import SqlType, array, map_, widen

CAT = "LAMBDA"


def _run_body(body: Node, scope, cols, outer, parents: np.ndarray, values: list[pa.Array],
              e: Errors) -> pa.Array:
    batch = lambda_batch(outer, scope, parents, cols, values)
    inner = Errors()
    out = as_array(body.ev(batch, inner))
    for r, m in inner.items:
        e.add(int(parents[r]), m)
    return out


def _map_parts(m: pa.Array):
    offs, lengths, _ = list_parts(m)
    start = m.offsets[0].as_py()
    total = int(offs[-1]) if len(offs) else 0
    return offs, lengths, m.keys.slice(start, total), m.items.slice(start, total)


def _check_arity(name, args, n_opts):
    if len(args) not in n_opts:
        raise AnalysisError(f"Function '{name}' does not accept parameters "
                            f"({', '.join(ksql_text(a) for a in args)}).")


# ---------------------------------------------------------------- TRANSFORM

transform = scalar("TRANSFORM", CAT, "Apply a lambda to each element of an array or map.")


@transform.hook
def _transform(comp, args, spec, node):
    _check_arity("TRANSFORM", args, (2, 3))
    src = comp.compile(args[0])
    t = src.type
    if t.base == "ARRAY" and len(args) == 2:
        body, scope, cols = comp.compile_lambda(args[1], [t.item])
        rt = array(body.type)

        def ev(bt, e):
            arr = as_array(src.ev(bt, e))
            offs, lengths, values = list_parts(arr)
            parents = np.repeat(np.arange(len(arr)), np.diff(offs))
            out = _run_body(body, scope, cols, bt, parents, [values], e)
            return pa.ListArray.from_arrays(pa.array(offs.astype(np.int32)), out,
                                            type=rt.to_arrow(), mask=pc.is_null(arr))
        return Node(rt, ev, ksql_text(node))
    if t.base == "MAP" and len(args) == 3:
        kb, ks, kc = comp.compile_lambda(args[1], [t.key, t.item])
        vb, vs, vc = comp.compile_lambda(args[2], [t.key, t.item])
        rt = map_(kb.type, vb.type)

        def ev_m(bt, e):
            m = as_array(src.ev(bt, e))
            offs, lengths, keys, items = _map_parts(m)
            parents = np.repeat(np.arange(len(m)), np.diff(offs))
            nk = _run_body(kb, ks, kc, bt, parents, [keys, items], e)
            nv = _run_body(vb, vs, vc, bt, parents, [keys, items], e)
            # duplicate keys after the transform make the row fail (null + error)
            bad = np.zeros(len(m), dtype=bool)
            klist = nk.to_pylist()
            for r in range(len(m)):
                seg = klist[offs[r]:offs[r + 1]]
                if len(set(map(repr, seg))) != len(seg) or any(k is None for k in seg):
                    if not null_mask(m)[r]:
                        bad[r] = True
                        e.add(r, "Duplicate or null keys after TRANSFORM of a map")
            if bad.any():
                keep = ~np.repeat(bad, np.diff(offs))
                nk = nk.filter(pa.array(keep))
                nv = nv.filter(pa.array(keep))
                lens = np.where(bad, 0, np.diff(offs))
                offs = np.concatenate([[0], np.cumsum(lens)])
            mask = pc.or_(pc.is_null(m), pa.array(bad))
            return pa.MapArray.from_arrays(pa.array(offs.astype(np.int32)), nk, nv,
                                           type=rt.to_arrow(), mask=mask)
        return Node(rt, ev_m, ksql_text(node))
    raise AnalysisError(f"Function 'TRANSFORM' does not accept parameters ({t}, LAMBDA).")


# ---------------------------------------------------------------- FILTER

filter_ = scalar("FILTER", CAT, "Keep the elements of an array or map a lambda accepts.")


@filter_.hook
def _filter(comp, args, spec, node):
    _check_arity("FILTER", args, (2,))
    src = comp.compile(args[0])
    t = src.type
    if t.base == "ARRAY":
        body, scope, cols = comp.compile_lambda(args[1], [t.item])
    elif t.base == "MAP":
        body, scope, cols = comp.compile_lambda(args[1], [t.key, t.item])
    else:
        raise AnalysisError(f"Function 'FILTER' does not accept parameters ({t}, LAMBDA).")
    if body.type.base not in ("BOOLEAN", "NULL"):
        raise AnalysisError(f"FILTER lambda must return BOOLEAN but returns {body.type}")
    rt = t

    def ev(bt, e):
        arr = as_array(src.ev(bt, e))
        n = len(arr)
        if t.base == "ARRAY":
            offs, lengths, values = list_parts(arr)
            parts = [values]
        else:
            offs, lengths, keys, items = _map_parts(arr)
            parts = [keys, items]
        parents = np.repeat(np.arange(n), np.diff(offs))
        keep = _run_body(body, scope, cols, bt, parents, parts, e)
        km = np.asarray(pc.fill_null(keep, False).to_numpy(zero_copy_only=False), bool) \
            if len(keep) else np.zeros(0, bool)
        new_lens = np.bincount(parents[km], minlength=n) if len(parents) else np.zeros(n, int)
        new_offs = pa.array(np.concatenate([[0], np.cumsum(new_lens)]).astype(np.int32))
        sel = pa.array(km)
        if t.base == "ARRAY":
            return pa.ListArray.from_arrays(new_offs, parts[0].filter(sel), type=rt.to_arrow(),
                                            mask=pc.is_null(arr))
        return pa.MapArray.from_arrays(new_offs, parts[0].filter(sel), parts[1].filter(sel),
                                       type=rt.to_arrow(), mask=pc.is_null(arr))
    return Node(rt, ev, ksql_text(node))


# ---------------------------------------------------------------- REDUCE

reduce_ = scalar("REDUCE", CAT, "Fold an array or map into a value with a lambda.")


@reduce_.hook
def _reduce(comp, args, spec, node):
    _check_arity("REDUCE", args, (3,))
    src = comp.compile(args[0])
    init = comp.compile(args[1])
    t = src.type
    if t.base not in ("ARRAY", "MAP"):
        raise AnalysisError(f"Function 'REDUCE' does not accept parameters ({t}, "
                            f"{init.type}, LAMBDA).")
    st: SqlType = init.type
    if st.base == "NULL":
        raise AnalysisError("Can't infer a type of null. Please explicitly cast it to a "
                            "required type, e.g. CAST(null AS VARCHAR).")
    elems = [t.item] if t.base == "ARRAY" else [t.key, t.item]
    body, scope, cols = comp.compile_lambda(args[2], [st] + elems)
    if body.type != st:
        w = widen(st, body.type)
        if w is None:
            raise AnalysisError(f"REDUCE lambda returns {body.type} but the state is {st}")
        st = w
        body, scope, cols = comp.compile_lambda(args[2], [st] + elems)
    rt = st

    def ev(bt, e):
        arr = as_array(src.ev(bt, e))
        n = len(arr)
        state = casts.cast(as_array(init.ev(bt, e)), init.type, rt, e)
        if t.base == "ARRAY":
            offs, lengths, values = list_parts(arr)
            parts = [values]
        else:
            offs, lengths, keys, items = _map_parts(arr)
            parts = [keys, items]
        maxlen = int(lengths.max()) if n else 0
        for k in range(maxlen):
            rows = np.nonzero(lengths > k)[0]
            pos = pa.array(offs[rows] + k)
            s_sub = state.take(pa.array(rows))
            vals = [p.take(pos) for p in parts]
            out = _run_body(body, scope, cols, bt, rows, [s_sub] + vals, e)
            out = casts.cast(out, body.type, rt, e)
            # scatter back
            idx = np.full(n, -1, dtype=np.int64)
            idx[rows] = np.arange(len(rows))
            upd = np.zeros(n, dtype=bool)
            upd[rows] = True
            gathered = out.take(pa.array(np.where(upd, idx, 0)))
            state = pc.if_else(pa.array(upd), gathered, state)
        return state
    return Node(rt, ev, ksql_text(node))
