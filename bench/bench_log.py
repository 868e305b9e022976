"""Benchmark the embedded log (the storage edge of the pipeline): write then read 1M records.

Usage: python bench/bench_log.py [--records N] [--batch N] [--value-bytes N] [--dir PATH]

Appends N records of ~110-byte values in batches, one commit (fsync + manifest) per batch, then
reads them all back from a freshly opened log (memory-mapped) and prints records/s for each.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time

import pyarrow as pa

from ksqlpy.log import EmbeddedLog, records


def make_batches(n: int, batch: int, value_bytes: int) -> list[pa.RecordBatch]:
    pad = "x" * max(value_bytes - 60, 0)
    out = []
    for start in range(0, n, batch):
        idx = range(start, min(start + batch, n))
        out.append(records(
            [f"key-{i}".encode() for i in idx],
            [f'{{"id":{i},"name":"user-{i}","amount":{i % 997}.25,"pad":"{pad}"}}'.encode()
             for i in idx],
            [1_700_000_000_000 + i for i in idx]))
    return out


async def run(n: int, batch: int, value_bytes: int, data_dir: str) -> None:
    batches = make_batches(n, batch, value_bytes)  # built up front: measure the log only
    avg = sum(b.column("value").nbytes for b in batches) / n
    log = EmbeddedLog(data_dir)
    await log.create_topic("bench", 1)
    t0 = time.perf_counter()
    for b in batches:
        await log.append("bench", 0, b)
    write_s = time.perf_counter() - t0
    await log.close()

    t0 = time.perf_counter()
    log = EmbeddedLog(data_dir)
    open_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    offset = total = 0
    value_bytes_read = 0
    while True:
        got = await log.read("bench", 0, offset, batch)
        if got.num_rows == 0:
            break
        value_bytes_read += got.column(3).nbytes  # touch the data the way a decoder would
        offset += got.num_rows
        total += got.num_rows
    read_s = time.perf_counter() - t0
    await log.close()
    assert total == n, (total, n)
    print(f"records: {n:,} in batches of {batch:,}, ~{avg:.0f} B values")
    print(f"write (commit per batch): {n / write_s / 1e6:.2f} M records/s  ({write_s:.3f} s)")
    print(f"reopen:                   {open_s * 1000:.1f} ms")
    print(f"read (first read, crc):   {n / read_s / 1e6:.2f} M records/s  ({read_s:.3f} s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--value-bytes", type=int, default=110)
    ap.add_argument("--dir", default=None, help="data directory (default: a temp dir, removed)")
    args = ap.parse_args()
    data_dir = args.dir or tempfile.mkdtemp(prefix="ksqlpy-bench-log-")
    try:
        asyncio.run(run(args.records, args.batch, args.value_bytes, data_dir))
    finally:
        if args.dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
