"""The schema-registry formats AVRO, JSON_SR, PROTOBUF and PROTOBUF_NOSR (pipeline edges).

Batch in, batch out like the other formats, but per record in Python: each record's bytes
are unframed (Confluent wire format: magic byte ``0``, 4-byte big-endian schema id, for
PROTOBUF the message indexes), decoded with the *writer* schema found by id in the engine's
registry into connect values, and mapped onto the columns by
:func:`ksqlpy.formats.connect.to_ksql` (case-insensitive fields, ksqlDB's coercions).

Writing derives the connect schema from the columns (or takes the registered schema when the
source was created with ``*_SCHEMA_ID``), translates it to the native schema ksqlDB would
register, registers it under ``<topic>-key`` / ``<topic>-value`` and frames each record with
its id.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.formats.base import Decoded, Encoded, FormatInfo, arrays_from_values, as_binary
from ksqlpy.formats.connect import (CSchema, DataError, columns_schema, from_ksql,
                                    struct_to_ksql, to_ksql)
from ksqlpy.formats.coerce import CoercionError
from ksqlpy.schema import Column
from ksqlpy.types import struct as struct_type

__all__ = ["SrFormat", "AvroFormat", "JsonSrFormat", "ProtobufFormat", "ProtobufNoSrFormat",
           "NativeSchema", "native_schema", "derive_schema", "frame", "unframe",
           "SR_FORMATS", "FULL_SCHEMA_NAME", "SCHEMA_ID", "NULLABLE_REPRESENTATION"]

FULL_SCHEMA_NAME = "fullSchemaName"
SCHEMA_ID = "schemaId"
NULLABLE_REPRESENTATION = "nullableRepresentation"
SR_FORMATS = ("AVRO", "JSON_SR", "PROTOBUF")
SCHEMA_TYPE = {"AVRO": "AVRO", "JSON_SR": "JSON", "PROTOBUF": "PROTOBUF",
               "PROTOBUF_NOSR": "PROTOBUF"}


class NativeSchema:
    """A parsed native schema: ``connect`` (CSchema), ``encode(value) -> bytes``,
    ``decode(bytes) -> value`` over connect values, ``text`` to register."""

    connect: CSchema
    text: str

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError


class _AvroNative(NativeSchema):
    def __init__(self, schema):
        from ksqlpy.formats.avro import AvroSchema

        self.avro = AvroSchema(schema)
        self.connect = self.avro.connect
        raw = self.avro.raw
        self.text = json.dumps(raw, separators=(",", ":"))

    def encode(self, value):
        return self.avro.encode(value)

    def decode(self, data):
        return self.avro.decode(data)


class _JsonNative(NativeSchema):
    def __init__(self, schema):
        from ksqlpy.formats.jsonschema import json_schema_to_connect

        self.raw = json.loads(schema) if isinstance(schema, str) else schema
        self.connect = json_schema_to_connect(self.raw)
        self.text = json.dumps(self.raw, separators=(",", ":"))

    def encode(self, value):
        from ksqlpy.formats.jsonschema import encode_json

        return encode_json(value, self.connect)

    def decode(self, data):
        from ksqlpy.formats.jsonschema import decode_json

        return decode_json(data, self.connect)


def native_schema(fmt: str, schema: Any, *, full_name: str | None = None,
                  properties: dict | None = None, references=(), registry=None
                  ) -> NativeSchema:
    """Parse a registered/test schema of format ``fmt`` (AVRO, JSON_SR, PROTOBUF*)."""
    fmt = fmt.upper()
    if fmt == "AVRO":
        return _AvroNative(schema)
    if fmt == "JSON_SR":
        return _JsonNative(schema)
    if fmt in ("PROTOBUF", "PROTOBUF_NOSR"):
        from ksqlpy.formats.protobuf import ProtoNative

        return ProtoNative(schema, full_name=full_name, properties=properties or {},
                           references=references, registry=registry)
    raise ValueError(f"not a schema format: {fmt}")


def derive_schema(fmt: str, cs: CSchema, properties: dict, is_key: bool) -> NativeSchema:
    """The native schema ksqlDB generates (and registers) for connect schema ``cs``."""
    fmt = fmt.upper()
    props = properties or {}
    if fmt == "AVRO":
        from ksqlpy.formats.avro import DEFAULT_FULL_NAME, connect_to_avro

        return _AvroNative(connect_to_avro(cs, props.get(FULL_SCHEMA_NAME) or DEFAULT_FULL_NAME))
    if fmt == "JSON_SR":
        from ksqlpy.formats.jsonschema import connect_to_json_schema

        return _JsonNative(connect_to_json_schema(cs))
    from ksqlpy.formats.protobuf import ProtoNative, connect_to_proto

    text = connect_to_proto(cs, props.get(FULL_SCHEMA_NAME), props)
    return ProtoNative(text, full_name=props.get(FULL_SCHEMA_NAME), properties=props)


def frame(schema_id: int, body: bytes, indexes: bytes = b"") -> bytes:
    return b"\x00" + int(schema_id).to_bytes(4, "big") + indexes + body


def unframe(data: bytes) -> tuple[int, bytes]:
    if len(data) < 5 or data[0] != 0:
        raise DataError("Unknown magic byte!")
    return int.from_bytes(data[1:5], "big"), data[5:]


def _wire_values(arr: pa.Array, t) -> list:
    from ksqlpy.formats.json import wire_cast

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    wt = wire_cast(t)
    return (arr.cast(wt) if arr.type != wt else arr).to_pylist()


class SrFormat:
    """Shared decode/encode over a per-record native codec."""

    name = "AVRO"
    framed = True
    supports_unwrap = True

    def __init__(self, info: FormatInfo | None = None, is_key: bool = False):
        self.info = info or FormatInfo(self.name)
        self.is_key = is_key
        self.props = dict(self.info.properties or {})
        self.registry = self.info.registry
        self.topic = self.info.topic
        self.wrap_single = self.info.wrap_single
        self._by_id: dict[int, NativeSchema] = {}
        self._writer: tuple[int, NativeSchema, bytes] | None = None
        self._writer_cols = None

    # -- shapes ------------------------------------------------------------------------
    def unwrapped(self, columns: Sequence[Column]) -> bool:
        if len(columns) != 1 or not self.supports_unwrap:
            return False
        return self.is_key or self.wrap_single is False

    @property
    def subject(self) -> str:
        return f"{self.topic}-{'key' if self.is_key else 'value'}"

    # -- reading -----------------------------------------------------------------------
    def reader_schema(self, schema_id: int) -> NativeSchema:
        got = self._by_id.get(schema_id)
        if got is None:
            if self.registry is None:
                raise DataError("No schema registry available for format " + self.name)
            try:
                reg = self.registry.by_id(schema_id)
            except Exception:
                raise DataError(f"Schema {schema_id} not found") from None
            got = native_schema(self.name, reg.schema, full_name=None,
                                references=reg.references, registry=self.registry)
            self._by_id[schema_id] = got
        return got

    def decode_record(self, data: bytes) -> tuple[Any, CSchema]:
        schema_id, body = unframe(data)
        native = self.reader_schema(schema_id)
        return native.decode(body), native.connect

    def decode(self, data, columns: Sequence[Column]) -> Decoded:
        data = as_binary(data)
        columns = list(columns)
        n = len(data)
        if not columns:
            nulls = data.is_null()
            return Decoded([], {}, nulls if data.null_count else None)
        unwrapped = self.unwrapped(columns)
        fields = [(c.name, c.type) for c in columns]
        values = [[None] * n for _ in columns]
        nulls = [False] * n
        errors: dict[int, str] = {}
        for i, raw in enumerate(data.to_pylist()):
            if raw is None:
                nulls[i] = True
                continue
            try:
                v, cs = self.decode_record(raw)
                if v is None:
                    nulls[i] = True
                    continue
                if unwrapped:
                    values[0][i] = to_ksql(columns[0].type, cs, v, "")
                else:
                    if cs.type != "STRUCT":
                        raise DataError(f"Cannot deserialize type {cs.type_name} as type "
                                        f"struct for path: ")
                    rec = struct_to_ksql(fields, cs, v, "")
                    for j, c in enumerate(columns):
                        values[j][i] = rec[c.name]
            except (DataError, CoercionError, ValueError, TypeError, IndexError,
                    KeyError, AttributeError) as e:
                errors[i] = str(e) or type(e).__name__
        arrays = arrays_from_values(columns, values, errors, n)
        nmask = pa.array(nulls, pa.bool_())
        return Decoded(arrays, errors, nmask if any(nulls) else None)

    # -- writing -----------------------------------------------------------------------
    def writer_schema(self, columns: Sequence[Column]) -> tuple[int, NativeSchema, bytes]:
        key = tuple((c.name, c.type) for c in columns)
        if self._writer is not None and self._writer_cols == key:
            return self._writer
        sid = self.props.get(SCHEMA_ID)
        if sid not in (None, "") and self.registry is not None:
            sid = int(sid)
            native = self.reader_schema(sid)
        else:
            cs = columns_schema(columns, self.unwrapped(columns))
            native = derive_schema(self.name, cs, self.props, self.is_key)
            sid = 0
            if self.framed and self.registry is not None and self.topic is not None:
                sid = self.registry.register(self.subject, native.text,
                                             SCHEMA_TYPE[self.name])
                self._by_id.setdefault(sid, native)
        self._writer = (sid, native, self._indexes(native))
        self._writer_cols = key
        return self._writer

    def _indexes(self, native: NativeSchema) -> bytes:
        return b""

    def encode_record(self, value: Any, columns: Sequence[Column]) -> bytes:
        sid, native, idx = self.writer_schema(columns)
        body = native.encode(value)
        return frame(sid, body, idx) if self.framed else body

    def encode(self, arrays: Sequence[pa.Array], columns: Sequence[Column], *,
               num_rows: int | None = None) -> Encoded:
        columns = list(columns)
        if not columns:
            n = num_rows if num_rows is not None else (len(arrays[0]) if arrays else 0)
            return Encoded(pa.nulls(n, pa.binary()), {})
        sid, native, _ = self.writer_schema(columns)
        cs = native.connect
        unwrapped = self.unwrapped(columns)
        cols = [_wire_values(a, c.type) for a, c in zip(arrays, columns)]
        n = len(cols[0])
        out: list = [None] * n
        errors: dict[int, str] = {}
        row_type = None if unwrapped else struct_type([(c.name, c.type) for c in columns])
        for i in range(n):
            try:
                if unwrapped:
                    v = cols[0][i]
                    if v is None:
                        continue
                    cv = from_ksql(cs, columns[0].type, v)
                else:
                    rec = {c.name: cols[j][i] for j, c in enumerate(columns)}
                    if self.is_key and all(x is None for x in rec.values()):
                        continue
                    cv = from_ksql(cs, row_type, rec)
                out[i] = self.encode_record(cv, columns)
            except (DataError, ValueError, TypeError, OverflowError, KeyError) as e:
                errors[i] = str(e) or type(e).__name__
        return Encoded(pa.array(out, pa.binary()), errors)


class AvroFormat(SrFormat):
    name = "AVRO"


class JsonSrFormat(SrFormat):
    """ksqlDB reads JSON_SR with its JSON deserializer (the writer schema is not used) after
    the 5-byte header, and writes the same JSON text as the JSON format behind the header."""

    name = "JSON_SR"

    def _json(self):
        from ksqlpy.formats.json import JsonFormat

        return JsonFormat(FormatInfo("JSON", {}, self.wrap_single), self.is_key)

    def decode(self, data, columns):
        data = as_binary(data)
        n = len(data)
        columns = list(columns)
        if not columns:
            return self._json().decode(data, columns)
        ok = pc.fill_null(pc.and_(pc.greater_equal(pc.binary_length(data), 5),
                                  pc.equal(pc.binary_slice(data, 0, 1), pa.scalar(b"\0"))),
                          True)
        body = pc.binary_slice(data, 5, 1 << 30)
        bad = pc.invert(ok)
        body = pc.if_else(bad, pa.scalar(b"{}"), body) if pc.any(bad).as_py() else body
        d = self._json().decode(body, columns)
        if pc.any(bad).as_py():
            for i in pc.indices_nonzero(bad).to_pylist():
                d.errors[i] = "Unknown magic byte!"
            arrays = [pc.if_else(bad, pa.nulls(n, a.type), a) for a in d.arrays]
            d = Decoded(arrays, d.errors, d.null_rows)
        return d

    def encode(self, arrays, columns, *, num_rows=None):
        columns = list(columns)
        if not columns:
            n = num_rows if num_rows is not None else (len(arrays[0]) if arrays else 0)
            return Encoded(pa.nulls(n, pa.binary()), {})
        sid, _, _ = self.writer_schema(columns)
        enc = self._json().encode(arrays, columns)
        header = pa.scalar(frame(sid, b""), pa.binary())
        data = pc.binary_join_element_wise(header, enc.data, pa.scalar(b""))
        if self.is_key and len(columns) > 1:
            allnull = None
            for a in arrays:
                m = a.is_null()
                allnull = m if allnull is None else pc.and_(allnull, m)
            data = pc.if_else(allnull, pa.nulls(len(data), pa.binary()), data)
        return Encoded(data, enc.errors)


class ProtobufFormat(SrFormat):
    name = "PROTOBUF"
    supports_unwrap = False

    def decode_record(self, data: bytes):
        from ksqlpy.formats.protobuf import read_indexes

        schema_id, body = unframe(data)
        indexes, body = read_indexes(body)
        native = self.reader_schema(schema_id)
        return native.decode_indexed(body, indexes)

    def _indexes(self, native) -> bytes:
        from ksqlpy.formats.protobuf import write_indexes

        return write_indexes(native.indexes)


class ProtobufNoSrFormat(SrFormat):
    name = "PROTOBUF_NOSR"
    framed = False
    supports_unwrap = False

    def decode_record(self, data: bytes):
        # the schema comes from the DDL: the writer is the derived schema
        native = self._nosr_native
        v = native.decode(data)
        return v, native.connect

    def decode(self, data, columns):
        columns = list(columns)
        if columns:
            self._nosr_native = self.writer_schema(columns)[1]
        return super().decode(data, columns)
