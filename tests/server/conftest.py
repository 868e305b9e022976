"""Real ksqlpy servers in subprocesses on free loopback ports, driven by real clients."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, tmp: Path, *args: str, env: dict | None = None, scheme: str = "http"):
        self.port = free_port()
        self.data_dir = tmp / "data"
        self.args = args
        self.env = env or {}
        self.scheme = scheme
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.log = tmp / f"server-{self.port}.log"
        self.proc = None

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.env}
        env.pop("KSQLPY_DATA_DIR", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ksqlpy.server.main", "--host", "127.0.0.1",
             "--port", str(self.port), "--data-dir", str(self.data_dir), *self.args],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                if self.scheme == "https" or self.ready():
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError(f"server did not start: {self.log.read_text()}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthcheck", timeout=2) as r:
                return json.loads(r.read())["isHealthy"]
        except OSError:
            return False

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    # -- tiny HTTP/1.1 helpers (stdlib, no dependency) -------------------------------------
    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                timeout: float = 20.0):
        """(status, headers, body bytes)."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def ksql(self, sql: str, **extra):
        status, _, body = self.request("POST", "/ksql", {"ksql": sql, **extra})
        return status, json.loads(body)


def curl(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=timeout)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = ServerProcess(tmp_path_factory.mktemp("srv")).start()
    yield s
    rc = s.stop()
    assert rc == 0, s.log.read_text()


@pytest.fixture
def name(request):
    """A source name unique to the test."""
    return "S_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name).upper()[:40]
