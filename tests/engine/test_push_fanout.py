"""Identical push queries share one pipeline (ksqlpy/runtime/push_fanout.py): per-client
start, LIMIT, close and bounded buffers. No timing assertions: waits are for conditions."""

import asyncio

from ksqlpy.plan.planner import plan_query
from ksqlpy.runtime import push_fanout
from ksqlpy.runtime.query import TransientQuery
from tests.engine.conftest import memory_engine, run

DDL = ("CREATE STREAM s (id INT KEY, v VARCHAR) WITH (kafka_topic='s', value_format='JSON', "
       "partitions=1);")
LATEST = {"auto.offset.reset": "latest"}  # push queries share only from the end
SQL = "SELECT id, v FROM s WHERE id > 0 EMIT CHANGES;"


async def until(cond, what: str, limit: float = 10.0):
    """Wait for ``cond()`` (a condition, not a timing check: the limit only stops a hang)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not cond():
        assert loop.time() < end, f"never happened: {what}"
        await asyncio.sleep(0.005)


async def insert(engine, *ids):
    for i in ids:
        await engine.execute(f"INSERT INTO s (id, v) VALUES ({i}, 'v{i}');")


async def take(q, n: int) -> list:
    out = []
    while len(out) < n:
        block = await asyncio.wait_for(q.queue.get(), 10)
        assert block is not None, f"ended after {out}"
        out.extend(r[0] for r in block.rows)
    return out


async def push(engine, sql=SQL):
    q = await engine.push_query(sql)
    await until(lambda: q.shared or q.task.done(), "query subscribed")
    return q


def test_identical_queries_share_one_pipeline_and_decode_once():
    async def go():
        engine = await memory_engine(**LATEST)
        await engine.execute(DDL)
        a, b = await push(engine), await push(engine)
        assert a.shared and b.shared and a._pipeline is b._pipeline
        other = await push(engine, "SELECT id FROM s EMIT CHANGES;")  # another plan
        assert other.shared and other._pipeline is not a._pipeline
        await insert(engine, 1, 2, -3, 4)
        assert await take(a, 3) == [1, 2, 4]
        assert await take(b, 3) == [1, 2, 4]
        assert a._pipeline.records_in == 4  # read and decoded once for both
        await engine.close()
        assert not push_fanout._PIPELINES

    run(go())


def test_limit_per_client_and_close_one_keeps_the_other():
    async def go():
        engine = await memory_engine(**LATEST)
        await engine.execute(DDL)
        a = await push(engine, SQL.replace(";", " LIMIT 2;"))
        b, c = await push(engine), await push(engine)
        assert a._pipeline is b._pipeline is c._pipeline  # LIMIT is per client
        pipeline = b._pipeline
        await insert(engine, 1, 2, 3)
        assert [r[0] async for r in a.rows()] == [1, 2]
        assert a.done_reason == "Limit Reached"
        assert await take(b, 3) == [1, 2, 3]
        await engine.close_push_query(b.id)
        assert not pipeline.stopped and c.shared
        await insert(engine, 4)
        assert await take(c, 4) == [1, 2, 3, 4]
        await engine.close_push_query(c.id)  # the last one stops the pipeline
        await until(lambda: pipeline.task.done(), "pipeline stopped")
        assert pipeline.stopped and not push_fanout._PIPELINES
        await engine.close()

    run(go())


def test_a_later_client_starts_at_the_end_of_the_source():
    async def go():
        engine = await memory_engine(**LATEST)
        await engine.execute(DDL)
        a = await push(engine)
        await insert(engine, 1, 2)
        assert await take(a, 2) == [1, 2]
        b = await push(engine)
        assert b._pipeline is a._pipeline
        await insert(engine, 3)
        assert await take(a, 1) == [3]
        assert await take(b, 1) == [3]
        await engine.close()

    run(go())


def test_a_batch_is_cut_where_a_client_starts():
    async def go():
        engine = await memory_engine(**LATEST)
        await engine.execute(DDL)
        await insert(engine, 1, 2, 3, 4, 5)
        pipeline = push_fanout.SharedPushPipeline("k", engine.log, None, ["ID"],
                                                  {("s", 0): 0})
        pipeline.subscribers = {"x": {("s", 0): 0}, "y": {("s", 0): 3}}
        batch = await engine.log.read("s", 0, 0, 100)
        segs = pipeline._segments(("s", 0), batch)
        assert [s.column("offset").to_pylist() for s in segs] == [[0, 1, 2], [3, 4]]
        await engine.close()

    run(go())


def test_a_slow_client_is_bounded_and_detached_without_losing_rows():
    async def go():
        engine = await memory_engine(**LATEST)
        await engine.execute(DDL)
        fast = await push(engine)
        plan = plan_query(_select(SQL), engine.catalog, fast.ctx.properties)
        slow = TransientQuery("slow", plan, engine.log, engine.operator_context("slow", fast.ctx.properties),
                              max_buffered=3)
        slow.start()
        await until(lambda: slow.shared, "slow subscribed")
        assert slow._pipeline is fast._pipeline
        for i in range(1, 11):  # one record at a time; the slow client reads nothing
            await insert(engine, i)
            assert await take(fast, 1) == [i]
            assert slow.queue.rows <= 3
        assert fast.shared and not slow.shared  # detached, on its own pipeline
        got = []
        while len(got) < 10:  # everything arrives, in order
            block = await asyncio.wait_for(slow.queue.get(), 10)
            got.extend(r[0] for r in block.rows)
        assert got == list(range(1, 11))
        # caught up: back on the shared pipeline
        await until(lambda: slow.shared, "slow client rejoined")
        assert slow._pipeline is fast._pipeline
        await insert(engine, 11)
        assert await take(fast, 1) == [11] and await take(slow, 1) == [11]
        await slow.close()
        await engine.close()

    run(go())


def test_stateful_push_queries_run_alone():
    async def go():
        engine = await memory_engine(**LATEST)
        await engine.execute(DDL)
        sql = "SELECT v, COUNT(*) AS n FROM s GROUP BY v EMIT CHANGES;"
        a, b = await engine.push_query(sql), await engine.push_query(sql)
        await asyncio.sleep(0.05)
        await insert(engine, 1)
        assert not a.shared and not b.shared
        assert [r async for r in _first(a)] == [["v1", 1]]
        assert [r async for r in _first(b)] == [["v1", 1]]
        await engine.close()

    run(go())


async def _first(q):
    block = await asyncio.wait_for(q.queue.get(), 10)
    for r in block.rows:
        yield r


def _select(sql):
    from ksqlpy.parse import script as g

    return next(iter(g.split_and_parse(sql, {})))[1]
