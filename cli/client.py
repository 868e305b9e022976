"""A small REST client (stage: cli, statements → HTTP requests → entities and rows).

Everything the shell, ``-e``/``-f``, the migrations tool and the quickstart do goes through
this client over ksqlDB's REST API (HTTP/1.1, stdlib ``http.client``): ``/info``,
``/ksql`` (entities), ``/query-stream`` (delimited rows, read line by line as they arrive),
``/close-query``. No engine object is ever touched here.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["RestClient", "ServerError", "QueryStream"]


class ServerError(Exception):
    """An error answer of the server (or a transport failure), in one readable line."""

    def __init__(self, message: str, error_code: int = 50000, status: int = 0,
                 statement: str | None = None, entities: list | None = None):
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.status = status
        self.statement = statement
        self.entities = entities or []


@dataclass
class QueryStream:
    """An open /query-stream response: ``header`` then ``rows()`` as they arrive."""

    conn: http.client.HTTPConnection
    resp: http.client.HTTPResponse
    query_id: str | None = None
    columns: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    error: ServerError | None = None

    def rows(self):
        """Yield each row (a list); a mid-stream error is kept in ``self.error``."""
        while True:
            line = self.resp.readline()
            if not line:
                return
            line = line.strip()
            if not line:
                continue
            value = json.loads(line)
            if isinstance(value, list):
                yield value
            elif isinstance(value, dict) and "error_code" in value:
                self.error = ServerError(value.get("message", ""), value["error_code"])
                return

    def close(self) -> None:
        try:
            self.conn.sock and self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


class RestClient:
    """Talks to one ksqlDB-compatible server."""

    def __init__(self, url: str, user: str | None = None, password: str | None = None,
                 timeout: float = 300.0):
        u = urlsplit(url if "://" in url else "http://" + url)
        if u.scheme not in ("http", "https"):
            raise ValueError(f"unsupported server URL: {url}")
        self.url = f"{u.scheme}://{u.hostname}:{u.port or (443 if u.scheme == 'https' else 8088)}"
        self.scheme = u.scheme
        self.host = u.hostname or "localhost"
        self.port = u.port or (443 if u.scheme == "https" else 8088)
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json",
                        "Accept": "application/json"}
        if user is not None:
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self.command_sequence = None

    # -- plumbing -------------------------------------------------------------------------
    def _conn(self, timeout: float | None = None) -> http.client.HTTPConnection:
        t = self.timeout if timeout is None else timeout
        if self.scheme == "https":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(self.host, self.port, timeout=t, context=ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=t)

    def _send(self, method: str, path: str, body=None, headers=None, timeout=None):
        conn = self._conn(timeout)
        data = None if body is None else json.dumps(body).encode()
        try:
            conn.request(method, path, body=data, headers={**self.headers, **(headers or {})})
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise ServerError(f"Could not reach the server at {self.url}: "
                              f"{e.__class__.__name__}: {e}", 50000) from None

    @staticmethod
    def _error(status: int, raw: bytes) -> ServerError:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict) and "message" in body:
            return ServerError(body["message"], body.get("error_code", status * 100), status,
                               body.get("statementText"), body.get("entities"))
        text = raw.decode("utf-8", "replace").strip() or http.client.responses.get(status, "")
        return ServerError(f"HTTP {status}: {text}", status * 100, status)

    def request_json(self, method: str, path: str, body=None, timeout=None):
        conn, resp = self._send(method, path, body, timeout=timeout)
        try:
            raw = resp.read()
        finally:
            conn.close()
        if resp.status >= 300:
            raise self._error(resp.status, raw)
        return json.loads(raw) if raw.strip() else None

    # -- endpoints ------------------------------------------------------------------------
    def info(self) -> dict:
        return self.request_json("GET", "/info").get("KsqlServerInfo", {})

    def healthcheck(self) -> dict:
        return self.request_json("GET", "/healthcheck")

    def wait_ready(self, timeout: float = 30.0, on_wait=None) -> dict:
        """GET /info until the server answers and its engine is running; returns the info."""
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                info = self.info()
                if info.get("serverStatus") == "RUNNING":
                    return info
                if info.get("serverStatus") == "ERROR":
                    raise ServerError(f"The server at {self.url} failed to start "
                                      "(serverStatus ERROR)")
                last = ServerError(f"The server at {self.url} is still starting")
            except ServerError as e:
                if e.status == 401:
                    raise ServerError("Unauthorized: check --user and --password", 40100,
                                      401) from None
                if e.status and e.status not in (503,):
                    raise
                last = e
            if time.monotonic() >= deadline:
                raise last
            if on_wait is not None and not waited:
                on_wait()
                waited = True
            time.sleep(0.2)

    def ksql(self, sql: str, properties: dict | None = None,
             variables: dict | None = None) -> list[dict]:
        body = {"ksql": sql, "streamsProperties": properties or {}}
        if variables:
            body["sessionVariables"] = variables
        return self.request_json("POST", "/ksql", body) or []

    def print_topic(self, sql: str, properties: dict | None = None):
        """PRINT: yield the server's text lines as they arrive (the caller stops it)."""
        conn, resp = self._send("POST", "/query-stream", {"sql": sql,
                                                          "properties": properties or {}},
                                timeout=None)
        if resp.status >= 300:
            raw = resp.read()
            conn.close()
            raise self._error(resp.status, raw)
        stream = QueryStream(conn, resp)
        try:
            while True:
                line = resp.readline()
                if not line:
                    return
                yield line.decode("utf-8", "replace").rstrip("\n")
        finally:
            stream.close()

    def query_stream(self, sql: str, properties: dict | None = None,
                     variables: dict | None = None) -> QueryStream:
        """Open a push or pull query; raise ServerError when the server refuses it."""
        body = {"sql": sql, "properties": properties or {}}
        if variables:
            body["sessionVariables"] = variables
        # no read timeout: a push query may stay silent for as long as it likes
        conn, resp = self._send("POST", "/query-stream", body,
                                headers={"Accept": "application/vnd.ksqlapi.delimited.v1"},
                                timeout=None)
        if resp.status >= 300:
            raw = resp.read()
            conn.close()
            raise self._error(resp.status, raw)
        conn.sock.settimeout(None)
        stream = QueryStream(conn, resp)
        first = resp.readline()
        while first is not None and first.strip() == b"" and first:
            first = resp.readline()
        if not first:
            conn.close()
            raise ServerError("The server closed the query without an answer")
        meta = json.loads(first)
        if isinstance(meta, dict) and "error_code" in meta and "queryId" not in meta:
            conn.close()
            raise ServerError(meta.get("message", ""), meta["error_code"])
        stream.query_id = meta.get("queryId")
        stream.columns = list(meta.get("columnNames") or [])
        stream.types = list(meta.get("columnTypes") or [])
        return stream

    def close_query(self, query_id: str) -> None:
        try:
            self.request_json("POST", "/close-query", {"queryId": query_id}, timeout=10)
        except ServerError:
            pass  # already gone: the stream ended on its own
