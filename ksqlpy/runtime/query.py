"""Running queries (stage: runtime). A query = source decoder → operators → sink.

``process()`` is the one step both schedulers use: the query's own asyncio task (reading the
log, committing outputs and source offsets in one transaction) and the conformance runner
(which, like ksqlDB's TopologyTestDriver, pipes records in a test's order).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.catalog import Source
from ksqlpy.log.base import Log, ensure_topic, read_to_end, records
from ksqlpy.log.kafka_group import RebalanceError
from ksqlpy.operators.aggregate import SNAPSHOT
from ksqlpy.operators.base import OperatorContext
from ksqlpy.operators.sink import SinkEncoder
from ksqlpy.operators.source import SourceDecoder
from ksqlpy.plan.partitioning import partition_local
from ksqlpy.plan.planner import QueryPlan
from ksqlpy.runtime.partitioner import split_in_order
from ksqlpy.runtime.repartition import RepartitionDecoder, RepartitionWriter, plan_cuts
from ksqlpy.runtime.push_fanout import (PushBuffer, RowBlock, SharedPushPipeline, is_shareable,
                                      rows_of, share_key, shared_pipeline)

logger = logging.getLogger(__name__)

_RESTART = object()  # a commit failed: start over from the committed offsets

#: A store's changelog partition gets a snapshot once the diffs written to it since its last
#: snapshot reach max(this many bytes, the last snapshot's size); -1: never.
SNAPSHOT_BYTES_PROPERTY = "ksqlpy.changelog.snapshot.bytes"
DEFAULT_SNAPSHOT_BYTES = 64 * 1024 * 1024  # = the embedded log's segment size


def _open_routes(plan: QueryPlan, ctx: OperatorContext):
    """(topic, decoder, operators) per route, operators opened once."""
    routes = []
    opened = set()
    for route in plan.routes:
        for op in route.operators:
            if id(op) not in opened:
                op.open(ctx)
                opened.add(id(op))
        routes.append((route.source.topic, SourceDecoder(route.source, ctx), route.operators))
    return routes


def _store_name(op) -> str:
    """ksqlDB's name for an operator's store (the aggregate's), or the operator's kind; a
    join names its own (unique within the query: see ``ksqlpy/operators/join.py``)."""
    name = getattr(op, "store_name", None)
    if name:
        return name
    if type(op).__name__ == "TableFilter":
        return "TableFilter"
    return "Aggregate-Aggregate-Materialize"


def route_batch(routes, topic: str, batch: pa.RecordBatch, partition: int):
    """Decode ``batch`` for every route reading ``topic`` and run it to the query output."""
    out = []
    for t, decoder, operators in routes:
        if t == topic:
            out.extend(run_operators(operators, decoder.decode(batch, partition)))
    return out


def run_operators(operators, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
    batches = [batch]
    for op in operators:
        nxt = []
        for b in batches:
            nxt.extend(op.process(b))
        batches = nxt
        if not batches:
            break
    return batches


@dataclass
class QueryStats:
    records_in: int = 0
    records_out: int = 0
    errors: int = 0


class PersistentQuery:
    """A persistent query (C*AS, INSERT INTO): reads its source topic, writes its sink topic."""

    def __init__(self, query_id: str, statement: str, plan: QueryPlan, sink: Source, log: Log,
                 ctx: OperatorContext, group: str, kind: str = "PERSISTENT",
                 replan: Callable[[], QueryPlan] | None = None):
        self.id = query_id
        self.statement = statement
        self.sink = sink
        self.log = log
        self.ctx = ctx
        self.group = group
        self.kind = kind
        self.encoder = SinkEncoder(sink, ctx)
        self.sink_topic = sink.topic
        self.stats = QueryStats()
        self.state = "RUNNING"
        self.task: asyncio.Task | None = None
        self._stop = asyncio.Event()
        # scale-out: which source partitions this server processes (None: all of them).
        # A partition-local query splits them with the other servers; any other query runs
        # whole on the one server that owns its first source's partition 0.
        self._plan_local = partition_local(plan)
        self.partition_local = self._plan_local
        self.owned: frozenset[tuple[str, int]] | None = None
        self._replan = replan
        self._use_plan(plan)

    def _use_plan(self, plan: QueryPlan) -> None:
        """Open ``plan``'s operators (fresh state) as this query's pipeline."""
        self.plan = plan
        self.routes = _open_routes(plan, self.ctx)
        self._cut_for_scale_out()
        self.source_topics = list(dict.fromkeys(t for t, _, _ in self.routes))
        # stores with changelogs (ksqlDB names them <app id>-<operator>-changelog)
        stateful = []
        for _, _, ops in self.routes:
            for op in ops:
                if hasattr(op, "changelog") and op not in stateful:
                    stateful.append(op)
        self.stores = [(op, f"{self.group}-{_store_name(op)}-changelog") for op in stateful]
        self._stores_ready = False
        # per (changelog topic, partition): diff bytes since its last snapshot, and the size
        # of that snapshot (the state's size); snapshots staged in the current batch
        self._since_snapshot: dict[tuple[str, int], int] = {}
        self._snapshot_size: dict[tuple[str, int], int] = {}
        self._snapshots_staged: list[tuple[str, int]] = []
        self._pristine = True  # no state restored or built yet

    def _cut_for_scale_out(self) -> None:
        """On a log shared by several servers, cut a query whose state is not keyed by its
        sources' keys at repartition topics (ksqlpy/runtime/repartition.py): the part before
        the stateful operator runs on the source partitions, the rest on the repartition
        topic's, and the query splits by partition."""
        self.writers: dict[str, RepartitionWriter] = {}  # source topic -> its cut
        self.partition_local = self._plan_local
        if self.partition_local or getattr(self.log, "join_group", None) is None:
            return
        cuts = plan_cuts(self.plan, self.routes, self.group, self.log)
        if not cuts:
            return
        routes = list(self.routes)
        for cut in cuts:
            topic, decoder, ops = self.routes[cut.route]
            routes[cut.route] = (topic, decoder, ops[:cut.index])
            routes.append((cut.writer.topic, RepartitionDecoder(), ops[cut.index:]))
            self.writers[topic] = cut.writer
        self.routes = routes
        self.partition_local = True

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(r.source.name for r in self.plan.routes))

    def _produce(self, topic: str, batch: pa.RecordBatch,
                 partition: int) -> list[tuple[str, int, pa.RecordBatch]]:
        """Run ``batch`` through the routes reading ``topic``: (topic, partition, records)
        to append — the sink's, or the repartition topic's for a cut query's first half."""
        writer = self.writers.get(topic)
        if writer is not None:
            outs = route_batch(self.routes, topic, batch, partition)
            self.stats.records_in += batch.num_rows
            return [(writer.topic, p, b) for p, b in writer.records(outs).items()]
        if not any(w.topic == topic for w in self.writers.values()):
            self.stats.records_in += batch.num_rows
        outs = [self.encoder.encode(b) for b in route_batch(self.routes, topic, batch, partition)]
        outs = [o for o in outs if o.num_rows]
        if not outs:
            return []
        out = pa.Table.from_batches(outs).combine_chunks().to_batches()[0] if len(outs) > 1 \
            else outs[0]
        self.stats.records_out += out.num_rows
        info = self.log.topic(self.sink_topic)
        return [(self.sink_topic, p, b)
                for p, b in split_in_order(out, info.partitions if info else 1)]

    async def process(self, topic: str, partition: int, batch: pa.RecordBatch,
                      txn=None) -> None:
        """Run source records through the query; append its output to the sink topic (staged
        in ``txn`` when given, else appended at once)."""
        appends = self._produce(topic, batch, partition)
        appends += await self._changelogs(partition)
        for t, p, b in appends:
            if txn is not None:
                txn.append(t, p, b)
            else:
                first = await self.log.append(t, p, b)
                if (t, p) in self._snapshots_staged:
                    await self._truncate({(t, p): first}, [(t, p)])
        if txn is None:
            self._snapshots_staged = []

    def _commit(self, txn):
        """Commit ``txn`` (a batch's output, changelogs and offsets); then the changelog
        records before a snapshot it holds may go. The snapshots staged by this batch are
        taken now, before the next batch stages its own."""
        staged, self._snapshots_staged = self._snapshots_staged, []
        return self._commit_then_truncate(txn, staged)

    async def _commit_then_truncate(self, txn, staged: list[tuple[str, int]]) -> dict:
        firsts = await txn.commit()
        if staged:
            await self._truncate(firsts, staged)
        return firsts

    async def _truncate(self, firsts: dict, staged: list[tuple[str, int]]) -> None:
        """Delete what precedes the committed snapshots (the snapshot is the first record
        its batch wrote to the partition). Best effort: a failure only keeps records."""
        delete = getattr(self.log, "delete_records", None)
        if delete is None:
            return
        for tp in staged:
            offset = firsts.get(tp)
            if offset is None:
                continue
            try:
                await delete(tp[0], tp[1], offset)
            except Exception:
                logger.warning("query %s: truncating changelog %s/%d failed", self.id, *tp,
                               exc_info=True)

    def _snapshot_bytes(self) -> int:
        value = self.ctx.properties.get(SNAPSHOT_BYTES_PROPERTY)
        return DEFAULT_SNAPSHOT_BYTES if value in (None, "") else int(value)

    def _changelog_config(self) -> dict[str, str]:
        # Records are per-batch diffs under a fixed key, so the topic must keep every record:
        # compaction would drop all but the last diff. Snapshots let the query delete what
        # precedes them instead (``_truncate``). The embedded log deletes whole segments, so
        # its changelog segments are about a snapshot threshold in size.
        config = {"cleanup.policy": "delete", "retention.ms": "-1"}
        from ksqlpy.log.embedded import EmbeddedLog

        threshold = self._snapshot_bytes()
        if isinstance(self.log, EmbeddedLog) and threshold >= 0:
            config["segment.bytes"] = str(max(threshold, 4096))
        return config

    async def _ensure_repartition_topics(self) -> None:
        for writer in self.writers.values():
            await ensure_topic(self.log, writer.topic, writer.partitions,
                               {"cleanup.policy": "delete", "retention.ms": "-1"})

    def _changelog_partitions(self) -> int:
        """A partition-local query's changelogs have one partition per source partition (a
        server restores only the partitions it owns), as Kafka Streams' do; others one."""
        if not self.partition_local:
            return 1
        infos = [self.log.topic(t) for t in self.source_topics]
        return max([i.partitions for i in infos if i is not None], default=1)

    async def _changelogs(self, partition: int) -> list[tuple[str, int, pa.RecordBatch]]:
        """The state changes of this batch, to commit together with its output."""
        if not self.stores:
            return []
        if not self._stores_ready:
            for _, topic in self.stores:
                await ensure_topic(self.log, topic, self._changelog_partitions(),
                                   self._changelog_config())
            self._stores_ready = True
        out = []
        threshold = self._snapshot_bytes()
        for op, topic in self.stores:
            info = self.log.topic(topic)
            p = partition if info is not None and partition < info.partitions else 0
            # a partitioned changelog: the operator tags state with the partition, so a
            # snapshot of partition p holds exactly what is restored from partition p
            tag = p if info is not None and info.partitions > 1 else None
            entries = op.changelog(tag)
            if not entries:
                continue
            tp = (topic, p)
            since = self._since_snapshot.get(tp, 0) + sum(len(v or b"") for _, v in entries)
            # Snapshot once the diffs since the last one reach the state's size (at least
            # ``threshold``): snapshots then add at most as many bytes as the diffs (write
            # amplification ≤ 2), and what a restore reads stays ≤ ~2 × max(state,
            # threshold) plus one segment, however old the query.
            if threshold >= 0 and since >= max(threshold, self._snapshot_size.get(tp, 0)) \
                    and (tag is None or getattr(op, "snapshot_partitioned", True)):
                entries = op.snapshot(tag)  # covers this batch's diffs too
                self._snapshot_size[tp] = sum(len(v or b"") for _, v in entries)
                since = 0
                self._snapshots_staged.append(tp)
            self._since_snapshot[tp] = since
            keys = [k for k, _ in entries]
            values = [v for _, v in entries]
            out.append((topic, p, records(keys, values, [0] * len(keys))))
        return out

    @property
    def partitions_owned(self) -> int:
        """How many of its input partitions (sources and repartition topics) this server
        processes now."""
        return len(self._all_partitions()) if self.owned is None else len(self.owned)

    def _owns(self, topic: str, partition: int) -> bool:
        return self.owned is None or (topic, partition) in self.owned

    async def restore(self) -> None:
        """Rebuild operator state after a restart or a rebalance, for the partitions this
        server owns, from the stores' changelogs (joins' included: the sources' history is
        not needed)."""
        for op, topic in self.stores:
            info = self.log.topic(topic)
            if info is None:
                continue
            partitioned = info.partitions > 1
            # state tagged by partition restores partition by partition; a stream-stream
            # join's (never snapshotted when partitioned) from every partition at once
            split = partitioned and getattr(op, "snapshot_partitioned", True)
            merged = []
            for p in range(info.partitions):
                # a one-partition changelog holds every partition's state, in commit order
                if partitioned and not self._owns(self.source_topics[0], p):
                    continue
                entries, since, size = [], 0, 0
                # from the first retained record: truncation is segment-granular, so diffs
                # older than the partition's last snapshot may remain; they are skipped
                async for batch in read_to_end(self.log, topic, p):
                    for k, v in zip(batch.column("key").to_pylist(),
                                    batch.column("value").to_pylist()):
                        n = len(v or b"")
                        if k == SNAPSHOT:
                            entries, since, size = [], 0, n
                        else:
                            since += n
                        entries.append((k, v))
                self._since_snapshot[(topic, p)] = since
                self._snapshot_size[(topic, p)] = size
                if split:
                    op.restore_changelog(entries, p)
                else:
                    merged.extend(entries)
            if not split:
                op.restore_changelog(merged)

    # -- the query's own task ------------------------------------------------------------
    def start(self, offset_reset: str = "earliest", batch_size: int = 10_000) -> None:
        self.task = asyncio.create_task(self._run(offset_reset, batch_size),
                                        name=f"query-{self.id}")

    async def stop(self) -> None:
        self._stop.set()
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass
        leave = getattr(self.log, "leave_group", None)
        if leave is not None:  # let the other servers know at once, not at session timeout
            await leave(self.group)
        self.state = "TERMINATED"

    def _all_partitions(self) -> list[tuple[str, int]]:
        out = []
        for topic in self.source_topics:
            info = self.log.topic(topic)  # None: an internal topic not created yet
            out += [(topic, p) for p in range(info.partitions if info else 0)]
        return out

    def _start_positions(self, offset_reset: str) -> dict[tuple[str, int], int]:
        positions = {}
        for topic, p in self._all_partitions():
            if not self._owns(topic, p):
                continue
            committed = self.log.committed(self.group, topic, p)
            if committed is not None:
                positions[(topic, p)] = committed
            elif offset_reset == "latest":
                positions[(topic, p)] = self.log.end_offset(topic, p)
            else:
                positions[(topic, p)] = self.log.start_offset(topic, p)
        return positions

    def _owned_from(self, assignment: frozenset) -> frozenset:
        """The partitions to process given the group's ``assignment`` to this server."""
        if self.partition_local:
            return frozenset(tp for tp in assignment if tp[0] in self.source_topics)
        if (self.source_topics[0], 0) in assignment:  # the whole query runs here
            return frozenset(self._all_partitions())
        return frozenset()

    async def _take_over(self, owned: frozenset | None, offset_reset: str) -> dict:
        """Start over on the partitions ``owned``: fresh operators (state of partitions
        given away must go), state restored for those partitions, positions from the
        committed offsets."""
        if self._replan is not None and not self._pristine:
            self._use_plan(self._replan())
        self._pristine = False
        self.owned = owned
        refresh = getattr(self.log, "refresh_committed", None)
        if refresh is not None:  # the previous owner committed them, not this server
            await refresh(self.group, self.source_topics)
        await self.restore()
        return self._start_positions(offset_reset)

    async def _run(self, offset_reset: str, batch_size: int) -> None:
        join_group = getattr(self.log, "join_group", None)
        membership = None
        if join_group is not None:  # scale-out: the servers split the partitions
            await self._ensure_repartition_topics()  # subscribed to with the sources
            membership = await join_group(self.group, self.source_topics)
        seen = None  # the assignment the positions belong to; None: (re)start
        positions: dict = {}
        # One commit in flight while the next batch is processed: fsync overlaps CPU work.
        # Commits stay in order, and a batch's output and offsets commit together.
        pending: asyncio.Future | None = None
        try:
            while not self._stop.is_set():
                if membership is not None and membership.assignment is None:
                    await membership.wait_changed(0.5)  # still joining the group
                    continue
                current = membership.version if membership is not None else 0
                if seen != current:
                    await self._settle(pending)
                    pending, seen = None, current
                    owned = None if membership is None else \
                        self._owned_from(membership.assignment or frozenset())
                    try:
                        positions = await self._take_over(owned, offset_reset)
                    except Exception:  # the log is unreachable for now: try again
                        logger.exception("query %s: restoring state failed", self.id)
                        seen, positions = None, {}
                        await asyncio.sleep(1.0)
                    continue
                if not positions:  # nothing owned here (yet): stand by
                    await membership.wait_changed(0.5)
                    continue
                progressed = False
                for (topic, p), batch in await self._next_batches(positions, batch_size):
                    progressed = True
                    nxt = batch.column("offset")[-1].as_py() + 1
                    txn = self.log.transaction()
                    try:
                        await self.process(topic, p, batch, txn)
                    except Exception as e:  # a bug must not kill the server: stop this query
                        logger.exception("query %s failed", self.id)
                        self.state = "ERROR"
                        self.error = str(e)
                        return
                    txn.commit_offsets(self.group, {(topic, p): nxt})
                    if await self._settle(pending) is _RESTART:
                        seen, pending = None, None
                        self._snapshots_staged = []
                        break
                    pending = asyncio.ensure_future(self._commit(txn))
                    positions[(topic, p)] = nxt
                    await asyncio.sleep(0)
                if not progressed:
                    if await self._settle(pending) is _RESTART:
                        seen = None
                    pending = None
                    await self.log.wait(positions, timeout=0.5)
        finally:
            if pending is not None and not pending.done():
                try:
                    await asyncio.shield(pending)
                except Exception:
                    logger.warning("query %s: last commit failed", self.id)

    async def _settle(self, pending: asyncio.Future | None):
        """Wait for the commit in flight. A commit that failed — refused because the group
        rebalanced, or the log failed — returns ``_RESTART``: the query starts over from its
        committed offsets and changelogs (output of the failed batch may repeat: at least
        once; nothing is lost)."""
        if pending is None:
            return None
        try:
            await pending
        except RebalanceError as e:
            logger.info("query %s: %s", self.id, e)
            return _RESTART
        except Exception:
            logger.exception("query %s: commit failed; starting over from the committed "
                             "offsets", self.id)
            await asyncio.sleep(1.0)
            return _RESTART
        return None

    async def _next_batches(self, positions: dict, batch_size: int) -> list:
        """The batches to process next. With several source partitions (joins), records
        are taken in timestamp order across them, as Kafka Streams does: the partition whose
        next record is oldest goes first, cut where another partition's next record is
        older — so a table's rows are in place before the stream rows that follow them."""
        heads = {}
        for tp, offset in positions.items():
            batch = await self.log.read(tp[0], tp[1], offset, batch_size)
            if batch.num_rows:
                heads[tp] = batch
        if len(positions) == 1 or len(heads) <= 1:
            return list(heads.items())
        first = {tp: b.column("timestamp")[0].as_py() for tp, b in heads.items()}
        tp = min(first, key=lambda k: first[k])
        limit = min(v for k, v in first.items() if k != tp)
        ts = heads[tp].column("timestamp")
        cut = pc.index(pc.greater(ts, limit), True).as_py()
        batch = heads[tp] if cut < 0 else heads[tp].slice(0, max(cut, 1))
        return [(tp, batch)]

    def is_caught_up(self) -> bool:
        """Whether this server has processed every record of the partitions it owns."""
        for topic, p in self._all_partitions():
            if self._owns(topic, p) and \
                    (self.log.committed(self.group, topic, p) or 0) < self.log.end_offset(topic, p):
                return False
        return True


#: the id prefix of a scalable push query (ksqlDB's ScalablePushUtil conditions)
SCALABLE_PREFIX = "SCALABLE_PUSH_QUERY_"


class TransientQuery:
    """A push query: same pipeline, rows delivered to the caller instead of a topic.

    Rows go to ``queue`` (a bounded :class:`~ksqlpy.runtime.push_fanout.PushBuffer`) as
    :class:`~ksqlpy.runtime.push_fanout.RowBlock` items, ended by ``None``. Identical
    stateless push queries from the latest offset share one pipeline (see
    ``push_fanout.py``); any other push query, or a shared one that falls behind its
    pipeline, runs its own and pauses while its buffer is full (a shared one goes back to its
    pipeline once it has caught up)."""

    def __init__(self, query_id: str, plan: QueryPlan, log: Log, ctx: OperatorContext,
                 offset_reset: str = "latest", limit: int | None = None,
                 max_buffered: int = 1000, until_end: bool = False):
        self.id = query_id
        self.plan = plan
        self.log = log
        self.ctx = ctx
        self._routes = None  # opened on first use: a shared query runs its pipeline's
        self.limit = limit
        self.offset_reset = offset_reset
        # bounded: a slow consumer pauses this query, never the persistent ones
        self.queue = PushBuffer(max_buffered)
        self.task: asyncio.Task | None = None
        self.columns = [c for c in plan.output.columns]
        self.emitted = 0
        self.done_reason: str | None = None
        self.until_end = until_end  # pull query over a stream: stop at the current end
        self.shared = False         # fed by a shared pipeline right now
        self._pipeline = None
        self._handoff: asyncio.Future | None = None
        # a scalable push query (see new_id) reads its source as ksqlDB's
        # ScalablePushConsumer does: records with a null value, or a null key when the
        # source has key columns, are skipped
        self.scalable = query_id.startswith(SCALABLE_PREFIX)

    def _route(self, routes, topic: str, batch: pa.RecordBatch, partition: int):
        if self.scalable and batch.num_rows:
            keep = pc.is_valid(batch.column("value"))
            if self.plan.source.schema.key:
                keep = pc.and_(keep, pc.is_valid(batch.column("key")))
            if keep.false_count:
                batch = batch.filter(keep)
                if batch.num_rows == 0:
                    return []
        return route_batch(routes, topic, batch, partition)

    @staticmethod
    def new_id(plan: QueryPlan, select, persistent_queries, properties: dict) -> str:
        """``SCALABLE_PUSH_QUERY_<uuid>`` for what ksqlDB runs as a scalable push query
        (ScalablePushUtil: push v2 enabled, EMIT CHANGES, one source written by exactly one
        persistent query, from the latest offset, no aggregation, PARTITION BY, ROWPARTITION
        or ROWOFFSET), else ``transient_<SOURCE>_<n>``."""
        import random
        import uuid

        from sqlglot import exp

        def latest() -> bool:
            for k in ("auto.offset.reset", "ksql.streams.auto.offset.reset"):
                if k in properties:
                    return str(properties[k]).lower() == "latest"
            return True

        def system_columns() -> bool:
            nodes = list(select.expressions)
            if select.args.get("where") is not None:
                nodes.append(select.args["where"])
            return any(c.name.upper() in ("ROWPARTITION", "ROWOFFSET")
                       for n in nodes for c in n.find_all(exp.Column))

        scalable = (
            str(properties.get("ksql.query.push.v2.enabled", "false")).lower() == "true"
            and plan.emit == "CHANGES" and len(plan.sources) == 1
            and "window" not in (plan.extra or {})
            and select.args.get("group") is None and select.args.get("having") is None
            and select.args.get("partition_by") is None
            and latest()
            and sum(1 for q in persistent_queries
                    if getattr(getattr(q, "sink", None), "name", None) == plan.source.name) == 1
            and not system_columns())
        if scalable:
            return f"{SCALABLE_PREFIX}{uuid.uuid4()}"
        return f"transient_{plan.source.name}_{random.getrandbits(63)}"

    @property
    def result_is_stream(self) -> bool:
        """The query's result is a stream (not an aggregation, nor a table source or a join
        that yields a table): its null-value records are not delivered."""
        extra = self.plan.extra or {}
        if "window" in extra:  # an aggregation
            return False
        return extra.get("result_kind", self.plan.source.kind) == "STREAM"

    @property
    def routes(self):
        if self._routes is None:
            self._routes = _open_routes(self.plan, self.ctx)
        return self._routes

    def start(self) -> None:
        # The start positions are fixed now, not when the task first runs: a record appended
        # after the query started (its header sent) but before the task is scheduled must be
        # delivered, as ksqlDB's push query delivers every record produced after it started.
        self.task = asyncio.create_task(self._run(self._start_positions()),
                                        name=f"push-{self.id}")

    def _start_positions(self) -> dict:
        positions = {}
        for topic in dict.fromkeys(r.source.topic for r in self.plan.routes):
            info = self.log.topic(topic)
            for p in range(info.partitions if info else 1):
                positions[(topic, p)] = self.log.end_offset(topic, p) \
                    if self.offset_reset == "latest" else self.log.start_offset(topic, p)
        return positions

    async def _run(self, positions: dict) -> None:
        names = [c.name for c in self.columns]
        shareable = is_shareable(self.plan, self.offset_reset, self.until_end)
        try:
            while True:
                if shareable:
                    resume = await self._run_shared(positions, names)
                    if resume is None:
                        return
                    shareable = resume is not positions  # refused: stay alone
                    positions = resume
                # alone: to the end, or until caught up again and back on the shared pipeline
                if await self._run_private(positions, names, rejoin=shareable):
                    return
        finally:
            self._leave()
            self.queue.close()  # never waits: the end marker does not count in the bound

    # -- on a shared pipeline ----------------------------------------------------------------
    async def _run_shared(self, positions: dict, names: list[str]) -> dict | None:
        """Subscribe to the pipeline of identical queries; returns None when done (LIMIT),
        or the positions to go on from alone (detached, or no pipeline could take it)."""
        key = share_key(self.plan, self.ctx.properties) + ("|scalable" if self.scalable else "")

        def make():
            routes = self.routes
            return SharedPushPipeline(key, self.log,
                                      lambda t, b, p: self._route(routes, t, b, p),
                                      names, positions,
                                      drop_null_values=self.result_is_stream)

        pipeline = shared_pipeline(self.log, key, make)
        self._handoff = asyncio.get_running_loop().create_future()
        if not pipeline.subscribe(self, positions):
            return positions  # the very dict: refused
        self._pipeline = pipeline
        self.shared = True
        logger.debug("push query %s on shared pipeline %x", self.id, id(pipeline))
        return await self._handoff

    def _shared_deliver(self, block: RowBlock) -> bool:
        """Called by the pipeline with each block; False = buffer full (detach me)."""
        if self.limit is not None and len(block) > self.limit - self.emitted:
            block = block.head(self.limit - self.emitted)
        if not self.queue.offer(block):
            return False
        self.emitted += len(block)
        if self.limit is not None and self.emitted >= self.limit:
            self.done_reason = "Limit Reached"
            self._leave()
            self._resolve(None)
        return True

    def _shared_detach(self, resume: dict) -> None:
        self._pipeline = None
        self.shared = False
        self._resolve(resume)

    def _shared_failed(self, error: Exception) -> None:
        self._pipeline = None
        self.shared = False
        if self._handoff is not None and not self._handoff.done():
            self._handoff.set_exception(error)

    def _resolve(self, value) -> None:
        if self._handoff is not None and not self._handoff.done():
            self._handoff.set_result(value)

    def _leave(self) -> None:
        pipeline, self._pipeline = self._pipeline, None
        self.shared = False
        if pipeline is not None:
            pipeline.unsubscribe(self)

    # -- alone ------------------------------------------------------------------------------
    async def _run_private(self, positions: dict, names: list[str],
                           rejoin: bool = False) -> bool:
        """Run from ``positions`` (updated in place); True when done (LIMIT, end of a pull
        over a stream). With ``rejoin``, returns False once caught up with the source and
        the buffer half empty: time to go back to the shared pipeline."""
        ends = {tp: self.log.end_offset(*tp) for tp in positions}
        while True:
            if self.until_end and all(positions[tp] >= ends[tp] for tp in positions):
                self.done_reason = "Query Completed"
                return True
            progressed = False
            for (t, p), offset in list(positions.items()):
                batch = await self.log.read(t, p, offset, 1000)
                if batch.num_rows == 0:
                    continue
                progressed = True
                positions[(t, p)] = batch.column("offset")[-1].as_py() + 1
                rows = rows_of(self._route(self.routes, t, batch, p), names,
                               self.result_is_stream)
                if not rows:
                    continue
                if self.limit is not None:
                    rows = rows[:self.limit - self.emitted]
                await self.queue.put(RowBlock(rows))
                self.emitted += len(rows)
                if self.limit is not None and self.emitted >= self.limit:
                    self.done_reason = "Limit Reached"
                    return True
            if not progressed:
                if rejoin and self.queue.rows <= self.queue.capacity // 2:
                    return False
                await self.log.wait(positions, timeout=0.5)

    async def rows(self):
        while True:
            block = await self.queue.get()
            if block is None:
                return
            for row in block.rows:
                yield list(row)

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass
