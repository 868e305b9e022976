"""The seed article's ksqlDB example (../shared/seed/orders-example.sql), statements exactly
as written, end to end on the engine: the stream-table join, the per-hour window aggregate
grouped by the window bounds, and the high-value filter on the joined stream."""

import json
from pathlib import Path

import pytest

from ksqlpy.formats import decode_windowed_key
from ksqlpy.log.base import records
from tests.engine.conftest import memory_engine, run

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "orders-example.sql"
HOUR = 3_600_000

CUSTOMERS = [("c1", "Alice", "alice@example.com", "PREMIUM", 10_000.0),
             ("c2", "Bob", "bob@example.com", "GOLD", 500.0),
             ("c3", "Carol", "carol@example.com", "BASIC", 20.0)]
# order_id, customer_id, product_id, quantity, price, order_timestamp
ORDERS = [("o1", "c1", "p1", 10, 150.0, 1_000),
          ("o2", "c2", "p2", 5, 300.0, 2_000),
          ("o3", "c3", "p3", 1, 20.0, 3_000),
          ("o4", "c9", "p4", 100, 100.0, 4_000),      # unknown customer: no enriched row
          ("o5", "c2", "p5", 2, 10.0, HOUR + 5_000)]


async def _topic(engine, name):
    batch = await engine.log.read(name, 0, 0, 1000)
    return batch


@pytest.mark.skipif(not SEED.exists(), reason="seed example not found beside the checkout")
def test_seed_example_runs_as_written():
    async def go():
        engine = await memory_engine()
        await engine.log.create_topic("orders", 1)
        await engine.log.create_topic("customers", 1)
        await engine.log.append("customers", 0, records(
            [c[0].encode() for c in CUSTOMERS],
            [json.dumps({"name": n, "email": e, "tier": t, "total_spent": s}).encode()
             for _, n, e, t, s in CUSTOMERS], [0] * len(CUSTOMERS)))
        await engine.log.append("orders", 0, records(
            [o[0].encode() for o in ORDERS],
            [json.dumps({"customer_id": c, "product_id": p, "quantity": q, "price": pr,
                         "order_timestamp": ts}).encode() for _, c, p, q, pr, ts in ORDERS],
            [o[5] for o in ORDERS]))
        results = await engine.execute(SEED.read_text())
        await engine.run_until_idle()
        enriched = await _topic(engine, "ENRICHED_ORDERS")
        per_hour = await _topic(engine, "ORDERS_PER_HOUR")
        high = await _topic(engine, "HIGH_VALUE_ORDERS")
        schemas = {s.name: str(s.schema) for s in engine.catalog.sources()}
        await engine.close()
        return results, enriched, per_hour, high, schemas

    results, enriched, per_hour, high, schemas = run(go())
    assert [r.message for r in results] == [
        "Stream created", "Table created", "Created query with ID CSAS_ENRICHED_ORDERS_0",
        "Created query with ID CTAS_ORDERS_PER_HOUR_1",
        "Created query with ID CSAS_HIGH_VALUE_ORDERS_2"]

    rows = [json.loads(v) for v in enriched.column("value").to_pylist()]
    assert [r["ORDER_ID"] for r in rows] == ["o1", "o2", "o3", "o5"]
    assert rows[1] == {"ORDER_ID": "o2", "CUSTOMER_NAME": "Bob", "CUSTOMER_TIER": "GOLD",
                       "PRODUCT_ID": "p2", "QUANTITY": 5, "PRICE": 300.0,
                       "TOTAL_AMOUNT": 1500.0}
    assert enriched.column("key").to_pylist() == [b"c1", b"c2", b"c3", b"c2"]
    assert enriched.column("timestamp").to_pylist() == [1_000, 2_000, 3_000, HOUR + 5_000]

    # one row per window, every update emitted; the last per window is the window's total
    _, starts, _ = decode_windowed_key(per_hour.column("key"), False)
    latest = {}
    for start, value in zip(starts.to_pylist(), per_hour.column("value").to_pylist()):
        latest[start] = json.loads(value)
    assert latest == {
        0: {"WINDOW_START": 0, "WINDOW_END": HOUR, "ORDER_COUNT": 4,
            "TOTAL_REVENUE": 1500.0 + 1500.0 + 20.0 + 10_000.0},
        HOUR: {"WINDOW_START": HOUR, "WINDOW_END": 2 * HOUR, "ORDER_COUNT": 1,
               "TOTAL_REVENUE": 20.0}}

    assert [json.loads(v)["ORDER_ID"] for v in high.column("value").to_pylist()] == ["o2"]
    assert schemas["ORDERS_PER_HOUR"] == ("`WINDOW_START` BIGINT, `WINDOW_END` BIGINT, "
                                          "`ORDER_COUNT` BIGINT, `TOTAL_REVENUE` DOUBLE")
