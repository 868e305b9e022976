"""KafkaLog against a real broker, beyond the shared contract (tests/log/test_log_contract.py):
interoperation with ordinary Kafka clients, compression, large batches, a second log instance
seeing committed offsets, configuration parsing."""

from __future__ import annotations

import asyncio

from ksqlpy.log import records
from ksqlpy.log.kafka import KafkaConfig, KafkaLog


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_records_from_a_plain_kafka_producer_are_read_and_waited_for(fresh_broker):
    from aiokafka import AIOKafkaProducer

    async def go():
        log = KafkaLog(bootstrap_servers=fresh_broker.bootstrap)
        await log.start()
        await log.create_topic("ext", 2)
        waiter = asyncio.create_task(log.wait({("ext", 1): 0}, 10))
        await asyncio.sleep(0.1)
        producer = AIOKafkaProducer(bootstrap_servers=fresh_broker.bootstrap)
        await producer.start()
        for i in range(5):
            await producer.send_and_wait("ext", value=f"v{i}".encode(), key=b"k",
                                         partition=1, timestamp_ms=1000 + i,
                                         headers=[("h", b"x")])
        await producer.stop()
        woke = await waiter
        got = await log.read("ext", 1, 2)
        await log.close()
        return woke, got.to_pylist()

    woke, rows = run(go())
    assert woke is True
    assert [(r["offset"], r["timestamp"], r["key"], r["value"]) for r in rows] == [
        (2, 1002, b"k", b"v2"), (3, 1003, b"k", b"v3"), (4, 1004, b"k", b"v4")]
    assert rows[0]["headers"] == [{"key": "h", "value": b"x"}]


def test_records_written_by_the_log_are_read_by_a_plain_consumer(fresh_broker):
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def go():
        log = KafkaLog(KafkaConfig(bootstrap_servers=fresh_broker.bootstrap,
                                   compression_type="gzip"))
        await log.start()
        await log.create_topic("out", 1)
        await log.append("out", 0, records([b"a", None], [b"1", None], [5, 6],
                                           [[{"key": "x", "value": b"y"}], None]))
        await log.close()
        consumer = AIOKafkaConsumer(bootstrap_servers=fresh_broker.bootstrap,
                                    enable_auto_commit=False)
        await consumer.start()
        tp = TopicPartition("out", 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        got = []
        while len(got) < 2:
            for msgs in (await consumer.getmany(timeout_ms=2000)).values():
                got += [(m.offset, m.timestamp, m.key, m.value, list(m.headers)) for m in msgs]
        await consumer.stop()
        return got

    assert run(go()) == [(0, 5, b"a", b"1", [("x", b"y")]), (1, 6, None, None, [])]


def test_large_batches_split_into_kafka_batches_and_read_back_in_order(fresh_broker):
    async def go():
        log = KafkaLog(bootstrap_servers=fresh_broker.bootstrap)
        await log.start()
        await log.create_topic("big", 1)
        n = 30_000
        value = b"x" * 100
        first = await log.append("big", 0, records([None] * n, [value] * n, list(range(n))))
        assert first == 0 and log.end_offset("big", 0) == n
        other = KafkaLog(bootstrap_servers=fresh_broker.bootstrap)  # no cache of the data
        seen, offset = 0, 0
        while (b := await other.read("big", 0, offset, 7_000)).num_rows:
            assert b.column("offset").to_pylist() == list(range(offset, offset + b.num_rows))
            assert b.column("timestamp")[0].as_py() == offset
            seen += b.num_rows
            offset += b.num_rows
        end = other.end_offset("big", 0)
        await other.close()
        await log.close()
        return seen, end

    assert run(go()) == (30_000, 30_000)


def test_a_new_log_sees_committed_offsets_and_topics(fresh_broker):
    async def go():
        log = KafkaLog(bootstrap_servers=fresh_broker.bootstrap)
        await log.create_topic("t", 3, config={"retention.ms": "60000"})
        txn = log.transaction()
        txn.append("t", 2, records([b"k"], [b"v"], [1]))
        txn.commit_offsets("g", {("t", 0): 4, ("t", 2): 1})
        await txn.commit()
        await log.close()
        fresh = KafkaLog(bootstrap_servers=fresh_broker.bootstrap)  # sync calls before start
        out = (fresh.topic("t").partitions, fresh.committed("g", "t", 0),
               fresh.committed("g", "t", 1), fresh.committed("g", "t", 2),
               fresh.end_offset("t", 2), fresh.start_offset("t", 2), fresh.topic("nope"))
        await fresh.close()
        return out

    assert run(go()) == (3, 4, None, 1, 1, 0, None)


def test_config_from_ksqldb_properties():
    cfg = KafkaConfig.from_properties({
        "bootstrap.servers": "b1:9092,b2:9092",
        "ksql.streams.security.protocol": "sasl_plaintext",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": 'org.apache.kafka.common.security.scram.ScramLoginModule required '
                            'username="alice" password="s3cret";',
        "compression.type": "gzip",
        "ksql.streams.processing.guarantee": "exactly_once_v2"})
    assert (cfg.bootstrap_servers, cfg.security_protocol, cfg.sasl_mechanism,
            cfg.sasl_username, cfg.sasl_password, cfg.compression_type, cfg.exactly_once) == \
        ("b1:9092,b2:9092", "SASL_PLAINTEXT", "SCRAM-SHA-512", "alice", "s3cret", "gzip", True)
    kw = cfg.client_kwargs()
    assert kw["sasl_plain_username"] == "alice" and kw["security_protocol"] == "SASL_PLAINTEXT"
    assert KafkaConfig.from_properties({}, "x:1").bootstrap_servers == "x:1"
    assert not KafkaConfig.from_properties({}).exactly_once
