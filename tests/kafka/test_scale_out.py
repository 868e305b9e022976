"""Scale-out on Kafka: servers sharing a service id split each persistent query's partitions
through its consumer group (stage: runtime over the Kafka log).

Tansu needs a few seconds per group join or rebalance, so these tests wait for assignments
with generous deadlines; short session timeouts make failover take seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from .test_engine_kafka import ORDERS, insert_orders, kafka_engine, run, topic_values

FAST_GROUPS = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500",
               "cache.max.bytes.buffering": "0"}


async def eventually(check, timeout: float = 60.0, what: str = "condition"):
    """Poll the async or sync ``check`` until it returns a truthy value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def split_between(a, b) -> bool:
    """Every query of ``a`` and its twin on ``b`` own disjoint, non-empty partition sets."""
    for qa in a.queries:
        qb = b.queries_by_id.get(qa.id)
        if qb is None or not qa.owned or not qb.owned or qa.owned & qb.owned:
            return False
    return True


def orders(n: int, keys: int, start: int = 0):
    return [(f"k{i % keys}", f"c{i % 3}", i % 11, 1000 + i) for i in range(start, start + n)]


def expected_totals(rows):
    totals = {}
    for oid, _, qty, _ in rows:
        n, q = totals.get(oid, (0, 0))
        totals[oid] = (n + 1, q + qty)
    return totals


def latest_per_key(rows):
    latest = {}
    for k, v, _ in rows:
        latest[k] = v
    return latest


def test_two_servers_split_each_query_and_produce_what_one_would(fresh_broker):
    async def go():
        a = await kafka_engine(fresh_broker.bootstrap, "scale_", **FAST_GROUPS)
        await a.execute(ORDERS.format(p=4))
        await a.execute("CREATE TABLE customers (cid VARCHAR PRIMARY KEY, name VARCHAR) "
                        "WITH (kafka_topic='customers', value_format='JSON', partitions=4);")
        for i in range(3):
            await a.execute(f"INSERT INTO customers (cid, name) VALUES ('c{i}', 'n{i}');")
        await a.execute("CREATE TABLE per_id AS SELECT id, COUNT(*) AS n, SUM(qty) AS qty "
                        "FROM orders GROUP BY id;")
        await a.execute("CREATE STREAM big AS SELECT id, qty FROM orders WHERE qty > 5;")
        # grouped by a value column: cut at a repartition topic, then split like the others
        await a.execute("CREATE TABLE per_customer AS SELECT customer, COUNT(*) AS n "
                        "FROM orders GROUP BY customer;")
        # joined on the stream's value column: the stream side is cut at a repartition topic
        await a.execute("CREATE STREAM named AS SELECT o.customer AS customer, o.id AS id, "
                        "c.name AS name "
                        "FROM orders o JOIN customers c ON o.customer = c.cid;")
        await a.execute("CREATE STREAM shipments (sid VARCHAR KEY, customer VARCHAR, ts BIGINT) "
                        "WITH (kafka_topic='shipments', value_format='JSON', partitions=4, "
                        "timestamp='ts');")
        for i in range(3):
            await a.execute(f"INSERT INTO shipments (sid, customer, ts) VALUES "
                            f"('s{i}', 'c{i}', 1000);")
        # both sides joined on value columns: both cut
        await a.execute("CREATE STREAM shipped AS SELECT o.customer AS customer, o.id AS id, "
                        "s.sid AS sid FROM orders o JOIN shipments s WITHIN 1 HOUR "
                        "ON o.customer = s.customer;")
        # a table aggregation is not cut (a retraction may belong to another partition): it
        # runs whole on one server
        await a.execute("CREATE TABLE per_name AS SELECT name, COUNT(*) AS n FROM customers "
                        "GROUP BY name;")
        b = await kafka_engine(fresh_broker.bootstrap, "scale_", **FAST_GROUPS)
        assert sorted(b.queries_by_id) == sorted(a.queries_by_id)  # from the command topic
        cut = a.queries_by_id["CTAS_PER_CUSTOMER_2"]
        assert [w.topic for w in cut.writers.values()] == [
            "_confluent-ksql-scale_query_CTAS_PER_CUSTOMER_2-Aggregate-GroupBy-repartition"]
        assert [w.topic for w in a.queries_by_id["CSAS_NAMED_3"].writers.values()] == [
            "_confluent-ksql-scale_query_CSAS_NAMED_3-Join-repartition"]
        whole = [q.id for q in a.queries if not q.partition_local]
        assert sorted(w.topic for w in a.queries_by_id["CSAS_SHIPPED_4"].writers.values()) == [
            f"_confluent-ksql-scale_query_CSAS_SHIPPED_4-Join-{side}-repartition"
            for side in ("left", "right")]
        assert whole == ["CTAS_PER_NAME_5"]

        def spread():
            for qa in a.queries:
                qb = b.queries_by_id[qa.id]
                if qa.owned is None or qb.owned is None:
                    return False
                if qa.partition_local:
                    if not qa.owned or not qb.owned or qa.owned & qb.owned:
                        return False
                elif sorted([len(qa.owned), len(qb.owned)]) != [0, 4]:
                    return False
            return True

        await eventually(spread, 90, "both servers to own partitions")
        rows = orders(200, 20)
        await insert_orders(a, rows)
        totals = expected_totals(rows)

        async def done():
            latest = latest_per_key(await topic_values(a, "PER_ID"))
            return latest == {k: {"N": n, "QTY": q} for k, (n, q) in totals.items()}

        await eventually(done, 60, "PER_ID to hold the final counts")
        big = await eventually(lambda: _when_count(a, "BIG", sum(1 for r in rows if r[2] > 5)),
                               60, "BIG")
        customers = await eventually(
            lambda: _latest_when(a, "PER_CUSTOMER", {f"c{i}": {"N": sum(
                1 for r in rows if r[1] == f"c{i}")} for i in range(3)}), 60, "PER_CUSTOMER")
        named = await eventually(lambda: _when_count(a, "NAMED", len(rows)), 60, "NAMED")
        shipped = await eventually(lambda: _when_count(a, "SHIPPED", len(rows)), 60, "SHIPPED")
        work = [sum(q.stats.records_in for q in e.queries) for e in (a, b)]
        cut_work = [e.queries_by_id[q].stats.records_in for e in (a, b)
                    for q in (cut.id, "CSAS_NAMED_3", "CSAS_SHIPPED_4")]

        # a pull query is answered by either server
        answers = []
        for engine in (a, b):
            answers.append(await eventually(
                lambda engine=engine: _pull_row(engine, "k3"), 30, "pull query"))
        await b.close()
        await a.close()
        return big, customers, named, shipped, work, cut_work, answers, totals

    big, customers, named, shipped, work, cut_work, answers, totals = run(go(), timeout=300)
    # every record once: the same output one server would have written
    assert Counter(k for k, _, _ in big) == Counter(
        oid for oid, _, qty, _ in orders(200, 20) if qty > 5)
    assert sorted((v["NAME"], v["ID"]) for _, v, _ in named) == sorted(
        (f"n{cust[1]}", oid) for oid, cust, _, _ in orders(200, 20))
    assert sorted((v["SID"], v["ID"]) for _, v, _ in shipped) == sorted(
        (f"s{cust[1]}", oid) for oid, cust, _, _ in orders(200, 20))
    assert all(n > 0 for n in work), work  # both servers did part of the work
    assert all(n > 0 for n in cut_work), cut_work  # the cut aggregation too
    n, q = totals["k3"]
    assert answers == [[["k3", n, q]], [["k3", n, q]]]
    assert customers


async def _when_count(engine, topic, n):
    rows = await topic_values(engine, topic)
    return rows if len(rows) >= n else None


async def _latest_when(engine, topic, expected):
    latest = latest_per_key(await topic_values(engine, topic))
    return latest if latest == expected else None


async def _pull_row(engine, key):
    result = await engine.pull_query(f"SELECT id, n, qty FROM per_id WHERE id = '{key}';")
    return result.rows or None


# -- real server processes: one is killed with -9, the other takes over ----------------------

def _servers(tmp_path, bootstrap, n):
    from tests.server.conftest import ServerProcess

    env = {"KSQLPY_KSQL_SERVICE_ID": "kill_", "KSQLPY_SESSION_TIMEOUT_MS": "6000",
           "KSQLPY_HEARTBEAT_INTERVAL_MS": "500", "KSQLPY_AUTO_OFFSET_RESET": "earliest"}
    return [ServerProcess(tmp_path / f"s{i}", "--bootstrap-servers", bootstrap, env=env)
            for i in range(n)]


def _insert(server, rows):
    sql = " ".join(f"INSERT INTO orders (id, customer, qty, ts) VALUES "
                   f"('{oid}', '{cust}', {qty}, {ts});" for oid, cust, qty, ts in rows)
    status, body = server.ksql(sql)
    assert status == 200, body


def _metric(server, name: str) -> dict[str, int]:
    """A per-query metric of the server's /metrics, by query id."""
    _, _, body = server.request("GET", "/metrics")
    out = {}
    for line in body.decode().splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            out[labels.split('"')[1]] = int(float(value))
    return out


def _records_in(server) -> int:
    return sum(_metric(server, "ksqlpy_query_records_in_total").values())


def _wait_owned(check, timeout=90, what=lambda: None):
    """Wait until ``check()`` (on the servers' owned-partition gauges) holds."""
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"the consumer groups did not settle: {what()}"
        time.sleep(0.5)


def _pull(server, key):
    status, _, body = server.request("POST", "/query", {
        "ksql": f"SELECT id, n, qty FROM per_id WHERE id = '{key}';"})
    assert status == 200, body
    return [e["row"]["columns"] for e in json.loads(body) if "row" in e]


async def _read_outputs(bootstrap):
    from types import SimpleNamespace

    from ksqlpy.log.kafka import KafkaConfig, KafkaLog

    log = KafkaLog(KafkaConfig(bootstrap_servers=bootstrap))
    try:
        reader = SimpleNamespace(log=log)
        return (latest_per_key(await topic_values(reader, "PER_ID")),
                await topic_values(reader, "BIG"),
                latest_per_key(await topic_values(reader, "PER_CUSTOMER")))
    finally:
        await log.close()


def _wait_output(bootstrap, rows, timeout=90):
    """Wait until PER_ID and PER_CUSTOMER hold the totals of ``rows`` and BIG one record per
    row; BIG."""
    import time

    totals = {k: {"N": n, "QTY": q} for k, (n, q) in expected_totals(rows).items()}
    per_customer = dict(Counter(cust for _, cust, _, _ in rows))
    per_customer = {k: {"N": n} for k, n in per_customer.items()}
    deadline = time.monotonic() + timeout
    while True:
        per_id, big, customers = asyncio.run(_read_outputs(bootstrap))
        if per_id == totals and len(big) >= len(rows) and customers == per_customer:
            return big
        if time.monotonic() > deadline:
            raise TimeoutError(f"output incomplete: {per_id} vs {totals}; {len(big)} rows; "
                               f"{customers} vs {per_customer}")
        time.sleep(0.5)


def test_a_server_killed_with_9_is_taken_over_with_no_lost_record(fresh_broker, tmp_path):
    import time

    first, second = _servers(tmp_path, fresh_broker.bootstrap, 2)
    for d in (tmp_path / "s0", tmp_path / "s1"):
        d.mkdir()
    first.start(60)
    try:
        status, body = first.ksql(ORDERS.format(p=4) + (
            " CREATE TABLE per_id AS SELECT id, COUNT(*) AS n, SUM(qty) AS qty FROM orders "
            "GROUP BY id; CREATE STREAM big AS SELECT id, qty FROM orders; "
            "CREATE TABLE per_customer AS SELECT customer, COUNT(*) AS n FROM orders "
            "GROUP BY customer;"))
        assert status == 200, body
        second.start(60)
        owned = "ksqlpy_query_partitions_owned"
        # Records sent while a group rebalances may be processed twice (at least once: a
        # commit the rebalance refuses is redone by the new owner), so the exact counts
        # below need the groups settled: every query split between the two servers.
        # input partitions: orders' 4, and 4 of the GROUP BY customer's repartition topic
        total = {"CTAS_PER_ID_0": 4, "CSAS_BIG_1": 4, "CTAS_PER_CUSTOMER_2": 8}

        def split():
            a, b = _metric(first, owned), _metric(second, owned)
            return all(a.get(q, 0) > 0 and b.get(q, 0) > 0 and a[q] + b[q] == n
                       for q, n in total.items())

        _wait_owned(split)
        sent = orders(120, 12)
        _insert(first, sent)
        _wait_output(fresh_broker.bootstrap, sent)
        assert _records_in(first) > 0 and _records_in(second) > 0  # the work was split
        n, q = expected_totals(sent)["k3"]
        assert _pull(first, "k3") == _pull(second, "k3") == [["k3", n, q]]

        second.proc.kill()  # kill -9: no leave-group, the broker notices at session timeout
        second.proc.wait()
        # the first server takes everything over
        _wait_owned(lambda: _metric(first, owned) == total, what=lambda: (
            _metric(first, owned), total))
        wave2 = orders(120, 12, start=len(sent))
        _insert(first, wave2)
        sent += wave2
        big = _wait_output(fresh_broker.bootstrap, sent)
        # no record lost; nothing was in flight at the kill or a rebalance, so none repeated
        assert Counter(k for k, _, _ in big) == Counter(oid for oid, *_ in sent)
        n, q = expected_totals(sent)["k3"]
        assert _pull(first, "k3") == [["k3", n, q]]
    finally:
        if second.proc is not None and second.proc.poll() is None:
            second.stop()
        first.stop()
