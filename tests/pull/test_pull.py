"""Pull queries over materialized tables: the DuckDB mirror and the executor."""

import asyncio
import struct

import pytest

from ksqlpy.errors import AnalysisError
from ksqlpy.log.base import records
from ksqlpy.pull import header_schema
from ksqlpy.runtime.engine import Engine, EngineConfig

PROPS = {"auto.offset.reset": "earliest"}


def run(coro):
    return asyncio.run(coro)


async def _engine(tmp_path=None, run_queries=False):
    cfg = EngineConfig(log="embedded" if tmp_path else "memory", data_dir=str(tmp_path)
                       if tmp_path else None, run_queries=run_queries, properties=PROPS)
    e = Engine(cfg)
    await e.start()
    return e


async def _drive(e):
    """Run every persistent query over what its source topics hold (run_queries=False)."""
    for q in e.queries:
        for t in q.source_topics:
            info = e.log.topic(t)
            for p in range(info.partitions):
                b = await e.log.read(t, p, 0, 100_000)
                if b.num_rows:
                    await q.process(t, p, b)


async def _users(e):
    await e.log.create_topic("users", 1)
    await e.execute("CREATE TABLE USERS (ID STRING PRIMARY KEY, AGE INT, NAME STRING) "
                    "WITH (KAFKA_TOPIC='users', VALUE_FORMAT='JSON');")
    await e.execute("CREATE TABLE Q AS SELECT * FROM USERS;")
    rows = [(b"a", b'{"AGE": 10, "NAME": "ann"}'), (b"b", b'{"AGE": 20, "NAME": "bob"}'),
            (b"c", b'{"AGE": 30, "NAME": "cy"}'), (b"a", b'{"AGE": 11, "NAME": "ann"}'),
            (b"c", None), (b"d", b'{"AGE": 40, "NAME": "dee"}')]
    await e.log.append("users", 0, records([k for k, _ in rows], [v for _, v in rows],
                                           list(range(1, len(rows) + 1))))
    await _drive(e)
    await e.materialize_all()


def test_materialize_upsert_delete_and_key_lookup():
    async def main():
        e = await _engine()
        try:
            await _users(e)
            r = await e.pull_query("SELECT * FROM Q;")
            assert r.schema == "`ID` STRING KEY, `AGE` INTEGER, `NAME` STRING"
            assert sorted(r.rows) == [["a", 11, "ann"], ["b", 20, "bob"], ["d", 40, "dee"]]
            r = await e.pull_query("SELECT NAME, ID, ROWTIME FROM Q WHERE ID='a';")
            assert r.schema == "`NAME` STRING, `ID` STRING KEY, `ROWTIME` BIGINT"
            assert r.rows == [["ann", "a", 4]]
            assert (await e.pull_query("SELECT * FROM Q WHERE ID='c';")).rows == []
            r = await e.pull_query("SELECT ID FROM Q WHERE ID IN ('a', 'b', 'zz');")
            assert sorted(r.rows) == [["a"], ["b"]]
        finally:
            await e.close()
    run(main())


def test_range_scan_table_scan_limit():
    async def main():
        e = await _engine()
        try:
            await _users(e)
            r = await e.pull_query("SELECT ID FROM Q WHERE ID > 'a';")
            assert r.rows == [["b"], ["d"]]
            r = await e.pull_query("SELECT ID, AGE FROM Q WHERE AGE >= 20;")
            assert r.rows == [["b", 20], ["d", 40]]
            r = await e.pull_query("SELECT * FROM Q LIMIT 2;")
            assert [row[0] for row in r.rows] == ["a", "b"]      # key order
            r = await e.pull_query("SELECT UCASE(NAME) AS N FROM Q WHERE ID = 'b';")
            assert r.rows == [["BOB"]] and r.schema == "`N` STRING"
        finally:
            await e.close()
    run(main())


def test_order_by_and_aggregates_beyond_ksqldb():
    async def main():
        e = await _engine()
        try:
            await _users(e)
            r = await e.pull_query("SELECT ID, AGE FROM Q ORDER BY AGE DESC LIMIT 2;")
            assert r.rows == [["d", 40], ["b", 20]]
            r = await e.pull_query("SELECT COUNT(*) AS N, SUM(AGE) AS S, MAX(NAME) AS M "
                                   "FROM Q WHERE AGE > 10;")
            assert r.schema == "`N` BIGINT, `S` INTEGER, `M` STRING"
            assert r.rows == [[3, 71, "dee"]]
            with pytest.raises(Exception):   # streams keep ksqlDB's syntax error
                await e.execute("CREATE STREAM S (ID STRING KEY, V INT) WITH "
                                "(KAFKA_TOPIC='users', VALUE_FORMAT='JSON');")
                await e.push_query("SELECT * FROM S ORDER BY V;")
        finally:
            await e.close()
    run(main())


@pytest.mark.parametrize("sql,props,message", [
    ("SELECT * FROM USERS;", {}, "The `USERS` table isn't queryable."),
    ("SELECT *, ROWPARTITION FROM Q;", {},
     "Pull queries don't support the following columns in SELECT clauses: `ROWPARTITION`"),
    ("SELECT * FROM Q WHERE ID = 'a' AND ROWOFFSET < 3;", {},
     "Pull queries don't support the following columns in WHERE clauses: `ROWOFFSET`"),
    ("SELECT * FROM Q WINDOW TUMBLING (SIZE 1 SECOND);", {},
     "Pull queries don't support WINDOW clauses."),
    ("SELECT ID, COUNT(*) FROM Q GROUP BY ID;", {}, "Pull queries don't support GROUP BY"),
    ("SELECT * FROM Q LIMIT -1;", {}, "Pull queries don't support negative integers"),
    ("SELECT * FROM Q WHERE ID = 1;", {},
     "Error in WHERE expression: Cannot compare ID (STRING) to 1 (INTEGER) with EQUAL."),
    ("SELECT NAME, NAME FROM Q;", {}, "Duplicate value columns found in schema: `NAME` STRING"),
    ("SELECT * FROM Q WHERE AGE = 1;", {"ksql.query.pull.table.scan.enabled": "false"},
     "WHERE clause missing key column for disjunct: (AGE = 1)"),
    ("SELECT * FROM Q WHERE ID != 'a';", {"ksql.query.pull.table.scan.enabled": "false"},
     "Bound on key columns '[`ID` STRING KEY]' must currently be '='."),
    ("SELECT * FROM Q WHERE ID <= 'a' OR ID >= 'c';",
     {"ksql.query.pull.table.scan.enabled": "false"}, "Query requires table scan to be enabled"),
])
def test_validation_errors(sql, props, message):
    async def main():
        e = await _engine()
        try:
            await _users(e)
            with pytest.raises(AnalysisError) as info:
                await e.pull_query(sql, props)
            assert message in info.value.message
        finally:
            await e.close()
    run(main())


def test_windowed_table():
    async def main():
        e = await _engine()
        try:
            await e.log.create_topic("ev", 1)
            await e.execute("CREATE STREAM EV (ID STRING KEY, V INT) WITH "
                            "(KAFKA_TOPIC='ev', VALUE_FORMAT='JSON');")
            await e.execute("CREATE TABLE AGG AS SELECT ID, COUNT(*) AS C FROM EV "
                            "WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY ID;")
            ts = [100, 200, 1100, 2500]
            await e.log.append("ev", 0, records([b"k", b"k", b"k", b"j"],
                                                [b'{"V":1}'] * 4, ts))
            await _drive(e)
            await e.materialize_all()
            r = await e.pull_query("SELECT * FROM AGG WHERE ID='k';")
            assert r.schema == ("`ID` STRING KEY, `WINDOWSTART` BIGINT KEY, "
                                "`WINDOWEND` BIGINT KEY, `C` BIGINT")
            assert sorted(r.rows) == [["k", 0, 1000, 2], ["k", 1000, 2000, 1]]
            r = await e.pull_query("SELECT ID, C FROM AGG WHERE ID='k' AND WINDOWSTART >= 1000;")
            assert r.rows == [["k", 1]]
            r = await e.pull_query("SELECT * FROM AGG;")
            assert len(r.rows) == 3
        finally:
            await e.close()
    run(main())


def test_source_table_and_push_query_route():
    async def main():
        e = await _engine()
        try:
            await e.log.create_topic("st", 1)
            await e.execute("CREATE SOURCE TABLE ST (K INT PRIMARY KEY, T STRING) WITH "
                            "(KAFKA_TOPIC='st', VALUE_FORMAT='DELIMITED');")
            await e.log.append("st", 0, records([struct.pack(">i", 1), struct.pack(">i", 2)],
                                                [b"one", b"two"], [1, 2]))
            h = await e.push_query("SELECT * FROM ST WHERE K=2;")
            assert [row async for row in h.rows()] == [[2, "two"]]
            assert header_schema(h.columns) == "`K` INTEGER KEY, `T` STRING"
            assert h.until_end and h.done_reason is None
            await e.close_push_query(h.id)
        finally:
            await e.close()
    run(main())


def test_restart_rebuilds_mirror(tmp_path):
    async def first():
        e = await _engine(tmp_path, run_queries=True)
        await e.log.create_topic("users", 1)
        await e.execute("CREATE TABLE USERS (ID STRING PRIMARY KEY, AGE INT) "
                        "WITH (KAFKA_TOPIC='users', VALUE_FORMAT='JSON');")
        await e.execute("CREATE TABLE Q AS SELECT * FROM USERS;")
        await e.log.append("users", 0, records([b"a", b"b", b"a"],
                                               [b'{"AGE":1}', b'{"AGE":2}', b'{"AGE":3}'],
                                               [1, 2, 3]))
        await e.run_until_idle()
        r = await e.pull_query("SELECT * FROM Q;")
        assert sorted(r.rows) == [["a", 3], ["b", 2]]
        await e.close()

    async def second():
        e = await _engine(tmp_path, run_queries=True)
        try:
            assert "Q" in e.pull.store.mirrors          # re-registered by command replay
            r = await e.pull_query("SELECT * FROM Q WHERE ID='a';")
            assert r.rows == [["a", 3]]
        finally:
            await e.close()
    run(first())
    run(second())
