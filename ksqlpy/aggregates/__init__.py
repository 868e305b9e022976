"""Aggregate functions (stage: inside the aggregate operator): ksqlDB's UDAFs.

Each function is a class with ksqlDB's life cycle — ``init`` → ``add`` per row (``undo`` to
retract a row when aggregating a table) → ``result`` — and, for session windows, ``merge``.
Accumulators are plain Python values (picklable) so state stores can write them to their
changelog. ``resolve(name, arg_types, literals)`` picks the implementation for the argument
types and raises ksqlDB's messages for unknown names or bad arguments.

>>> from ksqlpy.types import BIGINT
>>> f = resolve("SUM", [BIGINT], [None])
>>> acc = f.init(); acc = f.add(acc, (3,)); acc = f.add(acc, (4,)); f.result(acc), str(f.type)
(7, 'BIGINT')
"""

from ksqlpy.aggregates.base import AggregateFunction, register, registered, resolve
from ksqlpy.aggregates import basic as _basic  # noqa: F401  (registers the functions)

__all__ = ["AggregateFunction", "register", "registered", "resolve"]
