"""Public parsing functions of the ksql dialect."""

from __future__ import annotations

import re

from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError

from .dialect import ConstraintError, Ksql, KsqlTestParser

_DIALECT = Ksql()


class KsqlParseError(Exception):
    """A statement could not be parsed.

    Attributes:
        message: the full ksqlDB-style message, e.g. ``line 1:8: Syntax error at or near 'FOO'``
        line: 1-based line of the offending token
        column: 1-based column of the offending token
        detail: the message without the position prefix
    """

    def __init__(self, message: str, line: int = 0, column: int = 0, detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.detail = detail if detail is not None else message

    def __str__(self) -> str:
        return self.message


def _line_col(sql: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(sql)))
    line = sql.count("\n", 0, offset) + 1
    col = offset - (sql.rfind("\n", 0, offset) + 1) + 1
    return line, col


def _convert(sql: str, err: Exception) -> KsqlParseError:
    if isinstance(err, ConstraintError):
        line, col = _line_col(sql, err.ksql_token.start)
        return KsqlParseError(f"Line: {line}, Col: {col}: {err.ksql_message}", line, col,
                              err.ksql_message)
    token = getattr(err, "ksql_token", None)
    if token:
        offset = token.start
        near = sql[token.start: token.end + 1] or token.text
    else:
        # end of input (or unknown position): point just after the last non-space character
        stripped = sql.rstrip()
        while stripped.endswith(";"):
            stripped = stripped[:-1].rstrip()
        offset = len(stripped)
        near = "<EOF>"
    line, col = _line_col(sql, offset)
    return _syntax_error(line, col, near)


def _syntax_error(line: int, col: int, near: str) -> KsqlParseError:
    # Both spellings ksqlDB uses ("Syntax Error" and "Syntax error at or near 'X' at line L:C")
    # appear in the message, so that substring checks written against ksqlDB match.
    detail = f"Syntax error at or near '{near}' at line {line}:{col}"
    return KsqlParseError(f"line {line}:{col}: Syntax Error\n{detail}", line, col, detail)


def _token_error(sql: str, err: TokenError) -> KsqlParseError:
    # Locate the unterminated string / quoted identifier / comment that broke the tokenizer.
    i, n, start = 0, len(sql), None
    while i < n:
        c = sql[i]
        if c in "'`\"":
            j = i + 1
            while True:
                j = sql.find(c, j)
                if j < 0:
                    break
                if j + 1 < n and sql[j + 1] == c:
                    j += 2
                    continue
                break
            if j < 0:
                start = i
                break
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            if j < 0:
                start = i
                break
            i = j + 2
        else:
            i += 1
    offset = start if start is not None else 0
    line, col = _line_col(sql, offset)
    near = sql[offset: offset + 20].split("\n")[0]
    detail = f"token recognition error at: '{near}' at line {line}:{col}"
    return KsqlParseError(f"line {line}:{col}: Syntax Error\n{detail}", line, col, detail)


def _check_leftover_variables(sql: str) -> None:
    # a ${name} that was not substituted is a syntax error

    for m in re.finditer(r"\$\{", sql):
        # only complain outside string literals / quoted identifiers
        before = sql[: m.start()]
        if before.count("'") % 2 == 0 and before.count("`") % 2 == 0:
            line, col = _line_col(sql, m.start())
            raise _syntax_error(line, col, "$")


def parse(sql: str, test_statements: bool = False) -> list[exp.Expression]:
    """Parse a script (statements separated by ``;``) into a list of ASTs.

    ``test_statements=True`` also accepts the test-only ASSERT VALUES / ASSERT NULL VALUES /
    ASSERT STREAM|TABLE statements of ksqlDB's .sql test format.
    """
    if "${" in sql:
        _check_leftover_variables(sql)
    try:
        tokens = _DIALECT.tokenize(sql)
    except TokenError as e:
        raise _token_error(sql, e) from None
    if test_statements:
        parser = KsqlTestParser(error_level=ErrorLevel.IMMEDIATE, dialect=_DIALECT)
    else:
        parser = _DIALECT.parser(error_level=ErrorLevel.IMMEDIATE)
    try:
        result = parser.parse(tokens, sql)
    except ParseError as e:
        raise _convert(sql, e) from None
    return [r for r in result if r is not None and not isinstance(r, exp.Semicolon)]


def parse_one(sql: str, test_statements: bool = False) -> exp.Expression:
    """Parse exactly one statement."""
    statements = parse(sql, test_statements=test_statements)
    if len(statements) != 1:
        if not statements:
            raise _syntax_error(1, 1, "<EOF>")
        detail = f"Expected exactly one statement, found {len(statements)}"
        raise KsqlParseError(f"line 1:1: {detail}", 1, 1, detail)
    return statements[0]


def parse_data_type(text: str) -> exp.DataType:
    """Parse a ksql type (e.g. ``ARRAY<STRUCT<A INT>>``) into an exp.DataType."""
    try:
        tokens = _DIALECT.tokenize(text)
    except TokenError as e:
        raise _token_error(text, e) from None
    parser = _DIALECT.parser(error_level=ErrorLevel.IMMEDIATE)
    try:
        return parser.parse_type_only(tokens, text)
    except ParseError as e:
        raise _convert(text, e) from None


def to_sql(ast: exp.Expression, pretty: bool = False) -> str:
    """Print an AST (statement or expression) back as ksql SQL (without the final ';')."""
    return _DIALECT.generate(ast, pretty=pretty)


_VAR_RE = re.compile(r"\$\{([^}\s]*)\}")


def substitute_variables(sql: str, variables: dict) -> str:
    """Replace ``${name}`` by the variable's value; unknown names are left as they are.

    Lookup is exact first, then case-insensitive (ksqlDB variable names are case-insensitive).
    """
    if not variables or "${" not in sql:
        return sql
    upper = {str(k).upper(): v for k, v in variables.items()}

    def repl(m: re.Match) -> str:
        name = m.group(1)
        if name in variables:
            return str(variables[name])
        if name.upper() in upper:
            return str(upper[name.upper()])
        return m.group(0)

    return _VAR_RE.sub(repl, sql)
