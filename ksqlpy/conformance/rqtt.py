"""Run ksqlDB's REST query-validation tests (RQTT) against the ksqlpy engine.

Follows ``RestTestExecutor`` (KSQLDB.md §9 "RQTT"), through the engine API for now (a later
step sends the same requests over HTTP):

1. a fresh in-memory engine per test with the RQTT server config plus the test's properties;
2. topics from ``topics``, from every CREATE with a KAFKA_TOPIC and from the inputs;
3. admin statements (everything before the first statement starting with ``SELECT ``) run in
   order, each result entity collected as an ``{"admin": entity}`` response;
4. inputs are serialized like the QTT runner (:mod:`.serde`) and appended; persistent queries
   are driven over them as the QTT runner does; materialized tables catch up;
5. each SELECT becomes a ``{"query": [{"header": {"queryId", "schema"}}, {"row":
   {"columns": [...]}}..., {"finalMessage": ...}]}`` response: table pull queries mark key
   columns ``KEY`` and send no final message, stream pull queries end with "Query Completed",
   push queries with "Limit Reached";
6. responses are matched with RQTT's rules: a subset match of the expected keys, ``|starts_with``
   keys, ``{STATEMENT}`` substitution, rows as a multiset unless ``verifyOrder``, and fewer
   expected responses than actual ones allowed; ``expectedError`` matches type, message
   substring and HTTP status; ``outputs`` are read back from the topics as in QTT.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ksqlpy.conformance import serde
from ksqlpy.conformance.qtt import (FORMAT_REPLACE_ERROR, TestCase, TestResult, _declared_topics,
                                    _prop_str, _Runner, _trunc, outcome, strip_comments)

__all__ = ["RestTestCase", "load_rqtt_text", "load_rqtt_file", "is_rqtt_file", "run_rqtt_test",
           "run_rqtt_test_sync", "match_response", "BASE_PROPERTIES"]

#: RestTestExecutor / RestQueryTranslationTest server config.
BASE_PROPERTIES: dict[str, str] = {
    "auto.offset.reset": "earliest",
    "cache.max.bytes.buffering": "0",
    "commit.interval.ms": "2000",
    "ksql.service.id": "some.ksql.service.id",
    "ksql.query.pull.table.scan.enabled": "true",
    "ksql.query.push.v2.enabled": "true",
    "ksql.headers.columns.enabled": "true",
    "ksql.schema.registry.url": "http://localhost:8081",
}

DEFAULT_TIMEOUT = 10.0
_STATEMENT_ERROR = "io.confluent.ksql.rest.entity.KsqlStatementErrorMessage"
_ERROR = "io.confluent.ksql.rest.entity.KsqlErrorMessage"


@dataclass
class RestTestCase:
    name: str
    file: str = ""
    statements: list[str] = field(default_factory=list)
    properties: dict = field(default_factory=dict)
    topics: list[dict] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    responses: list[dict] = field(default_factory=list)
    expected_error: dict | None = None
    verify_order: bool = False
    wait_for_push: bool = False
    proto: bool = False
    skipped: bool = False
    invalid: str | None = None


class _Fail(Exception):
    pass


# -- loading ----------------------------------------------------------------------------------

def is_rqtt_doc(doc: Any) -> bool:
    tests = doc.get("tests") if isinstance(doc, dict) else None
    return isinstance(tests, list) and any(
        isinstance(t, dict) and ("responses" in t or "expectedError" in t) for t in tests)


def is_rqtt_file(path: str | Path) -> bool:
    try:
        doc = json.loads(strip_comments(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return False
    return is_rqtt_doc(doc)


def load_rqtt_text(text: str, stem: str, file: str = "") -> list[RestTestCase]:
    try:
        doc = json.loads(strip_comments(text), parse_float=Decimal)
    except ValueError as e:
        return [RestTestCase(f"{stem} - <file>", file, invalid=f"cannot parse: {e}")]
    out = []
    for i, node in enumerate(doc.get("tests") or []):
        base = f"{stem} - {node.get('name') or f'<test #{i}>'}"
        if node.get("enabled") is False:
            out.append(RestTestCase(base, file, skipped=True))
            continue
        invalid = None
        if not node.get("statements"):
            invalid = "statements was empty"
        elif node.get("inputs") and node.get("expectedError"):
            invalid = "inputs and expectedError are mutually exclusive"
        formats = node.get("format") if isinstance(node.get("format"), list) else [None]
        for fmt in formats or [None]:
            name = base + (f" - {fmt}" if fmt is not None else "")
            stmts = [s.replace("{FORMAT}", fmt if fmt is not None else FORMAT_REPLACE_ERROR)
                     for s in node.get("statements") or []]
            out.append(RestTestCase(
                name, file, stmts, dict(node.get("properties") or {}),
                copy.deepcopy(node.get("topics") or []), copy.deepcopy(node.get("inputs") or []),
                copy.deepcopy(node.get("outputs") or []),
                copy.deepcopy(node.get("responses") or []), node.get("expectedError"),
                bool((node.get("outputConditions") or {}).get("verifyOrder")),
                bool((node.get("inputConditions") or {}).get("waitForActivePushQuery")),
                bool(node.get("testPullWithProtoFormat")), invalid=invalid))
    return out


def load_rqtt_file(path: str | Path) -> list[RestTestCase]:
    p = Path(path)
    return load_rqtt_text(p.read_text(encoding="utf-8"), p.stem, str(p))


# -- matching ---------------------------------------------------------------------------------

def _num(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, Decimal)):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))
    return None


def _leaf_equal(expected, actual) -> bool:
    en, an = _num(expected), _num(actual)
    if en is not None and an is not None:
        return en == an
    return expected == actual


def match_response(expected, actual, statement: str = "", path: str = "$") -> str | None:
    """None if ``actual`` satisfies ``expected`` (RQTT's subset rules); else why not."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {_show(actual)}"
        for k, ev in expected.items():
            if k.endswith("|starts_with"):
                key = k[: -len("|starts_with")]
                av = actual.get(key)
                prefix = ev.replace("{STATEMENT}", statement) if isinstance(ev, str) else ev
                if not isinstance(av, str) or not av.startswith(str(prefix)):
                    return f"{path}.{key}: expected to start with {prefix!r}, got {_show(av)}"
                continue
            if k not in actual:
                return f"{path}.{k}: missing (actual {_show(actual)})"
            why = match_response(ev, actual[k], statement, f"{path}.{k}")
            if why:
                return why
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{path}: expected {_show(expected)}, got {_show(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            why = match_response(e, a, statement, f"{path}[{i}]")
            if why:
                return why
        return None
    if isinstance(expected, str) and "{STATEMENT}" in expected:
        expected = expected.replace("{STATEMENT}", statement)
    if not _leaf_equal(expected, actual):
        return f"{path}: expected {_show(expected)}, got {_show(actual)}"
    return None


def _show(v) -> str:
    return _trunc(json.dumps(v, default=str), 400)


def _canon(v):
    """A hashable, number-normalized form of a row's columns (for multiset matching)."""
    if isinstance(v, dict):
        return ("{", tuple(sorted((k, _canon(x)) for k, x in v.items())))
    if isinstance(v, list):
        return ("[", tuple(_canon(x) for x in v))
    n = _num(v)
    if n is not None:
        return ("n", n.normalize() if n == n else n)
    return ("v", v)


def match_query(expected: list, actual: list, verify_order: bool, statement: str) -> str | None:
    if len(expected) != len(actual):
        return (f"expected {len(expected)} query messages, got {len(actual)}: "
                f"{_show(actual)}")
    erows = [(i, e) for i, e in enumerate(expected) if "row" in e]
    arows = [(i, a) for i, a in enumerate(actual) if "row" in a]
    for i, e in enumerate(expected):
        if "row" in e:
            continue
        why = match_response(e, actual[i], statement, f"query[{i}]")
        if why:
            return why
    if len(erows) != len(arows):
        return f"expected {len(erows)} rows, got {len(arows)}: {_show(actual)}"
    if verify_order:
        for (i, e), (_, a) in zip(erows, arows):
            why = match_response(e, a, statement, f"query[{i}]")
            if why:
                return why
        return None
    # multiset over row.columns; other row keys (tombstone) checked per matched row
    want = Counter(_canon(e["row"].get("columns")) for _, e in erows)
    got = Counter(_canon(a["row"].get("columns")) for _, a in arows)
    if want != got:
        return (f"rows differ: expected {_show([e['row'].get('columns') for _, e in erows])}, "
                f"got {_show([a['row'].get('columns') for _, a in arows])}")
    return None


# -- rendering rows as ksqlDB writes them --------------------------------------------------------

def _renderer(columns):
    try:
        from ksqlpy.server.render import row_renderer  # the REST server's JSON rendering
        render = row_renderer(columns)
    except Exception:  # the server package is optional for the runner
        def render(row):
            return list(row)

    def fix(v):
        if isinstance(v, bytes):
            return base64.b64encode(v).decode()
        if isinstance(v, dict):
            return {str(k): fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        if isinstance(v, float) and v != v:
            return "NaN"
        return v

    def out(row):
        return [fix(v) for v in render(row)]
    return out


def _schema(columns, mark_keys: bool) -> str:
    from ksqlpy.server.render import schema_string  # the REST server's header schema

    return schema_string(columns, mark_keys)


# -- running ----------------------------------------------------------------------------------

def _split_statements(stmts: list[str]) -> tuple[list[str], list[str]]:
    for i, s in enumerate(stmts):
        if s.lstrip().upper().startswith("SELECT "):
            return stmts[:i], stmts[i:]
    return stmts, []


class _ErrorResponse(Exception):
    def __init__(self, type_: str, message: str, status: int, statement: str):
        super().__init__(message)
        self.type = type_
        self.message = message
        self.status = status
        self.statement = statement


def _as_error(e: BaseException, statement: str) -> _ErrorResponse:
    from ksqlpy.errors import KsqlError

    if isinstance(e, KsqlError):
        code = getattr(e, "error_code", 40001) or 40001
        return _ErrorResponse(_STATEMENT_ERROR, e.message, code // 100, statement)
    return _ErrorResponse(_STATEMENT_ERROR, f"{type(e).__name__}: {e}", 500, statement)


class _RestRunner:
    def __init__(self, tc: RestTestCase):
        self.tc = tc
        self.engine = None
        self.responses: list[dict] = []

    async def _setup(self) -> None:
        from ksqlpy.log.base import TopicExistsError
        from ksqlpy.runtime.engine import Engine, EngineConfig

        props = dict(BASE_PROPERTIES)
        props.update({k: _prop_str(v) for k, v in self.tc.properties.items()})
        self.engine = Engine(EngineConfig(log="memory", run_queries=False, properties=props))
        await self.engine.start()
        wanted: dict[str, int] = {}
        for t in self.tc.topics:
            wanted.setdefault(t["name"], int(t.get("partitions") or 1))
        for s in self.tc.statements:
            for name, parts in _declared_topics(s):
                wanted.setdefault(name, parts)
        for r in self.tc.inputs:
            wanted.setdefault(r["topic"], 1)
        for name, parts in wanted.items():
            if self.engine.log.topic(name) is None:
                try:
                    await self.engine.log.create_topic(name, parts)
                except TopicExistsError:
                    pass
        serde.register_topic_schemas(self.engine, self.tc.topics)

    async def _admin(self, stmts: list[str]) -> None:
        for s in stmts:
            try:
                results = await self.engine.execute(s)
            except Exception as e:
                raise _as_error(e, s) from None
            for r in results:
                if r.entity is not None:
                    self.responses.append({"admin": r.entity})

    def _qtt_runner(self) -> _Runner:
        qtc = TestCase(name=self.tc.name, statements=self.tc.statements,
                       properties=self.tc.properties, topics=self.tc.topics,
                       inputs=self.tc.inputs, outputs=self.tc.outputs)
        r = _Runner(qtc)
        r.engine = self.engine
        return r

    async def _query(self, sql: str, after_header=None) -> list[dict]:
        """One SELECT's response. ``after_header`` (``waitForActivePushQuery``) runs once the
        query has started (its header is out) and before its rows are collected: RestTestExecutor
        produces the inputs there."""
        engine = self.engine
        try:
            q = await engine.push_query(sql)
        except Exception as e:
            raise _as_error(e, sql) from None
        if after_header is not None:
            try:
                await after_header()
            except BaseException:
                await engine.close_push_query(q.id)
                raise
        table_pull = hasattr(q, "result")
        render = _renderer(q.columns)
        out: list[dict] = [{"header": {"queryId": q.id,
                                       "schema": _schema(q.columns, table_pull)}}]
        try:
            async def collect():
                async for row in q.rows():
                    out.append({"row": {"columns": render(row)}})
            await asyncio.wait_for(collect(), 5.0)
        except asyncio.TimeoutError:
            pass
        finally:
            await engine.close_push_query(q.id)
        if not table_pull and q.done_reason:
            out.append({"finalMessage": q.done_reason})
        return out

    async def run(self) -> None:
        tc = self.tc
        await self._setup()
        try:
            admin, selects = _split_statements(tc.statements)
            try:
                await self._admin(admin)
                runner = self._qtt_runner()

                async def produce_inputs():
                    positions = await runner._write_inputs()
                    await runner._process_queries(positions)
                    await self.engine.materialize_all()

                if tc.wait_for_push and selects:
                    # RestTestExecutor: the inputs are produced once the first query's header
                    # has arrived, and only one query is allowed
                    if len(selects) > 1:
                        raise _Fail("invalid test: can only have one query when using "
                                    "waitForActivePushQuery")
                    self.responses.append(
                        {"query": await self._query(selects[0], produce_inputs)})
                else:
                    await produce_inputs()
                    for sql in selects:
                        self.responses.append({"query": await self._query(sql)})
            except _ErrorResponse as err:
                if tc.expected_error is None:
                    raise _Fail(f"statement failed: {err.message} [{err.statement}]") from None
                self._check_error(err)
                return
            if tc.expected_error is not None:
                raise _Fail(f"expected error {tc.expected_error}, but all statements "
                            "succeeded")
            self._check_responses(admin, selects)
            if tc.outputs:
                await runner._verify()
        finally:
            try:
                await asyncio.wait_for(self.engine.close(), 5)
            except Exception:
                pass

    def _check_error(self, err: _ErrorResponse) -> None:
        ee = self.tc.expected_error or {}
        etype = ee.get("type")
        if etype and etype not in (err.type, _ERROR):
            raise _Fail(f"expected error type {etype}, got {err.type}: {err.message}")
        msg = ee.get("message")
        if msg is not None and msg not in err.message:
            raise _Fail(f"expected error message containing {msg!r}, got {err.message!r}")
        status = ee.get("status")
        if status is not None and int(status) != err.status:
            raise _Fail(f"expected status {status}, got {err.status}: {err.message}")

    def _check_responses(self, admin: list[str], selects: list[str]) -> None:
        expected = [r for r in self.tc.responses if "queryProto" not in r or self.tc.proto]
        actual = self.responses
        if len(expected) > len(actual):
            raise _Fail(f"expected {len(expected)} responses, got {len(actual)}: "
                        f"{_show(actual)}")
        admin_texts = [a for a in admin]
        q = 0
        for i, (e, a) in enumerate(zip(expected, actual)):
            (ek, ev), = e.items()
            (ak, av), = a.items()
            if ek == "queryProto":
                raise _Fail("queryProto responses are not supported yet")
            if ek != ak:
                raise _Fail(f"response {i}: expected {ek}, got {ak}: {_show(av)}")
            if ek == "admin":
                stmt = admin_texts[i] if i < len(admin_texts) else ""
                why = match_response(ev, av, stmt, f"response[{i}].admin")
            else:
                stmt = selects[q] if q < len(selects) else ""
                q += 1
                why = match_query(ev, av, self.tc.verify_order, stmt)
            if why:
                raise _Fail(f"response {i}: {why}")


async def run_rqtt_test(tc: RestTestCase, timeout: float = DEFAULT_TIMEOUT) -> TestResult:
    t0 = time.perf_counter()
    if tc.skipped:
        return TestResult(tc.name, "skip", "disabled", tc.file)
    if tc.invalid:
        return TestResult(tc.name, "fail", f"invalid test: {tc.invalid}", tc.file)
    status, reason = await outcome(_RestRunner(tc).run(), timeout, "runner/engine", (_Fail,))
    return TestResult(tc.name, status, _trunc(reason, 2000), tc.file, time.perf_counter() - t0)


def run_rqtt_test_sync(tc: RestTestCase, timeout: float = DEFAULT_TIMEOUT) -> TestResult:
    try:
        return asyncio.run(run_rqtt_test(tc, timeout))
    except Exception as e:
        return TestResult(tc.name, "fail", f"runner error: {type(e).__name__}: {e}", tc.file)


# -- REST mode: the same tests against a real ksqlpy server subprocess --------------------------
#
# Per test (correctness first): a fresh data directory and a fresh server subprocess on a free
# loopback port (about 1 s each).
#
# Inputs are produced exactly (key bytes, value bytes, timestamps, headers, windowed keys) by
# writing them into the data directory's embedded log *before* the server starts: the embedded
# log is single-writer (the server holds its lock while running), and the server has no
# produce route other than INSERT VALUES / /inserts-stream, which re-serialize through the
# engine's own serdes (losing the test's exact bytes and its record timestamps). Writing them
# first is equivalent to RestTestExecutor producing them after the statements because the server
# runs with ``auto.offset.reset=earliest``: persistent queries and table materializations read
# every record from the start of the topic. To serialize the inputs the runner needs each
# topic's source schema and formats, so it first runs the admin statements on a private
# in-memory engine (as engine mode does), then discards that engine.
#
# Then: the admin statements are sent joined with newlines in ONE POST /ksql request, each
# entity of the response array becomes an {"admin": …} response; each SELECT goes to POST
# /query with ``Accept: application/vnd.ksql.v1+json`` and its JSON array becomes a
# {"query": […]} response. Waiting for the persistent queries (ksqlpy has no consumer-lag API):
# after 100 ms the SELECTs are polled until their responses match or a bound
# (``settle`` seconds) passes; the last responses are the ones judged. ``outputs`` are read back
# after the server stopped, from its data directory, by an engine replaying its command topic.

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _ServerProc:
    """``python -m ksqlpy.server.main`` on a free loopback port with a given data dir."""

    def __init__(self, data_dir: Path, properties: dict[str, str]):
        self.data_dir = data_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = data_dir.parent / "server.properties"
        self.config.write_text("".join(f"{k}={v}\n" for k, v in properties.items()),
                               encoding="utf-8")
        self.logfile = data_dir.parent / "server.log"
        self.proc = None

    def start(self, timeout: float = 60.0) -> None:
        import os
        import subprocess
        import sys
        import urllib.request

        root = Path(__file__).resolve().parents[2]
        env = {**os.environ}
        env.pop("KSQLPY_DATA_DIR", None)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(root), env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ksqlpy.server.main", "--host", "127.0.0.1",
             "--port", str(self.port), "--data-dir", str(self.data_dir),
             "--config", str(self.config)],
            stdout=open(self.logfile, "ab"), stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthcheck", timeout=5) as r:
                    if json.loads(r.read()).get("isHealthy"):
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        import signal
        import subprocess

        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def post(self, path: str, body: dict, accept: str | None = None,
             read_timeout: float = 5.0) -> tuple[int, bytes, bool]:
        """(status, body, complete): reads until the server ends the response or
        ``read_timeout`` passes (a push query without LIMIT never ends)."""
        import http.client
        import socket

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=read_timeout)
        headers = {"Content-Type": "application/json"}
        if accept:
            headers["Accept"] = accept
        try:
            conn.request("POST", path, json.dumps(body).encode(), headers)
            resp = conn.getresponse()
            chunks, complete = [], True
            deadline = time.time() + read_timeout
            while True:
                if time.time() > deadline:
                    complete = False
                    break
                try:
                    b = resp.read1(65536)
                except (socket.timeout, TimeoutError):
                    complete = False
                    break
                if not b:
                    break
                chunks.append(b)
            return resp.status, b"".join(chunks), complete
        finally:
            conn.close()


def _parse_query_body(data: bytes) -> list:
    text = data.decode("utf-8", errors="replace").strip()
    try:
        v = json.loads(text, parse_float=Decimal)
        return v if isinstance(v, list) else [v]
    except ValueError:
        pass
    t = text.rstrip().rstrip(",")  # cut short (push query without LIMIT): close the array
    try:
        return json.loads(t + "]", parse_float=Decimal)
    except ValueError:
        raise _Fail(f"/query returned invalid JSON: {_trunc(text, 400)}") from None


def _http_error(status: int, body: bytes, statement: str) -> _ErrorResponse:
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {"message": body.decode("utf-8", errors="replace")}
    if not isinstance(doc, dict):
        doc = {"message": str(doc)}
    type_ = _STATEMENT_ERROR if "statementText" in doc else _ERROR
    return _ErrorResponse(type_, str(doc.get("message", "")), status,
                          doc.get("statementText") or statement)


class _RestServerRunner(_RestRunner):
    def __init__(self, tc: RestTestCase, workdir: Path, settle: float = 5.0):
        super().__init__(tc)
        self.workdir = workdir
        self.settle = settle
        self.server: _ServerProc | None = None

    def _props(self) -> dict[str, str]:
        props = dict(BASE_PROPERTIES)
        props.update({k: _prop_str(v) for k, v in self.tc.properties.items()})
        return props

    async def _prepare(self, data_dir: Path) -> None:
        """Create the topics and write the serialized inputs into the server's log."""
        from ksqlpy.log.base import TopicExistsError, records
        from ksqlpy.log.embedded import EmbeddedLog

        await self._setup()  # a private in-memory engine: topics and SR schemas
        # the topics that exist before the statements run (not the sinks they create)
        parts = {t.name: t.partitions for t in self.engine.log.topics()
                 if not t.name.startswith("_")}
        encoded = []
        try:
            admin, _ = _split_statements(self.tc.statements)
            if self.tc.inputs:
                await self._admin(admin)  # to learn each input topic's source
                runner = self._qtt_runner()
                encoded = [runner._encode_record(rec, i) for i, rec in enumerate(self.tc.inputs)]
        except _ErrorResponse as err:
            raise _Fail(f"statement failed on the runner's engine while preparing inputs: "
                        f"{err.message} [{err.statement}]") from None
        finally:
            await asyncio.wait_for(self.engine.close(), 5)
            self.engine = None
            self.responses = []
        log = EmbeddedLog(data_dir / "log")
        try:
            for name, n in parts.items():
                if log.topic(name) is not None:
                    continue
                try:
                    await log.create_topic(name, int(n or 1))
                except TopicExistsError:
                    pass
            for rec, (key, value, ts, headers) in zip(self.tc.inputs, encoded):
                hs = ([{"key": k, "value": v} for k, v in headers]
                      if rec.get("headers") is not None else None)
                await log.append(rec["topic"], 0, records([key], [value], [ts], [hs]))
        finally:
            await log.close()

    def _ksql(self, admin: list[str]) -> None:
        if not admin:
            return
        text = "\n".join(admin)
        status, body, _ = self.server.post("/ksql", {"ksql": text}, read_timeout=30.0)
        if status != 200:
            raise _http_error(status, body, admin[-1])
        for ent in json.loads(body, parse_float=Decimal):
            self.responses.append({"admin": ent})

    def _select(self, sql: str) -> tuple[dict, bool]:
        status, body, complete = self.server.post(
            "/query", {"ksql": sql, "streamsProperties": {}},
            accept="application/vnd.ksql.v1+json", read_timeout=5.0)
        if status != 200:
            raise _http_error(status, body, sql)
        return {"query": _parse_query_body(body)}, complete

    async def run(self) -> None:
        tc = self.tc
        admin, selects = _split_statements(tc.statements)
        data_dir = self.workdir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        await self._prepare(data_dir)
        self.server = _ServerProc(data_dir, self._props())
        await asyncio.to_thread(self.server.start)
        try:
            try:
                await asyncio.to_thread(self._ksql, admin)
                admin_responses = list(self.responses)
                deadline = time.time() + (self.settle if tc.inputs else 0.0)
                if tc.inputs:
                    await asyncio.sleep(0.1)
                while True:
                    self.responses = list(admin_responses)
                    all_complete = True
                    for sql in selects:
                        r, complete = await asyncio.to_thread(self._select, sql)
                        self.responses.append(r)
                        all_complete &= complete
                    if time.time() >= deadline or not all_complete or not selects:
                        break
                    try:
                        self._check_responses(admin, selects)
                        break
                    except _Fail:
                        await asyncio.sleep(0.2)
            except _ErrorResponse as err:
                if tc.expected_error is None:
                    raise _Fail(f"statement failed: {err.message} [{err.statement}]") from None
                self._check_error(err)
                return
            if tc.expected_error is not None:
                raise _Fail(f"expected error {tc.expected_error}, but all statements "
                            "succeeded")
            self._check_responses(admin, selects)
        finally:
            await asyncio.to_thread(self.server.stop)
        if tc.outputs:
            await self._verify_outputs(data_dir)

    async def _verify_outputs(self, data_dir: Path) -> None:
        from ksqlpy.runtime.engine import Engine, EngineConfig

        self.engine = Engine(EngineConfig(data_dir=str(data_dir), log="embedded",
                                          run_queries=False, properties=self._props()))
        await self.engine.start()  # replays the server's command topic: the catalog
        try:
            await self._qtt_runner()._verify()
        finally:
            await asyncio.wait_for(self.engine.close(), 5)


async def run_rqtt_rest_test(tc: RestTestCase, timeout: float = 60.0,
                             settle: float = 5.0) -> TestResult:
    """Run one RQTT test against a fresh ksqlpy server subprocess (REST mode)."""
    import shutil
    import tempfile

    t0 = time.perf_counter()
    if tc.skipped:
        return TestResult(tc.name, "skip", "disabled", tc.file)
    if tc.invalid:
        return TestResult(tc.name, "fail", f"invalid test: {tc.invalid}", tc.file)
    work = Path(tempfile.mkdtemp(prefix="ksqlpy-rqtt-"))
    runner = _RestServerRunner(tc, work, settle)
    try:
        status, reason = await outcome(runner.run(), timeout, "runner/server", (_Fail,))
    finally:
        if runner.server is not None:
            runner.server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return TestResult(tc.name, status, _trunc(reason, 2000), tc.file, time.perf_counter() - t0)


def run_rqtt_rest_test_sync(tc: RestTestCase, timeout: float = 60.0,
                            settle: float = 5.0) -> TestResult:
    try:
        return asyncio.run(run_rqtt_rest_test(tc, timeout, settle))
    except Exception as e:
        return TestResult(tc.name, "fail", f"runner error: {type(e).__name__}: {e}", tc.file)
