"""Kafka's default partitioner (stage: sink): murmur2 of the key bytes, so records land in
the same partitions as they would under ksqlDB. Null keys go to partition 0."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils.murmur2)."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = (data[i4] & 0xFF) | ((data[i4 + 1] & 0xFF) << 8) | \
            ((data[i4 + 2] & 0xFF) << 16) | ((data[i4 + 3] & 0xFF) << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    extra = length % 4
    idx = length & ~3
    if extra == 3:
        h ^= (data[idx + 2] & 0xFF) << 16
    if extra >= 2:
        h ^= (data[idx + 1] & 0xFF) << 8
    if extra >= 1:
        h ^= data[idx] & 0xFF
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partitions_for(keys: pa.Array, partitions: int) -> list[int]:
    """The partition of each record."""
    if partitions <= 1:
        return [0] * len(keys)
    out = []
    for k in keys.to_pylist():
        out.append(0 if k is None else (murmur2(k) & 0x7FFFFFFF) % partitions)
    return out


def split_by_partition(batch: pa.RecordBatch, partitions: int) -> dict[int, pa.RecordBatch]:
    if partitions <= 1:
        return {0: batch}
    parts = partitions_for(batch.column("key"), partitions)
    out = {}
    for p in sorted(set(parts)):
        out[p] = batch.filter(pa.array([x == p for x in parts]))
    return out


def split_in_order(batch: pa.RecordBatch, partitions: int) -> list[tuple[int, pa.RecordBatch]]:
    """``batch`` as (partition, records) appends. Where it costs few appends (at most two
    runs per partition) the records keep their order across partitions, as consecutive
    same-partition runs; a larger interleaving is grouped by partition (one append each),
    which keeps the order within each partition, all Kafka promises."""
    if partitions <= 1:
        return [(0, batch)]
    parts = np.asarray(partitions_for(batch.column("key"), partitions))
    if len(parts) == 0:
        return []
    starts = np.concatenate(([0], np.flatnonzero(np.diff(parts)) + 1))
    if len(starts) <= 2 * partitions:
        ends = np.append(starts[1:], len(parts))
        return [(int(parts[a]), batch.slice(a, b - a)) for a, b in zip(starts, ends)]
    return [(p, batch.filter(pa.array(parts == p))) for p in np.unique(parts).tolist()]
