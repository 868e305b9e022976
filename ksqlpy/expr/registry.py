"""The function registry: names, categories, overloads and their Arrow implementations.

Adding a scalar function is routine::

    fn = scalar("ABS", "MATHEMATICAL", "The absolute value of a value.")

    @fn.sig(["INTEGER"], "INTEGER")
    @fn.sig(["BIGINT"], "BIGINT")
    @fn.sig(["DOUBLE"], "DOUBLE")
    def _abs(c: Call) -> pa.Array:
        return pc.abs(c.args[0])

Parameter patterns are strings: primitive names (``INTEGER``, ``STRING``…), ``DECIMAL`` (any
decimal), single letters for generics (``T``, ``K``, ``V``…), ``ARRAY<T>``, ``MAP<K, V>``,
``STRUCT`` (any struct) and ``ANY``. ``variadic=True`` makes the last parameter repeat
zero or more times. The return type is a pattern over the same generics, or a callable
``(param_types) -> SqlType`` (ksqlDB's schema providers, e.g. for DECIMAL results).

Overload resolution follows ksqlDB's ``UdfIndex``: an exact match first, then a match with
implicit widening (INT → BIGINT → DECIMAL → DOUBLE); among matches prefer non-variadic, then
more parameters, then fewer generics; a tie is ambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import pyarrow as pa

from ksqlpy.errors import AnalysisError
from ksqlpy.expr.runtime import Errors, rowwise
from ksqlpy.types import SqlType, array, map_, widen

__all__ = ["Call", "Overload", "FunctionSpec", "scalar", "lookup", "REGISTRY", "NOCONST",
           "resolve", "is_aggregate", "is_table_function", "function_names", "AGGREGATES",
           "TABLE_FUNCTIONS", "type_list_str"]

NOCONST = object()

# --------------------------------------------------------------------------- patterns

_PRIMS = {"BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "STRING", "BYTES", "DATE", "TIME",
          "TIMESTAMP"}
_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z_0-9]*|<|>|,)")


@dataclass(frozen=True)
class Pat:
    kind: str                 # PRIM DECIMAL GEN ARRAY MAP STRUCT ANY
    name: str = ""
    args: tuple = ()

    def __str__(self) -> str:
        if self.kind in ("PRIM", "GEN"):
            return self.name
        if self.kind == "ARRAY":
            return f"ARRAY<{self.args[0]}>"
        if self.kind == "MAP":
            return f"MAP<{self.args[0]}, {self.args[1]}>"
        return self.kind


def parse_pattern(text: str) -> Pat:
    toks = [m.group(1) for m in _TOKEN.finditer(text)]
    pos = 0

    def parse() -> Pat:
        nonlocal pos
        t = toks[pos].upper()
        pos += 1
        if t in ("ARRAY", "MAP"):
            assert toks[pos] == "<"
            pos += 1
            args = [parse()]
            while toks[pos] == ",":
                pos += 1
                args.append(parse())
            assert toks[pos] == ">"
            pos += 1
            return Pat(t, args=tuple(args))
        if t in ("INT",):
            t = "INTEGER"
        if t in ("VARCHAR",):
            t = "STRING"
        if t in _PRIMS:
            return Pat("PRIM", t)
        if t in ("DECIMAL", "STRUCT", "ANY"):
            return Pat(t)
        if len(t) <= 2:
            return Pat("GEN", t)
        raise ValueError(f"bad type pattern {text!r}")

    return parse()


_TEMPORALS = ("DATE", "TIME", "TIMESTAMP")
_RANK = {"INTEGER": 0, "BIGINT": 1, "DECIMAL": 2, "DOUBLE": 3}


def _int_decimal(t: SqlType) -> SqlType:
    if t.base == "INTEGER":
        return SqlType("DECIMAL", precision=10, scale=0)
    if t.base == "BIGINT":
        return SqlType("DECIMAL", precision=19, scale=0)
    return t


def _has_generics(p: Pat) -> bool:
    return p.kind == "GEN" or any(_has_generics(a) for a in p.args)


def _accepts(p: Pat, t: SqlType, b: dict, casts: bool) -> bool:
    if t is None or t.base == "NULL":
        return True
    k = p.kind
    if k == "ANY":
        return True
    if k == "PRIM":
        if t.base == p.name:
            return True
        if casts and t.base == "STRING" and p.name in _TEMPORALS:
            return True      # string literals convert to DATE/TIME/TIMESTAMP
        return (casts and t.base in _RANK and p.name in _RANK
                and _RANK[t.base] < _RANK[p.name])
    if k == "DECIMAL":
        return t.base == "DECIMAL" or (casts and t.base in ("INTEGER", "BIGINT"))
    if k == "STRUCT":
        return t.base == "STRUCT"
    if k == "ARRAY":
        return t.base == "ARRAY" and _accepts(p.args[0], t.item, b, casts)
    if k == "MAP":
        return (t.base == "MAP" and _accepts(p.args[0], t.key, b, casts)
                and _accepts(p.args[1], t.item, b, casts))
    if k == "GEN":
        bound = b.get(p.name)
        if bound is None or bound.base == "NULL":
            b[p.name] = t
            return True
        if bound == t:
            return True
        if casts:
            if bound.base == "STRING" and t.base in _TEMPORALS:
                b[p.name] = t
                return True
            if t.base == "STRING" and bound.base in _TEMPORALS:
                return True
            w = widen(bound, t)
            if w is not None and w.base in _RANK:
                b[p.name] = w
                return True
            if _null_free_equal(bound, t):
                return True
        return False
    return False


def _null_free_equal(a: SqlType, b: SqlType) -> bool:
    return str(a) == str(b)


def _subst(p: Pat, t: SqlType | None, b: dict) -> SqlType:
    k = p.kind
    if k == "PRIM":
        return SqlType(p.name)
    if k == "DECIMAL":
        if t is not None and t.base == "DECIMAL":
            return t
        if t is not None and t.base in ("INTEGER", "BIGINT"):
            return _int_decimal(t)
        return SqlType("DECIMAL", precision=38, scale=10) if t is None else t
    if k == "GEN":
        return b.get(p.name) or SqlType("NULL")
    if k == "ARRAY":
        return array(_subst(p.args[0], t.item if t is not None and t.base == "ARRAY" else None,
                            b))
    if k == "MAP":
        tk = t.key if t is not None and t.base == "MAP" else None
        tv = t.item if t is not None and t.base == "MAP" else None
        return map_(_subst(p.args[0], tk, b), _subst(p.args[1], tv, b))
    return t if t is not None else SqlType("NULL")


# --------------------------------------------------------------------------- calls

@dataclass
class Call:
    """What an implementation receives: coerced argument arrays and their SQL types."""

    args: list[pa.Array]
    types: list[SqlType]
    ret: SqlType
    errors: Errors
    props: dict[str, str]
    n: int
    consts: list[Any] = field(default_factory=list)   # literal argument values or NOCONST
    name: str = ""

    def error(self, row: int, message: str) -> None:
        self.errors.add(row, message)

    def rowwise(self, fn: Callable[..., Any], null_on_null: bool = True,
                args: Sequence[pa.Array] | None = None, ret: SqlType | None = None
                ) -> pa.Array:
        return rowwise(self.args if args is None else args, fn, ret or self.ret, self.errors,
                       null_on_null)

    def const(self, i: int) -> Any:
        return self.consts[i] if i < len(self.consts) else NOCONST


Impl = Callable[[Call], pa.Array]


@dataclass
class Overload:
    params: tuple[Pat, ...]
    ret: Pat | Callable[[list[SqlType]], SqlType]
    impl: Impl
    variadic: bool = False
    names: tuple[str, ...] = ()

    def describe(self, display: str) -> str:
        parts = []
        for i, p in enumerate(self.params):
            s = str(p) + ("..." if self.variadic and i == len(self.params) - 1 else "")
            if i < len(self.names) and self.names[i]:
                s += " " + self.names[i]
            parts.append(s)
        return f"{display}({', '.join(parts)})"

    @property
    def generic_count(self) -> int:
        return sum(1 for p in self.params if _has_generics(p))


@dataclass
class FunctionSpec:
    name: str
    category: str
    description: str = ""
    display: str = ""
    kind: str = "SCALAR"
    overloads: list[Overload] = field(default_factory=list)
    # For special forms (lambda functions, literal-driven typing): hook(compiler, arg nodes)
    compile_hook: Callable | None = None

    def sig(self, params: Sequence[str], ret: str | Callable[[list[SqlType]], SqlType],
            variadic: bool = False, names: Sequence[str] = ()) -> Callable[[Impl], Impl]:
        def deco(impl: Impl) -> Impl:
            self.add(params, ret, impl, variadic, names)
            return impl
        return deco

    def add(self, params: Sequence[str], ret, impl: Impl, variadic: bool = False,
            names: Sequence[str] = ()) -> None:
        pats = tuple(parse_pattern(p) for p in params)
        r = parse_pattern(ret) if isinstance(ret, str) else ret
        self.overloads.append(Overload(pats, r, impl, variadic, tuple(names)))

    def hook(self, fn: Callable) -> Callable:
        self.compile_hook = fn
        return fn


REGISTRY: dict[str, FunctionSpec] = {}


def scalar(name: str, category: str, description: str = "", display: str | None = None
           ) -> FunctionSpec:
    spec = FunctionSpec(name.upper(), category, description, display or name.upper())
    REGISTRY[spec.name] = spec
    return spec


def lookup(name: str) -> FunctionSpec | None:
    _load()
    return REGISTRY.get(name.upper())


def type_list_str(types: Sequence[SqlType | None]) -> str:
    return "(" + ", ".join("null" if t is None or t.base == "NULL" else t.sql(False)
                           .replace("`", "") for t in types) + ")"


def resolve(spec: FunctionSpec, arg_types: Sequence[SqlType]
            ) -> tuple[Overload, list[SqlType], SqlType]:
    """Pick the overload for ``arg_types``; returns it, the param type per argument and the
    return type. Raises AnalysisError with ksqlDB's messages."""
    for casts in (False, True):
        cands = []
        for ov in spec.overloads:
            b = _match(ov, arg_types, casts)
            if b is not None:
                cands.append((ov, b))
        if not cands:
            continue
        cands.sort(key=lambda c: (0 if c[0].variadic else 1, len(c[0].params),
                                  -c[0].generic_count))
        best = cands[-1]
        if len(cands) > 1:
            k1 = (0 if best[0].variadic else 1, len(best[0].params), -best[0].generic_count)
            o = cands[-2][0]
            k2 = (0 if o.variadic else 1, len(o.params), -o.generic_count)
            if k1 == k2:
                raise AnalysisError(
                    f"Function '{spec.display}' cannot be resolved due to ambiguous method "
                    f"parameters {type_list_str(arg_types)}.\nUse CAST() to explicitly cast your"
                    f" parameters to one of the supported function calls.\nValid function calls"
                    f" are:\n{_alternatives(spec)}\nFor detailed information on a function run:"
                    f" DESCRIBE FUNCTION <Function-Name>;")
        ov, b = best
        ptypes = []
        for i, t in enumerate(arg_types):
            p = ov.params[min(i, len(ov.params) - 1)]
            ptypes.append(_subst(p, t, b))
        ret = ov.ret(ptypes) if callable(ov.ret) else _subst(ov.ret, None, b)
        return ov, ptypes, ret
    raise AnalysisError(
        f"Function '{spec.display}' does not accept parameters {type_list_str(arg_types)}.\n"
        f"Valid alternatives are:\n{_alternatives(spec)}\n"
        f"For detailed information on a function run: DESCRIBE FUNCTION <Function-Name>;")


def _alternatives(spec: FunctionSpec) -> str:
    return "\n".join(ov.describe(spec.display) for ov in spec.overloads)


def _match(ov: Overload, arg_types: Sequence[SqlType], casts: bool) -> dict | None:
    n, np_ = len(arg_types), len(ov.params)
    if ov.variadic:
        if n < np_ - 1:
            return None
    elif n != np_:
        return None
    b: dict = {}
    for i, t in enumerate(arg_types):
        p = ov.params[min(i, np_ - 1)]
        if not _accepts(p, t, b, casts):
            return None
    # a second pass so that widened generic bindings are checked against every argument
    for i, t in enumerate(arg_types):
        p = ov.params[min(i, np_ - 1)]
        if not _accepts(p, t, dict(b), casts):
            return None
    return b


# --------------------------------------------------------------------------- catalogue

AGGREGATES = {
    "ATTR": "AGGREGATE", "AVG": "AGGREGATE", "COLLECT_LIST": "AGGREGATE",
    "COLLECT_SET": "AGGREGATE", "CORRELATION": "AGGREGATE", "COUNT": "AGGREGATE",
    "COUNT_DISTINCT": "AGGREGATE", "EARLIEST_BY_OFFSET": "AGGREGATE", "HISTOGRAM": "AGGREGATE",
    "LATEST_BY_OFFSET": "AGGREGATE", "MAX": "AGGREGATE", "MIN": "AGGREGATE",
    "STDDEV_SAMP": "AGGREGATE", "STDDEV_SAMPLE": "AGGREGATE", "SUM": "AGGREGATE",
    "SUM_LIST": "AGGREGATE", "TOPK": "AGGREGATE", "TOPKDISTINCT": "AGGREGATE",
}
TABLE_FUNCTIONS = {"EXPLODE": "TABLE", "CUBE_EXPLODE": "TABLE"}


def is_aggregate(name: str) -> bool:
    return name.upper() in AGGREGATES


def is_table_function(name: str) -> bool:
    return name.upper() in TABLE_FUNCTIONS


def function_names() -> list[dict]:
    """Every function, for SHOW FUNCTIONS: name, type (SCALAR/AGGREGATE/TABLE), category."""
    _load()
    out = [{"name": s.name, "type": s.kind, "category": s.category} for s in REGISTRY.values()]
    out += [{"name": n, "type": "AGGREGATE", "category": "AGGREGATE"} for n in AGGREGATES]
    out += [{"name": n, "type": "TABLE", "category": "TABLE"} for n in TABLE_FUNCTIONS]
    return sorted(out, key=lambda d: d["name"])


_loaded = False


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for mod in ("math", "string", "nulls", "json", "array", "map", "lambdas", "datetime",
                "url", "bytes", "geo", "other"):
        try:
            importlib.import_module(f"ksqlpy.expr.functions.{mod}")
        except ModuleNotFoundError as e:     # a family not written yet
            if e.name != f"ksqlpy.expr.functions.{mod}":
                raise
