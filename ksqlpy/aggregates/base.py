"""The aggregate-function interface and registry."""

from __future__ import annotations

from typing import Callable

from ksqlpy.errors import AnalysisError
from ksqlpy.types import SqlType

_REGISTRY: dict[str, Callable[[list[SqlType], list], "AggregateFunction"]] = {}


class AggregateFunction:
    """One aggregate call, resolved for its argument types.

    ``type`` is the result type. ``undoable`` says whether ``undo`` exists (required to
    aggregate a table, where updates retract the old row)."""

    name = ""
    type: SqlType
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


def register(*names: str):
    def deco(factory):
        for n in names:
            _REGISTRY[n] = factory
        return factory
    return deco


def registered() -> list[str]:
    return sorted(_REGISTRY)


def resolve(name: str, arg_types: list[SqlType], literals: list) -> AggregateFunction:
    """The implementation of ``name`` for these argument types. ``literals`` holds each
    argument's Python value when it is a literal constant, else None."""
    factory = _REGISTRY.get(name.upper())
    if factory is None:
        raise AnalysisError(f"Can't find any functions with the name '{name}'")
    fn = factory(arg_types, literals)
    fn.name = name.upper()
    return fn


def describe_types(types: list[SqlType]) -> str:
    return ", ".join(str(t) for t in types)
