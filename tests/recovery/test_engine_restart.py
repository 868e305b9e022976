"""kill -9 the engine mid-query, several times: after each restart the query resumes from its
committed offsets and the output topic ends up with every expected record exactly once."""

import asyncio
import json

from ksqlpy.log.base import records
from ksqlpy.runtime.engine import Engine, EngineConfig
from tests.recovery.killer import kill_repeatedly

N = 20_000


async def _setup(data_dir: str) -> None:
    engine = Engine(EngineConfig(data_dir=data_dir, run_queries=False))
    await engine.start()
    await engine.log.create_topic("orders", 1)
    for base in range(0, N, 1000):
        vals = [json.dumps({"n": i, "qty": i % 20}).encode() for i in range(base, base + 1000)]
        keys = [f"k{i}".encode() for i in range(base, base + 1000)]
        await engine.log.append("orders", 0, records(keys, vals, list(range(base, base + 1000))))
    await engine.execute("CREATE STREAM orders (k VARCHAR KEY, n INT, qty INT) "
                         "WITH (kafka_topic='orders', value_format='JSON');")
    await engine.execute("CREATE STREAM big AS SELECT k, n FROM orders WHERE qty > 10;")
    await engine.close()


async def _read_output(data_dir: str):
    engine = Engine(EngineConfig(data_dir=data_dir, run_queries=False))
    await engine.start()
    batch = await engine.log.read("BIG", 0, 0, 10 * N)
    ids = [json.loads(v)["N"] for v in batch.column("value").to_pylist()]
    queries = [q.id for q in engine.queries]
    await engine.close()
    return ids, queries


def test_kill9_mid_query_loses_and_duplicates_nothing(tmp_path):
    data_dir = str(tmp_path / "data")
    asyncio.run(_setup(data_dir))
    kills = kill_repeatedly(data_dir, seed=42)
    ids, queries = asyncio.run(_read_output(data_dir))
    assert queries == ["CSAS_BIG_0"]
    expected = [i for i in range(N) if i % 20 > 10]
    assert kills >= 3
    assert sorted(ids) == expected, "lost or duplicated records"
    assert ids == expected, "records out of order"
