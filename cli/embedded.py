"""An in-process REST server (stage: cli, data directory → a loopback URL).

``ksqlpy`` without ``--server`` (and ``ksqlpy apply`` without ``--server``) starts the real
REST server of ``ksqlpy.server`` on a free loopback port, on its own thread and event loop,
over a local data directory; the shell then talks to it over HTTP like to any server, so the
embedded and remote cases behave the same.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

__all__ = ["EmbeddedServer"]


class EmbeddedServer:
    def __init__(self, data_dir: str | None = None, properties: dict | None = None,
                 log_file: str | None = None):
        from ksqlpy.server.app import default_data_dir

        self.data_dir = str(data_dir or default_data_dir())
        self.properties = dict(properties or {})
        self.log_file = log_file
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server = None
        self.thread: threading.Thread | None = None
        self.url: str | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    def start(self, timeout: float = 120.0) -> str:
        """Start the server and wait until its engine has replayed its command log."""
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        self._configure_logging()
        self.thread = threading.Thread(target=self._run, name="ksqlpy-embedded", daemon=True)
        self.thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the embedded engine did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the embedded engine failed to start: {self._error}")
        return self.url

    def _configure_logging(self) -> None:
        # the engine's log lines must not land in the middle of the shell's screen
        path = self.log_file or str(Path(self.data_dir) / "ksqlpy.log")
        root = logging.getLogger()
        if not any(getattr(h, "_ksqlpy_cli", False) for h in root.handlers):
            h = logging.FileHandler(path, encoding="utf-8")
            h._ksqlpy_cli = True
            h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            root.addHandler(h)
            root.setLevel(logging.INFO)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as e:  # noqa: BLE001 - reported to the starting thread
            self._error = e
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        from ksqlpy.server.app import KsqlServer, ServerConfig

        self._stop = asyncio.Event()
        cfg = ServerConfig(host="127.0.0.1", port=0, data_dir=self.data_dir,
                           properties=self.properties)
        self.server = KsqlServer(cfg)
        await self.server.start()
        await self.server.wait_ready()
        if self.server.failed.is_set():
            await self.server.stop()
            raise RuntimeError("see " + (self.log_file or
                                         str(Path(self.data_dir) / "ksqlpy.log")))
        self.url = f"http://127.0.0.1:{self.server.port}"
        self._ready.set()
        await self._stop.wait()
        await self.server.stop()

    def stop(self, timeout: float = 30.0) -> None:
        if self.loop is None or self._stop is None or self.thread is None:
            return
        try:
            self.loop.call_soon_threadsafe(self._stop.set)
        except RuntimeError:
            return  # loop already closed
        self.thread.join(timeout)
