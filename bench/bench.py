"""Benchmarks (records/s, peak memory) of whole queries on the embedded log.

    python bench/bench.py WORKLOAD [--records N]

The last line printed is ``WORKLOAD: <n> records/s, peak RSS <m> MiB``. Workloads:

- ``stateless``: ``CREATE STREAM big AS SELECT order_id, customer_id, quantity*price AS total
  FROM orders WHERE quantity > 10;`` timed from the statement until every output record is
  durable in the sink topic (the input is already in the topic).
- ``window``: per-customer COUNT/SUM in 1-minute tumbling windows (production emit setting).
- ``join``: orders joined with a 10,000-row customers table (stream–table join).
- ``pull``, ``kafka-stateless``, ``fanout``: run bench_pull.py, bench_kafka.py and
  bench_fanout.py (each prints its own last line in the same form).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from orders import ORDERS_DDL, order_batches  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def load_orders(log, n: int) -> int:
    """Write n orders to topic 'orders'; return how many have quantity > 10."""
    from ksqlpy.log.base import records

    await log.create_topic("orders", 1)
    selected = 0
    for keys, values, stamps in order_batches(n):
        selected += sum(1 for v in values if json.loads(v)["quantity"] > 10)
        await log.append("orders", 0, records(keys, values, stamps))
    return selected


async def stateless(n: int, data_dir: str) -> float:
    from ksqlpy.runtime.engine import Engine, EngineConfig

    engine = Engine(EngineConfig(data_dir=data_dir,
                                 properties={"auto.offset.reset": "earliest"}))
    await engine.start()
    expected = await load_orders(engine.log, n)
    await engine.execute(ORDERS_DDL)
    start = time.perf_counter()
    await engine.execute("CREATE STREAM big AS SELECT order_id, customer_id, "
                         "quantity*price AS total FROM orders WHERE quantity > 10;")
    while engine.log.end_offset("BIG", 0) < expected:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    await engine.close()
    print(f"processed {n} records, wrote {expected} in {elapsed:.2f} s")
    return n / elapsed


async def _timed(data_dir: str, n: int, setup, statement: str, sink: str,
                 done) -> float:
    """Load n orders, run ``setup`` statements, then time ``statement`` until ``done(count of
    sink records)`` says the output is complete."""
    from ksqlpy.runtime.engine import Engine, EngineConfig

    engine = Engine(EngineConfig(data_dir=data_dir,
                                 properties={"auto.offset.reset": "earliest"}))
    await engine.start()
    await load_orders(engine.log, n)
    await engine.execute(ORDERS_DDL)
    for sql in setup:
        await sql(engine) if callable(sql) else await engine.execute(sql)
    start = time.perf_counter()
    await engine.execute(statement)
    query = engine.queries[-1]
    while not query.is_caught_up():
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    out = engine.log.end_offset(sink, 0)
    await engine.close()
    print(f"processed {n} records, wrote {out} in {elapsed:.2f} s")
    return n / elapsed


async def window(n: int, data_dir: str) -> float:
    """Per-customer 1-minute tumbling windows, production emit setting (record cache)."""
    return await _timed(data_dir, n, [], (
        "CREATE TABLE per_min AS SELECT customer_id, COUNT(*), SUM(quantity*price) "
        "FROM orders WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY customer_id;"), "PER_MIN", None)


async def _customers(engine) -> None:
    from ksqlpy.log.base import records

    await engine.log.create_topic("customers", 1)
    tiers = ["BASIC", "GOLD", "PREMIUM"]
    for base in range(0, 10_000, 5_000):
        ids = [f"c{i}" for i in range(base, base + 5_000)]
        await engine.log.append("customers", 0, records(
            [c.encode() for c in ids],
            [json.dumps({"name": f"name-{c}", "tier": tiers[i % 3]}).encode()
             for i, c in enumerate(ids)], [0] * len(ids)))
    await engine.execute("CREATE TABLE customers (customer_id VARCHAR PRIMARY KEY, "
                         "name VARCHAR, tier VARCHAR) WITH (kafka_topic='customers', "
                         "value_format='JSON');")


async def join(n: int, data_dir: str) -> float:
    """Orders joined with a 10,000-row customers table."""
    return await _timed(data_dir, n, [_customers], (
        "CREATE STREAM enriched AS SELECT o.customer_id, o.order_id, c.name, c.tier, "
        "o.quantity * o.price AS total FROM orders o JOIN customers c "
        "ON o.customer_id = c.customer_id;"), "ENRICHED", None)


WORKLOADS = {"stateless": stateless, "window": window, "join": join}
# Workloads with their own scripts (they need a broker or a server): bench.py runs them.
SCRIPTS = {"pull": "bench_pull.py", "kafka-stateless": "bench_kafka.py",
           "fanout": "bench_fanout.py"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=sorted(WORKLOADS) + sorted(SCRIPTS))
    parser.add_argument("--records", type=int, default=1_000_000)
    args, rest = parser.parse_known_args()
    if args.workload in SCRIPTS:
        import subprocess

        script = Path(__file__).with_name(SCRIPTS[args.workload])
        extra = ["--records", str(args.records)] if "--records" in sys.argv else []
        sys.exit(subprocess.call([sys.executable, str(script), *extra, *rest]))
    with tempfile.TemporaryDirectory(prefix="ksqlpy-bench-") as tmp:
        rate = asyncio.run(WORKLOADS[args.workload](args.records, tmp))
    print(f"{args.workload}: {rate:,.0f} records/s, peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
