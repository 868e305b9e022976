"""Push queries: rows produced right after the query started are delivered; stream push
queries skip null values; SELECT * over a windowed source carries the window bounds; the
scalable push query id."""

import asyncio

from ksqlpy.log.base import records
from tests.engine.conftest import memory_engine, run

LATEST = {"auto.offset.reset": "latest"}


async def take(q, n: int) -> list:
    out = []
    while len(out) < n:
        block = await asyncio.wait_for(q.queue.get(), 10)
        assert block is not None, f"ended after {out}"
        out.extend(block.rows)
    return out


def test_rows_appended_before_the_task_runs_are_delivered():
    """The start position is fixed when push_query returns (the header is out), not when its
    task first gets scheduled: a record appended in between is not skipped."""
    async def go():
        engine = await memory_engine(**LATEST)
        await engine.execute("CREATE STREAM s (id INT KEY, v INT) WITH (kafka_topic='s', "
                             "value_format='JSON', partitions=1);")
        await engine.execute("INSERT INTO s (id, v) VALUES (0, 0);")  # before: not seen
        for sql in ("SELECT id, v FROM s EMIT CHANGES LIMIT 2;",       # shared pipeline
                    "SELECT id, v, ROWOFFSET FROM s EMIT CHANGES LIMIT 2;"):  # private
            q = await engine.push_query(sql)
            # no await between push_query and the inserts' appends reaching the log
            await engine.execute("INSERT INTO s (id, v) VALUES (1, 10);")
            await engine.execute("INSERT INTO s (id, v) VALUES (2, 20);")
            rows = await take(q, 2)
            assert [r[:2] for r in rows] == [[1, 10], [2, 20]]
            await engine.close_push_query(q.id)
        await engine.close()
    run(go())


def test_stream_push_query_skips_null_values_table_push_query_keeps_them():
    async def go():
        engine = await memory_engine()
        await engine.execute("CREATE STREAM s (k INT KEY, id INT) WITH (kafka_topic='t', "
                             "value_format='JSON', partitions=1);")
        await engine.execute("CREATE TABLE tb (k INT PRIMARY KEY, id INT) WITH ("
                             "kafka_topic='t', value_format='JSON', partitions=1);")
        key = (10).to_bytes(4, "big", signed=True)
        await engine.log.append("t", 0, records([key, key], [b'{"ID":1}', None], [1, 2]))
        q = await engine.push_query("SELECT * FROM s EMIT CHANGES LIMIT 1;")
        assert await take(q, 1) == [[10, 1]]
        await engine.close_push_query(q.id)
        q = await engine.push_query("SELECT * FROM s EMIT CHANGES LIMIT 2;")
        await engine.execute("INSERT INTO s (k, id) VALUES (11, 2);")
        assert await take(q, 2) == [[10, 1], [11, 2]]  # the null value is not delivered
        await engine.close_push_query(q.id)
        q = await engine.push_query("SELECT * FROM tb EMIT CHANGES LIMIT 2;")
        assert await take(q, 2) == [[10, 1], [10, None]]  # a table's tombstone is
        await engine.close_push_query(q.id)
        await engine.close()
    run(go())


def test_select_star_over_windowed_source_has_window_bounds_after_the_key():
    async def go():
        engine = await memory_engine()
        await engine.execute("CREATE STREAM s (k INT KEY, id INT) WITH (kafka_topic='w', "
                             "value_format='JSON', partitions=1, WINDOW_TYPE='Tumbling', "
                             "WINDOW_SIZE='2 SECONDS');")
        q = await engine.push_query("SELECT * FROM s EMIT CHANGES;")
        assert [c.name for c in q.columns] == ["K", "WINDOWSTART", "WINDOWEND", "ID"]
        await engine.close_push_query(q.id)
        # a persistent query's SELECT * does not: its sink is windowed itself
        await engine.execute("CREATE STREAM o AS SELECT * FROM s;")
        assert [c.name for c in engine.catalog.source("O").schema.columns] == ["K", "ID"]
        await engine.close()
    run(go())


def test_scalable_push_query_id():
    async def go():
        engine = await memory_engine(**{**LATEST, "ksql.query.push.v2.enabled": "true"})
        await engine.execute("CREATE STREAM s (k INT KEY, id INT) WITH (kafka_topic='s', "
                             "value_format='JSON', partitions=1);")
        await engine.execute("CREATE STREAM o AS SELECT * FROM s;")
        ids = {}
        for sql in ("SELECT * FROM o EMIT CHANGES;",            # scalable
                    "SELECT * FROM s EMIT CHANGES;",            # no upstream query
                    "SELECT ROWOFFSET FROM o EMIT CHANGES;",    # system column
                    "SELECT k, COUNT(*) FROM o GROUP BY k EMIT CHANGES;"):
            q = await engine.push_query(sql)
            ids[sql] = q.id
            await engine.close_push_query(q.id)
        scalable = [s for s, i in ids.items() if i.startswith("SCALABLE_PUSH_QUERY_")]
        assert scalable == ["SELECT * FROM o EMIT CHANGES;"], ids
        await engine.close()
    run(go())


def test_scalable_push_query_skips_null_keys_like_ksqldb_consumer():
    """ksqlDB's ScalablePushConsumer skips records with a null key (source with key
    columns) or a null value; a conventional push query delivers the null-key row."""
    async def go():
        engine = await memory_engine(**{**LATEST, "ksql.query.push.v2.enabled": "true"})
        await engine.execute("CREATE STREAM s (k INT KEY, id INT) WITH (kafka_topic='s', "
                             "value_format='JSON', partitions=1);")
        await engine.execute("CREATE STREAM o AS SELECT * FROM s;")
        spq = await engine.push_query("SELECT * FROM o EMIT CHANGES LIMIT 1;")
        plain = await engine.push_query("SELECT * FROM o EMIT CHANGES LIMIT 2;",
                                        {"ksql.query.push.v2.enabled": "false"})
        assert spq.id.startswith("SCALABLE_PUSH_QUERY_") and not plain.id.startswith("SCAL")
        key = (11).to_bytes(4, "big", signed=True)
        await engine.log.append(engine.catalog.source("O").topic, 0,
                                records([None, key], [b'{"ID":1}', b'{"ID":2}'], [1, 2]))
        assert await take(spq, 1) == [[11, 2]]
        assert await take(plain, 2) == [[None, 1], [11, 2]]
        await engine.close()
    run(go())
