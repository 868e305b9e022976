"""The engine entry point (stage: runtime): ``Engine.execute(sql)`` runs statements.

SQL text → ``grammar.parse`` → one handler per statement kind (dispatched through a registry)
→ catalog changes, topics, persistent queries. Every accepted DDL and persistent-query
statement is appended to the command topic on the log and replayed on start, so sources and
queries come back after a restart with the same ids.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ksqlpy.parse import script as g
from ksqlpy.catalog import Catalog, Source
from ksqlpy.errors import AnalysisError, KsqlError, NotSupportedError
from ksqlpy.log.base import Log, ensure_topic, read_to_end, records
from ksqlpy.operators.base import OperatorContext
from ksqlpy.runtime.processing_log import ProcessingLog
from ksqlpy.runtime.query import PersistentQuery, TransientQuery
from ksqlpy.runtime import statements

logger = logging.getLogger(__name__)

DEFAULT_PROPERTIES = {
    "ksql.service.id": "default_",
    "ksql.persistence.default.format.key": "KAFKA",
    "ksql.output.topic.name.prefix": "",
    "auto.offset.reset": "latest",
    "cache.max.bytes.buffering": "10000000",
    "ksql.query.pull.table.scan.enabled": "true",
}


@dataclass
class EngineConfig:
    """How to run an engine. ``data_dir`` defaults to $KSQLPY_DATA_DIR or ./ksqlpy-data."""

    data_dir: str | None = None
    log: str = "embedded"                 # "embedded" | "memory" | "kafka"
    # [kafka hook] log="kafka": the brokers (else properties' bootstrap.servers). Kafka client
    # settings (security.protocol, sasl.*, ssl.*, compression.type, processing.guarantee…) are
    # read from ``properties``, optionally prefixed ksql.streams. (ksqlpy.log.kafka.KafkaConfig)
    bootstrap_servers: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    run_queries: bool = True              # False: callers drive queries with process()
    batch_size: int = 10_000

    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir or os.environ.get("KSQLPY_DATA_DIR") or "ksqlpy-data")


@dataclass
class StatementResult:
    kind: str
    entity: dict | None = None
    query_id: str | None = None
    message: str = ""


class Engine:
    """One ksqlpy engine: catalog, log, queries."""

    def __init__(self, config: EngineConfig | None = None):
        self.config = config or EngineConfig()
        self.properties = {**DEFAULT_PROPERTIES, **self.config.properties}
        self.catalog = Catalog()
        self.log: Log | None = None
        self.queries_by_id: dict[str, PersistentQuery] = {}
        self.transient: dict[str, TransientQuery] = {}
        self.processing_log = ProcessingLog()
        from ksqlpy.schema_registry import SchemaRegistry  # SR formats (ksqlpy.formats)
        self.schema_registry = SchemaRegistry()
        self.variables: dict[str, str] = {}
        self.query_seq = 0
        self.command_seq = -1
        self._replaying = False
        # commands on the shared command topic: who wrote them, how far they are applied
        self.instance_id = uuid.uuid4().hex
        self._command_offset = 0
        self._follower: asyncio.Task | None = None
        self._lock = asyncio.Lock()  # one statement at a time, local or from the topic
        self._pull = None  # [pull hook] ksqlpy.pull.PullService, created on first use

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        from ksqlpy.log import open_log

        if self.config.log == "memory":
            self.log = open_log("memory")
        elif self.config.log == "kafka":  # [kafka hook]
            self.log = open_log("kafka", bootstrap_servers=self.config.bootstrap_servers,
                                properties=self.properties)
            await self.log.start()
        else:
            data_dir = self.config.resolved_data_dir()
            data_dir.mkdir(parents=True, exist_ok=True)
            self.log = open_log("embedded", data_dir / "log")
        await self._replay_commands()
        await self.processing_log.start(self)  # [processing-log hook] topic + stream

    async def close(self) -> None:
        if self._pull is not None:  # [pull hook]
            await self._pull.close()
        for q in list(self.queries_by_id.values()):
            await q.stop()
        for t in list(self.transient.values()):
            await t.close()
        await self.processing_log.stop()  # [processing-log hook] flush buffered records
        if self.log is not None:
            await self.log.close()

    @property
    def queries(self) -> list[PersistentQuery]:
        return list(self.queries_by_id.values())

    @property
    def service_id(self) -> str:
        return self.properties["ksql.service.id"]

    @property
    def command_topic(self) -> str:
        return f"_confluent-ksql-{self.service_id}_command_topic"

    # -- statements ---------------------------------------------------------------------
    async def execute(self, sql: str, properties: dict | None = None,
                      variables: dict | None = None) -> list[StatementResult]:
        """Run every statement of ``sql`` in order; raise KsqlError at the first failure."""
        async with self._lock:
            return await self._execute(sql, properties, variables)

    async def _execute(self, sql: str, properties: dict | None = None,
                       variables: dict | None = None) -> list[StatementResult]:
        session = Session(self, dict(properties or {}), {**self.variables, **(variables or {})})
        results = []
        try:
            for text, node in g.split_and_parse(sql, session.variables):
                result = await statements.execute(self, session, node, text)
                self.on_catalog_changed()  # [pull hook] mirror new materialized tables
                if result is not None:
                    results.append(result)
        except RecursionError:
            raise AnalysisError("The statement is nested too deeply to be processed.") from None
        return results

    def effective_properties(self, overrides: dict | None = None) -> dict[str, str]:
        return {**self.properties, **{k: str(v) for k, v in (overrides or {}).items()}}

    def operator_context(self, query_id: str, properties: dict) -> OperatorContext:
        return OperatorContext(query_id=query_id, properties=properties,
                               report=self.processing_log.reporter(query_id))

    # -- push and pull queries ----------------------------------------------------------
    async def push_query(self, sql: str, properties: dict | None = None,
                         variables: dict | None = None) -> TransientQuery:
        """Start a transient SELECT. With EMIT CHANGES it runs until LIMIT or close; without,
        a stream is scanned up to its current end (a pull query over a stream)."""
        from sqlglot import exp

        from ksqlpy.plan.planner import plan_query

        session = Session(self, dict(properties or {}), {**self.variables, **(variables or {})})
        parsed = list(g.split_and_parse(sql, session.variables))
        if len(parsed) != 1 or not isinstance(parsed[0][1], exp.Select):
            raise AnalysisError("Expected exactly one SELECT statement.")
        props = session.properties
        # [pull hook] a SELECT without EMIT is a pull query: ksqlDB's rules, then tables go
        # to the DuckDB mirror (ksqlpy.pull), streams are scanned to their end below.
        if parsed[0][1].args.get("emit") is None:
            from ksqlpy.pull import PullQueryHandle, validate_pull_select

            node = parsed[0][1]
            validate_pull_select(node)
            src = self._select_source(node)
            if src is not None and src.kind == "TABLE":
                result = await self.pull.query(sql, properties, variables)
                handle = PullQueryHandle(result.query_id, result)
                self.transient[handle.id] = handle
                return handle
        plan = plan_query(parsed[0][1], self.catalog, props)
        qid = TransientQuery.new_id(plan, parsed[0][1], self.queries, props)
        reset = props.get("auto.offset.reset", "latest") if plan.emit else "earliest"
        query = TransientQuery(qid, plan, self.log, self.operator_context(qid, props),
                               offset_reset=reset, limit=plan.limit,
                               until_end=plan.emit is None)
        self.transient[qid] = query
        query.start()
        return query

    # -- [pull hook] pull queries over materialized tables (ksqlpy.pull) -------------------
    @property
    def pull(self):
        if self._pull is None:
            from ksqlpy.pull import PullService

            self._pull = PullService(self)
        return self._pull

    async def pull_query(self, sql: str, properties: dict | None = None,
                         variables: dict | None = None):
        """Run a pull query over a materialized table; returns ``PullResult(columns, rows)``
        (key columns carry namespace KEY)."""
        return await self.pull.query(sql, properties, variables)

    async def materialize_all(self) -> int:
        """Apply every materialized table's changelog to its DuckDB mirror now (tests and
        ``run_queries=False``); returns the number of changelog records read."""
        return await self.pull.materialize_all()

    def on_table_registered(self, source: Source) -> None:
        """A table entered the catalog: mirror it if it is materialized (CTAS sink or
        CREATE SOURCE TABLE). With ``run_queries=False`` mirrors are built on demand."""
        if self.config.run_queries and self.log is not None:
            self.pull.register(source)

    def on_catalog_changed(self) -> None:
        if self._pull is not None:
            self._pull.sync()
            return
        if self.config.run_queries and self.log is not None:
            from ksqlpy.pull import is_materialized

            for s in self.catalog.sources():
                if is_materialized(s):
                    self.on_table_registered(s)

    def _select_source(self, select) -> Source | None:
        from sqlglot import exp as _exp

        from ksqlpy.parse import name_of

        from_ = select.args.get("from_") or select.args.get("from")
        if from_ is None or not isinstance(from_.this, _exp.Table):
            return None
        return self.catalog.source(name_of(from_.this.this))

    async def close_push_query(self, query_id: str) -> bool:
        query = self.transient.pop(query_id, None)
        if query is None:
            return False
        await query.close()
        return True

    # -- command log --------------------------------------------------------------------
    async def record_command(self, text: str, properties: dict) -> None:
        if self._replaying or self.config.log == "memory":
            return
        await ensure_topic(self.log, self.command_topic, 1)
        value = json.dumps({"statement": text, "properties": properties,
                            "origin": self.instance_id}).encode()
        await self.log.append(self.command_topic, 0, records([None], [value], [0]))

    async def _replay_commands(self) -> None:
        if self.log.topic(self.command_topic) is None:
            return
        async for batch in read_to_end(self.log, self.command_topic, 0, max_records=1000):
            await self._apply_commands(batch)

    async def _apply_new_commands(self) -> int:
        """Run the commands after ``_command_offset`` that this engine did not write
        itself; returns how many records were read."""
        batch = await self.log.read(self.command_topic, 0, self._command_offset, 1000)
        if batch.num_rows:
            await self._apply_commands(batch)
        return batch.num_rows

    async def _apply_commands(self, batch) -> None:
        async with self._lock:
            self._replaying = True
            try:
                for value in batch.column("value").to_pylist():
                    cmd = json.loads(value)
                    if cmd.get("origin") == self.instance_id:
                        continue
                    try:
                        await self._execute(cmd["statement"], cmd.get("properties"))
                    except KsqlError as e:  # a command that no longer applies is skipped
                        logger.warning("replay of %r failed: %s", cmd["statement"], e)
            finally:
                self._replaying = False
        self._command_offset = batch.column("offset")[-1].as_py() + 1

    async def _follow_commands(self) -> None:
        """Apply statements other servers of this service id run, while this one runs (the
        command topic is the cluster's shared catalog, as in ksqlDB)."""
        while True:
            try:
                if self.log.topic(self.command_topic) is None:
                    await asyncio.sleep(0.5)
                    continue
                if not await self._apply_new_commands():
                    await self.log.wait({(self.command_topic, 0): self._command_offset},
                                        timeout=0.5)
            except asyncio.CancelledError:
                raise
            except Exception:  # the broker may come and go: try again, never stop
                logger.exception("reading the command topic failed")
                await asyncio.sleep(1.0)

    # -- queries ------------------------------------------------------------------------
    def next_query_id(self, prefix: str, sink: str | None) -> str:
        n = self.query_seq
        self.query_seq += 1
        return f"{prefix}_{sink}_{n}" if sink else f"{prefix}_{n}"

    def add_query(self, query: PersistentQuery, properties: dict) -> None:
        self.queries_by_id[query.id] = query
        if self.config.run_queries:
            query.start(properties.get("auto.offset.reset", "earliest"), self.config.batch_size)

    async def run_until_idle(self, timeout: float = 10.0) -> None:
        """Wait until every running persistent query has consumed all its input (tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if all(q.is_caught_up() or q.state != "RUNNING" for q in self.queries):
                return
            await asyncio.sleep(0.01)
        raise TimeoutError("queries did not catch up")


@dataclass
class Session:
    """Per-request state: SET properties and DEFINE variables last for the request."""

    engine: Engine
    overrides: dict
    variables: dict

    @property
    def properties(self) -> dict[str, str]:
        return self.engine.effective_properties(self.overrides)


__all__ = ["Engine", "EngineConfig", "StatementResult", "Session", "AnalysisError",
           "NotSupportedError", "Source"]
