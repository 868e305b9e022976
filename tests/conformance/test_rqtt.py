"""The RQTT runner: matching rules, and a floor over ksqlDB's pull-query RQTT files."""

import os
from decimal import Decimal
from pathlib import Path

import pytest

from ksqlpy.conformance.rqtt import load_rqtt_text, match_query, match_response

REPO = Path(__file__).resolve().parents[2]
#: pull-queries-*.json tests that must pass (raise it when the engine gets better)
PULL_FLOOR = 185


def _rqtt_dir() -> Path:
    base = Path(os.environ.get("KSQLPY_QTT_DIR", REPO.parent / "shared" / "qtt"))
    return base / "rest-query-validation-tests"


def test_subset_and_prefix_matching():
    actual = {"@type": "currentStatus", "statementText": "CREATE X;",
              "commandStatus": {"status": "SUCCESS", "queryId": "CTAS_X_0"}}
    assert match_response({"@type": "currentStatus"}, actual) is None
    assert match_response({"commandStatus": {"queryId|starts_with": "CTAS_"}}, actual) is None
    assert match_response({"statementText": "{STATEMENT}"}, actual, "CREATE X;") is None
    assert match_response({"@type": "streams"}, actual) is not None
    assert match_response({"missing": 1}, actual) is not None
    assert match_response([Decimal("10.0")], [10.0]) is None


def test_rows_multiset_unless_ordered():
    header = {"header": {"schema": "`ID` STRING KEY"}}
    exp = [header, {"row": {"columns": ["a"]}}, {"row": {"columns": ["b"]}}]
    act = [{"header": {"queryId": "q", "schema": "`ID` STRING KEY"}},
           {"row": {"columns": ["b"]}}, {"row": {"columns": ["a"]}}]
    assert match_query(exp, act, False, "") is None
    assert match_query(exp, act, True, "") is not None
    assert match_query(exp, act[:2], False, "") is not None


def test_loader_expands_formats_and_strips_comments():
    text = """{"tests": [{"name": "t", "format": ["JSON", "AVRO"], // comment
      "statements": ["CREATE STREAM S (K STRING KEY) WITH (value_format='{FORMAT}');"],
      "responses": [{"admin": {"@type": "currentStatus"}}]}]}"""
    cases = load_rqtt_text(text, "f")
    assert [c.name for c in cases] == ["f - t - JSON", "f - t - AVRO"]
    assert "AVRO" in cases[1].statements[0]


@pytest.mark.skipif(not _rqtt_dir().is_dir(), reason="RQTT files not found (KSQLPY_QTT_DIR)")
def test_pull_query_rqtt_floor():
    from ksqlpy.conformance.cli import run_paths

    files = sorted(_rqtt_dir().glob("pull-queries-*.json"))
    results = run_paths(files)
    passed = sum(1 for r in results if r.status == "pass")
    assert passed >= PULL_FLOOR, f"pull RQTT passed {passed} < floor {PULL_FLOOR}"


def test_wait_for_active_push_query_produces_inputs_after_the_header():
    """RestTestExecutor: with waitForActivePushQuery the inputs are produced once the query
    has started, so a push query from the latest offset sees them."""
    from ksqlpy.conformance.rqtt import run_rqtt_test_sync

    text = """{"tests": [{"name": "t",
      "statements": ["CREATE STREAM I (K STRING KEY, ID INT) WITH (kafka_topic='t', value_format='JSON', partitions=1);",
                     "CREATE STREAM INPUT AS SELECT * FROM I;",
                     "SELECT * FROM INPUT EMIT CHANGES LIMIT 2;"],
      "inputs": [{"topic": "t", "key": "a", "value": {"id": 1}},
                 {"topic": "t", "key": "b", "value": {"id": 2}}],
      "inputConditions": {"waitForActivePushQuery": true},
      "properties": {"auto.offset.reset": "latest"},
      "responses": [{"admin": {"@type": "currentStatus"}}, {"admin": {"@type": "currentStatus"}},
        {"query": [{"header": {"schema": "`K` STRING, `ID` INTEGER",
                               "queryId|starts_with": "SCALABLE_PUSH_QUERY"}},
                   {"row": {"columns": ["a", 1]}}, {"row": {"columns": ["b", 2]}},
                   {"finalMessage": "Limit Reached"}]}]}]}"""
    (case,) = load_rqtt_text(text, "f")
    result = run_rqtt_test_sync(case)
    assert result.status == "pass", result.reason
