"""Shared by the restart tests: run the engine worker on a data dir, kill -9 it at random
moments several times, then let a last run finish."""

import os
import random
import subprocess
import sys
import time
from pathlib import Path

WORKER = Path(__file__).with_name("engine_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def kill_repeatedly(data_dir: str, rounds: int = 5, seed: int = 42) -> int:
    """Start the worker ``rounds`` times, killing each mid-run; then run it to the end.
    Returns how many runs were killed while still working."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rnd = random.Random(seed)
    kills = 0
    for _ in range(rounds):
        proc = subprocess.Popen([sys.executable, str(WORKER), data_dir], env=env,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "started"
        time.sleep(rnd.uniform(0.05, 0.4))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
    done = subprocess.run([sys.executable, str(WORKER), data_dir], env=env,
                          capture_output=True, text=True, timeout=180)
    assert "idle" in done.stdout, done.stderr
    return kills
