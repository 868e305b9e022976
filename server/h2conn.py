"""HTTP/2 with the ``h2`` state machine (stage: server transport).

One :class:`H2Connection` protocol object per TCP (or TLS) connection. Every request stream
gets its own handler task, so many queries, inserts and admin calls are multiplexed on one
connection. Request bodies are queued per stream and flow-control credit is returned to the
client only as the handler consumes them (a slow handler slows only its own stream). Responses
are written frame by frame within the stream's and the connection's send windows; a writer
waits for a WINDOW_UPDATE when a window is exhausted, and for the transport to drain when the
socket buffer is full. RST_STREAM or a lost connection cancels the stream's handler task.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qsl, urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from ksqlpy.server.http import Request, Response

logger = logging.getLogger(__name__)

__all__ = ["H2Protocol"]


class H2Request(Request):
    def __init__(self, stream: "_Stream", headers: dict, body_limit: int, remote: str):
        target = urlsplit(headers.get(":path", "/"))
        super().__init__(headers.get(":method", "GET"), target.path or "/",
                         dict(parse_qsl(target.query)),
                         {k: v for k, v in headers.items() if not k.startswith(":")},
                         http2=True, body_limit=body_limit, remote=remote)
        self.stream = stream

    async def chunks(self):
        s = self.stream
        while True:
            chunk = await s.body.get()
            if chunk is None:
                return
            s.proto.ack_data(s.id, len(chunk))
            yield chunk


class H2Response(Response):
    def __init__(self, stream: "_Stream"):
        self.stream = stream

    async def start(self, status, headers):
        self.started = True
        hdrs = [(":status", str(status))]
        hdrs += [(k.lower(), v) for k, v in headers
                 if k.lower() not in ("connection", "transfer-encoding")]
        self.stream.proto.send_headers(self.stream.id, hdrs)

    async def write(self, data):
        await self.stream.proto.send_data(self.stream.id, data)

    async def end(self):
        self.stream.proto.end_stream(self.stream.id)

    async def write_many(self, chunks):
        proto = self.stream.proto
        for c in chunks:
            await proto.send_data(self.stream.id, c, flush=False)
        proto.flush()
        if not proto.drained.is_set():
            await proto.drained.wait()


class _Stream:
    __slots__ = ("id", "proto", "body", "task", "closed")

    def __init__(self, sid: int, proto: "H2Protocol"):
        self.id = sid
        self.proto = proto
        self.body: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None
        self.closed = False


class H2Protocol:
    """An HTTP/2 server connection. Not an asyncio.Protocol itself: the sniffing protocol in
    ``listener.py`` forwards transport callbacks to it after choosing HTTP/2."""

    def __init__(self, app, transport, *, upgrade: tuple[dict, bytes, bytes] | None = None):
        self.app = app
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.remote = peer[0] if peer else ""
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8", validate_inbound_headers=True))
        self.conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20,
        })
        self.streams: dict[int, _Stream] = {}
        self.window_open = asyncio.Event()
        self.drained = asyncio.Event()
        self.drained.set()
        self.closed = False
        if upgrade is None:
            self.conn.initiate_connection()
        else:  # Upgrade: h2c — the HTTP/1.1 request becomes stream 1
            headers, settings, body = upgrade
            settings += b"=" * (-len(settings) % 4)
            self.conn.initiate_upgrade_connection(settings)
            s = self._new_stream(1, headers)
            if body:
                s.body.put_nowait(body)
            s.body.put_nowait(None)
        self.flush()

    # -- transport callbacks ----------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            logger.debug("h2 protocol error: %s", e)
            self.flush()
            self.transport.close()
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                self._new_stream(ev.stream_id, dict(ev.headers))
            elif isinstance(ev, h2.events.DataReceived):
                s = self.streams.get(ev.stream_id)
                if s is not None and ev.data:
                    s.body.put_nowait(ev.data)
                    # padding is not handed to the handler: credit it back now
                    pad = ev.flow_controlled_length - len(ev.data)
                    if pad:
                        self.ack_data(ev.stream_id, pad)
                elif ev.flow_controlled_length:
                    self.ack_data(ev.stream_id, ev.flow_controlled_length)
            elif isinstance(ev, h2.events.StreamEnded):
                s = self.streams.get(ev.stream_id)
                if s is not None:
                    s.body.put_nowait(None)
            elif isinstance(ev, h2.events.StreamReset):
                self._drop_stream(ev.stream_id)
            elif isinstance(ev, h2.events.WindowUpdated):
                self.window_open.set()
            elif isinstance(ev, h2.events.RemoteSettingsChanged):
                self.window_open.set()
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.flush()
                self.transport.close()
        self.flush()

    def eof_received(self):
        return False

    def connection_lost(self, exc) -> None:
        self.closed = True
        for sid in list(self.streams):
            self._drop_stream(sid)
        self.window_open.set()
        self.drained.set()

    def pause_writing(self) -> None:
        self.drained.clear()

    def resume_writing(self) -> None:
        self.drained.set()

    # -- streams ----------------------------------------------------------------------------
    def _new_stream(self, sid: int, headers: dict) -> _Stream:
        s = _Stream(sid, self)
        self.streams[sid] = s
        req = H2Request(s, headers, self.app.config.max_body_bytes, self.remote)
        resp = H2Response(s)
        s.task = asyncio.get_running_loop().create_task(self._serve(s, req, resp),
                                                        name=f"h2-stream-{sid}")
        return s

    async def _serve(self, s: _Stream, req: H2Request, resp: H2Response) -> None:
        try:
            await self.app.dispatch(req, resp)
        except asyncio.CancelledError:
            pass
        except Exception:  # dispatch answers errors itself; this is a transport failure
            logger.debug("h2 stream %s failed", s.id, exc_info=True)
            if not self.closed and not s.closed:
                try:
                    self.conn.reset_stream(s.id, h2.errors.ErrorCodes.INTERNAL_ERROR)
                    self.flush()
                except h2.exceptions.H2Error:
                    pass
        finally:
            self.streams.pop(s.id, None)

    def _drop_stream(self, sid: int) -> None:
        s = self.streams.pop(sid, None)
        if s is None:
            return
        s.closed = True
        s.body.put_nowait(None)
        if s.task is not None and not s.task.done():
            s.task.cancel()

    # -- writing ----------------------------------------------------------------------------
    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.closed:
            self.transport.write(data)

    def ack_data(self, sid: int, n: int) -> None:
        if self.closed or n <= 0:
            return
        try:
            self.conn.acknowledge_received_data(n, sid)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
            try:  # the stream is gone: still return the connection's credit
                self.conn.increment_flow_control_window(n)
            except h2.exceptions.H2Error:
                pass
        self.flush()

    def _check_open(self, sid: int) -> None:
        s = self.streams.get(sid)
        if self.closed or s is None or s.closed:
            raise ConnectionResetError("HTTP/2 stream closed")

    def send_headers(self, sid: int, headers) -> None:
        self._check_open(sid)
        self.conn.send_headers(sid, headers)
        self.flush()

    async def send_data(self, sid: int, data: bytes, flush: bool = True) -> None:
        view = memoryview(data)
        while view:
            self._check_open(sid)
            window = min(self.conn.local_flow_control_window(sid),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                self.flush()
                self.window_open.clear()
                await self.window_open.wait()
                continue
            chunk = view[:window]
            self.conn.send_data(sid, chunk.tobytes())
            view = view[len(chunk):]
            if flush:
                self.flush()
                if not self.drained.is_set():
                    await self.drained.wait()

    def end_stream(self, sid: int) -> None:
        self._check_open(sid)
        self.conn.end_stream(sid)
        self.flush()
