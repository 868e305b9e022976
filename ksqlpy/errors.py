"""Errors of every pipeline stage, each carrying the ksqlDB exception class it stands for.

ksqlDB's clients and test suite key off Java exception class names and REST error codes, so
every error here knows both: ``java_type`` (what the conformance runner matches against
``expectedException.type``) and ``error_code`` (HTTP status × 100 + n, KSQLDB.md §5).
Messages copy ksqlDB's text where its tests check them.
"""

from __future__ import annotations


class KsqlError(Exception):
    """Base of all ksqlpy errors. ``str(e)`` is the user-facing message."""

    java_type = "io.confluent.ksql.util.KsqlException"
    error_code = 40001

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class ParseError(KsqlError):
    """SQL text that does not parse (ksqlDB's ParseFailedException)."""

    java_type = "io.confluent.ksql.parser.exception.ParseFailedException"


class AnalysisError(KsqlError):
    """A statement that parses but is invalid against the catalog or the type system."""

    java_type = "io.confluent.ksql.util.KsqlStatementException"


class PlanError(AnalysisError):
    """A query the planner cannot turn into steps."""


class NotSupportedError(KsqlError):
    """A statement or feature that parses but is not implemented yet."""

    java_type = "io.confluent.ksql.util.KsqlStatementException"


class SerdeError(KsqlError):
    """A record that cannot be (de)serialized in its declared format."""

    java_type = "org.apache.kafka.common.errors.SerializationException"


class ExecutionError(KsqlError):
    """A failure while a query runs (ksqlDB surfaces these as StreamsException)."""

    java_type = "org.apache.kafka.streams.errors.StreamsException"
    error_code = 50000


class RecordError(KsqlError):
    """One record failed (decode or evaluation); it is skipped and logged, the query goes on."""

    java_type = "io.confluent.ksql.util.KsqlException"
