"""Load, expand and run ksqlDB query-validation tests (QTT) against the ksqlpy engine.

Follows ksqlDB's runner (``ksqldb-functional-tests``: ``TestCaseBuilder``, ``TestExecutor``,
``TestExecutorUtil``), summarised in KSQLDB.md §9:

1. each test gets a fresh in-memory engine with the base config plus the test's properties;
2. topics are created from ``topics``, from every CREATE STREAM/TABLE's ``kafka_topic`` and from
   the input topics;
3. the statements run one at a time; with ``expectedException`` only the last may fail;
4. all inputs are serialized (test-side serdes, :mod:`.serde`) and appended to the log;
5. the persistent queries run one after another in creation order: first the test inputs on
   their source topics (in ``inputs`` order), then whatever is in the log for their other
   source topics (outputs of earlier queries, INSERT VALUES data);
6. the expected outputs are compared per topic (count, order, key, window, value, headers,
   timestamp) with ksqlDB's comparator rules (:mod:`.compare`);
7. ``post`` conditions are checked (:mod:`.post`).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import re
import time
import traceback
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

from ksqlpy.conformance import serde
from ksqlpy.conformance.compare import explain, fmt_value, headers_match
from ksqlpy.conformance.errors import describe_error, match_expected_exception
from ksqlpy.conformance.post import check_post

__all__ = ["TestCase", "TestResult", "strip_comments", "load_text", "load_file", "expand",
           "run_test", "run_test_sync", "collect_files", "BASE_PROPERTIES"]

#: TestExecutor.BASE_CONFIG (+ the headers flag and SR url its KsqlConfig carries).
BASE_PROPERTIES: dict[str, str] = {
    "bootstrap.servers": "localhost:0",
    "auto.commit.interval.ms": "0",
    "auto.offset.reset": "earliest",
    "cache.max.bytes.buffering": "0",
    "ksql.service.id": "some.ksql.service.id",
    "ksql.headers.columns.enabled": "true",
    "ksql.schema.registry.url": "http://localhost:8081",
}

#: TestCaseBuilderUtil.FORMAT_REPLACE_ERROR: what {FORMAT} becomes without a format matrix.
FORMAT_REPLACE_ERROR = "To use {FORMAT} in your statements please set the 'format' test case element"

DEFAULT_TIMEOUT = 10.0


# ---------------------------------------------------------------------------------------------
# model

@dataclass
class TestCase:
    name: str                                   # "<file stem> - <name>[ - FMT][ - prop=v]"
    file: str = ""
    statements: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    topics: list[dict] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    expected_exception: dict | None = None
    post: dict | None = None
    skipped: bool = False
    invalid: str | None = None                  # why the test definition is invalid


@dataclass
class TestResult:
    name: str
    status: str                                 # "pass" | "fail" | "skip"
    reason: str = ""
    file: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "reason": self.reason,
                "file": self.file, "seconds": round(self.seconds, 4)}


class _Fail(Exception):
    """The test failed (reason in the message)."""


# ---------------------------------------------------------------------------------------------
# loading

def strip_comments(text: str) -> str:
    """Remove ``//`` line comments and ``/* */`` block comments outside JSON strings
    (Jackson's ALLOW_COMMENTS). Newlines inside block comments are kept."""
    out: list[str] = []
    i, n = 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
            continue
        if c == '"':
            in_str = True
            out.append(c)
            i += 1
            continue
        if c == "/" and i + 1 < n and text[i + 1] == "/":
            j = text.find("\n", i)
            i = n if j < 0 else j           # keep the newline
            continue
        if c == "/" and i + 1 < n and text[i + 1] == "*":
            j = text.find("*/", i + 2)
            body = text[i:n if j < 0 else j + 2]
            out.append("\n" * body.count("\n") or " ")
            i = n if j < 0 else j + 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def load_text(text: str, stem: str, file: str = "") -> list[TestCase]:
    """Parse one QTT file's text into expanded test cases."""
    try:
        doc = json.loads(strip_comments(text), parse_float=Decimal)
    except ValueError as e:
        return [TestCase(name=f"{stem} - <file>", file=file,
                         invalid=f"cannot parse QTT file: {e}")]
    tests = doc.get("tests") if isinstance(doc, dict) else None
    if not isinstance(tests, list):
        return [TestCase(name=f"{stem} - <file>", file=file,
                         invalid="QTT file has no 'tests' list")]
    out: list[TestCase] = []
    for i, node in enumerate(tests):
        out.extend(expand(node, stem, file, index=i))
    return out


def load_file(path: str | Path) -> list[TestCase]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        return [TestCase(name=f"{p.stem} - <file>", file=str(p), invalid=f"cannot read: {e}")]
    return load_text(text, p.stem, str(p))


def collect_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            files.extend(sorted(p.glob("*.json")))
        else:
            files.append(p)
    return files


def _validate(node: dict) -> str | None:
    """TestCaseNode / RecordNode / ExpectedExceptionNode validation."""
    if not node.get("name"):
        return "missing field: name"
    stmts = node.get("statements")
    if not isinstance(stmts, list) or not stmts:
        return "statements was empty"
    if not all(isinstance(s, str) for s in stmts):
        return "statements must be strings"
    ee = node.get("expectedException")
    if ee is None and not node.get("inputs") and not node.get("outputs"):
        return "no inputs, outputs or expectedException provided"
    if ee is not None:
        if not isinstance(ee, dict) or (ee.get("type") is None and ee.get("message") is None):
            return "missing field: expectedException.type or expectedException.message"
        if ee.get("causeMessage") is not None and ee.get("cause") is None:
            return "missing field: expectedException.cause"
    for kind in ("inputs", "outputs"):
        recs = node.get(kind) or []
        if not isinstance(recs, list):
            return f"{kind} must be a list"
        for j, r in enumerate(recs):
            if not isinstance(r, dict) or not r.get("topic"):
                return f"{kind}[{j}]: missing field: topic"
            if "value" not in r:
                return f"{kind}[{j}]: missing field: value"
    for j, t in enumerate(node.get("topics") or []):
        if not isinstance(t, dict) or not t.get("name"):
            return f"topics[{j}]: missing field: name"
    if node.get("format") is not None and not isinstance(node.get("format"), list):
        return "format must be a list"
    if node.get("config") is not None:
        if not isinstance(node["config"], list):
            return "config must be a list"
        if node["config"] and not any(v == "{CONFIG}" for v in (node.get("properties") or {}).values()):
            return "config matrix given but no property has the value \"{CONFIG}\""
    return None


def expand(node: Any, stem: str, file: str = "", index: int = 0) -> list[TestCase]:
    """One test node → its test cases (format matrix × config matrix)."""
    if not isinstance(node, dict):
        return [TestCase(name=f"{stem} - <test #{index}>", file=file,
                         invalid="test must be a JSON object")]
    base_name = f"{stem} - {node.get('name') or f'<test #{index}>'}"
    if node.get("enabled") is False:
        return [TestCase(name=base_name, file=file, skipped=True)]
    invalid = _validate(node)
    formats = node.get("format") if isinstance(node.get("format"), list) else []
    configs = node.get("config") if isinstance(node.get("config"), list) else []
    props = node.get("properties") if isinstance(node.get("properties"), dict) else {}
    config_prop = next((k for k, v in props.items() if v == "{CONFIG}"), None)

    fmt_axis: list[str | None] = list(formats) or [None]
    cfg_axis: list[str | None] = list(configs) or [None]
    out = []
    for fmt in fmt_axis:
        for cfg in cfg_axis:
            name = base_name
            if fmt is not None:
                name += f" - {fmt}"
            if cfg is not None and config_prop is not None:
                name += f" - {config_prop}={cfg}"
            elif cfg is not None:
                name += f" - config={cfg}"
            stmts = [s.replace("{FORMAT}", fmt if fmt is not None else FORMAT_REPLACE_ERROR)
                     if isinstance(s, str) else s for s in (node.get("statements") or [])]
            p = dict(props)
            if cfg is not None and config_prop is not None:
                p[config_prop] = cfg
            out.append(TestCase(
                name=name, file=file, statements=stmts, properties=p,
                topics=copy.deepcopy(node.get("topics") or []),
                inputs=copy.deepcopy(node.get("inputs") or []),
                outputs=copy.deepcopy(node.get("outputs") or []),
                expected_exception=node.get("expectedException"),
                post=node.get("post"), invalid=invalid))
    return out


# ---------------------------------------------------------------------------------------------
# running

def _prop_str(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return ""
    return str(v)


def _truthy(v: Any, default: bool = True) -> bool:
    if v is None:
        return default
    if isinstance(v, bool):
        return v
    return str(v).strip().lower() == "true"


_CREATE_SOURCE = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:SOURCE\s+)?(?:STREAM|TABLE)\b",
                            re.I)
_AS_SELECT = re.compile(r"\bAS\s+SELECT\b", re.I)
_KAFKA_TOPIC = re.compile(r"\bKAFKA_TOPIC\s*=\s*'((?:[^']|'')*)'", re.I)
_PARTITIONS = re.compile(r"\bPARTITIONS\s*=\s*(\d+)", re.I)


#: ksqlDB's runner gives the topics it infers from CREATE statements and from the inputs /
#: outputs records KsqlConstants.legacyDefaultSinkPartitionCount = 4 partitions
#: (TestCaseBuilderUtil.getTopicsByName); ``topics`` entries default to 1 (TopicNode).
KSQLDB_INFERRED_PARTITIONS = 4
#: What this runner uses for now: 1. With 4, a query whose one input record yields several
#: outputs on different partitions (table GROUP BY re-grouping, hopping windows, session
#: merges, FK-join fan-out) appends them partition by partition (PersistentQuery._produce
#: splits each output batch with split_by_partition), so their production order is lost.
#: Once the query appends its output as consecutive same-partition runs, in order, set this
#: to KSQLDB_INFERRED_PARTITIONS: the runner already reads every topic in production order.
INFERRED_PARTITIONS = KSQLDB_INFERRED_PARTITIONS


def _declared_topics(stmt: str, default: int = 1) -> list[tuple[str, int]]:
    """The topic of a CREATE STREAM/TABLE (not ... AS SELECT), as ksqlDB's runner infers it.

    ksqlDB's runner gives it ``default`` partitions whatever the statement says, but it never
    runs the statement through the topic-creating step (TopicCreateInjector), which would reject
    a PARTITIONS that differs from the existing topic's. Our engine does validate, so a CREATE
    with an explicit PARTITIONS keeps it."""
    if not _CREATE_SOURCE.match(stmt) or _AS_SELECT.search(stmt):
        return []
    m = _KAFKA_TOPIC.search(stmt)
    if not m:
        return []
    pm = _PARTITIONS.search(stmt)
    return [(m.group(1).replace("''", "'"), int(pm.group(1)) if pm else default)]


def _sink_topics(stmts: list[str], props: dict) -> set[str]:
    """The topics that CREATE ... AS SELECT statements write (their KAFKA_TOPIC, else the
    output topic prefix plus the source name)."""
    from ksqlpy.grammar import CreateAsSelect, KsqlParseError, parse_one

    out = set()
    prefix = _prop_str(props.get("ksql.output.topic.name.prefix"))
    for stmt in stmts:
        if not _CREATE_SOURCE.match(stmt) or not _AS_SELECT.search(stmt):
            continue
        try:
            node = parse_one(stmt)
        except (KsqlParseError, ValueError):
            continue
        if not isinstance(node, CreateAsSelect):
            continue
        topic = None
        for prop in node.args.get("properties") or []:
            if str(prop.name).upper() == "KAFKA_TOPIC":
                topic = str(prop.args["value"].this)
        if topic is None:
            ident = node.this
            topic = prefix + (ident.this if ident.args.get("quoted") else ident.this.upper())
        out.add(topic)
    return out


def _topic_source(engine, topic: str):
    """The catalog source reading/writing ``topic`` (the first created, if several)."""
    for s in engine.catalog.sources():
        if s.topic == topic:
            return s
    return None


def _unwrapped_value(src) -> bool:
    """Is a single value column written bare (WRAP_SINGLE_VALUE=false / UNWRAP_SINGLES)?"""
    feats = {str(f).upper() for f in (getattr(src, "value_features", ()) or ())}
    return getattr(src.value_format, "wrap_single", None) is False or "UNWRAP_SINGLES" in feats


def _fmt(fi) -> str:
    return str(getattr(fi, "name", fi)).upper()


def _header_list(hs: list | None, where: str) -> list[tuple[str, bytes | None]]:
    out = []
    for h in hs or []:
        if not isinstance(h, dict) or "KEY" not in h:
            raise _Fail(f"{where}: invalid header {h!r}")
        v = h.get("VALUE")
        try:
            out.append((h["KEY"], None if v is None else base64.b64decode(v)))
        except (ValueError, TypeError) as e:
            raise _Fail(f"{where}: header value is not base64: {e}") from None
    return out


def _trunc(s: str, n: int = 300) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 3] + "..."


class _OrderedLog:
    """The engine's log as the runner hands it to the engine: every call goes to the real log,
    and each append (alone or in a transaction, in commit order) is noted in the runner's
    production order. Nothing about what is stored or read changes."""

    def __init__(self, log, note):
        self._log = log
        self._note = note

    def __getattr__(self, name):
        return getattr(self._log, name)

    async def append(self, topic: str, partition: int, batch):
        first = await self._log.append(topic, partition, batch)
        self._note(topic, partition, batch.num_rows)
        return first

    def transaction(self):
        return _OrderedTransaction(self._log.transaction(), self._note)


class _OrderedTransaction:
    def __init__(self, txn, note):
        self._txn = txn
        self._note = note
        self._appends: list[tuple[str, int, int]] = []

    def __getattr__(self, name):
        return getattr(self._txn, name)

    def append(self, topic: str, partition: int, batch) -> None:
        self._txn.append(topic, partition, batch)
        self._appends.append((topic, partition, batch.num_rows))

    async def commit(self):
        out = await self._txn.commit()
        for topic, partition, n in self._appends:
            self._note(topic, partition, n)
        return out


class _Runner:
    def __init__(self, tc: TestCase, per_record: bool = False):
        self.tc = tc
        self.per_record = per_record
        self.engine = None
        self._order: dict[str, list[tuple[int, int]]] = {}   # topic → (partition, offset)s
        self._seen: dict[str, dict[int, int]] = {}           # topic → partition → end noted
        self.exact = _truthy(tc.properties.get("use.exact.numeric.comparison"), True)

    # -- setup ----------------------------------------------------------------------------
    async def _create_topics(self) -> None:
        from ksqlpy.log.base import TopicExistsError

        wanted: dict[str, int] = {}
        explicit = set()
        # ksqlDB's runner never checks a query's sink against an existing topic (it skips the
        # TopicCreateInjector) and then sets the sink topic to 4 partitions itself; our engine
        # does check, so a ``topics`` entry for a query's sink is left for the query to create.
        sinks = _sink_topics(self.tc.statements, self.tc.properties)
        for t in self.tc.topics:
            if t["name"] in sinks:
                continue
            wanted.setdefault(t["name"], int(t.get("partitions") or 1))
            if t.get("partitions"):
                explicit.add(t["name"])
        for s in self.tc.statements:
            for name, parts in _declared_topics(s, INFERRED_PARTITIONS):
                # a topics entry without a partition count takes the CREATE's PARTITIONS
                if name not in explicit and (name not in wanted or _PARTITIONS.search(s)):
                    wanted[name] = parts
        # ksqlDB's runner also creates the topics of the inputs and outputs records; an output
        # topic is normally created by the query writing it, so only inputs are created here.
        for r in self.tc.inputs:
            wanted.setdefault(r["topic"], INFERRED_PARTITIONS)
        log = self.engine.log
        for name, parts in wanted.items():
            if log.topic(name) is None:
                try:
                    await log.create_topic(name, parts)
                except TopicExistsError:
                    pass

    async def _execute_statements(self) -> bool:
        """Run the statements; True if the test already ended (expected error matched)."""
        from ksqlpy.errors import KsqlError

        ee = self.tc.expected_exception
        last = len(self.tc.statements) - 1
        line = 0
        for i, stmt in enumerate(self.tc.statements):
            # ksqlDB's runner parses the statements joined by newlines, so positions in its
            # messages ("line 2:47") count lines from the first statement: pad to match.
            text, line = "\n" * line + stmt, line + stmt.count("\n") + 1
            try:
                await self.engine.execute(text)
                self._note_produced()  # INSERT VALUES
            except KsqlError as e:
                if ee is None:
                    raise _Fail(f"statement {i + 1} failed: {describe_error(e)}") from None
                if i != last:
                    raise _Fail(f"statement {i + 1} of {last + 1} failed, but only the last may "
                                f"fail: {describe_error(e)}") from None
                why = match_expected_exception(e, ee)
                if why is not None:
                    raise _Fail(why) from None
                return True
            except _Fail:
                raise
            except Exception as e:  # an engine bug, not a ksql error
                raise _Fail(f"statement {i + 1} crashed: {type(e).__name__}: {e} "
                            f"[{_where(e)}]") from None
        return False

    # -- inputs -----------------------------------------------------------------------------
    def _encode_record(self, rec: dict, idx: int):
        topic = rec["topic"]
        src = _topic_source(self.engine, topic)
        if src is None:
            raise _Fail(f"input {idx}: no source found for topic {topic!r}")
        where = f"input {idx} (topic {topic})"
        try:
            kfmt, vfmt = _fmt(src.key_format), _fmt(src.value_format)
            key = serde.encode(kfmt, list(src.schema.key), rec.get("key"), is_key=True,
                               sr=serde.sr_context(self.engine, src, True))  # SR formats
            win = rec.get("window")
            src_win = getattr(src, "window", None)
            if (win is None) != (src_win is None):
                raise _Fail(f"{where}: the record {'has' if win is not None else 'has no'} "
                            f"window but source {src.name} is "
                            f"{'not ' if src_win is None else ''}windowed")
            if win is not None:
                wtype = "SESSION" if str(src_win.type).upper() == "SESSION" else "TIME"
                key = serde.encode_windowed(key, wtype, int(win["start"]), int(win["end"]))
            value = serde.encode(vfmt, list(src.schema.value), rec.get("value"), is_key=False,
                                 sr=serde.sr_context(self.engine, src, False))  # SR formats
        except serde.UnsupportedFormat as e:
            raise _Fail(str(e)) from None
        except serde.SerdeFailure as e:
            raise _Fail(f"{where}: could not serialize: {e}") from None
        ts = rec.get("timestamp", 0)
        headers = _header_list(rec.get("headers"), where)
        return key, value, int(ts or 0), headers

    async def _write_inputs(self) -> list[tuple[str, int]]:
        from ksqlpy.log.base import records

        positions = []
        for i, rec in enumerate(self.tc.inputs):
            key, value, ts, headers = self._encode_record(rec, i)
            hs = [{"key": k, "value": v} for k, v in headers] if rec.get("headers") is not None else None
            off = await self.engine.log.append(rec["topic"], 0, records([key], [value], [ts], [hs]))
            positions.append((rec["topic"], off))
        self._note_produced()
        return positions

    # -- processing -------------------------------------------------------------------------
    async def _read_table(self, topic: str, partition: int, end: int | None = None):
        import pyarrow as pa
        from ksqlpy.log.base import RECORD_SCHEMA

        log = self.engine.log
        batches = []
        off = log.start_offset(topic, partition)
        while end is None or off < end:
            b = await log.read(topic, partition, off, 10_000)
            if b.num_rows == 0:
                break
            if end is not None:
                offs = b.column(0).to_pylist()
                keep = sum(1 for o in offs if o < end)
                b = b.slice(0, keep)
                if keep == 0:
                    break
            batches.append(b)
            off = b.column(0)[-1].as_py() + 1
        return pa.Table.from_batches(batches, schema=RECORD_SCHEMA)

    def _batches(self, table, indices: list[int], per_record: bool | None = None):
        import pyarrow as pa

        if not indices:
            return []
        sub = table.take(pa.array(indices, pa.int64())).combine_chunks()
        if self.per_record if per_record is None else per_record:
            # one record per batch, as TopologyTestDriver pipes them (copies, not slices)
            return [table.take(pa.array([i], pa.int64())).combine_chunks().to_batches()[0]
                    for i in indices]
        return [b for b in sub.to_batches() if b.num_rows]

    # -- production order ------------------------------------------------------------------
    # ksqlDB's stub Kafka keeps each topic's records in one list, in the order they were
    # produced: a TopologyTestDriver's output is drained into it after every piped record,
    # whatever partition the record would have gone to, and reading a topic (to verify it, or
    # to feed a later query) returns that list. Our log keeps records per partition, so the
    # runner notes the order in which new records appear across a topic's partitions.

    def _note_produced(self) -> None:
        """Append the records that appeared since the last call to each topic's order."""
        log = self.engine.log
        for info in log.topics():
            for p in range(info.partitions):
                self._note_append(info.name, p, None)

    def _note_append(self, topic: str, p: int, n: int | None) -> None:
        """Note ``n`` records just appended to ``topic``/``p`` (None: all not noted yet)."""
        log = self.engine.log
        if log.topic(topic) is None:
            return
        seen = self._seen.setdefault(topic, {})
        order = self._order.setdefault(topic, [])
        end = log.end_offset(topic, p)
        start = seen.get(p, log.start_offset(topic, p))
        if end < start:  # the topic was deleted and created again
            order[:] = [(q, o) for q, o in order if q != p]
            start = log.start_offset(topic, p)
        stop = end if n is None else min(end, start + n)
        order.extend((p, o) for o in range(start, stop))
        seen[p] = stop

    async def _rows_in_order(self, topic: str, order: list[tuple[int, int]] | None = None):
        """(partition, row) of every record of ``topic`` (or of ``order``), in production order."""
        info = self.engine.log.topic(topic)
        if info is None:
            return []
        if order is None:
            self._note_produced()
            order = self._order.get(topic, [])
        rows: dict[tuple[int, int], dict] = {}
        for p in range(info.partitions):
            for row in (await self._read_table(topic, p)).to_pylist():
                rows[(p, row["offset"])] = row
        out = []
        for key in order:
            row = rows.pop(key, None)
            if row is not None:
                out.append((key[0], row))
        out.extend((p, row) for (p, _), row in sorted(rows.items()))  # not seen: never expected
        return out

    def _per_record(self, q) -> bool:
        """Feed one record at a time? TopologyTestDriver processes record by record; batches of
        a topic's records give the same results, but a query splits each batch's output by
        partition, which loses the production order across the sink's partitions."""
        if self.per_record:
            return True
        info = self.engine.log.topic(getattr(q, "sink_topic", "") or "")
        return info is not None and info.partitions > 1

    async def _feed(self, q, topic: str, partition: int, batch) -> None:
        await q.process(topic, partition, batch)
        self._note_produced()

    async def _process_queries(self, positions: list[tuple[str, int]]) -> None:
        import pyarrow as pa
        from ksqlpy.log.base import RECORD_SCHEMA

        input_topics = {t for t, _ in positions}
        tables: dict[str, Any] = {}
        for t in input_topics:
            tables[t] = await self._read_table(t, 0)
        row_of = {t: {o: i for i, o in enumerate(tables[t].column(0).to_pylist())}
                  for t in input_topics}
        self._note_produced()
        for q in list(self.engine.queries):
            one = self._per_record(q)
            src_topics = list(dict.fromkeys(q.source_topics))
            # (a) the test inputs on its source topics, in inputs order, runs of one topic batched
            run_topic, run = None, []
            feeds = []
            for t, off in positions:
                if t not in src_topics:
                    continue
                if t != run_topic and run:
                    feeds.append((run_topic, run))
                    run = []
                run_topic = t
                run.append(row_of[t][off])
            if run:
                feeds.append((run_topic, run))
            for t, idx in feeds:
                for b in self._batches(tables[t], idx, one):
                    await self._feed(q, t, 0, b)
            # (b) what the log holds for its other source topics, in production order (a
            # snapshot: never its own output)
            others = [t for t in src_topics if t not in input_topics]
            snaps = [(t, list(self._order.get(t, []))) for t in others]
            for t, order in snaps:
                rows = await self._rows_in_order(t, order)
                i = 0
                while i < len(rows):  # runs of one partition
                    j = i
                    while j < len(rows) and rows[j][0] == rows[i][0]:
                        j += 1
                    table = pa.Table.from_pylist([r for _, r in rows[i:j]], schema=RECORD_SCHEMA)
                    for b in self._batches(table, list(range(table.num_rows)), one):
                        await self._feed(q, t, rows[i][0], b)
                    i = j

    # -- verification -----------------------------------------------------------------------
    async def _read_topic(self, topic: str) -> list[dict]:
        out = []
        for p, row in await self._rows_in_order(topic):
            row["partition"] = p
            out.append(row)
        return out

    def _decode(self, src, row: dict):
        """(key, window | None, value) of an actual record, as the comparator sees them."""
        kfmt, vfmt = _fmt(src.key_format), _fmt(src.value_format)
        kbytes = row["key"]
        window = None
        win = getattr(src, "window", None)
        if win is not None:
            try:
                kbytes, window = serde.decode_windowed(kbytes, win.type, win.size_ms)
            except serde.SerdeFailure as e:
                raise _Fail(f"Failed to deserialize key: {e}") from None
        kcols, vcols = list(src.schema.key), list(src.schema.value)
        try:
            key = serde.decode(kfmt, kcols, kbytes, is_key=True, exact_numbers=self.exact,
                               sr=serde.sr_context(self.engine, src, True))  # SR formats
        except serde.SerdeFailure as e:
            raise _Fail(f"Failed to deserialize key: {e}; rec: {row}") from None
        try:
            value = serde.decode(vfmt, vcols, row["value"], is_key=False,
                                 exact_numbers=self.exact,
                                 sr=serde.sr_context(self.engine, src, False))  # SR formats
        except serde.SerdeFailure as e:
            raise _Fail(f"Failed to deserialize value: {e}; rec: {row}") from None
        if kfmt == "JSON":
            key = serde.json_doubles_as_floats(key, kcols, unwrapped=True)
        if vfmt == "JSON":
            value = serde.json_doubles_as_floats(value, vcols, _unwrapped_value(src))
        return key, window, value

    async def _verify(self) -> None:
        by_topic: dict[str, list[dict]] = {}
        for rec in self.tc.outputs:
            by_topic.setdefault(rec["topic"], []).append(rec)
        ran_with_inserts = not self.tc.inputs
        for topic, expected in by_topic.items():
            src = _topic_source(self.engine, topic)
            if src is None:
                raise _Fail(f"No information found for topic: {topic}")
            try:
                actual_rows = await self._read_topic(topic)
                decoded = [self._decode(src, r) for r in actual_rows]
            except serde.UnsupportedFormat as e:
                raise _Fail(str(e)) from None
            if len(decoded) != len(expected):
                acts = "; ".join(_show(k, w, v, r["timestamp"]) for (k, w, v), r
                                 in zip(decoded, actual_rows))
                raise _Fail(f"Topic {topic}. Expected <{len(expected)}> records but it was "
                            f"<{len(decoded)}>. Actual: [{acts}]")
            for i, (exp, (key, window, value), row) in enumerate(zip(expected, decoded,
                                                                     actual_rows)):
                why = self._compare_record(exp, key, window, value, row, ran_with_inserts)
                if why is not None:
                    raise _Fail(f"Topic '{topic}', message {i}: {why}: expected "
                                f"{_show(exp.get('key'), exp.get('window'), exp.get('value'), exp.get('timestamp'))}"
                                f" but was {_show(key, window, value, row['timestamp'])}")

    def _compare_record(self, exp, key, window, value, row, ran_with_inserts) -> str | None:
        ewin = exp.get("window")
        if ewin is not None:
            if window is None:
                return "expected a windowed key, but the topic is not windowed"
            if (_int(ewin.get("start")) != window["start"] or _int(ewin.get("end")) != window["end"]
                    or str(ewin.get("type", "")).upper() != window["type"]):
                return (f"window {window['start']}-{window['end']} {window['type']} != "
                        f"{ewin.get('start')}-{ewin.get('end')} {str(ewin.get('type', '')).upper()}")
        elif window is not None:
            return "expected an unwindowed key, but the topic is windowed"
        r = explain(key, exp.get("key"), "key")
        if r is not None:
            return r
        r = explain(value, exp.get("value"), "value")
        if r is not None:
            return r
        ehs = _header_list(exp.get("headers"), "expected headers")
        ahs = [(h["key"], h["value"]) for h in (row.get("headers") or [])]
        if not headers_match(ahs, ehs):
            return f"headers {_show_headers(ahs)} != {_show_headers(ehs)}"
        if "timestamp" in exp and exp["timestamp"] is not None:
            ets = _int(exp["timestamp"])
            if row["timestamp"] != ets and (not ran_with_inserts or ets != 0):
                return f"timestamp {row['timestamp']} != {ets}"
        return None

    # -- the whole test ---------------------------------------------------------------------
    async def run(self) -> None:
        from ksqlpy.errors import KsqlError
        from ksqlpy.runtime.engine import Engine, EngineConfig

        props = dict(BASE_PROPERTIES)
        props.update({k: _prop_str(v) for k, v in self.tc.properties.items()})
        self.engine = Engine(EngineConfig(log="memory", run_queries=False, properties=props))
        await self.engine.start()
        self._note_produced()
        self.engine.log = _OrderedLog(self.engine.log, self._note_append)
        try:
            await self._create_topics()
            serde.register_topic_schemas(self.engine, self.tc.topics)  # SR formats
            if await self._execute_statements():
                return
            ee = self.tc.expected_exception
            if ee is not None and not self.tc.inputs:
                raise _Fail(f"Expected test to throw {_show_ee(ee)}, but all statements succeeded")
            if not list(self.engine.queries):
                raise _Fail("test did not generate any queries.")
            positions = await self._write_inputs()
            try:
                await self._process_queries(positions)
            except KsqlError as e:
                if ee is None:
                    raise _Fail(f"query failed while processing: {describe_error(e)}") from None
                why = match_expected_exception(e, ee)
                if why is not None:
                    raise _Fail(why) from None
                return
            except _Fail:
                raise
            except Exception as e:
                raise _Fail(f"query crashed while processing: {type(e).__name__}: {e} "
                            f"[{_where(e)}]") from None
            await self._verify()
            if ee is not None:
                raise _Fail(f"Expected test to throw {_show_ee(ee)}")
            if self.tc.post:
                why = check_post(self.engine, self.tc.post)
                if why is not None:
                    raise _Fail(why)
        finally:
            try:
                await asyncio.wait_for(self.engine.close(), 5)
            except Exception:
                pass


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


async def outcome(coro, timeout: float, what: str, fail_types=()) -> tuple[str, str]:
    """Run one test's coroutine: ("pass", "") or ("fail", why). Never raises."""
    try:
        await asyncio.wait_for(coro, timeout)
    except (_Fail, *fail_types) as e:
        return "fail", str(e)
    except asyncio.TimeoutError:
        return "fail", f"timed out after {timeout:g}s"
    except ImportError as e:
        return "fail", f"engine unavailable: {e}"
    except Exception as e:
        return "fail", f"{what} error: {type(e).__name__}: {e} [{_where(e)}]"
    return "pass", ""


def _where(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    if not tb:
        return "?"
    f = tb[-1]
    return f"{Path(f.filename).name}:{f.lineno}"


def _show(key, window, value, ts) -> str:
    w = ""
    if window is not None:
        w = f" window={window.get('start')}-{window.get('end')} {str(window.get('type', '')).upper()}"
    return f"<{fmt_value(key)}, {fmt_value(value)}>{w} ts={ts}"


def _show_headers(hs) -> str:
    return "[" + ", ".join(f"{k}={'null' if v is None else base64.b64encode(v).decode()}"
                           for k, v in hs) + "]"


def _show_ee(ee: dict) -> str:
    parts = [ee.get("type") or "", repr(ee.get("message")) if ee.get("message") else ""]
    return " ".join(p for p in parts if p)


async def run_test(tc: TestCase, timeout: float = DEFAULT_TIMEOUT,
                   per_record: bool = False) -> TestResult:
    """Run one expanded test case; never raises."""
    t0 = time.perf_counter()
    if tc.skipped:
        return TestResult(tc.name, "skip", "disabled", tc.file)
    if tc.invalid:
        return TestResult(tc.name, "fail", f"invalid test: {tc.invalid}", tc.file)
    status, reason = await outcome(_Runner(tc, per_record).run(), timeout, "runner/engine")
    return TestResult(tc.name, status, _trunc(reason, 2000), tc.file, time.perf_counter() - t0)


def run_test_sync(tc: TestCase, timeout: float = DEFAULT_TIMEOUT,
                  per_record: bool = False) -> TestResult:
    """``run_test`` in its own event loop (one loop per test isolates leftover tasks)."""
    if tc.skipped or tc.invalid:
        return asyncio.run(run_test(tc, timeout, per_record))
    try:
        return asyncio.run(run_test(tc, timeout, per_record))
    except Exception as e:  # e.g. a leaked task raising during loop shutdown
        return TestResult(tc.name, "fail", f"runner error: {type(e).__name__}: {e}", tc.file)
