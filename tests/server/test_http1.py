"""HTTP/1.1: the old and new endpoints, framing, errors (curl and the stdlib as clients)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time

from .conftest import curl


def make_stream(server, name, rows=()):
    status, body = server.ksql(
        f"CREATE STREAM {name} (ID INT KEY, V STRING, D DECIMAL(4,2), M MAP<STRING, INT>) "
        f"WITH (kafka_topic='{name.lower()}', value_format='JSON', partitions=1);" +
        "".join(f"INSERT INTO {name} (ID, V, D, M) VALUES ({i}, '{v}', {i}.5, MAP('k':={i}));"
                for i, v in rows))
    assert status == 200, body
    return body


def test_info_root_and_not_found(server):
    status, headers, body = server.request("GET", "/info")
    assert status == 200 and headers["content-type"].startswith("application/json")
    info = json.loads(body)["KsqlServerInfo"]
    assert info["serverStatus"] == "RUNNING" and info["ksqlServiceId"] == "default_"
    r = curl("-i", server.url + "/")
    assert b"307" in r.stdout.split(b"\r\n")[0] and b"location: /info" in r.stdout.lower()
    status, _, body = server.request("GET", "/no/such/path")
    assert status == 404 and body == b"Not Found"
    status, _, body = server.request("GET", "/ksql")
    assert status == 405


def test_health_status_cluster_property(server):
    status, _, body = server.request("GET", "/healthcheck")
    assert status == 200 and json.loads(body)["isHealthy"] is True
    assert json.loads(body)["serverState"] == "READY"
    status, _, body = server.request("GET", "/clusterStatus")
    assert status == 200 and "clusterStatus" in json.loads(body)
    status, _, body = server.request("GET", "/is_valid_property/auto.offset.reset")
    assert status == 200 and json.loads(body) is True
    status, _, body = server.request("GET", "/is_valid_property/ksql.service.id")
    assert status == 400 and json.loads(body)["error_code"] == 40000
    status, _, body = server.request("GET", "/chc/live")
    assert status == 200 and json.loads(body) == {}


def test_ksql_entities_and_statement_error(server, name):
    body = make_stream(server, name, [(1, "a")])
    assert body[0]["@type"] == "currentStatus"
    assert body[0]["commandId"] == f"stream/`{name}`/create"
    status, body = server.ksql(f"SHOW STREAMS; DESCRIBE {name}; SELECT * FROM {name};")
    assert status == 400
    assert body["@type"] == "statement_error" and body["error_code"] == 40002
    assert body["message"].startswith("The following statement types should be issued")
    assert body["statementText"] == f"SELECT * FROM {name};"
    assert [e["@type"] for e in body["entities"]] == ["streams", "sourceDescription"]
    status, body = server.ksql(f"DESCRIBE {name}_MISSING;")
    assert status == 400 and body["@type"] == "statement_error"
    assert body["error_code"] == 40001 and body["entities"] == []
    status, body = server.ksql("SHOW STREAMS;", streamsProperties={"ksql.service.id": "x"})
    assert status == 400 and body["error_code"] == 40000
    status, _, raw = server.request("GET", f"/status/stream/`{name}`/create")
    assert status == 200 and json.loads(raw)["status"] == "SUCCESS"


def test_ksql_variables_and_set_carry_over(server, name):
    status, body = server.ksql(
        f"DEFINE t = '{name.lower()}'; CREATE STREAM {name} (ID INT KEY, V STRING) WITH "
        "(kafka_topic='${t}', value_format='${fmt}', partitions=1);",
        sessionVariables={"fmt": "JSON"})
    assert status == 200, body
    assert body[-1]["@type"] == "currentStatus"
    status, body = server.ksql(f"DESCRIBE {name};")
    assert body[0]["sourceDescription"]["topic"] == name.lower()


def test_ksql_bad_requests(server):
    for payload in (b"{not json", b"[1,2]", b'{"ksql": 3}', b'{"ksql": "SHOW STREAMS;", '
                                                                 b'"streamsProperties": 7}'):
        status, headers, body = server.request("POST", "/ksql", payload)
        assert status == 400, payload
        err = json.loads(body)
        assert err["@type"] == "generic_error" and err["error_code"] == 40000
        assert headers["content-type"].startswith("application/json")


def test_body_limit(server):
    big = json.dumps({"ksql": "SHOW STREAMS; -- " + "x" * (11 * 1024 * 1024)}).encode()
    status, _, body = server.request("POST", "/ksql", big)
    assert status == 413


def test_query_stream_writers(server, name):
    make_stream(server, name, [(1, "a"), (2, "b")])
    sql = {"sql": f"SELECT * FROM {name};"}
    status, headers, body = server.request("POST", "/query-stream", sql)
    assert status == 200
    assert headers["content-type"] == "application/vnd.ksqlapi.delimited.v1"
    lines = body.decode().splitlines()
    head = json.loads(lines[0])
    assert head["columnNames"] == ["ID", "V", "D", "M"]
    assert head["columnTypes"] == ["INTEGER", "STRING", "DECIMAL(4, 2)",
                                   "MAP<STRING, INTEGER>"]
    assert [json.loads(x) for x in lines[1:]] == [[1, "a", 1.5, {"k": 1}],
                                                  [2, "b", 2.5, {"k": 2}]]
    assert '1.50' in lines[1]  # DECIMAL keeps its scale on the wire

    status, headers, body = server.request("POST", "/query-stream", sql,
                                           {"Accept": "application/json"})
    doc = json.loads(body)
    assert doc[0]["columnNames"] == ["ID", "V", "D", "M"] and doc[1:] == \
        [[1, "a", 1.5, {"k": 1}], [2, "b", 2.5, {"k": 2}]]

    status, headers, body = server.request("POST", "/query-stream", sql,
                                           {"Accept": "application/vnd.ksql.v1+json"})
    text = body.decode()
    assert text.startswith('[{"header":{"queryId":"')
    rows = text.split("\n")
    assert json.loads(rows[0][1:].rstrip(","))["header"]["schema"] == \
        "`ID` INTEGER, `V` STRING, `D` DECIMAL(4, 2), `M` MAP<STRING, INTEGER>"
    assert json.loads(rows[1].rstrip(",")) == {"row": {"columns": [1, "a", 1.5, {"k": 1}]}}


def test_old_query_endpoint(server, name):
    make_stream(server, name, [(1, "a"), (2, "b")])
    status, headers, body = server.request("POST", "/query", {"ksql": f"SELECT * FROM {name};"})
    assert status == 200 and headers["content-type"] == "application/json"
    # a pull over a stream scans to the end like a push query: rows, then "Query Completed"
    doc = json.loads(body)
    assert "header" in doc[0] and [r["row"]["columns"][1] for r in doc[1:-1]] == ["a", "b"]
    assert doc[-1] == {"finalMessage": "Query Completed"}

    status, headers, body = server.request(
        "POST", "/query", {"ksql": f"SELECT ID, V FROM {name} EMIT CHANGES LIMIT 2;",
                           "streamsProperties": {"auto.offset.reset": "earliest"}})
    text = body.decode()
    assert text.endswith('{"finalMessage":"Limit Reached"}]\n'), text
    assert headers.get("transfer-encoding") == "chunked"
    parts = [p for p in text.strip().lstrip("[").rstrip("]").split(",\n") if p.strip()]
    assert json.loads(parts[0])["header"]["schema"] == "`ID` INTEGER, `V` STRING"
    assert [json.loads(p)["row"]["columns"] for p in parts[1:3]] == [[1, "a"], [2, "b"]]

    # delimited Accept on /query is routed to the /query-stream writer
    status, headers, body = server.request(
        "POST", "/query", {"ksql": f"SELECT * FROM {name};"},
        {"Accept": "application/vnd.ksqlapi.delimited.v1"})
    assert status == 200 and "columnNames" in json.loads(body.splitlines()[0])


def test_query_errors_are_400(server, name):
    make_stream(server, name)
    cases = [("/query-stream", {"sql": "SELECT * FROM NOPE_NOT_THERE;"}),
             ("/query-stream", {"sql": f"CREATE STREAM X_{name} AS SELECT * FROM {name};"}),
             ("/query-stream", {"sql": "SELECT * FROM"}),
             ("/query-stream", {"sql": 5}),
             ("/query", {"ksql": "SELECT * FROM NOPE_NOT_THERE EMIT CHANGES;"})]
    for path, payload in cases:
        status, headers, body = server.request("POST", path, payload)
        assert status == 400, (payload, body)
        err = json.loads(body)
        assert err["error_code"] in (40000, 40001) and err["message"], err
        assert "Traceback" not in body.decode()
    status, _, body = server.request("POST", "/close-query", {"queryId": "transient_NOPE_1"})
    assert status == 400 and json.loads(body)["message"] == "No query with id transient_NOPE_1"


def test_inserts_stream_needs_http2(server, name):
    status, _, body = server.request("POST", "/inserts-stream", b'{"target":"S"}\n')
    assert status == 400 and json.loads(body)["error_code"] == 40004


def _metric(server, metric):
    _, _, body = server.request("GET", "/metrics")
    m = re.search(rf"^{metric} (\S+)$", body.decode(), re.M)
    return float(m.group(1)) if m else None


def test_push_query_keepalive_and_disconnect_closes_it(server, name):
    make_stream(server, name)
    before = _metric(server, "ksqlpy_push_queries_open")
    proc = subprocess.Popen(
        ["curl", "-sS", "-N", "-X", "POST", server.url + "/query", "-d",
         json.dumps({"ksql": f"SELECT * FROM {name} EMIT CHANGES;"})],
        stdout=subprocess.PIPE)
    try:
        head = proc.stdout.readline()
        assert b'"header"' in head
        assert proc.stdout.readline() == b"\n"  # keepalive while idle
        assert _metric(server, "ksqlpy_push_queries_open") == before + 1
        status, body = server.ksql(f"INSERT INTO {name} (ID, V) VALUES (7, 'x');")
        assert status == 200
        line = proc.stdout.readline()
        while line == b"\n":
            line = proc.stdout.readline()
        assert json.loads(line.rstrip(b",\n"))["row"]["columns"][:2] == [7, "x"]
    finally:
        proc.kill()
        proc.wait()
    deadline = time.time() + 5
    while time.time() < deadline and _metric(server, "ksqlpy_push_queries_open") != before:
        time.sleep(0.05)
    assert _metric(server, "ksqlpy_push_queries_open") == before


def test_close_query_ends_stream(server, name):
    make_stream(server, name)
    proc = subprocess.Popen(
        ["curl", "-sS", "-N", "-X", "POST", server.url + "/query-stream", "-d",
         json.dumps({"sql": f"SELECT * FROM {name} EMIT CHANGES;"})], stdout=subprocess.PIPE)
    try:
        head = json.loads(proc.stdout.readline())
        status, _, body = server.request("POST", "/close-query", {"queryId": head["queryId"]})
        assert status == 200
        assert proc.wait(10) == 0  # the response ended normally
    finally:
        proc.kill()


def test_metrics_and_openapi(server, name):
    make_stream(server, name, [(1, "a")])
    server.ksql(f"CREATE STREAM {name}_OUT AS SELECT * FROM {name};")
    status, headers, body = server.request("GET", "/metrics")
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain")
    for m in ("ksqlpy_query_records_in_total", "ksqlpy_query_records_out_total",
              "ksqlpy_processing_log_errors_total", "ksqlpy_push_queries_open",
              "ksqlpy_http_request_duration_seconds_bucket"):
        assert f"# TYPE {m.replace('_bucket', '')}" in text, m
    assert re.search(r'ksqlpy_query_records_in_total\{query_id="CSAS_' + name, text)

    from ksqlpy.server.app import ROUTES

    status, _, body = server.request("GET", "/openapi.json")
    spec = json.loads(body)
    assert spec["openapi"].startswith("3.1")
    for method, path, _, _ in ROUTES:
        assert method.lower() in spec["paths"][path], (method, path)


def test_websocket_query(server, name):
    import aiohttp

    make_stream(server, name, [(1, "a"), (2, "b")])

    async def go():
        req = json.dumps({"ksql": f"SELECT ID, V FROM {name} EMIT CHANGES LIMIT 2;",
                          "streamsProperties": {"auto.offset.reset": "earliest"}})
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(server.url + "/ws/query",
                                    params={"request": req, "version": "1"}) as ws:
                frames = []
                async for msg in ws:
                    frames.append(json.loads(msg.data))
                return frames, ws.close_code

    frames, code = asyncio.run(asyncio.wait_for(go(), 20))
    assert [f["name"] for f in frames[0]] == ["ID", "V"]
    assert frames[0][1]["schema"] == {"type": "STRING", "fields": None, "memberSchema": None}
    assert [f["row"]["columns"] for f in frames[1:3]] == [[1, "a"], [2, "b"]]
    assert code == 1000


def test_print_topic_streams_raw_records(server, name):
    topic = name.lower()
    status, body = server.ksql(
        f"CREATE STREAM {name} (ID INT KEY, V STRING) WITH (kafka_topic='{topic}', "
        f"value_format='JSON', partitions=1);"
        f"INSERT INTO {name} (ID, V) VALUES (1, 'a');"
        f"INSERT INTO {name} (ID, V) VALUES (2, 'b');")
    assert status == 200, body
    status, headers, body = server.request(
        "POST", "/query-stream", {"sql": f"PRINT '{topic}' FROM BEGINNING LIMIT 2;"})
    assert status == 200 and headers["content-type"].startswith("text/plain")
    lines = body.decode().splitlines()
    assert lines[1] == "Value format: JSON"
    assert [ln.split(", value: ")[1] for ln in lines[2:]] == [
        '{"V":"a"}, partition: 0', '{"V":"b"}, partition: 0']
    assert all(ln.startswith("rowtime: ") for ln in lines[2:])
    status, _, body = server.request("POST", "/query-stream",
                                     {"sql": "PRINT 'no_such_topic' LIMIT 1;"})
    assert status == 400 and b"Could not find topic 'no_such_topic'" in body
