"""Avro: schemas (JSON) ↔ connect schemas, and the Avro binary encoding of connect values.

Hand-written (no dependency): the binary encoding is small, and owning it lets values go
straight between Avro and the connect values of :mod:`ksqlpy.formats.connect` (decimals,
logical dates, MapEntry arrays, enums) without a second conversion pass.

Schema translation follows ksqlDB (``AvroSchemas`` naming + Confluent ``AvroData``):

* the root record is named by ``fullSchemaName`` (default
  ``io.confluent.ksql.avro_schemas.KsqlDataSourceSchema``); nested records are named
  ``<parent>_<FIELD>``; a MAP's entry record is ``<parent>_<FIELD>`` and a struct in a map key
  / value adds ``_MapKey`` / ``_MapValue``;
* every field is a union ``["null", T]`` with ``"default": null``; the root is not a union;
* ksqlDB's maps have optional STRING keys, so they are written as Connect does for those: an
  array of ``{"key", "value"}`` records tagged ``"connect.internal.type": "MapEntry"``;
  Avro ``map`` types read as MAP too;
* DECIMAL is ``bytes`` + ``logicalType: decimal``; DATE ``int``/``date``; TIME
  ``int``/``time-millis``; TIMESTAMP ``long``/``timestamp-millis``;
* reading: enums are STRINGs, fixed is BYTES, ``["null", T]`` is an optional T.
"""

from __future__ import annotations

import json
import re
import struct as _st
from decimal import Decimal
from typing import Any, Callable

from ksqlpy.formats.connect import (DATE_NAME, DECIMAL_NAME, PRECISION_PARAM, TIME_NAME,
                                    TIMESTAMP_NAME, CSchema, DataError, is_decimal)

__all__ = ["AvroSchema", "parse_avro", "connect_to_avro", "avro_name_error",
           "DEFAULT_FULL_NAME", "NAMESPACE", "key_schema_name"]

NAMESPACE = "io.confluent.ksql.avro_schemas"
DEFAULT_FULL_NAME = NAMESPACE + ".KsqlDataSourceSchema"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PRIMS = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def key_schema_name(source_name: str) -> str:
    """``AvroFormat.getKeySchemaName``: UPPER_UNDERSCORE → UpperCamel + ``Key``."""
    parts = [p for p in source_name.split("_")]
    camel = "".join(p[:1].upper() + p[1:].lower() for p in parts)
    return f"{NAMESPACE}.{camel}Key"


def avro_name_error(name: str) -> str | None:
    """Avro's name validation message for ``name``, or None if valid."""
    if not name:
        return "Empty name"
    if not (name[0].isalpha() or name[0] == "_") or not name[0].isascii():
        return f"Illegal initial character: {name}"
    for ch in name[1:]:
        if not ((ch.isascii() and ch.isalnum()) or ch == "_"):
            return f"Illegal character in: {name}"
    return None


# ----------------------------------------------------------------------------- connect → Avro

def connect_to_avro(cs: CSchema, full_name: str = DEFAULT_FULL_NAME) -> Any:
    """The Avro schema (JSON-able) ksqlDB registers for connect schema ``cs``."""
    return _to_avro(cs, [full_name], root=True)


def _split(full: str) -> tuple[str, str | None]:
    if "." in full:
        ns, _, name = full.rpartition(".")
        return name, ns
    return full, None


def _to_avro(cs: CSchema, ctx: list[str], root: bool) -> Any:
    t = cs.type
    if t == "STRUCT":
        full = cs.name if cs.name and not root else ctx and "_".join(ctx)
        if root:
            full = ctx[0]
        name, ns = _split(full)
        fields = []
        for n, fs in cs.fields:
            fname = n.replace(".", "_")
            err = avro_name_error(fname)
            if err:
                raise DataError(err)
            ftype = _to_avro(fs, ctx + [n], root=False)
            f = {"name": fname, "type": ftype}
            if fs.optional:
                f["default"] = None
            fields.append(f)
        rec = {"type": "record", "name": name}
        if ns:
            rec["namespace"] = ns
        rec["fields"] = fields
        rec["connect.name"] = full
        base = rec
    elif t == "ARRAY":
        base = {"type": "array", "items": _to_avro(cs.value, ctx, root=False)}
    elif t == "MAP":
        full = "_".join(ctx)
        name, ns = _split(full)
        kf = {"name": "key", "type": _to_avro(cs.key, ctx + ["MapKey"], root=False)}
        if cs.key.optional:
            kf["default"] = None
        vf = {"name": "value", "type": _to_avro(cs.value, ctx + ["MapValue"], root=False)}
        if cs.value.optional:
            vf["default"] = None
        entry = {"type": "record", "name": name}
        if ns:
            entry["namespace"] = ns
        entry["fields"] = [kf, vf]
        entry["connect.internal.type"] = "MapEntry"
        base = {"type": "array", "items": entry}
    elif is_decimal(cs):
        base = {"type": "bytes", "scale": int(cs.params.get("scale", 0)),
                "precision": int(cs.params.get(PRECISION_PARAM, 64)),
                "connect.version": 1,
                "connect.parameters": {"scale": str(cs.params.get("scale", 0)),
                                       PRECISION_PARAM: str(cs.params.get(PRECISION_PARAM, 64))},
                "connect.name": DECIMAL_NAME, "logicalType": "decimal"}
    elif cs.name == DATE_NAME:
        base = {"type": "int", "connect.version": 1, "connect.name": DATE_NAME,
                "logicalType": "date"}
    elif cs.name == TIME_NAME:
        base = {"type": "int", "connect.version": 1, "connect.name": TIME_NAME,
                "logicalType": "time-millis"}
    elif cs.name == TIMESTAMP_NAME:
        base = {"type": "long", "connect.version": 1, "connect.name": TIMESTAMP_NAME,
                "logicalType": "timestamp-millis"}
    else:
        prim = {"INT8": "int", "INT16": "int", "INT32": "int", "INT64": "long",
                "FLOAT32": "float", "FLOAT64": "double", "BOOLEAN": "boolean",
                "STRING": "string", "BYTES": "bytes"}[t]
        if t in ("INT8", "INT16"):
            base = {"type": "int", "connect.type": t.lower()}
        else:
            base = prim
    if cs.optional and not root:
        return ["null", base]
    return base


# ----------------------------------------------------------------------------- Avro schema

class AvroSchema:
    """A parsed Avro schema: its connect schema and a compiled binary codec for connect values."""

    def __init__(self, schema: Any):
        if isinstance(schema, str):
            text = schema.strip()
            try:
                schema = json.loads(text)
            except ValueError:
                schema = text      # a bare primitive name
        self.raw = schema
        self.names: dict[str, Any] = {}
        self.connect = self._connect(schema, None, optional=False)
        self._names_c: dict[str, tuple] = {}
        self.encode_value, self.decode_value = self._codec(schema, None)

    # -- schema → connect --------------------------------------------------------------
    def _lookup(self, s: Any, ns: str | None):
        if isinstance(s, str) and s not in _PRIMS:
            full = s if "." in s or ns is None else f"{ns}.{s}"
            if full in self.names:
                return self.names[full], ns
            if s in self.names:
                return self.names[s], ns
            raise DataError(f"Unknown Avro type: {s}")
        return s, ns

    def _fullname(self, s: dict, ns: str | None) -> tuple[str, str | None]:
        name = s.get("name", "")
        if "." in name:
            return name, name.rpartition(".")[0]
        nspace = s.get("namespace", ns)
        return (f"{nspace}.{name}" if nspace else name), nspace

    def _connect(self, s: Any, ns: str | None, optional: bool) -> CSchema:
        if isinstance(s, list):
            non_null = [x for x in s if x != "null" and x != {"type": "null"}]
            has_null = len(non_null) != len(s)
            if len(non_null) == 1:
                return self._connect(non_null[0], ns, optional=has_null or optional)
            fields = []
            for i, x in enumerate(non_null):
                c = self._connect(x, ns, optional=True)
                fields.append((self._branch_name(x, ns, i), c))
            return CSchema("STRUCT", True, "io.confluent.connect.avro.Union", fields=fields)
        if isinstance(s, str) and s not in _PRIMS:
            full = s if "." in s or ns is None else f"{ns}.{s}"
            target = self.names.get(full) or self.names.get(s)
            if target is None:
                raise DataError(f"Unknown Avro type: {s}")
            return self._connect(target, ns, optional)
        t = s if isinstance(s, str) else s.get("type")
        if isinstance(t, (dict, list)):
            return self._connect(t, ns, optional)
        props = s if isinstance(s, dict) else {}
        logical = props.get("logicalType")
        if t == "record" or t == "error":
            full, nspace = self._fullname(s, ns)
            self.names[full] = s
            fields = [(f["name"], self._connect(f["type"], nspace, False))
                      for f in s.get("fields", [])]
            return CSchema("STRUCT", optional, full, fields=fields)
        if t == "enum":
            full, _ = self._fullname(s, ns)
            self.names[full] = s
            return CSchema("STRING", optional, doc={"symbols": s.get("symbols", [])})
        if t == "fixed":
            full, _ = self._fullname(s, ns)
            self.names[full] = s
            if logical == "decimal":
                return self._decimal(props, optional)
            return CSchema("BYTES", optional)
        if t == "array":
            items = s.get("items")
            item_s, ins = self._lookup(items, ns) if isinstance(items, str) else (items, ns)
            if isinstance(item_s, dict) and item_s.get("type") == "record" and (
                    item_s.get("connect.internal.type") == "MapEntry" or
                    item_s.get("name") in ("MapEntry", "io.confluent.connect.avro.MapEntry")):
                entry = self._connect(items, ns, False)
                k = entry.field("key")
                v = entry.field("value")
                if k is not None and v is not None:
                    return CSchema("MAP", optional, key=k, value=v,
                                   doc={"entry": True})
            return CSchema("ARRAY", optional, value=self._connect(items, ns, False))
        if t == "map":
            return CSchema("MAP", optional, key=CSchema("STRING", False),
                           value=self._connect(s.get("values"), ns, False))
        if t == "int":
            if logical == "date":
                return CSchema("INT32", optional, DATE_NAME)
            if logical == "time-millis":
                return CSchema("INT32", optional, TIME_NAME)
            ct = props.get("connect.type")
            if ct in ("int8", "int16"):
                return CSchema(ct.upper(), optional)
            return CSchema("INT32", optional)
        if t == "long":
            if logical == "timestamp-millis":
                return CSchema("INT64", optional, TIMESTAMP_NAME)
            return CSchema("INT64", optional)
        if t == "bytes":
            if logical == "decimal":
                return self._decimal(props, optional)
            return CSchema("BYTES", optional)
        simple = {"boolean": "BOOLEAN", "float": "FLOAT32", "double": "FLOAT64",
                  "string": "STRING"}
        if t in simple:
            return CSchema(simple[t], optional)
        if t == "null":
            return CSchema("STRING", True)
        raise DataError(f"Unsupported Avro type: {t}")

    @staticmethod
    def _decimal(props: dict, optional: bool) -> CSchema:
        scale = int(props.get("scale", 0))
        prec = int(props.get("precision", 64))
        return CSchema("BYTES", optional, DECIMAL_NAME,
                       {"scale": str(scale), PRECISION_PARAM: str(prec)})

    def _branch_name(self, x: Any, ns: str | None, i: int) -> str:
        if isinstance(x, str):
            return x
        t = x.get("type")
        if t in ("record", "enum", "fixed"):
            return self._fullname(x, ns)[0]
        return t if isinstance(t, str) else f"branch{i}"

    # -- binary codec ------------------------------------------------------------------
    def _codec(self, s: Any, ns: str | None) -> tuple[Callable, Callable]:
        if isinstance(s, list):
            return self._union(s, ns)
        if isinstance(s, str) and s not in _PRIMS:
            full = s if "." in s or ns is None else f"{ns}.{s}"
            key = full if full in self.names else s
            if key not in self.names:
                raise DataError(f"Unknown Avro type: {s}")
            if key in self._names_c:
                cell = self._names_c[key]
                return (lambda v, out: cell[0](v, out)), (lambda b, p: cell[1](b, p))
            return self._codec(self.names[key], ns)
        t = s if isinstance(s, str) else s.get("type")
        if isinstance(t, (dict, list)):
            return self._codec(t, ns)
        props = s if isinstance(s, dict) else {}
        logical = props.get("logicalType")
        if t == "null":
            return (lambda v, out: None), (lambda b, p: (None, p))
        if t == "boolean":
            return (lambda v, out: out.append(1 if v else 0)), \
                   (lambda b, p: (b[p] != 0, p + 1))
        if t in ("int", "long"):
            return _enc_long, _dec_long
        if t == "float":
            return (lambda v, out: out.extend(_st.pack("<f", float(v)))), \
                   (lambda b, p: (_st.unpack_from("<f", b, p)[0], p + 4))
        if t == "double":
            return (lambda v, out: out.extend(_st.pack("<d", float(v)))), \
                   (lambda b, p: (_st.unpack_from("<d", b, p)[0], p + 8))
        if t == "string":
            def enc_s(v, out):
                data = v.encode("utf-8") if isinstance(v, str) else bytes(v)
                _enc_long(len(data), out)
                out.extend(data)

            def dec_s(b, p):
                n, p = _dec_long(b, p)
                return bytes(b[p:p + n]).decode("utf-8", "replace"), p + n
            return enc_s, dec_s
        if t == "bytes":
            if logical == "decimal":
                scale = int(props.get("scale", 0))

                def enc_d(v, out):
                    data = _decimal_bytes(v, scale)
                    _enc_long(len(data), out)
                    out.extend(data)

                def dec_d(b, p):
                    n, p = _dec_long(b, p)
                    return _bytes_decimal(b[p:p + n], scale), p + n
                return enc_d, dec_d

            def enc_b(v, out):
                data = bytes(v)
                _enc_long(len(data), out)
                out.extend(data)

            def dec_b(b, p):
                n, p = _dec_long(b, p)
                return bytes(b[p:p + n]), p + n
            return enc_b, dec_b
        if t == "fixed":
            full, _ = self._fullname(s, ns)
            self.names[full] = s
            size = int(s["size"])
            if logical == "decimal":
                scale = int(props.get("scale", 0))

                def enc_fd(v, out):
                    out.extend(_decimal_bytes(v, scale, size))
                return enc_fd, (lambda b, p: (_bytes_decimal(b[p:p + size], scale), p + size))

            def enc_f(v, out):
                data = bytes(v)
                if len(data) != size:
                    raise DataError(f"Fixed of size {size} got {len(data)} bytes")
                out.extend(data)
            return enc_f, (lambda b, p: (bytes(b[p:p + size]), p + size))
        if t == "enum":
            full, _ = self._fullname(s, ns)
            self.names[full] = s
            symbols = list(s.get("symbols", []))
            index = {x: i for i, x in enumerate(symbols)}

            def enc_e(v, out):
                i = index.get(v)
                if i is None:
                    raise DataError(f"Unknown enum symbol: {v}")
                _enc_long(i, out)

            def dec_e(b, p):
                i, p = _dec_long(b, p)
                return symbols[i], p
            return enc_e, dec_e
        if t == "array":
            items = s.get("items")
            item_s = self._lookup(items, ns)[0] if isinstance(items, str) else items
            is_entry = isinstance(item_s, dict) and item_s.get("type") == "record" and (
                item_s.get("connect.internal.type") == "MapEntry" or
                item_s.get("name") in ("MapEntry", "io.confluent.connect.avro.MapEntry"))
            ienc, idec = self._codec(items, ns)
            if is_entry:
                def enc_me(v, out):
                    items_ = v.items() if isinstance(v, dict) else v
                    items_ = list(items_)
                    if items_:
                        _enc_long(len(items_), out)
                        for k, x in items_:
                            ienc({"key": k, "value": x}, out)
                    out.append(0)

                def dec_me(b, p):
                    lst, p = _dec_blocks(b, p, idec)
                    return {e.get("key"): e.get("value") for e in lst}, p
                return enc_me, dec_me

            def enc_a(v, out):
                if v:
                    _enc_long(len(v), out)
                    for x in v:
                        ienc(x, out)
                out.append(0)
            return enc_a, (lambda b, p: _dec_blocks(b, p, idec))
        if t == "map":
            venc, vdec = self._codec(s.get("values"), ns)

            def enc_m(v, out):
                items_ = list(v.items() if isinstance(v, dict) else v)
                if items_:
                    _enc_long(len(items_), out)
                    for k, x in items_:
                        data = str(k).encode("utf-8")
                        _enc_long(len(data), out)
                        out.extend(data)
                        venc(x, out)
                out.append(0)

            def dec_m(b, p):
                res = {}
                while True:
                    n, p = _dec_long(b, p)
                    if n == 0:
                        return res, p
                    if n < 0:
                        n = -n
                        _, p = _dec_long(b, p)
                    for _ in range(n):
                        kl, p = _dec_long(b, p)
                        k = bytes(b[p:p + kl]).decode("utf-8", "replace")
                        p += kl
                        res[k], p = vdec(b, p)
            return enc_m, dec_m
        if t in ("record", "error"):
            full, nspace = self._fullname(s, ns)
            self.names[full] = s
            cell: list = [None, None]
            self._names_c[full] = cell
            codecs = []
            for f in s.get("fields", []):
                fe, fd = self._codec(f["type"], nspace)
                codecs.append((f["name"], fe, fd, "default" in f, f.get("default")))

            def enc_r(v, out):
                if not isinstance(v, dict):
                    raise DataError(f"Expected a record for {full}, got {type(v).__name__}")
                for name, fe, _, has_def, default in codecs:
                    x = v.get(name)
                    if x is None and has_def and default is not None:
                        x = default     # AvroSRSchemaDataTranslator: the field's default
                    try:
                        fe(x, out)
                    except (TypeError, AttributeError):
                        raise DataError(f"Invalid value {x!r} for field {name}") from None

            def dec_r(b, p):
                rec = {}
                for name, _, fd, _, _ in codecs:
                    rec[name], p = fd(b, p)
                return rec, p
            cell[0], cell[1] = enc_r, dec_r
            return enc_r, dec_r
        raise DataError(f"Unsupported Avro type: {t}")

    def _union(self, branches: list, ns: str | None):
        codecs = [self._codec(x, ns) for x in branches]
        kinds = [self._kind(x, ns) for x in branches]
        null_idx = kinds.index("null") if "null" in kinds else None

        def pick(v) -> int:
            if v is None:
                if null_idx is None:
                    raise DataError("null value for a non-nullable union")
                return null_idx
            # a generic union's connect value is a struct {branch name: value}
            for i, k in enumerate(kinds):
                if k != "null" and _matches(k, v):
                    return i
            for i, k in enumerate(kinds):
                if k != "null":
                    return i
            raise DataError(f"No union branch for {v!r}")

        def enc_u(v, out):
            i = pick(v)
            _enc_long(i, out)
            codecs[i][0](v, out)

        def dec_u(b, p):
            i, p = _dec_long(b, p)
            return codecs[i][1](b, p)
        return enc_u, dec_u

    def _kind(self, x: Any, ns: str | None) -> str:
        if isinstance(x, str):
            if x in _PRIMS:
                return x
            target, _ = self._lookup(x, ns)
            return self._kind(target, ns)
        if isinstance(x, dict):
            t = x.get("type")
            if isinstance(t, (dict, list)):
                return self._kind(t, ns)
            if x.get("logicalType") == "decimal":
                return "decimal"
            return t
        return "union"

    def encode(self, value: Any) -> bytes:
        out = bytearray()
        self.encode_value(value, out)
        return bytes(out)

    def decode(self, data: bytes, pos: int = 0) -> Any:
        v, _ = self.decode_value(data, pos)
        return v


def _matches(kind: str, v: Any) -> bool:
    if kind == "boolean":
        return isinstance(v, bool)
    if kind in ("int", "long"):
        return isinstance(v, int) and not isinstance(v, bool)
    if kind in ("float", "double"):
        return isinstance(v, (float, int)) and not isinstance(v, bool)
    if kind in ("string", "enum"):
        return isinstance(v, str)
    if kind in ("bytes", "fixed"):
        return isinstance(v, (bytes, bytearray))
    if kind == "decimal":
        return isinstance(v, Decimal)
    if kind in ("record", "error"):
        return isinstance(v, dict)
    if kind == "map":
        return isinstance(v, dict)
    if kind == "array":
        return isinstance(v, (list, dict))
    return False


def _enc_long(n: int, out: bytearray) -> None:
    n = int(n)
    z = (n << 1) ^ (n >> 63)
    z &= (1 << 64) - 1
    while z & ~0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)


def _dec_long(b, p: int) -> tuple[int, int]:
    shift = 0
    z = 0
    while True:
        byte = b[p]
        p += 1
        z |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    return (z >> 1) ^ -(z & 1), p


def _dec_blocks(b, p: int, idec) -> tuple[list, int]:
    res = []
    while True:
        n, p = _dec_long(b, p)
        if n == 0:
            return res, p
        if n < 0:
            n = -n
            _, p = _dec_long(b, p)
        for _ in range(n):
            x, p = idec(b, p)
            res.append(x)


def _decimal_bytes(v: Any, scale: int, size: int | None = None) -> bytes:
    d = v if isinstance(v, Decimal) else Decimal(str(v))
    unscaled = int(d.scaleb(scale).to_integral_value())
    if size is None:
        length = max(1, (unscaled.bit_length() + 8) // 8)
    else:
        length = size
    return unscaled.to_bytes(length, "big", signed=True)


def _bytes_decimal(data, scale: int) -> Decimal:
    unscaled = int.from_bytes(bytes(data), "big", signed=True) if data else 0
    return Decimal(unscaled).scaleb(-scale)


def parse_avro(schema: Any) -> AvroSchema:
    return AvroSchema(schema)
