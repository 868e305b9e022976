"""The runner end to end on a small self-made QTT file (skipped until the engine imports)."""

import json

import pytest

try:
    import ksqlpy.runtime.engine  # noqa: F401
    ENGINE_ERROR = None
except Exception as e:  # pragma: no cover - depends on the engine's progress
    ENGINE_ERROR = f"{type(e).__name__}: {e}"

from ksqlpy.conformance.cli import main, run_paths

pytestmark = pytest.mark.skipif(ENGINE_ERROR is not None,
                                reason=f"ksqlpy.runtime.engine unavailable: {ENGINE_ERROR}")

QTT = {
    "comments": ["self-made tests for the runner"],
    "tests": [
        {
            "name": "json filter",
            "statements": [
                "CREATE STREAM TEST (K STRING KEY, ID BIGINT, NAME STRING) "
                "WITH (kafka_topic='test_topic', value_format='JSON');",
                "CREATE STREAM S1 AS SELECT K, ID, NAME FROM TEST WHERE ID > 1;",
            ],
            "inputs": [
                {"topic": "test_topic", "key": "a", "value": {"id": 1, "name": "one"},
                 "timestamp": 10},
                {"topic": "test_topic", "key": "b", "value": {"ID": 2, "NAME": "two"},
                 "timestamp": 20},
                {"topic": "test_topic", "key": "c", "value": {"id": 3, "name": None},
                 "timestamp": 30},
            ],
            "outputs": [
                {"topic": "S1", "key": "b", "value": {"ID": 2, "NAME": "two"}, "timestamp": 20},
                {"topic": "S1", "key": "c", "value": {"id": 3, "name": None}},
            ],
            "post": {"sources": [{"name": "S1", "type": "stream",
                                  "schema": "K STRING KEY, ID BIGINT, NAME STRING",
                                  "keyFormat": {"format": "KAFKA"}, "valueFormat": "JSON"}]},
        },
        {
            "name": "delimited chain of two queries - {FORMAT}",
            "format": ["DELIMITED"],
            "statements": [
                "CREATE STREAM A (K INT KEY, V INT, W STRING) "
                "WITH (kafka_topic='a', value_format='{FORMAT}');",
                "CREATE STREAM B AS SELECT K, V, W FROM A WHERE V > 0;",
                "CREATE STREAM C AS SELECT K, W FROM B WHERE V > 1;",
            ],
            "inputs": [
                {"topic": "a", "key": 1, "value": "0,x"},
                {"topic": "a", "key": 2, "value": "1,y"},
                {"topic": "a", "key": 3, "value": "2,z"},
            ],
            "outputs": [
                {"topic": "B", "key": 2, "value": "1,y"},
                {"topic": "B", "key": 3, "value": "2,z"},
                {"topic": "C", "key": 3, "value": "z"},
            ],
        },
        {
            "name": "wrong expectation",
            "statements": [
                "CREATE STREAM T2 (K STRING KEY, ID BIGINT) "
                "WITH (kafka_topic='t2', value_format='JSON');",
                "CREATE STREAM O2 AS SELECT * FROM T2;",
            ],
            "inputs": [{"topic": "t2", "key": "a", "value": {"ID": 1}}],
            "outputs": [{"topic": "O2", "key": "a", "value": {"ID": 2}}],
        },
        {
            "name": "expected error",
            "statements": [
                "CREATE STREAM T3 (K STRING KEY, ID BIGINT) "
                "WITH (kafka_topic='t3', value_format='JSON');",
                "CREATE STREAM O3 AS SELECT NOPE FROM T3;",
            ],
            "expectedException": {"type": "io.confluent.ksql.util.KsqlException"},
        },
        {
            "name": "error in the wrong statement",
            "statements": [
                "CREATE STREAM O4 AS SELECT * FROM MISSING;",
                "CREATE STREAM T4 (K STRING KEY, ID BIGINT) "
                "WITH (kafka_topic='t4', value_format='JSON');",
            ],
            "expectedException": {"type": "io.confluent.ksql.util.KsqlException"},
        },
        {"name": "disabled", "enabled": False, "statements": ["x"], "outputs": []},
    ],
}


@pytest.fixture()
def qtt_file(tmp_path):
    p = tmp_path / "selfmade.json"
    p.write_text("// a leading comment\n" + json.dumps(QTT, indent=1))
    return p


def test_runner_results(qtt_file):
    results = {r.name: r for r in run_paths([qtt_file])}
    assert set(results) == {
        "selfmade - json filter",
        "selfmade - delimited chain of two queries - {FORMAT} - DELIMITED",
        "selfmade - wrong expectation",
        "selfmade - expected error",
        "selfmade - error in the wrong statement",
        "selfmade - disabled",
    }
    assert results["selfmade - json filter"].status == "pass", results["selfmade - json filter"]
    chain = results["selfmade - delimited chain of two queries - {FORMAT} - DELIMITED"]
    assert chain.status == "pass", chain
    wrong = results["selfmade - wrong expectation"]
    assert wrong.status == "fail" and "value.ID: expected 2, got 1" in wrong.reason
    assert results["selfmade - expected error"].status == "pass", results["selfmade - expected error"]
    early = results["selfmade - error in the wrong statement"]
    assert early.status == "fail" and "only the last may fail" in early.reason
    assert results["selfmade - disabled"].status == "skip"


def test_cli_output_and_json(qtt_file, tmp_path, capsys):
    out_json = tmp_path / "r.json"
    assert main([str(qtt_file), "--json", str(out_json)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "3 passed, 2 failed, 1 skipped"
    assert all(line.startswith("FAIL selfmade - ") for line in lines[:-1])
    data = json.loads(out_json.read_text())
    assert data["summary"]["passed"] == 3 and len(data["tests"]) == 6
    assert main([str(qtt_file), "-k", "json filter"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "1 passed, 0 failed, 0 skipped"
    assert main([str(qtt_file), "--fail-under", "4"]) == 1


def test_sink_topics_of_create_as_select():
    from ksqlpy.conformance.qtt import _declared_topics, _sink_topics

    stmts = ["CREATE STREAM S (A INT) WITH (kafka_topic='s', value_format='JSON');",
             "CREATE STREAM OUT AS SELECT * FROM S;",
             "CREATE TABLE `low` WITH (KAFKA_TOPIC='t1') AS SELECT A, COUNT(*) FROM S GROUP BY A;"]
    assert _sink_topics(stmts, {}) == {"OUT", "t1"}
    assert _sink_topics(stmts[1:2], {"ksql.output.topic.name.prefix": "p_"}) == {"p_OUT"}
    assert _declared_topics(stmts[0], 4) == [("s", 4)]
    assert _declared_topics(stmts[0].replace(")", ", partitions=2)", 2)[:-1] + ";", 4) \
        == [("s", 2)]
    assert _declared_topics(stmts[1]) == []


def test_multi_partition_output_is_read_in_production_order(tmp_path):
    """ksqlDB's runner reads a topic back in production order whatever the partitions."""
    doc = {"tests": [{
        "name": "four partitions",
        "statements": [
            "CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON', "
            "partitions=4);",
            "CREATE STREAM OUT AS SELECT * FROM S;"],
        "inputs": [{"topic": "s", "key": k, "value": {"V": i}}
                   for i, k in enumerate(["a", "b", "c", "d", "e", "f", "g", "h"])],
        "outputs": [{"topic": "OUT", "key": k, "value": {"V": i}}
                    for i, k in enumerate(["a", "b", "c", "d", "e", "f", "g", "h"])],
    }]}
    path = tmp_path / "order.json"
    path.write_text(json.dumps(doc))
    [r] = run_paths([str(path)])
    assert r.status == "pass", r.reason
