"""A minimal line-based SQL prompt on an embedded engine (stage: entry point).

Statements end at an unquoted ``;`` and may span lines. Push queries (EMIT CHANGES) print rows
as they arrive until LIMIT or Ctrl-C. The prompt-toolkit shell of the shell issue replaces this.
"""

from __future__ import annotations

import asyncio
import json
import sys

from ksqlpy.errors import KsqlError


async def run_prompt(args) -> int:
    from ksqlpy.runtime.engine import Engine, EngineConfig

    engine = Engine(EngineConfig(data_dir=args.data_dir))
    await engine.start()
    try:
        if args.execute or args.file:
            text = args.execute if args.execute else open(args.file).read()
            return await _run_text(engine, text)
        print("ksqlpy — embedded engine. End statements with ';'. Ctrl-D exits.")
        buffer = ""
        loop = asyncio.get_running_loop()
        while True:
            prompt = "ksql> " if not buffer else "    > "
            try:
                line = await loop.run_in_executor(None, lambda: input(prompt))
            except EOFError:
                print()
                return 0
            buffer += line + "\n"
            if buffer.strip().endswith(";"):
                await _run_text(engine, buffer)
                buffer = ""
    finally:
        await engine.close()


async def _run_text(engine, text: str) -> int:
    from ksqlpy.parse.script import split_statements

    status = 0
    for stmt in split_statements(text):
        try:
            if stmt.lstrip()[:6].upper() == "SELECT":
                await _push(engine, stmt)
                continue
            for r in await engine.execute(stmt):
                print(_render(r))
        except KsqlError as e:
            print(f"Error: {e.message}", file=sys.stderr)
            status = 1
    return status


async def _push(engine, stmt: str) -> None:
    query = await engine.push_query(stmt)
    print(" | ".join(c.name for c in query.columns))
    try:
        async for row in query.rows():
            print(" | ".join("null" if v is None else str(v) for v in row))
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    finally:
        await engine.close_push_query(query.id)
    if query.done_reason:
        print(query.done_reason)


def _render(result) -> str:
    if result.kind == "currentStatus":
        return result.message
    return json.dumps(result.entity, indent=2, default=str)
