"""One port, two protocols (stage: server transport).

Each accepted connection starts with a :class:`SniffProtocol` that buffers the first bytes:

- the HTTP/2 client preface (``PRI * HTTP/2.0``) → :class:`H2Protocol` (cleartext prior
  knowledge, and TLS where ALPN chose ``h2`` — a TLS client speaking h2 sends the same preface);
- an HTTP/1.1 request carrying ``Upgrade: h2c`` → ``101 Switching Protocols`` and
  :class:`H2Protocol` with that request as stream 1;
- anything else → aiohttp's request handler, which is given the buffered bytes and from then
  on every transport callback.
"""

from __future__ import annotations

import asyncio
import logging

from ksqlpy.server.h2conn import H2Protocol

logger = logging.getLogger(__name__)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_SNIFF = 65536


class SniffProtocol(asyncio.Protocol):
    def __init__(self, app, aio_factory):
        self.app = app
        self.aio_factory = aio_factory
        self.transport = None
        self.delegate = None
        self.buf = b""
        self.lost = False

    def connection_made(self, transport):
        self.transport = transport
        ssl_obj = transport.get_extra_info("ssl_object")
        if ssl_obj is not None and ssl_obj.selected_alpn_protocol() == "h2":
            self._to_h2()

    def data_received(self, data):
        if self.delegate is not None:
            self.delegate.data_received(data)
            return
        self.buf += data
        head = self.buf[:len(PREFACE)]
        if PREFACE.startswith(head):
            if len(self.buf) < len(PREFACE):
                return
            self._to_h2()
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 and len(self.buf) < MAX_SNIFF:
            return
        if end >= 0:
            upgrade = self._h2c_upgrade(end)
            if upgrade is False:
                return  # the upgrade request's body is not complete yet
            if upgrade is not None:
                headers, settings, body, rest = upgrade
                self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\n"
                                     b"Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
                self.buf = b""
                self.delegate = H2Protocol(self.app, self.transport,
                                           upgrade=(headers, settings, body))
                if rest:
                    self.delegate.data_received(rest)
                return
        self._to_aiohttp()

    def _to_h2(self):
        buf, self.buf = self.buf, b""
        self.delegate = H2Protocol(self.app, self.transport)
        if buf:
            self.delegate.data_received(buf)

    def _to_aiohttp(self):
        buf, self.buf = self.buf, b""
        self.delegate = self.aio_factory()
        self.delegate.connection_made(self.transport)
        if buf:
            self.delegate.data_received(buf)

    def _h2c_upgrade(self, end: int):
        """None: not an h2c upgrade; False: wait for more body; else the parsed request."""
        lines = self.buf[:end].decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            return None
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("upgrade", "").lower() != "h2c" or "http2-settings" not in headers:
            return None
        if "transfer-encoding" in headers:
            return None  # a chunked upgrade body: stay on HTTP/1.1
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            return None
        if length > self.app.config.max_body_bytes:
            return None  # aiohttp answers 413
        start = end + 4
        if len(self.buf) < start + length:
            return False
        body = self.buf[start:start + length]
        rest = self.buf[start + length:]
        h2headers = {":method": method, ":path": target, ":scheme": "http",
                     ":authority": headers.get("host", "")}
        for k, v in headers.items():
            if k not in ("connection", "upgrade", "http2-settings", "host", "keep-alive",
                         "transfer-encoding", "proxy-connection"):
                h2headers[k] = v
        return h2headers, headers["http2-settings"].encode(), body, rest

    def eof_received(self):
        if self.delegate is not None:
            return self.delegate.eof_received()
        return False

    def connection_lost(self, exc):
        self.lost = True
        if self.delegate is not None:
            self.delegate.connection_lost(exc)

    def pause_writing(self):
        if self.delegate is not None:
            self.delegate.pause_writing()

    def resume_writing(self):
        if self.delegate is not None:
            self.delegate.resume_writing()
