"""KafkaLog: the Log protocol over a Kafka-compatible broker (storage edge: topics ↔ Arrow batches).

Input: produce batches (PRODUCE_SCHEMA) and consumer-group offsets; output: RECORD_SCHEMA batches
read by position. Same contract as the embedded log (tests/log/test_log_contract.py), over
aiokafka:

* **Produce** is batched: each staged Arrow batch becomes Kafka record batches built in bulk
  (``create_batch``/``send_batch``, ~0.9 MB each), every partition's batches in flight at once,
  then one wait for all acknowledgements. Compression comes from ``compression.type``.
* **Read** is pull-style by position, as the protocol wants: raw Fetch requests at exactly the
  requested offset, decoded straight into Arrow columns, cached per partition ("chunks") with
  one read-ahead fetch in flight, so a query reading 10k-record batches rarely waits on the
  network.
* **wait()** registers positions with one background poller that long-polls the broker (Fetch
  with ``max_wait``) for every watched partition; its fetched data goes into the read cache.
  Local commits wake waiters at once.
* **Transactions**: with ``processing.guarantee=exactly_once_v2`` and a broker that supports
  transactions, a commit is one Kafka transaction (records + ``send_offsets_to_transaction``),
  and reads use ``read_committed``. Otherwise (the default, and on brokers without
  transactions such as Tansu) it is at-least-once: staged batches are produced and
  acknowledged, then the group offsets are committed. A crash between the two replays the batch.
* **Synchronous metadata** (``topic``, ``end_offset``, ``start_offset``, ``committed``) is
  answered from caches kept current by produce acks, fetch high watermarks, offset commits and
  a background refresh; a cache miss is answered by a blocking request on a helper thread
  (its own event loop and client), so a fresh server sees offsets committed before it started.

Kafka cannot tell "no headers" from "an empty header list": both read back as null headers.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ._common import (EMPTY_RECORDS, Appends, GroupOffsets, LogClosedError, Notifier,
                      StagedTransaction, TopicPartition, check_partition)
from .base import HEADER_TYPE, RECORD_SCHEMA, TopicExistsError, TopicInfo, UnknownTopicError
from .kafka_group import REBALANCE_CODES, GroupMembership, RebalanceError

__all__ = ["KafkaConfig", "KafkaLog", "KafkaLogError"]

logger = logging.getLogger(__name__)

_READ_UNCOMMITTED, _READ_COMMITTED = 0, 1
_COMMAND_TOPIC = re.compile(r"^_confluent-ksql-.*_command_topic$")
#: Error codes used below (Kafka protocol).
_OFFSET_OUT_OF_RANGE, _UNKNOWN_TOPIC, _NOT_LEADER, _TOPIC_EXISTS = 1, 3, 6, 36
_NOT_COORDINATOR, _COORDINATOR_LOADING, _COORDINATOR_NA = 16, 14, 15


class KafkaLogError(RuntimeError):
    """The broker refused a request (error code and name in the message)."""


def _error(code: int, what: str) -> KafkaLogError:
    import aiokafka.errors as errors

    return KafkaLogError(f"{what}: {errors.for_code(code).__name__} (error code {code})")


# -- configuration ---------------------------------------------------------------------------

def _prop(props: dict, *names: str, default=None):
    """First of ``names`` found, also under ksqlDB's ``ksql.streams.`` prefix."""
    for name in names:
        for key in (f"ksql.streams.{name}", name):
            if key in props and props[key] not in (None, ""):
                return str(props[key])
    return default


@dataclass
class KafkaConfig:
    """How to reach the broker. ``from_properties`` reads Kafka client names (optionally with
    ksqlDB's ``ksql.streams.`` prefix): ``bootstrap.servers``, ``security.protocol``,
    ``sasl.mechanism``, ``sasl.jaas.config`` (or ``sasl.username``/``sasl.password``),
    ``ssl.ca.location``, ``ssl.certificate.location``, ``ssl.key.location``,
    ``ssl.key.password``, ``ssl.endpoint.identification.algorithm``, ``compression.type``,
    ``linger.ms``, ``client.id``, ``processing.guarantee``, ``transactional.id``,
    ``session.timeout.ms`` and ``heartbeat.interval.ms`` (the query consumer groups).
    """

    bootstrap_servers: str = "localhost:9092"
    client_id: str = "ksqlpy"
    security_protocol: str = "PLAINTEXT"      # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str = "PLAIN"             # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 | …
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password: str | None = None
    ssl_check_hostname: bool = True
    compression_type: str | None = None       # gzip | snappy | lz4 | zstd
    linger_ms: int = 0
    max_batch_bytes: int = 900_000            # one Kafka record batch (< message.max.bytes)
    fetch_partition_bytes: int = 4 << 20      # per partition per fetch (read-ahead size)
    poll_wait_ms: int = 100                   # long-poll wait of the wait() poller
    refresh_interval: float = 1.0             # background metadata / end-offset refresh
    request_timeout_ms: int = 30_000
    processing_guarantee: str = "at_least_once"   # or exactly_once_v2
    transactional_id: str | None = None
    session_timeout_ms: int = 10_000          # query consumer groups: failover detection
    heartbeat_interval_ms: int = 1_000
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_properties(cls, props: dict | None, bootstrap_servers: str | None = None
                        ) -> KafkaConfig:
        props = {str(k): str(v) for k, v in (props or {}).items()}
        cfg = cls()
        cfg.bootstrap_servers = bootstrap_servers or _prop(props, "bootstrap.servers",
                                                           default=cfg.bootstrap_servers)
        cfg.client_id = _prop(props, "client.id", default=cfg.client_id)
        cfg.security_protocol = _prop(props, "security.protocol",
                                      default=cfg.security_protocol).upper()
        cfg.sasl_mechanism = _prop(props, "sasl.mechanism", default=cfg.sasl_mechanism)
        jaas = _prop(props, "sasl.jaas.config")
        if jaas:
            user = re.search(r'username\s*=\s*"([^"]*)"', jaas)
            pwd = re.search(r'password\s*=\s*"([^"]*)"', jaas)
            cfg.sasl_username = user.group(1) if user else None
            cfg.sasl_password = pwd.group(1) if pwd else None
        cfg.sasl_username = _prop(props, "sasl.username", default=cfg.sasl_username)
        cfg.sasl_password = _prop(props, "sasl.password", default=cfg.sasl_password)
        cfg.ssl_cafile = _prop(props, "ssl.ca.location", "ssl.truststore.location")
        cfg.ssl_certfile = _prop(props, "ssl.certificate.location", "ssl.keystore.location")
        cfg.ssl_keyfile = _prop(props, "ssl.key.location")
        cfg.ssl_password = _prop(props, "ssl.key.password")
        cfg.ssl_check_hostname = _prop(props, "ssl.endpoint.identification.algorithm",
                                       default="https").lower() != "none" \
            and _prop(props, "ssl.endpoint.identification.algorithm", default="https") != ""
        comp = _prop(props, "compression.type", "producer.compression.type")
        cfg.compression_type = None if comp in (None, "none") else comp
        cfg.linger_ms = int(_prop(props, "linger.ms", "producer.linger.ms", default=0))
        cfg.processing_guarantee = _prop(props, "processing.guarantee",
                                         default=cfg.processing_guarantee).lower()
        cfg.transactional_id = _prop(props, "transactional.id")
        cfg.session_timeout_ms = int(_prop(props, "session.timeout.ms", "consumer.session.timeout.ms",
                                           default=cfg.session_timeout_ms))
        cfg.heartbeat_interval_ms = int(_prop(props, "heartbeat.interval.ms",
                                              "consumer.heartbeat.interval.ms",
                                              default=cfg.heartbeat_interval_ms))
        return cfg

    @property
    def exactly_once(self) -> bool:
        return self.processing_guarantee.startswith("exactly_once")

    def client_kwargs(self) -> dict:
        """Connection settings shared by every aiokafka client of the log."""
        kw: dict = {"bootstrap_servers": self.bootstrap_servers,
                    "client_id": self.client_id,
                    "request_timeout_ms": self.request_timeout_ms,
                    "security_protocol": self.security_protocol}
        if "SSL" in self.security_protocol:
            ctx = ssl.create_default_context(cafile=self.ssl_cafile)
            ctx.check_hostname = self.ssl_check_hostname
            if not self.ssl_check_hostname:
                ctx.verify_mode = ssl.CERT_REQUIRED if self.ssl_cafile else ssl.CERT_NONE
            if self.ssl_certfile:
                ctx.load_cert_chain(self.ssl_certfile, self.ssl_keyfile, self.ssl_password)
            kw["ssl_context"] = ctx
        if "SASL" in self.security_protocol:
            kw.update(sasl_mechanism=self.sasl_mechanism,
                      sasl_plain_username=self.sasl_username,
                      sasl_plain_password=self.sasl_password)
        return kw


# -- protocol helpers (used on the main loop and on the sync helper thread) -------------------

async def _metadata(client, names: list[str] | None) -> dict[str, list[tuple[int, int, int]]]:
    """Topic → [(partition, leader, replicas)], without auto-creating anything."""
    from aiokafka.protocol.metadata import MetadataRequest

    node = client.get_random_node()
    resp = await client.send(node, MetadataRequest(names, allow_auto_topic_creation=False))
    if names is None:  # keep broker addresses current (a full listing has no missing topics)
        client.cluster.update_metadata(resp)
    out = {}
    for t in resp.topics:
        code, name, internal, parts = t[0], t[1], t[2], t[3]
        if code or internal or name.startswith("__"):
            continue
        out[name] = sorted((p[1], p[2], len(p[3])) for p in parts)
    return out


async def _list_offsets(client, leaders: dict[TopicPartition, int], which: int
                        ) -> dict[TopicPartition, int]:
    """ListOffsets: which=-1 latest, -2 earliest."""
    from aiokafka.protocol.offset import OffsetRequest

    by_node: dict[int, dict[str, list]] = {}
    for (t, p), node in leaders.items():
        by_node.setdefault(node, {}).setdefault(t, []).append((p, which))
    out = {}
    for node, topics in by_node.items():
        resp = await client.send(node, OffsetRequest(-1, 0, list(topics.items())))
        for t, parts in resp.topics:
            for part in parts:
                if part[1] == 0:
                    out[(t, part[0])] = part[-1]
    return out


async def _high_watermarks(client, leaders: dict[TopicPartition, int],
                           near: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
    """Exact end offsets: a minimal fetch near the end returns each partition's high
    watermark. (Some brokers — Tansu — under-report ListOffsets(latest) just after a produce,
    so the fetch is the reliable figure.)"""
    from aiokafka.protocol.fetch import FetchRequest

    by_node: dict[int, dict[str, list]] = {}
    for (t, p), node in leaders.items():
        by_node.setdefault(node, {}).setdefault(t, []).append(
            (p, max(near.get((t, p), 0) - 1, 0), 1))
    out = {}
    for node, topics in by_node.items():
        resp = await client.send(node, FetchRequest(1, 0, 1, _READ_UNCOMMITTED,
                                                    list(topics.items())))
        for t, parts in resp.topics:
            for part in parts:
                if part[1] == 0 and part[2] >= 0:
                    out[(t, part[0])] = part[2]
    return out


async def _fetch_committed(client, group: str, topic: str, partitions: list[int]
                           ) -> dict[TopicPartition, int | None]:
    from aiokafka.protocol.commit import OffsetFetchRequest

    coord = await client.coordinator_lookup(0, group)
    # Always name the partitions: some brokers (Tansu) drop the connection on the
    # "all partitions" form of OffsetFetch.
    resp = await client.send(coord, OffsetFetchRequest(group, [(topic, partitions)]))
    out: dict[TopicPartition, int | None] = {(topic, p): None for p in partitions}
    for t, parts in resp.topics:
        for part in parts:
            if part[-1] == 0 and part[1] >= 0:
                out[(t, part[0])] = part[1]
    return out


def _aborted(part) -> list | None:
    """A fetch response partition's aborted transactions (their place depends on the version:
    the one list among the fields between the high watermark and the records)."""
    return next((x for x in part[3:-1] if isinstance(x, list)), None)


def _decode(raw: bytes | None, offset: int, isolation: int, aborted
            ) -> tuple[pa.RecordBatch, int]:
    """Kafka record batches → one RECORD_SCHEMA batch of records at offset >= ``offset``, and
    the next offset to fetch (past control and aborted batches)."""
    from aiokafka.record.control_record import ABORT_MARKER, ControlRecord
    from aiokafka.record.memory_records import MemoryRecords

    offs, tss, keys, vals, hdrs = [], [], [], [], []
    any_headers = False
    nxt = offset
    if raw:
        records = MemoryRecords(raw)
        aborted = sorted(aborted or [], key=lambda a: a[1])
        aborted_producers: set[int] = set()
        while records.has_next():
            batch = records.next_batch()
            if batch is None:
                break
            if isolation == _READ_COMMITTED and batch.producer_id is not None:
                while aborted and aborted[0][1] <= batch.base_offset:
                    aborted_producers.add(aborted.pop(0)[0])
                if batch.is_control_batch:
                    for rec in batch:
                        if ControlRecord.parse(rec.key) == ABORT_MARKER:
                            aborted_producers.discard(batch.producer_id)
                        break
                elif batch.is_transactional and batch.producer_id in aborted_producers:
                    nxt = max(nxt, batch.next_offset)
                    continue
            if batch.is_control_batch:
                nxt = max(nxt, batch.next_offset)
                continue
            for rec in batch:
                o = rec.offset
                if o < offset:
                    continue
                offs.append(o)
                tss.append(rec.timestamp)
                keys.append(rec.key)
                vals.append(rec.value)
                h = rec.headers
                if h:
                    any_headers = True
                    hdrs.append([{"key": k, "value": v} for k, v in h])
                else:
                    hdrs.append(None)
            nxt = max(nxt, batch.next_offset)
    n = len(offs)
    if n == 0:
        return EMPTY_RECORDS, nxt
    headers = pa.array(hdrs, HEADER_TYPE) if any_headers else pa.nulls(n, HEADER_TYPE)
    out = pa.RecordBatch.from_arrays(
        [pa.array(offs, pa.int64()), pa.array(tss, pa.int64()), pa.array(keys, pa.binary()),
         pa.array(vals, pa.binary()), headers], schema=RECORD_SCHEMA)
    return out, nxt


# -- a helper thread for synchronous cache misses ---------------------------------------------

class _SyncBridge:
    """Its own event loop on a daemon thread, with its own client: lets the synchronous parts
    of the Log protocol ask the broker without touching the caller's loop."""

    def __init__(self, config: KafkaConfig):
        self._config = config
        self._loop = asyncio.new_event_loop()
        self._client = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="kafka-log-sync",
                                        daemon=True)
        self._thread.start()

    def call(self, fn, *args, timeout: float = 30.0):
        async def run():
            if self._client is None:
                from aiokafka.client import AIOKafkaClient

                client = AIOKafkaClient(**self._config.client_kwargs())
                await client.bootstrap()
                self._client = client
            return await fn(self._client, *args)
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def close(self) -> None:
        async def stop():
            if self._client is not None:
                await self._client.close()
        try:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        except Exception:  # closing is best effort
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()


@dataclass
class _Chunk:
    """Decoded records covering offsets [start, next) of one partition."""
    start: int
    next: int
    batch: pa.RecordBatch
    offsets: np.ndarray


# -- the log ------------------------------------------------------------------------------------

class KafkaLog:
    """A :class:`~ksqlpy.log.base.Log` over a Kafka-compatible broker (aiokafka)."""

    MAX_CHUNKS = 4  # per partition: a few readers at different positions share the cache

    def __init__(self, config: KafkaConfig | None = None, **kwargs):
        self.config = config or KafkaConfig(**kwargs)
        self.exactly_once = False  # set by start(): transactions requested and supported
        self._topics: dict[str, TopicInfo] = {}
        self._configs: dict[str, dict[str, str]] = {}
        self._leaders: dict[TopicPartition, int] = {}
        self._ends: dict[TopicPartition, int] = {}
        self._starts: dict[TopicPartition, int] = {}
        self._groups: dict[str, dict[TopicPartition, int | None]] = {}
        self._members: dict[str, GroupMembership] = {}  # groups this server is a member of
        self._coordinators: dict[str, int] = {}
        self._chunks: dict[TopicPartition, list[_Chunk]] = {}
        self._inflight: dict[tuple[TopicPartition, int], asyncio.Task] = {}
        self._watch: dict[TopicPartition, list[int]] = {}
        self._missing: dict[str, float] = {}
        self._deleted: dict[str, float] = {}
        self._no_delete_records: set[str] = set()  # topics whose DeleteRecords failed
        self._notifier = Notifier()
        self._bridge: _SyncBridge | None = None
        self._client = self._poll_client = self._admin = self._producer = None
        self._start_lock: asyncio.Lock | None = None
        self._txn_lock: asyncio.Lock | None = None
        self._poll_event: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._started = False
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (idempotent). Async methods call it on first use."""
        self._check_open()
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            from aiokafka import AIOKafkaProducer
            from aiokafka.admin import AIOKafkaAdminClient
            from aiokafka.client import AIOKafkaClient

            kw = self.config.client_kwargs()
            self._client = AIOKafkaClient(**kw)
            await self._client.bootstrap()
            self._poll_client = AIOKafkaClient(**kw)  # long polls get their own connection
            await self._poll_client.bootstrap()
            self._admin = AIOKafkaAdminClient(**kw)
            await self._admin.start()
            pkw = dict(kw, acks="all", linger_ms=self.config.linger_ms,
                       compression_type=self.config.compression_type,
                       max_batch_size=self.config.max_batch_bytes,
                       max_request_size=max(self.config.max_batch_bytes * 2, 1 << 20))
            self._producer = None
            if self.config.exactly_once:
                self._producer = await self._start_transactional(AIOKafkaProducer, pkw)
            if self._producer is None:
                self._producer = AIOKafkaProducer(**pkw)
                await self._producer.start()
            self._txn_lock = asyncio.Lock()
            self._poll_event = asyncio.Event()
            await self._refresh_metadata()
            self._tasks = [asyncio.create_task(self._poller(), name="kafka-log-poller"),
                           asyncio.create_task(self._refresher(), name="kafka-log-refresh")]
            self._started = True

    async def _start_transactional(self, producer_cls, kw):
        tid = self.config.transactional_id or f"ksqlpy-{uuid.uuid4()}"
        producer = producer_cls(**kw, transactional_id=tid, enable_idempotence=True)
        try:
            await asyncio.wait_for(producer.start(), 10)
            await asyncio.wait_for(producer.begin_transaction(), 10)
            await asyncio.wait_for(producer.commit_transaction(), 10)
        except Exception as e:  # the broker has no (working) transactions
            logger.warning("processing.guarantee=%s requested but the broker does not support "
                           "transactions (%s); falling back to at_least_once",
                           self.config.processing_guarantee, e)
            try:
                await producer.stop()
            except Exception:
                pass
            return None
        self.exactly_once = True
        return producer

    async def close(self) -> None:
        if self._closed:
            return
        for member in list(self._members.values()):
            await member.stop()
        self._members.clear()
        self._closed = True
        self._notifier.notify()
        for task in [*self._tasks, *self._inflight.values()]:
            task.cancel()
        for task in [*self._tasks, *self._inflight.values()]:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        for closer in (getattr(self._producer, "stop", None), getattr(self._admin, "close", None),
                       getattr(self._client, "close", None),
                       getattr(self._poll_client, "close", None)):
            if closer is not None:
                try:
                    await closer()
                except Exception:
                    logger.debug("error closing a Kafka client", exc_info=True)
        if self._bridge is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._bridge.close)
            self._bridge = None

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError("log is closed")

    def _sync(self, fn, *args):
        """Ask the broker from synchronous code (a cache miss)."""
        self._check_open()
        if self._bridge is None:
            self._bridge = _SyncBridge(self.config)
        return self._bridge.call(fn, *args)

    # -- metadata -----------------------------------------------------------------------------

    def _apply_metadata(self, md: dict, names: list[str] | None) -> None:
        if names is None:  # a full listing: forget topics that are gone
            for gone in [t for t in self._topics if t not in md]:
                self._forget(gone)
        for name, parts in md.items():
            old = self._topics.get(name)
            info = TopicInfo(name, len(parts), parts[0][2] if parts else 1,
                             dict(self._configs.get(name, {})))
            if old != info:
                self._topics[name] = info
            for p, leader, _ in parts:
                self._leaders[(name, p)] = leader
            self._missing.pop(name, None)

    async def _refresh_metadata(self, names: list[str] | None = None) -> None:
        self._apply_metadata(await _metadata(self._client, names), names)

    def _forget(self, name: str) -> None:
        self._topics.pop(name, None)
        self._configs.pop(name, None)
        for d in (self._leaders, self._ends, self._starts, self._chunks):
            for tp in [tp for tp in d if tp[0] == name]:
                del d[tp]
        for offsets in self._groups.values():
            for tp in [tp for tp in offsets if tp[0] == name]:
                del offsets[tp]

    def topic(self, name: str) -> TopicInfo | None:
        info = self._topics.get(name)
        if info is not None or self._closed:
            return info
        missed = self._missing.get(name)
        if missed is not None and time.monotonic() - missed < 0.5:
            return None
        self._apply_metadata(self._sync(_metadata, [name]), [name])
        if name not in self._topics:
            self._missing[name] = time.monotonic()
        return self._topics.get(name)

    def topics(self) -> list[TopicInfo]:
        if not self._started and not self._closed:
            self._apply_metadata(self._sync(_metadata, None), None)
        return sorted(self._topics.values(), key=lambda t: t.name)

    async def create_topic(self, name: str, partitions: int = 1, replicas: int = 1,
                           config: dict[str, str] | None = None) -> None:
        from aiokafka.admin import NewTopic

        await self.start()
        if not name or partitions < 1:
            raise ValueError(f"invalid topic {name!r} with {partitions} partitions")
        cfg = {str(k): str(v) for k, v in (config or {}).items()}
        broker_cfg = dict(cfg)
        if _COMMAND_TOPIC.match(name):  # ksqlDB's command topic keeps every command
            broker_cfg.setdefault("retention.ms", "-1")
            broker_cfg.setdefault("cleanup.policy", "delete")
        if name in self._topics:
            raise TopicExistsError(f"topic {name!r} already exists")
        deadline = time.monotonic() + 15
        while True:
            resp = await self._admin.create_topics(
                [NewTopic(name, partitions, replicas, topic_configs=broker_cfg)])
            code = resp.topic_errors[0][1]
            if code == 0:
                break
            if code == _TOPIC_EXISTS:
                # A topic we just deleted may still be going away on the broker.
                if name in self._deleted and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    continue
                await self._refresh_metadata([name])
                raise TopicExistsError(f"topic {name!r} already exists")
            msg = resp.topic_errors[0][2] if len(resp.topic_errors[0]) > 2 else ""
            raise ValueError(f"cannot create topic {name!r}: {msg or code}")
        self._forget(name)
        self._deleted.pop(name, None)
        self._configs[name] = cfg
        # Wait until the broker's metadata shows the topic with leaders.
        for _ in range(100):
            await self._refresh_metadata([name])
            info = self._topics.get(name)
            if info is not None and info.partitions == partitions:
                break
            await asyncio.sleep(0.05)
        self._topics[name] = TopicInfo(name, partitions, replicas, dict(cfg))
        for p in range(partitions):
            self._ends[(name, p)] = 0
            self._starts[(name, p)] = 0
        self._notifier.notify()

    async def delete_topic(self, name: str) -> None:
        await self.start()
        if name not in self._topics:
            await self._refresh_metadata([name])
            if name not in self._topics:
                raise UnknownTopicError(f"topic {name!r} does not exist")
        resp = await self._admin.delete_topics([name])
        code = resp.topic_error_codes[0][1]
        if code == _UNKNOWN_TOPIC:
            self._forget(name)
            raise UnknownTopicError(f"topic {name!r} does not exist")
        if code:
            raise _error(code, f"cannot delete topic {name!r}")
        self._forget(name)
        self._deleted[name] = time.monotonic()
        self._missing[name] = time.monotonic()
        self._forget_in_producer(name)
        self._notifier.notify()

    def _forget_in_producer(self, name: str) -> None:
        # aiokafka refreshes metadata for every topic it has produced to, with
        # allow_auto_topic_creation on: it would re-create the deleted topic.
        client = getattr(self._producer, "client", None)
        topics = getattr(client, "_topics", None)
        if isinstance(topics, set) and name in topics:
            topics.discard(name)

    def _check_partition(self, topic: str, partition: int) -> None:
        info = self._topics.get(topic)
        check_partition(info.partitions if info else None, topic, partition)

    def _partition_sync(self, topic: str, partition: int) -> None:
        info = self.topic(topic)
        check_partition(info.partitions if info else None, topic, partition)

    # -- offsets ------------------------------------------------------------------------------

    def _leader(self, tp: TopicPartition) -> int:
        node = self._leaders.get(tp)
        if node is None:
            client = self._client
            node = client.get_random_node() if client is not None else -1
        return node

    def start_offset(self, topic: str, partition: int) -> int:
        self._partition_sync(topic, partition)
        tp = (topic, partition)
        if tp not in self._starts:
            got = self._sync(_list_offsets, {tp: self._leaders.get(tp, 0)}, -2)
            self._starts[tp] = got.get(tp, 0)
        return self._starts[tp]

    def end_offset(self, topic: str, partition: int) -> int:
        self._partition_sync(topic, partition)
        tp = (topic, partition)
        if tp not in self._ends:
            self._ends[tp] = self._sync(self._exact_ends, {tp: self._leaders.get(tp, 0)})[tp]
        return self._ends[tp]

    @staticmethod
    async def _exact_ends(client, leaders: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        near = await _list_offsets(client, leaders, -1)
        hws = await _high_watermarks(client, leaders, near)
        return {tp: max(near.get(tp, 0), hws.get(tp, 0)) for tp in leaders}

    async def refresh_ends(self, topic: str) -> list[int]:
        """Ask the broker for the topic's partition ends now, in one round trip (the cached
        ends may lag behind other servers' writes, and a reader stops at them)."""
        await self.start()
        info = self.topic(topic)
        if info is None:
            raise UnknownTopicError(topic)
        tps = [(topic, p) for p in range(info.partitions)]
        ends = await self._exact_ends(self._client, {tp: self._leaders.get(tp, 0) for tp in tps})
        for tp in tps:
            self._note_end(tp, ends[tp])
        return [self._ends[tp] for tp in tps]

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        offsets = self._groups.setdefault(group, {})
        tp = (topic, partition)
        if tp not in offsets:
            info = self.topic(topic)
            if info is None or not 0 <= partition < info.partitions:
                return None
            missing = [p for p in range(info.partitions) if (topic, p) not in offsets]
            offsets.update(self._sync(_fetch_committed, group, topic, missing))
        return offsets.get(tp)

    async def refresh_committed(self, group: str, topics: list[str]) -> None:
        """Re-read ``group``'s committed offsets from the broker: another server of the
        group may have committed since they were cached (a rebalance hands its partitions
        over)."""
        await self.start()
        offsets = self._groups.setdefault(group, {})
        for topic in topics:
            info = self.topic(topic)
            if info is not None:
                offsets.update(await _fetch_committed(self._client, group, topic,
                                                      list(range(info.partitions))))

    def _note_end(self, tp: TopicPartition, end: int) -> None:
        if end > self._ends.get(tp, -1):
            self._ends[tp] = end

    # -- writing ------------------------------------------------------------------------------

    def transaction(self) -> StagedTransaction:
        self._check_open()
        return StagedTransaction(self)

    async def append(self, topic: str, partition: int, batch: pa.RecordBatch) -> int:
        await self.start()
        txn = self.transaction()
        txn.append(topic, partition, batch)
        return (await txn.commit())[(topic, partition)]

    def _build(self, batch: pa.RecordBatch):
        """Kafka record batches (aiokafka BatchBuilders) for one produce batch."""
        producer = self._producer
        ts = batch.column(0).to_numpy(zero_copy_only=False).tolist()
        keys = batch.column(1).to_pylist()
        vals = batch.column(2).to_pylist()
        hcol = batch.column(3)
        if hcol.null_count == batch.num_rows:
            hdrs = None
        else:
            hdrs = [[(h["key"], h["value"]) for h in hs] if hs else []
                    for hs in hcol.to_pylist()]
        builders, counts = [], []
        builder = producer.create_batch()
        n = 0
        for i in range(batch.num_rows):
            h = hdrs[i] if hdrs is not None else []
            while builder.append(timestamp=ts[i], key=keys[i], value=vals[i],
                                 headers=h) is None:
                if n == 0:
                    raise ValueError(f"record of {len(vals[i] or b'')} bytes exceeds the "
                                     f"batch limit of {self.config.max_batch_bytes} bytes")
                builder.close()
                builders.append(builder)
                counts.append(n)
                builder, n = producer.create_batch(), 0
            n += 1
        if n:
            builder.close()
            builders.append(builder)
            counts.append(n)
        return builders, counts

    async def _send(self, appends: Appends) -> dict[TopicPartition, int]:
        sends = []
        firsts: dict[TopicPartition, int] = {}
        for topic, partition, batch in appends:
            tp = (topic, partition)
            if batch.num_rows == 0:
                continue
            builders, counts = self._build(batch)
            for builder, count in zip(builders, counts):
                fut = await self._producer.send_batch(builder, topic, partition=partition)
                sends.append((tp, count, fut))
        metas = await asyncio.gather(*(fut for _, _, fut in sends))
        for (tp, count, _), meta in zip(sends, metas):
            if tp not in firsts:
                firsts[tp] = meta.offset
            self._note_end(tp, meta.offset + count)
        return firsts

    async def _commit(self, appends: Appends, offsets: GroupOffsets) -> dict[TopicPartition, int]:
        await self.start()
        self._check_open()
        # Validate everything first, so a failing transaction changes nothing.
        for topic, partition, _ in appends:
            self._check_partition(topic, partition)
        for group_offsets in offsets.values():
            for topic, partition in group_offsets:
                self._check_partition(topic, partition)
        if self.exactly_once:
            async with self._txn_lock:
                firsts = await self._commit_transaction(appends, offsets)
        else:
            firsts = await self._send(appends)
            for group, group_offsets in offsets.items():
                if group_offsets:
                    await self._commit_offsets(group, group_offsets)
        for topic, partition, _ in appends:
            tp = (topic, partition)
            if tp not in firsts:
                firsts[tp] = self._ends.get(tp, 0)
        for group, group_offsets in offsets.items():
            self._groups.setdefault(group, {}).update(group_offsets)
        self._notifier.notify()
        return firsts

    async def _commit_transaction(self, appends: Appends, offsets: GroupOffsets):
        from aiokafka import TopicPartition as KTP

        producer = self._producer
        await producer.begin_transaction()
        try:
            firsts = await self._send(appends)
            for group, group_offsets in offsets.items():
                if group_offsets:
                    await producer.send_offsets_to_transaction(
                        {KTP(t, p): o for (t, p), o in group_offsets.items()}, group)
            await producer.commit_transaction()
        except BaseException:
            try:
                await producer.abort_transaction()
            except Exception:
                logger.exception("aborting a Kafka transaction failed")
            raise
        # A commit marker follows the records: the end moves one past it.
        for tp in firsts:
            self._ends.pop(tp, None)
        return firsts

    # -- scale-out: query consumer groups -----------------------------------------------------

    async def join_group(self, group: str, topics: list[str]) -> GroupMembership:
        """Join ``group`` (a persistent query's application id) for ``topics``: the servers
        sharing the service id split the partitions. Offsets of ``group`` are then committed
        as this member, fenced by its generation."""
        await self.start()
        member = self._members.get(group)
        if member is None:
            member = GroupMembership(self.config.client_kwargs(), group, topics,
                                     self.config.session_timeout_ms,
                                     self.config.heartbeat_interval_ms)
            await member.start()
            self._members[group] = member
        return member

    async def leave_group(self, group: str) -> None:
        member = self._members.pop(group, None)
        if member is not None:
            await member.stop()

    async def _commit_offsets(self, group: str, offsets: dict[TopicPartition, int]) -> None:
        from aiokafka.protocol.commit import OffsetCommitRequest

        by_topic: dict[str, list] = {}
        for (t, p), o in offsets.items():
            by_topic.setdefault(t, []).append((p, int(o), ""))
        for attempt in range(5):
            coord = self._coordinators.get(group)
            if coord is None:
                coord = self._coordinators[group] = \
                    await self._client.coordinator_lookup(0, group)
            member = self._members.get(group)
            generation, member_id = (member.generation, member.member_id) if member \
                else (-1, "")
            resp = await self._client.send(coord, OffsetCommitRequest(
                group, generation, member_id, -1, list(by_topic.items())))
            codes = {part[1] for _, parts in resp.topics for part in parts} - {0}
            if not codes:
                return
            if codes & REBALANCE_CODES:
                raise RebalanceError(f"group {group!r} rebalanced: offsets not committed")
            if codes & {_NOT_COORDINATOR, _COORDINATOR_NA, _COORDINATOR_LOADING} and attempt < 4:
                self._coordinators.pop(group, None)
                await asyncio.sleep(0.1 * (attempt + 1))
                continue
            raise _error(min(codes), f"committing offsets of group {group!r}")

    # -- reading ------------------------------------------------------------------------------

    @property
    def _isolation(self) -> int:
        return _READ_COMMITTED if self.exactly_once else _READ_UNCOMMITTED

    def _cached(self, tp: TopicPartition, offset: int, max_records: int) -> pa.RecordBatch | None:
        for chunk in self._chunks.get(tp, ()):
            if chunk.start <= offset < chunk.next:
                i = int(np.searchsorted(chunk.offsets, offset))
                return chunk.batch.slice(i, max_records)
        return None

    def _store(self, tp: TopicPartition, start: int, batch: pa.RecordBatch, nxt: int) -> None:
        if nxt <= start:
            return
        chunks = self._chunks.setdefault(tp, [])
        chunks[:] = [c for c in chunks if not (c.start >= start and c.next <= nxt)]
        chunks.append(_Chunk(start, nxt, batch,
                             batch.column(0).to_numpy() if batch.num_rows else
                             np.empty(0, np.int64)))
        if len(chunks) > self.MAX_CHUNKS:
            del chunks[0]

    async def _fetch(self, tp: TopicPartition, offset: int) -> None:
        """Fetch from ``offset`` into the chunk cache (at most one fetch per position)."""
        key = (tp, offset)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._do_fetch(tp, offset))
            self._inflight[key] = task
            task.add_done_callback(lambda _t, key=key: self._inflight.pop(key, None))
        await asyncio.shield(task)

    async def _do_fetch(self, tp: TopicPartition, offset: int) -> None:
        from aiokafka.protocol.fetch import FetchRequest

        topic, partition = tp
        pos = offset
        for attempt in range(20):
            # max_wait must be >= 1 ms: Tansu answers a 0 ms fetch with nothing.
            req = FetchRequest(1, 1, self.config.fetch_partition_bytes * 2, self._isolation,
                               [(topic, [(partition, pos, self.config.fetch_partition_bytes)])])
            resp = await self._client.send(self._leader(tp), req)
            part = None
            for t, parts in resp.topics:
                for pd in parts:
                    if t == topic and pd[0] == partition:
                        part = pd
            if part is None:  # no answer for the partition: nothing there (yet)
                return
            code, hw = part[1], part[2]
            if code == _OFFSET_OUT_OF_RANGE:
                start = (await _list_offsets(self._client, {tp: self._leader(tp)}, -2)).get(tp, 0)
                self._starts[tp] = start
                if pos < start:
                    pos = start
                    continue
                return
            if code in (_UNKNOWN_TOPIC, _NOT_LEADER) and attempt < 3:
                await self._refresh_metadata([topic])
                if topic not in self._topics:
                    return
                continue
            if code:
                raise _error(code, f"fetching {topic}/{partition}")
            if hw >= 0:
                self._note_end(tp, hw)
            batch, nxt = _decode(part[-1], pos, self._isolation, _aborted(part))
            if batch.num_rows:
                self._store(tp, offset, batch, nxt)
                return
            if nxt > pos and nxt < self._ends.get(tp, 0):
                pos = nxt  # only control / aborted batches here: look further
                continue
            if nxt > pos:
                self._store(tp, offset, batch, nxt)
            return

    async def read(self, topic: str, partition: int, offset: int,
                   max_records: int = 10_000) -> pa.RecordBatch:
        await self.start()
        self._check_open()
        if topic not in self._topics:
            await self._refresh_metadata([topic])
        self._check_partition(topic, partition)
        tp = (topic, partition)
        if max_records <= 0:
            return EMPTY_RECORDS
        offset = max(offset, 0)
        got = self._cached(tp, offset, max_records)
        if got is None:
            end = self._ends.get(tp)
            if end is not None and offset >= end and (tp, offset) not in self._inflight:
                return EMPTY_RECORDS  # the poller behind wait() learns of new data
            await self._fetch(tp, offset)
            got = self._cached(tp, offset, max_records)
            if got is None:
                return EMPTY_RECORDS
        if got.num_rows:
            nxt = got.column(0)[-1].as_py() + 1
            # Read ahead: the next fetch overlaps the caller's processing of this batch.
            if nxt < self._ends.get(tp, 0) and self._cached(tp, nxt, 1) is None \
                    and (tp, nxt) not in self._inflight:
                task = asyncio.ensure_future(self._do_fetch(tp, nxt))
                self._inflight[(tp, nxt)] = task
                task.add_done_callback(lambda t, key=(tp, nxt): (
                    self._inflight.pop(key, None), t.cancelled() or t.exception()))
        return got

    # -- waiting ------------------------------------------------------------------------------

    async def wait(self, positions: dict[TopicPartition, int], timeout: float) -> bool:
        await self.start()
        watched = {}
        for (topic, partition), pos in positions.items():
            info = self._topics.get(topic)
            if info is not None and 0 <= partition < info.partitions:
                watched[(topic, partition)] = pos

        def ready() -> bool:
            if self._closed:
                return False
            for tp, pos in watched.items():
                if tp[0] in self._topics and self._ends.get(tp, 0) > pos:
                    # Data past pos: unless only control records are there (transactions).
                    chunk = self._cached(tp, pos, 1)
                    if chunk is None or chunk.num_rows:
                        return True
            return False

        if ready():
            return True
        for tp, pos in watched.items():
            self._watch.setdefault(tp, []).append(pos)
        if watched:
            self._poll_event.set()
        try:
            return await self._notifier.wait_until(ready, timeout)
        finally:
            for tp, pos in watched.items():
                lst = self._watch.get(tp)
                if lst is not None:
                    lst.remove(pos)
                    if not lst:
                        del self._watch[tp]

    async def _poller(self) -> None:
        """One long-poll loop for every waiter: Fetch at the watched positions; what comes
        back feeds the read cache and wakes the waiters."""
        from aiokafka.protocol.fetch import FetchRequest

        while not self._closed:
            if not self._watch:
                self._poll_event.clear()
                await self._poll_event.wait()
                continue
            by_node: dict[int, dict[str, list]] = {}
            asked: dict[TopicPartition, int] = {}
            for tp, positions in list(self._watch.items()):
                if tp[0] not in self._topics:
                    continue
                pos = min(positions)
                asked[tp] = pos
                by_node.setdefault(self._leader(tp), {}).setdefault(tp[0], []).append(
                    (tp[1], pos, 1 << 20))
            if not by_node:
                await asyncio.sleep(0.05)
                continue
            try:
                resps = await asyncio.gather(*(
                    self._poll_client.send(node, FetchRequest(
                        self.config.poll_wait_ms, 1, 8 << 20, self._isolation,
                        list(topics.items())))
                    for node, topics in by_node.items()))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.debug("long poll failed", exc_info=True)
                await asyncio.sleep(0.2)
                continue
            for resp in resps:
                for topic, parts in resp.topics:
                    for part in parts:
                        tp = (topic, part[0])
                        if part[1] or tp not in asked:
                            continue
                        if part[2] >= 0:
                            self._note_end(tp, part[2])
                        batch, nxt = _decode(part[-1], asked[tp], self._isolation,
                                             _aborted(part))
                        if nxt > asked[tp]:
                            self._store(tp, asked[tp], batch, nxt)
            self._notifier.notify()

    async def _refresher(self) -> None:
        """Keeps topics and end offsets current for data other clients write."""
        while not self._closed:
            await asyncio.sleep(self.config.refresh_interval)
            try:
                await self._refresh_metadata()
                leaders = {tp: node for tp, node in self._leaders.items() if tp in self._ends}
                if leaders:
                    for tp, end in (await _list_offsets(self._client, leaders, -1)).items():
                        self._note_end(tp, end)
                if self._watch:
                    self._notifier.notify()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.debug("metadata refresh failed", exc_info=True)

    async def delete_records(self, topic: str, partition: int, before_offset: int) -> int:
        """Kafka's DeleteRecords (offset-precise: the partition's log start offset moves to
        ``before_offset``). A broker that does not support it (Tansu answers some admin
        requests with errors) keeps the records: a warning is logged once per topic and
        the current start offset returned."""
        from aiokafka.admin.records_to_delete import RecordsToDelete
        from aiokafka.structs import TopicPartition as KafkaTP

        await self.start()
        self._check_open()
        tp = (topic, partition)
        if topic in self._no_delete_records:
            return self._starts.get(tp, 0)
        try:
            got = await self._admin.delete_records(
                {KafkaTP(topic, partition): RecordsToDelete(before_offset)})
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._no_delete_records.add(topic)
            logger.warning("cannot delete records of %s (%s: %s); its changelog keeps "
                           "every record", topic, type(e).__name__, e)
            return self._starts.get(tp, 0)
        start = got.get(KafkaTP(topic, partition), before_offset)
        self._starts[tp] = max(self._starts.get(tp, 0), start)
        return self._starts[tp]

    async def apply_retention(self, now_ms: int | None = None) -> int:
        """The broker applies retention itself."""
        return 0

    def __repr__(self) -> str:
        return f"KafkaLog({self.config.bootstrap_servers!r})"
