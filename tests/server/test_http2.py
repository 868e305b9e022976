"""HTTP/2 on the same port: prior knowledge, h2c upgrade, multiplexing, and the PyPI
clients that speak it (``ksqldb``, ``ksql-python-ng``)."""

from __future__ import annotations

import asyncio
import json

import pytest

from .conftest import curl
from .test_http1 import make_stream

httpx = pytest.importorskip("httpx")
pytest.importorskip("h2")


def test_curl_prior_knowledge_and_upgrade(server, name):
    make_stream(server, name, [(1, "a")])
    r = curl("--http2-prior-knowledge", "-i", "-X", "POST", server.url + "/query-stream",
             "-d", json.dumps({"sql": f"SELECT * FROM {name};"}))
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/2 200"), r.stdout
    assert b"content-type: application/vnd.ksqlapi.delimited.v1" in head
    assert json.loads(body.splitlines()[1]) == [1, "a", 1.5, {"k": 1}]
    r = curl("--http2", "-i", server.url + "/info")
    assert b"101 Switching Protocols" in r.stdout and b"HTTP/2 200" in r.stdout
    assert b"KsqlServerInfo" in r.stdout
    r = curl("--http2-prior-knowledge", "-s", "-o", "/dev/null", "-w", "%{http_code}",
             "-X", "POST", server.url + "/query", "-H", "Accept: application/vnd.ksql.v1+json",
             "-d", json.dumps({"ksql": f"SELECT * FROM {name};"}))
    assert r.stdout == b"405"


def test_multiplexed_push_query_and_inserts(server, name):
    """A push query and inserts into its source on ONE HTTP/2 connection."""
    make_stream(server, name)

    async def go():
        async with httpx.AsyncClient(http1=False, http2=True, timeout=20) as client:
            async def query():
                rows = []
                async with client.stream("POST", server.url + "/query-stream", json={
                        "sql": f"SELECT ID, V FROM {name} EMIT CHANGES LIMIT 3;"}) as r:
                    assert r.http_version == "HTTP/2"
                    async for line in r.aiter_lines():
                        if line:
                            rows.append(json.loads(line))
                            if len(rows) == 1:
                                started.set()
                return rows

            started = asyncio.Event()
            qtask = asyncio.create_task(query())
            await asyncio.wait_for(started.wait(), 10)
            body = json.dumps({"target": name}) + "\n" + "\n".join(
                json.dumps({"ID": i, "V": f"v{i}"}) for i in range(3)) + "\n"
            r = await client.post(server.url + "/inserts-stream", content=body)
            acks = [json.loads(x) for x in r.text.splitlines()]
            info = await client.get(server.url + "/info")
            assert info.http_version == "HTTP/2"
            return await asyncio.wait_for(qtask, 15), acks

    rows, acks = asyncio.run(go())
    assert acks == [{"status": "ok", "seq": i} for i in range(3)]
    assert rows[1:] == [[0, "v0"], [1, "v1"], [2, "v2"]]


def test_inserts_stream_errors(server, name):
    make_stream(server, name)
    body = (json.dumps({"target": name}) + "\n" + '{"ID": 1, "V": "ok"}\n' + "not json\n" +
            '{"NOPE": 1}\n' + '{"ID": "x"}')  # the last line has no newline
    with httpx.Client(http1=False, http2=True, timeout=20) as c:
        r = c.post(server.url + "/inserts-stream", content=body)
        acks = [json.loads(x) for x in r.text.splitlines()]
        assert [a["status"] for a in acks] == ["ok", "error", "error", "error"]
        assert acks[1]["message"] == "Invalid JSON in inserts stream"
        assert [a["seq"] for a in acks] == [0, 1, 2, 3]
        r = c.post(server.url + "/inserts-stream", content='{"target": "NO_SUCH"}\n')
        assert r.status_code == 400 and r.json()["error_code"] == 40000


def test_ksqldb_client(server, name):
    ksqldb = pytest.importorskip("ksqldb")
    client = ksqldb.KSQLdbClient(server.url)
    res = client.ksql(f"CREATE STREAM {name} (ID INT KEY, V STRING) WITH "
                      f"(kafka_topic='{name.lower()}', value_format='JSON', partitions=1);")
    assert res[0]["commandStatus"]["status"] == "SUCCESS"
    acks = client.inserts_stream(name, [{"ID": 1, "V": "a"}, {"ID": 2, "V": "b"}])
    assert acks == [{"status": "ok", "seq": 0}, {"status": "ok", "seq": 1}]
    rows = client.query_sync(f"SELECT * FROM {name};")
    assert rows[0]["columnNames"] == ["ID", "V"] and rows[1:] == [[1, "a"], [2, "b"]]

    async def push():
        out = []
        async for x in client.query_async(
                f"SELECT * FROM {name} EMIT CHANGES LIMIT 2;",
                stream_properties={"auto.offset.reset": "earliest"}):
            out.append(x)
        return out
    out = asyncio.run(push())
    assert out[1:] == [[1, "a"], [2, "b"]]

    async def push_and_close():
        async for x in client.query_async(f"SELECT * FROM {name} EMIT CHANGES;"):
            return await asyncio.to_thread(client.close_query, x["queryId"])
    assert asyncio.run(asyncio.wait_for(push_and_close(), 20)) is True
    assert client.close_query("transient_NOPE_1") is False
    assert client.ksql(f"DROP STREAM {name};")[0]["@type"] == "currentStatus"


def test_ksql_python_ng_client(server, name):
    ksql = pytest.importorskip("ksql")
    try:
        api = ksql.KSQLAPI(server.url)
    except TypeError as e:  # ksql-python-ng needs httpx<0.28
        pytest.skip(f"ksql-python-ng does not work with this httpx: {e}")
    with pytest.raises(ksql.errors.KSQLError, match="Kafka topic does not exist"):
        # create_stream sets no PARTITIONS, so (as in ksqlDB) the topic must already exist
        api.create_stream(table_name=name, columns_type=["ID INT", "V STRING"],
                          topic=name.lower(), value_format="JSON")
    api.ksql(f"CREATE STREAM {name} (ID INT, V STRING) WITH (kafka_topic='{name.lower()}', "
             "value_format='JSON', partitions=1);")
    desc = api.ksql(f"DESCRIBE {name};")
    assert desc[0]["@type"] == "sourceDescription"
    acks = api.inserts_stream(name, [{"ID": 1, "V": "a"}, {"ID": 2, "V": "b"}])
    assert [a["status"] for a in acks] == ["ok", "ok"]
    chunks = list(api.query(f"SELECT * FROM {name} EMIT CHANGES LIMIT 2;",
                            stream_properties={"auto.offset.reset": "earliest"}))
    assert chunks[-1].strip() == '{"finalMessage":"Limit Reached"}]'
    rows = list(api.query(f"SELECT * FROM {name};", use_http2=True, parse=True))
    assert [(r["ID"], r["V"]) for r in rows] == [(1, "a"), (2, "b")]
    assert api.close_query("transient_NOPE_1") is False
    assert api.ksql(f"DROP STREAM {name};")[0]["@type"] == "currentStatus"
