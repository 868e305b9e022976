"""The REST API (stage: server, HTTP request → engine call → ksqlDB's wire format).

:class:`KsqlServer` owns one engine and one listening socket that serves HTTP/1.1 (aiohttp)
and HTTP/2 (h2: prior knowledge, ``Upgrade: h2c``, TLS ALPN) — see ``listener.py``. Every
request, whatever its protocol, goes through :meth:`KsqlServer.dispatch`: state check (503
while starting or stopping), Basic auth, routing, and the mapping of errors to ksqlDB's
``KsqlErrorMessage`` bodies (HTTP status = error_code // 100, never a traceback).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import ssl
import time
from dataclasses import dataclass, field

from ksqlpy.errors import KsqlError
from ksqlpy.server.http import HttpError, Request, Response, json_bytes
from ksqlpy.server.metrics import Metrics
from ksqlpy.server import render

logger = logging.getLogger(__name__)

__all__ = ["ServerConfig", "KsqlServer", "ROUTES", "VERSION"]

VERSION = "0.29.0"
CLUSTER_ID = "ksqlpy-embedded"

PUSH_ONLY_MESSAGE = ("The following statement types should be issued to the websocket endpoint "
                     "'/query':\n\t* PRINT\n\t* SELECT")
HTTP2_ONLY_MESSAGE = "This endpoint is only available when using HTTP2"
TOO_DEEP = "Statement is too deeply nested to be processed."
QUERY_HTTP2_MESSAGE = "The /query endpoint is not available using HTTP2"
# [headless] the routes a server started with --queries-file still serves
HEADLESS_ROUTES = {"/info", "/healthcheck", "/chc/ready", "/chc/live", "/metrics",
                   "/openapi.json", "/", "/clusterStatus", "/v1/metadata", "/v1/metadata/id",
                   "/status", "/status/{type}/{entity}/{action}"}


class _Print(Exception):
    """Raised by query parsing to hand a PRINT statement to its own writer."""

    def __init__(self, node, text):
        self.node, self.text = node, text


@dataclass
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 8088
    data_dir: str | None = None
    log: str = "embedded"                      # "embedded" | "memory"
    properties: dict = field(default_factory=dict)   # engine / ksql.* properties
    ssl_cert: str | None = None
    ssl_key: str | None = None
    auth_file: str | None = None
    auth_realm: str = "KsqlServer"
    skip_auth_paths: tuple[str, ...] = ("/healthcheck", "/chc/ready", "/chc/live")
    max_push_queries: int = 100
    max_body_bytes: int = 10 * 1024 * 1024
    max_insert_line: int = 1024 * 1024
    keepalive_seconds: float = 1.0
    denylist: tuple[str, ...] = ()
    queries_file: str | None = None            # [headless] ksqlpy.server.headless


# (method, route template, handler name, summary) — the OpenAPI spec lists the same routes
ROUTES = [
    ("POST", "/ksql", "ksql", "Run statements (all but SELECT and PRINT)"),
    ("POST", "/ksql/terminate", "terminate", "TERMINATE CLUSTER"),
    ("POST", "/query", "query", "Run a query; the old chunked streaming format"),
    ("POST", "/query-stream", "query_stream", "Run a push or pull query"),
    ("POST", "/inserts-stream", "inserts_stream", "Insert rows into a stream (HTTP/2 only)"),
    ("POST", "/close-query", "close_query", "Close a push query"),
    ("GET", "/info", "info", "Server information"),
    ("GET", "/healthcheck", "healthcheck", "Health check"),
    ("GET", "/chc/ready", "chc", "Readiness probe"),
    ("GET", "/chc/live", "chc", "Liveness probe"),
    ("GET", "/clusterStatus", "cluster_status", "Cluster status"),
    ("GET", "/status", "status_all", "Status of all commands"),
    ("GET", "/status/{type}/{entity}/{action}", "status_one", "Status of one command"),
    ("GET", "/is_valid_property/{property}", "is_valid_property",
     "Whether a property may be overridden"),
    ("GET", "/v1/metadata", "metadata", "Server metadata"),
    ("GET", "/v1/metadata/id", "metadata_id", "Cluster id"),
    ("GET", "/ws/query", "ws_query", "Run a query over a WebSocket (HTTP/1.1)"),
    ("GET", "/openapi.json", "openapi", "This OpenAPI document"),
    ("GET", "/metrics", "metrics", "Prometheus metrics"),
    ("GET", "/", "root", "Redirect to /info"),
]


def _match(template: str, path: str) -> dict | None:
    t = template.strip("/").split("/")
    p = path.strip("/").split("/")
    if len(t) != len(p):
        return None
    params = {}
    for a, b in zip(t, p):
        if a.startswith("{") and a.endswith("}"):
            if not b:
                return None
            params[a[1:-1]] = b
        elif a != b:
            return None
    return params


class KsqlServer:
    def __init__(self, config: ServerConfig):
        self.config = config
        self.state = "INITIALIZING"
        self.engine = None
        self.metrics = Metrics()
        self.command_status: dict[str, dict] = {}
        self.ddl_lock = asyncio.Lock()
        self.open_queries: dict[str, bool] = {}   # query id → is a push query
        self.auth = None
        if config.auth_file:
            from ksqlpy.server.auth import BasicAuth, load_auth_file

            self.auth = BasicAuth(load_auth_file(config.auth_file), config.auth_realm)
        self._exact = {}
        self._templated = []
        for method, path, name, _ in ROUTES:
            fn = getattr(self, "h_" + name)
            if "{" in path:
                self._templated.append((method, path, fn))
            else:
                self._exact[(method, path)] = fn
        self._paths = {p for _, p, _, _ in ROUTES}
        self.server = None
        self.runner = None
        self._engine_task = None
        self.failed = asyncio.Event()      # set when the engine cannot start
        self.startup_error: str | None = None   # [headless] why it could not start
        self.started_at = time.time()

    # -- lifecycle --------------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.config.ssl_cert:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.config.ssl_cert, self.config.ssl_key)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        return ctx

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen at once (answering 503 while the engine starts), then start the engine."""
        from aiohttp import web

        from ksqlpy.server.aio import make_aiohttp_app
        from ksqlpy.server.listener import SniffProtocol

        aio = make_aiohttp_app(self, self.config.max_body_bytes)
        self.runner = web.AppRunner(aio, handler_cancellation=True, access_log=None)
        await self.runner.setup()
        factory = self.runner.server
        loop = asyncio.get_running_loop()
        kwargs = {"ssl": self.ssl_context(), "reuse_address": True}
        if sock is not None:
            self.server = await loop.create_server(lambda: SniffProtocol(self, factory),
                                                   sock=sock, **kwargs)
        else:
            self.server = await loop.create_server(lambda: SniffProtocol(self, factory),
                                                   self.config.host, self.config.port,
                                                   **kwargs)
        self._engine_task = loop.create_task(self._start_engine())

    async def _start_engine(self) -> None:
        from ksqlpy.runtime.engine import Engine, EngineConfig

        try:
            self.engine = Engine(EngineConfig(data_dir=self.config.data_dir,
                                              log=self.config.log,
                                              properties=dict(self.config.properties)))
            await self.engine.start()
            if self.config.queries_file:  # [headless] run the file, then refuse statements
                from ksqlpy.server.headless import run_queries_file

                try:
                    await run_queries_file(self.engine, self.config.queries_file)
                except KsqlError as e:
                    logger.error("Failed to start KSQL Server with query file: %s: %s",
                                 self.config.queries_file, e.message)
                    self.startup_error = e.message
                    raise
            self.state = "READY"
            logger.info("ksqlpy server ready on %s:%s", self.config.host, self.port)
        except Exception:
            logger.exception("engine failed to start")
            self.state = "ERROR"
            self.failed.set()

    async def wait_ready(self) -> None:
        if self._engine_task is not None:
            await self._engine_task

    @property
    def port(self) -> int:
        if self.server and self.server.sockets:
            return self.server.sockets[0].getsockname()[1]
        return self.config.port

    async def stop(self) -> None:
        self.state = "TERMINATING"
        if self.server is not None:
            self.server.close()
        if self.engine is not None:
            for qid in list(self.engine.transient):
                await self._close_query(qid)
        if self.runner is not None:
            await self.runner.cleanup()
        if self._engine_task is not None and not self._engine_task.done():
            self._engine_task.cancel()
        if self.engine is not None:
            await self.engine.close()
        self.state = "TERMINATED"

    # -- dispatch ---------------------------------------------------------------------------
    def route(self, method: str, path: str):
        """(handler, params, route template) or raises HttpError 404/405."""
        fn = self._exact.get((method, path))
        if fn is not None:
            return fn, {}, path
        for m, template, f in self._templated:
            if m == method:
                params = _match(template, path)
                if params is not None:
                    return f, params, template
        if path in self._paths or any(_match(t, path) is not None for _, t, _ in
                                      self._templated):
            raise HttpError(40500, "Method Not Allowed", status=405)
        raise HttpError(40400, "Not Found")

    def authorize(self, path: str, headers: dict) -> str | None:
        """The user; HttpError 401 when auth is on and the credentials are missing or wrong."""
        if self.auth is None or path in self.config.skip_auth_paths:
            return None
        user = self.auth.check(headers.get("authorization"))
        if user is None:
            raise HttpError(40100, "Unauthorized")
        return user

    async def dispatch(self, req: Request, resp: Response) -> None:
        t0 = time.perf_counter()
        status = 500
        try:
            try:
                req.user = self.authorize(req.path, req.headers)
                fn, params, req.route = self.route(req.method, req.path)
                if self.state != "READY" and req.route not in (
                        "/healthcheck", "/chc/ready", "/chc/live", "/info", "/metrics",
                        "/openapi.json", "/"):
                    if self.state == "INITIALIZING":
                        raise HttpError(50302, "Server initializing")
                    raise HttpError(50303, "The server is shutting down")
                if self.config.queries_file and req.route not in HEADLESS_ROUTES:  # [headless]
                    raise HttpError(40300, self._headless_message(), status=403)
                status = await fn(req, resp, **params) or 200
            except HttpError as e:
                status = e.status
                if resp.started:  # mid-stream: nothing more can be said
                    raise
                headers = None
                if e.status == 401:
                    headers = [("www-authenticate", f'Basic realm="{self.config.auth_realm}"')]
                if e.error_code == 40400 and req.route == req.path and \
                        req.path not in self._paths:
                    await resp.send(404, b"Not Found", "text/plain")
                else:
                    await resp.send_error(e, headers)
            except KsqlError as e:
                status = e.error_code // 100
                if resp.started:
                    raise
                await resp.send_error(HttpError(e.error_code, e.message))
        except (asyncio.CancelledError, ConnectionError):
            status = 499  # the client went away
            raise
        except Exception:
            logger.exception("%s %s failed", req.method, req.path)
            if not resp.started:
                try:
                    await resp.send_error(HttpError(50000, "Internal server error"))
                except Exception:
                    pass
        finally:
            self.metrics.observe(req.method, req.route if status != 404 else "(unknown)",
                                 status, time.perf_counter() - t0)

    def _headless_message(self) -> str:  # [headless]
        from ksqlpy.server.headless import HEADLESS_MESSAGE

        return HEADLESS_MESSAGE.format(file=self.config.queries_file)

    # -- small endpoints --------------------------------------------------------------------
    async def h_root(self, req, resp):
        await resp.send(307, b"", "text/plain", [("location", "/info")])
        return 307

    async def h_info(self, req, resp):
        await resp.send_json(200, {"KsqlServerInfo": {
            "version": VERSION, "kafkaClusterId": CLUSTER_ID,
            "ksqlServiceId": self._service_id(),
            "serverStatus": "RUNNING" if self.state == "READY" else
            ("ERROR" if self.state == "ERROR" else "DEGRADED")}})

    def _service_id(self) -> str:
        if self.engine is not None:
            return self.engine.service_id
        return self.config.properties.get("ksql.service.id", "default_")

    async def h_healthcheck(self, req, resp):
        ok = self.state == "READY"
        await resp.send_json(200, {
            "isHealthy": ok,
            "details": {"metastore": {"isHealthy": ok}, "kafka": {"isHealthy": ok},
                        "commandRunner": {"isHealthy": ok}},
            "serverState": {"ERROR": "INITIALIZING"}.get(self.state, self.state)})

    async def h_chc(self, req, resp):
        await resp.send_json(200, {})

    async def h_cluster_status(self, req, resp):
        now = int(time.time() * 1000)
        host = f"{self.config.host}:{self.port}"
        await resp.send_json(200, {"clusterStatus": {host: {
            "hostAlive": True, "lastStatusUpdateMs": now, "activeStandbyPerQuery": {},
            "hostStoreLags": {"stateStoreLags": {}, "updateTimeMs": now}}}})

    async def h_status_all(self, req, resp):
        await resp.send_json(200, {"commandStatuses": {
            k: v.get("status", "SUCCESS") for k, v in self.command_status.items()}})

    async def h_status_one(self, req, resp, type, entity, action):
        from urllib.parse import unquote

        cid = f"{unquote(type)}/{unquote(entity)}/{unquote(action)}"
        st = self.command_status.get(cid)
        if st is None:
            raise HttpError(40400, f"Command not found: {cid}")
        await resp.send_json(200, st)

    async def h_is_valid_property(self, req, resp, property):
        from urllib.parse import unquote

        self._check_properties({unquote(property): ""})
        await resp.send(200, b"true")

    async def h_metadata(self, req, resp):
        await resp.send_json(200, {"version": VERSION, "clusterId": CLUSTER_ID})

    async def h_metadata_id(self, req, resp):
        await resp.send_json(200, {"id": CLUSTER_ID})

    async def h_openapi(self, req, resp):
        from ksqlpy.server.openapi import spec

        await resp.send_json(200, spec())

    async def h_metrics(self, req, resp):
        push = sum(1 for v in self.open_queries.values() if v)
        body = self.metrics.render(self.engine, push).encode()
        await resp.send(200, body, "text/plain; version=0.0.4; charset=utf-8")

    async def h_ws_query(self, req, resp):
        raise HttpError(40000, "/ws/query needs a WebSocket upgrade over HTTP/1.1")

    async def h_terminate(self, req, resp):
        raise HttpError(40001, "TERMINATE CLUSTER is not supported by this server.")

    # -- /ksql ------------------------------------------------------------------------------
    def _check_properties(self, props) -> None:
        if not isinstance(props, dict):
            raise HttpError(40000, "Invalid request: properties must be a JSON object")
        deny = set(self.config.denylist) | {"ksql.service.id"}
        bad = sorted(k for k in props if k in deny)
        if bad:
            raise HttpError(40000, "One or more properties overrides set locally are prohibited "
                                   "by the KSQL server (use UNSET to reset their default value): "
                                   f"[{', '.join(bad)}]")

    @staticmethod
    def _strings(d, what: str) -> dict:
        if d is None:
            return {}
        if not isinstance(d, dict):
            raise HttpError(40000, f"Invalid request: {what} must be a JSON object")
        return {str(k): v if isinstance(v, str) else json.dumps(v) if
                isinstance(v, (dict, list)) else str(v).lower() if isinstance(v, bool)
                else str(v) for k, v in d.items()}

    async def h_ksql(self, req, resp):
        from sqlglot import exp

        from ksqlpy.runtime.rest_support import StatementRunner

        body = await req.json()
        if not isinstance(body, dict) or not isinstance(body.get("ksql"), str):
            raise HttpError(40000, "Invalid request: the \"ksql\" field must be a string")
        props = self._strings(body.get("streamsProperties"), "streamsProperties")
        self._check_properties(props)
        variables = self._strings(body.get("sessionVariables"), "sessionVariables")
        runner = StatementRunner(self.engine, props, variables)
        entities: list[dict] = []
        async with self.ddl_lock:
            for text in runner.split(body["ksql"]):
                try:
                    try:
                        text, node = runner.parse(text)
                    except KsqlError:
                        raise
                    except Exception as e:  # a grammar bug is still the statement's fault
                        logger.debug("parse failed", exc_info=True)
                        raise KsqlError(f"line 1:1: Syntax error: {type(e).__name__}") from e
                    if isinstance(node, exp.Select) or type(node).__name__ == "PrintTopic":
                        raise HttpError(40002, PUSH_ONLY_MESSAGE, type_="statement_error",
                                        extra={"statementText": text, "entities": entities})
                    try:
                        result = await runner.run(text, node)
                    except RecursionError:
                        raise KsqlError(TOO_DEEP) from None
                    except KsqlError:
                        raise
                    except Exception as e:
                        raise _unexpected(e, text) from None
                except KsqlError as e:
                    raise HttpError(e.error_code, e.message, type_="statement_error",
                                    extra={"statementText": text,
                                           "entities": entities}) from None
                if result is not None and result.entity is not None:
                    ent = result.entity
                    entities.append(ent)
                    if ent.get("@type") == "currentStatus" and ent.get("commandId"):
                        self.command_status[ent["commandId"]] = ent.get("commandStatus", {})
        await resp.send_json(200, entities)

    # -- queries ----------------------------------------------------------------------------
    async def _open_query(self, sql: str, props: dict, variables: dict):
        """Start a transient query; returns (query, is_pull)."""
        from sqlglot import exp

        from ksqlpy.runtime.rest_support import StatementRunner

        self._check_properties(props)
        runner = StatementRunner(self.engine, props, variables)
        texts = runner.split(sql)
        if len(texts) != 1:
            raise HttpError(40001, "Expected exactly one statement, got "
                                   f"{len(texts)}.", type_="statement_error",
                            extra={"statementText": sql, "entities": []})
        try:
            text, node = runner.parse(texts[0])
        except KsqlError as e:
            raise HttpError(e.error_code, e.message, type_="statement_error",
                            extra={"statementText": texts[0], "entities": []}) from None
        except Exception as e:
            raise HttpError(40001, f"line 1:1: Syntax error: {type(e).__name__}",
                            type_="statement_error",
                            extra={"statementText": texts[0], "entities": []}) from None
        if type(node).__name__ == "PrintTopic":
            raise _Print(node, text)
        if not isinstance(node, exp.Select):
            raise HttpError(40001, f"Statement type `{type(node).__name__}' not supported for "
                                   "this resource", type_="statement_error",
                            extra={"statementText": text, "entities": []})
        is_push = node.args.get("emit") is not None or " EMIT " in f" {text.upper()} "
        if is_push:
            open_push = sum(1 for v in self.open_queries.values() if v)
            limit = self.config.max_push_queries
            if open_push >= limit:
                raise HttpError(40003, "Not executing statement(s) as it would cause the number "
                                       "of active, push queries to exceed the configured limit. "
                                       "Terminate existing PUSH queries, or increase the "
                                       "'ksql.max.push.queries' setting via the "
                                       "'ksql-server.properties' file. Current push query "
                                       f"count: {open_push}. Configured limit: {limit}.")
        try:
            query = await self.engine.push_query(text, props, variables)
        except KsqlError as e:
            raise HttpError(e.error_code, e.message, type_="statement_error",
                            extra={"statementText": text, "entities": []}) from None
        except RecursionError:
            raise HttpError(40001, TOO_DEEP, type_="statement_error",
                            extra={"statementText": text, "entities": []}) from None
        except HttpError:
            raise
        except Exception as e:
            err = _unexpected(e, text)
            raise HttpError(err.error_code, err.message, type_="statement_error",
                            extra={"statementText": text, "entities": []}) from None
        # a table pull answers like ksqlDB's pull writer (KEY marks, no final message); a
        # pull over a stream scans to the end like a push query and says "Query Completed"
        from ksqlpy.pull import PullQueryHandle

        pull = isinstance(query, PullQueryHandle)
        self.open_queries[query.id] = not bool(getattr(query, "until_end", False))
        return query, pull

    async def _close_query(self, qid: str) -> bool:
        from ksqlpy.runtime.rest_support import close_transient

        self.open_queries.pop(qid, None)
        try:
            return await close_transient(self.engine, qid)
        except Exception:
            logger.debug("closing %s failed", qid, exc_info=True)
            return False

    async def _pump(self, query, writer, resp, keepalive: float | None = None) -> None:
        """Write the query's rows as they come (all rows ready at once go in one write) until
        it ends; a ``\\n`` keepalive after ``keepalive`` idle seconds.

        The queue holds RowBlocks (push queries) or single rows (pull handles). A block's
        rendering is cached per (writer class, pull): clients of one shared push pipeline
        (ksqlpy/runtime/push_fanout.py) have the same columns, so a row is encoded once per
        wire format however many clients receive it."""
        from ksqlpy.runtime.push_fanout import RowBlock

        q = query.queue
        key = (type(writer), writer.pull)
        render = writer.rows
        # HTTP/1.1: a block's rows framed as chunks are cached too, and written as they are
        framer = resp.chunk_framer() if hasattr(resp, "chunk_framer") else None
        if framer is not None:
            fkey = (key, framer)

            def framed(rows):
                return framer(render(rows))
        getter = None
        try:
            while True:
                if keepalive is None:
                    item = await q.get()
                else:
                    getter = asyncio.ensure_future(q.get())
                    while True:
                        done, _ = await asyncio.wait({getter}, timeout=keepalive)
                        if done:
                            break
                        await resp.write(b"\n")
                    item = getter.result()
                    getter = None
                if item is None:
                    break
                out: list[bytes] = []  # chunks, or framed blocks with a framer
                rows = 0
                ended = False
                while True:
                    block = item if type(item) is RowBlock else RowBlock([item])
                    rows += len(block)
                    if framer is not None:
                        out.append(block.rendered(fkey, framed))
                    else:
                        out.extend(block.rendered(key, render))
                    if rows >= 500:
                        break
                    try:
                        item = q.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                    if item is None:
                        ended = True
                        break
                # each row its own chunk / frame; all of them in one write
                if framer is not None:
                    await resp.write_framed(out[0] if len(out) == 1 else b"".join(out))
                else:
                    await resp.write_many(out)
                if ended:
                    break
        finally:
            if getter is not None and not getter.done():
                getter.cancel()
        task = query.task
        if task is not None and task.done() and not task.cancelled() and task.exception():
            e = task.exception()
            msg = e.message if isinstance(e, KsqlError) else "Internal server error"
            await resp.write(writer.error({"@type": "generic_error", "error_code": 50000,
                                           "message": msg}))

    async def _serve_query(self, req, resp, sql, props, variables, writer_cls,
                           keepalive=None, content_type=None):
        try:
            query, pull = await self._open_query(sql, props, variables)
        except _Print as p:
            await self._serve_print(resp, p.node, p.text)
            return
        try:
            try:
                writer = writer_cls(query.id, query.columns, pull)
            except render.ProtoSchemaError as e:
                raise HttpError(40000, str(e), type_="statement_error",
                                extra={"statementText": sql, "entities": []}) from None
            await resp.start(200, [("content-type", content_type or writer.content_type)])
            await resp.write(writer.header())
            await self._pump(query, writer, resp, keepalive)
            await resp.write(writer.end(query.done_reason))
            await resp.end()
        finally:
            await self._close_query(query.id)

    def _query_stream_writer(self, req: Request):
        accept = req.accept()
        if "*/*" in accept and not any(m.startswith("application/vnd.ksql") for m in accept):
            # A generic client default such as axios' "application/json, text/plain, */*"
            # expresses no format choice: answer in /query-stream's default, one JSON
            # document per line, which such clients (the seed article's) split on newlines.
            # ksqlDB (Vert.x) would pick the single-array JSON writer here. An explicit
            # "Accept: application/json" still gets the JSON array.
            return render.WRITERS[render.DELIMITED]
        for media in accept:
            if media in (render.DELIMITED, "*/*", "application/*"):
                return render.WRITERS[render.DELIMITED]
            if media in render.WRITERS:
                return render.WRITERS[media]
        if not req.accept():
            return render.WRITERS[render.DELIMITED]
        raise HttpError(40600, "Not Acceptable: supported media types are "
                               f"{', '.join(render.WRITERS)}", status=406)

    async def h_query_stream(self, req, resp):
        body = await req.json()
        if not isinstance(body, dict) or not isinstance(body.get("sql"), str):
            raise HttpError(40000, "Invalid JSON in request: the \"sql\" field must be a string")
        writer_cls = self._query_stream_writer(req)
        props = self._strings(body.get("properties"), "properties")
        variables = self._strings(body.get("sessionVariables"), "sessionVariables")
        await self._serve_query(req, resp, body["sql"], props, variables, writer_cls)

    async def h_query(self, req, resp):
        accept = req.accept()
        # compatibility: the delimited and protobuf Accepts get the /query-stream writers
        # (HTTP/1.1 and HTTP/2), as ksqlDB routes them to its QueryStreamHandler
        if accept and accept[0] in (render.DELIMITED, render.V1_PROTOBUF):
            body = await req.json()
            if not isinstance(body, dict) or not isinstance(body.get("ksql"), str):
                raise HttpError(40000, "Invalid request: the \"ksql\" field must be a string")
            await self._serve_query(req, resp, body["ksql"],
                                    self._strings(body.get("streamsProperties"), "properties"),
                                    self._strings(body.get("sessionVariables"), "variables"),
                                    render.WRITERS[accept[0]])
            return
        if req.http2:
            raise HttpError(40500, QUERY_HTTP2_MESSAGE, status=405)
        body = await req.json()
        if not isinstance(body, dict) or not isinstance(body.get("ksql"), str):
            raise HttpError(40000, "Invalid request: the \"ksql\" field must be a string")
        props = self._strings(body.get("streamsProperties"), "streamsProperties")
        variables = self._strings(body.get("sessionVariables"), "sessionVariables")
        await self._serve_query(req, resp, body["ksql"], props, variables,
                                render.OldQueryWriter, keepalive=self.config.keepalive_seconds,
                                content_type="application/json")

    async def _serve_print(self, resp, node, text) -> None:
        """PRINT: the topic's records as text lines, each its own chunk, until LIMIT or the
        client goes away."""
        from ksqlpy.runtime.print_topic import print_records, resolve_topic

        try:
            resolve_topic(self.engine, node)
        except KsqlError as e:
            raise HttpError(e.error_code, e.message, type_="statement_error",
                            extra={"statementText": text, "entities": []}) from None
        await resp.start(200, [("content-type", "text/plain")])
        async for line in print_records(self.engine, node):
            await resp.write(line.encode() + b"\n")
        await resp.end()

    async def h_close_query(self, req, resp):
        body = await req.json()
        qid = body.get("queryId") if isinstance(body, dict) else None
        if not isinstance(qid, str):
            raise HttpError(40000, "Invalid JSON in request: the \"queryId\" field is missing")
        if qid not in self.engine.transient:
            raise HttpError(40000, f"No query with id {qid}")
        await self._close_query(qid)
        await resp.send(200, b"", "application/json")

    # -- /inserts-stream --------------------------------------------------------------------
    async def h_inserts_stream(self, req, resp):
        from ksqlpy.runtime.rest_support import insert_json_rows, resolve_source

        if not req.http2:
            raise HttpError(40004, HTTP2_ONLY_MESSAGE)
        batches = req.line_batches(self.config.max_insert_line)
        pending: list[bytes] = []
        first = None
        async for lines in batches:
            pending = [ln for ln in lines if ln.strip()]
            if pending:
                first = pending.pop(0)
                break
        try:
            params = json.loads(first) if first is not None else None
        except (ValueError, UnicodeDecodeError):
            params = None
        if not isinstance(params, dict) or not isinstance(params.get("target"), str):
            raise HttpError(40000, "Invalid JSON in inserts stream: the first line must be "
                                   "{\"target\": \"<stream>\"}")
        target = resolve_source(self.engine, params["target"])
        if target is None:
            raise HttpError(40000, f"Cannot insert values into an unknown stream/table: "
                                   f"{params['target']}")
        if target.kind != "STREAM":
            raise HttpError(40000, f"Cannot insert values into a table: {target.name}. "
                                   "Only streams are supported by /inserts-stream.")
        props = self._strings(params.get("properties"), "properties")
        await resp.start(200, [("content-type", "application/vnd.ksqlapi.delimited.v1")])
        seq = 0

        async def insert(lines: list[bytes]) -> None:
            # the rows that arrived together are appended together; one ack per row, in order
            nonlocal seq
            rows, errors = [], []
            for line in lines:
                try:
                    rows.append(json.loads(line))
                    errors.append(None)
                except (ValueError, UnicodeDecodeError):
                    errors.append("Invalid JSON in inserts stream")
            if rows:
                try:
                    results = iter(await insert_json_rows(self.engine, target, rows, props))
                except KsqlError as e:
                    results = iter([e.message] * len(rows))
                errors = [e if e is not None else next(results) for e in errors]
            acks = []
            for err in errors:
                ack = {"status": "ok", "seq": seq} if err is None else \
                    {"status": "error", "seq": seq, "error_code": 40000, "message": err}
                acks.append(json_bytes(ack) + b"\n")
                seq += 1
            await resp.write_many(acks)

        if pending:
            await insert(pending)
        async for lines in batches:
            lines = [ln for ln in lines if ln.strip()]
            if lines:
                await insert(lines)
        await resp.end()

    # -- /ws/query (aiohttp only) -----------------------------------------------------------
    async def websocket(self, request):
        from aiohttp import WSCloseCode, web

        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            self.authorize(request.path, headers)
        except HttpError as e:
            return web.json_response(e.body(), status=e.status, headers={
                "WWW-Authenticate": f'Basic realm="{self.config.auth_realm}"'})
        if self.state != "READY":
            return web.json_response(HttpError(50302, "Server initializing").body(),
                                     status=503)
        if self.config.queries_file:  # [headless]
            return web.json_response(HttpError(40300, self._headless_message()).body(),
                                     status=403)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        t0 = time.perf_counter()
        query = None
        reader = None
        try:
            try:
                params = json.loads(request.query.get("request", ""))
                if not isinstance(params, dict) or not isinstance(params.get("ksql"), str):
                    raise ValueError
            except ValueError:
                await ws.close(code=WSCloseCode.UNSUPPORTED_DATA,
                               message=b"Error parsing request")
                return ws
            props = self._strings(params.get("streamsProperties"), "streamsProperties")
            try:
                query, pull = await self._open_query(params["ksql"], props,
                                                     self._strings(params.get(
                                                         "sessionVariables"), "variables"))
            except (HttpError, KsqlError) as e:
                await ws.close(code=WSCloseCode.UNSUPPORTED_DATA,
                               message=e.message.encode()[:120])
                return ws
            schema = [{"name": c.name, "schema": _field_schema(c.type)}
                      for c in query.columns]
            await ws.send_str(json.dumps(schema))
            writer = _WsWriter(query.id, query.columns, pull)

            async def watch_client():
                async for _ in ws:
                    pass
            reader = asyncio.ensure_future(watch_client())
            pump = asyncio.ensure_future(self._pump(query, writer, _WsSink(ws)))
            done, _ = await asyncio.wait({reader, pump}, return_when=asyncio.FIRST_COMPLETED)
            if pump in done:
                pump.result()
                if query.done_reason:
                    await ws.send_str(json.dumps({"finalMessage": query.done_reason}))
                await ws.close(code=WSCloseCode.OK, message=b"done")
            else:
                pump.cancel()
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception:
            logger.exception("websocket query failed")
            if not ws.closed:
                await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")
        finally:
            if reader is not None:
                reader.cancel()
            if query is not None:
                await self._close_query(query.id)
            self.metrics.observe("GET", "/ws/query", 101, time.perf_counter() - t0)
        return ws


def _unexpected(e: Exception, text: str) -> KsqlError:
    """An engine exception that is not a KsqlError, raised by one statement: the statement
    is reported as failed (400, its message only); the traceback goes to the server log,
    marked ENGINE-GAP, as a missing validation to fix in the engine."""
    logger.error("ENGINE-GAP %s: %s for %r", type(e).__name__, e, text[:300], exc_info=True)
    msg = str(e).splitlines()[0][:500] if str(e) else type(e).__name__
    return KsqlError(f"Failed to execute statement: {msg}")


def _field_schema(t) -> dict:
    out = {"type": t.base, "fields": None, "memberSchema": None}
    if t.base == "ARRAY" or t.base == "MAP":
        out["memberSchema"] = _field_schema(t.item)
    elif t.base == "STRUCT":
        out["fields"] = [{"name": n, "schema": _field_schema(ft)} for n, ft in t.fields]
    elif t.base == "DECIMAL":
        out["parameters"] = {"precision": t.precision, "scale": t.scale}
    return out


class _WsWriter(render.QueryWriter):
    """One StreamedRow per WebSocket frame; rows() returns the frames' texts."""

    def rows(self, rows):
        r = self.render
        return [render.encode({"row": {"columns": r(row)}}).decode() for row in rows]

    def error(self, err):
        return render.encode({"errorMessage": err}).decode()


class _WsSink:
    def __init__(self, ws):
        self.ws = ws

    async def write(self, frame):
        await self.ws.send_str(frame)

    async def write_many(self, frames):
        for f in frames:
            await self.ws.send_str(f)


def default_data_dir() -> str:
    return os.environ.get("KSQLPY_DATA_DIR") or "ksqlpy-data"
