"""JSON functions (Jackson-like behaviour over Python's json module)."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import re
from decimal import Decimal

import pyarrow as pa

from ksqlpy.expr import javafmt
from ksqlpy.expr.javafmt import java_double_str
from ksqlpy.expr.registry import Call, scalar
from ksqlpy.expr.runtime import to_py
from ksqlpy.types import SqlType

CAT = "JSON"

_MISSING = object()


_DECODER = json.JSONDecoder(parse_float=Decimal)


def _loads(s: str):
    """Parse the first JSON value (Jackson ignores trailing content)."""
    v, _ = _DECODER.raw_decode(s.lstrip())
    return v


def _dumps(v) -> str:
    """Compact JSON like Jackson's ``writeValueAsString``."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return str(v) if "E" not in str(v) else format(v, "f")
    if isinstance(v, float):
        return java_double_str(v) if v == v and abs(v) != float("inf") else f'"{v}"'
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(_dumps(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_dumps(x)}"
                              for k, x in v.items()) + "}"
    return json.dumps(str(v))


_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[\s*(\d+)\s*\]")


def _parse_path(path: str) -> list:
    p = path.strip()
    if not p.startswith("$"):
        raise ValueError(f"Invalid JsonPath: {path}")
    out, pos = [], 1
    while pos < len(p):
        m = _PATH_TOKEN.match(p, pos)
        if not m:
            raise ValueError(f"Invalid JsonPath: {path}")
        if m.group(4) is not None:
            out.append(int(m.group(4)))
        else:
            out.append(next(g for g in m.groups()[:3] if g is not None))
        pos = m.end()
    return out


def _extract(doc: str, path: str):
    try:
        v = _loads(doc)
    except ValueError:
        return None
    for step in _parse_path(path):
        if isinstance(step, int):
            if not isinstance(v, list) or step >= len(v):
                return None
            v = v[step]
        else:
            if not isinstance(v, dict) or step not in v:
                return None
            v = v[step]
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return _dumps(v)


extract = scalar("EXTRACTJSONFIELD", CAT, "Extract a field from a JSON string by JSONPath.")
extract.add(["STRING", "STRING"], "STRING", lambda c: c.rowwise(_extract))


def _is_json(s) -> bool:
    if s is None:
        return False
    try:
        _loads(s)
        return True
    except ValueError:
        return False


is_json = scalar("IS_JSON_STRING", CAT, "Whether a string is valid JSON.")
is_json.add(["STRING"], "BOOLEAN", lambda c: c.rowwise(_is_json, null_on_null=False))


def _array_len(s):
    try:
        v = _loads(s)
    except ValueError:
        return None
    return len(v) if isinstance(v, list) else None


jal = scalar("JSON_ARRAY_LENGTH", CAT, "The length of a JSON array, or null.")
jal.add(["STRING"], "INTEGER", lambda c: c.rowwise(_array_len))


def _json_eq(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, Decimal, float)) and isinstance(b, (int, Decimal, float)):
        return Decimal(str(a)) == Decimal(str(b))
    return a == b


def _array_contains(c: Call) -> pa.Array:
    t = c.types[1]

    def f(s, v):
        if s is None:
            return False
        try:
            arr = _loads(s)
        except ValueError:
            return False
        if not isinstance(arr, list):
            return False
        for x in arr:
            if v is None:
                if x is None:
                    return True
                continue
            if t.base == "STRING" and isinstance(x, str) and x == v:
                return True
            if t.base == "BOOLEAN" and isinstance(x, bool) and x == v:
                return True
            if t.base in ("INTEGER", "BIGINT") and isinstance(x, int) and not isinstance(
                    x, bool) and x == v:
                return True
            if t.base == "DOUBLE" and isinstance(x, Decimal) and float(x) == v:
                return True
        return False
    return c.rowwise(f, null_on_null=False)


jac = scalar("JSON_ARRAY_CONTAINS", CAT, "Whether a JSON array contains a value.")
for _t in ("STRING", "BOOLEAN", "INTEGER", "BIGINT", "DOUBLE"):
    jac.add(["STRING", _t], "BOOLEAN", _array_contains)


def _concat(*docs):
    vals = []
    for d in docs:
        if d is None:
            return None
        try:
            vals.append(_loads(d))
        except ValueError:
            return None
    if all(isinstance(v, dict) for v in vals):
        out: dict = {}
        for v in vals:
            out.update(v)
        return _dumps(out)
    res: list = []
    for v in vals:
        if isinstance(v, list):
            res.extend(v)
        else:
            res.append(v)
    return _dumps(res)


jconcat = scalar("JSON_CONCAT", CAT, "Merge JSON objects or concatenate JSON arrays.")
jconcat.add(["STRING", "STRING"], "STRING", lambda c: c.rowwise(_concat, null_on_null=False),
            variadic=True)


def _items(s):
    try:
        v = _loads(s)
    except ValueError:
        return None
    return [_dumps(x) for x in v] if isinstance(v, list) else None


def _keys(s):
    try:
        v = _loads(s)
    except ValueError:
        return None
    return list(v.keys()) if isinstance(v, dict) else None


def _records(s):
    try:
        v = _loads(s)
    except ValueError:
        return None
    return {k: _dumps(x) for k, x in v.items()} if isinstance(v, dict) else None


jitems = scalar("JSON_ITEMS", CAT, "The elements of a JSON array as JSON strings.")
jitems.add(["STRING"], "ARRAY<STRING>", lambda c: c.rowwise(_items))
jkeys = scalar("JSON_KEYS", CAT, "The keys of a JSON object.")
jkeys.add(["STRING"], "ARRAY<STRING>", lambda c: c.rowwise(_keys))
jrecords = scalar("JSON_RECORDS", CAT, "The fields of a JSON object as a map of JSON strings.")
jrecords.add(["STRING"], "MAP<STRING, STRING>", lambda c: c.rowwise(_records))


def to_json_value(v, t: SqlType):
    """A runtime value of SQL type ``t`` as a JSON-ready Python value."""
    if v is None:
        return None
    b = t.base
    if b == "ARRAY":
        return [to_json_value(x, t.item) for x in v]
    if b == "MAP":
        items = v.items() if isinstance(v, dict) else v
        return {str(k): to_json_value(x, t.item) for k, x in items}
    if b == "STRUCT":
        return {n: to_json_value(v.get(n), ft) for n, ft in t.fields}
    if b == "BYTES":
        return base64.b64encode(bytes(v)).decode()
    if b == "TIMESTAMP":
        return javafmt.format_timestamp(v)
    if b == "DATE":
        return javafmt.format_date(v)
    if b == "TIME":
        return javafmt.format_time(v) if v.second or v.microsecond else \
            f"{v.hour:02d}:{v.minute:02d}:00"
    return v


def _dt_millis(v: _dt.datetime) -> int:
    d = v - _dt.datetime(1970, 1, 1)
    return (d.days * 86400 + d.seconds) * 1000 + d.microseconds // 1000


def _to_json(c: Call) -> pa.Array:
    t = c.types[0]
    vals = to_py(c.args[0])
    return pa.array([_dumps(to_json_value(v, t)) for v in vals], pa.string())


tjs = scalar("TO_JSON_STRING", CAT, "The JSON text of any value.")
tjs.add(["T"], "STRING", _to_json)
