"""Aggregations end to end: per-record and cached emission, windows, table retraction."""

import pytest

from ksqlpy.errors import AnalysisError
from tests.engine.conftest import memory_engine, run, topic_values

ORDERS = ("CREATE STREAM orders (id VARCHAR KEY, customer VARCHAR, qty INT, ts BIGINT) "
          "WITH (kafka_topic='orders', value_format='JSON', partitions=1, timestamp='ts');")


async def _orders(engine, rows):
    for oid, cust, qty, ts in rows:
        await engine.execute(f"INSERT INTO orders (id, customer, qty, ts) VALUES "
                             f"('{oid}', '{cust}', {qty}, {ts});")


def _values(rows):
    return [(k.decode() if k else k, v) for k, v, _ in rows]


def test_count_and_sum_emit_every_update_without_cache():
    async def go():
        engine = await memory_engine(**{"cache.max.bytes.buffering": "0"})
        await engine.execute(ORDERS)
        await _orders(engine, [("o1", "a", 2, 1), ("o2", "b", 3, 2), ("o3", "a", 5, 3)])
        await engine.execute("CREATE TABLE totals AS SELECT customer, COUNT(*) AS n, "
                             "SUM(qty) AS qty FROM orders GROUP BY customer;")
        await engine.run_until_idle()
        rows = await topic_values(engine, "TOTALS")
        schema = str(engine.catalog.source("TOTALS").schema)
        await engine.close()
        return rows, schema

    rows, schema = run(go())
    assert schema == "`CUSTOMER` STRING KEY, `N` BIGINT, `QTY` INTEGER"
    assert _values(rows) == [("a", {"N": 1, "QTY": 2}), ("b", {"N": 1, "QTY": 3}),
                             ("a", {"N": 2, "QTY": 7})]
    assert [ts for _, _, ts in rows] == [1, 2, 3]


def test_cached_emission_gives_one_update_per_key_per_batch():
    async def go():
        engine = await memory_engine()  # production default cache
        await engine.execute(ORDERS)
        await _orders(engine, [("o1", "a", 2, 1), ("o2", "b", 3, 2), ("o3", "a", 5, 3)])
        await engine.execute("CREATE TABLE totals AS SELECT customer, COUNT(*) AS n "
                             "FROM orders GROUP BY customer;")
        await engine.run_until_idle()
        rows = await topic_values(engine, "TOTALS")
        await engine.close()
        return rows

    assert _values(run(go())) == [("a", {"N": 2}), ("b", {"N": 1})]


def test_tumbling_window_keys_and_late_records():
    async def go():
        from ksqlpy.formats import decode_windowed_key

        engine = await memory_engine(**{"cache.max.bytes.buffering": "0"})
        await engine.execute(ORDERS)
        await _orders(engine, [("o1", "a", 1, 1000), ("o2", "a", 1, 59_000),
                               ("o3", "a", 1, 61_000), ("o4", "a", 1, 200_000),
                               ("o5", "a", 1, 2_000)])  # late: window 0 closed (grace 10s)
        await engine.execute("CREATE TABLE per_min AS SELECT customer, COUNT(*) AS n "
                             "FROM orders WINDOW TUMBLING (SIZE 1 MINUTE, GRACE PERIOD 10 "
                             "SECONDS) GROUP BY customer;")
        await engine.run_until_idle()
        batch = await engine.log.read("PER_MIN", 0, 0, 100)
        src = engine.catalog.source("PER_MIN")
        inner, start, _ = decode_windowed_key(batch.column("key"), False)
        await engine.close()
        return inner.to_pylist(), start.to_pylist(), batch.column("value").to_pylist(), src

    keys, starts, values, src = run(go())
    assert keys == [b"a"] * 4
    assert starts == [0, 0, 60_000, 180_000]
    assert values == [b'{"N":1}', b'{"N":2}', b'{"N":1}', b'{"N":1}']
    assert (src.window.type, src.window.size_ms) == ("TUMBLING", 60_000)


def test_table_aggregation_retracts_the_previous_row():
    async def go():
        engine = await memory_engine(**{"cache.max.bytes.buffering": "0"})
        await engine.execute("CREATE TABLE users (id VARCHAR PRIMARY KEY, region VARCHAR) "
                             "WITH (kafka_topic='users', value_format='JSON', partitions=1);")
        await engine.execute("CREATE TABLE per_region AS SELECT region, COUNT(*) AS n "
                             "FROM users GROUP BY region;")
        for uid, region in [("u1", "eu"), ("u2", "eu"), ("u1", "us")]:
            await engine.execute(f"INSERT INTO users (id, region) VALUES ('{uid}', '{region}');")
        await engine.run_until_idle()
        rows = await topic_values(engine, "PER_REGION")
        await engine.close()
        return rows

    assert _values(run(go())) == [("eu", {"N": 1}), ("eu", {"N": 2}), ("eu", {"N": 1}),
                                  ("us", {"N": 1})]


@pytest.mark.parametrize("sql, message", [
    ("CREATE TABLE t AS SELECT customer, qty, COUNT(*) FROM orders GROUP BY customer;",
     "Non-aggregate SELECT expression(s) not part of GROUP BY: QTY"),
    ("CREATE TABLE t AS SELECT COUNT(*) AS n FROM orders GROUP BY customer;",
     "must include the grouping expression CUSTOMER in its projection"),
    ("CREATE TABLE t AS SELECT customer, COUNT(*) FROM orders GROUP BY SUM(qty);",
     "GROUP BY does not support aggregate functions: SUM is an aggregate function."),
])
def test_aggregation_errors(sql, message):
    async def go():
        engine = await memory_engine()
        await engine.execute(ORDERS)
        try:
            with pytest.raises(AnalysisError) as info:
                await engine.execute(sql)
        finally:
            await engine.close()
        return info.value.message

    assert message in run(go())


def test_having_state_survives_a_restart(tmp_path):
    """A key that matched HAVING before a restart still gets its tombstone after it."""
    from ksqlpy.runtime.engine import Engine, EngineConfig

    async def session(statements):
        engine = Engine(EngineConfig(data_dir=str(tmp_path),
                                     properties={"auto.offset.reset": "earliest",
                                                 "cache.max.bytes.buffering": "0"}))
        await engine.start()
        for sql in statements:
            await engine.execute(sql)
        await engine.run_until_idle()
        rows = await topic_values(engine, "BIG")
        await engine.close()
        return rows

    first = run(session([
        ORDERS,
        "CREATE TABLE big AS SELECT customer, SUM(qty) AS total FROM orders "
        "GROUP BY customer HAVING SUM(qty) > 5;",
        "INSERT INTO orders (id, customer, qty, ts) VALUES ('o1', 'a', 9, 1);"]))
    assert _values(first) == [("a", {"TOTAL": 9})]
    second = run(session([
        "INSERT INTO orders (id, customer, qty, ts) VALUES ('o2', 'a', -7, 2);"]))
    assert _values(second) == [("a", {"TOTAL": 9}), ("a", None)]
