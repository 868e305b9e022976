"""Rows on the wire (stage: server, rows → bytes).

``row_renderer(columns)`` turns the engine's Python row values into what ksqlDB writes in JSON:
DECIMAL as a number with its scale, BYTES as base64, MAP as an object, STRUCT as an object
with its field names as declared, TIMESTAMP as ``yyyy-MM-ddTHH:mm:ss.SSS`` (UTC), DATE as
``yyyy-MM-dd``, TIME as ``HH:mm:ss[.SSS]``.

The query writers are one interface (``header``, ``row``, ``error``, ``end``) with a variant
per negotiated content type (KSQLDB.md §5: /query-stream writers, /query's old format).
"""

from __future__ import annotations

import datetime as dt
import math

import msgspec

__all__ = ["row_renderer", "schema_string", "WRITERS", "OldQueryWriter", "encode",
           "DELIMITED", "JSON", "V1_JSON"]

DELIMITED = "application/vnd.ksqlapi.delimited.v1"
JSON = "application/json"
V1_JSON = "application/vnd.ksql.v1+json"

_encoder = msgspec.json.Encoder(decimal_format="number")
_EPOCH = dt.datetime(1970, 1, 1)


def encode(obj) -> bytes:
    return _encoder.encode(obj)


def _ts(v):
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    elif isinstance(v, int):
        v = _EPOCH + dt.timedelta(milliseconds=v)
    else:
        return v
    return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}"


def _date(v):
    if isinstance(v, int):
        v = dt.date(1970, 1, 1) + dt.timedelta(days=v)
    return v.isoformat() if isinstance(v, dt.date) else v


def _time(v):
    if isinstance(v, int):
        v = (dt.datetime.min + dt.timedelta(milliseconds=v)).time()
    if isinstance(v, dt.time):
        s = v.strftime("%H:%M:%S")
        return s + f".{v.microsecond // 1000:03d}" if v.microsecond else s
    return v


def _double(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


def _converter(t):
    """A function for one value of SQL type ``t``, or None when msgspec's encoding is right."""
    b = t.base
    if b == "TIMESTAMP":
        return _ts
    if b == "DATE":
        return _date
    if b == "TIME":
        return _time
    if b == "DOUBLE":
        return _double
    if b == "ARRAY":
        inner = _converter(t.item)
        if inner is None:
            return None
        return lambda v: None if v is None else [None if x is None else inner(x) for x in v]
    if b == "MAP":
        key = _converter(t.key) or (lambda k: k)
        inner = _converter(t.item) or (lambda x: x)

        def conv_map(v):
            if v is None:
                return None
            items = v.items() if isinstance(v, dict) else v
            return {str(key(k)) if k is not None else "null":
                    None if x is None else inner(x) for k, x in items}
        return conv_map
    if b == "STRUCT":
        convs = [(n, _converter(ft)) for n, ft in t.fields]
        if all(c is None for _, c in convs):
            return None

        def conv_struct(v):
            if v is None:
                return None
            out = dict(v)
            for n, c in convs:
                if c is not None and out.get(n) is not None:
                    out[n] = c(out[n])
            return out
        return conv_struct
    return None


def row_renderer(columns):
    """A function list[value] → list[JSON-ready value] for these columns."""
    convs = [(i, c) for i, c in enumerate(_converter(col.type) for col in columns)
             if c is not None]
    if not convs:
        return lambda row: row

    def render(row):
        row = list(row)
        for i, c in convs:
            if row[i] is not None:
                row[i] = c(row[i])
        return row
    return render


def schema_string(columns, mark_keys: bool) -> str:
    """``"`ID` STRING KEY, `V` BIGINT"`` — the old format's header schema."""
    parts = []
    for c in columns:
        s = f"`{c.name}` {c.type}"
        if mark_keys and getattr(c, "namespace", None) == "KEY":
            s += " KEY"
        parts.append(s)
    return ", ".join(parts)


class QueryWriter:
    """One way to frame a query's response body."""

    content_type = DELIMITED

    def __init__(self, query_id: str, columns, pull: bool):
        self.query_id = query_id
        self.columns = columns
        self.pull = pull
        self.render = row_renderer(columns)

    def header(self) -> bytes:
        raise NotImplementedError

    def rows(self, rows) -> list[bytes]:
        """One chunk per row: each goes out as its own HTTP chunk / HTTP/2 DATA frame, as
        ksqlDB writes them (some clients parse one row per chunk)."""
        raise NotImplementedError

    def error(self, err: dict) -> bytes:
        raise NotImplementedError

    def end(self, reason: str | None) -> bytes:
        return b""


class DelimitedWriter(QueryWriter):
    """``{"queryId",...}\\n`` then one JSON array per line; no final message."""

    content_type = DELIMITED

    def header(self):
        return encode({"queryId": self.query_id,
                       "columnNames": [c.name for c in self.columns],
                       "columnTypes": [str(c.type) for c in self.columns]}) + b"\n"

    def rows(self, rows):
        r = self.render
        return [encode(r(row)) + b"\n" for row in rows]

    def error(self, err):
        return encode(err) + b"\n"


class JsonArrayWriter(QueryWriter):
    """``[{metadata},[row],[row]]`` — one JSON array, no newlines."""

    content_type = JSON

    def header(self):
        return b"[" + encode({"queryId": self.query_id,
                              "columnNames": [c.name for c in self.columns],
                              "columnTypes": [str(c.type) for c in self.columns]})

    def rows(self, rows):
        r = self.render
        return [b"," + encode(r(row)) for row in rows]

    def error(self, err):
        return b"," + encode(err)

    def end(self, reason):
        return b"]"


class StreamedRowWriter(QueryWriter):
    """The v1+json StreamedRow form the Java client reads from /query-stream."""

    content_type = V1_JSON

    def header(self):
        return b"[" + encode({"header": {"queryId": self.query_id,
                                         "schema": schema_string(self.columns,
                                                                 self.pull)}}) + b",\n"

    def rows(self, rows):
        r = self.render
        return [encode({"row": {"columns": r(row)}}) + b",\n" for row in rows]

    def error(self, err):
        return encode({"errorMessage": err}) + b",\n"

    def end(self, reason):
        if reason:
            return encode({"finalMessage": reason}) + b"]"
        return b"]"


class OldQueryWriter(StreamedRowWriter):
    """POST /query. Push (QueryStreamWriter): like the StreamedRow form, with ``\n``
    keepalives while idle and ``]\n`` after the final message. Pull (PullQueryStreamWriter):
    rows are prefixed with ``,\n`` so the body is one JSON array, and no final message."""

    content_type = JSON

    def header(self):
        head = super().header()
        return head[:-2] if self.pull else head

    def rows(self, rows):
        if not self.pull:
            return super().rows(rows)
        r = self.render
        return [b",\n" + encode({"row": {"columns": r(row)}}) for row in rows]

    def error(self, err):
        if self.pull:
            return b",\n" + encode({"errorMessage": err})
        return super().error(err)

    def end(self, reason):
        if self.pull:
            return b"]"
        if reason:
            return encode({"finalMessage": reason}) + b"]\n"
        return b"]\n"


WRITERS = {DELIMITED: DelimitedWriter, JSON: JsonArrayWriter, V1_JSON: StreamedRowWriter}
