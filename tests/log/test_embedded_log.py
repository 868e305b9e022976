"""EmbeddedLog specifics (storage edge of the pipeline): durability, recovery, retention, lock."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from ksqlpy.log import EmbeddedLog, LogClosedError, LogCorruptError, LogLockedError, records


def batch(n, start=0, ts0=1000, size=1):
    return records([f"k{i}".encode() for i in range(start, start + n)],
                   [f"v{i}".encode() * size for i in range(start, start + n)],
                   [ts0 + i for i in range(start, start + n)])


def segments(data: Path, topic_dir_suffix: str, partition: int = 0) -> list[Path]:
    [tdir] = [d for d in (data / "topics").iterdir() if d.name.endswith(topic_dir_suffix)]
    return sorted((tdir / str(partition)).glob("*.seg"))


def values(rb):
    return rb.column("value").to_pylist()


def test_data_and_group_offsets_survive_reopen(tmp_path):
    async def write():
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t", 2, config={"retention.ms": "-1"})
        await log.append("t", 0, batch(5))
        txn = log.transaction()
        txn.append("t", 1, batch(3))
        txn.commit_offsets("g", {("t", 0): 4})
        await txn.commit()
        await log.close()

    async def check():
        log = EmbeddedLog(tmp_path)
        info = log.topic("t")
        assert (info.partitions, info.config) == (2, {"retention.ms": "-1"})
        assert log.end_offset("t", 0) == 5 and log.end_offset("t", 1) == 3
        assert values(await log.read("t", 0, 0)) == [f"v{i}".encode() for i in range(5)]
        assert log.committed("g", "t", 0) == 4
        assert await log.append("t", 0, batch(1, start=5)) == 5  # offsets continue
        await log.close()
        log = EmbeddedLog(tmp_path)
        assert log.end_offset("t", 0) == 6
        await log.close()

    asyncio.run(write())
    asyncio.run(check())


def test_torn_tail_is_truncated_on_open(tmp_path):
    async def write():
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t")
        await log.append("t", 0, batch(3))
        await log.append("t", 0, batch(3, start=3))
        await log.close()

    asyncio.run(write())
    [seg] = segments(tmp_path, "-t")
    good_size = seg.stat().st_size
    frame = seg.read_bytes()[: good_size // 2]
    with open(seg, "ab") as f:  # half a frame copied from the start, then garbage
        f.write(frame[: len(frame) // 2] + b"\xde\xad\xbe\xef" * 10)

    async def check():
        log = EmbeddedLog(tmp_path)
        assert seg.stat().st_size == good_size
        assert log.end_offset("t", 0) == 6
        assert values(await log.read("t", 0, 0)) == [f"v{i}".encode() for i in range(6)]
        assert await log.append("t", 0, batch(1, start=6)) == 6
        assert values(await log.read("t", 0, 6)) == [b"v6"]
        await log.close()

    asyncio.run(check())


def test_uncommitted_segment_and_manifest_tmp_are_removed(tmp_path):
    async def write():
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t")
        await log.append("t", 0, batch(3))
        await log.close()

    asyncio.run(write())
    [seg] = segments(tmp_path, "-t")
    stray = seg.with_name(f"{3:020d}.seg")
    stray.write_bytes(b"uncommitted")
    (tmp_path / "MANIFEST.tmp").write_text("{half")
    (tmp_path / "topics" / "99-ghost").mkdir()

    async def check():
        log = EmbeddedLog(tmp_path)
        assert not stray.exists() and not (tmp_path / "MANIFEST.tmp").exists()
        assert not (tmp_path / "topics" / "99-ghost").exists()
        assert await log.append("t", 0, batch(1, start=3)) == 3
        await log.close()

    asyncio.run(check())


def test_checksum_mismatch_is_detected(tmp_path):
    async def write():
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t")
        await log.append("t", 0, batch(3))
        await log.append("t", 0, batch(3, start=3))
        await log.close()

    asyncio.run(write())
    [seg] = segments(tmp_path, "-t")
    data = bytearray(seg.read_bytes())
    data[100] ^= 0xFF  # inside the first frame's body
    seg.write_bytes(bytes(data))

    async def check():
        log = EmbeddedLog(tmp_path)  # opens: only the newest frame is checked eagerly
        with pytest.raises(LogCorruptError):
            await log.read("t", 0, 0)
        assert values(await log.read("t", 0, 3)) == [b"v3", b"v4", b"v5"]
        await log.close()

    asyncio.run(check())


def test_missing_committed_data_is_an_error(tmp_path):
    async def write():
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t")
        await log.append("t", 0, batch(3))
        await log.close()

    asyncio.run(write())
    [seg] = segments(tmp_path, "-t")
    os.truncate(seg, seg.stat().st_size - 8)
    with pytest.raises(LogCorruptError):
        EmbeddedLog(tmp_path)
    # The failed open released the lock: a retry gets the same error, not LogLockedError.
    with pytest.raises(LogCorruptError):
        EmbeddedLog(tmp_path)


def test_segments_roll_and_reads_span_them(tmp_path):
    async def body():
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t", config={"segment.bytes": 4096})
        for i in range(20):
            await log.append("t", 0, batch(10, start=10 * i, size=20))
        assert len(segments(tmp_path, "-t")) > 3
        got = await log.read("t", 0, 0, max_records=1000)
        assert got.column("offset").to_pylist() == list(range(200))
        await log.close()
        log = EmbeddedLog(tmp_path)
        got = await log.read("t", 0, 55, max_records=1000)
        assert got.column("offset").to_pylist() == list(range(55, 200))
        assert await log.append("t", 0, batch(1, start=200)) == 200
        await log.close()

    asyncio.run(body())


def test_retention_deletes_old_segments(tmp_path):
    async def body():
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t", config={"segment.bytes": 2048, "retention.ms": 1000})
        for i in range(10):  # timestamps 10_000 * i …
            await log.append("t", 0, batch(10, start=10 * i, ts0=10_000 * i - 10 * i, size=10))
        before = segments(tmp_path, "-t")
        assert len(before) > 3
        assert await log.apply_retention(now_ms=0) == 0  # nothing old enough
        deleted = await log.apply_retention(now_ms=50_000)
        assert deleted > 0
        start = log.start_offset("t", 0)
        assert 0 < start <= 50
        assert len(segments(tmp_path, "-t")) == len(before) - deleted
        got = await log.read("t", 0, 0, max_records=1000)  # before the start: from the start
        assert got.column("offset").to_pylist() == list(range(start, 100))
        # Everything expired: the active segment stays.
        await log.apply_retention(now_ms=10**12)
        assert len(segments(tmp_path, "-t")) == 1
        assert log.end_offset("t", 0) == 100
        start = log.start_offset("t", 0)
        await log.close()
        log = EmbeddedLog(tmp_path)  # retention is durable
        assert log.start_offset("t", 0) == start
        assert (await log.read("t", 0, 0)).column("offset").to_pylist()[0] == start
        await log.close()

    asyncio.run(body())


def test_retention_bytes(tmp_path):
    async def body():
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t", config={"segment.bytes": 2048, "retention.bytes": 4096})
        await log.create_topic("keep", config={"segment.bytes": 2048})  # no retention set
        for i in range(20):
            await log.append("t", 0, batch(10, start=10 * i, size=10))
            await log.append("keep", 0, batch(10, start=10 * i, size=10))
        await log.apply_retention()
        sizes = [p.stat().st_size for p in segments(tmp_path, "-t")]
        assert sum(sizes) >= 4096 and sum(sizes) - sizes[0] < 4096
        assert log.start_offset("t", 0) > 0
        assert log.start_offset("keep", 0) == 0
        await log.close()

    asyncio.run(body())


def test_delete_topic_removes_files(tmp_path):
    async def body():
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t")
        await log.append("t", 0, batch(3))
        assert len(list((tmp_path / "topics").iterdir())) == 1
        await log.delete_topic("t")
        assert list((tmp_path / "topics").iterdir()) == []
        await log.close()
        log = EmbeddedLog(tmp_path)
        assert log.topics() == []
        await log.close()

    asyncio.run(body())


def test_lock_prevents_second_writer(tmp_path):
    async def body():
        log = EmbeddedLog(tmp_path)
        with pytest.raises(LogLockedError, match=f"pid {os.getpid()}"):
            EmbeddedLog(tmp_path)
        await log.close()
        again = EmbeddedLog(tmp_path)  # released by close
        await again.close()

    asyncio.run(body())


def test_closed_log_refuses_writes(tmp_path):
    async def body():
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t")
        await log.close()
        with pytest.raises(LogClosedError):
            await log.append("t", 0, batch(1))

    asyncio.run(body())


def test_cancelled_commit_still_completes(tmp_path):
    async def body():
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t")
        task = asyncio.create_task(log.append("t", 0, batch(5)))
        await asyncio.sleep(0)  # let it reach the write thread
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await log.append("t", 0, batch(1, start=5)) == 5  # the cancelled one landed
        await log.close()
        log = EmbeddedLog(tmp_path)
        assert values(await log.read("t", 0, 0)) == [f"v{i}".encode() for i in range(6)]
        await log.close()

    asyncio.run(body())


def test_manifest_is_readable_json(tmp_path):
    async def body():
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t")
        await log.append("t", 0, batch(2))
        await log.close()

    asyncio.run(body())
    doc = json.loads((tmp_path / "MANIFEST.json").read_text())
    assert doc["topics"]["t"]["log"][0]["end"] == 2


def test_log_outlives_an_event_loop(tmp_path):
    log = EmbeddedLog(tmp_path)
    asyncio.run(log.create_topic("t"))
    asyncio.run(log.append("t", 0, batch(1)))
    assert asyncio.run(log.wait({("t", 0): 0}, 0.01)) is True
    asyncio.run(log.close())


def test_failed_commit_is_rolled_back(tmp_path, monkeypatch):
    async def body():
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t", config={"segment.bytes": 4096})
        await log.append("t", 0, batch(3))
        real = os.fdatasync

        def failing(fd):
            raise OSError("disk on fire")
        monkeypatch.setattr(os, "fdatasync", failing)
        with pytest.raises(OSError, match="disk on fire"):
            await log.append("t", 0, batch(100, start=3, size=50))  # also rolls a segment
        monkeypatch.setattr(os, "fdatasync", real)
        assert log.end_offset("t", 0) == 3
        assert len(segments(tmp_path, "-t")) == 1  # the rolled segment was removed
        assert await log.append("t", 0, batch(2, start=3)) == 3
        await log.close()
        log = EmbeddedLog(tmp_path)
        assert values(await log.read("t", 0, 0)) == [f"v{i}".encode() for i in range(5)]
        await log.close()

    asyncio.run(body())
