"""Join state comes from the joins' changelogs, not from the joined sources: run stream–table,
table–table and foreign-key joins, stop, let retention delete the tables' old records from
their topics, restart, and send new rows — they still join the deleted rows."""

import asyncio
import json
import time

from ksqlpy.log.base import records
from ksqlpy.runtime.engine import Engine, EngineConfig

OLD = 1_000_000  # timestamps from 1970: past any retention

# one frame per segment, so retention can delete all but the last append
SMALL_SEGMENTS = {"segment.bytes": "1", "retention.ms": str(24 * 3600 * 1000)}


def _int(i: int) -> bytes:
    return i.to_bytes(4, "big", signed=True)


async def _append(engine, topic: str, rows: list[tuple[int, dict | None]], ts: int) -> None:
    await engine.log.append(topic, 0, records(
        [_int(k) for k, _ in rows], [None if v is None else json.dumps(v).encode()
                                     for _, v in rows], [ts + i for i in range(len(rows))]))


def _engine(data_dir: str, run_queries: bool = True) -> Engine:
    return Engine(EngineConfig(data_dir=data_dir, run_queries=run_queries,
                               properties={"auto.offset.reset": "earliest"}))


async def _first_run(data_dir: str, now: int) -> None:
    engine = _engine(data_dir)
    await engine.start()
    await engine.log.create_topic("s", 1)
    await engine.log.create_topic("t", 1, config=SMALL_SEGMENTS)
    await engine.log.create_topic("u", 1, config=SMALL_SEGMENTS)
    await _append(engine, "t", [(i, {"f": f"f{i}"}) for i in range(20)], OLD)
    # u.ref: rows 0..4 refer to t 15..19, the others to t 0..14
    await _append(engine, "u", [(i, {"ref": (i + 15) % 20, "x": i}) for i in range(20)], OLD)
    await _append(engine, "s", [(i, {"x": i}) for i in range(20)], OLD + 100)
    # recent rows in the tables' last segments, which retention keeps
    await _append(engine, "t", [(999, {"f": "recent"})], now)
    await _append(engine, "u", [(999, {"ref": 999, "x": 999})], now)
    for ddl in ("CREATE STREAM s (id INT KEY, x INT) WITH (kafka_topic='s', value_format='JSON');",
                ("CREATE TABLE t (id INT PRIMARY KEY, f STRING) "
                 "WITH (kafka_topic='t', value_format='JSON');"),
                ("CREATE TABLE u (id INT PRIMARY KEY, ref INT, x INT) "
                 "WITH (kafka_topic='u', value_format='JSON');"),
                "CREATE STREAM st AS SELECT s.id, s.x, t.f FROM s JOIN t ON s.id = t.id;",
                "CREATE TABLE tt AS SELECT u.id, u.x, t.f FROM u JOIN t ON u.id = t.id;",
                "CREATE TABLE fk AS SELECT u.id, u.x, t.f FROM u JOIN t ON u.ref = t.id;"):
        await engine.execute(ddl)
    await engine.run_until_idle(timeout=60)
    await engine.close()


async def _truncate_and_send(data_dir: str, now: int) -> dict:
    engine = _engine(data_dir, run_queries=False)
    await engine.start()
    deleted = await engine.log.apply_retention(now)
    starts = {t: engine.log.start_offset(t, 0) for t in ("t", "u")}
    await _append(engine, "s", [(i, {"x": 100 + i}) for i in range(20)], now + 1000)
    await _append(engine, "u", [(i, {"ref": (i + 15) % 20, "x": 100 + i}) for i in range(10)],
                  now + 2000)
    await _append(engine, "t", [(i, {"f": f"g{i}"}) for i in range(15, 20)], now + 3000)
    await engine.close()
    return {"deleted": deleted, **starts}


async def _restart(data_dir: str) -> dict:
    engine = _engine(data_dir)
    await engine.start()
    await engine.run_until_idle(timeout=60)
    out = {}
    for topic in ("ST", "TT", "FK"):
        batch = await engine.log.read(topic, 0, 0, 100_000)
        out[topic] = [(int.from_bytes(k, "big", signed=True), None if v is None else json.loads(v))
                      for k, v in zip(batch.column("key").to_pylist(),
                                      batch.column("value").to_pylist())]
    await engine.close()
    return out


def _latest(rows):
    table = {}
    for k, v in rows:
        table[k] = v
    return {k: v for k, v in table.items() if v is not None}


def test_joins_restore_state_deleted_from_their_sources(tmp_path):
    data_dir = str(tmp_path / "data")
    now = int(time.time() * 1000)
    asyncio.run(_first_run(data_dir, now))
    truncated = asyncio.run(_truncate_and_send(data_dir, now))
    assert truncated["deleted"] >= 2 and truncated["t"] == 20 and truncated["u"] == 20
    out = asyncio.run(_restart(data_dir))

    # stream–table: the second batch of stream rows still finds every table row
    assert out["ST"][:20] == [(i, {"X": i, "F": f"f{i}"}) for i in range(20)]
    assert out["ST"][20:] == [(i, {"X": 100 + i, "F": f"f{i}"}) for i in range(20)]

    f = {i: f"g{i}" if i >= 15 else f"f{i}" for i in range(20)}
    x = {i: 100 + i if i < 10 else i for i in range(20)}
    # table–table: u's updates join t's old rows, t's updates join u's old rows
    assert _latest(out["TT"]) == {**{i: {"X": x[i], "F": f[i]} for i in range(20)},
                                  999: {"X": 999, "F": "recent"}}
    assert len(out["TT"]) == 21 + 10 + 5
    # foreign key: the same through u.ref
    assert _latest(out["FK"]) == {**{i: {"X": x[i], "F": f[(i + 15) % 20]} for i in range(20)},
                                  999: {"X": 999, "F": "recent"}}
    assert len(out["FK"]) == 21 + 10 + 5
