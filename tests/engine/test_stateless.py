"""End-to-end stateless queries through Engine.execute on the in-memory log."""

import asyncio

import pytest

from ksqlpy.errors import AnalysisError, KsqlError, NotSupportedError
from tests.engine.conftest import memory_engine, run, topic_values

ORDERS = ("CREATE STREAM orders (id VARCHAR KEY, customer VARCHAR, qty INT, price DOUBLE) "
          "WITH (kafka_topic='orders', value_format='JSON', partitions=1);")


async def _insert_orders(engine, rows):
    for oid, cust, qty, price in rows:
        await engine.execute(
            f"INSERT INTO orders (id, customer, qty, price) VALUES ('{oid}', '{cust}', {qty}, "
            f"{price});")


def test_filter_and_project_runs_continuously():
    async def go():
        engine = await memory_engine()
        await engine.execute(ORDERS)
        await _insert_orders(engine, [("o1", "a", 12, 2.5), ("o2", "b", 3, 1.0)])
        [res] = await engine.execute(
            "CREATE STREAM big AS SELECT id, customer, qty * price AS total FROM orders "
            "WHERE qty > 10;")
        assert res.query_id == "CSAS_BIG_0"
        await engine.run_until_idle()
        await _insert_orders(engine, [("o3", "c", 20, 0.5)])
        await engine.run_until_idle()
        rows = await topic_values(engine, "BIG")
        await engine.close()
        return rows

    rows = run(go())
    assert [(k, v) for k, v, _ in rows] == [
        (b"o1", {"CUSTOMER": "a", "TOTAL": 30.0}),
        (b"o3", {"CUSTOMER": "c", "TOTAL": 10.0}),
    ]


def test_partition_by_rekeys_and_moves_old_key_to_value():
    async def go():
        engine = await memory_engine()
        await engine.execute(ORDERS)
        await _insert_orders(engine, [("o1", "a", 12, 2.5)])
        await engine.execute("CREATE STREAM by_customer AS SELECT * FROM orders "
                             "PARTITION BY customer;")
        await engine.run_until_idle()
        src = engine.catalog.source("BY_CUSTOMER")
        rows = await topic_values(engine, "BY_CUSTOMER")
        await engine.close()
        return str(src.schema), rows

    schema, rows = run(go())
    assert schema == "`CUSTOMER` STRING KEY, `QTY` INTEGER, `PRICE` DOUBLE, `ID` STRING"
    assert [(k, v) for k, v, _ in rows] == [(b"a", {"QTY": 12, "PRICE": 2.5, "ID": "o1"})]


@pytest.mark.parametrize("sql, message", [
    ("CREATE STREAM s AS SELECT customer FROM orders;",
     "must include the key column ID in its projection"),
    ("CREATE STREAM s AS SELECT id, nope FROM orders;",
     "SELECT column 'NOPE' cannot be resolved."),
    ("CREATE STREAM s AS SELECT id, qty FROM orders WHERE bob > 1;",
     "WHERE column 'BOB' cannot be resolved."),
    ("CREATE STREAM s AS SELECT id, qty FROM missing;", "MISSING does not exist"),
    ("CREATE STREAM orders (id INT KEY) WITH (kafka_topic='orders', value_format='JSON');",
     "A stream with the same name already exists"),
    ("CREATE TABLE t (id INT KEY, v INT) WITH (kafka_topic='orders', value_format='JSON');",
     "please use 'PRIMARY KEY' for tables"),
    ("CREATE STREAM x (id INT KEY, v INT) WITH (kafka_topic='nope', value_format='JSON');",
     "Kafka topic does not exist: nope"),
])
def test_statement_errors_use_ksqldb_messages(sql, message):
    async def go():
        engine = await memory_engine()
        await engine.execute(ORDERS)
        try:
            with pytest.raises(KsqlError) as info:
                await engine.execute(sql)
        finally:
            await engine.close()
        return info.value

    err = run(go())
    assert message in err.message


def test_bad_record_is_skipped_logged_and_query_keeps_running():
    async def go():
        from ksqlpy.log.base import records

        engine = await memory_engine()
        await engine.execute(ORDERS)
        await engine.execute("CREATE STREAM out AS SELECT id, qty FROM orders;")
        await engine.log.append("orders", 0, records(
            [b"k1", b"k2", b"k3"], [b'{"qty": 1}', b"{not json", b'{"qty": 3}'], [1, 2, 3]))
        await engine.run_until_idle()
        rows = await topic_values(engine, "OUT")
        entries = list(engine.processing_log.entries)
        await engine.close()
        return rows, entries

    rows, entries = run(go())
    assert [(k, v) for k, v, _ in rows] == [(b"k1", {"QTY": 1}), (b"k3", {"QTY": 3})]
    assert len(entries) == 1
    assert entries[0]["message"]["offset"] == 1
    assert entries[0]["message"]["topic"] == "orders"


def test_push_query_with_limit_streams_new_rows():
    async def go():
        engine = await memory_engine()
        await engine.execute(ORDERS)
        query = await engine.push_query("SELECT id, qty FROM orders WHERE qty > 1 EMIT CHANGES "
                                        "LIMIT 2;", {"auto.offset.reset": "latest"})
        await asyncio.sleep(0.05)
        await _insert_orders(engine, [("o1", "a", 5, 1.0), ("o2", "a", 1, 1.0),
                                      ("o3", "a", 7, 1.0), ("o4", "a", 9, 1.0)])
        rows = [r async for r in query.rows()]
        await engine.close()
        return rows, query

    rows, query = run(go())
    assert rows == [["o1", 5], ["o3", 7]]
    assert query.done_reason == "Limit Reached"


def test_insert_into_select_and_unsupported_features():
    async def go():
        engine = await memory_engine()
        await engine.execute(ORDERS)
        await engine.execute("CREATE STREAM copy AS SELECT * FROM orders;")
        await engine.execute("INSERT INTO copy SELECT * FROM orders;")
        assert [q.id for q in engine.queries] == ["CSAS_COPY_0", "INSERTQUERY_1"]
        await _insert_orders(engine, [("o1", "a", 5, 1.0)])
        await engine.run_until_idle()
        rows = await topic_values(engine, "COPY")
        await engine.execute("CREATE TABLE customers (id VARCHAR PRIMARY KEY, name VARCHAR) "
                             "WITH (kafka_topic='customers', value_format='JSON', "
                             "partitions=1);")
        with pytest.raises(NotSupportedError):
            await engine.execute("CREATE STREAM j AS SELECT o.id, EXPLODE(ARRAY[1, 2]) AS x "
                                 "FROM orders o JOIN customers c ON o.customer = c.id;")
        await engine.close()
        return rows

    rows = run(go())
    assert len(rows) == 2 and rows[0][1] == rows[1][1]
