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

import pickle
from dataclasses import dataclass
from typing import Iterable

import pyarrow as pa

from ksqlpy.aggregates import AggregateFunction
from ksqlpy.expr import Compiled
from ksqlpy.operators.base import OP_COL, Operator
from ksqlpy.operators.windows import WindowDef
from ksqlpy.schema import ROWTIME, WINDOWEND, WINDOWSTART


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
        out = [pa.field(ROWTIME, pa.int64())]
        out += [pa.field(n, f.type.to_arrow()) for n, f in zip(key_names, key_fns)]
        if window is not None:
            out += [pa.field(WINDOWSTART, pa.int64()), pa.field(WINDOWEND, pa.int64())]
        out += [pa.field(c.name, c.fn.type.to_arrow()) for c in calls]
        out.append(pa.field(OP_COL, pa.bool_()))
        self.output_schema = pa.schema(out)

    # -- processing -------------------------------------------------------------------------
    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        n = batch.num_rows
        if n == 0:
            return ()
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
        if self.window is not None:
            closed = self._close_windows()
            if self.emit_final:
                emitted = closed
        if not self.emit_per_record and not self.emit_final:
            last: dict = {}
            for row in emitted:
                last[row[0]] = row
            emitted = list(last.values())
        out = (self._rows(emitted),) if emitted else ()
        self._evicted = {}
        return out

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
            self._update((key, start, end), row_args, ts, emitted, add=True)

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
        closed = [k for k in self.state if k[2] + grace <= self.stream_time]
        if not closed:
            return []
        closed.sort(key=lambda k: (k[2], k[1]))
        out = [(k, self.state[k][1], True, None) for k in closed] if self.emit_final else []
        self._evicted = {k: self.state[k] for k in closed}
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
        nk = len(self.key_names)
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

    def changelog(self) -> list[tuple[bytes, bytes | None]]:
        out = []
        dumps = pickle.dumps
        for skey in self.dirty:
            entry = self.state.get(skey)
            out.append((dumps(("S", skey)), None if entry is None else dumps(entry)))
        for tkey in self.dirty_table:
            row = self.table_rows.get(tkey)
            out.append((dumps(("T", tkey)), None if row is None else dumps(row)))
        if out:
            out.append((dumps(("M", "time")), dumps(self.stream_time)))
        self.dirty = set()
        self.dirty_table = set()
        return out

    def restore_changelog(self, records: list[tuple[bytes, bytes | None]]) -> None:
        for k, v in records:
            kind, key = pickle.loads(k)
            value = None if v is None else pickle.loads(v)
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
            else:
                self.stream_time = value
        if self.window is not None and self.window.kind == "SESSION":
            self.sessions = {}
            for key, start, end in self.state:
                self.sessions.setdefault(key, []).append((start, end))
            for v in self.sessions.values():
                v.sort()
