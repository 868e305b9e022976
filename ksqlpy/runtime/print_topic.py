"""PRINT topic (stage: runtime, log records → text lines): a topic's raw records as ksqlDB
prints them, for people looking at what is on a topic whatever its format.

    Key format: KAFKA_STRING
    Value format: JSON or KAFKA_STRING
    rowtime: 2024/01/01 00:00:01.000 Z, key: k1, value: {"a":1}, partition: 0
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime, timezone
from typing import AsyncIterator

from ksqlpy.errors import AnalysisError


def resolve_topic(engine, node) -> str:
    """The topic PRINT names; an unquoted name matches case-insensitively if unambiguous."""
    name = str(node.this)
    names = [t.name for t in engine.log.topics()]
    if name in names:
        return name
    if not node.args.get("quoted"):
        matches = [t for t in names if t.lower() == name.lower()]
        if len(matches) == 1:
            return matches[0]
    raise AnalysisError(f"Could not find topic '{name}', or the KSQL user does not have "
                        f"permissions to list the topic. Topic names are case-sensitive.")


def _text(data: bytes | None) -> tuple[str, str]:
    """(rendering, format name) of raw key or value bytes."""
    if data is None:
        return "<null>", ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(data).decode(), "KAFKA_BYTES"
    try:
        json.loads(text)
        return text, "JSON"
    except ValueError:
        return text, "KAFKA_STRING"


def _rowtime(ms: int) -> str:
    t = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return t.strftime("%Y/%m/%d %H:%M:%S.") + f"{ms % 1000:03d} Z"


async def print_records(engine, node, poll: float = 0.5) -> AsyncIterator[str]:
    """Yield PRINT's lines until LIMIT (forever otherwise: the caller closes it)."""
    topic = resolve_topic(engine, node)
    log = engine.log
    info = log.topic(topic)
    positions = {p: (log.start_offset(topic, p) if node.args.get("from_beginning")
                     else log.end_offset(topic, p)) for p in range(info.partitions)}
    interval = max(int(node.args.get("interval") or 1), 1)
    limit = node.args.get("limit")
    limit = int(limit) if limit is not None else None
    seen = printed = 0
    announced = False
    while True:
        progressed = False
        for p, offset in positions.items():
            batch = await log.read(topic, p, offset, 1000)
            if batch.num_rows == 0:
                continue
            progressed = True
            positions[p] = batch.column("offset")[-1].as_py() + 1
            for ts, key, value in zip(batch.column("timestamp").to_pylist(),
                                      batch.column("key").to_pylist(),
                                      batch.column("value").to_pylist()):
                seen += 1
                if (seen - 1) % interval:
                    continue
                k, kfmt = _text(key)
                v, vfmt = _text(value)
                if not announced:
                    yield f"Key format: {kfmt or 'KAFKA_STRING'}"
                    yield f"Value format: {vfmt or 'KAFKA_STRING'}"
                    announced = True
                yield f"rowtime: {_rowtime(ts)}, key: {k}, value: {v}, partition: {p}"
                printed += 1
                if limit is not None and printed >= limit:
                    return
        if not progressed:
            await log.wait({(topic, p): o for p, o in positions.items()}, timeout=poll)
            await asyncio.sleep(0)
