"""JSON Schema ↔ connect schemas and JSON text ↔ connect values (the JSON_SR format).

Follows Confluent's ``JsonSchemaData``: optional fields are ``oneOf [null, T]``; Connect types
that JSON lacks are annotated with ``connect.type`` (``int32``, ``int64``, ``float64``,
``bytes``, ``map``); logical types carry their Connect name as ``title``; struct fields keep
their order in ``connect.index``. Decimals are written as JSON numbers (ksqlDB configures the
NUMERIC decimal format), bytes as base64, temporal types as integers.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from ksqlpy.formats.connect import (DATE_NAME, DECIMAL_NAME, PRECISION_PARAM, TIME_NAME,
                                    TIMESTAMP_NAME, CSchema, DataError, is_decimal)
from ksqlpy.formats.javafmt import java_double_str

__all__ = ["connect_to_json_schema", "json_schema_to_connect", "encode_json", "decode_json"]


def connect_to_json_schema(cs: CSchema) -> dict:
    return _to_js(cs, root=True)


def _to_js(cs: CSchema, root: bool = False, index: int | None = None) -> dict:
    t = cs.type
    if t == "STRUCT":
        props = {}
        for i, (n, fs) in enumerate(cs.fields):
            props[n] = _to_js(fs, index=i)
        base = {"type": "object", "properties": props}
        if cs.name:
            base["title"] = cs.name
    elif t == "ARRAY":
        base = {"type": "array", "items": _to_js(cs.value)}
    elif t == "MAP":
        if cs.key.type == "STRING":
            base = {"type": "object", "additionalProperties": _to_js(cs.value),
                    "connect.type": "map"}
        else:
            base = {"type": "array", "items": {"type": "object", "properties": {
                "key": _to_js(cs.key, index=0), "value": _to_js(cs.value, index=1)}},
                "connect.type": "map"}
    elif is_decimal(cs):
        base = {"type": "number", "title": DECIMAL_NAME, "connect.version": 1,
                "connect.parameters": {"scale": str(cs.params.get("scale", 0)),
                                       PRECISION_PARAM: str(cs.params.get(PRECISION_PARAM, 64))},
                "connect.type": "bytes"}
    elif cs.name in (DATE_NAME, TIME_NAME, TIMESTAMP_NAME):
        base = {"type": "integer", "title": cs.name, "connect.version": 1,
                "connect.type": "int64" if cs.name == TIMESTAMP_NAME else "int32"}
    else:
        base = {"INT8": {"type": "integer", "connect.type": "int8"},
                "INT16": {"type": "integer", "connect.type": "int16"},
                "INT32": {"type": "integer", "connect.type": "int32"},
                "INT64": {"type": "integer", "connect.type": "int64"},
                "FLOAT32": {"type": "number", "connect.type": "float32"},
                "FLOAT64": {"type": "number", "connect.type": "float64"},
                "BOOLEAN": {"type": "boolean"},
                "STRING": {"type": "string"},
                "BYTES": {"type": "string", "connect.type": "bytes"}}[t]
    if cs.optional and not root:
        out = {"oneOf": [{"type": "null"}, base]}
    else:
        out = base
    if index is not None:
        out = {**out, "connect.index": index}
    return out


def json_schema_to_connect(js: Any, optional: bool = False) -> CSchema:
    if js is True or js == {}:
        return CSchema("STRING", True)
    if not isinstance(js, dict):
        raise DataError(f"Unsupported JSON schema: {js!r}")
    for key in ("oneOf", "anyOf"):
        if key in js:
            branches = js[key]
            non_null = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
            if len(non_null) == 1:
                return json_schema_to_connect(non_null[0], optional=True)
            raise DataError("Unsupported JSON schema union")
    t = js.get("type")
    if isinstance(t, list):
        non_null = [x for x in t if x != "null"]
        if len(non_null) == 1:
            return json_schema_to_connect({**js, "type": non_null[0]}, optional="null" in t)
    ct = js.get("connect.type")
    title = js.get("title")
    if t == "object" or (t is None and "properties" in js):
        if ct == "map" or ("additionalProperties" in js and "properties" not in js
                           and isinstance(js.get("additionalProperties"), dict)):
            return CSchema("MAP", optional, key=CSchema("STRING", False),
                           value=json_schema_to_connect(js.get("additionalProperties", {})))
        props = js.get("properties", {})
        required = set(js.get("required", []))
        items = list(props.items())
        if all(isinstance(v, dict) and "connect.index" in v for _, v in items):
            items.sort(key=lambda kv: kv[1]["connect.index"])
        fields = [(n, json_schema_to_connect(v, optional=n not in required))
                  for n, v in items]
        return CSchema("STRUCT", optional, title if title and "." in str(title) else None,
                       fields=fields)
    if t == "array":
        items = js.get("items", {})
        if ct == "map" and isinstance(items, dict):
            p = items.get("properties", {})
            return CSchema("MAP", optional, key=json_schema_to_connect(p.get("key", {})),
                           value=json_schema_to_connect(p.get("value", {})))
        return CSchema("ARRAY", optional, value=json_schema_to_connect(items, optional=True))
    if t == "integer":
        if title in (DATE_NAME, TIME_NAME):
            return CSchema("INT32", optional, title)
        if title == TIMESTAMP_NAME:
            return CSchema("INT64", optional, title)
        return CSchema({"int8": "INT8", "int16": "INT16", "int32": "INT32"}.get(ct, "INT64"),
                       optional)
    if t == "number":
        if title == DECIMAL_NAME or ct == "bytes":
            params = js.get("connect.parameters", {})
            return CSchema("BYTES", optional, DECIMAL_NAME,
                           {"scale": str(params.get("scale", 0)),
                            PRECISION_PARAM: str(params.get(PRECISION_PARAM, 64))})
        return CSchema("FLOAT32" if ct == "float32" else "FLOAT64", optional)
    if t == "boolean":
        return CSchema("BOOLEAN", optional)
    if t == "string":
        if ct == "bytes":
            return CSchema("BYTES", optional)
        return CSchema("STRING", optional)
    if t == "null":
        return CSchema("STRING", True)
    raise DataError(f"Unsupported JSON schema type: {t}")


def _to_json_value(v: Any, cs: CSchema) -> Any:
    if v is None:
        return None
    t = cs.type
    if t == "STRUCT":
        return {n: _to_json_value(v.get(n), fs) for n, fs in cs.fields}
    if t == "ARRAY":
        return [_to_json_value(x, cs.value) for x in v]
    if t == "MAP":
        items = v.items() if isinstance(v, dict) else v
        if cs.key.type == "STRING":
            return {str(k): _to_json_value(x, cs.value) for k, x in items}
        return [{"key": _to_json_value(k, cs.key), "value": _to_json_value(x, cs.value)}
                for k, x in items]
    if is_decimal(cs):
        return v if isinstance(v, Decimal) else Decimal(str(v))
    if t == "BYTES":
        return base64.b64encode(bytes(v)).decode()
    return v


def _dumps(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return '"' + java_double_str(v) + '"'
        return java_double_str(v)
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(_dumps(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(str(k), ensure_ascii=False) + ":" + _dumps(x)
                              for k, x in v.items()) + "}"
    raise DataError(f"Cannot write {v!r} as JSON")


def encode_json(value: Any, cs: CSchema) -> bytes:
    return _dumps(_to_json_value(value, cs)).encode("utf-8")


def _from_json_value(v: Any, cs: CSchema) -> Any:
    if v is None:
        return None
    t = cs.type
    if t == "STRUCT":
        if not isinstance(v, dict):
            raise DataError(f"Expected an object, got {v!r}")
        return {n: _from_json_value(v.get(n), fs) for n, fs in cs.fields}
    if t == "ARRAY":
        return [_from_json_value(x, cs.value) for x in v]
    if t == "MAP":
        if isinstance(v, list):
            return {_from_json_value(e.get("key"), cs.key): _from_json_value(e.get("value"),
                                                                            cs.value)
                    for e in v}
        return {k: _from_json_value(x, cs.value) for k, x in v.items()}
    if is_decimal(cs):
        return Decimal(str(v)) if not isinstance(v, Decimal) else v
    if t in ("FLOAT32", "FLOAT64"):
        if isinstance(v, str):
            return float(v)
        return float(v)
    if t in ("INT8", "INT16", "INT32", "INT64"):
        return int(v)
    if t == "BYTES":
        return base64.b64decode(v)
    return v


def decode_json(data: bytes, cs: CSchema) -> Any:
    try:
        v = json.loads(data.decode("utf-8"), parse_float=Decimal)
    except ValueError as e:
        raise DataError(f"Invalid JSON: {e}") from None
    return _from_json_value(v, cs)
