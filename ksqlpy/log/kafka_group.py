"""Consumer-group membership for scale-out (stage: log, Kafka backend).

Servers that share a service id run the same persistent queries; each query's consumer group
(its ksqlDB application id) splits the source partitions among them, as Kafka Streams does.
ksqlpy reads records through :class:`~ksqlpy.log.kafka.KafkaLog`'s own fetch path, so the
group consumer here is used for membership only: it joins, heartbeats and receives
assignments, and its assigned partitions stay paused so it never fetches records itself.

The range assignor gives the same partition numbers of co-partitioned topics to the same
member, which joins on the key need. Offsets are committed with the member's generation, so
a member that lost its partitions in a rebalance cannot commit over the new owner's offsets
(the broker answers ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID / REBALANCE_IN_PROGRESS and the
query re-reads its assignment; see :class:`RebalanceError`).
"""

from __future__ import annotations

import asyncio
import logging

logger = logging.getLogger(__name__)

__all__ = ["GroupMembership", "RebalanceError", "REBALANCE_CODES"]

# ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID
REBALANCE_CODES = frozenset({22, 25, 27, 82})


class RebalanceError(RuntimeError):
    """An offset commit was refused because the group rebalanced under this member."""


class GroupMembership:
    """This server's membership in one query's consumer group.

    ``assignment`` is the set of (topic, partition) this member owns (None until the first
    assignment); ``version`` grows with every assignment and ``changed`` is set when it does.
    """

    def __init__(self, client_kwargs: dict, group: str, topics: list[str],
                 session_timeout_ms: int = 10_000, heartbeat_interval_ms: int = 1_000):
        self.group = group
        self.topics = list(topics)
        self.assignment: frozenset[tuple[str, int]] | None = None
        self.version = 0
        self.changed = asyncio.Event()
        self._kwargs = client_kwargs
        self._session_timeout_ms = session_timeout_ms
        self._heartbeat_interval_ms = heartbeat_interval_ms
        self._consumer = None

    async def start(self) -> GroupMembership:
        from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
        from aiokafka.coordinator.assignors.range import RangePartitionAssignor

        membership = self

        class Listener(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked):
                if revoked:  # aiokafka also "revokes" nothing before the first join
                    membership._assign(frozenset())

            async def on_partitions_assigned(self, assigned):
                if assigned:  # never fetch through this consumer: records come via KafkaLog
                    membership._consumer.pause(*assigned)
                membership._assign(frozenset((tp.topic, tp.partition) for tp in assigned))

        self._consumer = AIOKafkaConsumer(
            **self._kwargs, group_id=self.group, enable_auto_commit=False,
            partition_assignment_strategy=(RangePartitionAssignor,),
            session_timeout_ms=self._session_timeout_ms,
            rebalance_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=self._heartbeat_interval_ms,
            # records are never polled from this consumer, so poll intervals mean nothing
            max_poll_interval_ms=7 * 24 * 3600 * 1000)
        await self._consumer.start()
        self._consumer.subscribe(self.topics, listener=Listener())
        return self

    def _assign(self, assignment: frozenset) -> None:
        self.assignment = assignment
        self.version += 1
        self.changed.set()
        logger.info("group %s: assigned %s", self.group, sorted(assignment))

    @property
    def generation(self) -> int:
        coord = getattr(self._consumer, "_coordinator", None)
        return -1 if coord is None else coord.generation

    @property
    def member_id(self) -> str:
        coord = getattr(self._consumer, "_coordinator", None)
        return "" if coord is None else coord.member_id

    async def wait_changed(self, timeout: float) -> None:
        self.changed.clear()
        try:
            await asyncio.wait_for(self.changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def stop(self) -> None:
        """Leave the group (the others take over this member's partitions at once)."""
        if self._consumer is not None:
            try:
                await self._consumer.stop()
            except Exception:
                logger.debug("leaving group %s failed", self.group, exc_info=True)
            self._consumer = None
