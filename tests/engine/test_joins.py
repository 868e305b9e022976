"""Joins end to end through Engine.execute on the in-memory log: keys, foreign keys, PARTITION
BY over a join, and ksqlDB's validation messages."""

import json

import pytest

from ksqlpy.errors import KsqlError
from tests.engine.conftest import memory_engine, run, topic_values

LEFT = ("CREATE STREAM l (id INT KEY, name STRING, v INT) "
        "WITH (kafka_topic='l', value_format='JSON', partitions=1);")
RIGHT = ("CREATE STREAM r (id INT KEY, f STRING, w INT) "
         "WITH (kafka_topic='r', value_format='JSON', partitions=1);")
TABLE = ("CREATE TABLE t (id INT PRIMARY KEY, f STRING, w INT) "
         "WITH (kafka_topic='t', value_format='JSON', partitions=1);")


async def _engine(*ddl):
    engine = await memory_engine()
    for statement in ddl:
        await engine.execute(statement)
    return engine


def _rows(rows):
    """(key, value): KAFKA-format INT keys as ints, JSON keys decoded, others as text."""
    def key(k):
        if k is None:
            return None
        if len(k) == 4:
            return int.from_bytes(k, "big", signed=True)
        try:
            return json.loads(k)
        except ValueError:
            return k.decode()

    return [(key(k), v) for k, v, _ in rows]


async def _one_row_each_side(csas: str):
    """Run ``csas`` over L and R with one joining row on each side: (sink schema, rows)."""
    engine = await _engine(LEFT, RIGHT)
    await engine.execute(csas)
    await engine.execute("INSERT INTO l (id, name, v) VALUES (1, 'a', 10);")
    await engine.execute("INSERT INTO r (id, f, w) VALUES (1, 'x', 20);")
    await engine.run_until_idle()
    schema = str(engine.catalog.source("OUT").schema)
    rows = await topic_values(engine, "OUT")
    await engine.close()
    return schema, rows


def test_key_is_the_first_viable_join_column_in_the_projection():
    """ON l.id = r.id makes R.ID (the FROM source's side) and L.ID viable keys; with both
    projected, ksqlDB keys the result by the first one and L.ID stays a value column."""
    schema, rows = run(_one_row_each_side(
        "CREATE STREAM out AS SELECT r.*, l.id, l.name FROM r JOIN l "
        "WITHIN 10 SECONDS ON l.id = r.id;"))
    assert schema.startswith("`R_ID` INTEGER KEY")
    assert "`L_ID` INTEGER" in schema
    assert _rows(rows) == [(1, {"R_F": "x", "R_W": 20, "L_ID": 1, "NAME": "a"})]


def test_partition_by_over_a_join_rekeys_the_joined_rows():
    schema, rows = run(_one_row_each_side(
        "CREATE STREAM out AS SELECT l.name, l.v, r.f FROM l JOIN r "
        "WITHIN 10 SECONDS ON l.id = r.id PARTITION BY l.name;"))
    assert schema == "`NAME` STRING KEY, `V` INTEGER, `F` STRING"
    assert _rows(rows) == [("a", {"V": 10, "F": "x"})]


def test_partition_by_over_a_join_needs_the_key_in_the_projection():
    async def go():
        engine = await _engine(LEFT, RIGHT)
        try:
            with pytest.raises(KsqlError) as info:
                await engine.execute("CREATE STREAM out AS SELECT l.v, r.f FROM l JOIN r "
                                     "WITHIN 10 SECONDS ON l.id = r.id PARTITION BY l.name;")
        finally:
            await engine.close()
        return info.value.message

    assert "must include the key column L_NAME in its projection" in run(go())


FK_LEFT = ("CREATE TABLE orders (region STRING PRIMARY KEY, oid INT PRIMARY KEY, "
           "cust INT, qty INT) WITH (kafka_topic='orders', format='JSON', partitions=1);")
FK_RIGHT = ("CREATE TABLE customers (cid INT PRIMARY KEY, cname STRING) "
            "WITH (kafka_topic='customers', format='JSON', partitions=1);")


def test_foreign_key_join_is_keyed_by_every_left_primary_key_column():
    async def go():
        engine = await _engine(FK_LEFT, FK_RIGHT)
        await engine.execute("CREATE TABLE out AS SELECT region, oid, qty, cname FROM orders "
                             "JOIN customers ON cust = cid;")
        await engine.execute("INSERT INTO customers (cid, cname) VALUES (7, 'ann');")
        await engine.execute("INSERT INTO orders (region, oid, cust, qty) "
                             "VALUES ('eu', 1, 7, 3);")
        await engine.run_until_idle()
        # deleting the customer removes the joined row: the tombstone keeps the full key
        from ksqlpy.log.base import records

        await engine.log.append("customers", 0, records([b"7"], [None], [5]))
        await engine.run_until_idle()
        rows = await topic_values(engine, "OUT")
        await engine.close()
        return rows

    rows = run(go())
    assert [(json.loads(k), v) for k, v, _ in rows] == [
        ({"REGION": "eu", "OID": 1}, {"QTY": 3, "CNAME": "ann"}),
        ({"REGION": "eu", "OID": 1}, None),
    ]


def test_a_deleted_left_row_reaches_the_next_join_of_an_n_way_join():
    async def go():
        engine = await _engine(
            "CREATE TABLE a (id INT PRIMARY KEY, fk INT) WITH (kafka_topic='a', format='JSON', "
            "partitions=1);",
            "CREATE TABLE b (bid INT PRIMARY KEY, x INT) WITH (kafka_topic='b', format='JSON', "
            "partitions=1);",
            "CREATE TABLE c (cid INT PRIMARY KEY, y INT) WITH (kafka_topic='c', format='JSON', "
            "partitions=1);")
        await engine.execute("CREATE TABLE out AS SELECT id, x, y FROM a JOIN b ON fk = bid "
                             "LEFT JOIN c ON id = cid;")
        await engine.execute("INSERT INTO b (bid, x) VALUES (5, 50);")
        await engine.execute("INSERT INTO a (id, fk) VALUES (1, 5);")
        await engine.run_until_idle()
        from ksqlpy.log.base import records

        await engine.log.append("a", 0, records([b"1"], [None], [9]))
        await engine.run_until_idle()
        rows = await topic_values(engine, "OUT")
        await engine.close()
        return rows

    assert _rows(run(go())) == [(1, {"X": 50, "Y": None}), (1, None)]


@pytest.mark.parametrize("ddl, sql, message", [
    ((LEFT, TABLE),
     "CREATE STREAM o AS SELECT * FROM l JOIN t ON nope.id = t.id;",
     "Failed to prepare statement: 'NOPE' is not a valid stream/table name or alias."),
    ((LEFT, TABLE),
     "CREATE STREAM o AS SELECT l.id, f FROM l JOIN t ON id = t.id;",
     "Exception while preparing statement: Line: 1, Col: 52: Column 'ID' is ambiguous. "
     "Could be L.ID or T.ID."),
    ((LEFT, TABLE),
     "CREATE STREAM o AS SELECT * FROM l JOIN t ON l.id = t.nope;",
     "Line: 1, Col: 53: JOIN ON column 'T.NOPE' cannot be resolved."),
    ((LEFT, TABLE, "CREATE TABLE t2 (id INT PRIMARY KEY, g INT) WITH (kafka_topic='t', "
                   "value_format='JSON');"),
     "CREATE STREAM o AS SELECT * FROM l JOIN t ON l.id = t.id JOIN t2 ON l.id = t.id;",
     "A join criteria is expected to reference the source (`T2`) in the FROM clause, instead "
     "the right source references `T` and the left source references `L`"),
    ((LEFT, TABLE),
     "CREATE STREAM o AS SELECT * FROM l JOIN t ON l.v = l.v;",
     "Each side of the join must reference exactly one source and not the same source. "
     "Left side references `L` and right references `L`"),
    ((LEFT, TABLE),
     "CREATE STREAM o AS SELECT * FROM l JOIN t ON l.name = t.id;",
     "Invalid join condition: types don't match. Got L.NAME{STRING} = T.ID{INTEGER}."),
    ((LEFT, TABLE),
     "CREATE STREAM o AS SELECT * FROM l JOIN t ON t.w = l.id;",
     "Invalid join condition: stream-table joins require to join on the table's primary key. "
     "Got T.W = L.ID."),
    (("CREATE STREAM k1 (id INT KEY, v STRING) WITH (kafka_topic='k1', value_format='KAFKA', "
      "partitions=1);",
      "CREATE STREAM k2 (id INT KEY, v STRING) WITH (kafka_topic='k2', value_format='KAFKA', "
      "partitions=1);"),
     "CREATE STREAM o AS SELECT * FROM k1 JOIN k2 WITHIN 1 SECOND ON k1.id = k2.id;",
     "Source(s) K1, K2 are using the 'KAFKA' value format. This format does not yet support "
     "JOIN."),
    ((LEFT, "CREATE TABLE t4 (id INT PRIMARY KEY, f STRING) WITH (kafka_topic='t4', "
            "value_format='JSON', partitions=4);"),
     "CREATE STREAM o AS SELECT * FROM l JOIN t4 ON l.id = t4.id;",
     "Can't join `L` with `T4` since the number of partitions don't match. `L` partitions = 1; "
     "`T4` partitions = 4. Please repartition either one so that the number of partitions "
     "match."),
    ((LEFT, RIGHT),
     "CREATE STREAM o AS SELECT l.id, l.id AS k2, r.f FROM l JOIN r WITHIN 1 SECOND "
     "ON l.id = r.id;",
     "The projection contains a key column (`L_ID`) more than once, aliased as: K2 and L_ID."),
    ((FK_LEFT, FK_RIGHT),
     "CREATE TABLE o AS SELECT oid, cname FROM orders JOIN customers ON cust = cid;",
     "Primary key columns missing in projection. For foreign-key table-table joins, the "
     "projection must include all primary key columns from the left input table (`ORDERS`). "
     "Missing columns: `REGION`."),
])
def test_join_errors_use_ksqldb_messages(ddl, sql, message):
    async def go():
        engine = await _engine(*ddl)
        try:
            with pytest.raises(KsqlError) as info:
                await engine.execute(sql)
        finally:
            await engine.close()
        return info.value.message

    assert message in run(go())


def test_windowed_streams_join_on_key_and_window_start():
    """Rows of windowed sources join when key and window match; the result keeps the left
    source's window."""
    async def go():
        engine = await _engine(
            "CREATE STREAM w1 (id INT KEY, v INT) WITH (kafka_topic='w1', format='JSON', "
            "partitions=1, window_type='TUMBLING', window_size='5 SECONDS');",
            "CREATE STREAM w2 (id INT KEY, u INT) WITH (kafka_topic='w2', format='JSON', "
            "partitions=1, window_type='TUMBLING', window_size='5 SECONDS');")
        await engine.execute("CREATE STREAM out AS SELECT w1.id, v, u FROM w1 JOIN w2 "
                             "WITHIN 1 MINUTE ON w1.id = w2.id;")
        from ksqlpy.log.base import records

        def windowed(key, start):  # TimeWindowed key: inner bytes + 8-byte window start
            return key + start.to_bytes(8, "big")

        await engine.log.append("w1", 0, records(
            [windowed(b"1", 0), windowed(b"1", 5000)], [b'{"V": 1}', b'{"V": 2}'], [0, 5000]))
        await engine.log.append("w2", 0, records([windowed(b"1", 5000)], [b'{"U": 3}'],
                                                 [5001]))
        await engine.run_until_idle()
        rows = await topic_values(engine, "OUT")
        await engine.close()
        return rows

    assert [(k, v) for k, v, _ in run(go())] == [
        (b"1" + (5000).to_bytes(8, "big"), {"V": 2, "U": 3})]


# -- join state in changelogs ------------------------------------------------------------------

def _join_state(join) -> tuple:
    """A copy of everything a join operator remembers, comparable with ==."""
    import copy

    kind = type(join).__name__
    if kind == "StreamStreamJoin":
        state = (join.stores, join.pending, join.store_time, join.stream_time, join.seq)
    elif kind == "StreamTableJoin":
        state = ({k: join.table.get(k) for k in join.table.index},)
    elif kind == "TableTableJoin":
        state = (join.rows, join.times)
    else:
        state = (join.left, join.right, {k: v for k, v in join.by_fk.items() if v})
    return copy.deepcopy(state)


def _joins(query) -> list:
    found = []
    for _, _, ops in query.routes:
        for op in ops:
            if hasattr(op, "join") and op.join not in found:
                found.append(op.join)
    return found


STREAM2 = ("CREATE STREAM r2 (id INT KEY, g STRING) "
           "WITH (kafka_topic='r2', value_format='JSON', partitions=1);")
TABLE2 = ("CREATE TABLE t2 (id INT PRIMARY KEY, g STRING) "
          "WITH (kafka_topic='t2', value_format='JSON', partitions=1);")


@pytest.mark.parametrize("ddl, sql, stores", [
    ((LEFT, RIGHT, STREAM2, TABLE),
     "CREATE STREAM out AS SELECT l.id, l.name, r.f, r2.g, t.w FROM l "
     "LEFT JOIN r WITHIN 10 SECONDS GRACE PERIOD 1 SECOND ON l.id = r.id "
     "FULL OUTER JOIN r2 WITHIN 5 SECONDS GRACE PERIOD 1 SECOND ON l.id = r2.id "
     "LEFT JOIN t ON l.id = t.id;",
     ["KSTREAM-JOIN-R-store", "KSTREAM-JOIN-R2-store", "KafkaTopic_T-Reduce"]),
    ((TABLE, TABLE2, FK_LEFT, FK_RIGHT),
     "CREATE TABLE out AS SELECT t.id, t.f, t2.g FROM t JOIN t2 ON t.id = t2.id;",
     ["KTABLE-JOIN-T2-store"]),
    ((TABLE, TABLE2, FK_LEFT, FK_RIGHT),
     "CREATE TABLE out AS SELECT region, oid, qty, cname FROM orders "
     "LEFT JOIN customers ON cust = cid;",
     ["KTABLE-FK-JOIN-CUSTOMERS-store"]),
])
def test_each_join_has_its_own_store(ddl, sql, stores):
    """One store per join operator, named after the source it joins in (unique within the
    query), with ksqlDB's internal-topic naming for its changelog."""
    async def go():
        engine = await _engine(*ddl)
        await engine.execute(sql)
        q = engine.queries[0]
        names = [topic for _, topic in q.stores]
        await engine.close()
        return q.group, names

    group, names = run(go())
    assert names == [f"{group}-{s}-changelog" for s in stores]


@pytest.mark.parametrize("ddl, sql, inserts", [
    ((LEFT, RIGHT, STREAM2),
     "CREATE STREAM out AS SELECT ROWKEY AS id, l.name, r.f, r2.g FROM l "
     "LEFT JOIN r WITHIN 2 SECONDS GRACE PERIOD 1 SECOND ON l.id = r.id "
     "FULL OUTER JOIN r2 WITHIN 1 SECOND GRACE PERIOD 1 SECOND ON l.id = r2.id;",
     [("l", 1, '{"NAME": "a"}', 1000), ("r", 1, '{"F": "x"}', 1500),
      ("l", 2, '{"NAME": "b"}', 2000), ("r2", 3, '{"G": "q"}', 2500),
      ("l", 4, '{"NAME": "c"}', 9000), ("r", 5, '{"F": "y"}', 9100),
      ("r2", 4, '{"G": "z"}', 9200), ("l", 6, '{"NAME": "d"}', 9300)]),
    ((LEFT, TABLE),
     "CREATE STREAM out AS SELECT l.id, l.name, t.f FROM l LEFT JOIN t ON l.id = t.id;",
     [("t", 1, '{"F": "x"}', 1), ("t", 2, '{"F": "y"}', 2), ("t", 1, None, 3),
      ("t", 3, '{"F": "z"}', 4), ("l", 3, '{"NAME": "a"}', 5)]),
    ((TABLE, TABLE2),
     "CREATE TABLE out AS SELECT ROWKEY AS id, t.f, t2.g FROM t FULL OUTER JOIN t2 "
     "ON t.id = t2.id;",
     [("t", 1, '{"F": "x"}', 1), ("t2", 1, '{"G": "y"}', 2), ("t2", 2, '{"G": "w"}', 3),
      ("t", 3, '{"F": "z"}', 4), ("t", 3, None, 5)]),
    ((FK_LEFT, FK_RIGHT),
     "CREATE TABLE out AS SELECT region, oid, qty, cname FROM orders "
     "LEFT JOIN customers ON cust = cid;",
     [("customers", 7, '{"CNAME": "ann"}', 1), ("customers", 8, '{"CNAME": "bob"}', 2),
      ("orders", {"REGION": "eu", "OID": 1}, '{"CUST": 7, "QTY": 3}', 3),
      ("orders", {"REGION": "eu", "OID": 2}, '{"CUST": 8, "QTY": 4}', 4),
      ("orders", {"REGION": "eu", "OID": 2}, None, 5), ("customers", 8, None, 6)]),
])
def test_join_state_is_restored_from_its_changelog(ddl, sql, inserts):
    """After a restart (fresh operators, state restored from the changelogs only) every join
    holds exactly the state it had, outer rows awaiting their window's close included."""
    from ksqlpy.log.base import records

    def key(topic, k):  # the FK tables' keys are JSON, the others KAFKA
        if topic in ("orders", "customers"):
            return json.dumps(k).encode()
        return k.to_bytes(4, "big", signed=True)

    async def go():
        engine = await _engine(*ddl)
        await engine.execute(sql)
        for topic, k, v, ts in inserts:
            await engine.log.append(topic, 0, records(
                [key(topic, k)], [None if v is None else v.encode()], [ts]))
            await engine.run_until_idle()
        q = engine.queries[0]
        before = [_join_state(j) for j in _joins(q)]
        q._use_plan(q._replan())
        fresh = [_join_state(j) for j in _joins(q)]
        await q.restore()
        after = [_join_state(j) for j in _joins(q)]
        await engine.close()
        return before, fresh, after

    before, fresh, after = run(go())
    assert before != fresh  # the state is not trivially empty
    assert after == before


def test_stream_stream_join_state_restores_whatever_the_partition_order():
    """A batch of one partition closes (emits) and expires rows of another partition's keys,
    so those changes are in another changelog partition than the rows they remove; restoring
    partition by partition still gives the same state (nothing emitted twice, nothing
    expired kept)."""
    from ksqlpy.log.base import records

    async def go():
        engine = await _engine(
            "CREATE STREAM a (id INT KEY, x INT) WITH (kafka_topic='a', format='JSON', "
            "partitions=2);",
            "CREATE STREAM b (id INT KEY, y INT) WITH (kafka_topic='b', format='JSON', "
            "partitions=2);")
        await engine.execute("CREATE STREAM out AS SELECT a.id, x, y FROM a LEFT JOIN b "
                             "WITHIN 1 SECOND GRACE PERIOD 1 SECOND ON a.id = b.id;")
        n = 5000  # more keys than the join keeps before expiring old ones
        await engine.log.append("a", 1, records([str(i).encode() for i in range(n)],
                                                [b'{"X": 1}'] * n, list(range(n))))
        await engine.run_until_idle()
        await engine.log.append("b", 0, records([str(i).encode() for i in range(100)],
                                                [b'{"Y": 2}'] * 100,
                                                [100_000 + i for i in range(100)]))
        await engine.run_until_idle()
        q = engine.queries[0]
        join = _joins(q)[0]
        sizes = (len(join.stores[0]), len(join.pending))
        before = _join_state(join)
        q._use_plan(q._replan())
        await q.restore()
        after = _join_state(_joins(q)[0])
        changelog = engine.log.topic(q.stores[0][1])
        await engine.close()
        return sizes, changelog.partitions, before, after

    (kept, pending), partitions, before, after = run(go())
    assert partitions == 2
    assert kept < 5000 and pending == 0  # some keys expired, every unmatched row emitted
    assert after == before


def test_a_server_restores_the_join_state_of_the_partitions_it_owns():
    """Scale-out: a partition-local join's changelog has one partition per source partition,
    and a server restores only those of the source partitions it owns."""
    from ksqlpy.log.base import records

    async def go():
        engine = await _engine(
            "CREATE STREAM s (id INT KEY, x INT) WITH (kafka_topic='s', format='JSON', "
            "partitions=2);",
            "CREATE TABLE t (id INT PRIMARY KEY, f STRING) WITH (kafka_topic='t', "
            "format='JSON', partitions=2);")
        await engine.execute("CREATE STREAM out AS SELECT s.id, x, f FROM s JOIN t "
                             "ON s.id = t.id;")
        for p, ids in ((0, [0, 2, 4]), (1, [1, 3])):
            await engine.log.append("t", p, records([str(i).encode() for i in ids],
                                                    [b'{"F": "v"}'] * len(ids), [1] * len(ids)))
        await engine.run_until_idle()
        q = engine.queries[0]
        full = sorted(_join_state(_joins(q)[0])[0])
        q._use_plan(q._replan())
        q.owned = frozenset({("s", 0), ("t", 0)})
        await q.restore()
        owned = sorted(_join_state(_joins(q)[0])[0])
        await engine.close()
        return q.partition_local, full, owned

    local, full, owned = run(go())
    assert local
    assert full == [0, 1, 2, 3, 4]
    assert owned == [0, 2, 4]
