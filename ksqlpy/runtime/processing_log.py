"""The processing log (stage: runtime, side output): records that failed to decode, evaluate
or encode, with where they came from. The query itself keeps running.

Like ksqlDB's processing log (KSQLDB.md §7, ``ProcessingLogServerUtils``), each entry is

* kept in memory (``entries``, ``counts`` per query: /metrics, tests) and logged at WARNING;
* written as one JSON record to the topic ``ksql.logging.processing.topic.name`` (default
  ``<ksql.service.id>ksql_processing_log``, so ``default_ksql_processing_log``) when
  ``ksql.logging.processing.topic.auto.create`` is true — ksqlpy's default, unlike ksqlDB's;
* queryable through the stream ``ksql.logging.processing.stream.name`` (default
  ``KSQL_PROCESSING_LOG``), registered at start when ``...stream.auto.create`` is true and no
  source of that name exists. The CREATE goes through the command log like any DDL, so after a
  restart it is replayed, not created twice; dropping it lasts until the next start.

The record (``ProcessingLogMessageSchema``)::

    {"level": "ERROR", "logger": "processing.<query id>.KsqlTopic.Source.deserializer",
     "time": <ms>, "message": {"type": 0, "deserializationError": {"target", "errorMessage",
     "recordB64", "cause", "topic"}, "recordProcessingError": null, "productionError": null,
     "serializationError": null, "kafkaStreamsThreadError": null}}

Types: 0 DESERIALIZATION_ERROR, 1 RECORD_PROCESSING_ERROR, 2 PRODUCTION_ERROR,
3 SERIALIZATION_ERROR. Record contents (``recordB64``, ``record``) are written only with
``ksql.logging.processing.rows.include=true``, as in ksqlDB.

Operators are synchronous, so ``report`` only buffers the encoded record; a background task
appends everything buffered in one batch (``flush``) shortly after the first report of a burst.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import logging
import time
from dataclasses import dataclass

log = logging.getLogger("ksqlpy.processing")

TYPES = {"DESERIALIZATION_ERROR": 0, "RECORD_PROCESSING_ERROR": 1, "PRODUCTION_ERROR": 2,
         "SERIALIZATION_ERROR": 3}

TOPIC_AUTO_CREATE = "ksql.logging.processing.topic.auto.create"
STREAM_AUTO_CREATE = "ksql.logging.processing.stream.auto.create"
TOPIC_NAME = "ksql.logging.processing.topic.name"
STREAM_NAME = "ksql.logging.processing.stream.name"
TOPIC_PARTITIONS = "ksql.logging.processing.topic.partitions"
ROWS_INCLUDE = "ksql.logging.processing.rows.include"

#: ksqlDB's schema, as ProcessingLogServerUtils formats it (unquoted names are upper-cased;
#: the two `topic` fields keep their case).
STREAM_COLUMNS = (
    "logger VARCHAR, level VARCHAR, time BIGINT, message STRUCT<type INT, "
    "deserializationError STRUCT<target VARCHAR, errorMessage VARCHAR, recordB64 VARCHAR, "
    "cause ARRAY<VARCHAR>, `topic` VARCHAR>, "
    "recordProcessingError STRUCT<errorMessage VARCHAR, record VARCHAR, cause ARRAY<VARCHAR>>, "
    "productionError STRUCT<errorMessage VARCHAR>, "
    "serializationError STRUCT<target VARCHAR, errorMessage VARCHAR, record VARCHAR, "
    "cause ARRAY<VARCHAR>, `topic` VARCHAR>, "
    "kafkaStreamsThreadError STRUCT<errorMessage VARCHAR, threadName VARCHAR, "
    "cause ARRAY<VARCHAR>>>")

_FIELDS = ("deserializationError", "recordProcessingError", "productionError",
           "serializationError", "kafkaStreamsThreadError")
_FIELD_OF = {"DESERIALIZATION_ERROR": "deserializationError",
             "RECORD_PROCESSING_ERROR": "recordProcessingError",
             "PRODUCTION_ERROR": "productionError",
             "SERIALIZATION_ERROR": "serializationError"}


def _flag(props: dict, key: str, default: bool) -> bool:
    v = props.get(key)
    if v is None or str(v).strip() == "":
        return default
    return str(v).strip().lower() == "true"


@dataclass
class ProcessingLogConfig:
    topic_auto_create: bool = True
    stream_auto_create: bool = True
    topic: str = "default_ksql_processing_log"
    stream: str = "KSQL_PROCESSING_LOG"
    partitions: int = 1
    include_rows: bool = False

    @classmethod
    def from_properties(cls, props: dict) -> ProcessingLogConfig:
        service_id = props.get("ksql.service.id", "default_")
        try:
            partitions = max(1, int(props.get(TOPIC_PARTITIONS) or 1))
        except ValueError:
            partitions = 1
        return cls(topic_auto_create=_flag(props, TOPIC_AUTO_CREATE, True),
                   stream_auto_create=_flag(props, STREAM_AUTO_CREATE, True),
                   topic=props.get(TOPIC_NAME) or f"{service_id}ksql_processing_log",
                   stream=(props.get(STREAM_NAME) or "KSQL_PROCESSING_LOG"),
                   partitions=partitions,
                   include_rows=_flag(props, ROWS_INCLUDE, False))


def create_stream_statement(stream: str, topic: str) -> str:
    """The CREATE STREAM ksqlDB issues for the processing log."""
    quoted = topic.replace("'", "''")
    return (f"CREATE STREAM {stream} ({STREAM_COLUMNS}) WITH(KAFKA_TOPIC='{quoted}', "
            "VALUE_FORMAT='JSON', KEY_FORMAT='KAFKA');")


def _sink_of(query_id: str) -> str:
    """The sink name in a persistent query id (``CSAS_<SINK>_<n>``), as ksqlDB names its
    sink step's context; ``Sink`` when the id does not carry one."""
    head, _, tail = query_id.partition("_")
    if head in ("CSAS", "CTAS", "INSERTQUERY") and tail:
        sink, _, n = tail.rpartition("_")
        if sink and n.isdigit():
            return sink
    return "Sink"


def logger_name(query_id: str, kind: str, info: dict) -> str:
    """ksqlDB's hierarchical logger name: ``processing.<query id>.<step context>``."""
    if info.get("logger"):
        return f"processing.{query_id}.{info['logger']}"
    if kind == "DESERIALIZATION_ERROR":
        step = "KsqlTopic.Source.deserializer"
    elif kind == "SERIALIZATION_ERROR":
        step = f"{_sink_of(query_id)}.serializer"
    elif kind == "PRODUCTION_ERROR":
        step = _sink_of(query_id)
    elif "offset" in info:           # dropped while reading the source (null key, timestamp)
        step = "KsqlTopic.Source"
    elif "row" in info:              # dropped by the aggregation's group-by
        step = "Aggregate.GroupBy"
    else:
        step = "Project"
    return f"processing.{query_id}.{step}"


def _cause(message: str) -> list[str]:
    """The nested cause messages: the detail after ksqlDB's "... from topic: T. " prefix."""
    for prefix in ("from topic: ", "to topic: "):
        at = message.find(prefix)
        if at >= 0:
            rest = message[at + len(prefix):]
            dot = rest.find(". ")
            if dot >= 0 and rest[dot + 2:].strip():
                return [rest[dot + 2:].strip()]
    return []


def build_record(query_id: str, kind: str, message: str, info: dict, now_ms: int,
                 include_rows: bool) -> dict:
    """The JSON record written to the processing-log topic."""
    field = _FIELD_OF.get(kind, "recordProcessingError")
    kind = kind if kind in TYPES else "RECORD_PROCESSING_ERROR"
    b64 = info.get("recordB64")
    if kind == "DESERIALIZATION_ERROR":
        target = "key" if "deserialize key" in message else "value"
        body = {"target": target, "errorMessage": message,
                "recordB64": b64 if include_rows else None,
                "cause": _cause(message), "topic": info.get("topic")}
    elif kind == "SERIALIZATION_ERROR":
        body = {"target": "key" if "serialize key" in message else "value",
                "errorMessage": message,
                "record": _record_text(info) if include_rows else None,
                "cause": _cause(message), "topic": info.get("topic")}
    elif kind == "PRODUCTION_ERROR":
        body = {"errorMessage": message}
    else:
        body = {"errorMessage": message,
                "record": _record_text(info) if include_rows else None,
                "cause": []}
    msg = {"type": TYPES[kind]}
    for f in _FIELDS:
        msg[f] = body if f == field else None
    return {"level": "ERROR", "logger": logger_name(query_id, kind, info), "time": now_ms,
            "message": msg}


async def _create_stream(engine, sql: str) -> None:
    """Run the CREATE like ``Engine.execute`` (so it reaches the command log) without the
    pull-query catalog hook: a stream is never mirrored, and the hook's imports (DuckDB)
    would otherwise be paid on every server start."""
    from ksqlpy.parse import script
    from ksqlpy.runtime import statements
    from ksqlpy.runtime.engine import Session

    lock = getattr(engine, "_lock", None)   # statements run one at a time
    if lock is not None:
        await lock.acquire()
    try:
        session = Session(engine, {}, dict(engine.variables))
        for text, node in script.split_and_parse(sql, session.variables):
            await statements.execute(engine, session, node, text)
    finally:
        if lock is not None:
            lock.release()


def _record_text(info: dict) -> str | None:
    if info.get("record") is not None:
        rec = info["record"]
        return rec if isinstance(rec, str) else json.dumps(rec, default=str)
    b64 = info.get("recordB64")
    if b64:
        try:
            return base64.b64decode(b64).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
    return None


class ProcessingLog:
    """Entries in memory, plus (once ``start`` has run) the processing-log topic."""

    #: seconds a burst of reports is gathered before it is appended as one batch
    linger = 0.02
    #: records buffered for the topic at most; older ones are dropped (and counted)
    max_pending = 100_000

    def __init__(self, max_entries: int = 10_000):
        self.entries: collections.deque[dict] = collections.deque(maxlen=max_entries)
        self.counts: collections.Counter[str] = collections.Counter()
        self.config = ProcessingLogConfig()
        self.topic: str | None = None        # set while records go to the topic
        # records are buffered from the first report (queries resume during the command-log
        # replay, before ``start``); ``start`` keeps them only when the topic is in use
        self._buffering = True
        self.dropped = 0
        self._log = None
        self._pending: list[tuple[int, bytes]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._started: asyncio.Future | None = None

    # -- reporting (synchronous: operators call it) ---------------------------------------
    def reporter(self, query_id: str):
        def report(kind: str, message: str, info: dict) -> None:
            now = int(time.time() * 1000)
            entry = {"logger": logger_name(query_id, kind, info), "level": "ERROR",
                     "time": now,
                     "message": {"type": TYPES.get(kind, 1), "kind": kind,
                                 "errorMessage": message, **info}}
            self.entries.append(entry)
            self.counts[query_id] += 1
            log.warning("%s %s: %s", query_id, kind, message)
            if self._buffering:
                try:
                    rec = build_record(query_id, kind, message, info, now,
                                       self.config.include_rows)
                    value = json.dumps(rec, separators=(",", ":"), default=str).encode()
                except Exception:  # never let logging break the query
                    log.exception("could not encode a processing-log record")
                    return
                self._pending.append((now, value))
                if len(self._pending) > self.max_pending:
                    drop = len(self._pending) - self.max_pending
                    del self._pending[:drop]
                    self.dropped += drop
                if self._wake is not None:
                    self._wake.set()
        return report

    # -- the topic and the stream ---------------------------------------------------------
    async def start(self, engine) -> None:
        """Create the topic as configured and start the writer task, which first registers
        the stream (in the background: parsing its long CREATE would otherwise add tens of
        milliseconds to every server start; ``wait_started`` waits for it)."""
        from ksqlpy.log.base import TopicExistsError

        cfg = self.config = ProcessingLogConfig.from_properties(engine.properties)
        elog = engine.log
        if elog.topic(cfg.topic) is None and (cfg.topic_auto_create or cfg.stream_auto_create):
            try:
                await elog.create_topic(cfg.topic, cfg.partitions)
            except TopicExistsError:
                pass
        if elog.topic(cfg.topic) is None:
            self._buffering = False
            self._pending.clear()
            return
        self._log = elog
        self.topic = cfg.topic
        self._wake = asyncio.Event()
        if self._pending:
            self._wake.set()
        self._started = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._writer(engine), name="processing-log")

    async def wait_started(self) -> None:
        """Wait until the processing-log stream is registered (when configured)."""
        if self._started is not None:
            await asyncio.shield(self._started)

    async def _register_stream(self, engine) -> None:
        from ksqlpy.errors import KsqlError

        cfg = self.config
        if not cfg.stream_auto_create or engine.catalog.source(cfg.stream.upper()) is not None:
            return
        try:
            await _create_stream(engine, create_stream_statement(cfg.stream, cfg.topic))
        except KsqlError as e:
            log.warning("could not create the processing-log stream %s: %s", cfg.stream, e)
        except Exception:
            log.exception("could not create the processing-log stream %s", cfg.stream)

    async def _writer(self, engine) -> None:
        try:
            await self._register_stream(engine)
        finally:
            if not self._started.done():
                self._started.set_result(None)
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.linger)
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("writing the processing log to %s failed", self.topic)

    async def flush(self) -> int:
        """Append every buffered record to the topic now (one batch); returns how many."""
        if self._log is None or self.topic is None or not self._pending:
            return 0
        from ksqlpy.log.base import records

        pending, self._pending = self._pending, []
        batch = records([None] * len(pending), [v for _, v in pending],
                        [ts for ts, _ in pending])
        await self._log.append(self.topic, 0, batch)
        return len(pending)

    async def stop(self) -> None:
        """Stop the writer task, appending what is still buffered."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        try:
            await self.flush()
        except Exception:
            log.exception("writing the processing log to %s failed", self.topic)
        self.topic = None
        self._log = None
        self._buffering = False
        self._pending.clear()
