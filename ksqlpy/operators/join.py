"""Joins (stage: execution). Each join has two inputs (sides): batches arrive through a
``JoinSide`` adapter on each source's route. Side batches carry the source's columns already
renamed to ``<ALIAS>_<COLUMN>`` (``Prefix``), so the joined row is simply both column sets
side by side plus ``__join_key`` and ``ROWTIME``.

- stream–table: the table side only updates state; each stream row looks up the table's
  current row for its key (vectorized: a dict from key to row index, then ``take``).
- stream–stream: both sides are kept in time-bounded per-key buffers; a row joins the other
  side's rows within WITHIN. Without GRACE PERIOD unmatched outer rows are emitted at once
  (ksqlDB's old semantics); with it they wait until their window closes.
- table–table on the primary key, and foreign-key table–table joins.

State is durable like an aggregation's: each join has a store (``store_name``) whose
changelog records are the batch's state changes, one pickled record per batch (see
``_Join.changelog``), committed with the batch's output and offsets; ``restore_changelog``
replays them on start. Changes are tracked only once the store is in use (a persistent
query asks for its changelog after every batch; push queries never do): the first changelog
record then holds the whole state. ``snapshot()`` writes the whole state (of one changelog
partition) the same way, under the key ``SNAPSHOT``, so the query can truncate the diffs
before it (``ksqlpy/runtime/query.py``).
"""

from __future__ import annotations

import bisect
import pickle
import re
from typing import Iterable

import pyarrow as pa

from ksqlpy.expr import Compiled
from ksqlpy.operators.aggregate import SNAPSHOT, since_snapshot
from ksqlpy.operators.base import OP_COL, Operator
from ksqlpy.schema import ROWTIME

JOIN_KEY = "__join_key"
LEFT, RIGHT = 0, 1


class Prefix(Operator):
    """Rename a source's columns to ``ALIAS_COLUMN``; ROWTIME and __op are kept as they are
    (ROWTIME also as ``ALIAS_ROWTIME``)."""

    def __init__(self, renames: list[tuple[str, str]]):
        self.renames = renames

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if batch.num_rows == 0:
            return ()
        names = [ROWTIME, OP_COL]
        arrays = [batch.column(ROWTIME), batch.column(OP_COL)]
        for src, dst in self.renames:
            names.append(dst)
            arrays.append(batch.column(src))
        return (pa.RecordBatch.from_arrays(arrays, names=names),)


class JoinSide(Operator):
    """One input of a join. The join's store is reached through its first side (a query
    finds stores among its routes' operators, and every join has one side on the first
    source's route): that side alone has ``changelog`` / ``restore_changelog`` /
    ``store_name``, so a join reached by several routes has one store."""

    def __init__(self, join, side: int):
        self.join = join
        self.side = side
        if hasattr(join, "changelog") and getattr(join, "_store_side", None) is None:
            join._store_side = self
            self.changelog = join.changelog
            self.snapshot = join.snapshot
            self.snapshot_partitioned = join.snapshot_partitioned
            self.restore_changelog = join.restore_changelog
            self.store_name = join.store_name

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if batch.num_rows == 0:
            return ()
        return self.join.process_side(batch, self.side)


class _Join:
    """Shared shape of every join's output."""

    def __init__(self, kind: str, key_fns: tuple[Compiled, Compiled],
                 columns: tuple[list[tuple[str, pa.DataType]], list[tuple[str, pa.DataType]]],
                 key_type: pa.DataType):
        self.kind = kind                          # INNER | LEFT | RIGHT | OUTER
        self.key_fns = key_fns
        self.columns = columns
        fields = [pa.field(ROWTIME, pa.int64()), pa.field(JOIN_KEY, key_type)]
        for side_cols in columns:
            fields += [pa.field(n, t) for n, t in side_cols]
        fields.append(pa.field(OP_COL, pa.bool_()))
        self.schema = pa.schema(fields)
        self._tracking = False  # recording state changes for the changelog

    # -- the store --------------------------------------------------------------------------
    _STORE = "KSTREAM-JOIN-{}-store"

    @property
    def alias(self) -> str:
        """The right source's alias: unique within a query (each join adds one source), so
        it tells the stores of an n-way join apart. Side columns are ``ALIAS_COLUMN`` with the
        pseudo column ROWTIME first."""
        first = self.columns[RIGHT][0][0] if self.columns[RIGHT] else "RIGHT"
        return first.removesuffix("_ROWTIME")

    @property
    def store_name(self) -> str:
        return self._STORE.format(re.sub(r"[^A-Za-z0-9._-]", "_", self.alias))

    #: whether ``snapshot(partition)`` can give one changelog partition's state alone
    snapshot_partitioned = True

    def changelog(self, partition: int | None = None) -> list[tuple[bytes, bytes]]:
        """The state changes since the last call as one record (a pickled list of changes);
        the first call, before which nothing was tracked, gives the whole state. With a
        ``partition`` (a partitioned changelog), the changed keys are tagged with it."""
        if not self._tracking:
            self._tracking = True
            self._changes()  # drop what was recorded before: the state covers it
            changes = self._state(None)
        else:
            changes = self._changes()
        if not changes:
            return []
        if partition is not None:
            self._tag(changes, partition)
        return [(b"join", pickle.dumps(changes, protocol=pickle.HIGHEST_PROTOCOL))]

    def snapshot(self, partition: int | None = None) -> list[tuple[bytes, bytes]]:
        """The whole state (of changelog ``partition``'s keys; None: all) as one record, in
        the changes' format."""
        return [(SNAPSHOT, pickle.dumps(self._state(partition),
                                        protocol=pickle.HIGHEST_PROTOCOL))]

    def restore_changelog(self, records: list[tuple[bytes, bytes | None]],
                          partition: int | None = None) -> None:
        """Apply one changelog partition's records in order (``partition``; None: a
        one-partition changelog or several partitions one after another). A snapshot
        replaces the partition's state: the records before it are skipped."""
        snap, records = since_snapshot(records)
        if snap:
            self._clear(partition)
        changes: list = []
        for _, v in records:
            if v is not None:
                changes.extend(pickle.loads(v))
        self._apply(changes)
        if partition is not None:
            self._tag(changes, partition)
        self._tracking = True
        self._changes()  # nothing to write back

    def _state(self, partition: int | None) -> list:
        """The state (of ``partition``'s keys; None: all) as changes; no side effects."""
        raise NotImplementedError

    def _changes(self) -> list:
        raise NotImplementedError

    def _apply(self, changes: list) -> None:
        raise NotImplementedError

    def _tag(self, changes: list, partition: int) -> None:
        """Record the changelog partition of the keys ``changes`` touch."""

    def _clear(self, partition: int | None) -> None:
        """Forget the state of ``partition``'s keys (None: all)."""
        raise NotImplementedError

    def outer(self, side: int) -> bool:
        """Does an unmatched row of ``side`` produce a null-padded row?"""
        return self.kind == "OUTER" or (self.kind == "LEFT" and side == LEFT) or \
            (self.kind == "RIGHT" and side == RIGHT)

    def _values(self, batch: pa.RecordBatch, side: int) -> list[tuple]:
        cols = [batch.column(n).to_pylist() for n, _ in self.columns[side]]
        return list(zip(*cols)) if cols else [()] * batch.num_rows

    def _rows(self, rows: list[tuple]) -> pa.RecordBatch:
        """rows: (ts, key, left values or None, right values or None, live)."""
        nl, nr = len(self.columns[LEFT]), len(self.columns[RIGHT])
        cols: list[list] = [[] for _ in range(nl + nr + 3)]
        for ts, key, lv, rv, live in rows:
            cols[0].append(ts)
            cols[1].append(_raw(key))
            lv = lv if lv is not None else (None,) * nl
            rv = rv if rv is not None else (None,) * nr
            for j, v in enumerate(lv):
                cols[2 + j].append(v)
            for j, v in enumerate(rv):
                cols[2 + nl + j].append(v)
            cols[-1].append(live)
        arrays = [pa.array(c, f.type) for c, f in zip(cols, self.schema)]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _keys(fn: Compiled, batch: pa.RecordBatch) -> list:
    """Join keys as hashable Python values (structs/arrays become tuples)."""
    raw = fn(batch).to_pylist()
    if raw and any(isinstance(k, (list, dict)) for k in raw):
        return [_HashKey(k) for k in raw]
    return raw


class _HashKey:
    """A struct/array/map key: compared by value, rendered back as the original value."""

    __slots__ = ("value", "h")

    def __init__(self, value):
        self.value = value
        self.h = _hashable(value)

    def __hash__(self):
        return hash(self.h)

    def __eq__(self, other):
        return isinstance(other, _HashKey) and self.h == other.h


def _raw(key):
    return key.value if isinstance(key, _HashKey) else key


def _order(key):
    """Sort key for join keys: the left rows a right-side change updates are emitted in key
    order (ksqlDB scans its subscription store by key)."""
    v = key.h if isinstance(key, _HashKey) else key
    return (v is None, repr(type(v)), v if v is not None else 0)


def _hashable(v):
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


class KeyedRows:
    """The latest row per key as Arrow columns, for vectorized lookups."""

    def __init__(self, fields: list[tuple[str, pa.DataType]]):
        self.schema = pa.schema([pa.field(n, t) for n, t in fields])
        self.index: dict = {}
        self.chunks: list[pa.RecordBatch] = []
        self.size = 0
        self._table: pa.Table | None = None

    def update(self, keys: list, batch: pa.RecordBatch, live: list[bool]) -> None:
        base = self.size
        self.chunks.append(pa.RecordBatch.from_arrays(
            [batch.column(f.name) for f in self.schema], schema=self.schema))
        self.size += batch.num_rows
        self._table = None
        index = self.index
        for i, (k, ok) in enumerate(zip(keys, live)):
            if k is None:
                continue
            if ok:
                index[k] = base + i
            else:
                index.pop(k, None)
        if self.size > 4 * max(len(index), 1024):
            self._compact()

    def _compact(self) -> None:
        keys = list(self.index)
        taken = self.table().take(pa.array([self.index[k] for k in keys], pa.int64()))
        self.chunks = taken.to_batches() or []
        self.size = taken.num_rows
        self.index = {k: i for i, k in enumerate(keys)}
        self._table = None

    def table(self) -> pa.Table:
        if self._table is None:
            self._table = pa.Table.from_batches(self.chunks, schema=self.schema) \
                .combine_chunks()
        return self._table

    def lookup(self, keys: list) -> tuple[pa.Table, list[bool]]:
        get = self.index.get
        idx = [get(k) if k is not None else None for k in keys]
        found = [i is not None for i in idx]
        if not self.size:
            return pa.table({f.name: pa.nulls(len(keys), f.type) for f in self.schema}), found
        return self.table().take(pa.array(idx, pa.int64())), found

    def get(self, key):
        i = self.index.get(key)
        if i is None:
            return None
        t = self.table()
        return tuple(t.column(j)[i].as_py() for j in range(t.num_columns))


class StreamTableJoin(_Join):
    """Stream (left) rows look up the table's (right) row for their key at that moment.

    Store: the table side's rows, named like ksqlDB's materialized table source
    (``KafkaTopic_<alias>-Reduce``); a changelog record holds the changed keys' rows."""

    _STORE = "KafkaTopic_{}-Reduce"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.table = KeyedRows(self.columns[RIGHT])
        self.recent: list = []  # the table side's (keys, batch, live) since the last changelog
        self.part_of: dict = {}  # key -> changelog partition (partitioned changelogs)

    def process_side(self, batch: pa.RecordBatch, side: int):
        keys = _keys(self.key_fns[side], batch)
        live = batch.column(OP_COL).to_pylist()
        if side == RIGHT:
            self.table.update(keys, batch, live)
            if self._tracking:
                self.recent.append((keys, batch, live))
            return ()
        n = batch.num_rows
        rows, found = self.table.lookup(keys)
        keep = [ok and k is not None and (f or self.kind == "LEFT")
                for k, ok, f in zip(keys, live, found)]
        arrays = [batch.column(ROWTIME),
                  pa.array([_raw(k) for k in keys], self.schema.field(JOIN_KEY).type)]
        arrays += [batch.column(name) for name, _ in self.columns[LEFT]]
        arrays += [rows.column(name).combine_chunks() if rows.num_rows else pa.nulls(n, t)
                   for name, t in self.columns[RIGHT]]
        arrays.append(pa.array([True] * n, pa.bool_()))
        out = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        if not all(keep):
            out = out.filter(pa.array(keep))
        return (out,) if out.num_rows else ()

    def _state(self, partition: int | None) -> list:
        keys = [k for k in self.table.index
                if partition is None or self.part_of.get(k) == partition]
        if not keys:
            return []
        rows, found = self.table.lookup(keys)
        return [(keys, _batch(rows, self.table.schema), found)]

    def _tag(self, changes: list, partition: int) -> None:
        part_of = self.part_of
        for keys, _, live in changes:
            for k, ok in zip(keys, live):
                if k is None:
                    continue
                if ok:
                    part_of[k] = partition
                else:
                    part_of.pop(k, None)

    def _clear(self, partition: int | None) -> None:
        if partition is None:
            self.table = KeyedRows(self.columns[RIGHT])
            self.part_of = {}
            return
        for k in [k for k, p in self.part_of.items() if p == partition]:
            self.table.index.pop(k, None)
            del self.part_of[k]

    def _changes(self) -> list:
        """[(keys, their rows, live)]: each key changed since the last changelog once, with
        its latest row (live False: deleted). Built from the batches, not the whole table."""
        if not self.recent:
            return []
        last: dict = {}
        base = 0
        for keys, batch, live in self.recent:
            for i, (k, ok) in enumerate(zip(keys, live)):
                if k is not None:
                    last[k] = (base + i, ok)
            base += batch.num_rows
        schema = self.table.schema
        table = pa.Table.from_batches(
            [pa.RecordBatch.from_arrays([b.column(f.name) for f in schema], schema=schema)
             for _, b, _ in self.recent], schema=schema)
        self.recent = []
        if not last:
            return []
        keys = list(last)
        rows = table.take(pa.array([last[k][0] for k in keys], pa.int64()))
        return [(keys, _batch(rows, schema), [last[k][1] for k in keys])]

    def _apply(self, changes: list) -> None:
        for keys, batch, live in changes:
            self.table.update(keys, batch, live)


def _batch(table: pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([table.column(f.name).combine_chunks() for f in schema],
                                      schema=schema)


class StreamStreamJoin(_Join):
    """Store: both sides' window buffers, the unmatched outer rows awaiting their window's
    close, and the stream times (ksqlDB's ``KSTREAM-JOINTHIS`` / ``-JOINOTHER`` window stores
    and outer-join store in one). A changelog record lists the batch's changes in order: rows
    added to a buffer, keys expired, outer rows awaiting close, outer rows gone from the wait
    (matched, or emitted when their window closed — so a restart never emits them again), and
    the times."""

    _STORE = "KSTREAM-JOIN-{}-store"

    def __init__(self, *args, before: int, after: int, grace: int | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.before, self.after = before, after
        self.grace = grace
        # retention of each side's buffer: window size + grace (24h default grace as ksqlDB)
        self.retention = before + after + (grace if grace is not None else 86_400_000)
        self.stores: tuple[dict, dict] = ({}, {})       # key -> sorted [(ts, seq, values)]
        self.store_time = [-1, -1]
        self.stream_time = -1
        self.pending: list = []                         # (ts, seq, side, key, values)
        self.seq = 0
        self.journal: list = []                         # changes since the last changelog
        self._written: tuple | None = None              # the times last written

    def process_side(self, batch: pa.RecordBatch, side: int):
        keys = _keys(self.key_fns[side], batch)
        live = batch.column(OP_COL).to_pylist()
        ts_list = batch.column(ROWTIME).to_pylist()
        values = self._values(batch, side)
        out: list = []
        for key, ok, ts, vals in zip(keys, live, ts_list, values):
            if not ok or key is None:
                continue
            self._one(side, key, ts, vals, out)
        return (self._rows(out),) if out else ()

    def _one(self, side, key, ts, vals, out):
        other = 1 - side
        self.seq += 1
        # this side's window store: a record older than its retention is not kept
        self.store_time[side] = max(self.store_time[side], ts)
        if ts >= self.store_time[side] - self.retention:
            bisect.insort(self.stores[side].setdefault(key, []), (ts, self.seq, vals))
            if self._tracking:
                self.journal.append(("A", side, key, ts, self.seq, vals))
        self.stream_time = max(self.stream_time, ts)
        if ts == self.stream_time and self.grace is not None:
            self._emit_closed(out)
        lo, hi = (ts - self.before, ts + self.after) if side == LEFT else \
            (ts - self.after, ts + self.before)
        matched = False
        for ots, oseq, ovals in self.stores[other].get(key, ()):
            if lo <= ots <= hi:
                matched = True
                lv, rv = (vals, ovals) if side == LEFT else (ovals, vals)
                out.append((max(ts, ots), key, lv, rv, True))
                self._forget_pending(other, key, ots, oseq)
        self._expire(other)
        if matched or not self.outer(side):
            return
        lv, rv = (vals, None) if side == LEFT else (None, vals)
        if self.grace is None or hi < self.stream_time:
            out.append((ts, key, lv, rv, True))
        else:
            bisect.insort(self.pending, (ts, self.seq, side, key, vals))
            if self._tracking:
                self.journal.append(("P", ts, self.seq, side, key, vals))

    def _forget_pending(self, side, key, ts, seq):
        for i, p in enumerate(self.pending):
            # seq and key: after a restore that merged partitions, seqs of different keys
            # may repeat (each partition's owner counted its own)
            if p[1] == seq and p[3] == key:
                del self.pending[i]
                if self._tracking:
                    self.journal.append(("U", seq, key))
                return

    def _emit_closed(self, out):
        keep = []
        for p in self.pending:
            ts, seq, side, key, vals = p
            lookback = self.after if side == LEFT else self.before
            if ts + lookback + self.grace < self.stream_time:
                lv, rv = (vals, None) if side == LEFT else (None, vals)
                out.append((ts, key, lv, rv, True))
                if self._tracking:
                    self.journal.append(("U", seq, key))
            else:
                keep.append(p)
        self.pending = keep

    def _expire(self, side):
        horizon = self.store_time[side] - self.retention
        store = self.stores[side]
        if len(store) > 4096:
            for k in [k for k, rows in store.items() if rows[-1][0] < horizon]:
                rows = store.pop(k)
                if self._tracking:
                    self.journal.append(("X", side, k, max(r[1] for r in rows)))

    # -- the store --------------------------------------------------------------------------
    def _times(self) -> tuple:
        return ("T", self.store_time[LEFT], self.store_time[RIGHT], self.stream_time, self.seq)

    # Not splittable by changelog partition: a batch of one partition may close (emit) or
    # expire another partition's rows, and that change goes to the batch's partition. So a
    # snapshot is taken only of a one-partition changelog (``snapshot(None)``).
    snapshot_partitioned = False

    def _state(self, partition: int | None) -> list:
        if partition is not None:
            raise ValueError("a stream-stream join's state is not split by partition")
        changes = [("A", side, key, ts, seq, vals)
                   for side in (LEFT, RIGHT) for key, rows in self.stores[side].items()
                   for ts, seq, vals in rows]
        changes += [("P", *p) for p in self.pending]
        changes.append(self._times())
        return changes

    def _clear(self, partition: int | None) -> None:
        self.stores = ({}, {})
        self.store_time = [-1, -1]
        self.stream_time = -1
        self.pending = []
        self.seq = 0

    def _changes(self) -> list:
        """The journal, and the times whenever they moved (stream time decides what is
        emitted at once and what waits, even in a batch that changed nothing else)."""
        times = self._times()
        if not self.journal and times == self._written:
            return []
        changes, self.journal = self.journal, []
        self._written = times
        changes.append(times)
        return changes

    def _apply(self, changes: list) -> None:
        """Order-independent across partitions: a batch of one partition may close (emit)
        or expire another partition's rows, and partitions restore one after another. So
        the outer rows still waiting are those added and never removed, and a key's rows are
        those added after (higher seq than) its last expiry; a key's rows all come from one
        partition, where seq only grows."""
        pending = {(p[1], p[3]): p for p in self.pending}
        gone = set()
        expired: tuple[dict, dict] = ({}, {})
        for c in changes:
            kind = c[0]
            if kind == "A":
                _, side, key, ts, seq, vals = c
                bisect.insort(self.stores[side].setdefault(key, []), (ts, seq, vals))
            elif kind == "P":
                pending[(c[2], c[4])] = c[1:]
            elif kind == "U":
                gone.add((c[1], c[2]))
            elif kind == "X":
                _, side, key, upto = c
                expired[side][key] = max(expired[side].get(key, upto), upto)
            else:  # the times are the latest of any partition
                _, left, right, stream, seq = c
                self.store_time = [max(self.store_time[LEFT], left),
                                   max(self.store_time[RIGHT], right)]
                self.stream_time = max(self.stream_time, stream)
                self.seq = max(self.seq, seq)
        for side in (LEFT, RIGHT):
            store = self.stores[side]
            for key, upto in expired[side].items():
                rows = [r for r in store.get(key, ()) if r[1] > upto]
                if rows:
                    store[key] = rows
                else:
                    store.pop(key, None)
        self.pending = sorted((p for k, p in pending.items() if k not in gone),
                              key=lambda p: (p[0], p[1]))


class TableTableJoin(_Join):
    """Primary-key join of two tables; every change re-evaluates the key's joined row.

    Store: both tables' rows by key (ksqlDB materializes each side); a changelog record
    holds the changed keys' rows (None: deleted)."""

    _STORE = "KTABLE-JOIN-{}-store"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows: tuple[dict, dict] = ({}, {})
        self.times: tuple[dict, dict] = ({}, {})
        self.dirty: tuple[set, set] = (set(), set())
        self.part_of: tuple[dict, dict] = ({}, {})  # key -> changelog partition, per side

    def process_side(self, batch: pa.RecordBatch, side: int):
        keys = _keys(self.key_fns[side], batch)
        live = batch.column(OP_COL).to_pylist()
        ts_list = batch.column(ROWTIME).to_pylist()
        values = self._values(batch, side)
        out: list = []
        other = 1 - side
        for key, ok, ts, vals in zip(keys, live, ts_list, values):
            if key is None:
                continue
            mine = self.rows[side]
            if ok:
                mine[key] = vals
                self.times[side][key] = ts
            elif key in mine:
                deleted = mine.pop(key)
                self.times[side].pop(key, None)
            else:
                continue  # deleting a row that is not there changes nothing
            if self._tracking:
                self.dirty[side].add(key)
            theirs = self.rows[other].get(key)
            if theirs is None and not self.outer(side):
                continue
            mine_now = mine.get(key)
            lv, rv = (mine_now, theirs) if side == LEFT else (theirs, mine_now)
            if self.kind == "INNER":
                live_row = lv is not None and rv is not None
            elif self.kind == "LEFT":
                live_row = lv is not None
            elif self.kind == "RIGHT":
                live_row = rv is not None
            else:
                live_row = lv is not None or rv is not None
            if not live_row and mine_now is None:
                # a delete still carries the deleted row, as ksqlDB's changes carry the old
                # value: a later join or projection computes its key from it
                lv, rv = (deleted, theirs) if side == LEFT else (theirs, deleted)
            ots = self.times[other].get(key, ts) if theirs is not None else ts
            out.append((max(ts, ots), key, lv, rv, live_row))
        return (self._rows(out),) if out else ()

    def _state(self, partition: int | None) -> list:
        return [(side, k, v, self.times[side].get(k))
                for side in (LEFT, RIGHT) for k, v in self.rows[side].items()
                if partition is None or self.part_of[side].get(k) == partition]

    def _tag(self, changes: list, partition: int) -> None:
        for side, key, vals, _ in changes:
            if vals is None:
                self.part_of[side].pop(key, None)
            else:
                self.part_of[side][key] = partition

    def _clear(self, partition: int | None) -> None:
        for side in (LEFT, RIGHT):
            keys = list(self.rows[side]) if partition is None else \
                [k for k, p in self.part_of[side].items() if p == partition]
            for k in keys:
                self.rows[side].pop(k, None)
                self.times[side].pop(k, None)
                self.part_of[side].pop(k, None)

    def _changes(self) -> list:
        """[(side, key, values or None, ts)]"""
        out = []
        for side in (LEFT, RIGHT):
            rows, times = self.rows[side], self.times[side]
            out += [(side, k, rows.get(k), times.get(k)) for k in self.dirty[side]]
        self.dirty = (set(), set())
        return out

    def _apply(self, changes: list) -> None:
        for side, key, vals, ts in changes:
            if vals is None:
                self.rows[side].pop(key, None)
                self.times[side].pop(key, None)
            else:
                self.rows[side][key] = vals
                self.times[side][key] = ts


class ForeignKeyJoin(_Join):
    """Left table rows join the right table's row whose primary key equals their foreign key.
    The output is keyed by the left table's key.

    Store: both tables' rows (ksqlDB's subscription and right-table stores); a changelog
    record holds the changed keys' entries (None: deleted)."""

    _STORE = "KTABLE-FK-JOIN-{}-store"

    def __init__(self, *args, left_key: Compiled, **kwargs):
        super().__init__(*args, **kwargs)
        self.left_key = left_key            # the left table's primary key (output key)
        self.left: dict = {}                # left pk -> (fk, values, ts)
        self.by_fk: dict = {}               # fk -> set of left pks
        self.right: dict = {}               # right pk -> (values, ts)
        self.dirty: tuple[set, set] = (set(), set())
        self.part_of: tuple[dict, dict] = ({}, {})  # key -> changelog partition, per side

    def process_side(self, batch: pa.RecordBatch, side: int):
        live = batch.column(OP_COL).to_pylist()
        ts_list = batch.column(ROWTIME).to_pylist()
        values = self._values(batch, side)
        out: list = []
        if side == LEFT:
            pks = _keys(self.left_key, batch)
            fks = _keys(self.key_fns[LEFT], batch)
            for pk, fk, ok, ts, vals in zip(pks, fks, live, ts_list, values):
                if pk is None:
                    continue
                if self._tracking:
                    self.dirty[LEFT].add(pk)
                old = self.left.pop(pk, None)
                if old is not None:
                    self.by_fk.get(old[0], set()).discard(pk)
                if not ok:
                    if old is not None:  # the delete carries the deleted row (see above)
                        out.append((ts, pk, old[1], None, False))
                    continue
                self.left[pk] = (fk, vals, ts)
                if fk is not None:
                    self.by_fk.setdefault(fk, set()).add(pk)
                right = self.right.get(fk) if fk is not None else None
                if right is None and self.kind == "INNER":
                    if old is not None:
                        out.append((ts, pk, vals, None, False))
                    continue
                rts = right[1] if right else ts
                out.append((max(ts, rts), pk, vals, right[0] if right else None, True))
            return (self._rows(out),) if out else ()
        keys = _keys(self.key_fns[RIGHT], batch)
        for key, ok, ts, vals in zip(keys, live, ts_list, values):
            if key is None:
                continue
            if ok:
                self.right[key] = (vals, ts)
            elif self.right.pop(key, None) is None:
                continue
            if self._tracking:
                self.dirty[RIGHT].add(key)
            for pk in sorted(self.by_fk.get(key, ()), key=_order):
                fk, lvals, lts = self.left[pk]
                if ok:
                    out.append((max(ts, lts), pk, lvals, vals, True))
                elif self.kind == "INNER":
                    out.append((ts, pk, lvals, None, False))
                else:
                    out.append((max(ts, lts), pk, lvals, None, True))
        return (self._rows(out),) if out else ()

    def _state(self, partition: int | None) -> list:
        return [(side, k, v) for side, store in ((LEFT, self.left), (RIGHT, self.right))
                for k, v in store.items()
                if partition is None or self.part_of[side].get(k) == partition]

    def _tag(self, changes: list, partition: int) -> None:
        for side, key, entry in changes:
            if entry is None:
                self.part_of[side].pop(key, None)
            else:
                self.part_of[side][key] = partition

    def _clear(self, partition: int | None) -> None:
        for side, store in ((LEFT, self.left), (RIGHT, self.right)):
            keys = list(store) if partition is None else \
                [k for k, p in self.part_of[side].items() if p == partition]
            for k in keys:
                store.pop(k, None)
                self.part_of[side].pop(k, None)
        self._apply([])  # rebuilds the foreign-key index

    def _changes(self) -> list:
        """[(side, key, entry or None)]"""
        out = [(LEFT, k, self.left.get(k)) for k in self.dirty[LEFT]]
        out += [(RIGHT, k, self.right.get(k)) for k in self.dirty[RIGHT]]
        self.dirty = (set(), set())
        return out

    def _apply(self, changes: list) -> None:
        for side, key, entry in changes:
            store = self.left if side == LEFT else self.right
            if entry is None:
                store.pop(key, None)
            else:
                store[key] = entry
        self.by_fk = {}
        for pk, (fk, _, _) in self.left.items():
            if fk is not None:
                self.by_fk.setdefault(fk, set()).add(pk)


class WindowedJoinKey(Operator):
    """After joins of windowed sources: ``__join_key`` holds {K: key, S: window start[, E:
    window end]} (rows join when key *and* window match, as Kafka Streams compares
    ``Windowed`` keys); this splits it back into the key and the result's WINDOWSTART /
    WINDOWEND. ``size_ms``: the result's (left source's) window size, None for sessions."""

    def __init__(self, size_ms: int | None):
        self.size_ms = size_ms

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if batch.num_rows == 0:
            return ()
        import pyarrow.compute as pc

        composite = batch.column(JOIN_KEY)
        start = pc.struct_field(composite, "S")
        end = pc.struct_field(composite, "E") if self.size_ms is None else \
            pc.add(start, pa.scalar(self.size_ms, pa.int64()))
        batch = batch.set_column(batch.schema.get_field_index(JOIN_KEY), JOIN_KEY,
                                 pc.struct_field(composite, "K"))
        for name, arr in (("WINDOWSTART", start), ("WINDOWEND", end)):
            idx = batch.schema.get_field_index(name)
            batch = batch.set_column(idx, name, arr) if idx >= 0 else \
                batch.append_column(name, arr)
        return (batch,)
