"""Operators: one physical step each at run time, over Arrow record batches.

Stage: execution. Operators are synchronous and CPU-only (no awaits, no I/O): the runtime
task owns the async edges (log reads, transactions). Every operator has a fixed output schema.

Batches inside a query carry the row's columns by name plus these internal columns:
``ROWTIME`` (int64, the record timestamp), ``ROWPARTITION``/``ROWOFFSET`` (source position,
until the projection), and ``__headers`` (the record's Kafka headers, passed through stateless
steps as Kafka Streams does).
"""

from ksqlpy.operators.base import HEADERS_COL, Operator, OperatorContext

__all__ = ["Operator", "OperatorContext", "HEADERS_COL"]
