"""Columnar aggregation (stage: execution): the production-emit fast path of GROUP BY.

Used instead of :class:`~ksqlpy.operators.aggregate.Aggregate` when each batch emits one
update per key (the record cache, ``cache.max.bytes.buffering`` > 0), the input is a stream,
the window (if any) is tumbling, keys are primitive and every call is COUNT, or SUM / AVG of
INT, BIGINT or DOUBLE. Accumulators live in numpy arrays indexed by a slot per state key, so
a batch costs one Arrow hash aggregation, one dict lookup per group and a few vectorized
updates — no per-record or per-accumulator Python.
"""

from __future__ import annotations

import bisect
import pickle
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.aggregates.basic import Avg, Count, Sum
from ksqlpy.operators.aggregate import SNAPSHOT, Aggregate, since_snapshot

_INT32 = 2 ** 31
_MIN_TS = np.iinfo(np.int64).min


def _wrap_int(a: np.ndarray) -> np.ndarray:
    return (a + _INT32) % (2 * _INT32) - _INT32


class ColumnarAggregate(Aggregate):
    @staticmethod
    def supports(calls, key_fns, window, emit_per_record: bool, table_key) -> bool:
        if emit_per_record or table_key is not None:
            return False
        if window is not None and window.kind != "TUMBLING":
            return False
        if any(pa.types.is_nested(f.type.to_arrow()) for f in key_fns):
            return False
        for c in calls:
            fn = c.fn
            if type(fn) is Count:
                continue
            if type(fn) is Sum and fn.type.base in ("INTEGER", "BIGINT", "DOUBLE"):
                continue
            if type(fn) is Avg and fn.base in ("INTEGER", "BIGINT", "DOUBLE"):
                continue
            return False
        return True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.slot_of: dict = {}
        self.slot_keys: list = []
        self.capacity = 0
        self.ts_acc = np.zeros(0, np.int64)
        # per call: the numpy accumulators (COUNT: [n]; SUM: [sum]; AVG: [sum, n])
        self.acc_types = []
        for c in self.calls:
            fn = c.fn
            if type(fn) is Count:
                self.acc_types.append([np.int64])
            else:
                base = fn.type.base if type(fn) is Sum else fn.base
                t = np.float64 if base == "DOUBLE" else np.int64
                self.acc_types.append([t] if type(fn) is Sum else [t, np.int64])
        self.accs = [[np.zeros(0, t) for t in ts] for ts in self.acc_types]
        self.dirty_slots: set[int] = set()
        self.removed: list = []
        self.slot_part = np.zeros(0, np.int32)  # changelog partition of each slot (-1: none)

    # -- slots ------------------------------------------------------------------------------
    def _grow(self, need: int) -> None:
        if need <= self.capacity:
            return
        cap = max(need, 2 * self.capacity, 1024)
        self.ts_acc = np.concatenate([self.ts_acc, np.zeros(cap - self.capacity, np.int64)])
        self.slot_part = np.concatenate([self.slot_part,
                                         np.full(cap - self.capacity, -1, np.int32)])
        for group, types in zip(self.accs, self.acc_types):
            for i, t in enumerate(types):
                group[i] = np.concatenate([group[i], np.zeros(cap - self.capacity, t)])
        self.capacity = cap

    def _slots(self, keys: list) -> np.ndarray:
        """The slot of each state key, allocating fresh ones in bulk (most keys of a
        time-windowed batch are new: a new window for each key)."""
        get = self.slot_of.get
        slots = np.fromiter((get(k, -1) for k in keys), np.int64, len(keys))
        fresh = np.flatnonzero(slots < 0)
        if len(fresh):
            fresh_keys = [keys[i] for i in fresh.tolist()]
            base, m = len(self.slot_keys), len(fresh_keys)
            self._grow(base + m)
            self.slot_of.update(zip(fresh_keys, range(base, base + m)))
            self.slot_keys.extend(fresh_keys)
            slots[fresh] = np.arange(base, base + m)
            self.ts_acc[base:base + m] = _MIN_TS  # slots are never reused: accs start at 0
            if self.window is not None:
                for k in fresh_keys:
                    self._index_window(k)
        return slots

    # -- processing -------------------------------------------------------------------------
    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        n = batch.num_rows
        if n == 0:
            return ()
        grouped, group_cols, agg_idx = self._pre_aggregate(batch)
        if grouped.num_rows == 0:
            return self._emit_closed()
        partials = [grouped.column(i).fill_null(0).to_numpy(zero_copy_only=False)
                    for i in agg_idx]
        key_lists = [grouped.column(g).to_pylist() for g in group_cols]
        keys = list(zip(*key_lists))
        slots = self._slots(keys)
        self.ts_acc[slots] = np.maximum(self.ts_acc[slots], partials[0])
        r = 1
        for group in self.accs:
            for a in group:
                a[slots] = a[slots] + partials[r]
                r += 1
        self._wrap_sums(slots)
        self.dirty_slots.update(slots.tolist())
        out = [self._output(grouped, group_cols, slots)] if not self.emit_final else []
        closed = self._emit_closed()
        if self.emit_final:
            return closed
        return out

    def _wrap_sums(self, slots) -> None:
        for c, group in zip(self.calls, self.accs):
            fn = c.fn
            base = fn.type.base if type(fn) is Sum else getattr(fn, "base", None)
            if type(fn) is not Count and base == "INTEGER":
                group[0][slots] = _wrap_int(group[0][slots])

    def _results(self, slots: np.ndarray) -> list[pa.Array]:
        out = []
        for c, group in zip(self.calls, self.accs):
            fn = c.fn
            if type(fn) is Avg:
                total, count = group[0][slots].astype(np.float64), group[1][slots]
                with np.errstate(divide="ignore", invalid="ignore"):
                    avg = np.where(count > 0, total / np.maximum(count, 1), 0.0)
                out.append(pa.array(avg, pa.float64()))
            else:
                out.append(pa.array(group[0][slots]).cast(fn.type.to_arrow()))
        return out

    def _output(self, grouped, group_cols, slots) -> pa.RecordBatch:
        arrays = [pa.array(self.ts_acc[slots], pa.int64())]
        nk = len(self.key_fns)
        arrays += [grouped.column(g).combine_chunks().cast(f)
                   for g, f in zip(group_cols[:nk], self.output_schema.types[1:1 + nk])]
        if self.window is not None:
            ws = grouped.column("ws").combine_chunks()
            arrays += [ws, pc.add(ws, pa.scalar(self.window.size, pa.int64()))]
        arrays += self._results(slots)
        arrays.append(pa.array(np.ones(len(slots), bool)))
        return pa.RecordBatch.from_arrays(arrays, schema=self.output_schema)

    def _emit_closed(self):
        """Close windows past end + grace: under EMIT FINAL emit them, always forget them."""
        if self.window is None:
            return ()
        grace = self.window.grace_ms
        closed = []
        while self.ends and self.ends[0] + grace <= self.stream_time:
            closed.extend(self.by_end.pop(self.ends.pop(0)))
        if not closed:
            return ()
        closed.sort(key=lambda k: (k[-1], k))
        slots = np.asarray([self.slot_of[k] for k in closed], np.int64)
        out = ()
        if self.emit_final:
            nk = len(self.key_fns)
            arrays = [pa.array(self.ts_acc[slots], pa.int64())]
            for j, f in enumerate(self.output_schema.types[1:1 + nk]):
                arrays.append(pa.array([k[j] for k in closed], f))
            ws = pa.array([k[-1] for k in closed], pa.int64())
            arrays += [ws, pc.add(ws, pa.scalar(self.window.size, pa.int64()))]
            arrays += self._results(slots)
            arrays.append(pa.array(np.ones(len(slots), bool)))
            out = (pa.RecordBatch.from_arrays(arrays, schema=self.output_schema),)
        for k in closed:
            del self.slot_of[k]
        self.removed.extend(closed)
        return out

    def _index_window(self, key) -> None:
        end = key[-1] + self.window.size
        keys = self.by_end.get(end)
        if keys is None:
            self.by_end[end] = keys = []
            bisect.insort(self.ends, end)
        keys.append(key)

    # -- state ------------------------------------------------------------------------------
    def changelog(self, partition: int | None = None):
        if not self.dirty_slots and not self.removed:
            return []
        live = [s for s in self.dirty_slots if self.slot_of.get(self.slot_keys[s]) == s]
        slots = np.asarray(live, np.int64)
        if partition is not None:
            self.slot_part[slots] = partition
        change = {"keys": [self.slot_keys[s] for s in live], "ts": self.ts_acc[slots],
                  "accs": [[a[slots] for a in group] for group in self.accs],
                  "removed": self.removed, "time": self.stream_time}
        self.dirty_slots = set()
        self.removed = []
        return [(b"columnar", pickle.dumps(change, protocol=pickle.HIGHEST_PROTOCOL))]

    def snapshot(self, partition: int | None = None):
        """Every live slot (of changelog ``partition``; None: all) as one record."""
        slots = np.fromiter(self.slot_of.values(), np.int64, len(self.slot_of))
        if partition is not None:
            slots = slots[self.slot_part[slots] == partition]
        change = {"keys": [self.slot_keys[s] for s in slots.tolist()],
                  "ts": self.ts_acc[slots],
                  "accs": [[a[slots] for a in group] for group in self.accs],
                  "removed": [], "time": self.stream_time}
        return [(SNAPSHOT, pickle.dumps(change, protocol=pickle.HIGHEST_PROTOCOL))]

    def restore_changelog(self, records, partition: int | None = None) -> None:
        snap, records = since_snapshot(records)
        if snap:  # the snapshot replaces the partition's slots
            for k in [k for k, s in self.slot_of.items()
                      if partition is None or self.slot_part[s] == partition]:
                del self.slot_of[k]
        for _, v in records:
            change = pickle.loads(v)
            if change["keys"]:
                slots = self._slots(change["keys"])
                self.ts_acc[slots] = change["ts"]
                for group, values in zip(self.accs, change["accs"]):
                    for a, val in zip(group, values):
                        a[slots] = val
                if partition is not None:
                    self.slot_part[slots] = partition
            for k in change["removed"]:
                self.slot_of.pop(k, None)
            self.stream_time = max(self.stream_time, change["time"])
        if self.window is not None:
            self.ends, self.by_end = [], {}
            for k in self.slot_of:
                self._index_window(k)
