"""The interactive shell (stage: cli, keystrokes → statements → CliSession).

prompt-toolkit prompt ``ksql> `` with: multi-line input that is accepted at an unquoted ``;``
(or a one-line client-side command), persistent history, emacs or vi key bindings, a small
SQL lexer for highlighting, and completion of keywords, functions, stream/table/column/topic
names and property names from the live catalog (refreshed over /ksql with SHOW and DESCRIBE
after each DDL statement).
"""

from __future__ import annotations

import re
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.lexers import Lexer
from prompt_toolkit.styles import Style

from ksqlpy.cli.client import ServerError
from ksqlpy.cli.session import CliSession, ExitShell, local_command

__all__ = ["Shell", "is_complete", "KsqlLexer", "KsqlCompleter", "LiveCatalog"]

try:
    from ksqlpy.grammar.keywords import KEYWORDS
except ImportError:  # pragma: no cover
    KEYWORDS = []

STYLE = Style.from_dict({
    "keyword": "bold ansiblue",
    "string": "ansigreen",
    "number": "ansicyan",
    "comment": "italic ansibrightblack",
    "variable": "ansimagenta",
    "quoted": "ansiyellow",
    "operator": "",
    "prompt": "bold",
})

_TOKEN = re.compile(r"""
    (?P<comment>--.*$)
  | (?P<string>'(?:[^']|'')*'?)
  | (?P<quoted>`[^`]*`?|"[^"]*"?)
  | (?P<variable>\$\{[^}]*\}?)
  | (?P<number>\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<other>.)
""", re.X)

_KEYWORD_SET = {k.upper() for k in KEYWORDS}


def is_complete(text: str) -> bool:
    """Whether the buffer is ready to run: empty, a client-side command, or ending with a
    ``;`` outside quotes and comments."""
    body = text.strip()
    if not body:
        return True
    if "\n" not in body and local_command(body) is not None:
        return True
    quote = None
    last = ""
    i, n = 0, len(text)
    in_block = False
    while i < n:
        c = text[i]
        if in_block:
            if text.startswith("*/", i):
                in_block = False
                i += 2
                continue
        elif quote:
            if c == quote:
                if i + 1 < n and text[i + 1] == quote:
                    i += 2
                    continue
                quote = None
            last = c
        elif c in "'\"`":
            quote = c
            last = c
        elif text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif text.startswith("/*", i):
            in_block = True
            i += 2
            continue
        elif not c.isspace():
            last = c
        i += 1
    return quote is None and not in_block and last == ";"


class KsqlLexer(Lexer):
    """Keywords, strings, numbers, comments, ``${variables}`` and quoted identifiers."""

    def lex_document(self, document: Document):
        lines = document.lines

        def get_line(lineno: int):
            line = lines[lineno]
            out = []
            for m in _TOKEN.finditer(line):
                kind = m.lastgroup
                text = m.group()
                if kind == "word":
                    style = "class:keyword" if text.upper() in _KEYWORD_SET else ""
                elif kind == "other":
                    style = ""
                else:
                    style = f"class:{kind}"
                out.append((style, text))
            return out

        return get_line


class LiveCatalog:
    """Names for completion, fetched from the server with SHOW/DESCRIBE."""

    def __init__(self, session: CliSession):
        self.session = session
        self.sources: list[str] = []
        self.columns: list[str] = []
        self.topics: list[str] = []
        self.functions: list[str] = []
        self.properties: list[str] = []
        self.queries: list[str] = []

    def refresh(self) -> None:
        client = self.session.client
        try:
            ents = client.ksql("SHOW STREAMS; SHOW TABLES; LIST TOPICS; SHOW QUERIES;")
        except ServerError:
            return
        sources, topics, queries = [], [], []
        for e in ents:
            for s in e.get("streams", []) + e.get("tables", []):
                sources.append(s["name"])
            for t in e.get("topics", []):
                topics.append(t["name"])
            for q in e.get("queries", []):
                queries.append(q["id"])
        self.sources, self.topics, self.queries = sources, topics, queries
        columns: list[str] = []
        if sources:
            try:
                descs = client.ksql(" ".join(f"DESCRIBE `{s}`;" for s in sources))
            except ServerError:
                descs = []
            for d in descs:
                for f in (d.get("sourceDescription") or {}).get("fields", []):
                    if f["name"] not in columns:
                        columns.append(f["name"])
        self.columns = columns
        if not self.functions:
            try:
                ents = client.ksql("SHOW FUNCTIONS;")
                self.functions = [f["name"] for e in ents for f in e.get("functions", [])]
            except ServerError:
                pass
        if not self.properties:
            try:
                ents = client.ksql("SHOW PROPERTIES;")
                self.properties = [p["name"] for e in ents for p in e.get("properties", [])]
            except ServerError:
                pass
        self.session.catalog_dirty = False


_WORD = re.compile(r"[A-Za-z0-9_.$`-]+$")


class KsqlCompleter(Completer):
    def __init__(self, catalog: LiveCatalog):
        self.catalog = catalog

    def get_completions(self, document: Document, complete_event):
        before = document.text_before_cursor
        if self.catalog.session.catalog_dirty:
            self.catalog.refresh()
        # inside a quote after SET/UNSET: property names
        m = re.search(r"\b(?:SET|UNSET)\s+'([^']*)$", before, re.I)
        if m:
            prefix = m.group(1)
            for p in self.catalog.properties:
                if p.lower().startswith(prefix.lower()):
                    yield Completion(p, start_position=-len(prefix), display_meta="property")
            return
        m = re.search(r"[A-Za-z0-9_]*$", before)
        prefix = m.group() if m else ""
        if not prefix:
            return
        up = prefix.upper()
        prev = re.findall(r"[A-Za-z_]+", before[:len(before) - len(prefix)])
        prev = prev[-1].upper() if prev else ""
        lower = prefix.islower()
        sources = (self.catalog.sources, "source", False)
        topics = (self.catalog.topics, "topic", False)
        if prev in _SOURCE_CONTEXT:        # FROM x, INSERT INTO x, DESCRIBE x, ...
            groups = [sources]
        elif prev in ("PRINT", "TOPIC"):
            groups = [topics]
        elif prev in ("EXPLAIN", "TERMINATE", "PAUSE", "RESUME"):
            groups = [(self.catalog.queries, "query", False)]
        else:
            groups = [sources,
                      (self.catalog.columns, "column", False),
                      (self.catalog.functions, "function", True),
                      (KEYWORDS, "keyword", True), topics]
        seen = set()
        for names, meta, follow_case in groups:
            for name in names:
                key = name.upper()
                if key.startswith(up) and key != up and key not in seen:
                    seen.add(key)
                    text = name.lower() if (follow_case and lower) else name
                    yield Completion(text, start_position=-len(prefix), display_meta=meta)


_SOURCE_CONTEXT = {"FROM", "JOIN", "INTO", "DESCRIBE", "EXTENDED", "STREAM", "TABLE"}


def _bindings(session_ref) -> KeyBindings:
    kb = KeyBindings()

    @kb.add("enter")
    def _(event):
        buf = event.current_buffer
        if buf.complete_state:
            buf.apply_completion(buf.complete_state.current_completion) \
                if buf.complete_state.current_completion else None
            buf.complete_state = None
            return
        if is_complete(buf.text):
            buf.validate_and_handle()
        else:
            buf.insert_text("\n")

    @kb.add("escape", "enter")
    def _(event):
        event.current_buffer.insert_text("\n")

    return kb


class Shell:
    def __init__(self, session: CliSession, history_file: str | None = None,
                 vi_mode: bool = False, banner: str = ""):
        self.session = session
        self.banner = banner
        self.catalog = LiveCatalog(session)
        history = InMemoryHistory()
        if history_file:
            try:
                Path(history_file).parent.mkdir(parents=True, exist_ok=True)
                history = FileHistory(history_file)
            except OSError:
                pass
        self.history = history
        session.history_provider = lambda: list(reversed(list(history.load_history_strings())))
        self.prompt = PromptSession(
            message=[("class:prompt", "ksql> ")], multiline=True, history=history,
            lexer=KsqlLexer(), completer=KsqlCompleter(self.catalog),
            complete_while_typing=False, style=STYLE, vi_mode=vi_mode,
            key_bindings=_bindings(self), include_default_pygments_style=False,
            prompt_continuation=lambda width, line_number, wrap_count: "    > ".rjust(width),
            enable_history_search=False)

    def run(self) -> int:
        if self.banner:
            self.session.echo(self.banner)
        status = 0
        while True:
            try:
                text = self.prompt.prompt()
            except KeyboardInterrupt:
                continue   # Ctrl-C at the prompt clears the line
            except EOFError:
                return status
            if not text.strip():
                continue
            try:
                self.session.run_text(text)
            except ExitShell:
                return status
            except KeyboardInterrupt:
                self.session.echo("")
                continue
