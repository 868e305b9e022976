"""The `orders` benchmark workload: JSON order records (order_id, customer_id of 10,000,
product_id, quantity 1–20, price, ts), generated deterministically in batches."""

from __future__ import annotations

import json
import random
from typing import Iterator

ORDERS_DDL = """CREATE STREAM orders (order_id VARCHAR KEY, customer_id VARCHAR,
  product_id VARCHAR, quantity INT, price DOUBLE, ts BIGINT)
  WITH (kafka_topic='orders', value_format='JSON', timestamp='ts');"""


def order_batches(n: int, batch_size: int = 10_000, seed: int = 7,
                  start_ts: int = 1_700_000_000_000) -> Iterator[tuple[list, list, list]]:
    """Yield (keys, values, timestamps) lists of up to ``batch_size`` records."""
    rnd = random.Random(seed)
    dumps = json.dumps
    for base in range(0, n, batch_size):
        keys, values, stamps = [], [], []
        for i in range(base, min(n, base + batch_size)):
            ts = start_ts + i * 10
            oid = f"o{i}"
            rec = {"order_id": oid, "customer_id": f"c{rnd.randrange(10_000)}",
                   "product_id": f"p{rnd.randrange(1_000)}", "quantity": rnd.randint(1, 20),
                   "price": round(rnd.uniform(1, 500), 2), "ts": ts}
            keys.append(oid.encode())
            values.append(dumps(rec, separators=(",", ":")).encode())
            stamps.append(ts)
        yield keys, values, stamps
