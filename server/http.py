"""The server's own request/response abstraction (stage: server, transport-neutral).

Handlers are ``async def handler(app, req: Request, resp: Response)``. One handler serves both
transports: aiohttp (HTTP/1.1, see ``aio.py``) and the h2 connection (HTTP/2, see
``h2conn.py``) each adapt their request and their way of writing to these two classes.

A handler either sends a whole response with ``resp.send(status, body, content_type)`` or
streams: ``await resp.start(status, headers)``, ``await resp.write(chunk)`` (each write is
flushed at once), ``await resp.end()``. A client that goes away cancels the handler task, so
``finally`` blocks release what the request held (push queries).
"""

from __future__ import annotations

import json
from typing import AsyncIterator

__all__ = ["Request", "Response", "HttpError", "BodyTooLarge", "json_bytes"]


class HttpError(Exception):
    """An error answered as ksqlDB's KsqlErrorMessage (HTTP status = error_code // 100)."""

    def __init__(self, error_code: int, message: str, *, extra: dict | None = None,
                 type_: str = "generic_error", status: int | None = None):
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.extra = extra or {}
        self.type = type_
        self.status = status or error_code // 100

    def body(self) -> dict:
        return {"@type": self.type, "error_code": self.error_code, "message": self.message,
                **self.extra}


class BodyTooLarge(HttpError):
    def __init__(self, limit: int):
        super().__init__(41300, f"Request body exceeds the limit of {limit} bytes.")


def json_bytes(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode()


class Request:
    """One HTTP request, whichever the protocol. ``headers`` keys are lower-case."""

    def __init__(self, method: str, path: str, query: dict, headers: dict, *,
                 http2: bool, body_limit: int, remote: str = ""):
        self.method = method.upper()
        self.path = path
        self.query = query
        self.headers = headers
        self.http2 = http2
        self.body_limit = body_limit
        self.remote = remote
        self.user: str | None = None
        self.route = path           # the route template, for metrics labels

    async def chunks(self) -> AsyncIterator[bytes]:  # pragma: no cover - abstract
        raise NotImplementedError
        yield b""

    async def read(self) -> bytes:
        """The whole body; HttpError 413 past the limit."""
        parts = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > self.body_limit:
                raise BodyTooLarge(self.body_limit)
            parts.append(chunk)
        return b"".join(parts)

    async def line_batches(self, max_line: int) -> AsyncIterator[list[bytes]]:
        """Newline-delimited body lines as they arrive, all complete lines of each received
        chunk together (the last line may lack its newline)."""
        buf = b""
        async for chunk in self.chunks():
            buf += chunk
            if b"\n" in chunk:
                *lines, buf = buf.split(b"\n")
                yield lines
            if len(buf) > max_line:
                raise BodyTooLarge(max_line)
        if buf:
            yield [buf]

    async def json(self):
        """The body as JSON; 400/40000 when it is not."""
        body = await self.read()
        try:
            return json.loads(body) if body.strip() else None
        except (ValueError, UnicodeDecodeError) as e:
            raise HttpError(40000, f"Invalid JSON in request: {e}") from None

    def accept(self) -> list[str]:
        """Media types of the Accept header, best first (q-weights honoured)."""
        raw = self.headers.get("accept", "")
        out = []
        for i, part in enumerate(raw.split(",")):
            bits = [b.strip() for b in part.split(";")]
            if not bits[0]:
                continue
            q = 1.0
            for b in bits[1:]:
                if b.startswith("q="):
                    try:
                        q = float(b[2:])
                    except ValueError:
                        q = 0.0
            out.append((-q, i, bits[0].lower()))
        return [m for _, _, m in sorted(out)]


class Response:
    """How a handler answers; subclassed per transport."""

    started = False

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        raise NotImplementedError

    async def write(self, data: bytes) -> None:
        raise NotImplementedError

    async def end(self) -> None:
        raise NotImplementedError

    async def write_many(self, chunks: list[bytes]) -> None:
        """Several chunks (rows), each its own chunk or frame, flushed together."""
        for c in chunks:
            await self.write(c)

    async def send(self, status: int, body: bytes, content_type: str = "application/json",
                   headers: list[tuple[str, str]] | None = None) -> None:
        await self.start(status, [("content-type", content_type),
                                  ("content-length", str(len(body))), *(headers or [])])
        if body:
            await self.write(body)
        await self.end()

    async def send_json(self, status: int, obj, content_type: str = "application/json",
                        headers: list[tuple[str, str]] | None = None) -> None:
        await self.send(status, json_bytes(obj), content_type, headers)

    async def send_error(self, err: HttpError, headers=None) -> None:
        await self.send_json(err.status, err.body(), headers=headers)
