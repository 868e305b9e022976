"""Protobuf: a small ``.proto`` parser, proto3 wire codec, and connect-schema translation.

Hand-written rather than on the ``protobuf`` runtime: the runtime needs descriptors, which
would need a .proto compiler (or this same parser) plus descriptor-pool plumbing for the
well-known imports; the wire format itself is a few dozen lines. Values are connect values
(:mod:`ksqlpy.formats.connect`).

Translation follows Confluent's ``ProtobufData`` as ksqlDB configures it:

* messages are STRUCTs; ``int32``/``sint32``/``sfixed32`` INT32; ``uint32``/``fixed32`` and
  the 64-bit kinds INT64; ``float`` FLOAT32; ``double`` FLOAT64; enums STRING (symbol name);
  ``repeated`` ARRAY; ``map<K, V>`` MAP;
* well-known types: ``google.protobuf.Timestamp`` TIMESTAMP, ``google.type.Date`` DATE,
  ``google.type.TimeOfDay`` TIME, ``confluent.type.Decimal`` DECIMAL (precision and scale
  from ``confluent.field_meta`` params), ``google.protobuf.*Value`` wrappers nullable
  primitives;
* proto3 has no null: an unset scalar reads as its default (0, "", false) unless the field
  is ``optional`` or a wrapper; an unset message reads as null, an unset repeated/map as
  empty. Writing null leaves the field unset (so nulls come back as defaults, as in ksqlDB).
* generated schemas: root message ``fullSchemaName`` or ``ConnectDefault1``, nested
  messages ``ConnectDefault2``… declared inside their parent; the nullable representation
  ``OPTIONAL`` adds ``optional``, ``WRAPPER`` uses the wrapper types.
"""

from __future__ import annotations

import datetime as _dt
import re
import struct as _st
from decimal import Decimal
from typing import Any

from ksqlpy.formats.connect import (DATE_NAME, DECIMAL_NAME, PRECISION_PARAM, TIME_NAME,
                                    TIMESTAMP_NAME, CSchema, DataError, is_decimal)

__all__ = ["ProtoNative", "connect_to_proto", "read_indexes", "write_indexes", "parse_proto"]

_SCALARS = {
    "double": ("FLOAT64", 1), "float": ("FLOAT32", 5), "int32": ("INT32", 0),
    "int64": ("INT64", 0), "uint32": ("INT64", 0), "uint64": ("INT64", 0),
    "sint32": ("INT32", 0), "sint64": ("INT64", 0), "fixed32": ("INT64", 5),
    "fixed64": ("INT64", 1), "sfixed32": ("INT32", 5), "sfixed64": ("INT64", 1),
    "bool": ("BOOLEAN", 0), "string": ("STRING", 2), "bytes": ("BYTES", 2),
}
_WRAPPERS = {
    "google.protobuf.DoubleValue": "double", "google.protobuf.FloatValue": "float",
    "google.protobuf.Int64Value": "int64", "google.protobuf.UInt64Value": "uint64",
    "google.protobuf.Int32Value": "int32", "google.protobuf.UInt32Value": "uint32",
    "google.protobuf.BoolValue": "bool", "google.protobuf.StringValue": "string",
    "google.protobuf.BytesValue": "bytes",
}
_WELL_KNOWN = {"google.protobuf.Timestamp", "google.type.Date", "google.type.TimeOfDay",
               "confluent.type.Decimal"} | set(_WRAPPERS)
_EPOCH = _dt.date(1970, 1, 1)


# ----------------------------------------------------------------------------- parser

class _Field:
    def __init__(self, name, type_, number, label=None, key_type=None, options=None):
        self.name = name
        self.type = type_          # scalar name or (unresolved/resolved) message/enum name
        self.number = number
        self.label = label         # None | "optional" | "repeated"
        self.key_type = key_type   # for map<K, V>
        self.options = options or {}
        self.resolved = None       # _Message / _Enum / well-known name


class _Message:
    def __init__(self, name, full):
        self.name = name
        self.full = full
        self.fields: list[_Field] = []
        self.nested: list = []


class _Enum:
    def __init__(self, name, full):
        self.name = name
        self.full = full
        self.values: dict[int, str] = {}
        self.numbers: dict[str, int] = {}


_TOKEN = re.compile(r'\s+|//[^\n]*|/\*.*?\*/|"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|'
                    r'[A-Za-z_][A-Za-z0-9_.]*|-?\d+(?:\.\d+)?|\S', re.S)


def _tokens(text: str) -> list[str]:
    out = []
    for m in _TOKEN.finditer(text):
        t = m.group(0)
        if t.isspace() or t.startswith("//") or t.startswith("/*"):
            continue
        out.append(t)
    return out


class ProtoFile:
    def __init__(self, text: str, imports_text: dict[str, str] | None = None):
        self.package = ""
        self.messages: list[_Message] = []     # top level, in order
        self.all: dict[str, Any] = {}          # full name -> _Message/_Enum
        self.imports: list[str] = []
        self._parse(_tokens(text))
        for name, t in (imports_text or {}).items():
            other = ProtoFile(t)
            for k, v in other.all.items():
                self.all.setdefault(k, v)
        self._resolve()

    def _parse(self, toks):
        i = 0
        n = len(toks)
        while i < n:
            t = toks[i]
            if t == "syntax" or t == "option" or t == "edition":
                while toks[i] != ";":
                    i += 1
                i += 1
            elif t == "package":
                self.package = toks[i + 1]
                i += 3
            elif t == "import":
                j = i + 1
                if toks[j] in ("public", "weak"):
                    j += 1
                self.imports.append(toks[j].strip('"\''))
                i = j + 2
            elif t == "message":
                m, i = self._message(toks, i + 1, self.package)
                self.messages.append(m)
            elif t == "enum":
                e, i = self._enum(toks, i + 1, self.package)
            elif t == "service":
                i = self._skip_block(toks, i + 2)
            elif t == ";":
                i += 1
            else:
                raise DataError(f"Unexpected token in .proto: {t}")

    @staticmethod
    def _skip_block(toks, i):
        depth = 0
        while i < len(toks):
            if toks[i] == "{":
                depth += 1
            elif toks[i] == "}":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return i

    def _full(self, scope, name):
        return f"{scope}.{name}" if scope else name

    def _enum(self, toks, i, scope):
        name = toks[i]
        e = _Enum(name, self._full(scope, name))
        self.all[e.full] = e
        i += 2   # name {
        while toks[i] != "}":
            if toks[i] in ("option", "reserved"):
                while toks[i] != ";":
                    i += 1
                i += 1
                continue
            sym = toks[i]
            num = int(toks[i + 2])
            e.values.setdefault(num, sym)
            e.numbers[sym] = num
            i += 3
            if toks[i] == "[":
                while toks[i] != "]":
                    i += 1
                i += 1
            i += 1   # ;
        return e, i + 1

    def _options(self, toks, i):
        """Parse ``[ ... ]`` field options; returns (dict, next index)."""
        depth = 0
        start = i
        while True:
            if toks[i] in ("[", "{"):
                depth += 1
            elif toks[i] in ("]", "}"):
                depth -= 1
                if depth == 0:
                    break
            i += 1
        body = toks[start:i + 1]
        opts = {}
        # confluent.field_meta params: { key: "precision", value: "4" } (either order)
        entry: dict = {}
        for k in range(len(body)):
            if body[k] == "{":
                entry = {}
            elif body[k] in ("key", "value") and k + 2 < len(body) and body[k + 1] == ":":
                entry[body[k]] = body[k + 2].strip('"')
                if "key" in entry and "value" in entry:
                    opts[entry["key"]] = entry["value"]
                    entry = {}
        return opts, i + 1

    def _message(self, toks, i, scope):
        name = toks[i]
        m = _Message(name, self._full(scope, name))
        self.all[m.full] = m
        i += 2
        while toks[i] != "}":
            t = toks[i]
            if t == "message":
                sub, i = self._message(toks, i + 1, m.full)
                m.nested.append(sub)
            elif t == "enum":
                e, i = self._enum(toks, i + 1, m.full)
                m.nested.append(e)
            elif t in ("option", "reserved", "extensions"):
                while toks[i] != ";":
                    i += 1
                i += 1
            elif t == "oneof":
                i += 3
                while toks[i] != "}":
                    f, i = self._field(toks, i, None)
                    f.label = "optional"
                    m.fields.append(f)
                i += 1
            elif t == ";":
                i += 1
            else:
                f, i = self._field(toks, i, None)
                m.fields.append(f)
        return m, i + 1

    def _field(self, toks, i, label):
        if toks[i] in ("optional", "repeated", "required"):
            label = toks[i] if toks[i] != "required" else None
            i += 1
        key_type = None
        if toks[i] == "map":
            key_type = toks[i + 2]
            type_ = toks[i + 4]
            i += 6
            label = "map"
        else:
            type_ = toks[i]
            i += 1
        name = toks[i]
        number = int(toks[i + 2])
        i += 3
        opts = {}
        if toks[i] == "[":
            opts, i = self._options(toks, i)
        if toks[i] == ";":
            i += 1
        return _Field(name, type_, number, label, key_type, opts), i

    def _resolve(self):
        for full, m in list(self.all.items()):
            if not isinstance(m, _Message):
                continue
            for f in m.fields:
                f.resolved = self._lookup(f.type, m.full)

    def _lookup(self, name, scope):
        if name in _SCALARS:
            return name
        if name.startswith("."):
            name = name[1:]
        if name in _WELL_KNOWN:
            return name
        parts = scope.split(".") if scope else []
        while True:
            cand = ".".join(parts + [name]) if parts else name
            if cand in self.all:
                return self.all[cand]
            if not parts:
                break
            parts.pop()
        if name in self.all:
            return self.all[name]
        raise DataError(f"Unknown protobuf type: {name}")


def parse_proto(text: str, imports_text=None) -> ProtoFile:
    return ProtoFile(text, imports_text)


# ----------------------------------------------------------------------------- connect schema

def _field_connect(f: _Field, seen: set) -> CSchema:
    r = f.resolved
    if f.label == "map":
        kt = _scalar_connect(f.key_type, False)
        vt = _type_connect(r, f, seen, optional=True)
        return CSchema("MAP", True, key=kt, value=vt)
    if f.label == "repeated":
        return CSchema("ARRAY", True, value=_type_connect(r, f, seen, optional=False))
    return _type_connect(r, f, seen, optional=True)


def _scalar_connect(name: str, optional: bool) -> CSchema:
    return CSchema(_SCALARS[name][0], optional, doc={"proto": name})


def _type_connect(r, f: _Field, seen: set, optional: bool) -> CSchema:
    if isinstance(r, str):
        if r in _SCALARS:
            return _scalar_connect(r, optional)
        if r in _WRAPPERS:
            return CSchema(_SCALARS[_WRAPPERS[r]][0], True, doc={"proto": _WRAPPERS[r]})
        if r == "google.protobuf.Timestamp":
            return CSchema("INT64", True, TIMESTAMP_NAME)
        if r == "google.type.Date":
            return CSchema("INT32", True, DATE_NAME)
        if r == "google.type.TimeOfDay":
            return CSchema("INT32", True, TIME_NAME)
        if r == "confluent.type.Decimal":
            prec = f.options.get("precision", "64")
            scale = f.options.get("scale", "0")
            return CSchema("BYTES", True, DECIMAL_NAME,
                           {"scale": str(scale), PRECISION_PARAM: str(prec)})
    if isinstance(r, _Enum):
        return CSchema("STRING", optional, doc={"enum": r})
    if isinstance(r, _Message):
        if r.full in seen:
            raise DataError(f"Recursive protobuf message: {r.full}")
        return message_connect(r, seen | {r.full})
    raise DataError(f"Unsupported protobuf type: {r}")


def message_connect(m: _Message, seen: set | None = None) -> CSchema:
    seen = seen or {m.full}
    return CSchema("STRUCT", True, m.full,
                   fields=[(f.name, _field_connect(f, seen)) for f in m.fields])


# ----------------------------------------------------------------------------- wire codec

def _enc_varint(n: int, out: bytearray) -> None:
    n &= (1 << 64) - 1
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _dec_varint(b, p):
    shift = 0
    n = 0
    while True:
        x = b[p]
        p += 1
        n |= (x & 0x7F) << shift
        if not x & 0x80:
            return n, p
        shift += 7


def _signed(n: int, bits: int) -> int:
    n &= (1 << bits) - 1
    return n - (1 << bits) if n >> (bits - 1) else n


def _zz(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _unzz(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _enc_scalar(kind: str, v: Any, out: bytearray) -> None:
    if kind in ("int32", "int64", "uint32", "uint64"):
        _enc_varint(int(v), out)
    elif kind in ("sint32", "sint64"):
        _enc_varint(_zz(int(v)), out)
    elif kind == "bool":
        out.append(1 if v else 0)
    elif kind in ("fixed32", "sfixed32"):
        out.extend(_st.pack("<I" if kind == "fixed32" else "<i", int(v)))
    elif kind in ("fixed64", "sfixed64"):
        out.extend(_st.pack("<Q" if kind == "fixed64" else "<q", int(v)))
    elif kind == "float":
        out.extend(_st.pack("<f", float(v)))
    elif kind == "double":
        out.extend(_st.pack("<d", float(v)))
    elif kind == "string":
        data = str(v).encode("utf-8")
        _enc_varint(len(data), out)
        out.extend(data)
    elif kind == "bytes":
        data = bytes(v)
        _enc_varint(len(data), out)
        out.extend(data)


def _dec_scalar(kind: str, b, p):
    if kind in ("int32", "int64", "uint32", "uint64", "sint32", "sint64", "bool"):
        n, p = _dec_varint(b, p)
        if kind == "int32":
            return _signed(n, 32), p
        if kind == "int64":
            return _signed(n, 64), p
        if kind == "uint32":
            return n & 0xFFFFFFFF, p
        if kind == "uint64":
            return _signed(n, 64), p
        if kind in ("sint32", "sint64"):
            return _unzz(n), p
        return n != 0, p
    if kind == "fixed32":
        return _st.unpack_from("<I", b, p)[0], p + 4
    if kind == "sfixed32":
        return _st.unpack_from("<i", b, p)[0], p + 4
    if kind == "fixed64":
        return _signed(_st.unpack_from("<Q", b, p)[0], 64), p + 8
    if kind == "sfixed64":
        return _st.unpack_from("<q", b, p)[0], p + 8
    if kind == "float":
        return _st.unpack_from("<f", b, p)[0], p + 4
    if kind == "double":
        return _st.unpack_from("<d", b, p)[0], p + 8
    n, p = _dec_varint(b, p)
    data = bytes(b[p:p + n])
    if kind == "string":
        return data.decode("utf-8", "replace"), p + n
    return data, p + n


_DEFAULTS = {"STRING": "", "BYTES": b"", "BOOLEAN": False, "FLOAT32": 0.0, "FLOAT64": 0.0}


def _default(kind: str):
    return _DEFAULTS.get(_SCALARS[kind][0], 0)


def _wire_type(kind: str) -> int:
    return _SCALARS[kind][1]


def _skip(b, p, wt):
    if wt == 0:
        return _dec_varint(b, p)[1]
    if wt == 1:
        return p + 8
    if wt == 5:
        return p + 4
    if wt == 2:
        n, p = _dec_varint(b, p)
        return p + n
    raise DataError(f"Unsupported wire type {wt}")


def _decimal_msg(v: Any, f: _Field) -> bytes:
    d = v if isinstance(v, Decimal) else Decimal(str(v))
    scale = -d.as_tuple().exponent if d.as_tuple().exponent < 0 else 0
    unscaled = int(d.scaleb(scale).to_integral_value())
    out = bytearray()
    data = unscaled.to_bytes(max(1, (unscaled.bit_length() + 8) // 8), "big", signed=True)
    out.append(0x0A)
    _enc_varint(len(data), out)
    out.extend(data)
    prec = len(d.as_tuple().digits)
    out.append(0x10)
    _enc_varint(prec, out)
    if scale:
        out.append(0x18)
        _enc_varint(scale, out)
    return bytes(out)


def _encode_well_known(r: str, v: Any) -> bytes:
    out = bytearray()
    if r in _WRAPPERS:
        kind = _WRAPPERS[r]
        if v != _default(kind):
            _enc_key(1, _wire_type(kind), out)
            _enc_scalar(kind, v, out)
        return bytes(out)
    if r == "google.protobuf.Timestamp":
        ms = int(v)
        secs, rem = divmod(ms, 1000)
        if secs:
            _enc_key(1, 0, out)
            _enc_varint(secs, out)
        if rem:
            _enc_key(2, 0, out)
            _enc_varint(rem * 1_000_000, out)
        return bytes(out)
    if r == "google.type.Date":
        d = _EPOCH + _dt.timedelta(days=int(v))
        for num, x in ((1, d.year), (2, d.month), (3, d.day)):
            _enc_key(num, 0, out)
            _enc_varint(x, out)
        return bytes(out)
    if r == "google.type.TimeOfDay":
        ms = int(v)
        h, rem = divmod(ms, 3_600_000)
        mi, rem = divmod(rem, 60_000)
        s, ms = divmod(rem, 1000)
        for num, x in ((1, h), (2, mi), (3, s), (4, ms * 1_000_000)):
            if x:
                _enc_key(num, 0, out)
                _enc_varint(x, out)
        return bytes(out)
    raise DataError(f"Unsupported well-known type {r}")


def _decode_well_known(r: str, f: _Field, b) -> Any:
    vals: dict[int, Any] = {}
    p = 0
    while p < len(b):
        key, p = _dec_varint(b, p)
        num, wt = key >> 3, key & 7
        if r in _WRAPPERS and num == 1:
            vals[1], p = _dec_scalar(_WRAPPERS[r], b, p)
        elif r == "confluent.type.Decimal" and num == 1 and wt == 2:
            vals[1], p = _dec_scalar("bytes", b, p)
        elif wt == 0:
            n, p = _dec_varint(b, p)
            vals[num] = n
        else:
            p = _skip(b, p, wt)
    if r in _WRAPPERS:
        return vals.get(1, _default(_WRAPPERS[r]))
    if r == "google.protobuf.Timestamp":
        return _signed(vals.get(1, 0), 64) * 1000 + _signed(vals.get(2, 0), 32) // 1_000_000
    if r == "google.type.Date":
        y, m, d = vals.get(1, 0), vals.get(2, 0), vals.get(3, 0)
        if not y:
            return None
        return (_dt.date(y, m or 1, d or 1) - _EPOCH).days
    if r == "google.type.TimeOfDay":
        return (vals.get(1, 0) * 3_600_000 + vals.get(2, 0) * 60_000 + vals.get(3, 0) * 1000
                + vals.get(4, 0) // 1_000_000)
    if r == "confluent.type.Decimal":
        data = vals.get(1, b"")
        scale = _signed(vals.get(3, 0), 32)
        unscaled = int.from_bytes(data, "big", signed=True) if data else 0
        return Decimal(unscaled).scaleb(-scale)
    return None


def _enc_key(num: int, wt: int, out: bytearray) -> None:
    _enc_varint((num << 3) | wt, out)


def encode_message(m: _Message, v: dict) -> bytes:
    out = bytearray()
    for f in m.fields:
        x = v.get(f.name) if isinstance(v, dict) else None
        if x is None:
            continue
        r = f.resolved
        if f.label == "map":
            items = x.items() if isinstance(x, dict) else x
            for k, val in items:
                entry = bytearray()
                if k is not None:
                    _enc_key(1, _wire_type(f.key_type), entry)
                    _enc_scalar(f.key_type, k, entry)
                if val is not None:
                    _enc_single(r, f, 2, val, entry, force=True)
                _enc_key(f.number, 2, out)
                _enc_varint(len(entry), out)
                out.extend(entry)
        elif f.label == "repeated":
            if isinstance(r, str) and r in _SCALARS and r not in ("string", "bytes"):
                packed = bytearray()
                for e in x:
                    _enc_scalar(r, _default(r) if e is None else e, packed)
                _enc_key(f.number, 2, out)
                _enc_varint(len(packed), out)
                out.extend(packed)
            else:
                for e in x:
                    if e is None:
                        e = _default(r) if isinstance(r, str) and r in _SCALARS else \
                            ({} if isinstance(r, _Message) else e)
                    _enc_single(r, f, f.number, e, out, force=True)
        else:
            _enc_single(r, f, f.number, x, out, force=f.label == "optional")
    return bytes(out)


def _enc_single(r, f: _Field, num: int, x, out: bytearray, force: bool) -> None:
    if isinstance(r, str) and r in _SCALARS:
        if not force and x == _default(r) and not (isinstance(x, float) and
                                                   _st.pack("<d", x) != _st.pack("<d", 0.0)):
            return
        _enc_key(num, _wire_type(r), out)
        _enc_scalar(r, x, out)
        return
    if isinstance(r, _Enum):
        n = r.numbers.get(x)
        if n is None:
            raise DataError(f"Unknown enum symbol {x}")
        if not force and n == 0:
            return
        _enc_key(num, 0, out)
        _enc_varint(n, out)
        return
    if isinstance(r, _Message):
        body = encode_message(r, x)
    elif r == "confluent.type.Decimal":
        body = _decimal_msg(x, f)
    else:
        body = _encode_well_known(r, x)
    _enc_key(num, 2, out)
    _enc_varint(len(body), out)
    out.extend(body)


def decode_message(m: _Message, b) -> dict:
    by_num = {f.number: f for f in m.fields}
    out: dict[str, Any] = {}
    p = 0
    n = len(b)
    while p < n:
        key, p = _dec_varint(b, p)
        num, wt = key >> 3, key & 7
        f = by_num.get(num)
        if f is None:
            p = _skip(b, p, wt)
            continue
        r = f.resolved
        if f.label == "map":
            ln, p = _dec_varint(b, p)
            entry = b[p:p + ln]
            p += ln
            k, val = _decode_entry(f, entry)
            out.setdefault(f.name, {})[k] = val
            continue
        if f.label == "repeated":
            lst = out.setdefault(f.name, [])
            if wt == 2 and isinstance(r, str) and r in _SCALARS and r not in ("string", "bytes"):
                ln, p = _dec_varint(b, p)
                end = p + ln
                while p < end:
                    x, p = _dec_scalar(r, b, p)
                    lst.append(x)
                continue
            x, p = _dec_single(r, f, wt, b, p)
            lst.append(x)
            continue
        out[f.name], p = _dec_single(r, f, wt, b, p)
    for f in m.fields:
        if f.name in out:
            continue
        r = f.resolved
        if f.label == "repeated":
            out[f.name] = []
        elif f.label == "map":
            out[f.name] = {}
        elif f.label == "optional":
            out[f.name] = None
        elif isinstance(r, str) and r in _SCALARS:
            out[f.name] = _default(r)
        elif isinstance(r, _Enum):
            out[f.name] = r.values.get(0)
        else:
            out[f.name] = None
    return out


def _dec_single(r, f, wt, b, p):
    if isinstance(r, str) and r in _SCALARS:
        return _dec_scalar(r, b, p)
    if isinstance(r, _Enum):
        n, p = _dec_varint(b, p)
        n = _signed(n, 32)
        return r.values.get(n, str(n)), p
    ln, p = _dec_varint(b, p)
    body = b[p:p + ln]
    p += ln
    if isinstance(r, _Message):
        return decode_message(r, body), p
    return _decode_well_known(r, f, body), p


def _decode_entry(f: _Field, b):
    k = _default(f.key_type)
    val = None
    r = f.resolved
    p = 0
    while p < len(b):
        key, p = _dec_varint(b, p)
        num, wt = key >> 3, key & 7
        if num == 1:
            k, p = _dec_scalar(f.key_type, b, p)
        elif num == 2:
            val, p = _dec_single(r, f, wt, b, p)
        else:
            p = _skip(b, p, wt)
    if val is None:
        if isinstance(r, str) and r in _SCALARS:
            val = _default(r)
        elif isinstance(r, _Enum):
            val = r.values.get(0)
    return k, val


# ----------------------------------------------------------------------------- indexes

def write_indexes(indexes: list[int]) -> bytes:
    if not indexes or indexes == [0]:
        return b"\x00"
    out = bytearray()
    _enc_varint(_zz(len(indexes)), out)
    for i in indexes:
        _enc_varint(_zz(i), out)
    return bytes(out)


def read_indexes(b: bytes) -> tuple[list[int], bytes]:
    n, p = _dec_varint(b, 0)
    n = _unzz(n)
    if n == 0:
        return [0], b[p:]
    idx = []
    for _ in range(n):
        x, p = _dec_varint(b, p)
        idx.append(_unzz(x))
    return idx, b[p:]


# ----------------------------------------------------------------------------- native schema

class ProtoNative:
    """A registered/derived .proto schema: the message chosen by ``full_name`` (else the
    first), its connect schema, and the codec."""

    def __init__(self, text: str, *, full_name: str | None = None, properties=None,
                 references=(), registry=None):
        self.text = text
        imports = {}
        for ref in references or ():
            r = dict(ref)
            if registry is not None:
                got = registry.latest(r.get("subject") or r.get("name"))
                if got is not None:
                    imports[r.get("name")] = got.schema
        self.file = ProtoFile(text, imports)
        if not self.file.messages:
            raise DataError("Protobuf schema has no message")
        msg = None
        if full_name:
            msg = self.file.all.get(full_name) or next(
                (m for m in self.file.messages if m.name == full_name), None)
            if not isinstance(msg, _Message):
                raise DataError(f"Schema does not contain message {full_name}")
        self.message = msg or self.file.messages[0]
        self.indexes = self._index_of(self.message)
        self.connect = message_connect(self.message)

    def _index_of(self, msg: _Message) -> list[int]:
        def find(msgs, path):
            mi = 0
            for m in msgs:
                if not isinstance(m, _Message):
                    continue
                if m is msg:
                    return path + [mi]
                got = find(m.nested, path + [mi])
                if got:
                    return got
                mi += 1
            return None
        return find(self.file.messages, []) or [0]

    def _by_indexes(self, indexes: list[int]) -> _Message:
        msgs = self.file.messages
        m = None
        for i in indexes:
            only = [x for x in msgs if isinstance(x, _Message)]
            m = only[i]
            msgs = m.nested
        return m

    def encode(self, value: dict) -> bytes:
        return encode_message(self.message, value)

    def decode(self, data: bytes) -> dict:
        return decode_message(self.message, data)

    def decode_indexed(self, data: bytes, indexes: list[int]):
        m = self._by_indexes(indexes) if indexes != self.indexes else self.message
        if m is self.message:
            return decode_message(m, data), self.connect
        return decode_message(m, data), message_connect(m)


# ----------------------------------------------------------------------------- generation

_PROTO_OF = {"INT8": "int32", "INT16": "int32", "INT32": "int32", "INT64": "int64",
             "FLOAT32": "float", "FLOAT64": "double", "BOOLEAN": "bool", "STRING": "string",
             "BYTES": "bytes"}
_WRAPPER_OF = {"int32": "google.protobuf.Int32Value", "int64": "google.protobuf.Int64Value",
               "float": "google.protobuf.FloatValue", "double": "google.protobuf.DoubleValue",
               "bool": "google.protobuf.BoolValue", "string": "google.protobuf.StringValue",
               "bytes": "google.protobuf.BytesValue"}


def connect_to_proto(cs: CSchema, full_name: str | None = None, props: dict | None = None
                     ) -> str:
    """The .proto text ksqlDB generates for connect schema ``cs`` (a STRUCT)."""
    props = props or {}
    rep = str(props.get("nullableRepresentation") or "").upper()
    if cs.type != "STRUCT":
        raise DataError("PROTOBUF schemas must be messages")
    counter = [1]
    imports: set[str] = set()
    name = full_name or "ConnectDefault1"
    package = None
    if full_name and "." in full_name:
        package, _, name = full_name.rpartition(".")

    def message(s: CSchema, mname: str, indent: str) -> list[str]:
        lines = [f"{indent}message {mname} {{"]
        inner = indent + "  "
        for i, (fname, fs) in enumerate(s.fields, start=1):
            lines.extend(field(fname, fs, i, inner))
        lines.append(f"{indent}}}")
        return lines

    def nested_name() -> str:
        counter[0] += 1
        return f"ConnectDefault{counter[0]}"

    def type_of(fs: CSchema, inner: str, nested: list[str], in_container: bool) -> str:
        if fs.type == "STRUCT":
            nm = nested_name()
            nested.extend(message(fs, nm, inner))
            return nm
        if is_decimal(fs):
            imports.add("confluent/type/decimal.proto")
            return "confluent.type.Decimal"
        if fs.name == TIMESTAMP_NAME:
            imports.add("google/protobuf/timestamp.proto")
            return "google.protobuf.Timestamp"
        if fs.name == DATE_NAME:
            imports.add("google/type/date.proto")
            return "google.type.Date"
        if fs.name == TIME_NAME:
            imports.add("google/type/timeofday.proto")
            return "google.type.TimeOfDay"
        if fs.type in ("ARRAY", "MAP"):
            raise DataError("PROTOBUF does not support nested collections")
        base = _PROTO_OF[fs.type]
        if rep == "WRAPPER" and not in_container:
            imports.add("google/protobuf/wrappers.proto")
            return _WRAPPER_OF[base]
        return base

    def field(fname: str, fs: CSchema, num: int, inner: str) -> list[str]:
        nested: list[str] = []
        opts = ""
        if fs.type == "ARRAY":
            t = type_of(fs.value, inner, nested, True)
            line = f"{inner}repeated {t} {fname} = {num};"
        elif fs.type == "MAP":
            kt = _PROTO_OF.get(fs.key.type, "string")
            vt = type_of(fs.value, inner, nested, True)
            line = f"{inner}map<{kt}, {vt}> {fname} = {num};"
        else:
            t = type_of(fs, inner, nested, False)
            if is_decimal(fs):
                opts = (' [(confluent.field_meta) = { params: [ { key: "precision", value: "'
                        f'{fs.params.get(PRECISION_PARAM, 64)}" }}, {{ key: "scale", value: "'
                        f'{fs.params.get("scale", 0)}" }} ] }}]')
            label = "optional " if rep == "OPTIONAL" and t in _PROTO_OF.values() else ""
            line = f"{inner}{label}{t} {fname} = {num}{opts};"
        return nested + [line]

    body = message(cs, name, "")
    head = ['syntax = "proto3";', ""]
    if package:
        head += [f"package {package};", ""]
    for imp in sorted(imports):
        head.append(f'import "{imp}";')
    if imports:
        head.append("")
    return "\n".join(head + body) + "\n"
