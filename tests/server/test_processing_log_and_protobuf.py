"""Through a real server: KSQL_PROCESSING_LOG over /query-stream, and the
``application/vnd.ksql.v1+protobuf`` writer on /query-stream and /query (HTTP/1.1 and h2c)."""

from __future__ import annotations

import base64
import json
import re
import time

from ksqlpy.formats.protobuf import ProtoNative

from .conftest import curl

PROTO = "application/vnd.ksql.v1+protobuf"


def _post(server, path, body, accept):
    return server.request("POST", path, body, headers={"Accept": accept})


def _decode_rows(entries):
    """(header, [decoded row dicts], final message) of a protobuf response."""
    header = entries[0]["header"]
    native = ProtoNative(header["protoSchema"])
    rows = [native.decode(base64.b64decode(e["row"]["protobufBytes"]))
            for e in entries[1:] if "row" in e]
    final = [e["finalMessage"] for e in entries[1:] if "finalMessage" in e]
    return header, rows, final


def test_processing_log_stream_over_query_stream(server, name):
    topic = name.lower()
    status, body = server.ksql(
        f"CREATE STREAM {name}_RAW (V STRING) WITH (kafka_topic='{topic}', "
        "value_format='KAFKA', partitions=1);"
        f"CREATE STREAM {name} (QTY INT) WITH (kafka_topic='{topic}', value_format='JSON');"
        f"CREATE STREAM {name}_OUT AS SELECT QTY FROM {name};"
        f"INSERT INTO {name}_RAW (V) VALUES ('{{\"QTY\": 1}}');"
        f"INSERT INTO {name}_RAW (V) VALUES ('not json');")
    assert status == 200, body
    status, body = server.ksql("SHOW STREAMS;")
    assert "KSQL_PROCESSING_LOG" in [s["name"] for s in body[0]["streams"]]
    sql = ("SELECT logger, level, message->type AS t, "
           "message->deserializationError->errorMessage AS msg FROM KSQL_PROCESSING_LOG "
           f"WHERE message->deserializationError->`topic` = '{topic}' EMIT CHANGES LIMIT 1;")
    status, _, raw = _post(server, "/query-stream", {
        "sql": sql, "properties": {"auto.offset.reset": "earliest"}},
        "application/vnd.ksql.v1+json")
    assert status == 200, raw
    entries = json.loads(raw)
    assert entries[0]["header"]["schema"] == \
        "`LOGGER` STRING, `LEVEL` STRING, `T` INTEGER, `MSG` STRING"
    row = entries[1]["row"]["columns"]
    assert re.fullmatch(rf"processing\.CSAS_{name}_OUT_\d+\.KsqlTopic\.Source\.deserializer",
                        row[0]), row[0]
    assert row[1:3] == ["ERROR", 0]
    assert row[3].startswith(f"Failed to deserialize value from topic: {topic}.")
    assert entries[-1] == {"finalMessage": "Limit Reached"}
    # a pull query scans the stream to its end
    deadline = time.time() + 10
    while True:
        status, _, raw = _post(server, "/query-stream", {
            "sql": "SELECT message->deserializationError->`topic` AS topic FROM "
                   f"KSQL_PROCESSING_LOG WHERE message->deserializationError->`topic` = "
                   f"'{topic}';"}, "application/json")
        assert status == 200, raw
        got = json.loads(raw)
        if len(got) == 2 or time.time() > deadline:
            break
        time.sleep(0.1)
    assert got[1:] == [[topic]]


def test_protobuf_pull_query_on_a_table_matches_ksqldb_bytes(server, name):
    status, body = server.ksql(
        f"CREATE STREAM {name} (ID INT KEY, USERID STRING) WITH (kafka_topic='{name.lower()}', "
        "value_format='JSON', partitions=1);"
        f"CREATE TABLE {name}_AGG AS SELECT USERID, COUNT(*) AS COUNT FROM {name} "
        "GROUP BY USERID;" +
        "".join(f"INSERT INTO {name} (ID, USERID) VALUES ({i}, '{u}');"
                for i, u in enumerate(["USER_0", "USER_2", "USER_2"])))
    assert status == 200, body
    sql = f"SELECT COUNT, USERID FROM {name}_AGG;"
    deadline = time.time() + 10
    for path, key in (("/query-stream", "sql"), ("/query", "ksql")):
        while True:
            status, headers, raw = _post(server, path, {key: sql}, PROTO)
            assert status == 200, raw
            entries = json.loads(raw)   # one valid JSON array
            rows = {e["row"]["protobufBytes"] for e in entries[1:]}
            if rows == {"CAESBlVTRVJfMA==", "CAISBlVTRVJfMg=="} or time.time() > deadline:
                break
            time.sleep(0.1)
        assert headers["content-type"] == PROTO
        # the bytes and header ksqlDB's RestApiTest expects for this shape
        assert rows == {"CAESBlVTRVJfMA==", "CAISBlVTRVJfMg=="}
        assert entries[0]["header"]["schema"] == "`COUNT` BIGINT, `USERID` STRING KEY"
        assert entries[0]["header"]["protoSchema"] == (
            'syntax = "proto3";\n\nmessage ConnectDefault1 {\n  int64 COUNT = 1;\n'
            '  string USERID = 2;\n}\n')
        assert entries[0]["header"]["queryId"]
        assert raw.startswith(b'[{"header":') and raw.endswith(b'"}}]')
        assert b",\n{\"row\":" in raw and "finalMessage" not in raw.decode()


def test_protobuf_push_and_stream_pull_round_trip(server, name):
    status, body = server.ksql(
        f"CREATE STREAM {name} (ID INT KEY, V STRING, D DECIMAL(4,2), M MAP<STRING, INT>, "
        "S STRUCT<A INT, B ARRAY<STRING>>, T TIMESTAMP) WITH "
        f"(kafka_topic='{name.lower()}', value_format='JSON', partitions=1);" +
        "".join(f"INSERT INTO {name} (ID, V, D, M, S, T) VALUES ({i}, '{v}', {i}.25, "
                f"MAP('k':={i}), STRUCT(A:={i}, B:=ARRAY['x']), "
                f"FROM_UNIXTIME({i}000));" for i, v in ((1, "a"), (2, "b"))))
    assert status == 200, body
    # a pull query over a stream: scanned to the end, "Query Completed"
    status, _, raw = _post(server, "/query-stream",
                           {"sql": f"SELECT * FROM {name};"}, PROTO)
    assert status == 200, raw
    header, rows, final = _decode_rows(json.loads(raw))
    assert header["schema"] == ("`ID` INTEGER, `V` STRING, `D` DECIMAL(4, 2), "
                                "`M` MAP<STRING, INTEGER>, `S` STRUCT<`A` INTEGER, "
                                "`B` ARRAY<STRING>>, `T` TIMESTAMP")
    assert "repeated ConnectDefault2Entry M = 4;" in header["protoSchema"]
    assert "ConnectDefault3 S = 5;" in header["protoSchema"]
    assert 'import "google/protobuf/timestamp.proto";' in header["protoSchema"]
    assert final == ["Query Completed"]
    assert rows == [
        {"ID": 1, "V": "a", "D": __import__("decimal").Decimal("1.25"),
         "M": [{"key": "k", "value": 1}], "S": {"A": 1, "B": ["x"]}, "T": 1000},
        {"ID": 2, "V": "b", "D": __import__("decimal").Decimal("2.25"),
         "M": [{"key": "k", "value": 2}], "S": {"A": 2, "B": ["x"]}, "T": 2000}]
    # a push query over HTTP/2 (prior knowledge), /query and /query-stream alike
    for path, key in (("/query-stream", "sql"), ("/query", "ksql")):
        r = curl("--http2-prior-knowledge", "-X", "POST", server.url + path,
                 "-H", f"Accept: {PROTO}", "-H", "Content-Type: application/json",
                 "-d", json.dumps({key: f"SELECT ID, V FROM {name} EMIT CHANGES LIMIT 2;",
                                   "properties": {"auto.offset.reset": "earliest"},
                                   "streamsProperties": {"auto.offset.reset": "earliest"}}))
        assert r.returncode == 0, r.stderr
        header, rows, final = _decode_rows(json.loads(r.stdout))
        assert header["schema"] == "`ID` INTEGER, `V` STRING"
        assert rows == [{"ID": 1, "V": "a"}, {"ID": 2, "V": "b"}]
        assert final == ["Limit Reached"]


def test_protobuf_unsupported_schema_is_a_clean_error(server, name):
    status, body = server.ksql(
        f"CREATE STREAM {name} (ID INT KEY, A ARRAY<ARRAY<INT>>) WITH "
        f"(kafka_topic='{name.lower()}', value_format='JSON', partitions=1);")
    assert status == 200, body
    status, _, raw = _post(server, "/query-stream", {"sql": f"SELECT * FROM {name};"},
                           PROTO)
    assert status == 400
    err = json.loads(raw)
    assert err["@type"] == "statement_error" and err["error_code"] == 40000
    assert "nested collections" in err["message"]
    assert "Traceback" not in raw.decode()
