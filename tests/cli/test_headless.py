"""Headless mode: ``ksqlpy server --queries-file app.sql`` runs the file's queries and refuses
interactive use; killed with -9 and restarted it resumes without duplicating its output."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time

from tests.cli.conftest import ROOT, ServerProcess, cli_env, free_port

APP = """\
-- the whole application
SET 'auto.offset.reset' = 'earliest';
CREATE STREAM SRC (ID INT KEY, V STRING)
  WITH (kafka_topic='src', value_format='JSON', partitions=1);
CREATE STREAM OUT AS SELECT ID, UCASE(V) AS V FROM SRC;
"""


def _feed(data_dir, start: int, n: int) -> None:
    """Append rows to topic 'src' through an engine of another service id on the same data
    directory (the headless server's REST API accepts no inserts)."""
    from ksqlpy.runtime.engine import Engine, EngineConfig

    async def go():
        e = Engine(EngineConfig(data_dir=str(data_dir), run_queries=False,
                                properties={"ksql.service.id": "feeder_"}))
        await e.start()
        try:
            if e.catalog.source("FEED") is None:
                await e.execute("CREATE STREAM FEED (ID INT KEY, V STRING) WITH "
                                "(kafka_topic='src', value_format='JSON', partitions=1);")
            for i in range(start, start + n, 200):
                await e.execute("".join(f"INSERT INTO FEED (ID, V) VALUES ({j}, 'v{j}');"
                                        for j in range(i, min(i + 200, start + n))))
        finally:
            await e.close()
    asyncio.run(go())


def _sink_ids(data_dir) -> list[int]:
    """Every record of the sink topic OUT, read from the log once the server is gone."""
    from ksqlpy.log import open_log

    async def go():
        log = open_log("embedded", data_dir / "log")
        ids = []
        try:
            offset = 0
            while True:
                batch = await log.read("OUT", 0, offset, 10_000)
                if batch.num_rows == 0:
                    break
                for v in batch.column("value").to_pylist():
                    ids.append(int(json.loads(v)["V"][1:]))
                offset = batch.column("offset")[-1].as_py() + 1
        finally:
            await log.close()
        return ids
    return asyncio.run(go())


def _records_out(srv) -> int:
    status, _, body = srv.request("GET", "/metrics")
    m = re.search(r'ksqlpy_query_records_out_total\{query_id="CSAS_OUT_\d+"\} (\d+)',
                  body.decode())
    return int(m.group(1)) if m else 0


def _wait_out(srv, n: int, timeout: float = 30.0) -> int:
    deadline = time.time() + timeout
    while True:
        got = _records_out(srv)
        if got >= n or time.time() > deadline:
            return got
        time.sleep(0.05)


def test_headless_kill_restart_no_duplicates(tmp_path):
    app = tmp_path / "app.sql"
    app.write_text(APP)
    data = tmp_path / "data"
    _feed(data, 0, 3000)
    srv = ServerProcess(tmp_path, "--queries-file", str(app)).start()
    try:
        # only /info, /healthcheck, /metrics...: statements and queries are refused
        status, _, body = srv.request("GET", "/info")
        assert status == 200 and b"RUNNING" in body
        status, ents = srv.ksql("SHOW STREAMS;")
        assert status == 403 and "headless mode" in ents["message"]
        status, _, body = srv.request("POST", "/query-stream", {"sql": "SELECT * FROM OUT;"})
        assert status == 403
        assert _wait_out(srv, 1) >= 1
        srv.proc.send_signal(signal.SIGKILL)     # mid-stream, or just after: no matter
        srv.proc.wait()
        _feed(data, 3000, 500)
        srv.start()
        assert srv.ready()
        # the restart replayed the queries; the file's statements were not run again
        assert "2 resumed from the command log" in srv.log.read_text()
        _wait_settled(srv)
    finally:
        assert srv.stop() == 0
    ids = _sink_ids(data)
    assert len(ids) == len(set(ids)), "duplicated output after kill -9 and restart"
    assert sorted(ids) == list(range(3500))


def _wait_settled(srv, quiet: float = 1.5, timeout: float = 30.0) -> None:
    """Until the query has produced something and then nothing more for ``quiet`` s."""
    deadline = time.time() + timeout
    last, since = -1, time.time()
    while time.time() < deadline:
        n = _records_out(srv)
        if n != last:
            last, since = n, time.time()
        elif n > 0 and time.time() - since >= quiet:
            return
        time.sleep(0.1)


def test_headless_refuses_files_without_queries_or_unsupported(tmp_path):
    def start(text):
        f = tmp_path / "f.sql"
        f.write_text(text)
        return subprocess.run(
            [sys.executable, "-m", "ksqlpy", "server", "--host", "127.0.0.1", "--port",
             str(free_port()), "--data-dir", str(tmp_path / "d"), "--queries-file", str(f)],
            capture_output=True, text=True, timeout=60, env=cli_env(), cwd=ROOT)

    r = start("CREATE STREAM A (ID INT KEY, V STRING) WITH (kafka_topic='a', "
              "value_format='JSON', partitions=1);\n")
    assert r.returncode == 1
    assert "The SQL file does not contain any persistent queries" in r.stderr
    r = start("CREATE STREAM A (ID INT KEY, V STRING) WITH (kafka_topic='a', "
              "value_format='JSON', partitions=1);\nSHOW STREAMS;\n"
              "CREATE STREAM B AS SELECT * FROM A;\n")
    assert r.returncode == 1 and "Unsupported statement" in r.stderr
