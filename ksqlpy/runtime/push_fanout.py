"""Push-query fan-out (stage: runtime, transient queries).

Identical push queries share one pipeline. N clients running the same ``SELECT … EMIT CHANGES``
(same physical steps, same properties, reading from the latest offset) would otherwise each
read, decode and run operators on every record; here one :class:`SharedPushPipeline` does that
once and hands each output batch, as one :class:`RowBlock`, to every subscriber's
:class:`PushBuffer`. A block caches its rows rendered per wire format (``rendered``), so a
row is encoded once per format, not once per client.

Only plans whose output for a record depends on that record alone are shared — a single
source and only Filter / Select / SelectKey / table functions — so where a subscriber starts
in the source makes no difference to what it receives after that point, and it can leave the
shared pipeline at any record boundary and go on alone (see below).

Per subscriber (a :class:`~ksqlpy.runtime.query.TransientQuery`):

- *start*: it receives exactly the records at or after the source end offsets at the time it
  started, as a private query would; a source batch that straddles a subscriber's start is
  split there.
- *LIMIT*: counted per subscriber; it leaves the pipeline when reached.
- *back-pressure*: its buffer is bounded (rows). A private push query pauses when its buffer
  is full; a shared pipeline must not wait for its slowest client, so a subscriber whose
  buffer cannot take the next block is *detached*: it keeps what it has buffered and resumes
  on its own private pipeline from the first record it has not received. No row is dropped,
  its memory stays bounded, and neither the other subscribers nor persistent queries wait.
  Once it has caught up with the source (and emptied half its buffer) it subscribes again.
- *close*: leaves the pipeline; the last subscriber to leave stops it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging

import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.operators.base import OP_COL

logger = logging.getLogger(__name__)

__all__ = ["PushBuffer", "RowBlock", "SharedPushPipeline", "share_key", "shared_pipeline"]

#: operator classes whose output for a record depends on that record alone
_STATELESS = {"Filter", "Select", "SelectKey", "TableFunctions"}


class RowBlock:
    """Rows that reached a push query's output together, with their wire renderings cached:
    ``rendered(key, render)`` computes ``render(rows)`` once per key (e.g. per writer class)
    however many clients write the block."""

    __slots__ = ("_cache", "rows")

    def __init__(self, rows: list[list]):
        self.rows = rows
        self._cache: dict | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def head(self, n: int) -> RowBlock:
        return RowBlock(self.rows[:n])

    def rendered(self, key, render):
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        out = cache.get(key)
        if out is None:
            out = cache[key] = render(self.rows)
        return out


class PushBuffer:
    """A push query's bounded buffer of :class:`RowBlock` items, bounded in rows, ended by
    ``None``. The asyncio.Queue calls its readers use (``get``, ``get_nowait``, ``qsize``,
    ``empty``) behave as on a queue. A block always fits into an empty buffer, so the bound is
    ``capacity`` rows plus at most one block."""

    def __init__(self, capacity: int):
        self.capacity = max(1, capacity)
        self.rows = 0
        self._items: collections.deque = collections.deque()
        self._getter: asyncio.Future | None = None
        self._space: asyncio.Future | None = None
        self.closed = False

    def fits(self, n: int) -> bool:
        return self.rows == 0 or self.rows + n <= self.capacity

    def offer(self, block: RowBlock) -> bool:
        """Append ``block`` if it fits; never waits."""
        if self.closed or not self.fits(len(block)):
            return False
        self._append(block, len(block))
        return True

    async def put(self, block: RowBlock) -> None:
        """Append ``block``, waiting while the buffer is full."""
        while not self.fits(len(block)):
            self._space = asyncio.get_running_loop().create_future()
            try:
                await self._space
            finally:
                self._space = None
        self._append(block, len(block))

    def close(self) -> None:
        """End of rows: readers get ``None`` after the buffered blocks. Never waits."""
        if not self.closed:
            self.closed = True
            self._append(None, 0)

    def _append(self, item, n: int) -> None:
        self._items.append(item)
        self.rows += n
        g = self._getter
        if g is not None and not g.done():
            g.set_result(None)

    def get_nowait(self):
        if not self._items:
            raise asyncio.QueueEmpty
        item = self._items.popleft()
        if item is not None:
            self.rows -= len(item)
            s = self._space
            if s is not None and not s.done() and self.fits(0):
                s.set_result(None)
        return item

    async def get(self):
        while not self._items:
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        return self.get_nowait()

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items


def is_shareable(plan, offset_reset: str, until_end: bool) -> bool:
    if until_end or offset_reset != "latest" or len(plan.routes) != 1:
        return False
    return all(type(op).__name__ in _STATELESS for op in plan.routes[0].operators)


def share_key(plan, properties: dict) -> str:
    """Equal keys ⇔ the same pipeline: physical steps, output columns, source definition and
    properties."""
    return json.dumps([plan.steps, [(c.name, str(c.type)) for c in plan.output.columns],
                       repr(plan.routes[0].source), sorted(properties.items())],
                      default=str, sort_keys=True)


def rows_of(batches: list[pa.RecordBatch], names: list[str],
            drop_null_values: bool = False) -> list[list]:
    """The output rows of ``batches``. With ``drop_null_values`` (a push query whose result is
    a stream) records whose value is null are skipped: ksqlDB does not deliver them to a
    stream push query (a table push query delivers them, as tombstones)."""
    rows: list[list] = []
    for out in batches:
        if drop_null_values and out.num_rows and OP_COL in out.schema.names:
            out = out.filter(out.column(OP_COL))
        if out.num_rows:
            # a projected ROWTIME sits next to the record's own ROWTIME column: the last
            # column of a name is the projected one
            cols = [out.column(out.schema.get_all_field_indices(n)[-1]).to_pylist()
                    for n in names]
            rows.extend(map(list, zip(*cols)))
    return rows


# one registry for the process; an entry holds its log, so the id cannot be reused meanwhile
_PIPELINES: dict[tuple[int, str], SharedPushPipeline] = {}


def shared_pipeline(log, key: str, make) -> SharedPushPipeline:
    """The running pipeline for (log, key), or a new one from ``make()``."""
    p = _PIPELINES.get((id(log), key))
    if p is None or p.stopped:
        p = _PIPELINES[(id(log), key)] = make()
    return p


class SharedPushPipeline:
    """One reader → decoder → operators chain for every subscriber with the same key."""

    def __init__(self, key: str, log, process, names: list[str], positions: dict,
                 batch_size: int = 1000, drop_null_values: bool = False):
        self.key = key
        self.drop_null_values = drop_null_values  # see rows_of (same plan: same for all)
        self.log = log
        self.process = process  # (topic, records, partition) → output row batches
        self.names = names
        self.positions = dict(positions)
        self.batch_size = batch_size
        self.subscribers: dict = {}   # subscriber → its start positions
        self.task: asyncio.Task | None = None
        self.stopped = False
        self.records_in = 0
        self.blocks_out = 0

    # -- membership ------------------------------------------------------------------------
    def subscribe(self, sub, start: dict) -> bool:
        """Add ``sub``, which must see every record from ``start`` on; False when the
        pipeline is already past that point (or reads other partitions)."""
        if self.stopped or start.keys() != self.positions.keys() or \
                any(start[tp] < pos for tp, pos in self.positions.items()):
            return False
        self.subscribers[sub] = dict(start)
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name=f"push-shared-{id(self):x}")
        return True

    def unsubscribe(self, sub) -> None:
        """``sub`` leaves; the last to leave stops the pipeline (without waiting for it)."""
        if self.subscribers.pop(sub, None) is not None and not self.subscribers:
            self._stop()

    def _stop(self) -> None:
        self.stopped = True
        if _PIPELINES.get((id(self.log), self.key)) is self:
            del _PIPELINES[(id(self.log), self.key)]
        if self.task is not None and not self.task.done() \
                and self.task is not asyncio.current_task():
            self.task.cancel()

    # -- the pipeline's task ------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            while self.subscribers:
                progressed = False
                for tp, offset in list(self.positions.items()):
                    batch = await self.log.read(tp[0], tp[1], offset, self.batch_size)
                    if batch.num_rows == 0 or not self.subscribers:
                        continue
                    progressed = True
                    for seg in self._segments(tp, batch):
                        self._process(tp, seg)
                    self.positions[tp] = batch.column("offset")[-1].as_py() + 1
                if not progressed and self.subscribers:
                    await self.log.wait(self.positions, timeout=0.5)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug must not kill the server: fail every subscriber
            logger.exception("shared push pipeline failed")
            for sub in list(self.subscribers):
                sub._shared_failed(e)
            self.subscribers.clear()
        finally:
            self._stop()

    def _segments(self, tp, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        """``batch`` cut where a subscriber starts inside it."""
        offsets = batch.column("offset")
        first, last = offsets[0].as_py(), offsets[-1].as_py()
        cuts = sorted({s for s in (st.get(tp, 0) for st in self.subscribers.values())
                       if first < s <= last})
        if not cuts:
            return [batch]
        out, lo = [], 0
        for s in cuts:
            hi = pc.index(pc.greater_equal(offsets, s), True).as_py()
            if hi > lo:
                out.append(batch.slice(lo, hi - lo))
                lo = hi
        out.append(batch.slice(lo))
        return out

    def _process(self, tp, seg: pa.RecordBatch) -> None:
        self.records_in += seg.num_rows
        first = seg.column("offset")[0].as_py()
        rows = rows_of(self.process(tp[0], seg, tp[1]), self.names, self.drop_null_values)
        if not rows:
            return
        block = RowBlock(rows)
        self.blocks_out += 1
        for sub, start in list(self.subscribers.items()):
            if first < start.get(tp, 0):
                continue  # records before this subscriber started
            if not sub._shared_deliver(block):
                # lagging: it goes on alone from this segment's first record
                resume = {k: max(v, start.get(k, 0)) for k, v in self.positions.items()}
                resume[tp] = max(first, start.get(tp, 0))
                del self.subscribers[sub]
                logger.info("push query %s: buffer full, continuing alone from %s",
                             getattr(sub, "id", sub), resume)
                sub._shared_detach(resume)
        if not self.subscribers:
            self._stop()
