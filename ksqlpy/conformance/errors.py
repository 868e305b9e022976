"""Matching ksqlpy errors against QTT ``expectedException`` (Java class names + substrings).

ksqlDB's runner builds a hamcrest matcher (``ExpectedExceptionNode`` / ``KsqlExpectedException``):

- ``type``: ``instanceOf(Class.forName(type))``; here the error's ``java_type`` must be the
  expected class or a subclass of it in :data:`JAVA_PARENTS`;
- ``message``: a substring of ``getMessage()`` or, for a KsqlStatementException, of its
  unlogged/raw message;
- ``cause`` / ``causeMessage``: the same checks on ``getCause()`` (``__cause__`` here).
"""

from __future__ import annotations

__all__ = ["JAVA_PARENTS", "java_is_instance", "match_expected_exception", "describe_error",
           "java_type_of"]

KSQL_EXCEPTION = "io.confluent.ksql.util.KsqlException"
KSQL_STATEMENT_EXCEPTION = "io.confluent.ksql.util.KsqlStatementException"

#: class -> superclass, for the exception classes QTT files name (from the ksqlDB / Kafka
#: sources: ParseFailedException extends KsqlStatementException extends KsqlException extends
#: RuntimeException; StreamsException and SerializationException extend KafkaException).
JAVA_PARENTS: dict[str, str | None] = {
    "java.lang.Throwable": None,
    "java.lang.Exception": "java.lang.Throwable",
    "java.lang.Error": "java.lang.Throwable",
    "java.lang.AssertionError": "java.lang.Error",
    "java.lang.RuntimeException": "java.lang.Exception",
    "java.lang.IllegalArgumentException": "java.lang.RuntimeException",
    "java.lang.IllegalStateException": "java.lang.RuntimeException",
    "java.lang.NumberFormatException": "java.lang.IllegalArgumentException",
    "java.lang.ArithmeticException": "java.lang.RuntimeException",
    "java.lang.UnsupportedOperationException": "java.lang.RuntimeException",
    "java.lang.NullPointerException": "java.lang.RuntimeException",
    KSQL_EXCEPTION: "java.lang.RuntimeException",
    KSQL_STATEMENT_EXCEPTION: KSQL_EXCEPTION,
    "io.confluent.ksql.parser.exception.ParseFailedException": KSQL_STATEMENT_EXCEPTION,
    "io.confluent.ksql.util.KsqlServerException": KSQL_EXCEPTION,
    "io.confluent.ksql.function.KsqlFunctionException": KSQL_EXCEPTION,
    "io.confluent.ksql.schema.ksql.types.KsqlTypeException": KSQL_EXCEPTION,  # best effort
    "io.confluent.ksql.serde.KsqlSerializationException": KSQL_EXCEPTION,    # best effort
    "io.confluent.ksql.exception.KsqlTopicAuthorizationException": KSQL_EXCEPTION,
    "io.confluent.ksql.test.TestFrameworkException": "java.lang.RuntimeException",
    "org.apache.kafka.common.KafkaException": "java.lang.RuntimeException",
    "org.apache.kafka.streams.errors.StreamsException": "org.apache.kafka.common.KafkaException",
    "org.apache.kafka.common.errors.SerializationException":
        "org.apache.kafka.common.KafkaException",
    "org.apache.kafka.connect.errors.DataException": "org.apache.kafka.connect.errors.ConnectException",
    "org.apache.kafka.connect.errors.ConnectException": "org.apache.kafka.common.KafkaException",
}


def java_is_instance(actual_type: str | None, expected_type: str) -> bool:
    """``instanceof`` over :data:`JAVA_PARENTS` (unknown classes match only themselves)."""
    seen = set()
    t = actual_type
    while t is not None and t not in seen:
        if t == expected_type:
            return True
        seen.add(t)
        t = JAVA_PARENTS.get(t)
    return False


def java_type_of(err: BaseException | None) -> str | None:
    if err is None:
        return None
    jt = getattr(err, "java_type", None)
    if isinstance(jt, str):
        return jt
    # Plain Python errors stand for Java runtime failures of the same family.
    if isinstance(err, (ValueError, TypeError)):
        return "java.lang.IllegalArgumentException"
    if isinstance(err, ArithmeticError):
        return "java.lang.ArithmeticException"
    return "java.lang.RuntimeException"


def _messages(err: BaseException) -> list[str]:
    """Every text ``message`` may be a substring of: ``str(err)``, ``err.message``, the raw /
    unlogged message and, when the error carries its statement, ksqlDB's full form
    ``<message>\\nStatement: <sql>``."""
    out = [str(err)]
    for attr in ("message", "raw_message", "unlogged_message"):
        v = getattr(err, attr, None)
        if isinstance(v, str):
            out.append(v)
    stmt = getattr(err, "statement", None) or getattr(err, "statement_text", None)
    msg = getattr(err, "message", None)
    if isinstance(stmt, str) and isinstance(msg, str):
        out.append(f"{msg}\nStatement: {stmt}")
    return out


def _cause(err: BaseException) -> BaseException | None:
    c = getattr(err, "cause", None)
    if isinstance(c, BaseException):
        return c
    return err.__cause__


def match_expected_exception(err: BaseException, expected: dict) -> str | None:
    """None if ``err`` satisfies the QTT ``expectedException`` node; else why not."""
    jt = java_type_of(err)
    etype = expected.get("type")
    if etype and not java_is_instance(jt, etype):
        return (f"expected exception {etype} but got {jt}: {describe_error(err)}")
    emsg = expected.get("message")
    if emsg is not None and not any(emsg in m for m in _messages(err)):
        return (f"expected exception message containing {emsg!r} but got "
                f"{jt}: {str(err)!r}")
    ecause = expected.get("cause")
    if ecause:
        cause = _cause(err)
        if cause is None or not java_is_instance(java_type_of(cause), ecause):
            return (f"expected cause {ecause} but the cause was "
                    f"{java_type_of(cause) if cause else None}: {describe_error(err)}")
        ecm = expected.get("causeMessage")
        if ecm is not None and not any(ecm in m for m in _messages(cause)):
            return f"expected cause message containing {ecm!r} but got {str(cause)!r}"
    return None


def describe_error(err: BaseException) -> str:
    jt = getattr(err, "java_type", None)
    name = type(err).__name__
    label = f"{name}[{jt.rsplit('.', 1)[-1]}]" if isinstance(jt, str) else name
    return f"{label}: {str(err)}"
