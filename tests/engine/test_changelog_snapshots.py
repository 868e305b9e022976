"""Changelog snapshots and truncation (``ksqlpy/runtime/query.py``): a store's changelog
partition gets a snapshot once the diffs since the last one outgrow the state, the records
before it are deleted, and a restart restores from the snapshot — giving exactly the state an
uninterrupted run without snapshots has."""

import asyncio
import json
import random

from ksqlpy.log.base import records
from ksqlpy.runtime.engine import Engine, EngineConfig
from tests.engine.conftest import run

PARTITIONS = 3
CHUNKS = 4
PER_CHUNK = 1_500


def _rows(chunk: int):
    rnd = random.Random(chunk)
    base = chunk * PER_CHUNK
    return [(f"c{rnd.randrange(60)}", rnd.randint(-5, 20), (base + i) * 10)
            for i in range(PER_CHUNK)]


SETUP = [
    "CREATE STREAM orders (customer VARCHAR KEY, qty INT, ts BIGINT) WITH "
    f"(kafka_topic='orders', value_format='JSON', partitions={PARTITIONS}, timestamp='ts');",
    "CREATE TABLE customers (customer VARCHAR PRIMARY KEY, tier INT) WITH "
    "(kafka_topic='customers', value_format='JSON', partitions=3);",
    # partition-local (grouped by the key): a changelog partition per source partition
    "CREATE TABLE totals AS SELECT customer, COUNT(*) AS n, SUM(qty) AS total "
    "FROM orders GROUP BY customer;",
    # a table filter's store and a windowed aggregation with a non-key group (whole state)
    "CREATE TABLE big AS SELECT * FROM totals WHERE total > 400;",
    "CREATE TABLE per_window AS SELECT qty % 3 AS bucket, COUNT(*) AS n FROM orders "
    "WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY qty % 3;",
    # a stream-table join's store
    "CREATE STREAM enriched AS SELECT o.customer AS customer, o.qty, c.tier FROM orders o "
    "JOIN customers c ON o.customer = c.customer;",
]


async def _feed(engine, chunk: int) -> None:
    rows = _rows(chunk)
    by_part: dict[int, list] = {}
    for row in rows:  # a customer's rows in one partition, as a keyed producer would
        by_part.setdefault(int(row[0][1:]) % PARTITIONS, []).append(row)
    for p, part in by_part.items():
        for base in range(0, len(part), 500):
            piece = part[base:base + 500]
            await engine.log.append("orders", p, records(
                [c.encode() for c, _, _ in piece],
                [json.dumps({"qty": q, "ts": ts}).encode() for _, q, ts in piece],
                [ts for _, _, ts in piece]))
    for p in range(PARTITIONS):
        tiers = [(f"c{k}", chunk * 10 + k % 4) for k in range(p, 60, 3 * PARTITIONS)]
        await engine.log.append("customers", p, records(
            [c.encode() for c, _ in tiers],
            [json.dumps({"tier": t}).encode() for _, t in tiers],
            [chunk * PER_CHUNK * 10] * len(tiers)))


async def _latest(engine, topic: str) -> dict:
    out = {}
    info = engine.log.topic(topic)
    for p in range(info.partitions):
        offset = engine.log.start_offset(topic, p)
        while True:
            batch = await engine.log.read(topic, p, offset, 100_000)
            if not batch.num_rows:
                break
            for k, v in zip(batch.column("key").to_pylist(), batch.column("value").to_pylist()):
                out[k] = v
            offset = batch.column("offset")[-1].as_py() + 1
    return out


async def _all(engine, topic: str) -> list:
    out = []
    info = engine.log.topic(topic)
    for p in range(info.partitions):
        batch = await engine.log.read(topic, p, 0, 10_000_000)
        out.append(sorted(zip(batch.column("key").to_pylist(),
                              batch.column("value").to_pylist())))
    return out


def _changelog_stats(engine) -> dict:
    """changelog topic -> (records written, records retained)."""
    out = {}
    for info in engine.log.topics():
        if info.name.endswith("-changelog"):
            ends = [engine.log.end_offset(info.name, p) for p in range(info.partitions)]
            starts = [engine.log.start_offset(info.name, p) for p in range(info.partitions)]
            out[info.name] = (sum(ends), sum(e - s for s, e in zip(starts, ends)))
    return out


async def _session(data_dir: str, snapshot_bytes: int, statements=(), feed=None):
    engine = Engine(EngineConfig(data_dir=data_dir, batch_size=250, properties={
        "auto.offset.reset": "earliest",
        "ksqlpy.changelog.snapshot.bytes": str(snapshot_bytes)}))
    await engine.start()
    for sql in statements:
        await engine.execute(sql)
    if feed is not None:
        await _feed(engine, feed)
    await engine.run_until_idle(timeout=120)
    return engine


def test_snapshots_bound_changelogs_and_restore_the_same_state(tmp_path):
    async def go():
        # uninterrupted, snapshots off: every diff kept
        full = await _session(str(tmp_path / "full"), -1, SETUP)
        for chunk in range(CHUNKS):
            await _feed(full, chunk)
            await full.run_until_idle(timeout=120)
        expected = {t: await _latest(full, t) for t in ("TOTALS", "BIG", "PER_WINDOW")}
        expected_enriched = await _all(full, "ENRICHED")
        full_stats = _changelog_stats(full)
        await full.close()

        # frequent snapshots, and a restart (restore from truncated changelogs) per chunk
        data = str(tmp_path / "snap")
        engine = await _session(data, 2_000, SETUP)
        await engine.close()
        for chunk in range(CHUNKS):
            engine = await _session(data, 2_000, feed=chunk)
            stats = _changelog_stats(engine)
            await engine.close()
        engine = await _session(data, 2_000)
        got = {t: await _latest(engine, t) for t in ("TOTALS", "BIG", "PER_WINDOW")}
        got_enriched = await _all(engine, "ENRICHED")
        await engine.close()
        return expected, expected_enriched, full_stats, got, got_enriched, stats

    expected, expected_enriched, full_stats, got, got_enriched, stats = run(go())
    assert got == expected
    assert got_enriched == expected_enriched
    assert set(stats) == set(full_stats) and len(stats) == 4
    for topic, (written, retained) in stats.items():
        full_written, full_retained = full_stats[topic]
        assert full_retained == full_written  # nothing deleted without snapshots
        # bounded: a few segments' worth, not the whole history (the join's table side
        # changes too rarely here to reach a snapshot)
        if "Aggregate" in topic:  # the others write too few bytes to reach a snapshot
            assert retained < written / 2, (topic, written, retained)


def test_memory_log_truncates_to_the_snapshot(tmp_path):
    """On the memory log deletion is batch-precise: a one-partition store's changelog keeps
    only its last snapshot and the diffs after it."""
    async def go():
        engine = Engine(EngineConfig(log="memory", batch_size=50, properties={
            "auto.offset.reset": "earliest", "ksqlpy.changelog.snapshot.bytes": "0"}))
        await engine.start()
        await engine.execute("CREATE STREAM s (k VARCHAR KEY, v INT) WITH "
                             "(kafka_topic='s', value_format='JSON', partitions=1);")
        await engine.execute("CREATE TABLE t AS SELECT k, SUM(v) AS total FROM s GROUP BY k;")
        for base in range(0, 2_000, 50):
            await engine.log.append("s", 0, records(
                [f"k{i % 7}".encode() for i in range(base, base + 50)],
                [json.dumps({"v": i}).encode() for i in range(base, base + 50)],
                list(range(base, base + 50))))
        await engine.run_until_idle()
        (topic, (written, retained)), = _changelog_stats(engine).items()
        first = await engine.log.read(topic, 0, engine.log.start_offset(topic, 0), 1)
        await engine.close()
        return written, retained, first.column("key").to_pylist()

    written, retained, first = run(go())
    assert written >= 20 and retained <= 2
    assert first == [b"snapshot"]
