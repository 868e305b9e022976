import asyncio
import json

import pytest

from ksqlpy.runtime.engine import Engine, EngineConfig


def run(coro):
    return asyncio.run(coro)


async def memory_engine(**props) -> Engine:
    engine = Engine(EngineConfig(log="memory", properties={"auto.offset.reset": "earliest",
                                                           **props}))
    await engine.start()
    return engine


async def topic_values(engine, topic: str) -> list:
    """All records of a topic as (key bytes, decoded JSON value, timestamp)."""
    out = []
    info = engine.log.topic(topic)
    for p in range(info.partitions):
        batch = await engine.log.read(topic, p, 0, 1_000_000)
        for k, v, ts in zip(batch.column("key").to_pylist(), batch.column("value").to_pylist(),
                            batch.column("timestamp").to_pylist()):
            out.append((k, None if v is None else json.loads(v), ts))
    return out


@pytest.fixture
def engine_factory():
    return memory_engine
