"""Statement handling (stage: cli, text → local commands / REST calls → printed output).

One :class:`CliSession` per shell, ``-e``/``-f`` run or migration: it splits text into
statements at unquoted ``;`` (``ksqlpy.parse.script``), handles ksqlDB's client-side commands
itself — ``SET``/``UNSET`` (kept as ``streamsProperties`` sent with every request),
``DEFINE``/``UNDEFINE``/``SHOW VARIABLES`` (``${var}`` substituted before sending), ``RUN
SCRIPT``, ``SPOOL``, ``OUTPUT``, ``SET CLI WRAP`` — sends SELECT/PRINT to ``/query-stream``
and everything else to ``/ksql``. Errors are printed in one readable line (plus a caret under
the position when the server names one); a traceback never reaches the screen.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from pathlib import Path

from ksqlpy.cli.client import RestClient, ServerError
from ksqlpy.cli.render import Grid, render_entity

__all__ = ["CliSession", "ExitShell", "HELP"]

HELP = """\
Statements end with ';' and may span lines. Client-side commands:
  help                        this text
  exit | quit                 leave the shell (Ctrl-D too)
  version                     the client and server versions
  server                      the server this shell talks to
  output [TABULAR|JSON]       show or change the output format
  set cli wrap ON|OFF         wrap long values in tables (ON) or truncate them (OFF)
  spool <file> | spool off    copy everything printed to a file
  run script '<file>'         run the statements of a file
  history                     the statement history
  clear                       clear the screen
  SET 'p'='v'; UNSET 'p';     session properties, sent with every statement
  DEFINE v='x'; UNDEFINE v;   variables, substituted as ${v}; SHOW VARIABLES;
Push queries (EMIT CHANGES) print rows as they arrive: Ctrl-C stops the query."""

_LOCAL = [
    ("exit", re.compile(r"^(exit|quit)$", re.I)),
    ("help", re.compile(r"^help$", re.I)),
    ("version", re.compile(r"^version$", re.I)),
    ("clear", re.compile(r"^clear$", re.I)),
    ("history", re.compile(r"^history$", re.I)),
    ("server", re.compile(r"^server(?:\s+(\S+))?$", re.I)),
    ("output", re.compile(r"^output(?:\s+(\w+))?$", re.I)),
    ("wrap", re.compile(r"^set\s+cli\s+wrap\s+(\w+)$", re.I)),
    ("colwidth", re.compile(r"^set\s+cli\s+column-width\s+(\d+)$", re.I)),
    ("spool", re.compile(r"^spool\s+(?:'([^']*)'|(\S+))$", re.I)),
    ("run_script", re.compile(r"^run\s+script\s+'((?:[^']|'')*)'$", re.I)),
    ("pipelining", re.compile(r"^request-pipelining(?:\s+(\w+))?$", re.I)),
]

_DDL = re.compile(r"^\s*(CREATE|DROP|ALTER|TERMINATE)\b", re.I)
_POSITION = re.compile(r"line (\d+):(\d+)")


class ExitShell(Exception):
    pass


def local_command(text: str) -> tuple[str, re.Match] | None:
    """(command, match) when ``text`` (without its ';') is a client-side command."""
    body = text.strip().rstrip(";").strip()
    for name, rx in _LOCAL:
        m = rx.match(body)
        if m:
            return name, m
    return None


class Progress:
    """A spinner on the terminal for work that takes more than a moment."""

    FRAMES = "|/-\\"

    def __init__(self, label: str, enabled: bool):
        self.label = label
        self.enabled = enabled
        self._stop = threading.Event()
        self._thread = None
        self._shown = False

    def __enter__(self):
        if self.enabled:
            self._thread = threading.Thread(target=self._spin, daemon=True)
            self._thread.start()
        return self

    def _spin(self):
        t0 = time.monotonic()
        if self._stop.wait(1.0):
            return
        i = 0
        while not self._stop.is_set():
            sys.stderr.write(f"\r{self.FRAMES[i % 4]} {self.label} "
                             f"({time.monotonic() - t0:.0f}s)")
            sys.stderr.flush()
            self._shown = True
            i += 1
            self._stop.wait(0.25)

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._shown:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
        return False


class CliSession:
    def __init__(self, client: RestClient, output: str = "TABULAR", wrap: bool = True,
                 stdout=None, stderr=None, interactive: bool = False,
                 query_row_limit: int | None = None, query_timeout: float | None = None):
        self.client = client
        self.output = output.upper()
        self.wrap = wrap
        self.properties: dict[str, str] = {}
        self.variables: dict[str, str] = {}
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.spool = None
        self.interactive = interactive
        self.query_row_limit = query_row_limit
        self.query_timeout = query_timeout
        self.catalog_dirty = True
        self.history_provider = None      # the shell sets this (history command)
        self.server_version = None
        self.column_width = None

    # -- output ---------------------------------------------------------------------------
    def echo(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()
        if self.spool is not None:
            self.spool.write(text + "\n")
            self.spool.flush()

    def error(self, message: str, statement: str | None = None) -> None:
        lines = [ln for ln in message.strip().splitlines() if ln.strip()] or ["Unknown error"]
        out = [lines[0]] + ["  " + ln.strip() for ln in lines[1:]]
        m = _POSITION.search(message)
        if m and statement:
            row, col = int(m.group(1)), int(m.group(2))
            src = statement.splitlines()
            if 1 <= row <= len(src):
                out.append("  " + src[row - 1])
                out.append("  " + " " * max(col - 1, 0) + "^")
        text = "\n".join(out)
        self.stderr.write(text + "\n")
        self.stderr.flush()
        if self.spool is not None:
            self.spool.write(text + "\n")
            self.spool.flush()

    def progress(self, label: str) -> Progress:
        enabled = self.interactive and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        return Progress(label, enabled)

    # -- running text ---------------------------------------------------------------------
    def run_text(self, text: str) -> bool:
        """Run every statement of ``text``; stop at the first error. True when all ran."""
        from ksqlpy.parse.script import split_statements

        cmd = local_command(text)
        if cmd is not None and ";" not in text.strip().rstrip(";"):
            return self.run_statement(text)
        try:
            statements = split_statements(text)
        except Exception as e:  # noqa: BLE001 - never a traceback
            self.error(f"Error: could not split the statements: {e}")
            return False
        for stmt in statements:
            if not self.run_statement(stmt):
                return False
        return True

    def run_statement(self, stmt: str) -> bool:
        if self.spool is not None:
            self.spool.write(f"ksql> {stmt.strip()}\n")
        try:
            cmd = local_command(stmt)
            if cmd is not None:
                return self._local(*cmd)
            return self._statement(stmt)
        except ExitShell:
            raise
        except ServerError as e:
            self.error(e.message, e.statement or stmt)
            return False
        except KeyboardInterrupt:
            self.error("Interrupted")
            return False
        except Exception as e:  # noqa: BLE001 - one readable line, never a traceback
            self.error(f"Error: {type(e).__name__}: {e}")
            return False

    # -- client-side commands -------------------------------------------------------------
    def _local(self, name: str, m: re.Match) -> bool:
        if name == "exit":
            raise ExitShell()
        if name == "help":
            self.echo(HELP)
        elif name == "version":
            from ksqlpy import __version__

            self.echo(f"ksqlpy CLI {__version__}, server {self.server_version or '?'} "
                      f"at {self.client.url}")
        elif name == "clear":
            self.stdout.write("\x1b[2J\x1b[H")
            self.stdout.flush()
        elif name == "history":
            for i, h in enumerate(self.history_provider() if self.history_provider else []):
                self.echo(f"{i + 1:5d}  {h}")
        elif name == "server":
            if m.group(1):
                self.error("Switching servers inside the shell is not supported; restart with "
                           "--server URL")
                return False
            self.echo(f"Server: {self.client.url}")
        elif name == "output":
            if m.group(1):
                fmt = m.group(1).upper()
                if fmt not in ("TABULAR", "JSON"):
                    self.error(f"Invalid output format: '{m.group(1)}' (TABULAR or JSON)")
                    return False
                self.output = fmt
            self.echo(f"Output format: {self.output}")
        elif name == "wrap":
            v = m.group(1).upper()
            if v not in ("ON", "OFF"):
                self.error("Invalid value: SET CLI WRAP ON|OFF")
                return False
            self.wrap = v == "ON"
            self.echo(f"Wrap {'enabled' if self.wrap else 'disabled'}")
        elif name == "colwidth":
            self.column_width = int(m.group(1)) or None
        elif name == "pipelining":
            self.echo("Request pipelining is not supported: statements run one at a time")
        elif name == "spool":
            target = m.group(1) if m.group(1) is not None else m.group(2)
            if target.upper() == "OFF":
                if self.spool is not None:
                    self.spool.close()
                    self.spool = None
                    self.echo("Spool stopped")
                return True
            if self.spool is not None:
                self.spool.close()
            self.spool = open(os.path.expanduser(target), "a", encoding="utf-8")
            self.echo(f"Session will be spooled to {target}")
        elif name == "run_script":
            return self.run_script(m.group(1).replace("''", "'"))
        return True

    def run_script(self, path: str) -> bool:
        p = Path(os.path.expanduser(path))
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            self.error(f"Error: cannot read script '{path}': {e.strerror or e}")
            return False
        return self.run_text(text)

    # -- statements -----------------------------------------------------------------------
    def _substitute(self, stmt: str) -> str:
        if "${" not in stmt or not self.variables:
            return stmt
        from ksqlpy.grammar import substitute_variables

        return substitute_variables(stmt, self.variables)

    @staticmethod
    def _parse(stmt: str):
        try:
            from ksqlpy.grammar import parse_one

            return parse_one(stmt)
        except Exception:  # noqa: BLE001 - the server reports the syntax error
            return None

    def _statement(self, stmt: str) -> bool:
        stmt = self._substitute(stmt.strip())
        if not stmt.endswith(";"):
            stmt += ";"
        node = self._parse(stmt)
        kind = type(node).__name__ if node is not None else None
        first = stmt.lstrip("( \n\t").split(None, 1)[0].upper() if stmt.strip() else ""
        if kind == "SetProperty":
            return self._set(str(node.this), str(node.args.get("value")))
        if kind == "UnsetProperty":
            name = str(node.this)
            if name in self.properties:
                old = self.properties.pop(name)
                self.echo(f"Successfully unset local property '{name}' (value was '{old}').")
            else:
                self.echo(f"Local property '{name}' was not set.")
            return True
        if kind == "DefineVariable":
            self.variables[str(node.this)] = str(node.args.get("value"))
            return True
        if kind == "UndefineVariable":
            name = str(node.this)
            match = next((k for k in self.variables if k.upper() == name.upper()), None)
            if match is None:
                self.echo(f"Cannot undefine variable '{name}' which was never defined")
            else:
                del self.variables[match]
            return True
        if kind == "Show" and str(node.this).upper() == "VARIABLES":
            ent = {"@type": "variables", "statementText": stmt,
                   "variables": [{"name": k, "value": v} for k, v in self.variables.items()],
                   "warnings": []}
            self.echo(render_entity(ent, self.output, self.wrap))
            return True
        if kind == "PrintTopic" or (kind is None and first == "PRINT"):
            return self.run_print(stmt)
        if kind == "Select" or (kind is None and first == "SELECT"):
            return self.run_query(stmt, push=self._is_push(node, stmt))
        with self.progress("running"):
            entities = self.client.ksql(stmt, self.properties)
        for ent in entities:
            text = render_entity(ent, self.output, self.wrap)
            if text:
                self.echo(text)
        if _DDL.match(stmt):
            self.catalog_dirty = True
        return True

    def _set(self, name: str, value: str) -> bool:
        try:
            from urllib.parse import quote

            self.client.request_json("GET", "/is_valid_property/" + quote(name, safe=""),
                                     timeout=10)
        except ServerError as e:
            if e.status and e.status != 404:
                self.error(e.message)
                return False
        old = self.properties.get(name)
        self.properties[name] = value
        if old is None:
            self.echo(f"Successfully changed local property '{name}' to '{value}'.")
        else:
            self.echo(f"Successfully changed local property '{name}' from '{old}' to "
                      f"'{value}'.")
        return True

    @staticmethod
    def _is_push(node, stmt: str) -> bool:
        if node is not None and type(node).__name__ == "PrintTopic":
            return True
        if node is not None and hasattr(node, "args") and "emit" in node.args:
            return node.args.get("emit") is not None
        return bool(re.search(r"\bEMIT\s+(CHANGES|FINAL)\b", stmt, re.I))

    # -- queries --------------------------------------------------------------------------
    def run_print(self, stmt: str) -> bool:
        """PRINT topic: lines as they arrive until LIMIT, Ctrl-C or --query-timeout."""
        deadline = (time.monotonic() + self.query_timeout / 1000
                    if self.query_timeout else None)
        lines = self.client.print_topic(stmt, dict(self.properties))
        try:
            for line in lines:
                self.echo(line)
                if deadline is not None and time.monotonic() >= deadline:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            lines.close()
        return True

    def run_query(self, stmt: str, push: bool) -> bool:
        props = dict(self.properties)
        with self.progress("starting query"):
            stream = self.client.query_stream(stmt, props)
        limit = self.query_row_limit
        count = 0
        reason = None
        try:
            if push:
                grid = Grid(stream.columns, self.wrap, self.column_width and
                            self.column_width * max(len(stream.columns), 1) + 1)
                if self.output == "JSON":
                    self.echo(json.dumps({"queryId": stream.query_id,
                                          "columnNames": stream.columns,
                                          "columnTypes": stream.types}))
                else:
                    self.echo(grid.header())
                deadline = (time.monotonic() + self.query_timeout / 1000
                            if self.query_timeout else None)
                for row in stream.rows():
                    self.echo(json.dumps(row) if self.output == "JSON" else grid.row(row))
                    count += 1
                    if limit is not None and count >= limit:
                        reason = "Limit Reached"
                        break
                    if deadline is not None and time.monotonic() >= deadline:
                        reason = "Query terminated"
                        break
                else:
                    reason = "Limit Reached" if re.search(r"\bLIMIT\s+\d+", stmt, re.I) \
                        else "Query Completed"
                if self.output != "JSON":
                    self.echo(grid.border())
            else:
                with self.progress("running pull query"):
                    rows = list(stream.rows())
                if self.output == "JSON":
                    self.echo(json.dumps([dict(zip(stream.columns, r)) for r in rows],
                                         indent=2))
                else:
                    grid = Grid(stream.columns, self.wrap, rows=rows)
                    self.echo(grid.header())
                    for r in rows:
                        self.echo(grid.row(r))
                    self.echo(grid.border())
                reason = "Query terminated"
        except KeyboardInterrupt:
            reason = "Query terminated"
            if push and self.output != "JSON":
                try:
                    self.echo(grid.border())
                except Exception:  # noqa: BLE001
                    pass
        finally:
            if reason != "Query Completed" and stream.query_id:
                self.client.close_query(stream.query_id)
            stream.close()
        if stream.error is not None:
            self.error(stream.error.message, stmt)
            return False
        if reason:
            self.echo(reason)
        return True
