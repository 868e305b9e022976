"""The CLI driven for real: ``python -m ksqlpy`` in subprocesses and pseudo-terminals, against
real servers (``tests/server``'s ServerProcess: ``ksqlpy server`` on a free loopback port)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.conftest import ROOT, ServerProcess, free_port  # noqa: F401

CLI_TIMEOUT = 60


def cli_env(tmp: Path | None = None, **extra) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("KSQLPY_DATA_DIR", None)
    if tmp is not None:
        env["HOME"] = str(tmp)
    return env


def run_cli(*args: str, cwd: Path | None = None, timeout: float = CLI_TIMEOUT,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m ksqlpy ARGS`` to completion: (returncode, stdout, stderr)."""
    return subprocess.run([sys.executable, "-m", "ksqlpy", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd or ROOT,
                          env=env or cli_env())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = ServerProcess(tmp_path_factory.mktemp("cli-srv")).start()
    yield s
    s.stop()
