"""Pull-query latency: key lookups on a 1,000,000-key materialized table.

A ``CREATE SOURCE TABLE`` over a pre-loaded topic (KAFKA string keys, JSON values) is mirrored
into DuckDB (``engine.materialize_all()``), then 10,000 key-lookup pull queries with random
keys go through ``engine.pull_query``. The last line is
``pull: p99 <x> ms, p50 <y> ms, peak RSS <m> MiB`` (target: p99 ≤ 5 ms).

    python bench/bench_pull.py [--keys N] [--queries N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from ksqlpy.log.base import PRODUCE_SCHEMA, HEADER_TYPE  # noqa: E402
from ksqlpy.runtime.engine import Engine, EngineConfig  # noqa: E402


def _batch(start: int, n: int) -> pa.RecordBatch:
    ids = [f"user_{i}" for i in range(start, start + n)]
    keys = pa.array([s.encode() for s in ids], pa.binary())
    values = pa.array([f'{{"NAME":"name {i}","REGION":"r{i % 50}","SCORE":{i % 1000}}}'.encode()
                       for i in range(start, start + n)], pa.binary())
    return pa.RecordBatch.from_arrays(
        [pa.array(np.arange(start, start + n, dtype=np.int64)), keys, values,
         pa.nulls(n, HEADER_TYPE)], schema=PRODUCE_SCHEMA)


async def main(keys: int, queries: int) -> None:
    engine = Engine(EngineConfig(log="memory", run_queries=False,
                                 properties={"auto.offset.reset": "earliest"}))
    await engine.start()
    try:
        await engine.log.create_topic("users", 1)
        t0 = time.perf_counter()
        step = 100_000
        for s in range(0, keys, step):
            await engine.log.append("users", 0, _batch(s, min(step, keys - s)))
        t1 = time.perf_counter()
        await engine.execute(
            "CREATE SOURCE TABLE USERS (ID STRING PRIMARY KEY, NAME STRING, REGION STRING, "
            "SCORE INT) WITH (KAFKA_TOPIC='users', VALUE_FORMAT='JSON');")
        await engine.materialize_all()
        t2 = time.perf_counter()
        print(f"load {keys:,} records: {t1 - t0:.1f} s; materialize: {t2 - t1:.1f} s "
              f"({keys / (t2 - t1):,.0f} rows/s)")
        rng = random.Random(7)
        lat = []
        found = 0
        for _ in range(200):   # warm-up
            await engine.pull_query(f"SELECT * FROM USERS WHERE ID='user_{rng.randrange(keys)}';")
        for _ in range(queries):
            sql = f"SELECT * FROM USERS WHERE ID='user_{rng.randrange(keys)}';"
            q0 = time.perf_counter()
            r = await engine.pull_query(sql)
            lat.append(time.perf_counter() - q0)
            found += len(r.rows)
        assert found == queries, f"{found} of {queries} lookups found their key"
        lat.sort()
        p50 = lat[len(lat) // 2] * 1000
        p99 = lat[int(len(lat) * 0.99)] * 1000
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{queries:,} lookups: mean {sum(lat) / len(lat) * 1000:.2f} ms, "
              f"max {lat[-1] * 1000:.2f} ms")
        print(f"pull: p99 {p99:.2f} ms, p50 {p50:.2f} ms, peak RSS {rss:.0f} MiB")
    finally:
        await engine.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=10_000)
    a = ap.parse_args()
    asyncio.run(main(a.keys, a.queries))
