"""Engine scenarios on the Kafka backend against a real broker (stage: runtime over the log).

The same statements as the embedded-log tests — create stream, CSAS, GROUP BY, stream-table
join, push query, restart — through ``Engine.execute`` with ``EngineConfig(log="kafka")``.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from ksqlpy.log.base import read_to_end
from ksqlpy.runtime.engine import Engine, EngineConfig

ORDERS = ("CREATE STREAM orders (id VARCHAR KEY, customer VARCHAR, qty INT, ts BIGINT) "
          "WITH (kafka_topic='orders', value_format='JSON', partitions={p}, timestamp='ts');")


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def kafka_engine(bootstrap: str, service_id: str = "svc_", **props) -> Engine:
    engine = Engine(EngineConfig(log="kafka", bootstrap_servers=bootstrap,
                                 properties={"auto.offset.reset": "earliest",
                                             "ksql.service.id": service_id, **props}))
    await engine.start()
    return engine


async def topic_values(engine, topic: str) -> list:
    out = []
    info = engine.log.topic(topic)
    for p in range(info.partitions):
        async for batch in read_to_end(engine.log, topic, p):
            for k, v, ts in zip(batch.column("key").to_pylist(),
                                batch.column("value").to_pylist(),
                                batch.column("timestamp").to_pylist()):
                out.append((k.decode() if k else k, None if v is None else json.loads(v), ts))
    return out


async def insert_orders(engine, rows):
    for oid, cust, qty, ts in rows:
        await engine.execute(f"INSERT INTO orders (id, customer, qty, ts) VALUES "
                             f"('{oid}', '{cust}', {qty}, {ts});")


def test_stateless_csas(fresh_broker):
    async def go():
        engine = await kafka_engine(fresh_broker.bootstrap)
        await engine.execute(ORDERS.format(p=2))
        await insert_orders(engine, [("o1", "a", 12, 1), ("o2", "b", 3, 2)])
        [res] = await engine.execute("CREATE STREAM big AS SELECT id, customer, qty * 2 AS q2 "
                                     "FROM orders WHERE qty > 10;")
        assert res.query_id == "CSAS_BIG_0"
        await engine.run_until_idle(20)
        await insert_orders(engine, [("o3", "c", 20, 3)])
        await engine.run_until_idle(20)
        rows = await topic_values(engine, "BIG")
        await engine.close()
        return rows

    rows = run(go())
    assert sorted((k, v, ts) for k, v, ts in rows) == [
        ("o1", {"CUSTOMER": "a", "Q2": 24}, 1), ("o3", {"CUSTOMER": "c", "Q2": 40}, 3)]


def test_group_by_aggregate(fresh_broker):
    async def go():
        engine = await kafka_engine(fresh_broker.bootstrap,
                                    **{"cache.max.bytes.buffering": "0"})
        await engine.execute(ORDERS.format(p=1))
        await insert_orders(engine, [("o1", "a", 2, 1), ("o2", "b", 3, 2), ("o3", "a", 5, 3)])
        await engine.execute("CREATE TABLE totals AS SELECT customer, COUNT(*) AS n, "
                             "SUM(qty) AS qty FROM orders GROUP BY customer;")
        await engine.run_until_idle(20)
        rows = await topic_values(engine, "TOTALS")
        await engine.close()
        return rows

    rows = run(go())
    assert [(k, v) for k, v, _ in rows] == [("a", {"N": 1, "QTY": 2}), ("b", {"N": 1, "QTY": 3}),
                                            ("a", {"N": 2, "QTY": 7})]


def test_stream_table_join(fresh_broker):
    async def go():
        engine = await kafka_engine(fresh_broker.bootstrap)
        await engine.execute(ORDERS.format(p=1))
        await engine.execute("CREATE TABLE customers (id VARCHAR PRIMARY KEY, name VARCHAR) "
                             "WITH (kafka_topic='customers', value_format='JSON', "
                             "partitions=1);")
        await engine.execute("INSERT INTO customers (id, name) VALUES ('a', 'Alice');")
        await engine.execute("INSERT INTO customers (id, name) VALUES ('b', 'Bob');")
        await engine.execute("CREATE STREAM enriched AS SELECT o.customer AS customer, "
                             "o.id AS id, c.name AS name, o.qty AS qty FROM orders o "
                             "JOIN customers c ON o.customer = c.id;")
        await engine.run_until_idle(20)
        await insert_orders(engine, [("o1", "a", 2, 10), ("o2", "b", 3, 20), ("o3", "x", 1, 30)])
        await engine.run_until_idle(20)
        rows = await topic_values(engine, "ENRICHED")
        await engine.close()
        return rows

    rows = run(go())
    assert sorted((k, v["ID"], v["NAME"], v["QTY"]) for k, v, _ in rows) == [
        ("a", "o1", "Alice", 2), ("b", "o2", "Bob", 3)]


def test_push_query_streams_new_rows(fresh_broker):
    async def go():
        engine = await kafka_engine(fresh_broker.bootstrap)
        await engine.execute(ORDERS.format(p=1))
        query = await engine.push_query("SELECT id, qty FROM orders WHERE qty > 1 EMIT CHANGES "
                                        "LIMIT 2;", {"auto.offset.reset": "latest"})
        await asyncio.sleep(0.2)
        await insert_orders(engine, [("o1", "a", 5, 1), ("o2", "a", 1, 2), ("o3", "a", 7, 3)])
        rows = [r async for r in query.rows()]
        await engine.close()
        return rows

    assert run(go()) == [["o1", 5], ["o3", 7]]


def test_command_topic_replayed_by_a_new_server(fresh_broker):
    """Servers with one service id share the catalog through the command topic; a server that
    starts later replays it and resumes the queries from their committed offsets."""
    async def go():
        first = await kafka_engine(fresh_broker.bootstrap, "shared_")
        await first.execute(ORDERS.format(p=1))
        await insert_orders(first, [("o1", "a", 12, 1)])
        await first.execute("CREATE STREAM big AS SELECT id, qty FROM orders WHERE qty > 10;")
        await first.run_until_idle(20)
        assert first.log.topic("_confluent-ksql-shared__command_topic") is not None
        await first.close()

        second = await kafka_engine(fresh_broker.bootstrap, "shared_")
        names = sorted(s.name for s in second.catalog.sources())
        ids = sorted(second.queries_by_id)
        await insert_orders(second, [("o2", "b", 30, 2)])
        await second.run_until_idle(20)
        rows = await topic_values(second, "BIG")
        other = await kafka_engine(fresh_broker.bootstrap, "other_")  # another cluster
        other_names = [s.name for s in other.catalog.sources()]
        await other.close()
        await second.close()
        return names, ids, rows, other_names

    names, ids, rows, other_names = run(go())
    assert "ORDERS" in names and "BIG" in names
    assert ids == ["CSAS_BIG_0"]
    # o1 was processed once by the first server; the second continued from its offsets.
    assert [(k, v) for k, v, _ in rows] == [("o1", {"QTY": 12}), ("o2", {"QTY": 30})]
    assert "ORDERS" not in other_names


def test_exactly_once_uses_transactions(broker):
    if not getattr(broker, "transactions", False):
        pytest.skip("the test broker (Tansu) has no transactions: exactly_once_v2 falls back "
                    "to at_least_once")

    async def go():
        from ksqlpy.log.kafka import KafkaConfig, KafkaLog
        from ksqlpy.log import records

        log = KafkaLog(KafkaConfig(bootstrap_servers=broker.bootstrap,
                                   processing_guarantee="exactly_once_v2"))
        await log.start()
        try:
            assert log.exactly_once
            name = f"eos_{id(log)}"
            await log.create_topic(name, 1)
            txn = log.transaction()
            txn.append(name, 0, records([b"k"], [b"v"], [1]))
            txn.commit_offsets("g_eos", {(name, 0): 1})
            await txn.commit()
            got = await log.read(name, 0, 0)
            return got.column("value").to_pylist(), log.committed("g_eos", name, 0)
        finally:
            await log.close()

    assert run(go()) == ([b"v"], 1)


def test_exactly_once_falls_back_without_broker_transactions(fresh_broker):
    async def go():
        from ksqlpy.log.kafka import KafkaConfig, KafkaLog

        log = KafkaLog(KafkaConfig(bootstrap_servers=fresh_broker.bootstrap,
                                   processing_guarantee="exactly_once_v2"))
        await log.start()
        try:
            return log.exactly_once
        finally:
            await log.close()

    assert run(go()) is False
