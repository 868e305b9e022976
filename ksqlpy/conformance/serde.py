"""The test side's serializers, independent of the engine's own formats.

ksqlDB's runner does not use the engine's serdes to write inputs and read outputs; it uses
small test serdes (``ksqldb-functional-tests/.../test/serde``, chosen by ``SerdeUtil``):

- JSON: the record's JSON value written by Jackson; read back with exact BigDecimals for
  floats (unless the test sets ``use.exact.numeric.comparison=false``);
- DELIMITED: a String serde (the QTT value is the raw line);
- KAFKA: Kafka's Integer / Long / Double / String serdes by the single column's type;
- NONE: always null;
- windowed keys: ``TimeWindowedSerializer`` (inner + 8-byte start) and
  ``SessionWindowedSerializer`` (inner + 8-byte end + 8-byte start), big-endian.

Keeping them separate from ``ksqlpy.formats`` means an engine serde bug cannot cancel itself
out between writing inputs and reading outputs.
"""

from __future__ import annotations

import base64
import json
import struct
from decimal import Decimal
from typing import Any

from ksqlpy.schema import Column

__all__ = ["UnsupportedFormat", "SerdeFailure", "encode", "decode", "encode_windowed",
           "decode_windowed", "json_dumps", "SUPPORTED_FORMATS"]

SUPPORTED_FORMATS = ("JSON", "DELIMITED", "KAFKA", "NONE", "AVRO", "JSON_SR", "PROTOBUF",
                     "PROTOBUF_NOSR")
_SR_FORMATS = ("AVRO", "JSON_SR", "PROTOBUF", "PROTOBUF_NOSR")


class UnsupportedFormat(Exception):
    """The runner cannot (de)serialize this format yet."""

    def __init__(self, fmt: str):
        super().__init__(f"format {fmt} not supported yet")
        self.format = fmt


class SerdeFailure(Exception):
    """A test record that cannot be serialized, or actual bytes that cannot be read."""


# ---------------------------------------------------------------------------------------------
# JSON text (Jackson-compatible for the values QTT uses)

def json_dumps(v: Any) -> str:
    """Compact JSON like Jackson's ``writeValueAsBytes``: decimals keep their exact text
    (``BigDecimal.toString`` and Python's ``str(Decimal)`` both follow the to-scientific-string
    rules), non-ASCII text is written as UTF-8."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(json_dumps(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(str(k), ensure_ascii=False) + ":" + json_dumps(x)
                              for k, x in v.items()) + "}"
    raise SerdeFailure(f"Test framework does not current handle {v!r}")


def _json_loads(data: bytes, exact: bool) -> Any:
    text = data.decode("utf-8")
    return json.loads(text, parse_float=Decimal if exact else float)


# ---------------------------------------------------------------------------------------------
# KAFKA primitives

_KAFKA_STRUCT = {"INTEGER": ">i", "BIGINT": ">q", "DOUBLE": ">d"}


def _kafka_column(columns: list[Column], is_key: bool) -> Column | None:
    if not columns:
        return None
    if len(columns) != 1:
        raise SerdeFailure("KAFKA format only supports single column schemas.")
    return columns[0]


def _encode_kafka(value: Any, columns: list[Column], is_key: bool) -> bytes:
    col = _kafka_column(columns, is_key)
    if col is None:
        # no key columns: the runner falls back to a String serde
        return (value if isinstance(value, str) else json_dumps(value)).encode("utf-8")
    base = col.type.base
    try:
        if base in ("INTEGER", "BIGINT"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise SerdeFailure(f"could not coerce {value!r} to {col.type}")
            return struct.pack(_KAFKA_STRUCT[base], value)
        if base == "DOUBLE":
            if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
                raise SerdeFailure(f"could not coerce {value!r} to {col.type}")
            return struct.pack(">d", float(value))
    except struct.error as e:
        raise SerdeFailure(f"value {value!r} out of range for {col.type}: {e}") from None
    if base == "STRING":
        if not isinstance(value, str):
            raise SerdeFailure(f"could not coerce {value!r} to {col.type}")
        return value.encode("utf-8")
    if base == "BYTES":
        if not isinstance(value, str):
            raise SerdeFailure(f"BYTES value must be a base64 string: {value!r}")
        return base64.b64decode(value)
    raise SerdeFailure(f"Unsupported type for KAFKA format: {col.type}")


def _decode_kafka(data: bytes, columns: list[Column], is_key: bool) -> Any:
    col = _kafka_column(columns, is_key)
    if col is None:
        return data.decode("utf-8")
    base = col.type.base
    if base in _KAFKA_STRUCT:
        fmt = _KAFKA_STRUCT[base]
        size = struct.calcsize(fmt)
        if len(data) != size:
            name = {"INTEGER": "Integer", "BIGINT": "Long", "DOUBLE": "Double"}[base]
            raise SerdeFailure(f"Size of data received by {name}Deserializer is not {size}"
                               f" (got {len(data)} bytes)")
        return struct.unpack(fmt, data)[0]
    if base == "STRING":
        return data.decode("utf-8")
    if base == "BYTES":
        return bytes(data)
    raise SerdeFailure(f"Unsupported type for KAFKA format: {col.type}")


# ---------------------------------------------------------------------------------------------
# public API

def encode(fmt: str, columns: list[Column], value: Any, *, is_key: bool,
           sr: dict | None = None) -> bytes | None:
    """Serialize a QTT record's key or value (already JSON-parsed) in ``fmt``."""
    fmt = fmt.upper()
    if fmt == "NONE":
        return None
    if value is None:
        return None
    if fmt in _SR_FORMATS:  # --- SR formats: ksqlpy.formats.srtest (schema from the registry)
        return _encode_sr(fmt, columns, value, is_key, sr)
    if fmt == "JSON":
        return json_dumps(value).encode("utf-8")
    if fmt == "DELIMITED":
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            return str(value).encode("utf-8")
        raise SerdeFailure(f"DELIMITED record must be a string: {json_dumps(value)}")
    if fmt == "KAFKA":
        return _encode_kafka(value, columns, is_key)
    raise UnsupportedFormat(fmt)


def decode(fmt: str, columns: list[Column], data: bytes | None, *, is_key: bool,
           exact_numbers: bool = True, sr: dict | None = None) -> Any:
    """Deserialize actual output bytes into the value the comparator sees."""
    fmt = fmt.upper()
    if fmt == "NONE":
        return None
    if data is None:
        return None
    if fmt in _SR_FORMATS:  # --- SR formats: ksqlpy.formats.srtest (writer schema by id)
        return _decode_sr(fmt, columns, data, is_key, sr)
    try:
        if fmt == "JSON":
            return _json_loads(data, exact_numbers)
        if fmt == "DELIMITED":
            return data.decode("utf-8")
        if fmt == "KAFKA":
            return _decode_kafka(data, columns, is_key)
    except (UnicodeDecodeError, ValueError) as e:
        raise SerdeFailure(f"Failed to deserialize {'key' if is_key else 'value'}: {e}") from None
    raise UnsupportedFormat(fmt)


def encode_windowed(inner: bytes | None, window_type: str, start: int, end: int) -> bytes:
    """``TimeWindowedSerializer`` / ``SessionWindowedSerializer``."""
    inner = inner or b""
    if window_type.upper() == "SESSION":
        return inner + struct.pack(">q", end) + struct.pack(">q", start)
    return inner + struct.pack(">q", start)


def decode_windowed(data: bytes | None, window_type: str, size_ms: int | None
                    ) -> tuple[bytes | None, dict]:
    """Split a windowed key into (inner bytes, {"start", "end", "type"}) as ``WindowData``."""
    if data is None:
        raise SerdeFailure("windowed key is null")
    if window_type.upper() == "SESSION":
        if len(data) < 16:
            raise SerdeFailure(f"session-windowed key too short: {len(data)} bytes")
        end = struct.unpack(">q", data[-16:-8])[0]
        start = struct.unpack(">q", data[-8:])[0]
        return data[:-16], {"start": start, "end": end, "type": "SESSION"}
    if len(data) < 8:
        raise SerdeFailure(f"time-windowed key too short: {len(data)} bytes")
    start = struct.unpack(">q", data[-8:])[0]
    end = start + (size_ms if size_ms is not None else 0)
    return data[:-8], {"start": start, "end": end, "type": "TIME"}


# ---------------------------------------------------------------------------------------------
# schema-directed view of decoded JSON

def doubles_as_floats(value: Any, sql_type) -> Any:
    """Turn the JSON numbers that sit in DOUBLE positions of ``sql_type`` into floats.

    JSON output is read with exact decimals; where the schema says DOUBLE, the value stands
    for a Java ``Double`` and is compared within the comparator's tolerance (the QTT files
    write doubles such as ``9223372036854.775`` or ``-1.7976931348623160E308`` that only a
    double comparison accepts). Every other number keeps its exact JSON form, so DECIMAL
    scales are still compared exactly.
    """
    if value is None or sql_type is None:
        return value
    base = sql_type.base
    if base == "DOUBLE":
        if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            try:
                return float(value)
            except (OverflowError, ValueError):
                return value
        return value
    if base == "ARRAY" and isinstance(value, list):
        return [doubles_as_floats(v, sql_type.item) for v in value]
    if base == "MAP" and isinstance(value, dict):
        return {k: doubles_as_floats(v, sql_type.item) for k, v in value.items()}
    if base == "STRUCT" and isinstance(value, dict):
        return _fields_as_floats(value, list(sql_type.fields or ()))
    return value


def _fields_as_floats(obj: dict, fields: list[tuple[str, Any]]) -> dict:
    types = {name: t for name, t in fields}
    upper = {name.upper(): t for name, t in fields}
    return {k: doubles_as_floats(v, types.get(k, upper.get(str(k).upper())))
            for k, v in obj.items()}


def json_doubles_as_floats(value: Any, columns: list[Column], unwrapped: bool) -> Any:
    """Apply :func:`doubles_as_floats` to a decoded JSON key or value by its columns: one
    unwrapped column types the whole value, otherwise the value is an object of columns."""
    if unwrapped and len(columns) == 1:
        return doubles_as_floats(value, columns[0].type)
    if isinstance(value, dict):
        return _fields_as_floats(value, [(c.name, c.type) for c in columns])
    return value


# ---------------------------------------------------------------------------------------------
# schema-registry formats (AVRO, JSON_SR, PROTOBUF, PROTOBUF_NOSR): QTT converts the record's
# JSON through the topic's registered schema (ConnectSerdeSupplier); see ksqlpy.formats.srtest

def sr_context(engine, src, is_key: bool) -> dict:
    """What the SR serdes need about a source side: the registry, topic and format props."""
    fmt = src.key_format if is_key else src.value_format
    return {"registry": getattr(engine, "schema_registry", None), "topic": src.topic,
            "properties": dict(getattr(fmt, "properties", None) or {})}


def register_topic_schemas(engine, topics: list[dict]) -> None:
    """Register the test's ``topics[].keySchema/valueSchema`` (+ ids, references) in the
    engine's registry before the statements run (TestExecutor does this with its mock SR)."""
    from ksqlpy.formats.srtest import register_test_schema

    registry = getattr(engine, "schema_registry", None)
    if registry is None:
        return
    for t in topics or []:
        for side, is_key in (("key", True), ("value", False)):
            schema = t.get(f"{side}Schema")
            if schema is None:
                continue
            fmt = t.get(f"{side}Format") or _guess_schema_format(schema)
            try:
                register_test_schema(registry, t["name"], is_key, fmt, schema,
                                     t.get(f"{side}SchemaId"),
                                     t.get(f"{side}SchemaReferences") or ())
            except Exception as e:  # noqa: BLE001
                raise SerdeFailure(f"cannot register {side} schema of {t['name']}: {e}") from None


def _guess_schema_format(schema: Any) -> str:
    if isinstance(schema, str) and ("syntax" in schema or "message " in schema):
        return "PROTOBUF"
    if isinstance(schema, dict) and ("$schema" in schema or schema.get("type") == "object"
                                     or "properties" in schema or "oneOf" in schema):
        return "JSON_SR"
    return "AVRO"


def _encode_sr(fmt: str, columns, value, is_key: bool, sr: dict | None) -> bytes | None:
    from ksqlpy.formats.srtest import SrTestError, json_to_sr

    sr = sr or {}
    if not columns and is_key:
        return (value if isinstance(value, str) else json_dumps(value)).encode("utf-8")
    try:
        return json_to_sr(value, fmt, sr.get("registry"), sr.get("topic"), is_key=is_key,
                          columns=columns, properties=sr.get("properties"))
    except SrTestError as e:
        raise SerdeFailure(str(e)) from None


def _decode_sr(fmt: str, columns, data: bytes, is_key: bool, sr: dict | None) -> Any:
    from ksqlpy.formats.srtest import SrTestError, sr_to_json

    sr = sr or {}
    if not columns and is_key:
        return data.decode("utf-8", "replace")
    try:
        return sr_to_json(data, fmt, sr.get("registry"), columns=columns, is_key=is_key,
                          properties=sr.get("properties"))
    except SrTestError as e:
        raise SerdeFailure(str(e)) from None
