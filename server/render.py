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
           "DELIMITED", "JSON", "V1_JSON", "V1_PROTOBUF", "ProtobufWriter", "proto_schema"]

DELIMITED = "application/vnd.ksqlapi.delimited.v1"
JSON = "application/json"
V1_JSON = "application/vnd.ksql.v1+json"
V1_PROTOBUF = "application/vnd.ksql.v1+protobuf"

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


# -- application/vnd.ksql.v1+protobuf ---------------------------------------------------------
#
# ksqlDB's JsonStreamedRowResponseWriter with RowFormat.PROTOBUF (/query-stream and /query):
#   [{"header":{"queryId","schema","protoSchema"}},\n{"row":{"protobufBytes":"<base64>"}},\n
#    ...,\n{"finalMessage":"Limit Reached"}]
# ``protoSchema`` is the .proto text Confluent's ProtobufData derives from the columns
# (``ProtobufSchema.canonicalString()``); each row is the columns as that message, serialized
# without schema-registry framing (PROTOBUF_NOSR). proto3 has no null: a null column is left
# unset and reads back as its type's default, as in ksqlDB.

_PROTO_SCALAR = {"INT8": "int32", "INT16": "int32", "INT32": "int32", "INT64": "int64",
                 "FLOAT32": "float", "FLOAT64": "double", "BOOLEAN": "bool",
                 "STRING": "string", "BYTES": "bytes"}


class ProtoSchemaError(ValueError):
    """The columns have no protobuf representation (e.g. an ARRAY of ARRAYs)."""


def _connect_schema(columns):
    from ksqlpy.formats.connect import CSchema, sql_to_connect

    return CSchema("STRUCT", True, fields=[(c.name, sql_to_connect(c.type)) for c in columns])


def proto_schema(columns) -> str:
    """The ``protoSchema`` of a header: ``syntax = "proto3";``, the imports, then
    ``message ConnectDefault1`` with nested messages (``ConnectDefault<n>`` for structs,
    ``ConnectDefault<n>Entry`` for maps, numbered depth-first) after its fields."""
    from ksqlpy.formats.connect import (
        DATE_NAME,
        PRECISION_PARAM,
        TIME_NAME,
        TIMESTAMP_NAME,
        is_decimal,
    )

    imports: set[str] = set()
    counter = [0]

    def next_name() -> str:
        counter[0] += 1
        return f"ConnectDefault{counter[0]}"

    def element(fs, indent: str, nested: list[str], in_container: bool) -> tuple[str, str]:
        """(type name, field options) of a non-repeated value."""
        if fs.type == "STRUCT":
            name = next_name()
            nested.append(message(fs, name, indent))
            return name, ""
        if fs.type in ("ARRAY", "MAP"):
            raise ProtoSchemaError("The protobuf format does not support nested collections "
                                   "(an ARRAY or MAP inside an ARRAY or MAP).")
        if is_decimal(fs):
            imports.update(("confluent/meta.proto", "confluent/type/decimal.proto"))
            prec = fs.params.get(PRECISION_PARAM, "64")
            scale = fs.params.get("scale", "0")
            i1, i2, i3 = indent + "  ", indent + "    ", indent + "      "
            opts = (f' [(confluent.field_meta) = {{\n{i1}params: [\n'
                    f'{i2}{{\n{i3}key: "precision",\n{i3}value: "{prec}"\n{i2}}},\n'
                    f'{i2}{{\n{i3}key: "scale",\n{i3}value: "{scale}"\n{i2}}}\n'
                    f'{i1}]\n{indent}}}]')
            return "confluent.type.Decimal", opts
        if fs.name == TIMESTAMP_NAME:
            imports.add("google/protobuf/timestamp.proto")
            return "google.protobuf.Timestamp", ""
        if fs.name == DATE_NAME:
            imports.add("google/type/date.proto")
            return "google.type.Date", ""
        if fs.name == TIME_NAME:
            imports.add("google/type/timeofday.proto")
            return "google.type.TimeOfDay", ""
        return _PROTO_SCALAR[fs.type], ""

    def message(cs, name: str, indent: str) -> str:
        inner = indent + "  "
        lines: list[str] = []
        nested: list[str] = []
        for num, (fname, fs) in enumerate(cs.fields, start=1):
            if fs.type == "ARRAY":
                t, opts = element(fs.value, inner, nested, True)
                lines.append(f"{inner}repeated {t} {fname} = {num}{opts};\n")
            elif fs.type == "MAP":
                entry = next_name() + "Entry"
                ent_nested: list[str] = []
                kt, kopts = element(fs.key, inner + "  ", ent_nested, True)
                vt, vopts = element(fs.value, inner + "  ", ent_nested, True)
                body = (f"{inner}message {entry} {{\n"
                        f"{inner}  {kt} key = 1{kopts};\n{inner}  {vt} value = 2{vopts};\n")
                if ent_nested:
                    body += "\n" + "".join(ent_nested)
                nested.append(body + f"{inner}}}\n")
                lines.append(f"{inner}repeated {entry} {fname} = {num};\n")
            else:
                t, opts = element(fs, inner, nested, False)
                lines.append(f"{inner}{t} {fname} = {num}{opts};\n")
        out = f"{indent}message {name} {{\n" + "".join(lines)
        if nested:
            out += "\n" + "".join(nested)
        return out + f"{indent}}}\n"

    body = message(_connect_schema(columns), next_name(), "")
    head = 'syntax = "proto3";\n'
    if imports:
        head += "\n" + "".join(f'import "{i}";\n' for i in sorted(imports))
    return head + "\n" + body


def _proto_value(t, v):
    """A row value as the connect value the protobuf encoder takes (TIMESTAMP/TIME as ms,
    DATE as days)."""
    if v is None:
        return None
    b = t.base
    if b == "TIMESTAMP":
        if isinstance(v, dt.datetime):
            if v.tzinfo is not None:
                v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
            return (v - _EPOCH) // dt.timedelta(milliseconds=1)
        return v
    if b == "DATE":
        return (v - dt.date(1970, 1, 1)).days if isinstance(v, dt.date) else v
    if b == "TIME":
        if isinstance(v, dt.time):
            return ((v.hour * 60 + v.minute) * 60 + v.second) * 1000 + v.microsecond // 1000
        return v
    if b == "ARRAY":
        return [_proto_value(t.item, x) for x in v]
    if b == "MAP":
        items = v.items() if isinstance(v, dict) else v
        return [(_proto_value(t.key, k), _proto_value(t.item, x)) for k, x in items]
    if b == "STRUCT":
        ft = dict(t.fields)
        return {k: (_proto_value(ft[k], x) if k in ft else x) for k, x in dict(v).items()}
    return v


def proto_row_encoder(columns):
    """A function list[value] → protobuf bytes of the row as ``ConnectDefault1``."""
    from ksqlpy.formats.connect import DataError, from_ksql
    from ksqlpy.formats.protobuf import ProtoNative, connect_to_proto
    from ksqlpy.types import struct as struct_type

    cs = _connect_schema(columns)
    try:
        native = ProtoNative(connect_to_proto(cs))
    except DataError as e:
        raise ProtoSchemaError(str(e)) from None
    row_type = struct_type([(c.name, c.type) for c in columns])
    types = [c.type for c in columns]
    names = [c.name for c in columns]

    def encode_row(row) -> bytes:
        rec = {n: _proto_value(t, v) for n, t, v in zip(names, types, row)}
        return native.encode(from_ksql(cs, row_type, rec))
    return encode_row


class ProtobufWriter(QueryWriter):
    """``application/vnd.ksql.v1+protobuf``: the StreamedRow array with protobuf rows.
    Separators lead each entry, so a pull query's body ends ``}}]`` as ksqlDB's does."""

    content_type = V1_PROTOBUF

    def __init__(self, query_id: str, columns, pull: bool):
        super().__init__(query_id, columns, pull)
        self.proto_schema = proto_schema(columns)
        self.encode_row = proto_row_encoder(columns)

    def header(self):
        return b"[" + encode({"header": {"queryId": self.query_id,
                                         "schema": schema_string(self.columns, self.pull),
                                         "protoSchema": self.proto_schema}})

    def rows(self, rows):
        import base64

        out = []
        for row in rows:
            try:
                data = base64.b64encode(self.encode_row(row)).decode()
            except (ValueError, TypeError, OverflowError) as e:
                out.append(self.error({"@type": "generic_error", "error_code": 50000,
                                       "message": f"Failed to serialize row as protobuf: {e}"}))
                continue
            out.append(b",\n" + encode({"row": {"protobufBytes": data}}))
        return out

    def error(self, err):
        return b",\n" + encode({"errorMessage": err})

    def end(self, reason):
        if reason:
            return b",\n" + encode({"finalMessage": reason}) + b"]"
        return b"]"


WRITERS = {DELIMITED: DelimitedWriter, JSON: JsonArrayWriter, V1_JSON: StreamedRowWriter,
           V1_PROTOBUF: ProtobufWriter}
