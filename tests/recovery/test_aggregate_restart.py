"""kill -9 a running windowed aggregation several times mid-stream: after the last restart
the table (latest row per key and window) equals DuckDB's computation over the same input,
key for key — state was restored from the changelog, nothing counted twice or lost."""

import asyncio
import json
import random

import duckdb
import pyarrow as pa

from ksqlpy.formats import decode_windowed_key
from ksqlpy.log.base import records
from ksqlpy.runtime.engine import Engine, EngineConfig
from tests.recovery.killer import kill_repeatedly

N = 30_000


def _inputs():
    rnd = random.Random(7)
    return [(f"c{rnd.randrange(50)}", rnd.randint(1, 20), i * 7) for i in range(N)]


async def _setup(data_dir: str, rows) -> None:
    engine = Engine(EngineConfig(data_dir=data_dir, run_queries=False))
    await engine.start()
    await engine.log.create_topic("orders", 1)
    for base in range(0, N, 1000):
        chunk = rows[base:base + 1000]
        await engine.log.append("orders", 0, records(
            [c.encode() for c, _, _ in chunk],
            [json.dumps({"qty": q, "ts": ts}).encode() for _, q, ts in chunk],
            [ts for _, _, ts in chunk]))
    await engine.execute("CREATE STREAM orders (customer VARCHAR KEY, qty INT, ts BIGINT) "
                         "WITH (kafka_topic='orders', value_format='JSON', timestamp='ts');")
    await engine.execute("CREATE TABLE per_window AS SELECT customer, COUNT(*) AS n, "
                         "SUM(qty) AS total FROM orders WINDOW TUMBLING (SIZE 10 SECONDS) "
                         "GROUP BY customer;",
                         # frequent changelog snapshots and truncation between the kills
                         {"ksqlpy.changelog.snapshot.bytes": "4000"})
    await engine.close()


async def _final_table(data_dir: str) -> dict:
    engine = Engine(EngineConfig(data_dir=data_dir, run_queries=False))
    await engine.start()
    out = {}
    offset = 0
    while True:
        batch = await engine.log.read("PER_WINDOW", 0, offset, 100_000)
        if batch.num_rows == 0:
            break
        inner, start, _ = decode_windowed_key(batch.column("key"), False)
        for k, s, v in zip(inner.to_pylist(), start.to_pylist(),
                           batch.column("value").to_pylist()):
            value = json.loads(v)
            out[(k.decode(), s)] = (value["N"], value["TOTAL"])
        offset = batch.column("offset")[-1].as_py() + 1
    await engine.close()
    return out


def test_kill9_windowed_aggregation_matches_duckdb(tmp_path):
    data_dir = str(tmp_path / "data")
    rows = _inputs()
    asyncio.run(_setup(data_dir, rows))
    kills = kill_repeatedly(data_dir, seed=11)
    assert kills >= 3
    table = asyncio.run(_final_table(data_dir))

    inputs = pa.table({"customer": [c for c, _, _ in rows], "qty": [q for _, q, _ in rows],
                       "ts": [t for _, _, t in rows]})
    expected = duckdb.sql(
        "SELECT customer, ts - ts % 10000 AS ws, COUNT(*) AS n, SUM(qty) AS total "
        "FROM inputs GROUP BY ALL").fetchall()
    assert table == {(c, ws): (n, total) for c, ws, n, total in expected}
