"""Kafka Connect-like schemas and values: the common middle of the schema-registry formats.

Every SR format (AVRO, PROTOBUF, JSON_SR) translates its native schema to and from a
:class:`CSchema` (as Confluent's ``AvroData`` / ``ProtobufData`` / ``JsonSchemaData`` do) and
its native values to and from *connect values*: ``int`` / ``float`` / ``bool`` / ``str`` /
``bytes`` / ``Decimal``, ``list`` for ARRAY, ``dict`` for MAP, ``dict`` by field name for
STRUCT, and ints for the logical types (DATE = epoch days, TIME = ms of day, TIMESTAMP = epoch
ms).

This module holds the format-independent parts:

* ksqlDB columns → connect schema (``ConnectSchemas.columnsToConnectSchema``; every schema
  optional), with ksqlDB's single-field wrapping;
* connect schema → SQL type (schema inference, ``ConnectKsqlSchemaTranslator``);
* connect value → column values (``ConnectDataTranslator``: type checks with ksqlDB's
  "Cannot deserialize type ..." message, numeric widening, anything-to-STRING, upper-cased
  case-insensitive struct fields);
* column values → connect values of a possibly different (registered) writer schema;
* QTT's test-side conversions (``SpecToConnectConverter``): JSON-like spec ↔ connect values.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ksqlpy.formats.coerce import CoercionError, decimal_fit
from ksqlpy.formats.javafmt import java_double_str
from ksqlpy.types import (BIGINT, BOOLEAN, BYTES, DATE, DOUBLE, INTEGER, STRING, TIME,
                          TIMESTAMP, SqlType, array, decimal, map_, struct)

__all__ = ["CSchema", "DECIMAL_NAME", "DATE_NAME", "TIME_NAME", "TIMESTAMP_NAME",
           "columns_schema", "sql_to_connect", "connect_to_sql", "to_ksql", "from_ksql",
           "spec_to_connect", "connect_to_spec", "DataError", "is_decimal"]

DECIMAL_NAME = "org.apache.kafka.connect.data.Decimal"
DATE_NAME = "org.apache.kafka.connect.data.Date"
TIME_NAME = "org.apache.kafka.connect.data.Time"
TIMESTAMP_NAME = "org.apache.kafka.connect.data.Timestamp"
PRECISION_PARAM = "connect.decimal.precision"


class DataError(ValueError):
    """A record whose data does not fit the schema (Connect's DataException)."""


@dataclass
class CSchema:
    """A Connect schema. ``value`` is the ARRAY element / MAP value schema."""

    type: str                      # INT8 INT16 INT32 INT64 FLOAT32 FLOAT64 BOOLEAN STRING
    optional: bool = True          # BYTES ARRAY MAP STRUCT
    name: str | None = None        # logical type name or record name
    params: dict = field(default_factory=dict)
    fields: list | None = None     # [(name, CSchema)] for STRUCT
    key: CSchema | None = None
    value: CSchema | None = None
    doc: dict = field(default_factory=dict)   # format-specific extras (enum symbols, ...)

    def field(self, name: str) -> CSchema | None:
        for n, s in self.fields or ():
            if n == name:
                return s
        return None

    @property
    def type_name(self) -> str:
        return self.type.lower()


def is_decimal(cs: CSchema) -> bool:
    return cs.type == "BYTES" and cs.name == DECIMAL_NAME


# ----------------------------------------------------------------------------- SQL ↔ connect

def sql_to_connect(t: SqlType, optional: bool = True) -> CSchema:
    """``SchemaConverters.sqlToConnectConverter`` (every schema optional)."""
    b = t.base
    simple = {"BOOLEAN": "BOOLEAN", "INTEGER": "INT32", "BIGINT": "INT64", "DOUBLE": "FLOAT64",
              "STRING": "STRING", "BYTES": "BYTES"}
    if b in simple:
        return CSchema(simple[b], optional)
    if b == "DECIMAL":
        return CSchema("BYTES", optional, DECIMAL_NAME,
                       {"scale": str(t.scale), PRECISION_PARAM: str(t.precision)})
    if b == "DATE":
        return CSchema("INT32", optional, DATE_NAME)
    if b == "TIME":
        return CSchema("INT32", optional, TIME_NAME)
    if b == "TIMESTAMP":
        return CSchema("INT64", optional, TIMESTAMP_NAME)
    if b == "ARRAY":
        return CSchema("ARRAY", optional, value=sql_to_connect(t.item))
    if b == "MAP":
        return CSchema("MAP", optional, key=sql_to_connect(t.key), value=sql_to_connect(t.item))
    if b == "STRUCT":
        return CSchema("STRUCT", optional,
                       fields=[(n, sql_to_connect(ft)) for n, ft in t.fields])
    raise ValueError(f"Unsupported type: {t}")


def columns_schema(columns, unwrapped: bool) -> CSchema:
    """The connect schema of a side: the single column's own schema when unwrapped, else a
    STRUCT of the columns (``ConnectSchemas.columnsToConnectSchema``)."""
    columns = list(columns)
    if unwrapped:
        return sql_to_connect(columns[0].type)
    return CSchema("STRUCT", True, fields=[(c.name, sql_to_connect(c.type)) for c in columns])


class InferenceError(ValueError):
    pass


def connect_to_sql(cs: CSchema, upper: bool = True) -> SqlType:
    """``ConnectKsqlSchemaTranslator``: the SQL type of a connect schema (schema inference).

    Struct field names are upper-cased as ksqlDB does for inferred columns."""
    t = cs.type
    if cs.name == DECIMAL_NAME:
        scale = int(cs.params.get("scale", 0))
        prec = int(cs.params.get(PRECISION_PARAM, 64))
        return decimal(prec, scale)
    if cs.name == DATE_NAME:
        return DATE
    if cs.name == TIME_NAME:
        return TIME
    if cs.name == TIMESTAMP_NAME:
        return TIMESTAMP
    if t in ("INT8", "INT16", "INT32"):
        return INTEGER
    if t == "INT64":
        return BIGINT
    if t in ("FLOAT32", "FLOAT64"):
        return DOUBLE
    if t == "BOOLEAN":
        return BOOLEAN
    if t == "STRING":
        return STRING
    if t == "BYTES":
        return BYTES
    if t == "ARRAY":
        return array(connect_to_sql(cs.value, upper))
    if t == "MAP":
        k = connect_to_sql(cs.key, upper)
        if k.base != "STRING":
            raise InferenceError("Unsupported map key type: " + cs.key.type_name)
        return map_(STRING, connect_to_sql(cs.value, upper))
    if t == "STRUCT":
        fields = []
        seen = set()
        for n, fs in cs.fields:
            name = n.upper() if upper else n
            if name in seen:
                continue
            seen.add(name)
            fields.append((name, connect_to_sql(fs, upper)))
        if not fields:
            raise InferenceError("Unsupported schema type: empty STRUCT")
        return struct(fields)
    raise InferenceError(f"Unsupported schema type: {t}")


# ----------------------------------------------------------------------------- connect → ksql

_STRING_OK = {"INT8", "INT16", "INT32", "INT64", "FLOAT32", "FLOAT64", "BOOLEAN", "STRING"}
_INT64_OK = {"INT64", "INT32", "INT16", "INT8"}
_INT32_OK = {"INT32", "INT16", "INT8"}
_FLOAT_OK = {"FLOAT32", "FLOAT64"}
_SQL_CONNECT_TYPE = {"BOOLEAN": "boolean", "INTEGER": "int32", "BIGINT": "int64",
                     "DOUBLE": "float64", "STRING": "string", "BYTES": "bytes",
                     "DECIMAL": "bytes", "DATE": "int32", "TIME": "int32",
                     "TIMESTAMP": "int64", "ARRAY": "array", "MAP": "map", "STRUCT": "struct"}


def _mismatch(path, t: SqlType, cs: CSchema):
    return DataError(f"Cannot deserialize type {cs.type_name} as type "
                     f"{_SQL_CONNECT_TYPE[t.base]} for path: {path}")


def _check(path: str, t: SqlType, cs: CSchema) -> None:
    b, ct = t.base, cs.type
    if b == "BOOLEAN":
        ok = ct == "BOOLEAN"
    elif b == "ARRAY":
        ok = ct == "ARRAY"
    elif b == "MAP":
        ok = ct == "MAP"
    elif b == "STRUCT":
        ok = ct == "STRUCT"
    elif b == "STRING":
        ok = ct in _STRING_OK
    elif b in ("BIGINT", "TIMESTAMP"):
        ok = ct in _INT64_OK
    elif b in ("INTEGER", "DATE", "TIME"):
        ok = ct in _INT32_OK
    elif b == "DOUBLE":
        ok = ct in _FLOAT_OK
    elif b == "DECIMAL":
        ok = is_decimal(cs)
    elif b == "BYTES":
        ok = ct == "BYTES" and not is_decimal(cs)
    else:
        ok = False
    if not ok:
        raise _mismatch(path, t, cs)


def _java_str(v: Any, cs: CSchema) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if cs.type == "FLOAT32":
            return _java_float_str(v)
        return java_double_str(v)
    return str(v)


def _java_float_str(v: float) -> str:
    import struct as _st
    if not math.isfinite(v):
        return java_double_str(v)
    f = _st.unpack(">f", _st.pack(">f", v))[0]
    for digits in range(1, 10):
        text = f"{f:.{digits}g}"
        if _st.unpack(">f", _st.pack(">f", float(text)))[0] == f:
            return java_double_str(float(text))
    return java_double_str(f)


def to_ksql(t: SqlType, cs: CSchema, v: Any, path: str = "") -> Any:
    """``ConnectDataTranslator.toKsqlValue``: a connect value of writer schema ``cs`` as the
    Python value of SQL type ``t`` (ints for temporal types, pairs for MAP)."""
    _check(path, t, cs)
    if v is None:
        return None
    b = t.base
    if b in ("BIGINT", "INTEGER", "TIMESTAMP", "DATE", "TIME"):
        v = int(v)
        if b == "INTEGER":
            v = ((v + (1 << 31)) % (1 << 32)) - (1 << 31)
        return v
    if b == "DOUBLE":
        return float(v)
    if b == "BOOLEAN":
        return bool(v)
    if b == "STRING":
        return v if isinstance(v, str) else _java_str(v, cs)
    if b == "DECIMAL":
        try:
            return decimal_fit(Decimal(v), t.precision, t.scale)
        except CoercionError as e:
            raise DataError(str(e)) from None
    if b == "BYTES":
        return bytes(v)
    if b == "ARRAY":
        p = path + "->ARRAY"
        return [to_ksql(t.item, cs.value, x, p) for x in v]
    if b == "MAP":
        items = v.items() if isinstance(v, dict) else v
        return [(to_ksql(t.key, cs.key, k, path + "->MAP_KEY"),
                 to_ksql(t.item, cs.value, x, path + "->MAP_VAL")) for k, x in items]
    if b == "STRUCT":
        return struct_to_ksql(t.fields, cs, v, path)
    raise DataError(f"Unexpected data type seen in schema: {b}")


def struct_to_ksql(fields, cs: CSchema, v: dict, path: str = "") -> dict:
    """Fields of a connect struct matched to ``fields`` by upper-cased name."""
    by_upper = {}
    for n, fs in cs.fields:
        by_upper[n.upper()] = (n, fs)
    out = {}
    for name, ft in fields:
        got = by_upper.get(name.upper())
        if got is None:
            out[name] = None
            continue
        n, fs = got
        out[name] = to_ksql(ft, fs, v.get(n), path + "->" + name)
    return out


# ----------------------------------------------------------------------------- ksql → connect

def from_ksql(cs: CSchema, t: SqlType | None, v: Any, path: str = "") -> Any:
    """A column value (Python value of SQL type ``t``) as a connect value of writer schema
    ``cs``: the identity for derived schemas; for a registered schema (VALUE_SCHEMA_ID)
    struct fields are matched case-insensitively and numbers converted."""
    if v is None:
        return None
    ct = cs.type
    if ct == "STRUCT":
        if not isinstance(v, dict):
            raise DataError(f"Cannot serialize {type(v).__name__} as struct at {path}")
        tf = dict(t.fields) if t is not None and t.fields else {}
        up = {k.upper(): k for k in v}
        out = {}
        for n, fs in cs.fields:
            k = n if n in v else up.get(n.upper())
            if k is None:
                out[n] = None
                continue
            out[n] = from_ksql(fs, tf.get(k), v[k], path + "->" + n)
        return out
    if ct == "ARRAY":
        item = t.item if t is not None and t.base == "ARRAY" else None
        return [from_ksql(cs.value, item, x, path) for x in v]
    if ct == "MAP":
        kt = t.key if t is not None and t.base == "MAP" else None
        vt = t.item if t is not None and t.base == "MAP" else None
        items = v.items() if isinstance(v, dict) else v
        return {from_ksql(cs.key, kt, k, path): from_ksql(cs.value, vt, x, path)
                for k, x in items}
    if is_decimal(cs):
        d = v if isinstance(v, Decimal) else Decimal(str(v))
        return d
    if ct in ("INT8", "INT16", "INT32", "INT64"):
        if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
            return int(v)
        raise DataError(f"Cannot serialize {v!r} as {cs.type_name} at {path}")
    if ct in ("FLOAT32", "FLOAT64"):
        if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
            return float(v)
        raise DataError(f"Cannot serialize {v!r} as {cs.type_name} at {path}")
    if ct == "STRING":
        return v if isinstance(v, str) else str(v)
    return v


# ----------------------------------------------------------------------------- QTT spec ↔ connect

def _java_str_of_spec(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return java_double_str(v)
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_java_str_of_spec(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_java_str_of_spec(x) for x in v) + "]"
    if v is None:
        return "null"
    return str(v)


def _java_int(text: str, bits: int) -> int:
    s = text.strip() if False else text
    try:
        if not s or not (s.lstrip("+-").isdigit()) or s.count("-") + s.count("+") > 1:
            raise ValueError
        x = int(s)
    except ValueError:
        raise DataError(f'For input string: "{text}"') from None
    if not (-(1 << (bits - 1)) <= x < (1 << (bits - 1))):
        raise DataError(f'For input string: "{text}"')
    return x


def spec_to_connect(spec: Any, cs: CSchema) -> Any:
    """``SpecToConnectConverter.specToConnect``: a QTT record value through a schema."""
    if spec is None:
        return None
    t = cs.type
    if t in ("INT8", "INT16", "INT32"):
        return _java_int(_java_str_of_spec(spec), 32)
    if t == "INT64":
        return _java_int(_java_str_of_spec(spec), 64)
    if t in ("FLOAT32", "FLOAT64"):
        try:
            return float(_java_str_of_spec(spec))
        except ValueError:
            raise DataError(f'For input string: "{spec}"') from None
    if t == "BOOLEAN":
        return _java_str_of_spec(spec).lower() == "true"
    if t == "STRING":
        return _java_str_of_spec(spec)
    if t == "ARRAY":
        if not isinstance(spec, list):
            raise DataError(f"Expected an array: {spec!r}")
        return [spec_to_connect(x, cs.value) for x in spec]
    if t == "MAP":
        if not isinstance(spec, dict):
            raise DataError(f"Expected a map: {spec!r}")
        return {spec_to_connect(k, cs.key): spec_to_connect(x, cs.value)
                for k, x in spec.items()}
    if t == "STRUCT":
        if not isinstance(spec, dict):
            raise DataError(f"Expected a struct: {spec!r}")
        upper = {n.upper(): (n, fs) for n, fs in cs.fields}
        out = {n: None for n, _ in cs.fields}
        for k, x in spec.items():
            got = upper.get(str(k).upper())
            if got is not None:
                out[got[0]] = spec_to_connect(x, got[1])
        for n, fs in cs.fields:
            if out[n] is None and not fs.optional:
                raise DataError(f"Invalid value: null used for required field: \"{n}\", "
                                f"schema type: {fs.type}")
        return out
    if t == "BYTES":
        if is_decimal(cs):
            scale = int(cs.params.get("scale", 0))
            prec = int(cs.params.get(PRECISION_PARAM, 64))
            if isinstance(spec, bool):
                raise DataError("DECIMAL type requires JSON number in test data")
            if isinstance(spec, (Decimal, int, float)):
                try:
                    return decimal_fit(Decimal(str(spec)) if isinstance(spec, float)
                                       else Decimal(spec), prec, scale)
                except CoercionError as e:
                    raise DataError(str(e)) from None
            if isinstance(spec, str):
                try:
                    return Decimal(spec).quantize(Decimal(1).scaleb(-scale))
                except InvalidOperation:
                    raise DataError(f"Invalid decimal: {spec}") from None
            raise DataError("DECIMAL type requires JSON number in test data")
        if isinstance(spec, str):
            return base64.b64decode(spec)
        return spec
    raise DataError(f"This test does not support the data type yet: {t}")


def connect_to_spec(v: Any, cs: CSchema) -> Any:
    """``SpecToConnectConverter.connectToSpec``: an actual output value for the comparator.

    Doubles are floats, decimals ``Decimal``, bytes ``bytes``, structs dicts by schema field
    name, maps dicts with string keys."""
    if v is None:
        return None
    t = cs.type
    if t in ("FLOAT32", "FLOAT64"):
        return float(v)
    if t == "STRING":
        return str(v)
    if t == "ARRAY":
        return [connect_to_spec(x, cs.value) for x in v]
    if t == "MAP":
        items = v.items() if isinstance(v, dict) else v
        return {_java_str_of_spec(k): connect_to_spec(x, cs.value) for k, x in items}
    if t == "STRUCT":
        return {n: connect_to_spec(v.get(n), fs) for n, fs in cs.fields}
    return v
