"""Serialization formats (pipeline edges): serialized record bytes ↔ Arrow columns.

A :class:`FormatInfo` says what a source's WITH clause chose for one side (key or value);
:func:`get_format` gives the :class:`Format` that decodes a ``pa.BinaryArray`` of records into
one Arrow array per column (:class:`Decoded`) and encodes columns back (:class:`Encoded`).
Whole batches at a time; a record that fails never raises, it lands in ``errors``.

>>> import pyarrow as pa
>>> from ksqlpy.schema import Column
>>> from ksqlpy.types import INTEGER, STRING
>>> cols = [Column("ID", INTEGER), Column("NAME", STRING)]
>>> fmt = get_format(FormatInfo("JSON", {}), is_key=False)
>>> d = fmt.decode(pa.array([b'{"id": 1, "name": "a"}', b'{"ID": "x"}'], pa.binary()), cols)
>>> [a.to_pylist() for a in d.arrays], d.errors
([[1, None], ['a', None]], {1: "Can't coerce string to type. targetType: INTEGER, path: $.ID"})
>>> fmt.encode(d.arrays, cols).data.to_pylist()
[b'{"ID":1,"NAME":"a"}', b'{"ID":null,"NAME":null}']
"""

from __future__ import annotations

from typing import Sequence

from ksqlpy.errors import AnalysisError, KsqlError
from ksqlpy.formats.base import Decoded, Encoded, Format, FormatInfo
from ksqlpy.formats.coerce import CoercionError
from ksqlpy.formats.convert import to_arrow_array
from ksqlpy.formats.delimited import DelimitedFormat, parse_delimiter
from ksqlpy.formats.javafmt import java_double_str
from ksqlpy.formats.json import JsonFormat
from ksqlpy.formats.kafka import KafkaFormat
from ksqlpy.formats.none import NoneFormat
from ksqlpy.formats.srformat import (AvroFormat, JsonSrFormat, ProtobufFormat,
                                     ProtobufNoSrFormat)
from ksqlpy.formats.srtest import json_to_sr, sr_to_json
from ksqlpy.formats.windowed import decode_windowed_key, encode_windowed_key
from ksqlpy.schema import Column
from ksqlpy.types import SqlType

__all__ = [
    "FormatInfo", "Format", "Decoded", "Encoded", "get_format", "validate", "supported_formats",
    "to_arrow_array", "java_double_str", "encode_windowed_key", "decode_windowed_key",
    "JsonFormat", "DelimitedFormat", "KafkaFormat", "NoneFormat", "CoercionError",
    "AvroFormat", "JsonSrFormat", "ProtobufFormat", "ProtobufNoSrFormat", "json_to_sr",
    "sr_to_json",
]

_FORMATS = {"JSON": JsonFormat, "DELIMITED": DelimitedFormat, "KAFKA": KafkaFormat,
            "NONE": NoneFormat, "AVRO": AvroFormat, "JSON_SR": JsonSrFormat,
            "PROTOBUF": ProtobufFormat, "PROTOBUF_NOSR": ProtobufNoSrFormat}
#: Formats ksqlDB knows that ksqlpy does not implement yet.
_KNOWN_LATER: tuple = ()
#: Format properties each format accepts (ksqlDB's ``getSupportedProperties``).
_SUPPORTED_PROPS = {"DELIMITED": {"delimiter"}, "AVRO": {"fullSchemaName", "schemaId"},
                    "JSON_SR": {"fullSchemaName", "schemaId"},
                    "PROTOBUF": {"fullSchemaName", "schemaId", "unwrapPrimitives",
                                 "nullableRepresentation"},
                    "PROTOBUF_NOSR": {"nullableRepresentation"}}
_KAFKA_TYPES = ("INTEGER", "BIGINT", "DOUBLE", "STRING", "BYTES")


def supported_formats() -> list[str]:
    return list(_FORMATS)


def get_format(info: FormatInfo, is_key: bool) -> Format:
    """The format object for one side. Raises AnalysisError for unknown format names."""
    name = info.name.upper()
    cls = _FORMATS.get(name)
    if cls is None:
        if name in _KNOWN_LATER:
            raise AnalysisError(f"Format not supported yet: {name}")
        raise AnalysisError(f"Unknown format: {info.name}")
    return cls(info, is_key)


def _contains(t: SqlType, base: str) -> bool:
    if t.base == base:
        return True
    if t.base in ("ARRAY", "MAP"):
        return _contains(t.item, base) or (t.key is not None and _contains(t.key, base))
    if t.base == "STRUCT":
        return any(_contains(ft, base) for _, ft in t.fields)
    return False


def _cols_text(columns: Sequence[Column]) -> str:
    return "[" + ", ".join(c.sql() for c in columns) + "]"


def validate(info: FormatInfo, columns: Sequence[Column], is_key: bool) -> None:
    """Check that ``columns`` can be stored in ``info``'s format, with ksqlDB's messages.

    ``columns`` are the key columns when ``is_key``, else the value columns.
    """
    name = info.name.upper()
    if name not in _FORMATS:
        if name in _KNOWN_LATER:
            raise AnalysisError(f"Format not supported yet: {name}")
        raise AnalysisError(f"Unknown format: {info.name}")
    columns = list(columns)
    props = {k.lower(): v for k, v in (info.properties or {}).items()}

    if name == "NONE":
        if columns:
            raise AnalysisError("The 'NONE' format can only be used when no columns are "
                                f"defined. Got: {_cols_text(columns)}")
        return

    unsupported = sorted(k for k in (info.properties or {})
                         if k not in _SUPPORTED_PROPS.get(name, ()))
    if unsupported:
        raise AnalysisError(f"{name} does not support the following configs: "
                            f"[{', '.join(unsupported)}]")
    full = (info.properties or {}).get("fullSchemaName")
    if full is not None and not str(full).strip():
        raise AnalysisError("fullSchemaName cannot be empty. Format configuration: "
                            "{fullSchemaName=}")
    if name == "DELIMITED" and props.get("delimiter") is not None:
        parse_delimiter(props["delimiter"])

    if is_key:
        for c in columns:
            if _contains(c.type, "MAP"):
                raise AnalysisError(
                    "Map keys, including types that contain maps, are not supported as they may "
                    "lead to unexpected behavior due to inconsistent serialization. Key column "
                    f"name: `{c.name}`. Column type: {c.type}. See "
                    "https://github.com/confluentinc/ksql/issues/6621 for more.")

    if info.wrap_single is not None and not is_key:
        if name in ("KAFKA", "DELIMITED") and info.wrap_single:
            err = AnalysisError(
                f"Format '{name}' does not support 'WRAP_SINGLE_VALUE' set to 'true'.")
            if name == "KAFKA":
                err.java_type = KsqlError.java_type   # ksqlDB raises a plain KsqlException
            raise err
        if len(columns) != 1:
            raise AnalysisError("'WRAP_SINGLE_VALUE' is only valid for single-field value "
                                "schemas")

    if name == "KAFKA":
        if len(columns) > 1:
            raise AnalysisError(
                "The 'KAFKA' format only supports a single field. Got: " + _cols_text(columns))
        for c in columns:
            if c.type.base not in _KAFKA_TYPES:
                raise AnalysisError(f"The 'KAFKA' format does not support type '{c.type.base}'")
    elif name == "DELIMITED":
        for c in columns:
            if c.type.base in ("ARRAY", "MAP", "STRUCT"):
                raise AnalysisError(
                    f"The 'DELIMITED' format does not support type '{c.type.base}', "
                    f"column: `{c.name}`")
    elif name in ("JSON", "JSON_SR"):
        for c in columns:
            if _contains(c.type, "MAP") and _map_non_string_key(c.type):
                raise AnalysisError("JSON only supports MAP types with STRING keys")
    elif name == "AVRO":
        from ksqlpy.formats.avro import avro_name_error

        for c in columns:
            if _map_non_string_key(c.type):
                raise AnalysisError("Avro only supports MAPs with STRING keys")
        if not (len(columns) == 1 and (is_key or info.wrap_single is False)):
            for c in columns:
                err = avro_name_error(c.name.replace(".", "_"))
                if err:
                    raise AnalysisError("Schema is not compatible with Avro: " + err)
        for c in columns:
            err = _avro_field_error(c.type)
            if err:
                raise AnalysisError("Schema is not compatible with Avro: " + err)
    elif name in ("PROTOBUF", "PROTOBUF_NOSR"):
        for c in columns:
            if _map_non_string_key(c.type):
                raise AnalysisError("PROTOBUF format only supports MAP types with STRING keys")
        if info.wrap_single is False and not is_key:
            raise AnalysisError(
                f"Format '{name}' does not support 'WRAP_SINGLE_VALUE' set to 'false'.")


def _avro_field_error(t: SqlType) -> str | None:
    from ksqlpy.formats.avro import avro_name_error

    if t.base == "STRUCT":
        for n, ft in t.fields:
            err = avro_name_error(n.replace(".", "_")) or _avro_field_error(ft)
            if err:
                return err
    elif t.base in ("ARRAY", "MAP"):
        return _avro_field_error(t.item)
    return None


def _map_non_string_key(t: SqlType) -> bool:
    if t.base == "MAP":
        return t.key.base != "STRING" or _map_non_string_key(t.item)
    if t.base == "ARRAY":
        return _map_non_string_key(t.item)
    if t.base == "STRUCT":
        return any(_map_non_string_key(ft) for _, ft in t.fields)
    return False
