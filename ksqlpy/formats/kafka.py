"""KAFKA format: Kafka's primitive serializers ↔ one Arrow column.

INTEGER is 4 bytes big-endian, BIGINT 8 bytes big-endian, DOUBLE 8-byte IEEE 754 big-endian,
STRING UTF-8, BYTES raw. At most one column; a side with no columns ignores its bytes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.formats.base import Decoded, Encoded, FormatInfo, as_binary
from ksqlpy.schema import Column

__all__ = ["KafkaFormat"]

_FIXED = {"INTEGER": (4, ">i4", np.int32, pa.int32(), "IntegerDeserializer"),
          "BIGINT": (8, ">i8", np.int64, pa.int64(), "LongDeserializer"),
          "DOUBLE": (8, ">f8", np.float64, pa.float64(), "DoubleDeserializer")}


class KafkaFormat:
    name = "KAFKA"

    def __init__(self, info: FormatInfo | None = None, is_key: bool = False):
        self.is_key = is_key

    def decode(self, data, columns: Sequence[Column]) -> Decoded:
        data = as_binary(data)
        columns = list(columns)
        if not columns:
            return Decoded([], {}, None)
        if len(columns) > 1:
            raise ValueError("The 'KAFKA' format only supports a single field")
        t = columns[0].type
        isnull = data.is_null()
        null_rows = isnull if data.null_count else None
        errors: dict[int, str] = {}
        b = t.base
        if b in _FIXED:
            width, dtype, np_type, pa_type, deser = _FIXED[b]
            bad = pc.fill_null(pc.not_equal(pc.binary_length(data), width), False)
            if pc.any(bad).as_py():
                for i in pc.indices_nonzero(bad).to_pylist():
                    errors[i] = f"Size of data received by {deser} is not {width}"
            invalid = pc.or_(isnull, bad)
            filled = pc.if_else(invalid, pa.scalar(b"\0" * width, pa.binary()), data)
            offsets = np.frombuffer(filled.buffers()[1], dtype=np.int32)
            start = int(offsets[filled.offset])
            vals = np.frombuffer(filled.buffers()[2], dtype=dtype, count=len(data),
                                 offset=start).astype(np_type)
            arr = pa.array(vals, pa_type, mask=invalid.to_numpy(zero_copy_only=False))
        elif b == "STRING":
            try:
                arr = data.cast(pa.string())
            except pa.ArrowInvalid:
                # Java's String(bytes, UTF_8) replaces malformed input with U+FFFD
                arr = pa.array([None if v is None else v.decode("utf-8", "replace")
                                for v in data.to_pylist()], pa.string())
        elif b == "BYTES":
            arr = data
        else:
            raise ValueError(f"The 'KAFKA' format does not support type '{b}'")
        return Decoded([arr], errors, null_rows)

    def encode(self, arrays: Sequence[pa.Array], columns: Sequence[Column], *,
               num_rows: int | None = None) -> Encoded:
        columns = list(columns)
        if not columns:
            n = num_rows if num_rows is not None else 0
            return Encoded(pa.nulls(n, pa.binary()), {})
        arr = arrays[0]
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        b = columns[0].type.base
        if b in _FIXED:
            width, dtype, np_type, pa_type, _ = _FIXED[b]
            arr = arr.cast(pa_type)
            n = len(arr)
            vals = arr.fill_null(0).to_numpy(zero_copy_only=False).astype(dtype)
            offsets = np.arange(0, width * n + 1, width, dtype=np.int32)
            mask = arr.is_null()
            out = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets),
                                                         pa.py_buffer(vals.tobytes())])
            if arr.null_count:
                out = pc.if_else(mask, pa.nulls(n, pa.binary()), out)
            return Encoded(out, {})
        if b in ("STRING", "BYTES"):
            return Encoded(arr.cast(pa.binary()), {})
        raise ValueError(f"The 'KAFKA' format does not support type '{b}'")
