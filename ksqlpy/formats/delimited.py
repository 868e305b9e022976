"""DELIMITED format: CSV text records ↔ Arrow columns.

Like ksqlDB (Apache commons-csv, ``CSVFormat.DEFAULT`` with the chosen delimiter):

* reading: fields split on the delimiter; a field starting with ``"`` is quoted (``""`` is a
  literal quote, the delimiter and line breaks may appear inside); an empty field is null; a
  record with a different number of fields than columns is an error; only the first line of
  a record counts. INT/BIGINT/TIMESTAMP/DATE/TIME parse as Java integers, DOUBLE with
  ``Double.parseDouble``, BOOLEAN with ``Boolean.parseBoolean`` (``true`` in any case, else
  false), DECIMAL exactly (no rounding), BYTES from base64.
* writing: null is an empty field; DOUBLE in ``Double.toString`` form, DECIMAL plain with
  its scale; a field is quoted (quotes doubled) when commons-csv's MINIMAL mode would: it
  contains the delimiter, a quote or a line break, starts with a character <= ``#``, ends
  with one <= space, or (first field only) is empty or starts with a non-RFC-4180 character.

Rows are split with Arrow kernels; rows containing quotes or line breaks go through a small
per-record parser. Columns convert with Arrow kernels, with per-value fallbacks that name
the failing value.
"""

from __future__ import annotations

import base64
import binascii
import re
from decimal import Decimal, InvalidOperation
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.errors import AnalysisError
from ksqlpy.formats.base import Decoded, Encoded, FormatInfo, as_binary
from ksqlpy.formats.coerce import CoercionError, _parse_java_double, decimal_fit
from ksqlpy.formats.javafmt import java_double_str_array
from ksqlpy.schema import Column
from ksqlpy.types import SqlType

__all__ = ["DelimitedFormat", "parse_delimiter", "split_record"]

_INT_PATTERN = r"^[+-]?[0-9]+$"
_SIMPLE_DOUBLE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_BIGDEC_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


def parse_delimiter(value: str) -> str:
    """KEY_DELIMITER / VALUE_DELIMITER: one character, or the words SPACE and TAB."""
    if value is None or value == "":
        raise AnalysisError(
            "Delimiter cannot be empty, if you meant to have a tab or space for delimiter, "
            "please use the special values 'TAB' or 'SPACE'\nExample valid value: ';'")
    special = {"SPACE": " ", "TAB": "\t"}
    if value.upper() in special and len(value) > 1:
        return special[value.upper()]
    if len(value) != 1:
        raise AnalysisError(
            f"Invalid delimiter value: '{value}'. Delimiter must be a single character or "
            "TAB or SPACE\nExample valid value: ';'")
    return value


class _CsvError(Exception):
    pass


def split_record(text: str, delim: str) -> list[str]:
    """Fields of the first CSV record in ``text`` (commons-csv DEFAULT rules)."""
    fields: list[str] = []
    i, n = 0, len(text)
    # ignoreEmptyLines: skip leading line breaks
    while i < n and text[i] in "\r\n":
        i += 1
    if i >= n:
        return []
    while True:
        if i < n and text[i] == '"':
            i += 1
            buf = []
            while True:
                j = text.find('"', i)
                if j < 0:
                    raise _CsvError("EOF reached before encapsulated token finished")
                buf.append(text[i:j])
                if j + 1 < n and text[j + 1] == '"':
                    buf.append('"')
                    i = j + 2
                    continue
                i = j + 1
                break
            # only whitespace may follow the closing quote
            while i < n and text[i] != delim and text[i] not in "\r\n" and text[i].isspace():
                i += 1
            if i < n and text[i] != delim and text[i] not in "\r\n":
                raise _CsvError("invalid char between encapsulated token and delimiter")
            fields.append("".join(buf))
        else:
            j = i
            while j < n and text[j] != delim and text[j] not in "\r\n":
                j += 1
            fields.append(text[i:j])
            i = j
        if i >= n or text[i] in "\r\n":
            return fields
        i += 1          # the delimiter
        if i >= n:
            fields.append("")
            return fields


class DelimitedFormat:
    name = "DELIMITED"

    def __init__(self, info: FormatInfo | None = None, is_key: bool = False):
        props = {k.lower(): v for k, v in ((info.properties if info else None) or {}).items()}
        self.delimiter = parse_delimiter(props["delimiter"]) if props.get("delimiter") else ","
        self.wrap_single = info.wrap_single if info is not None else None
        self.is_key = is_key

    def unwrapped(self, columns) -> bool:
        return len(columns) == 1 and (self.is_key or self.wrap_single is False)

    # ------------------------------------------------------------------ decode
    def decode(self, data, columns: Sequence[Column]) -> Decoded:
        data = as_binary(data)
        columns = list(columns)
        n, ncols = len(data), len(columns)
        isnull = data.is_null()
        null_rows = isnull if data.null_count else None
        if not columns:
            return Decoded([], {}, null_rows)
        try:
            text = data.cast(pa.string())
        except pa.ArrowInvalid:
            text = pa.array([None if v is None else v.decode("utf-8", "replace")
                             for v in data.to_pylist()], pa.string())
        errors: dict[int, str] = {}
        special = pc.fill_null(pc.or_(pc.match_substring_regex(text, '["\r\n]'),
                                      pc.equal(pc.binary_length(text), 0)), False)
        if not pc.any(special).as_py():
            parts = pc.split_pattern(text, self.delimiter)
            counts = pc.list_value_length(parts)
            bad = pc.fill_null(pc.not_equal(counts, ncols), False)
            if pc.any(bad).as_py():
                for i, c in zip(pc.indices_nonzero(bad).to_pylist(),
                                counts.filter(bad).to_pylist()):
                    errors[i] = f"Unexpected field count, csvFields:{c} schemaFields:{ncols}"
                parts = pc.if_else(bad, pa.nulls(n, parts.type), parts)
            fields = [pc.list_element(parts, j) for j in range(ncols)]
        else:
            cols: list[list] = [[None] * n for _ in range(ncols)]
            for i, s in enumerate(text.to_pylist()):
                if s is None:
                    continue
                try:
                    rec = split_record(s, self.delimiter)
                except _CsvError as e:
                    errors[i] = f"Error deserializing delimited row: {e}"
                    continue
                if not rec:
                    if ncols == 1:
                        continue        # an empty record is a single null field
                    errors[i] = "No fields in record"
                    continue
                if len(rec) != ncols:
                    errors[i] = (f"Unexpected field count, csvFields:{len(rec)} "
                                 f"schemaFields:{ncols}")
                    continue
                for j, f in enumerate(rec):
                    cols[j][i] = f
            fields = [pa.array(c, pa.string()) for c in cols]
        arrays = []
        for c, f in zip(columns, fields):
            arrays.append(_convert_column(f, c.type, errors))
        if errors:
            bad = np.zeros(n, dtype=bool)
            bad[list(errors)] = True
            mask = pa.array(bad)
            arrays = [pc.if_else(mask, pa.nulls(n, a.type), a) for a in arrays]
        return Decoded(arrays, errors, null_rows)

    # ------------------------------------------------------------------ encode
    def encode(self, arrays: Sequence[pa.Array], columns: Sequence[Column], *,
               num_rows: int | None = None) -> Encoded:
        columns = list(columns)
        if not columns:
            return Encoded(pa.nulls(num_rows or 0, pa.binary()), {})
        arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
        texts = []
        for j, (a, c) in enumerate(zip(arrays, columns)):
            t = _field_text(a, c.type)
            texts.append(_quote(t, self.delimiter, first=(j == 0)))
        if self.unwrapped(columns):
            return Encoded(texts[0].cast(pa.binary()), {})
        out = pc.binary_join_element_wise(*[pc.fill_null(t, "") for t in texts],
                                          self.delimiter)
        return Encoded(out.cast(pa.binary()), {})


# -------------------------------------------------------------------------- columns
def _per_value(strs: pa.Array, parse, target: pa.DataType, errors: dict[int, str]):
    out = []
    for i, s in enumerate(strs.to_pylist()):
        if s is None:
            out.append(None)
            continue
        try:
            out.append(parse(s))
        except (CoercionError, ValueError, InvalidOperation, binascii.Error) as e:
            errors.setdefault(i, str(e) or f'For input string: "{s}"')
            out.append(None)
    return pa.array(out, target)


def _java_int(bits: int):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def parse(s):
        if not re.fullmatch(r"[+-]?[0-9]+", s):
            raise ValueError(f'For input string: "{s}"')
        x = int(s)
        if not lo <= x <= hi:
            raise ValueError(f'For input string: "{s}"')
        return x
    return parse


def _double(s):
    try:
        return _parse_java_double(s)
    except CoercionError:
        raise ValueError(f'For input string: "{s}"') from None


def _decimal(t: SqlType):
    def parse(s):
        if not _BIGDEC_RE.match(s):
            raise ValueError(f'Invalid decimal: "{s}"')
        return decimal_fit(Decimal(s), t.precision, t.scale)
    return parse


def _b64(s):
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"Value is not a valid Base64 encoded string: {s}") from None


def _convert_column(strs: pa.Array, t: SqlType, errors: dict[int, str]) -> pa.Array:
    strs = pc.if_else(pc.equal(pc.binary_length(strs), 0), pa.nulls(len(strs), pa.string()),
                      strs)
    b = t.base
    target = t.to_arrow()
    if b == "STRING":
        return strs
    if b == "BOOLEAN":
        return pc.equal(pc.utf8_lower(strs), "true")
    if b in ("INTEGER", "BIGINT", "DATE", "TIME", "TIMESTAMP"):
        bits = 64 if b in ("BIGINT", "TIMESTAMP") else 32
        itype = pa.int64() if bits == 64 else pa.int32()
        ok = pc.all(pc.match_substring_regex(strs, _INT_PATTERN)).as_py() is not False
        ints = None
        if ok:
            try:
                ints = strs.cast(itype)
            except pa.ArrowInvalid:
                ints = None
        if ints is None:
            ints = _per_value(strs, _java_int(bits), itype, errors)
        return ints if b in ("INTEGER", "BIGINT") else ints.cast(target)
    if b == "DOUBLE":
        if pc.all(pc.match_substring_regex(strs, _SIMPLE_DOUBLE)).as_py() is not False:
            return strs.cast(pa.float64())
        return _per_value(strs, _double, pa.float64(), errors)
    if b == "DECIMAL":
        return _per_value(strs, _decimal(t), target, errors)
    if b == "BYTES":
        return _per_value(strs, _b64, pa.binary(), errors)
    raise ValueError(f"The 'DELIMITED' format does not support type '{b}'")


def _field_text(a: pa.Array, t: SqlType) -> pa.Array:
    b = t.base
    if b == "STRING":
        return a if a.type == pa.string() else a.cast(pa.string())
    if b == "DOUBLE":
        return java_double_str_array(a)
    if b in ("INTEGER", "BIGINT", "BOOLEAN", "DECIMAL"):
        return a.cast(pa.string())
    if b in ("DATE", "TIME"):
        return a.cast(pa.int32()).cast(pa.string())
    if b == "TIMESTAMP":
        return a.cast(pa.int64()).cast(pa.string())
    if b == "BYTES":
        return pa.array([None if v is None else base64.b64encode(v).decode()
                         for v in a.to_pylist()], pa.string())
    raise ValueError(f"The 'DELIMITED' format does not support type '{b}'")


def _quote(t: pa.Array, delim: str, first: bool) -> pa.Array:
    """commons-csv QuoteMode.MINIMAL over a column of field texts."""
    d = re.escape(delim)
    pattern = rf'^[\x00-\x23]|["\r\n{d}]|[\x00-\x20]$'
    if first:
        # RFC 4180 TEXTDATA check on the first field of a record, and the empty first field
        pattern = r'^$|^[\x00-\x1f"\x22,]|^[^\x00-\x7e]|' + pattern
    need = pc.fill_null(pc.match_substring_regex(t, pattern), False)
    if not pc.any(need).as_py():
        return t
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(t, '"', '""'), '"', "")
    return pc.if_else(need, quoted, t)
