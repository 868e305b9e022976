"""JSON format: serialized JSON records ↔ Arrow columns, a whole batch at a time.

Decoding has two paths with identical results:

* fast: the records' bytes, already contiguous in the Arrow buffer, are parsed in one call
  to ``pyarrow.json.read_json`` (wrapped records must each start with ``{`` and end with
  ``}``, which keeps rows aligned with records; unwrapped ones are wrapped as
  ``{"v":…}``); tombstones (``null``) become ``{}`` first. Inferred columns are matched to the schema (exact name, else
  upper-cased JSON name) and cast. Anything it cannot reproduce exactly (type coercions,
  ambiguous names, compound columns, a malformed record…) raises internally and the chunk
  goes to the slow path. A parse failure bisects the batch so one bad record costs only
  its neighbourhood.
* slow: ``msgspec`` parses each record (floats as exact ``Decimal``) and
  :mod:`ksqlpy.formats.coerce` applies ksqlDB's coercion rules, reporting per-row errors.

Encoding builds each column's JSON text with Arrow string kernels and joins literal
fragments (``{"A":`` … ``,"B":`` … ``}``) with ``binary_join_element_wise``; BYTES and
compound columns and strings needing escapes are written per value.

Writing follows ksqlDB/Jackson: DECIMAL as a number with its scale, DOUBLE in
``Double.toString`` form (``1.0E10``), non-finite doubles as the strings ``"NaN"``,
``"Infinity"``, ``"-Infinity"`` (Jackson's QUOTE_NON_NUMERIC_NUMBERS default), BYTES base64,
TIMESTAMP epoch ms, DATE days, TIME ms of day.
"""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal
from typing import Sequence

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from ksqlpy.formats.base import Decoded, Encoded, FormatInfo, arrays_from_values, as_binary
from ksqlpy.formats.coerce import JSON_ENCODER, CoercionError, converter, record_converter
from ksqlpy.formats.javafmt import java_double_str, java_double_str_array
from ksqlpy.schema import Column
from ksqlpy.types import SqlType

__all__ = ["JsonFormat", "json_text", "wire_cast"]

_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_BISECT_MIN = 256
_PARSE_OPTS = pj.ParseOptions(newlines_in_values=True)
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'


class _ParseFailed(Exception):
    """Arrow could not parse the chunk (a malformed or non-object record somewhere)."""


class _NotFast(Exception):
    """The chunk parsed, but some column needs the exact record-level rules."""


class JsonFormat:
    """The JSON format for one side (key or value) of a source."""

    name = "JSON"

    def __init__(self, info: FormatInfo | None = None, is_key: bool = False):
        self.wrap_single = info.wrap_single if info is not None else None
        self.is_key = is_key

    def unwrapped(self, columns: Sequence[Column]) -> bool:
        if len(columns) != 1:
            return False
        return self.is_key or self.wrap_single is False

    # ------------------------------------------------------------------ decode
    def decode(self, data, columns: Sequence[Column]) -> Decoded:
        data = as_binary(data)
        columns = list(columns)
        if not columns:
            nulls = data.is_null()
            return Decoded([], {}, nulls if data.null_count else None)
        arrays, errors, nulls = self._decode_chunk(data, columns, self.unwrapped(columns))
        return Decoded(arrays, errors, nulls if pc.any(nulls).as_py() else None)

    def decode_slow(self, data, columns: Sequence[Column]) -> Decoded:
        """The record-level path alone (tests compare it with :meth:`decode`)."""
        data = as_binary(data)
        arrays, errors, nulls = self._slow(data, list(columns), self.unwrapped(columns))
        return Decoded(arrays, errors, nulls if pc.any(nulls).as_py() else None)

    def _decode_chunk(self, data, columns, unwrapped):
        n = len(data)
        if n == 0:
            return [pa.array([], c.type.to_arrow()) for c in columns], {}, pa.array([], pa.bool_())
        try:
            return self._fast(data, columns, unwrapped)
        except _NotFast:
            return self._slow(data, columns, unwrapped)
        except _ParseFailed:
            if n <= _BISECT_MIN:
                return self._slow(data, columns, unwrapped)
        mid = n // 2
        a1, e1, n1 = self._decode_chunk(data.slice(0, mid), columns, unwrapped)
        a2, e2, n2 = self._decode_chunk(data.slice(mid), columns, unwrapped)
        errors = dict(e1)
        errors.update({i + mid: m for i, m in e2.items()})
        arrays = [pa.concat_arrays([x, y]) for x, y in zip(a1, a2)]
        return arrays, errors, pa.concat_arrays([n1, n2])

    def _fast(self, data, columns, unwrapped):
        n = len(data)
        if any(c.type.base in ("ARRAY", "MAP", "STRUCT") for c in columns):
            raise _NotFast
        isnull = data.is_null()
        if unwrapped:
            doc = pc.binary_join_element_wise(
                pa.scalar(b'{"v":'), pc.fill_null(data, pa.scalar(b"null")),
                pa.scalar(b"}\n"), pa.scalar(b""))
        else:
            tomb = pc.fill_null(pc.equal(data, pa.scalar(b"null")), True)
            if pc.any(tomb).as_py():
                data = pc.if_else(tomb, pa.scalar(b"{}"), data)
            # Records are concatenated as they are. Each must start with '{' and end with
            # '}': then no record can merge with its neighbour into a valid object, so a
            # parse giving exactly n rows is aligned with the records.
            if not _braced(data):
                raise _ParseFailed
            doc = data
        table = _read_ndjson(doc)
        if table.num_rows != n:
            raise _ParseFailed
        names = table.column_names
        if unwrapped:
            if names != ["v"]:
                raise _NotFast
            col = table.column(0).combine_chunks()
            value = _fast_cast(col, columns[0].type)
            return [value], {}, pc.or_(isnull, col.is_null())
        arrays = []
        for c in columns:
            src = _match(names, c.name)
            if src is None:
                arrays.append(pa.nulls(n, c.type.to_arrow()))
            else:
                try:
                    arrays.append(_fast_cast(table.column(src).combine_chunks(), c.type))
                except pa.ArrowException:
                    raise _NotFast from None  # odd inferred types: the per-record path decides
        return arrays, {}, tomb

    def _slow(self, data, columns, unwrapped):
        n = len(data)
        rows = data.to_pylist()
        values = [[None] * n for _ in columns]
        nulls = [False] * n
        errors: dict[int, str] = {}
        if unwrapped:
            conv = converter(columns[0].type)
            col = values[0]
        else:
            conv = record_converter([(c.name, c.type) for c in columns])
            names = [c.name for c in columns]
        for i, raw in enumerate(rows):
            if raw is None:
                nulls[i] = True
                continue
            try:
                obj = _DECODER.decode(raw)
            except msgspec.DecodeError as e:
                errors[i] = f"Invalid JSON: {e}"
                continue
            if obj is None:
                nulls[i] = True
                continue
            try:
                if unwrapped:
                    col[i] = conv(obj)
                else:
                    rec = conv(obj)
                    for j, name in enumerate(names):
                        values[j][i] = rec[name]
            except CoercionError as e:
                errors[i] = f"{e.raw}, path: ${e.path}"
            except (ValueError, TypeError, OverflowError) as e:
                errors[i] = str(e)
        arrays = arrays_from_values(columns, values, errors, n)
        return arrays, errors, pa.array(nulls, pa.bool_())

    # ------------------------------------------------------------------ encode
    def encode(self, arrays: Sequence[pa.Array], columns: Sequence[Column]) -> Encoded:
        return self._encode(arrays, columns, fast=True)

    def encode_slow(self, arrays, columns) -> Encoded:
        """Every value written per value in Python (tests compare it with :meth:`encode`)."""
        return self._encode(arrays, columns, fast=False)

    def _encode(self, arrays, columns, fast):
        arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
        columns = list(columns)
        if not columns:
            return Encoded(pa.nulls(0, pa.binary()), {})
        texts = [json_text(a, c.type, fast) for a, c in zip(arrays, columns)]
        if self.unwrapped(columns):
            return Encoded(texts[0].cast(pa.binary()), {})
        parts: list = []
        for i, (c, t) in enumerate(zip(columns, texts)):
            key = JSON_ENCODER.encode(c.name).decode()
            parts.append(pa.scalar(("{" if i == 0 else ",") + key + ":"))
            parts.append(pc.fill_null(t, "null"))
        parts.append(pa.scalar("}"))
        parts.append(pa.scalar(""))
        out = pc.binary_join_element_wise(*parts)
        return Encoded(out.cast(pa.binary()), {})


# ---------------------------------------------------------------------- decode helpers
def _offsets(arr: pa.Array) -> np.ndarray:
    return np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1]


def _braced(data: pa.Array) -> bool:
    """Every record is non-empty, starts with '{' and ends with '}'."""
    off = _offsets(data)
    buf = data.buffers()[2]
    if buf is None:
        return False
    if not (off[1:] > off[:-1]).all():
        return False
    d = np.frombuffer(buf, dtype=np.uint8)
    return bool((d[off[:-1]] == 0x7B).all() and (d[off[1:] - 1] == 0x7D).all())


def _read_ndjson(doc: pa.Array) -> pa.Table:
    off = _offsets(doc)
    start, end = int(off[0]), int(off[-1])
    buf = doc.buffers()[2]
    if buf is None or end == start:
        raise _ParseFailed
    try:
        opts = pj.ReadOptions(use_threads=False, block_size=max(end - start + 1, 1 << 16))
        return pj.read_json(pa.BufferReader(buf.slice(start, end - start)),
                            read_options=opts, parse_options=_PARSE_OPTS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise _ParseFailed from e


def _match(names: list[str], col: str) -> str | None:
    """The JSON key feeding column ``col`` for every row, or _NotFast if rows may differ."""
    variants = [k for k in names if k != col and k.upper() == col]
    if col in names:
        if variants:        # per row: exact key when present, else a variant
            raise _NotFast
        return col
    if len(variants) > 1:   # per row: whichever variant the object has (last wins)
        raise _NotFast
    return variants[0] if variants else None


def _int_range(arr, lo, hi) -> bool:
    mm = pc.min_max(arr)
    mn, mx = mm["min"].as_py(), mm["max"].as_py()
    return mn is None or (mn >= lo and mx <= hi)


def _fast_cast(arr: pa.Array, t: SqlType) -> pa.Array:
    at = arr.type
    target = t.to_arrow()
    if pa.types.is_null(at):
        return pa.nulls(len(arr), target)
    b = t.base
    if b == "STRING":
        if at == pa.string():
            return arr
        if at == pa.int64() or at == pa.bool_():
            return arr.cast(pa.string())
    elif b in ("BIGINT", "TIMESTAMP"):
        if at == pa.int64():
            return arr if b == "BIGINT" else arr.cast(target)
    elif b in ("INTEGER", "DATE", "TIME"):
        if at == pa.int64() and _int_range(arr, -(1 << 31), (1 << 31) - 1):
            a32 = arr.cast(pa.int32())
            return a32 if b == "INTEGER" else a32.cast(target)
    elif b == "DOUBLE":
        if at == pa.float64():
            return arr
        if at == pa.int64():
            return arr.cast(pa.float64(), safe=False)
    elif b == "BOOLEAN":
        if at == pa.bool_():
            return arr
    elif b == "DECIMAL":
        digits = t.precision - t.scale
        if at == pa.int64() and t.scale <= 19 and (
                digits >= 19 or _int_range(arr, -(10 ** digits) + 1, 10 ** digits - 1)):
            return arr.cast(pa.decimal128(19 + t.scale, t.scale)).cast(target)
    elif b == "BYTES":
        if at == pa.string():
            try:
                return pa.array([None if s is None else base64.b64decode(s, validate=True)
                                 for s in arr.to_pylist()], pa.binary())
            except (binascii.Error, ValueError):
                raise _NotFast from None
    raise _NotFast


# ---------------------------------------------------------------------- encode helpers
def wire_cast(t: SqlType) -> pa.DataType:
    """The Arrow type whose ``to_pylist`` gives wire values (ints for temporal types)."""
    b = t.base
    if b in ("DATE", "TIME"):
        return pa.int32()
    if b == "TIMESTAMP":
        return pa.int64()
    if b == "ARRAY":
        return pa.list_(wire_cast(t.item))
    if b == "MAP":
        return pa.map_(wire_cast(t.key), wire_cast(t.item))
    if b == "STRUCT":
        return pa.struct([pa.field(n, wire_cast(ft)) for n, ft in t.fields])
    return t.to_arrow()


def _double_json(x: float) -> str:
    if x != x or x in (float("inf"), float("-inf")):
        return '"' + java_double_str(x) + '"'
    return java_double_str(x)


def _writer(t: SqlType):
    """Per-value JSON writer for wire values of ``t`` (non-null input)."""
    b = t.base
    if b == "STRING":
        return lambda v: JSON_ENCODER.encode(v).decode()
    if b in ("INTEGER", "BIGINT", "DATE", "TIME", "TIMESTAMP"):
        return str
    if b == "BOOLEAN":
        return lambda v: "true" if v else "false"
    if b == "DOUBLE":
        return _double_json
    if b == "DECIMAL":
        return lambda v: _trim_decimal(format(v, "f")) if t.scale else format(v, "f")
    if b == "BYTES":
        return lambda v: '"' + base64.b64encode(v).decode() + '"'
    if b == "ARRAY":
        w = _writer(t.item)
        return lambda v: "[" + ",".join("null" if x is None else w(x) for x in v) + "]"
    if b == "MAP":
        w = _writer(t.item)
        kw = _writer(t.key)

        def wmap(v):
            parts = []
            for k, x in v:
                ks = kw(k)
                if not ks.startswith('"'):
                    ks = '"' + ks + '"'
                parts.append(ks + ":" + ("null" if x is None else w(x)))
            return "{" + ",".join(parts) + "}"
        return wmap
    if b == "STRUCT":
        fw = [(n, JSON_ENCODER.encode(n).decode(), _writer(ft)) for n, ft in t.fields]

        def wstruct(v):
            return "{" + ",".join(
                k + ":" + ("null" if v[n] is None else w(v[n])) for n, k, w in fw) + "}"
        return wstruct
    raise ValueError(f"Type is not supported: {t}")


def _text_slow(arr: pa.Array, t: SqlType) -> pa.Array:
    w = _writer(t)
    vals = arr.cast(wire_cast(t)).to_pylist() if arr.type != wire_cast(t) else arr.to_pylist()
    return pa.array([None if v is None else w(v) for v in vals], pa.string())


def _decimal_text(text: pa.Array, t: SqlType) -> pa.Array:
    """ksqlDB keeps each decimal's own scale (it does not rescale values read from JSON),
    so 10.0 read into DECIMAL(6, 4) is written back as 10.0. Arrow decimals carry only the
    column's scale; trailing zeros are trimmed, keeping one fractional digit, which gives
    the value's scale back for values read from input."""
    if not t.scale:
        return text
    return pc.replace_substring_regex(text, _TRAILING_ZEROS, r"\1")


_TRAILING_ZEROS = r"(\.\d*?[0-9])0+$"


def _trim_decimal(text: str) -> str:
    """Per-value form of :func:`_decimal_text`."""
    import re

    return re.sub(_TRAILING_ZEROS, r"\1", text)


def json_text(arr: pa.Array, t: SqlType, fast: bool = True) -> pa.Array:
    """Each value of ``arr`` as JSON text (a string array; nulls stay null)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not fast:
        return _text_slow(arr, t)
    b = t.base
    if b == "STRING":
        s = arr if arr.type == pa.string() else arr.cast(pa.string())
        esc = pc.match_substring_regex(s, _NEEDS_ESCAPE)
        out = pc.binary_join_element_wise('"', s, '"', "")
        if pc.any(esc).as_py():
            idx = pc.indices_nonzero(pc.fill_null(esc, False))
            fixed = pa.array([JSON_ENCODER.encode(v).decode()
                              for v in s.take(idx).to_pylist()], pa.string())
            out = pc.replace_with_mask(out, pc.fill_null(esc, False), fixed)
        return out
    if b in ("INTEGER", "BIGINT"):
        return arr.cast(pa.string())
    if b in ("DATE", "TIME"):
        return arr.cast(pa.int32()).cast(pa.string())
    if b == "TIMESTAMP":
        return arr.cast(pa.int64()).cast(pa.string())
    if b == "BOOLEAN":
        return arr.cast(pa.string())
    if b == "DECIMAL":
        return _decimal_text(arr.cast(pa.string()), t)
    if b == "DOUBLE":
        text = java_double_str_array(arr)
        nonfinite = pc.invert(pc.is_finite(arr))
        if pc.any(nonfinite).as_py():
            text = pc.if_else(nonfinite, pc.binary_join_element_wise('"', text, '"', ""), text)
        return text
    return _text_slow(arr, t)
