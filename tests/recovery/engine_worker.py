"""Subprocess for the restart test: opens the engine on DATA_DIR (replaying the command log,
which restarts the persistent query from its committed offsets) and runs until idle."""

import asyncio
import sys

from ksqlpy.runtime.engine import Engine, EngineConfig


async def main(data_dir: str) -> None:
    engine = Engine(EngineConfig(data_dir=data_dir, batch_size=50,
                                 properties={"auto.offset.reset": "earliest"}))
    await engine.start()
    print("started", flush=True)
    await engine.run_until_idle(timeout=120)
    print("idle", flush=True)
    await engine.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
