"""Scripts (stage: text → statements): split SQL text into statements at unquoted ``;``,
substitute ``${variables}`` per statement (a DEFINE affects the statements after it) and parse
each with the ksql grammar, keeping its original text for ``statementText``."""

from __future__ import annotations

from typing import Iterator

from ksqlpy.errors import ParseError


def split_statements(sql: str, keep_position: bool = False) -> list[str]:
    """Statement texts, each ending with its ';' (a missing final ';' is tolerated).
    With ``keep_position`` each text is prefixed with newlines so that parse errors report
    lines counted across the whole script, as ksqlDB does."""
    out: list[str] = []
    start = 0
    i = 0
    n = len(sql)
    quote = None
    while i < n:
        c = sql[i]
        if quote:
            if c == quote:
                if i + 1 < n and sql[i + 1] == quote:
                    i += 2
                    continue
                quote = None
        elif c in ("'", '"', "`"):
            quote = c
        elif c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c == "/" and sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        elif c == ";":
            text = sql[start:i + 1].strip()
            if _has_code(text):
                out.append(_positioned(sql, start, text) if keep_position else text)
            start = i + 1
        i += 1
    tail = sql[start:].strip()
    if _has_code(tail):
        out.append(_positioned(sql, start, tail) if keep_position else tail)
    return out


def _positioned(sql: str, start: int, text: str) -> str:
    """``text`` preceded by as many newlines as lines precede it in ``sql``."""
    begin = sql.index(text, start)
    return "\n" * sql.count("\n", 0, begin) + text


def _has_code(text: str) -> bool:
    """False for pieces that are only comments/whitespace/';'."""
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
    body = "\n".join(lines).strip().strip(";").strip()
    while body.startswith("/*") and "*/" in body:
        body = body[body.index("*/") + 2:].strip()
    return bool(body)


def split_and_parse(sql: str, variables: dict) -> Iterator[tuple[str, object]]:
    """Yield (statement text, AST) lazily, substituting the *current* ``variables`` dict."""
    from ksqlpy.grammar import KsqlParseError, parse_one, substitute_variables

    for positioned in split_statements(sql, keep_position=True):
        if variables or "${" in positioned:
            positioned = substitute_variables(positioned, variables)
        text = positioned.lstrip("\n")
        try:
            node = parse_one(positioned)
        except KsqlParseError as e:
            raise ParseError(e.message, line=e.line, column=e.column) from None
        yield text, node
