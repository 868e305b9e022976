"""Aggregation (stage: execution): GROUP BY over streams and tables, windowed or not.

Input: row batches of the source (after WHERE). Output: changelog rows of the aggregate
table — ``ROWTIME``, the group-key columns, ``WINDOWSTART``/``WINDOWEND`` when windowed, one
column per aggregate call (``KSQL_AGG_VARIABLE_<n>``) and ``__op``.

State is a dict from state key (group key, or group key + window) to the accumulators and
the max timestamp of the records they hold. With ``emit_per_record`` (ksqlDB with
``cache.max.bytes.buffering=0``) every update is emitted; otherwise one update per state key
per batch, like ksqlDB's record cache. Aggregating a table retracts the key's previous row
(``undo``) before adding the new one, so the table source's last row per key is kept too.
"""

from __future__ import annotations

import bisect
import pickle
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.aggregates import AggregateFunction
from ksqlpy.expr import Compiled
from ksqlpy.operators.base import OP_COL, Operator
from ksqlpy.operators.windows import WindowDef
from ksqlpy.schema import ROWTIME, WINDOWEND, WINDOWSTART


#: The key of a changelog record holding a whole store's state (of one changelog partition);
#: other records are diffs. Restoring a partition starts at its last snapshot.
SNAPSHOT = b"snapshot"


def since_snapshot(records: list) -> tuple[bool, list]:
    """(whether they start with a snapshot, the records from the last snapshot on): the diffs
    before a snapshot are covered by it (truncation leaves some of them)."""
    for i in range(len(records) - 1, -1, -1):
        if records[i][0] == SNAPSHOT:
            return True, records[i:]
    return False, records


class _Frozen:
    """A STRUCT/ARRAY/MAP group-key value: hashed by content, written back as itself."""

    __slots__ = ("value", "_h")

    def __init__(self, value):
        self.value = value
        self._h = _freeze(value)

    def __hash__(self):
        return hash(self._h)

    def __eq__(self, other):
        return isinstance(other, _Frozen) and self._h == other._h

    def __reduce__(self):
        return (_Frozen, (self.value,))


def _freeze(v):
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple((k, _freeze(x)) for k, x in v.items())
    return v


def _thaw(v):
    return v.value if isinstance(v, _Frozen) else v


@dataclass
class AggregateCall:
    fn: AggregateFunction
    args: list[Compiled]
    name: str                 # output column, KSQL_AGG_VARIABLE_<n>


class Aggregate(Operator):
    def __init__(self, key_names: list[str], key_fns: list[Compiled], calls: list[AggregateCall],
                 window: WindowDef | None = None, table_key: list[str] | None = None,
                 emit_per_record: bool = True, emit_final: bool = False):
        self.key_names = key_names
        self.key_fns = key_fns
        self.calls = calls
        self.window = window
        self.table_key = table_key          # source key columns when aggregating a table
        self.emit_per_record = emit_per_record
        self.emit_final = emit_final
        self.state: dict = {}               # state key -> [accs, max_ts]
        self.table_rows: dict = {}          # source key -> (group key, args) (table input)
        self.sessions: dict = {}            # group key -> sorted list of (start, end)
        self.stream_time = -1
        self.dirty: set = set()
        self.dirty_table: set = set()
        self.ends: list[int] = []           # sorted ends of open time windows
        self.by_end: dict[int, set] = {}    # window end -> state keys
        self.vectorized: bool | None = None
        self._evicted: dict = {}
        # changelog partition of each state entry (partitioned changelogs only), so a
        # snapshot of partition p holds exactly the entries restored from partition p
        self.part_of: dict = {}
        out = [pa.field(ROWTIME, pa.int64())]
        out += [pa.field(n, f.type.to_arrow()) for n, f in zip(key_names, key_fns)]
        if window is not None:
            out += [pa.field(WINDOWSTART, pa.int64()), pa.field(WINDOWEND, pa.int64())]
        out += [pa.field(c.name, c.fn.type.to_arrow()) for c in calls]
        out.append(pa.field(OP_COL, pa.bool_()))
        self.output_schema = pa.schema(out)

    # -- processing -------------------------------------------------------------------------
    def _vectorizable(self) -> bool:
        """One update per key per batch (the record cache), a stream, tumbling or no window,
        primitive keys, and functions whose batch partials merge exactly."""
        return (not self.emit_per_record and self.table_key is None
                and (self.window is None or self.window.kind == "TUMBLING")
                and all(not pa.types.is_nested(f.type.to_arrow()) for f in self.key_fns)
                and all(c.fn.partials and len(c.args) <= 1 for c in self.calls))

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        n = batch.num_rows
        if n == 0:
            return ()
        if self.vectorized is None:
            self.vectorized = self._vectorizable()
        if self.vectorized:
            return self._process_vectorized(batch)
        keys = [fn(batch).to_pylist() for fn in self.key_fns]
        args = [[a(batch).to_pylist() for a in c.args] for c in self.calls]
        ts = batch.column(ROWTIME).to_pylist()
        op_idx = batch.schema.get_field_index(OP_COL)
        ops = batch.column(op_idx).to_pylist() if op_idx >= 0 else [True] * n
        source_keys = None
        if self.table_key is not None:
            cols = [batch.column(k).to_pylist() for k in self.table_key]
            source_keys = list(zip(*cols)) if cols else [()] * n
        emitted: list = []
        if any(isinstance(v, (list, dict)) for col in keys for v in col):
            keys = [[_Frozen(v) if isinstance(v, (list, dict)) else v for v in col]
                    for col in keys]
        for i in range(n):
            row_key = tuple(k[i] for k in keys)
            row_args = [tuple(a[i] for a in call_args) for call_args in args]
            if source_keys is not None:
                self._table_row(source_keys[i], ops[i], row_key, row_args, ts[i], emitted)
                continue
            if not ops[i]:
                continue  # a null value on a stream carries nothing to aggregate
            if any(v is None for v in row_key):
                self._report_null_key(i)
                continue
            if self.window is None:
                self._update(row_key, row_args, ts[i], emitted, add=True)
            elif self.window.kind == "SESSION":
                self._session(row_key, row_args, ts[i], emitted)
            else:
                self._windowed(row_key, row_args, ts[i], emitted)
            if self.emit_final:  # windows close as stream time passes them, record by record
                emitted.extend(self._close_windows())
        if self.window is not None:
            closed = self._close_windows()
            if self.emit_final:
                emitted.extend(closed)
        if not self.emit_per_record and not self.emit_final:
            last: dict = {}
            for row in emitted:
                last[row[0]] = row
            emitted = list(last.values())
        out = (self._rows(emitted),) if emitted else ()
        self._evicted = {}
        return out

    def _pre_aggregate(self, batch: pa.RecordBatch):
        """Arrow's hash aggregation of one batch: drops null values, null keys (reported)
        and late records, and returns (grouped table, group columns, indexes of the partial
        aggregates in it: the max timestamp first, then each call's partials in order)."""
        n = batch.num_rows
        cols: dict[str, pa.Array] = {}
        keep = batch.column(OP_COL) if batch.schema.get_field_index(OP_COL) >= 0 else None
        for j, fn in enumerate(self.key_fns):
            arr = fn(batch)
            cols[f"k{j}"] = arr
            valid = pc.is_valid(arr)
            if valid.false_count:
                self._report_null_key(-1)
            keep = valid if keep is None else pc.and_(keep, valid)
        ts = batch.column(ROWTIME)
        cols["ts"] = ts
        if self.window is not None:
            size = self.window.size
            ts_np = ts.to_numpy(zero_copy_only=False)
            start = ts_np - ts_np % size
            # stream time as it was when each record arrived: late records are dropped
            running = np.maximum.accumulate(np.maximum(ts_np, self.stream_time))
            on_time = pa.array(start + size + self.window.grace_ms > running)
            self.stream_time = int(running[-1]) if n else self.stream_time
            cols["ws"] = pa.array(start, pa.int64())
            keep = on_time if keep is None else pc.and_(keep, on_time)
        aggs = [("ts", "max")]
        for j, c in enumerate(self.calls):
            if c.args:
                cols[f"a{j}"] = c.args[0](batch)
            for f in c.fn.partials:
                aggs.append(([], "count_all") if f == "count_all" else (f"a{j}", f))
        table = pa.table(cols)
        if keep is not None and (keep.null_count or keep.false_count):
            table = table.filter(pc.fill_null(keep, False))
        group_cols = [f"k{j}" for j in range(len(self.key_fns))] + \
            (["ws"] if self.window is not None else [])
        grouped = table.group_by(group_cols, use_threads=False).aggregate(aggs)
        # the output holds the aggregates (in order) and the group keys, whichever comes first
        agg_idx = [i for i, name in enumerate(grouped.column_names) if name not in group_cols]
        return grouped, group_cols, agg_idx

    def _process_vectorized(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        """Pre-aggregate the batch with Arrow's hash aggregation, then merge one partial per
        group into the state: Python work per group, not per record."""
        grouped, group_cols, agg_idx = self._pre_aggregate(batch)
        results = [grouped.column(i).to_pylist() for i in agg_idx]
        keys = [grouped.column(g).to_pylist() for g in group_cols]
        nk = len(self.key_fns)
        emitted = []
        calls = self.calls
        state = self.state
        for g in range(grouped.num_rows):
            key = tuple(k[g] for k in keys[:nk])
            if self.window is not None:
                start = keys[nk][g]
                skey = (key, start, start + self.window.size)
            else:
                skey = key
            entry = state.get(skey)
            if entry is None:
                entry = [[c.fn.init() for c in calls], results[0][g]]
                state[skey] = entry
                if self.window is not None:
                    self._index_window(skey)
            accs = entry[0]
            r = 1
            for j, c in enumerate(calls):
                width = len(c.fn.partials)
                accs[j] = c.fn.merge_partial(accs[j], tuple(results[r + x][g]
                                                             for x in range(width)))
                r += width
            entry[1] = max(entry[1], results[0][g])
            self.dirty.add(skey)
            emitted.append((skey, entry[1], True, None))
        if self.window is not None:
            closed = self._close_windows()
            if self.emit_final:
                emitted = closed
        out = (self._rows(emitted),) if emitted else ()
        self._evicted = {}
        return out

    def _index_window(self, skey) -> None:
        end = skey[2]
        keys = self.by_end.get(end)
        if keys is None:
            self.by_end[end] = keys = set()
            bisect.insort(self.ends, end)
        keys.add(skey)

    def _report_null_key(self, i: int) -> None:
        ctx = getattr(self, "ctx", None)
        if ctx is not None:
            ctx.report("RECORD_PROCESSING_ERROR",
                       "Group-by column with null value in record; the record was dropped.",
                       {"row": i})

    def _update(self, skey, row_args, ts, emitted, add: bool, window=None):
        entry = self.state.get(skey)
        if entry is None:
            entry = [[c.fn.init() for c in self.calls], ts]
            self.state[skey] = entry
            if window is not None:
                self._index_window(skey)
        accs = entry[0]
        for j, c in enumerate(self.calls):
            accs[j] = c.fn.add(accs[j], row_args[j]) if add else c.fn.undo(accs[j], row_args[j])
        entry[1] = max(entry[1], ts)
        self.dirty.add(skey)
        if not self.emit_final:
            emitted.append((skey, entry[1], True, self._values(entry)))

    def _values(self, entry):
        """The row's aggregate results now (per-record emission); None when only the last
        update per key is emitted, which is then read from the state at the end."""
        if not self.emit_per_record:
            return None
        return tuple(c.fn.result(a) for c, a in zip(self.calls, entry[0]))

    def _windowed(self, key, row_args, ts, emitted):
        self.stream_time = max(self.stream_time, ts)
        grace = self.window.grace_ms
        for start, end in self.window.windows_for(ts):
            if end + grace <= self.stream_time:
                continue  # the window has closed: a late record is dropped
            self._update((key, start, end), row_args, ts, emitted, add=True, window=True)

    def _session(self, key, row_args, ts, emitted):
        self.stream_time = max(self.stream_time, ts)
        gap = self.window.size
        grace = self.window.grace_ms
        sessions = self.sessions.setdefault(key, [])
        merged = [(s, e) for s, e in sessions if s - gap <= ts <= e + gap]
        start = min([ts] + [s for s, _ in merged])
        end = max([ts] + [e for _, e in merged])
        if end + grace <= self.stream_time:
            return  # would extend only closed sessions: late
        accs = [c.fn.init() for c in self.calls]
        max_ts = ts
        for s, e in merged:
            old = self.state.pop((key, s, e))
            sessions.remove((s, e))
            accs = [c.fn.merge(a, b) for c, a, b in zip(self.calls, accs, old[0])]
            max_ts = max(max_ts, old[1])
            self.dirty.add((key, s, e))
            if not self.emit_final:
                emitted.append(((key, s, e), old[1], False, None))
        accs = [c.fn.add(a, r) for c, a, r in zip(self.calls, accs, row_args)]
        skey = (key, start, end)
        self.state[skey] = [accs, max_ts]
        sessions.append((start, end))
        sessions.sort()
        self.dirty.add(skey)
        if not self.emit_final:
            emitted.append((skey, max_ts, True, self._values(self.state[skey])))

    def _table_row(self, source_key, op, row_key, row_args, ts, emitted):
        self.dirty_table.add(source_key)
        prev = self.table_rows.pop(source_key, None)
        if prev is not None and op and prev[0] == row_key and \
                not any(v is None for v in row_key):
            # an update within the same group: one output row, as ksqlDB emits
            entry = self.state[row_key]
            for j, c in enumerate(self.calls):
                entry[0][j] = c.fn.undo(entry[0][j], prev[1][j])
            self.table_rows[source_key] = (row_key, row_args)
            self._update(row_key, row_args, ts, emitted, add=True)
            return
        if prev is not None:
            self._update(prev[0], prev[1], ts, emitted, add=False)
        if not op:
            return
        if any(v is None for v in row_key):
            self._report_null_key(-1)
            return
        self.table_rows[source_key] = (row_key, row_args)
        self._update(row_key, row_args, ts, emitted, add=True)

    def _close_windows(self) -> list:
        """Windows whose end + grace has passed can never change again: they leave the state
        (bounding it), and under EMIT FINAL this is when they are emitted, in end order."""
        grace = self.window.grace_ms
        if self.window.kind == "SESSION":
            closed = [k for k in self.state if k[2] + grace <= self.stream_time]
        else:
            closed = []
            while self.ends and self.ends[0] + grace <= self.stream_time:
                end = self.ends.pop(0)
                closed.extend(k for k in self.by_end.pop(end) if k in self.state)
        if not closed:
            return []
        closed.sort(key=lambda k: (k[2], k[1]))
        out = []
        if self.emit_final:
            # a window older than the store's retention (size + grace unless given) is gone
            # from Kafka Streams' store before it could be emitted: it is dropped unemitted
            retention = self.window.retention or (self.window.size + grace)
            out = [(k, self.state[k][1], True, None) for k in closed
                   if self.window.kind == "SESSION" or k[1] >= self.stream_time - retention]
        self._evicted.update({k: self.state[k] for k in closed})
        for k in closed:
            del self.state[k]
            self.dirty.add(k)
            if self.window.kind == "SESSION":
                self.sessions[k[0]].remove((k[1], k[2]))
        return out

    # -- output -------------------------------------------------------------------------------
    def _rows(self, emitted: list) -> pa.RecordBatch:
        windowed = self.window is not None
        cols: list[list] = [[] for _ in self.output_schema]
        for skey, ts, live, values in emitted:
            key, start, end = (skey[0], skey[1], skey[2]) if windowed else (skey, None, None)
            entry = self.state.get(skey) or getattr(self, "_evicted", {}).get(skey)
            c = 0
            cols[c].append(ts)
            c += 1
            for v in key:
                cols[c].append(_thaw(v))
                c += 1
            if windowed:
                cols[c].append(start)
                cols[c + 1].append(end)
                c += 2
            for j, call in enumerate(self.calls):
                if not live:
                    v = None
                elif values is not None:
                    v = values[j]
                else:
                    v = call.fn.result(entry[0][j])
                cols[c + j].append(v)
            cols[-1].append(live)
        arrays = [pa.array(v, f.type) for v, f in zip(cols, self.output_schema)]
        return pa.RecordBatch.from_arrays(arrays, schema=self.output_schema)

    # -- state --------------------------------------------------------------------------------
    # The store's changelog: one record per state entry changed since the last checkpoint
    # (key: pickled ("S", state key) / ("T", table source key) / ("M", "time"); value: the
    # pickled entry, or null once the entry is gone). Replaying it in order restores the state.

    def changelog(self, partition: int | None = None) -> list[tuple[bytes, bytes | None]]:
        """One changelog record per checkpoint holding every changed entry (None = removed):
        a single pickle of the batch's changes is far cheaper than one per entry. With a
        ``partition`` (a partitioned changelog), the entries are tagged with it."""
        if not self.dirty and not self.dirty_table:
            return []
        state, rows = self.state, self.table_rows
        changes = [("S", k, state.get(k)) for k in self.dirty]
        changes += [("T", k, rows.get(k)) for k in self.dirty_table]
        changes.append(("M", "time", self.stream_time))
        self.dirty = set()
        self.dirty_table = set()
        if partition is not None:
            self._tag(changes, partition)
        return [(b"changes", pickle.dumps(changes, protocol=pickle.HIGHEST_PROTOCOL))]

    def _tag(self, changes, partition: int) -> None:
        part_of = self.part_of
        for kind, key, value in changes:
            if kind != "M":
                if value is None:
                    part_of.pop((kind, key), None)
                else:
                    part_of[(kind, key)] = partition

    def _mine(self, kind: str, key, partition: int | None) -> bool:
        return partition is None or self.part_of.get((kind, key)) == partition

    def snapshot(self, partition: int | None = None) -> list[tuple[bytes, bytes]]:
        """The whole state (of changelog ``partition``'s entries; None: all) as one record."""
        changes = [("S", k, v) for k, v in self.state.items() if self._mine("S", k, partition)]
        changes += [("T", k, v) for k, v in self.table_rows.items()
                    if self._mine("T", k, partition)]
        changes.append(("M", "time", self.stream_time))
        return [(SNAPSHOT, pickle.dumps(changes, protocol=pickle.HIGHEST_PROTOCOL))]

    def restore_changelog(self, records: list[tuple[bytes, bytes | None]],
                          partition: int | None = None) -> None:
        """Apply one changelog partition's records (``partition``; None: a one-partition
        changelog, or several partitions' records one after another). A snapshot replaces
        that partition's state: what came before it is skipped."""
        snap, records = since_snapshot(records)
        if snap:
            for kind, store in (("S", self.state), ("T", self.table_rows)):
                for k in [k for k in store if self._mine(kind, k, partition)]:
                    del store[k]
                    self.part_of.pop((kind, k), None)
        changes = []
        for _, v in records:
            changes.extend(pickle.loads(v))
        for kind, key, value in changes:
            if kind == "S":
                if value is None:
                    self.state.pop(key, None)
                else:
                    self.state[key] = value
            elif kind == "T":
                if value is None:
                    self.table_rows.pop(key, None)
                else:
                    self.table_rows[key] = value
            else:  # partitions restore one after another: stream time is the latest
                self.stream_time = max(self.stream_time, value)
        if partition is not None:
            self._tag(changes, partition)
        if self.window is not None and self.window.kind != "SESSION":
            self.ends, self.by_end = [], {}
            for skey in self.state:
                self._index_window(skey)
        if self.window is not None and self.window.kind == "SESSION":
            self.sessions = {}
            for key, start, end in self.state:
                self.sessions.setdefault(key, []).append((start, end))
            for v in self.sessions.values():
                v.sort()
