"""Scripts (stage: text → statements): split SQL text into statements at unquoted ``;``,
substitute ``${variables}`` per statement (a DEFINE affects the statements after it) and parse
each with the ksql grammar, keeping its original text for ``statementText``."""

from __future__ import annotations

from typing import Iterator

from ksqlpy.errors import ParseError


def split_statements(sql: str) -> list[str]:
    """Statement texts, each ending with its ';' (a missing final ';' is tolerated)."""
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
                out.append(text)
            start = i + 1
        i += 1
    tail = sql[start:].strip()
    if _has_code(tail):
        out.append(tail)
    return out


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

    for text in split_statements(sql):
        text = substitute_variables(text, variables) if variables or "${" in text else text
        try:
            node = parse_one(text)
        except KsqlParseError as e:
            raise ParseError(e.message, line=e.line, column=e.column) from None
        yield text, node
