"""kill -9 running stream–stream outer joins with a GRACE PERIOD several times mid-stream:
after the last restart their output equals an uninterrupted run's, record for record. Join
state — both sides' windows and the unmatched rows waiting for their window to close, and
which of those were already emitted — is restored from the join's changelog, so no
null-padded row is emitted twice and no match or unmatched row is lost."""

import asyncio
import json
import random

from ksqlpy.log.base import records
from ksqlpy.runtime.engine import Engine, EngineConfig
from tests.recovery.killer import kill_repeatedly

N = 12_000
IDS = 300


def _inputs():
    """(side, partition, id, n, ts) in arrival order: runs of one side and partition (so
    batches stay large), ids of partition p are ≡ p mod 2, timestamps slightly out of order."""
    rnd = random.Random(5)
    out = []
    i = 0
    while i < N:
        side, p = rnd.choice("lr"), rnd.randrange(2)
        for _ in range(rnd.randint(10, 40)):
            ident = rnd.randrange(IDS // 2) * 2 + p
            out.append((side, p, ident, i, i * 10 - rnd.randint(0, 300)))
            i += 1
    return out


async def _setup(data_dir: str, rows) -> None:
    engine = Engine(EngineConfig(data_dir=data_dir, run_queries=False))
    await engine.start()
    for topic in ("l", "r"):
        await engine.log.create_topic(topic, 2)
        for p in range(2):
            mine = [row for row in rows if row[0] == topic and row[1] == p]
            for base in range(0, len(mine), 500):
                chunk = mine[base:base + 500]
                await engine.log.append(topic, p, records(
                    [str(ident).encode() for _, _, ident, _, _ in chunk],
                    [json.dumps({"n": n}).encode() for _, _, _, n, _ in chunk],
                    [ts for _, _, _, _, ts in chunk]))
    await engine.execute("CREATE STREAM l (id VARCHAR KEY, n INT) "
                         "WITH (kafka_topic='l', value_format='JSON');")
    await engine.execute("CREATE STREAM r (id VARCHAR KEY, n INT) "
                         "WITH (kafka_topic='r', value_format='JSON');")
    await engine.execute("CREATE STREAM lj AS SELECT l.id, l.n AS ln, r.n AS rn FROM l "
                         "LEFT JOIN r WITHIN 1 SECOND GRACE PERIOD 2 SECONDS ON l.id = r.id;")
    await engine.execute("CREATE STREAM fj AS SELECT ROWKEY AS id, l.n AS ln, r.n AS rn "
                         "FROM l FULL OUTER JOIN r WITHIN (500 MILLISECONDS, 1 SECOND) "
                         "GRACE PERIOD 1 SECOND ON l.id = r.id;")
    await engine.close()


async def _outputs(data_dir: str) -> dict:
    """Every output record of both queries: (key, LN, RN, timestamp) per sink partition."""
    engine = Engine(EngineConfig(data_dir=data_dir, run_queries=False))
    await engine.start()
    out = {}
    for topic in ("LJ", "FJ"):
        info = engine.log.topic(topic)
        for p in range(info.partitions):
            batch = await engine.log.read(topic, p, 0, 10 * N)
            out[(topic, p)] = [(k, json.loads(v)["LN"], json.loads(v)["RN"], ts)
                               for k, v, ts in zip(batch.column("key").to_pylist(),
                                                   batch.column("value").to_pylist(),
                                                   batch.column("timestamp").to_pylist())]
    await engine.close()
    return out


def test_kill9_outer_joins_match_an_uninterrupted_run(tmp_path):
    rows = _inputs()
    reference, killed = str(tmp_path / "reference"), str(tmp_path / "killed")
    asyncio.run(_setup(reference, rows))
    asyncio.run(_setup(killed, rows))
    kill_repeatedly(reference, rounds=0)
    kills = kill_repeatedly(killed, seed=3)
    assert kills >= 3
    expected, got = asyncio.run(_outputs(reference)), asyncio.run(_outputs(killed))

    for topic in ("LJ", "FJ"):
        rows_out = [r for (t, _), part in expected.items() if t == topic for r in part]
        # the test means something: matches and both kinds of null-padded rows
        assert any(r[1] is not None and r[2] is not None for r in rows_out)
        assert any(r[2] is None for r in rows_out)
        if topic == "FJ":
            assert any(r[1] is None for r in rows_out)
        # an uninterrupted run emits each pair, and each unmatched row, once
        assert len({(r[1], r[2]) for r in rows_out}) == len(rows_out)
    for tp in expected:
        dupes = len(got[tp]) - len(set(got[tp]))
        missing = set(expected[tp]) - set(got[tp])
        assert (dupes, len(missing)) == (0, 0), f"{tp}: {dupes} duplicated, {len(missing)} lost"
        assert got[tp] == expected[tp], f"{tp}: same records, different order"
