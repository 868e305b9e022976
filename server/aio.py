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
