"""The real shell in a pseudo-terminal (pexpect): multi-line input, Tab completion, a push
query stopped with Ctrl-C, a pull query, an error, Ctrl-D — checked on the screen."""

from __future__ import annotations

import re
import sys
import time

import pytest

from tests.cli.conftest import ROOT, cli_env

pexpect = pytest.importorskip("pexpect")

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\r")


class Screen:
    """What the terminal shows, escape sequences removed; ``expect`` waits for a pattern
    after the previous match."""

    def __init__(self, child):
        self.child = child
        self.raw = ""
        self.pos = 0

    def text(self) -> str:
        return ANSI.sub("", self.raw)

    def pump(self, seconds: float = 0.2) -> None:
        try:
            self.raw += self.child.read_nonblocking(65536, timeout=seconds)
        except pexpect.TIMEOUT:
            pass

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match:
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while True:
            m = rx.search(self.text(), self.pos)
            if m:
                self.pos = m.end()
                return m
            if time.time() > deadline:
                raise AssertionError(f"{pattern!r} not on the screen; it shows:\n"
                                     f"{self.text()[-3000:]}")
            self.pump()

    def settle(self, seconds: float = 0.4) -> None:
        """Let the prompt come back (keys sent while a statement runs could be lost)."""
        end = time.time() + seconds
        while time.time() < end:
            self.pump(0.1)
        self.pos = len(self.text())


def spawn(tmp_path, *args):
    env = cli_env(tmp_path, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")
    child = pexpect.spawn(sys.executable, ["-m", "ksqlpy", *args], env=env, cwd=str(ROOT),
                          encoding="utf-8", dimensions=(40, 120), timeout=30)
    return child, Screen(child)


def test_shell_session_in_a_terminal(tmp_path):
    child, screen = spawn(tmp_path, "--data-dir", str(tmp_path / "data"))
    try:
        screen.expect(r"ksqlpy CLI .* embedded engine")
        screen.expect("ksql>")
        screen.settle()
        # a statement over two lines: Enter without ';' continues it
        child.send("CREATE STREAM pageviews (user_id STRING KEY, page STRING)\r")
        screen.expect(r"\n\s*>")
        child.send("  WITH (kafka_topic='pageviews', value_format='JSON', partitions=1);\r")
        screen.expect("Stream created")
        screen.settle()
        # Tab completes the stream name from the live catalog
        child.send("INSERT INTO pag\t")
        screen.expect("PAGEVIEWS")
        child.send(" (user_id, page) VALUES ('alice', 'home');\r")
        screen.settle(1.0)
        child.send("SET 'auto.offset.reset'='earliest';\r")
        screen.expect("Successfully changed local property 'auto.offset.reset'")
        screen.settle()
        # a push query prints rows as they arrive; Ctrl-C stops it, the shell stays
        child.send("SELECT * FROM pageviews EMIT CHANGES;\r")
        screen.expect(r"\|USER_ID\s*\|PAGE\s*\|")
        screen.expect(r"\|alice\s*\|home\s*\|")
        time.sleep(0.3)
        child.sendintr()
        screen.expect("Query terminated")
        screen.settle()
        # a pull query over the stream prints its rows and ends
        child.send("SELECT page FROM pageviews WHERE user_id = 'alice';\r")
        screen.expect(r"\|PAGE\s*\|")
        screen.expect(r"\|home\s*\|")
        screen.expect("Query terminated")
        screen.settle()
        # errors: one readable line with the position, no traceback
        child.send("SELEC oops;\r")
        screen.expect(r"line 1:1: Syntax Error")
        screen.settle()
        child.send("DESCRIBE pageviews;\r")
        screen.expect(r"Name\s+: PAGEVIEWS")
        screen.expect(r"USER_ID\s*\|\s*VARCHAR\(STRING\)\s+\(key\)")
        screen.settle()
        child.sendeof()
        child.expect(pexpect.EOF, timeout=30)
        child.close()
        assert child.exitstatus == 0
        assert "Traceback" not in screen.text()
        # the completed text is what was run (and is kept in the history file)
        history = (tmp_path / ".ksqlpy-history").read_text()
        assert "INSERT INTO PAGEVIEWS (user_id, page) VALUES ('alice', 'home');" in history
        assert "CREATE STREAM pageviews (user_id STRING KEY, page STRING)\n+  WITH" in history
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_shell_against_a_server(server, tmp_path):
    server.ksql("CREATE STREAM SHELLREMOTE (K STRING KEY, V INT) WITH "
                "(kafka_topic='shellremote', value_format='JSON', partitions=1);")
    child, screen = spawn(tmp_path, "--server", server.url)
    try:
        screen.expect(r"ksqlpy CLI .* server at http://127\.0\.0\.1")
        screen.expect("ksql>")
        screen.settle()
        child.send("describe shellr\t")
        screen.expect("SHELLREMOTE")
        child.send(";\r")
        screen.expect(r"Name\s+: SHELLREMOTE")
        screen.settle()
        child.send("output json\r")
        screen.expect("Output format: JSON")
        screen.settle()
        child.send("show streams;\r")
        screen.expect(r'"@type": "streams"')
        screen.settle()
        child.send("exit\r")
        child.expect(pexpect.EOF, timeout=30)
        child.close()
        assert child.exitstatus == 0
    finally:
        if child.isalive():
            child.terminate(force=True)
