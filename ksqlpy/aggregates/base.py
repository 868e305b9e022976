"""The aggregate-function interface, the registry and argument resolution helpers."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

from ksqlpy.errors import AnalysisError, ExecutionError, KsqlError
from ksqlpy.types import SqlType

__all__ = ["AggregateFunction", "ResolveContext", "FunctionError", "register", "registered",
           "resolve", "describe_types", "signature_error", "widen_to", "literal_arg",
           "java_div", "wrap_int", "wrap_long", "canon", "next_sequence", "runtime_failure",
           "struct_type", "check_intermediate_types", "check_table_aggregation"]


class AggregateFunction:
    """One aggregate call, resolved for its argument types.

    ``type`` is the result type; ``intermediate_type`` the type of the accumulator as
    ksqlDB stores it (a value format must be able to hold it: DELIMITED cannot hold
    ARRAY/MAP/STRUCT). ``undoable`` says whether ``undo`` exists (required to aggregate a
    table, where updates retract the old row). ``add``/``undo``/``merge`` may update the
    accumulator in place and return it; ``result`` must return a value later updates do
    not change."""

    name = ""
    type: SqlType
    intermediate_type: SqlType | None = None
    undoable = True

    def init(self):
        return None

    def add(self, acc, args: tuple):
        raise NotImplementedError

    def undo(self, acc, args: tuple):
        raise AnalysisError(f"The aggregation function {self.name} does not support undo.")

    def merge(self, a, b):
        raise AnalysisError(f"The aggregation function {self.name} cannot merge sessions.")

    def result(self, acc):
        return acc

    #: Arrow hash-aggregate functions whose per-batch, per-group results ``merge_partial``
    #: folds into an accumulator (the vectorized path); None when only add() is exact.
    partials: tuple[str, ...] | None = None

    def merge_partial(self, acc, values: tuple):
        raise NotImplementedError


@dataclass
class ResolveContext:
    """What a factory may need besides the argument types: the call as written, each
    argument's literal value (None when not a literal, or a NULL literal), its SQL text
    (for messages) and the query's properties (``ksql.functions.*`` configs)."""

    name: str
    types: list[SqlType]
    literals: list
    arg_texts: list[str] | None = None
    properties: dict = field(default_factory=dict)

    def text(self, i: int) -> str:
        if self.arg_texts is not None and i < len(self.arg_texts):
            return self.arg_texts[i]
        return "?"


class FunctionError(KsqlError):
    """A UDAF failing on a value (ksqlDB's KsqlFunctionException)."""

    java_type = "io.confluent.ksql.function.KsqlFunctionException"


def runtime_failure(message: str) -> ExecutionError:
    """The error a query dies with when a UDAF throws: Kafka Streams wraps the function's
    KsqlFunctionException in a StreamsException("Exception caught in process ...")."""
    err = ExecutionError(f"Exception caught in process. {message}")
    err.__cause__ = FunctionError(message)
    return err


_REGISTRY: dict[str, Callable[[ResolveContext], AggregateFunction]] = {}


def register(*names: str):
    def deco(factory):
        for n in names:
            _REGISTRY[n] = factory
        return factory
    return deco


def registered() -> list[str]:
    return sorted(_REGISTRY)


def resolve(name: str, arg_types: list[SqlType], literals: list, properties: dict | None = None,
            arg_texts: list[str] | None = None) -> AggregateFunction:
    """The implementation of ``name`` for these argument types.

    ``literals`` holds each argument's Python value when it is a literal constant, else None
    (a NULL literal is also None; its type is NULL). ``properties`` are the query's
    properties (for ``ksql.functions.collect_list.limit`` etc.); ``arg_texts`` each
    argument's SQL text, for ksqlDB's "must be a literal constant, but was expression: 'X'"
    message."""
    factory = _REGISTRY.get(name.upper())
    if factory is None:
        raise AnalysisError(f"Can't find any functions with the name '{name}'")
    literals = list(literals) + [None] * (len(arg_types) - len(literals))
    ctx = ResolveContext(name, list(arg_types), literals, arg_texts, dict(properties or {}))
    fn = factory(ctx)
    fn.name = name.upper()
    return fn


def describe_types(types: list[SqlType]) -> str:
    return ", ".join("null" if t.base == "NULL" else str(t) for t in types)


def signature_error(display: str, types: list[SqlType]) -> AnalysisError:
    """ksqlDB's message for a call no overload accepts; ``display`` is the function's name
    as its UDAF declares it (e.g. 'avg', 'collect_list', 'TOPK')."""
    return AnalysisError(f"Function '{display}' does not accept parameters "
                         f"({describe_types(types)}).")


_WIDEN = {"INTEGER": ("BIGINT", "DECIMAL", "DOUBLE"), "BIGINT": ("DECIMAL", "DOUBLE"),
          "DECIMAL": ("DOUBLE",)}


def widen_to(t: SqlType, supported: tuple[str, ...]) -> str | None:
    """The overload base type a ``t`` argument binds to: an exact match, else the first
    supported type of ksqlDB's implicit widening chain INT → BIGINT → DECIMAL → DOUBLE."""
    if t.base in supported:
        return t.base
    for w in _WIDEN.get(t.base, ()):
        if w in supported:
            return w
    return None


def literal_arg(ctx: ResolveContext, i: int):
    """The value of argument ``i``, which ksqlDB requires to be a literal constant."""
    v = ctx.literals[i]
    if v is None and ctx.types[i].base != "NULL":
        raise AnalysisError(
            f"Parameter {i + 1} passed to function {ctx.name.upper()} must be a literal "
            f"constant, but was expression: '{ctx.text(i)}'")
    return v


# -- Java arithmetic ------------------------------------------------------------------------

def wrap_int(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31


def wrap_long(v: int) -> int:
    return (v + 2**63) % 2**64 - 2**63


def java_div(a: float, b: float) -> float:
    """IEEE division as Java does it (x/0.0 is ±Infinity or NaN, never an error)."""
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or math.isnan(a):
            return math.nan
        neg = (a < 0) != (math.copysign(1.0, b) < 0)
        return -math.inf if neg else math.inf


# -- values ---------------------------------------------------------------------------------

def canon(t: SqlType) -> Callable:
    """A function mapping a value of type ``t`` (as ``to_pylist()`` gives it) to a hashable
    key with Java ``equals`` semantics (maps compare as sets of entries, structs by
    fields, lists element-wise)."""
    b = t.base
    if b == "ARRAY":
        item = canon(t.item)
        return lambda v: None if v is None else tuple(item(x) for x in v)
    if b == "MAP":
        key, val = canon(t.key), canon(t.item)

        def m(v):
            if v is None:
                return None
            pairs = v.items() if isinstance(v, dict) else v
            # sorted by repr: a deterministic order, so equal maps give equal keys
            return tuple(sorted(((key(k), val(x)) for k, x in pairs), key=repr))
        return m
    if b == "STRUCT":
        fields = [(n, canon(ft)) for n, ft in t.fields]

        def s(v):
            if v is None:
                return None
            return tuple(f(v.get(n)) for n, f in fields)
        return s
    if b == "DOUBLE":
        # Double.equals: NaN equals NaN, 0.0 differs from -0.0
        return lambda v: None if v is None else (
            ("NaN",) if v != v else (v, math.copysign(1.0, v)))
    return lambda v: v


_last_seq = 0


def next_sequence() -> int:
    """A strictly increasing sequence number (ksqlDB's offset sequence for *_BY_OFFSET),
    seeded from the clock so it keeps increasing across restarts of the process."""
    global _last_seq
    _last_seq = max(_last_seq + 1, time.time_ns())
    return _last_seq


def struct_type(fields: list[tuple[str, SqlType]]) -> SqlType:
    return SqlType("STRUCT", fields=tuple(fields))


# -- planner checks -------------------------------------------------------------------------

#: Value formats that cannot hold a compound (ARRAY / MAP / STRUCT) column.
_PRIMITIVE_ONLY_FORMATS = frozenset({"DELIMITED", "KAFKA"})


def _compound(t: SqlType | None) -> bool:
    return t is not None and t.base in ("ARRAY", "MAP", "STRUCT")


def check_intermediate_types(fns: list[AggregateFunction], value_format: str) -> None:
    """ksqlDB's check that the aggregation state (stored in the source's value format) can
    hold every function's intermediate type: AVG, STDDEV_*, TOPK, COLLECT_* ... keep
    STRUCT/ARRAY/MAP state, which DELIMITED (and KAFKA) cannot serialize."""
    if value_format.upper() in _PRIMITIVE_ONLY_FORMATS and any(
            _compound(f.intermediate_type) for f in fns):
        raise KsqlError("One of the functions used in the statement has an intermediate type "
                        "that the value format can not handle. Please remove the function or "
                        "change the format.")


def check_table_aggregation(fns: list[AggregateFunction]) -> None:
    """ksqlDB's check that a table is aggregated only with functions that can undo."""
    names = list(dict.fromkeys(f.name for f in fns if not f.undoable))
    if not names:
        return
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    raise AnalysisError(f"The aggregation function{'s' if len(names) > 1 else ''} {joined} "
                        f"cannot be applied to a table source, only to a stream source.")
