"""Benchmarks (records/s, peak memory) of whole queries on the embedded log.

    python bench/bench.py WORKLOAD [--records N]

The last line printed is ``WORKLOAD: <n> records/s, peak RSS <m> MiB``. Workloads:

- ``stateless``: ``CREATE STREAM big AS SELECT order_id, customer_id, quantity*price AS total
  FROM orders WHERE quantity > 10;`` timed from the statement until every output record is
  durable in the sink topic (the input is already in the topic).
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


WORKLOADS = {"stateless": stateless}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ksqlpy-bench-") as tmp:
        rate = asyncio.run(WORKLOADS[args.workload](args.records, tmp))
    print(f"{args.workload}: {rate:,.0f} records/s, peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
