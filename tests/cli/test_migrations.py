"""``ksqlpy apply`` / ``ksqlpy migrations``: a directory of migrations deployed to a running
server, re-applied (nothing happens), the server restarted (queries and outputs still there),
checksums, the lock, --dry-run and --until."""

from __future__ import annotations

import json
import time

from tests.cli.conftest import ServerProcess, run_cli


def _write(d, name, text):
    (d / name).write_text(text)


def _pull(server, sql):
    status, _, body = server.request("POST", "/query-stream", {"sql": sql})
    assert status == 200, body
    lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
    return lines[0]["columnNames"], lines[1:]


def test_apply_restart_and_reapply(tmp_path):
    mig = tmp_path / "migrations"
    mig.mkdir()
    _write(mig, "V000001__create_orders.sql",
           "CREATE STREAM ORDERS (ID INT KEY, ITEM STRING, QTY INT)\n"
           "  WITH (kafka_topic='orders', value_format='JSON', partitions=1);\n")
    _write(mig, "V000002__big_orders.sql",
           "SET 'auto.offset.reset' = 'earliest';\n"
           "DEFINE limit = '10';\n"
           "CREATE STREAM BIG_ORDERS AS SELECT * FROM ORDERS WHERE QTY > ${limit};\n")
    _write(mig, "V000003__seed.sql",
           "INSERT INTO ORDERS (ID, ITEM, QTY) VALUES (1, 'apple', 5);\n"
           "INSERT INTO ORDERS (ID, ITEM, QTY) VALUES (2, 'pear', 50);\n")
    srv = ServerProcess(tmp_path).start()
    try:
        r = run_cli("apply", str(mig), "--server", srv.url, "--dry-run")
        assert r.returncode == 0, r.stderr
        assert "Would apply V000001" in r.stdout and "Would apply V000003" in r.stdout
        r = run_cli("apply", str(mig), "--server", srv.url, "--until", "2")
        assert r.returncode == 0, r.stderr
        assert "Applying V000001" in r.stdout and "Applying V000002" in r.stdout
        assert "V000003" not in r.stdout
        r = run_cli("apply", str(mig), "--server", srv.url)
        assert r.returncode == 0, r.stderr
        assert "Applying V000003" in r.stdout and "V000001" not in r.stdout
        # a second run does nothing
        r = run_cli("apply", str(mig), "--server", srv.url)
        assert r.returncode == 0, r.stderr
        assert "Already up to date: current version V000003" in r.stdout
        r = run_cli("migrations", "status", str(mig), "--server", srv.url)
        assert r.returncode == 0, r.stderr
        assert "Current migration version: V000003" in r.stdout
        assert r.stdout.count("MIGRATED") == 3
        _, rows = _pull(srv, "SELECT * FROM MIGRATION_EVENTS;")
        assert len(rows) >= 6
        # restart the server: the command log brings everything back
        assert srv.stop() == 0
        srv.start()
        status, ents = srv.ksql("SHOW QUERIES;")
        assert status == 200
        assert any(q["sinks"] == ["BIG_ORDERS"] for q in ents[0]["queries"])
        deadline = time.time() + 20
        while True:
            cols, rows = _pull(srv, "SELECT ID, ITEM FROM BIG_ORDERS;")
            if rows or time.time() > deadline:
                break
            time.sleep(0.2)
        assert rows == [[2, "pear"]]
        r = run_cli("apply", str(mig), "--server", srv.url)
        assert r.returncode == 0 and "Already up to date" in r.stdout
        srv.ksql("INSERT INTO ORDERS (ID, ITEM, QTY) VALUES (3, 'fig', 70);")
        deadline = time.time() + 20
        while True:
            _, rows = _pull(srv, "SELECT ID FROM BIG_ORDERS;")
            if len(rows) >= 2 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert rows == [[2], [3]]   # nothing duplicated by the restart
        # a changed applied file is refused
        _write(mig, "V000001__create_orders.sql",
               "CREATE STREAM ORDERS (ID INT KEY, ITEM STRING) WITH (kafka_topic='orders', "
               "value_format='JSON', partitions=1);\n")
        r = run_cli("apply", str(mig), "--server", srv.url)
        assert r.returncode == 1 and "Checksum mismatch for migration V000001" in r.stderr
        r = run_cli("migrations", "status", str(mig), "--server", srv.url)
        assert r.returncode == 1 and "MISMATCH" in r.stdout
    finally:
        srv.stop()


def test_failed_migration_and_lock(tmp_path):
    mig = tmp_path / "m"
    mig.mkdir()
    _write(mig, "V000001__ok.sql",
           "CREATE STREAM LOCKED_S (ID INT KEY, V STRING) WITH (kafka_topic='locked_s', "
           "value_format='JSON', partitions=1);\n")
    _write(mig, "V000002__broken.sql", "CREATE STREAM BROKEN AS SELECT * FROM NOWHERE;\n")
    srv = ServerProcess(tmp_path).start()
    try:
        r = run_cli("apply", str(mig), "--server", srv.url)
        assert r.returncode == 1
        assert "Migration V000002 (broken) failed" in r.stderr and "NOWHERE" in r.stderr
        r = run_cli("migrations", "status", str(mig), "--server", srv.url)
        assert "ERROR" in r.stdout and "Current migration version: V000001" in r.stdout
        # another apply holds the lock: refused
        srv.ksql("INSERT INTO MIGRATION_EVENTS (VERSION_KEY, STATE, NAME, STARTED_ON) VALUES "
                 "('__LOCK__', 'LOCK_REQUESTED', 'someone-else', '0');")
        _write(mig, "V000002__broken.sql",
               "CREATE STREAM FIXED AS SELECT * FROM LOCKED_S;\n")
        r = run_cli("apply", str(mig), "--server", srv.url)
        assert r.returncode == 1 and "Another migration apply is in progress" in r.stderr
        r = run_cli("migrations", "unlock", str(mig), "--server", srv.url)
        assert r.returncode == 0 and "Released" in r.stdout
        r = run_cli("apply", str(mig), "--server", srv.url)
        assert r.returncode == 0, r.stderr
        assert "Applying V000002" in r.stdout
    finally:
        srv.stop()


def test_apply_on_the_embedded_engine(tmp_path):
    mig = tmp_path / "m"
    mig.mkdir()
    _write(mig, "V000001__s.sql",
           "CREATE STREAM EMB_M (ID INT KEY) WITH (kafka_topic='emb_m', value_format='JSON', "
           "partitions=1);\n")
    data = str(tmp_path / "data")
    r = run_cli("apply", str(mig), "--data-dir", data)
    assert r.returncode == 0 and "Applying V000001" in r.stdout, r.stderr
    r = run_cli("apply", str(mig), "--data-dir", data)
    assert r.returncode == 0 and "Already up to date" in r.stdout, r.stderr
