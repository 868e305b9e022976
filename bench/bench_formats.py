"""Benchmark of the batch serde (standalone): prints decode and encode records/s.

Usage: python bench/bench_formats.py [--records N] [--batch B]
"""

from __future__ import annotations

import argparse
import random
import time

import pyarrow as pa

from ksqlpy.formats import FormatInfo, get_format
from ksqlpy.schema import Column
from ksqlpy.types import BIGINT, DOUBLE, INTEGER, STRING


def make_records(n: int) -> list[bytes]:
    rnd = random.Random(7)
    out = []
    for i in range(n):
        out.append(
            ('{"order_id":"o%d","customer_id":"c%d","product_id":"p%d","quantity":%d,'
             '"price":%s,"ts":%d}' % (i, rnd.randrange(1000), rnd.randrange(100),
                                      rnd.randrange(1, 50), round(rnd.uniform(1, 100), 2),
                                      1700000000000 + i)).encode())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    args = ap.parse_args()
    n, bs = args.records, args.batch
    recs = make_records(n)
    batches = [pa.array(recs[i:i + bs], pa.binary()) for i in range(0, n, bs)]
    avg = sum(map(len, recs)) / n
    cols = [Column("ORDER_ID", STRING), Column("CUSTOMER_ID", STRING),
            Column("PRODUCT_ID", STRING), Column("QUANTITY", INTEGER),
            Column("PRICE", DOUBLE), Column("TS", BIGINT)]
    fmt = get_format(FormatInfo("JSON", {}), is_key=False)

    t0 = time.perf_counter()
    decoded = [fmt.decode(b, cols) for b in batches]
    dt = time.perf_counter() - t0
    assert all(not d.errors for d in decoded)
    print(f"JSON decode  {n:,} records ({avg:.0f} B, batches of {bs:,}): "
          f"{n / dt / 1e6:.2f} M records/s")

    enc_cols = [cols[0], cols[1], cols[4]]
    enc_batches = [[d.arrays[0], d.arrays[1], d.arrays[4]] for d in decoded]
    t0 = time.perf_counter()
    for arrays in enc_batches:
        fmt.encode(arrays, enc_cols)
    dt = time.perf_counter() - t0
    print(f"JSON encode  {n:,} records (STRING, STRING, DOUBLE): {n / dt / 1e6:.2f} M records/s")

    t0 = time.perf_counter()
    for b in batches[: max(1, len(batches) // 10)]:
        fmt.decode_slow(b, cols)
    m = min(n, bs * max(1, len(batches) // 10))
    dt = time.perf_counter() - t0
    print(f"JSON decode (record-level fallback path): {m / dt / 1e6:.2f} M records/s")

    dfmt = get_format(FormatInfo("DELIMITED", {}), is_key=False)
    dbatches = [dfmt.encode(d.arrays, cols).data for d in decoded]
    t0 = time.perf_counter()
    for b in dbatches:
        dfmt.decode(b, cols)
    dt = time.perf_counter() - t0
    print(f"DELIMITED decode: {n / dt / 1e6:.2f} M records/s")
    t0 = time.perf_counter()
    for d in decoded:
        dfmt.encode(d.arrays, cols)
    dt = time.perf_counter() - t0
    print(f"DELIMITED encode: {n / dt / 1e6:.2f} M records/s")


if __name__ == "__main__":
    main()
