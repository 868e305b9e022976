"""Parse a QTT ``post.sources[].schema`` string into columns.

The text is a table-element list as ksqlDB's ``SchemaParser`` reads it::

    `ID` BIGINT KEY, NAME STRING, `S` STRUCT<`A` INT, B ARRAY<DECIMAL(4, 2)>>, H BYTES HEADER('h')

Unquoted identifiers (column and struct field names) are upper-cased, back-quoted ones kept
as written. A self-contained parser keeps the runner independent of the SQL grammar.
"""

from __future__ import annotations

import re

from ksqlpy.schema import HEADER, HEADERS, KEY, VALUE, Column
from ksqlpy.types import SqlType, array, decimal, map_, struct

__all__ = ["parse_schema", "SchemaTextError"]


class SchemaTextError(ValueError):
    pass


_TOKEN = re.compile(r"""\s*(?:
    (?P<q>`(?:[^`]|``)*`) |
    (?P<s>'(?:[^']|'')*') |
    (?P<n>\d+) |
    (?P<id>[A-Za-z_][A-Za-z0-9_$@]*) |
    (?P<p>[<>(),:])
)""", re.X)

_PRIMS = {
    "BOOLEAN": "BOOLEAN", "BOOL": "BOOLEAN", "INT": "INTEGER", "INTEGER": "INTEGER",
    "BIGINT": "BIGINT", "DOUBLE": "DOUBLE", "STRING": "STRING", "VARCHAR": "STRING",
    "BYTES": "BYTES", "DATE": "DATE", "TIME": "TIME", "TIMESTAMP": "TIMESTAMP",
}


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SchemaTextError(f"cannot parse schema at {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _P:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, k: int = 0) -> tuple[str, str] | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        t = self.peek()
        if t is None:
            raise SchemaTextError("unexpected end of schema")
        self.i += 1
        return t

    def expect(self, p: str) -> None:
        t = self.take()
        if t[1] != p:
            raise SchemaTextError(f"expected {p!r}, got {t[1]!r}")

    def ident(self) -> str:
        kind, v = self.take()
        if kind == "q":
            return v[1:-1].replace("``", "`")
        if kind == "id":
            return v.upper()
        raise SchemaTextError(f"expected an identifier, got {v!r}")

    def type_(self) -> SqlType:
        kind, v = self.take()
        if kind != "id":
            raise SchemaTextError(f"expected a type, got {v!r}")
        name = v.upper()
        if name in _PRIMS:
            return SqlType(_PRIMS[name])
        if name in ("DECIMAL", "NUMERIC"):
            self.expect("(")
            p = int(self.take()[1])
            self.expect(",")
            s = int(self.take()[1])
            self.expect(")")
            return decimal(p, s)
        if name == "ARRAY":
            self.expect("<")
            t = self.type_()
            self.expect(">")
            return array(t)
        if name == "MAP":
            self.expect("<")
            k = self.type_()
            self.expect(",")
            val = self.type_()
            self.expect(">")
            return map_(k, val)
        if name == "STRUCT":
            self.expect("<")
            fields = []
            if self.peek() and self.peek()[1] == ">":
                self.take()
                return struct(fields)
            while True:
                fname = self.ident()
                if self.peek() and self.peek()[1] == ":":
                    self.take()
                fields.append((fname, self.type_()))
                t = self.take()[1]
                if t == ">":
                    return struct(fields)
                if t != ",":
                    raise SchemaTextError(f"expected ',' or '>' in STRUCT, got {t!r}")
        raise SchemaTextError(f"unknown type {v!r}")

    def column(self) -> Column:
        name = self.ident()
        t = self.type_()
        ns, hk = VALUE, None
        nxt = self.peek()
        if nxt and nxt[0] == "id":
            word = nxt[1].upper()
            if word == "KEY":
                self.take()
                ns = KEY
            elif word == "PRIMARY":
                self.take()
                if self.ident() != "KEY":
                    raise SchemaTextError("expected KEY after PRIMARY")
                ns = KEY
            elif word == "HEADERS":
                self.take()
                ns = HEADERS
            elif word == "HEADER":
                self.take()
                self.expect("(")
                kind, v = self.take()
                if kind != "s":
                    raise SchemaTextError("expected a string header key")
                self.expect(")")
                ns, hk = HEADER, v[1:-1].replace("''", "'")
        return Column(name, t, ns, hk)


def parse_schema(text: str) -> list[Column]:
    """The columns of a table-element list, in the order written."""
    p = _P(text)
    cols = []
    if p.peek() is None:
        return cols
    while True:
        cols.append(p.column())
        t = p.peek()
        if t is None:
            return cols
        if t[1] != ",":
            raise SchemaTextError(f"unexpected {t[1]!r} in schema")
        p.take()
