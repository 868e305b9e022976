"""docs/quickstart.md, executed: its ``shell`` blocks run in bash and its ``sql`` blocks run in
order in one shell session (``CliSession``, the shell's own statement handler, so SET carries
over as when typed at the prompt). ``console`` blocks (install, opening the interactive shell)
and ``text`` blocks (sample output) are not run. The only change: port 8088 becomes a free
port, so the test never collides with a real server."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time

from tests.cli.conftest import ROOT, cli_env, free_port

DOC = ROOT / "docs" / "quickstart.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)


def blocks():
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(DOC.read_text())]


def test_quickstart_runs_verbatim(tmp_path):
    from ksqlpy.cli.client import RestClient
    from ksqlpy.cli.session import CliSession

    port = free_port()
    env = cli_env(tmp_path)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    background: list[int] = []
    session = None
    ran = {"shell": 0, "sql": 0}
    try:
        for lang, body in blocks():
            body = body.replace("8088", str(port))
            if lang == "shell":
                script = body.strip()
                if script.endswith("&"):
                    script += "\necho $! > bg.pid"
                log = tmp_path / f"block{ran['shell']}.log"
                with open(log, "w") as f:   # a file, not a pipe: a background job keeps it
                    r = subprocess.run(["bash", "-ec", script], cwd=tmp_path, env=env,
                                       stdout=f, stderr=subprocess.STDOUT, timeout=90)
                assert r.returncode == 0, f"{body}\n{log.read_text()}"
                if (tmp_path / "bg.pid").exists():
                    background.append(int((tmp_path / "bg.pid").read_text()))
                    (tmp_path / "bg.pid").unlink()
                ran["shell"] += 1
            elif lang == "sql":
                if session is None:
                    client = RestClient(f"http://localhost:{port}")
                    client.wait_ready(60)
                    session = CliSession(client, stdout=io.StringIO(),
                                         stderr=io.StringIO())
                out = session.stdout
                mark = out.tell()
                ok = session.run_text(body)
                assert ok, f"{body}\n{session.stderr.getvalue()}"
                if "WHERE user_id = 'alice'" in body:   # the table fills in the background
                    deadline = time.time() + 20
                    while "|alice" not in out.getvalue()[mark:] and time.time() < deadline:
                        time.sleep(0.3)
                        mark = out.tell()
                        assert session.run_text(body)
                    assert re.search(r"\|alice\s*\|2\s*\|2000\s*\|", out.getvalue()[mark:])
                ran["sql"] += 1
        text = session.stdout.getvalue()
        assert "Limit Reached" in text and "|bob" in text
        assert ran["shell"] >= 2 and ran["sql"] >= 3
    finally:
        for pid in background:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in background:
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
