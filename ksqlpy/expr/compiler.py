"""AST → typed evaluator over record batches.

Each sqlglot node compiles once into a :class:`Node`: its SQL type, an evaluator
``ev(batch, errors) -> pa.Array`` built from Arrow kernels, its ksqlDB text (for messages)
and, for literals, the constant value. Row errors are collected in an :class:`Errors` sink
so that CASE can drop the errors of branches a row did not take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from ksqlpy.errors import AnalysisError
from ksqlpy.expr import casts
from ksqlpy.expr.registry import NOCONST, Call, FunctionSpec, is_aggregate, is_table_function
from ksqlpy.expr.registry import lookup, resolve
from ksqlpy.expr.runtime import Errors, as_array, const_array, null_mask, rowwise, with_nulls
from ksqlpy.types import (BIGINT, BOOLEAN, DOUBLE, INTEGER, NULL, STRING, SqlType, array,
                          from_ast, is_numeric, map_, struct, widen)

Ev = Callable[[pa.RecordBatch, Errors], pa.Array]


@dataclass
class Node:
    type: SqlType
    ev: Ev
    sql: str
    const: Any = NOCONST

    @property
    def is_const(self) -> bool:
        return self.const is not NOCONST


_INT_RE = re.compile(r"^\d+$")
_DEC_RE = re.compile(r"^(\d*)\.(\d*)$")

_CMP = {
    "EQ": ("EQUAL", "equal", "="), "NEQ": ("NOT_EQUAL", "not_equal", "<>"),
    "GT": ("GREATER_THAN", "greater", ">"), "GTE": ("GREATER_THAN_OR_EQUAL", "greater_equal", ">="),
    "LT": ("LESS_THAN", "less", "<"), "LTE": ("LESS_THAN_OR_EQUAL", "less_equal", "<="),
}
_ARITH = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Mod": "%"}
_TEMPORAL = ("DATE", "TIME", "TIMESTAMP")


class LambdaScope:
    """A scope extended with lambda parameters; records which outer columns the body reads."""

    def __init__(self, outer, params: dict[str, tuple[str, SqlType]]):
        self.outer = outer
        self.params = params
        self.outer_columns: set[str] = set()

    def resolve(self, qualifier, name):
        if qualifier is None:
            if name in self.params:
                return self.params[name]
            for k, v in self.params.items():
                if k.upper() == name.upper():
                    return v
        col, t = self.outer.resolve(qualifier, name)
        self.outer_columns.add(col)
        return col, t


def ksql_text(node: exp.Expression) -> str:
    """ksqlDB's rendering of an expression (used in error messages)."""
    try:
        return _Fmt().fmt(node)
    except Exception:  # noqa: BLE001
        try:
            return node.sql(dialect="ksql")
        except Exception:  # noqa: BLE001
            return type(node).__name__


class _Fmt:
    def fmt(self, n) -> str:
        if isinstance(n, exp.Paren):
            return self.fmt(n.this)
        if isinstance(n, exp.Column):
            return ".".join(p.name for p in n.parts)
        if isinstance(n, exp.Identifier):
            return n.name
        if isinstance(n, exp.Literal):
            return f"'{n.this}'" if n.is_string else n.this
        if isinstance(n, exp.Boolean):
            return "true" if n.this else "false"
        if isinstance(n, exp.Null):
            return "null"
        if type(n).__name__ in _ARITH:
            return f"({self.fmt(n.this)} {_ARITH[type(n).__name__]} {self.fmt(n.expression)})"
        if type(n).__name__ in _CMP:
            return f"({self.fmt(n.this)} {_CMP[type(n).__name__][2]} {self.fmt(n.expression)})"
        if isinstance(n, exp.Anonymous):
            return f"{n.name.upper()}({', '.join(self.fmt(a) for a in n.expressions)})"
        if isinstance(n, exp.Neg):
            return f"-{self.fmt(n.this)}"
        if isinstance(n, exp.Array):
            return f"ARRAY[{', '.join(self.fmt(a) for a in n.expressions)}]"
        if isinstance(n, exp.Struct):
            return "STRUCT(" + ", ".join(
                f"{a.this.name}:={self.fmt(a.expression)}" if isinstance(a, exp.PropertyEQ)
                else self.fmt(a) for a in n.expressions) + ")"
        if type(n).__name__ == "Dereference":
            return f"{self.fmt(n.this)}->{self.fmt(n.expression)}"
        if isinstance(n, exp.Cast):
            return f"CAST({self.fmt(n.this)} AS {from_ast(n.args['to'])})"
        if isinstance(n, exp.Case):
            parts = ["CASE"] + ([self.fmt(n.this)] if n.this is not None else [])
            for i in n.args.get("ifs") or []:
                parts.append(f"WHEN {self.fmt(i.this)} THEN {self.fmt(i.args['true'])}")
            if n.args.get("default") is not None:
                parts.append(f"ELSE {self.fmt(n.args['default'])}")
            return " ".join(parts + ["END"])
        return n.sql(dialect="ksql")


class Compiler:
    def __init__(self, scope, ctx) -> None:
        self.scope = scope
        self.ctx = ctx
        self.props = ctx.properties if ctx is not None else {}
        self.lambda_depth = 0

    # ------------------------------------------------------------------ dispatch
    def compile(self, node: exp.Expression) -> Node:
        name = type(node).__name__
        m = getattr(self, "c_" + name, None)
        if m is None:
            if name in _ARITH:
                return self.arith(node, name)
            if name in _CMP:
                return self.compare_node(node, name)
            raise AnalysisError(f"Unsupported expression: {node.sql()}")
        return m(node)

    # ------------------------------------------------------------------ leaves
    def c_Column(self, node: exp.Column) -> Node:
        if isinstance(node.this, exp.Star):
            raise AnalysisError("'*' is only valid in a SELECT list or COUNT(*)")
        qualifier = node.table or None
        name = node.name
        col, t = self.scope.resolve(qualifier, name)
        return Node(t, _col_ev(col, t), ksql_text(node))

    def c_Identifier(self, node: exp.Identifier) -> Node:
        col, t = self.scope.resolve(None, node.name)
        return Node(t, _col_ev(col, t), node.name)

    def c_Paren(self, node) -> Node:
        return self.compile(node.this)

    def c_Literal(self, node: exp.Literal) -> Node:
        text = node.this
        if node.is_string:
            return self.const(text, STRING, f"'{text}'")
        return self.number(text, text)

    def number(self, text: str, sql: str) -> Node:
        if _INT_RE.match(text):
            v = int(text)
            if v <= 2 ** 31 - 1:
                return self.const(v, INTEGER, sql)
            if v <= 2 ** 63 - 1:
                return self.const(v, BIGINT, sql)
            raise AnalysisError(f"Invalid numeric literal: {sql}")
        if "e" in text.lower():
            v = float(text)
            if v in (float("inf"), float("-inf")):
                raise AnalysisError(f"Number overflows DOUBLE: {sql}")
            return self.const(v, DOUBLE, sql)
        m = _DEC_RE.match(text)
        if m:
            d = Decimal(text)
            return self.const(d, _decimal_literal_type(d), sql)
        raise AnalysisError(f"Invalid numeric literal: {sql}")

    def c_Boolean(self, node) -> Node:
        return self.const(bool(node.this), BOOLEAN, "true" if node.this else "false")

    def c_Null(self, node) -> Node:
        return self.const(None, NULL, "null")

    def const(self, value, t: SqlType, sql: str) -> Node:
        def ev(b, e, _v=value, _t=t):
            return const_array(_v, _t, b.num_rows)
        return Node(t, ev, sql, value)

    def c_Neg(self, node: exp.Neg) -> Node:
        inner = node.this
        if isinstance(inner, exp.Literal) and not inner.is_string:
            text = inner.this
            if _INT_RE.match(text):
                v = -int(text)
                if v >= -(2 ** 31):
                    return self.const(v, INTEGER, "-" + text)
                if v >= -(2 ** 63) + 1:
                    return self.const(v, BIGINT, "-" + text)
                raise AnalysisError(f"Invalid numeric literal: -{text}")
            n = self.number(text, "-" + text)
            return self.const(-n.const, n.type, "-" + text)
        a = self.compile(inner)
        if not is_numeric(a.type) and a.type.base != "NULL":
            raise AnalysisError(f"Unsupported arithmetic types. {a.type} in -{a.sql}")
        t = a.type

        def ev(b, e):
            return pc.negate(a.ev(b, e))
        if a.is_const and a.const is not None:
            return self.const(-a.const, t, "-" + a.sql)
        return Node(t, ev, "-" + a.sql)

    # ------------------------------------------------------------------ arithmetic
    def arith(self, node, kind: str) -> Node:
        a, b = self.compile(node.this), self.compile(node.expression)
        op = _ARITH[kind]
        sql = f"({a.sql} {op} {b.sql})"
        ta, tb = a.type, b.type
        if ta.base == "NULL" or tb.base == "NULL":
            # ksqlDB's type checker: an untyped NULL operand has no SQL type ("null")
            def shown(t):
                return "null" if t.base == "NULL" else str(t)
            raise AnalysisError(f"Error processing expression: {sql}. Arithmetic on types "
                                f"{shown(ta)} and {shown(tb)} are not supported.")
        if op == "+" and STRING in (ta, tb) and (ta.base in ("STRING", "NULL")
                                                 and tb.base in ("STRING", "NULL")):
            def ev(bt, e):
                x = casts.cast(a.ev(bt, e), ta, STRING, e)
                y = casts.cast(b.ev(bt, e), tb, STRING, e)
                return pc.binary_join_element_wise(x, y, "")
            return Node(STRING, ev, sql)
        if not ((is_numeric(ta) or ta.base == "NULL") and (is_numeric(tb) or tb.base == "NULL")):
            raise AnalysisError(f"Error processing expression: {sql}. Unsupported arithmetic "
                                f"types. {ta.base} {tb.base}")
        ta2 = tb if ta.base == "NULL" else ta
        tb2 = ta if tb.base == "NULL" else tb
        rt = arith_type(ta2, tb2, op)
        if rt.base == "DECIMAL":
            da, db = _as_dec_type(ta2), _as_dec_type(tb2)
            return Node(rt, _decimal_arith(a, b, ta, tb, da, db, op, rt), sql)
        work = rt

        def ev(bt, e):
            x = casts.coerce(a.ev(bt, e), ta, work)
            y = casts.coerce(b.ev(bt, e), tb, work)
            return _num_op(x, y, op, work, e)
        return Node(rt, ev, sql)

    # ------------------------------------------------------------------ comparison
    def compare_node(self, node, kind: str) -> Node:
        a, b = self.compile(node.this), self.compile(node.expression)
        return self.compare(a, b, kind)

    def compare(self, a: Node, b: Node, kind: str) -> Node:
        opname, fn, sym = _CMP[kind]
        sql = f"({a.sql} {sym} {b.sql})"
        if a.type.base == "NULL" and b.type.base == "NULL":
            raise AnalysisError(f"Comparison with NULL not supported: {a.sql.upper()} {sym} "
                                f"{b.sql.upper()}")
        wt = self.comparison_type(a, b, opname)
        if wt.base in ("ARRAY", "MAP", "STRUCT"):
            ta, tb = a.type, b.type

            def ev_c(bt, e):
                x = casts.cast(a.ev(bt, e), ta, wt, e)
                y = casts.cast(b.ev(bt, e), tb, wt, e)
                res = rowwise([x, y], lambda p, q: p == q, BOOLEAN, e)
                res = pc.invert(res) if kind == "NEQ" else res
                return pc.fill_null(res, False)
            return Node(BOOLEAN, ev_c, sql)
        kernel = getattr(pc, fn)
        ta, tb = a.type, b.type

        def ev(bt, e):
            x = casts.cast(a.ev(bt, e), ta, wt, e)
            y = casts.cast(b.ev(bt, e), tb, wt, e)
            # ksqlDB: a comparison with a null operand is false, not null
            return pc.fill_null(kernel(x, y), False)
        return Node(BOOLEAN, ev, sql)

    def comparison_type(self, a: Node, b: Node, opname: str) -> SqlType:
        ta, tb = a.type, b.type
        if ta.base == "BIGINT" and tb == STRING and b.is_const and _is_time_column(a.sql):
            return SqlType("TIMESTAMP")
        if tb.base == "BIGINT" and ta == STRING and a.is_const and _is_time_column(b.sql):
            return SqlType("TIMESTAMP")
        if ta.base == "NULL":
            return tb
        if tb.base == "NULL":
            return ta
        if is_numeric(ta) and is_numeric(tb):
            w = widen(ta, tb)
            if w.base == "DECIMAL" and (ta.base == "DOUBLE" or tb.base == "DOUBLE"):
                return DOUBLE
            return w
        if ta == tb and ta.base not in ("ARRAY", "MAP", "STRUCT"):
            return ta
        if ta.base in _TEMPORAL and tb.base in _TEMPORAL:
            if ta.base != "TIME" and tb.base != "TIME":
                return SqlType("TIMESTAMP")
        if ta.base in _TEMPORAL and tb.base == "STRING":
            return ta
        if tb.base in _TEMPORAL and ta.base == "STRING":
            return tb
        if ta.base in ("ARRAY", "MAP", "STRUCT") and ta.base == tb.base:
            if opname not in ("EQUAL", "NOT_EQUAL", "IS_DISTINCT_FROM", "IS_NOT_DISTINCT_FROM"):
                raise AnalysisError(
                    f"Cannot compare {a.sql} ({ta}) to {b.sql} ({tb}) with {opname}.")
            if ta == tb or casts.can_cast(tb, ta):
                return ta
        raise AnalysisError(f"Cannot compare {a.sql} ({ta}) to {b.sql} ({tb}) with {opname}.")

    def c_NullSafeEQ(self, node) -> Node:
        return self.distinct(node, negate=False)

    def c_NullSafeNEQ(self, node) -> Node:
        return self.distinct(node, negate=True)

    def distinct(self, node, negate: bool) -> Node:
        a, b = self.compile(node.this), self.compile(node.expression)
        opname = "IS_DISTINCT_FROM" if negate else "IS_NOT_DISTINCT_FROM"
        wt = self.comparison_type(a, b, opname) if not (
            a.type.base == "NULL" and b.type.base == "NULL") else NULL
        ta, tb = a.type, b.type

        def ev(bt, e):
            x = a.ev(bt, e)
            y = b.ev(bt, e)
            if wt.base == "NULL":
                eq = pa.repeat(pa.scalar(True), bt.num_rows)
            else:
                x = casts.cast(x, ta, wt, e)
                y = casts.cast(y, tb, wt, e)
                if wt.base in ("ARRAY", "MAP", "STRUCT"):
                    eq = rowwise([x, y], lambda p, q: p == q, BOOLEAN, e, null_on_null=False)
                else:
                    xn, yn = pc.is_null(x), pc.is_null(y)
                    same = pc.fill_null(pc.equal(x, y), False)
                    eq = pc.or_(pc.and_(xn, yn), pc.and_(pc.invert(pc.or_(xn, yn)), same))
            return pc.invert(eq) if negate else eq
        sym = "IS DISTINCT FROM" if negate else "IS NOT DISTINCT FROM"
        return Node(BOOLEAN, ev, f"({a.sql} {sym} {b.sql})")

    # ------------------------------------------------------------------ logic
    def boolean(self, node, what: str) -> Node:
        n = self.compile(node)
        if n.type.base not in ("BOOLEAN", "NULL"):
            raise AnalysisError(f"Type error in {what}: Should evaluate to boolean but is "
                                f"{n.sql} ({n.type}) instead.")
        if n.type.base == "NULL":
            return Node(BOOLEAN, lambda b, e: pa.nulls(b.num_rows, pa.bool_()), n.sql)
        return n

    def c_And(self, node) -> Node:
        a, b = self.boolean(node.this, "AND"), self.boolean(node.expression, "AND")
        return Node(BOOLEAN, lambda bt, e: pc.and_kleene(a.ev(bt, e), b.ev(bt, e)),
                    f"({a.sql} AND {b.sql})")

    def c_Or(self, node) -> Node:
        a, b = self.boolean(node.this, "OR"), self.boolean(node.expression, "OR")
        return Node(BOOLEAN, lambda bt, e: pc.or_kleene(a.ev(bt, e), b.ev(bt, e)),
                    f"({a.sql} OR {b.sql})")

    def c_Not(self, node) -> Node:
        a = self.boolean(node.this, "NOT")
        return Node(BOOLEAN, lambda bt, e: pc.invert(a.ev(bt, e)), f"(NOT {a.sql})")

    def c_Is(self, node) -> Node:
        a = self.compile(node.this)
        rhs = node.expression
        if isinstance(rhs, exp.Null):
            return Node(BOOLEAN, lambda bt, e: pc.is_null(a.ev(bt, e)), f"({a.sql} IS NULL)")
        if isinstance(rhs, exp.Boolean):
            want = bool(rhs.this)
            return Node(BOOLEAN, lambda bt, e: pc.fill_null(
                pc.equal(a.ev(bt, e), want), False), f"({a.sql} IS {rhs.sql()})")
        raise AnalysisError(f"Unsupported IS expression: {node.sql()}")

    def c_Between(self, node) -> Node:
        x = self.compile(node.this)
        lo, hi = self.compile(node.args["low"]), self.compile(node.args["high"])
        ge = self.compare(x, lo, "GTE")
        le = self.compare(x, hi, "LTE")
        return Node(BOOLEAN, lambda bt, e: pc.and_kleene(ge.ev(bt, e), le.ev(bt, e)),
                    f"({x.sql} BETWEEN {lo.sql} AND {hi.sql})")

    def c_In(self, node) -> Node:
        if node.args.get("query") is not None:
            raise AnalysisError("IN with a subquery is not supported")
        x = self.compile(node.this)
        items = [self.compile(i) for i in node.expressions]
        if x.type.base != "STRING":
            items = [coerce_literal(i, x.type, self) if i.type == STRING else i for i in items]
        eqs = []
        for it in items:
            if it.type.base == "NULL":
                continue
            try:
                eqs.append(self.compare(x, it, "EQ"))
            except AnalysisError:
                raise AnalysisError(
                    f"invalid input syntax for type {x.type}: \"{it.sql.strip(chr(39))}\"."
                    if it.is_const and it.type == STRING else
                    f"operator does not exist: {x.type} = {it.type} ({it.sql})\n"
                    "Hint: You might need to add explicit type casts.") from None

        def ev(bt, e):
            out = pa.repeat(pa.scalar(False), bt.num_rows)
            for q in eqs:
                out = pc.or_(out, pc.fill_null(q.ev(bt, e), False))
            return out
        return Node(BOOLEAN, ev, f"({x.sql} IN ({', '.join(i.sql for i in items)}))")

    def c_Like(self, node, escape: str | None = None) -> Node:
        x = self.compile(node.this)
        p = self.compile(node.expression)
        for side in (x, p):
            if side.type.base not in ("STRING", "NULL"):
                raise AnalysisError(f"Unsupported LIKE operand type: {side.sql} ({side.type})")
        negate = bool(node.args.get("negate"))
        if p.is_const and p.const is not None:
            rx = like_regex(p.const, escape)

            def ev(bt, e):
                r = pc.match_substring_regex(casts.coerce(x.ev(bt, e), x.type, STRING), rx)
                r = pc.invert(r) if negate else r
                return pc.fill_null(r, False)
        else:
            def ev(bt, e):
                xs = casts.coerce(x.ev(bt, e), x.type, STRING)
                ps = casts.coerce(p.ev(bt, e), p.type, STRING)
                r = rowwise([xs, ps], lambda s, pat: re.fullmatch(
                    "(?s)" + like_inner(pat, escape), s) is not None, BOOLEAN, e)
                r = pc.invert(r) if negate else r
                return pc.fill_null(r, False)
        return Node(BOOLEAN, ev, f"({x.sql} LIKE {p.sql})")

    def c_Escape(self, node) -> Node:
        esc = node.expression
        if not (isinstance(esc, exp.Literal) and esc.is_string and len(esc.this) == 1):
            raise AnalysisError("ESCAPE must be a single character string literal")
        inner = node.this
        negate = False
        if isinstance(inner, exp.Not):
            inner, negate = inner.this, True
        if not isinstance(inner, exp.Like):
            raise AnalysisError(f"Unsupported ESCAPE expression: {node.sql()}")
        n = self.c_Like(inner, esc.this)
        if negate:
            return Node(BOOLEAN, lambda bt, e: pc.invert(n.ev(bt, e)), f"(NOT {n.sql})")
        return n

    # ------------------------------------------------------------------ CASE
    def c_Case(self, node: exp.Case) -> Node:
        operand = self.compile(node.this) if node.this is not None else None
        conds, vals = [], []
        for if_ in node.args.get("ifs") or []:
            if operand is not None:
                w = self.compile(if_.this)
                conds.append(self.compare(operand, w, "EQ"))
            else:
                conds.append(self.boolean(if_.this, "CASE"))
            vals.append(self.compile(if_.args["true"]))
        default = node.args.get("default")
        dnode = self.compile(default) if default is not None else None
        all_vals = vals + ([dnode] if dnode is not None else [])
        rt = NULL
        for v in all_vals:
            if v.type.base == "NULL":
                continue
            if rt.base == "NULL":
                rt = v.type
                continue
            w = widen(rt, v.type) if (is_numeric(rt) and is_numeric(v.type)) else (
                rt if rt == v.type else None)
            if w is None:
                raise AnalysisError(
                    "Invalid Case expression. Type for all 'THEN' clauses should be the same.\n"
                    f"THEN expression '{v.sql}' has type: {v.type}. Expected type: {rt}")
            rt = w
        if rt.base == "NULL":
            raise AnalysisError("Invalid Case expression. All case branches have NULL type")

        def ev(bt, e):
            n = bt.num_rows
            taken = np.zeros(n, dtype=bool)
            result = pa.nulls(n, rt.to_arrow())
            choice = np.full(n, -1, dtype=np.int64)
            for i, c in enumerate(conds):
                ce = Errors()
                cv = c.ev(bt, ce)
                cm = np.asarray(pc.fill_null(cv, False).to_numpy(zero_copy_only=False), bool)
                # errors of a condition count only for rows that reached it
                for r, m in ce.items:
                    if not taken[r]:
                        e.add(r, m)
                sel = cm & ~taken
                choice[sel] = i
                taken |= sel
            branches = list(enumerate(vals))
            if dnode is not None:
                choice[~taken] = len(vals)
                branches.append((len(vals), dnode))
            for i, v in branches:
                sel = choice == i
                if not sel.any():
                    continue
                ve = Errors()
                val = casts.cast(v.ev(bt, ve), v.type, rt, ve)
                for r, m in ve.items:
                    if sel[r]:
                        e.add(r, m)
                result = pc.if_else(pa.array(sel), val, result)
            return result
        return Node(rt, ev, ksql_text(node))

    def c_If(self, node) -> Node:
        case = exp.Case(ifs=[exp.If(this=node.this, true=node.args["true"])],
                        default=node.args.get("false"))
        return self.c_Case(case)

    # ------------------------------------------------------------------ CAST
    def c_Cast(self, node: exp.Cast) -> Node:
        a = self.compile(node.this)
        to = from_ast(node.args["to"])
        casts.check_cast(a.type, to)
        src = a.type
        sql = f"CAST({a.sql} AS {to})"
        if a.is_const and a.const is not None and to.base in _TEMPORAL + ("STRING",):
            errs = Errors()
            v = casts.cast(const_array(a.const, src, 1), src, to, errs)
            if not errs.items:
                return self.const(v[0].as_py(), to, sql)
        return Node(to, lambda bt, e: casts.cast(a.ev(bt, e), src, to, e), sql)

    def c_TryCast(self, node) -> Node:
        return self.c_Cast(node)

    # ------------------------------------------------------------------ strings
    def c_DPipe(self, node) -> Node:
        a, b = self.compile(node.this), self.compile(node.expression)
        for s in (a, b):
            if s.type.base not in ("STRING", "NULL"):
                raise AnalysisError(f"Unsupported || operand: {s.sql} ({s.type})")
        ta, tb = a.type, b.type

        def ev(bt, e):
            x = pc.fill_null(casts.coerce(a.ev(bt, e), ta, STRING), "")
            y = pc.fill_null(casts.coerce(b.ev(bt, e), tb, STRING), "")
            return pc.binary_join_element_wise(x, y, "")
        return Node(STRING, ev, f"({a.sql} || {b.sql})")

    # ------------------------------------------------------------------ constructors
    def c_Array(self, node: exp.Array) -> Node:
        items = coerce_all([self.compile(i) for i in node.expressions], self)
        if not items:
            raise AnalysisError("Array constructor cannot be empty. Please supply at least one "
                                "element (see https://github.com/confluentinc/ksql/issues/4239).")
        et = common_type([i.type for i in items], [i.sql for i in items], "ARRAY")
        if et.base == "NULL":
            raise AnalysisError(
                "Cannot construct an array with all NULL elements (see https://github.com/"
                "confluentinc/ksql/issues/4239). As a workaround, you may cast a NULL value to "
                "the desired type.")
        rt = array(et)

        def ev(bt, e):
            cols = [casts.cast(i.ev(bt, e), i.type, et, e) for i in items]
            return build_list(cols, rt, bt.num_rows)
        return Node(rt, ev, f"ARRAY[{', '.join(i.sql for i in items)}]")

    def c_Struct(self, node: exp.Struct) -> Node:
        names, nodes = [], []
        for f in node.expressions:
            if isinstance(f, exp.PropertyEQ):
                names.append(f.this.name)
                nodes.append(self.compile(f.expression))
            elif isinstance(f, exp.Alias):
                names.append(f.alias)
                nodes.append(self.compile(f.this))
            else:
                raise AnalysisError(f"Invalid STRUCT field: {f.sql()}")
        ftypes = [n.type if n.type.base != "NULL" else STRING for n in nodes]
        rt = struct(list(zip(names, ftypes)))

        def ev(bt, e):
            cols = [casts.cast(n.ev(bt, e), n.type, t, e) for n, t in zip(nodes, ftypes)]
            if not cols:
                return pa.array([{}] * bt.num_rows, type=rt.to_arrow())
            return pa.StructArray.from_arrays(cols, fields=list(rt.to_arrow()))
        return Node(rt, ev, "STRUCT(" + ", ".join(
            f"{nm}:={n.sql}" for nm, n in zip(names, nodes)) + ")")

    def c_Map(self, node) -> Node:
        keys = node.args.get("keys")
        values = node.args.get("values")
        ks = keys.expressions if isinstance(keys, exp.Array) else (keys or [])
        vs = values.expressions if isinstance(values, exp.Array) else (values or [])
        return self.map_ctor(list(ks), list(vs))

    def c_VarMap(self, node) -> Node:
        return self.c_Map(node)

    def map_ctor(self, ks: list, vs: list) -> Node:
        if not ks:
            raise AnalysisError("Map constructor cannot be empty. Please supply at least one key "
                                "value pair (see https://github.com/confluentinc/ksql/issues/"
                                "4239).")
        kn = coerce_all([self.compile(k) for k in ks], self)
        vn = coerce_all([self.compile(v) for v in vs], self)
        kt = common_type([k.type for k in kn], [k.sql for k in kn], "MAP")
        vt = common_type([v.type for v in vn], [v.sql for v in vn], "MAP")
        if kt.base == "NULL":
            kt = STRING
        if vt.base == "NULL":
            raise AnalysisError(
                "Cannot construct a map with all NULL values (see https://github.com/confluentinc/"
                "ksql/issues/4239). As a workaround, you may cast a NULL value to the desired "
                "type.")
        rt = map_(kt, vt)

        def ev(bt, e):
            n = bt.num_rows
            kc = [casts.cast(k.ev(bt, e), k.type, kt, e) for k in kn]
            vc = [casts.cast(v.ev(bt, e), v.type, vt, e) for v in vn]
            return build_map(kc, vc, rt, n)
        return Node(rt, ev, "MAP(" + ", ".join(
            f"{k.sql}:={v.sql}" for k, v in zip(kn, vn)) + ")")

    # ------------------------------------------------------------------ access
    def c_Bracket(self, node: exp.Bracket) -> Node:
        base = self.compile(node.this)
        if len(node.expressions) != 1:
            raise AnalysisError(f"Invalid subscript: {node.sql()}")
        idx = self.compile(node.expressions[0])
        sql = f"{base.sql}[{idx.sql}]"
        t = base.type
        if t.base == "ARRAY":
            if idx.type.base not in ("INTEGER", "BIGINT", "NULL"):
                raise AnalysisError(f"Array index must be an integer: {sql}")
            return Node(t.item, lambda bt, e: array_index(base.ev(bt, e), idx.ev(bt, e), t.item),
                        sql)
        if t.base == "MAP":
            kt = t.key
            if idx.type != kt and not casts.can_cast(idx.type, kt):
                raise AnalysisError(f"Map key type mismatch: {sql}")

            def ev(bt, e):
                k = casts.cast(idx.ev(bt, e), idx.type, kt, e)
                return map_lookup(base.ev(bt, e), k, t.item)
            return Node(t.item, ev, sql)
        raise AnalysisError(f"Subscript expression must be an ARRAY or MAP but was {t}: {sql}")

    def c_Dereference(self, node) -> Node:
        base = self.compile(node.this)
        f = node.expression
        fname = f.name if isinstance(f, (exp.Identifier, exp.Column)) else str(f)
        t = base.type
        if t.base != "STRUCT":
            raise AnalysisError(f"Can't dereference a non-STRUCT: {base.sql} ({t})")
        idx = None
        for i, (nm, _) in enumerate(t.fields):
            if nm == fname:
                idx = i
                break
        if idx is None:
            raise AnalysisError(f"Could not find field '{fname}' in '{base.sql}'.")
        ft = t.fields[idx][1]
        return Node(ft, lambda bt, e: as_array(pc.struct_field(base.ev(bt, e), [idx])),
                    f"{base.sql}->{fname}")

    def c_Dot(self, node) -> Node:
        # sqlglot may parse `a.b` on a struct as Dot; treat as dereference
        return self.c_Dereference(node)

    def c_AtTimeZone(self, node) -> Node:
        raise AnalysisError("AT TIME ZONE is only supported in timestamp literals")

    def c_Lambda(self, node) -> Node:
        raise AnalysisError("Lambda expressions are only allowed as arguments of TRANSFORM, "
                            "FILTER and REDUCE")

    # ------------------------------------------------------------------ functions
    def c_Anonymous(self, node: exp.Anonymous) -> Node:
        name = node.name.upper()
        # F(*) means F() for everything but COUNT (ksqlDB)
        args = [a for a in node.expressions if not isinstance(a, exp.Star)]
        if name == "MAP" and all(isinstance(a, exp.PropertyEQ) for a in args):
            return self.map_ctor([a.this for a in args], [a.expression for a in args])
        if name == "STRUCT" and all(isinstance(a, exp.PropertyEQ) for a in args):
            return self.c_Struct(exp.Struct(expressions=args))
        if name in ("ARRAY",):
            return self.c_Array(exp.Array(expressions=args))
        spec = lookup(name)
        if spec is None:
            if is_aggregate(name):
                raise AnalysisError(f"Aggregate function {name} cannot be used here: "
                                    f"{ksql_text(node)}")
            if is_table_function(name):
                raise AnalysisError(f"Table function {name} cannot be used here: "
                                    f"{ksql_text(node)}")
            raise AnalysisError(f"Can't find any functions with the name '{name}'")
        if spec.compile_hook is not None:
            return spec.compile_hook(self, args, spec, node)
        nodes = [self.compile(a) for a in args]
        return self.call(spec, nodes, ksql_text(node))

    def call(self, spec: FunctionSpec, nodes: list[Node], sql: str) -> Node:
        ov, ptypes, ret = resolve(spec, [n.type for n in nodes])
        if ret.base == "NULL":
            raise AnalysisError("Can't infer a type of null. Please explicitly cast it to a "
                                "required type, e.g. CAST(null AS VARCHAR).")
        consts = [n.const for n in nodes]
        props = self.props
        impl = ov.impl
        name = spec.name
        arrow_ret = ret.to_arrow()

        def ev(bt, e):
            args = [casts.coerce(n.ev(bt, e), n.type, p) if n.type != p else n.ev(bt, e)
                    for n, p in zip(nodes, ptypes)]
            c = Call(args, ptypes, ret, e, props, bt.num_rows, consts, name)
            out = as_array(impl(c))
            if out.type != arrow_ret:
                out = out.cast(arrow_ret)
            return out
        return Node(ret, ev, sql)

    # ------------------------------------------------------------------ lambdas
    def compile_lambda(self, node, param_types: list[SqlType]) -> tuple[Node, LambdaScope,
                                                                         list[str]]:
        if not isinstance(node, exp.Lambda):
            raise AnalysisError(f"Expected a lambda expression but got: {ksql_text(node)}")
        params = [p.name for p in node.expressions]
        if len(params) != len(param_types):
            raise AnalysisError(f"Lambda has {len(params)} arguments but {len(param_types)} "
                                "were expected")
        self.lambda_depth += 1
        depth = self.lambda_depth
        cols = [f"__lambda{depth}_{i}" for i in range(len(params))]
        scope = LambdaScope(self.scope, {p: (c, t) for p, c, t in zip(params, cols, param_types)})
        saved = self.scope
        self.scope = scope
        try:
            body = self.compile(node.this)
        finally:
            self.scope = saved
            self.lambda_depth -= 1
        return body, scope, cols


def _is_time_column(sql: str) -> bool:
    """ROWTIME / WINDOWSTART / WINDOWEND compare with timestamp strings ("magic" conversion)."""
    return sql.rsplit(".", 1)[-1] in ("ROWTIME", "WINDOWSTART", "WINDOWEND")


def _col_ev(col: str, t: SqlType) -> Ev:
    at = t.to_arrow()

    def ev(b: pa.RecordBatch, e: Errors) -> pa.Array:
        arr = as_array(b.column(col))
        if arr.type != at:
            arr = arr.cast(at)
        return arr
    return ev


def lambda_batch(outer: pa.RecordBatch, scope: LambdaScope, rows: pa.Array | np.ndarray,
                 cols: list[str], values: list[pa.Array]) -> pa.RecordBatch:
    """The batch a lambda body runs on: outer columns it reads, repeated per element."""
    names, arrays = [], []
    if scope.outer_columns:
        idx = pa.array(rows, type=pa.int64())
        for c in scope.outer_columns:
            names.append(c)
            arrays.append(as_array(outer.column(c)).take(idx))
    names += cols
    arrays += values
    if not arrays:
        return pa.RecordBatch.from_arrays([pa.nulls(len(rows))], names=["__n"])
    return pa.RecordBatch.from_arrays(arrays, names=names)


# --------------------------------------------------------------------------- helpers

def _decimal_literal_type(d: Decimal) -> SqlType:
    t = d.as_tuple()
    scale = max(-t.exponent, 0)
    digits = len(t.digits)
    if d == 0:
        return SqlType("DECIMAL", precision=scale + 1, scale=scale)
    prec = digits
    # leading zeros are not significant: 0.08 has precision 1 in BigDecimal
    prec = max(prec, scale)
    return SqlType("DECIMAL", precision=max(prec, 1), scale=scale)


def _as_dec_type(t: SqlType) -> SqlType:
    if t.base == "INTEGER":
        return SqlType("DECIMAL", precision=10, scale=0)
    if t.base == "BIGINT":
        return SqlType("DECIMAL", precision=19, scale=0)
    return t


def _cap(p: int, s: int) -> SqlType:
    if p > 38:
        s = max(s - (p - 38), min(s, 6))
        p = 38
    s = min(s, p)
    return SqlType("DECIMAL", precision=p, scale=s)


def arith_type(ta: SqlType, tb: SqlType, op: str) -> SqlType:
    if "DOUBLE" in (ta.base, tb.base):
        return DOUBLE
    if "DECIMAL" in (ta.base, tb.base):
        a, b = _as_dec_type(ta), _as_dec_type(tb)
        p1, s1, p2, s2 = a.precision, a.scale, b.precision, b.scale
        if op in "+-":
            s = max(s1, s2)
            return _cap(max(p1 - s1, p2 - s2) + s + 1, s)
        if op == "*":
            return _cap(p1 + p2 + 1, s1 + s2)
        if op == "/":
            s = max(6, s1 + p2 + 1)
            return _cap(p1 - s1 + s2 + s, s)
        s = max(s1, s2)
        return _cap(min(p1 - s1, p2 - s2) + s, s)
    if "BIGINT" in (ta.base, tb.base):
        return BIGINT
    return INTEGER


def _num_op(x: pa.Array, y: pa.Array, op: str, t: SqlType, e: Errors) -> pa.Array:
    if op == "+":
        return pc.add(x, y)
    if op == "-":
        return pc.subtract(x, y)
    if op == "*":
        return pc.multiply(x, y)
    if t.base == "DOUBLE":
        if op == "/":
            return _java_fdiv(x, y)
        xs = x.to_numpy(zero_copy_only=False)
        ys = y.to_numpy(zero_copy_only=False)
        with np.errstate(all="ignore"):
            r = np.fmod(xs, ys)
        return pa.array(r, type=pa.float64(), mask=null_mask(x) | null_mask(y))
    # integer / and %: Java semantics; division by zero → null + error
    zero = np.asarray(pc.fill_null(pc.equal(y, 0), False).to_numpy(zero_copy_only=False), bool)
    if zero.any():
        bad = zero & ~null_mask(x)
        e.add_many(np.nonzero(bad)[0], "/ by zero")
        y = pc.if_else(pa.array(zero), pa.scalar(1, y.type), y)
    # Java wraps MIN / -1; Arrow would raise, so route those through int64/object math
    q = _int_div(x, y, t)
    if op == "/":
        res = q
    else:
        res = pc.subtract(x, pc.multiply(q, y))
    return with_nulls(res, zero)


def _int_div(x: pa.Array, y: pa.Array, t: SqlType) -> pa.Array:
    try:
        return pc.divide(x, y)
    except pa.ArrowInvalid:
        xs = [None if v is None else v for v in x.to_pylist()]
        ys = y.to_pylist()
        bits = 32 if t.base == "INTEGER" else 64
        out = []
        for a, b in zip(xs, ys):
            if a is None or b is None:
                out.append(None)
                continue
            qv = abs(a) // abs(b)
            qv = qv if (a >= 0) == (b >= 0) else -qv
            m = 1 << bits
            qv &= m - 1
            out.append(qv - m if qv >= m >> 1 else qv)
        return pa.array(out, type=x.type)


def _java_fdiv(x: pa.Array, y: pa.Array) -> pa.Array:
    xs = x.to_numpy(zero_copy_only=False)
    ys = y.to_numpy(zero_copy_only=False)
    with np.errstate(all="ignore"):
        r = np.true_divide(xs, ys)
    return pa.array(r, type=pa.float64(), mask=null_mask(x) | null_mask(y))


def _decimal_arith(a: Node, b: Node, ta, tb, da, db, op, rt) -> Ev:
    q = Decimal(1).scaleb(-rt.scale)
    ctx = Context(prec=200, rounding=ROUND_HALF_UP)

    def pyop(x: Decimal, y: Decimal) -> Decimal:
        if op == "+":
            r = ctx.add(x, y)
        elif op == "-":
            r = ctx.subtract(x, y)
        elif op == "*":
            r = ctx.multiply(x, y)
        elif op == "/":
            if y == 0:
                raise ArithmeticError("Division by zero")
            r = ctx.divide(x, y)
        else:
            if y == 0:
                raise ArithmeticError("Division by zero")
            r = ctx.remainder(x, y)
        r = r.quantize(q, rounding=ROUND_HALF_UP, context=ctx)
        if len(r.as_tuple().digits) > rt.precision and r != 0:
            raise ArithmeticError(f"Numeric field overflow for {rt}")
        return r

    def ev(bt, e):
        x = casts.coerce(a.ev(bt, e), ta, da)
        y = casts.coerce(b.ev(bt, e), tb, db)
        if op in "+-*" and rt.precision < 38:
            try:
                k = pc.add if op == "+" else pc.subtract if op == "-" else pc.multiply
                return k(x, y).cast(rt.to_arrow())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        return rowwise([x, y], pyop, rt, e)
    return ev


def coerce_literal(n: Node, target: SqlType, comp: "Compiler") -> Node:
    """ksqlDB literal coercion: a STRING literal used where a number/boolean/temporal is
    expected is parsed at compile time; a numeric literal where a STRING is expected becomes
    its text."""
    if not n.is_const or n.const is None or n.type == target:
        return n
    if n.type == STRING and (is_numeric(target) or target.base == "BOOLEAN"):
        text = n.const.strip()
        try:
            if target.base == "BOOLEAN":
                v = casts.parse_boolean_strict(text)
                return comp.const(v, BOOLEAN, n.sql)
            d = Decimal(text)
            if not d.is_finite():
                raise ValueError
        except Exception:  # noqa: BLE001
            raise AnalysisError(
                f'invalid input syntax for type {target}: "{n.const}".') from None
        if target.base == "DOUBLE":
            return comp.const(float(d), DOUBLE, n.sql)
        if d == d.to_integral_value() and target.base in ("INTEGER", "BIGINT"):
            v = int(d)
            t = INTEGER if -(2 ** 31) <= v < 2 ** 31 else BIGINT
            return comp.const(v, t, n.sql)
        return comp.const(d, _decimal_literal_type(d), n.sql)
    if n.type == STRING and target.base in _TEMPORAL:
        return n
    if target == STRING and is_numeric(n.type):
        v = n.const
        text = str(v) if not isinstance(v, float) else casts.javafmt.java_double_str(v)
        return comp.const(text, STRING, n.sql)
    return n


def coerce_all(nodes: list[Node], comp: "Compiler") -> list[Node]:
    """Coerce the literals of a list of expressions towards the type of the others."""
    typed = [n.type for n in nodes if not n.is_const and n.type.base != "NULL"]
    if not typed:
        typed = [n.type for n in nodes if n.type.base not in ("NULL", "STRING")]
    if not typed:
        return nodes
    target = typed[0]
    for t in typed[1:]:
        w = widen(target, t) if is_numeric(target) and is_numeric(t) else None
        if w is not None:
            target = w
    return [coerce_literal(n, target, comp) for n in nodes]


def common_type(types: list[SqlType], sqls: list[str], what: str) -> SqlType:
    rt = NULL
    for t, s in zip(types, sqls):
        if t.base == "NULL":
            continue
        if rt.base == "NULL":
            rt = t
            continue
        if rt == t:
            continue
        w = widen(rt, t) if is_numeric(rt) and is_numeric(t) else None
        if w is None:
            raise AnalysisError(f"invalid input syntax for type {rt}: \"{s}\"" if t == STRING
                                else f"Cannot construct {what} with mismatching types: {rt} "
                                f"and {t} ({s})")
        rt = w
    return rt


def build_list(cols: list[pa.Array], rt: SqlType, n: int) -> pa.Array:
    k = len(cols)
    if k == 0:
        return pa.array([[]] * n, type=rt.to_arrow())
    flat = pa.concat_arrays([as_array(c) for c in cols])
    idx = (np.arange(k, dtype=np.int64)[None, :] * n + np.arange(n, dtype=np.int64)[:, None])
    values = flat.take(pa.array(idx.ravel()))
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values, type=rt.to_arrow())


def build_map(kcols: list[pa.Array], vcols: list[pa.Array], rt: SqlType, n: int) -> pa.Array:
    k = len(kcols)
    keys = pa.concat_arrays(kcols)
    vals = pa.concat_arrays(vcols)
    idx = (np.arange(k, dtype=np.int64)[None, :] * n + np.arange(n, dtype=np.int64)[:, None])
    idx = idx.ravel()
    knull = null_mask(keys)[idx]
    if knull.any() or k > 1:
        # drop null keys; a later duplicate key overwrites the earlier one (Java LinkedHashMap
        # keeps the first position)
        kl = keys.take(pa.array(idx)).to_pylist()
        vl = vals.take(pa.array(idx)).to_pylist()
        rows = []
        for r in range(n):
            d: dict = {}
            for j in range(r * k, r * k + k):
                if kl[j] is not None:
                    d[kl[j]] = vl[j]
            rows.append(list(d.items()))
        return pa.array(rows, type=rt.to_arrow())
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    return pa.MapArray.from_arrays(offsets, keys.take(pa.array(idx)), vals.take(pa.array(idx)),
                                   type=rt.to_arrow())


def list_parts(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """(offsets int64 relative to ``values``, lengths (0 for null lists), values)."""
    offs = np.asarray(arr.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    start = offs[0]
    values = arr.values.slice(start, offs[-1] - start) if len(offs) else arr.values
    offs = offs - start
    lengths = np.diff(offs)
    if arr.null_count:
        lengths = np.where(null_mask(arr), 0, lengths)
    return offs, lengths, values


def array_index(arr: pa.Array, idx: pa.Array, item: SqlType) -> pa.Array:
    arr, idx = as_array(arr), as_array(idx)
    n = len(arr)
    if n == 0:
        return pa.nulls(0, item.to_arrow())
    offs, lengths, values = list_parts(arr)
    iv = np.asarray(pc.fill_null(idx.cast(pa.int64()), 0).to_numpy(zero_copy_only=False))
    pos = np.where(iv > 0, iv - 1, lengths + iv)
    valid = (iv != 0) & (pos >= 0) & (pos < lengths) & ~null_mask(arr) & ~null_mask(idx)
    take = np.where(valid, offs[:-1] + pos, 0)
    if len(values) == 0:
        return pa.nulls(n, item.to_arrow())
    out = values.take(pa.array(take))
    return with_nulls(out, ~valid)


def map_lookup(m: pa.Array, key: pa.Array, item: SqlType) -> pa.Array:
    m, key = as_array(m), as_array(key)
    n = len(m)
    offs, lengths, _ = list_parts(m)
    start = m.offsets[0].as_py()
    total = int(offs[-1]) if len(offs) else 0
    keys = m.keys.slice(start, total) if hasattr(m, "keys") else None
    items = m.items.slice(start, total)
    if total == 0:
        return pa.nulls(n, item.to_arrow())
    parent = np.repeat(np.arange(n), np.diff(offs))
    kb = key.take(pa.array(parent))
    eq = np.asarray(pc.fill_null(pc.equal(keys, kb), False).to_numpy(zero_copy_only=False), bool)
    eq &= ~null_mask(m)[parent]
    hit_pos = np.nonzero(eq)[0]
    rows = parent[hit_pos]
    take = np.zeros(n, dtype=np.int64)
    found = np.zeros(n, dtype=bool)
    take[rows] = hit_pos
    found[rows] = True
    out = items.take(pa.array(take))
    return with_nulls(out, ~found)


def like_regex(pattern: str, escape: str | None) -> str:
    """RE2 (Arrow) regex for a LIKE pattern."""
    return "(?s)\\A" + like_inner(pattern, escape) + "\\z"


def like_inner(pattern: str, escape: str | None) -> str:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if escape is not None and ch == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


_ = (DivisionByZero, InvalidOperation)
