"""HTTP/1.1 through aiohttp (stage: server transport): adapts aiohttp requests to
``server.http`` and hands them to the app's dispatcher. Only /ws/query is aiohttp-specific
(WebSockets exist only on HTTP/1.1)."""

from __future__ import annotations

from aiohttp import web

from ksqlpy.server.http import Request, Response

__all__ = ["make_aiohttp_app"]


class AioRequest(Request):
    def __init__(self, request: web.Request, body_limit: int):
        headers = {k.lower(): v for k, v in request.headers.items()}
        super().__init__(request.method, request.path, dict(request.query), headers,
                         http2=False, body_limit=body_limit, remote=request.remote or "")
        self.aio = request

    async def chunks(self):
        while True:
            chunk = await self.aio.content.readany()
            if not chunk:
                return
            yield chunk


def frame_chunks(chunks) -> bytes:
    """HTTP/1.1 chunked framing of each of ``chunks`` (empty ones skipped: they would end the
    body)."""
    return b"".join([b"%x\r\n%b\r\n" % (len(c), c) for c in chunks if c])


class AioResponse(Response):
    def __init__(self, request: web.Request):
        self.request = request
        self.stream: web.StreamResponse | None = None

    async def start(self, status, headers):
        self.started = True
        self.stream = web.StreamResponse(status=status)
        length = None
        for k, v in headers:
            if k.lower() == "content-length":
                length = int(v)
            else:
                self.stream.headers[k] = v
        if length is not None:
            self.stream.content_length = length
        else:
            self.stream.enable_chunked_encoding()
        await self.stream.prepare(self.request)

    async def write(self, data):
        await self.stream.write(data)

    def _raw_writer(self):
        """aiohttp's payload writer when pre-framed chunks can go to it directly: chunked,
        headers sent, and nothing else to do per write (no compression, no hooks)."""
        w = getattr(self.stream, "_payload_writer", None)
        if w is None or getattr(self.stream, "_eof_sent", True) or not w.chunked \
                or getattr(w, "_compress", None) is not None \
                or getattr(w, "_on_chunk_sent", None) is not None \
                or getattr(w, "on_body_write", None) is not None \
                or getattr(w, "_headers_buf", None) or not hasattr(w, "_write"):
            return None
        return w

    def chunk_framer(self):
        """``frame(chunks) → bytes`` for :meth:`write_framed`, or None when that cannot be used
        (push queries cache a block's framed bytes and write them to every client)."""
        return frame_chunks if self._raw_writer() is not None else None

    async def write_framed(self, data: bytes) -> None:
        """Bytes from ``chunk_framer()``: several HTTP/1.1 chunks in one transport write."""
        w = self._raw_writer()
        if w is None:
            raise RuntimeError("write_framed() without chunk_framer()")
        w._write(data)
        if w.buffer_size > 0x10000:  # as aiohttp's write(): wait while the peer is slow
            w.buffer_size = 0
            await w.drain()

    async def write_many(self, chunks):
        """Several chunks, each its own HTTP/1.1 chunk, in one transport write (aiohttp's
        write() costs a send() per chunk)."""
        if len(chunks) > 1 and self._raw_writer() is not None:
            await self.write_framed(frame_chunks(chunks))
            return
        for c in chunks:
            await self.stream.write(c)

    async def end(self):
        await self.stream.write_eof()


def make_aiohttp_app(app, client_max_size: int) -> web.Application:
    """An aiohttp Application whose single catch-all route calls ``app.dispatch``."""

    async def handle(request: web.Request):
        if request.path == "/ws/query" and request.method == "GET" and \
                request.headers.get("Upgrade", "").lower() == "websocket":
            return await app.websocket(request)
        req = AioRequest(request, app.config.max_body_bytes)
        resp = AioResponse(request)
        await app.dispatch(req, resp)
        if resp.stream is None:  # a handler that never answered
            return web.Response(status=500)
        return resp.stream

    aio = web.Application(client_max_size=client_max_size, handler_args={
        "max_field_size": 65536, "max_line_size": 65536})
    aio.router.add_route("*", "/{tail:.*}", handle)
    return aio
