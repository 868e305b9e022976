"""expectedException matching over the Java exception hierarchy."""

from ksqlpy.conformance.errors import java_is_instance, match_expected_exception
from ksqlpy.errors import (AnalysisError, ExecutionError, KsqlError, ParseError, SerdeError)

KE = "io.confluent.ksql.util.KsqlException"
KSE = "io.confluent.ksql.util.KsqlStatementException"
PFE = "io.confluent.ksql.parser.exception.ParseFailedException"
SE = "org.apache.kafka.streams.errors.StreamsException"


def test_hierarchy():
    assert java_is_instance(PFE, PFE)
    assert java_is_instance(PFE, KSE)
    assert java_is_instance(PFE, KE)
    assert java_is_instance(KSE, KE)
    assert java_is_instance(KSE, "java.lang.RuntimeException")
    assert not java_is_instance(KE, KSE)
    assert not java_is_instance(KSE, PFE)
    assert java_is_instance(SE, "org.apache.kafka.common.KafkaException")
    assert not java_is_instance(SE, KE)
    assert java_is_instance("com.example.Unknown", "com.example.Unknown")
    assert not java_is_instance("com.example.Unknown", KE)


def test_match_type_and_message():
    err = AnalysisError("Failed to prepare statement: 'FOO' does not exist.")
    assert match_expected_exception(err, {"type": KSE}) is None
    assert match_expected_exception(err, {"type": KE, "message": "'FOO' does not"}) is None
    assert match_expected_exception(err, {"message": "does not exist"}) is None
    assert "expected exception" in match_expected_exception(err, {"type": PFE})
    assert "message containing" in match_expected_exception(err, {"type": KSE, "message": "zzz"})


def test_parse_error_is_a_statement_exception():
    assert match_expected_exception(ParseError("line 1:1: Syntax Error"), {"type": KSE}) is None
    assert match_expected_exception(KsqlError("boom"), {"type": KE}) is None
    assert match_expected_exception(KsqlError("boom"), {"type": KSE}) is not None
    assert match_expected_exception(ExecutionError("x"), {"type": SE}) is None
    assert match_expected_exception(SerdeError("x"),
                                    {"type": "org.apache.kafka.common.KafkaException"}) is None


def test_cause():
    class FnError(KsqlError):
        java_type = "io.confluent.ksql.function.KsqlFunctionException"

    try:
        try:
            raise FnError("Numeric field overflow")
        except FnError as inner:
            raise ExecutionError("Error processing") from inner
    except ExecutionError as e:
        err = e
    ok = {"type": SE, "cause": "io.confluent.ksql.function.KsqlFunctionException",
          "causeMessage": "overflow"}
    assert match_expected_exception(err, ok) is None
    assert match_expected_exception(err, {**ok, "causeMessage": "nope"}) is not None
    assert match_expected_exception(ExecutionError("x"), ok) is not None
