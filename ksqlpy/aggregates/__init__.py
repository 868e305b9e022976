"""Aggregate functions (stage: inside the aggregate operator): ksqlDB's UDAFs.

Each function is a class with ksqlDB's life cycle — ``init`` → ``add`` per row (``undo`` to
retract a row when aggregating a table) → ``result`` — and, for session windows, ``merge``.
Accumulators are plain Python values (picklable) so state stores can write them to their
changelog. ``resolve(name, arg_types, literals)`` picks the implementation for the argument
types and raises ksqlDB's messages for unknown names or bad arguments; optional
``properties`` (the query's, for ``ksql.functions.collect_{list,set}.limit``) and
``arg_texts`` (each argument's SQL, for the "must be a literal constant" message).

>>> from ksqlpy.types import BIGINT
>>> f = resolve("SUM", [BIGINT], [None])
>>> acc = f.init(); acc = f.add(acc, (3,)); acc = f.add(acc, (4,)); f.result(acc), str(f.type)
(7, 'BIGINT')
"""

from ksqlpy.aggregates.base import (AggregateFunction, FunctionError, ResolveContext,
                                    check_intermediate_types, check_table_aggregation, register,
                                    registered, resolve)
from ksqlpy.aggregates import basic as _basic  # noqa: F401  (these register the functions)
from ksqlpy.aggregates import collect as _collect  # noqa: F401
from ksqlpy.aggregates import offset as _offset  # noqa: F401
from ksqlpy.aggregates import stats as _stats  # noqa: F401
from ksqlpy.aggregates import topk as _topk  # noqa: F401

__all__ = ["AggregateFunction", "FunctionError", "ResolveContext", "check_intermediate_types",
           "check_table_aggregation", "register", "registered", "resolve"]
