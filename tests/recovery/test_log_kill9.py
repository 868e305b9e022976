"""kill -9 against the embedded log (the storage edge of the pipeline).

A real subprocess appends transactions in a loop — the same records to two partitions plus the
group offset for both, so cross-partition atomicity is visible — and prints the last offset of
each acknowledged commit. We SIGKILL it at random moments, reopen the same directory, and check
that every acknowledged record is there exactly once with the right content, offsets are
contiguous, both partitions and the group offsets agree, and nothing torn is readable.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time

from ksqlpy.log import EmbeddedLog

WRITER = r'''
import asyncio, random, sys
from ksqlpy.log import EmbeddedLog, records

def make(start, n):
    idx = range(start, start + n)
    return records([b"k%d" % o for o in idx], [b"value-%d-" % o + b"x" * (o % 50) for o in idx],
                   list(idx), [[{"key": "o", "value": b"%d" % o}] for o in idx])

async def main(data_dir, seed):
    rnd = random.Random(seed)
    log = EmbeddedLog(data_dir)
    if log.topic("t") is None:
        await log.create_topic("t", 2, config={"segment.bytes": "262144"})
    nxt = log.end_offset("t", 0)
    while True:
        n = rnd.randint(1, 400)
        batch = make(nxt, n)
        txn = log.transaction()
        txn.append("t", 0, batch)
        txn.append("t", 1, batch)
        txn.commit_offsets("g", {("t", 0): nxt + n, ("t", 1): nxt + n})
        firsts = await txn.commit()
        assert firsts == {("t", 0): nxt, ("t", 1): nxt}, firsts
        nxt += n
        print(nxt - 1, flush=True)  # acknowledged: durable from here on

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
'''


def expected(lo: int, hi: int):
    idx = range(lo, hi)
    return ([b"k%d" % o for o in idx], [b"value-%d-" % o + b"x" * (o % 50) for o in idx],
            list(idx), [[{"key": "o", "value": b"%d" % o}] for o in idx])


async def verify(data_dir, acked: int, checked: int) -> int:
    """Check the log against ``acked``; content is checked from ``checked`` on. Returns end."""
    log = EmbeddedLog(data_dir)
    try:
        if log.topic("t") is None:
            assert acked < 0
            return 0
        end = log.end_offset("t", 0)
        assert end > acked, f"acknowledged offset {acked} lost (end {end})"
        for p in (0, 1):
            assert log.end_offset("t", p) == end, "a transaction landed in one partition only"
            assert log.committed("g", "t", p) == end, "group offset disagrees with the data"
            offset, rows = checked, []
            while (got := await log.read("t", p, offset, max_records=5000)).num_rows:
                offsets = got.column("offset").to_pylist()
                assert offsets == list(range(offset, offset + got.num_rows)), "gap or duplicate"
                rows.append(got)
                offset += got.num_rows
            assert offset == end
            keys, values, timestamps, headers = expected(checked, end)
            assert [k for r in rows for k in r.column("key").to_pylist()] == keys
            assert [v for r in rows for v in r.column("value").to_pylist()] == values
            assert [t for r in rows for t in r.column("timestamp").to_pylist()] == timestamps
            assert [h for r in rows for h in r.column("headers").to_pylist()] == headers
        return end
    finally:
        await log.close()


def test_kill9_loses_no_acknowledged_record(tmp_path):
    seed = random.randrange(1 << 30)
    rnd = random.Random(seed)
    data_dir = tmp_path / "log"
    acked, checked, kills_mid_write = -1, 0, 0
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for round_no in range(8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(data_dir), str(seed + round_no)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        watchdog = threading.Timer(20, proc.kill)  # never hang the suite
        watchdog.start()
        try:
            first = proc.stdout.readline()  # the writer is committing from here on
            time.sleep(rnd.uniform(0.0, 0.3))
            proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate(timeout=20)
        finally:
            watchdog.cancel()
        assert first, f"writer died before its first commit (seed {seed}): {err.decode()}"
        assert proc.returncode == -signal.SIGKILL, err.decode()
        acked = max(acked, *(int(x) for x in (first + out).split()))
        # Bytes beyond what the manifest commits mean the kill landed inside a commit.
        kills_mid_write += _has_uncommitted_tail(data_dir)
        checked = asyncio.run(verify(data_dir, acked, checked))
    assert acked > 0
    print(f"seed {seed}: {acked + 1} records acknowledged, {kills_mid_write} kills mid-commit")


def _has_uncommitted_tail(data_dir) -> bool:
    import json
    manifest = json.loads((data_dir / "MANIFEST.json").read_text())
    t = manifest["topics"]["t"]
    for p, plog in enumerate(t["log"]):
        pdir = data_dir / "topics" / t["dir"] / str(p)
        committed = {f"{base:020d}.seg": size for base, size in plog["segments"]}
        for seg in pdir.iterdir():
            if seg.stat().st_size != committed.get(seg.name, -1):
                return True
    return False
