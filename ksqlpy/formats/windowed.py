"""Windowed key wrappers (pipeline edges, windowed sources and sinks).

ksqlDB stores a windowed key as the inner key's bytes followed by the window bounds, as Kafka
Streams' ``TimeWindowedSerializer`` (inner + 8-byte big-endian start) and
``SessionWindowedSerializer`` (inner + 8-byte end + 8-byte start) do. A time window's end is
not stored: it is start + the window size, which the caller knows.

>>> import pyarrow as pa
>>> data = encode_windowed_key(pa.array([b"k"]), pa.array([1]), None, session=False)
>>> data.to_pylist()
[b'k\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01']
>>> [a.to_pylist() if a is not None else None for a in decode_windowed_key(data, False)]
[[b'k'], [1], None]
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.formats.base import as_binary

__all__ = ["encode_windowed_key", "decode_windowed_key"]


def _be_longs(arr) -> pa.Array:
    """int64 array → binary array of 8-byte big-endian values (nulls stay null)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not isinstance(arr, pa.Array):
        arr = pa.array(arr, pa.int64())
    arr = arr.cast(pa.int64())
    n = len(arr)
    vals = arr.fill_null(0).to_numpy(zero_copy_only=False).astype(">i8")
    offsets = np.arange(0, 8 * n + 1, 8, dtype=np.int32)
    validity = arr.buffers()[0] if arr.null_count else None
    if validity is not None and arr.offset:
        validity = pa.array(arr.is_valid().to_numpy(zero_copy_only=False)).buffers()[1]
    return pa.Array.from_buffers(pa.binary(), n, [validity, pa.py_buffer(offsets),
                                                  pa.py_buffer(vals.tobytes())],
                                 null_count=arr.null_count)


def encode_windowed_key(inner, start_ms, end_ms, session: bool) -> pa.Array:
    """Windowed key bytes from the inner key bytes and the window bounds."""
    inner = as_binary(inner)
    parts = [inner]
    if session:
        if end_ms is None:
            raise ValueError("session windowed keys need the window end")
        parts.append(_be_longs(end_ms))
    parts.append(_be_longs(start_ms))
    return pc.binary_join_element_wise(*parts, pa.scalar(b""))


def _tail_longs(tail: pa.Array) -> pa.Array:
    """binary array of 8-byte values (or nulls) → int64 array."""
    n = len(tail)
    filled = pc.fill_null(tail, pa.scalar(b"\0" * 8, pa.binary()))
    buf = filled.buffers()[2]
    offsets = np.frombuffer(filled.buffers()[1], dtype=np.int32)
    start = int(offsets[filled.offset])
    vals = np.frombuffer(buf, dtype=">i8", count=n, offset=start).astype(np.int64)
    return pa.array(vals, pa.int64(), mask=tail.is_null().to_numpy(zero_copy_only=False))


def decode_windowed_key(data, session: bool):
    """Split windowed key bytes into ``(inner, start, end_or_None)``.

    Records shorter than the window suffix (8 or 16 bytes) give nulls everywhere.
    """
    data = as_binary(data)
    suffix = 16 if session else 8
    ok = pc.fill_null(pc.greater_equal(pc.binary_length(data), suffix), False)
    data = pc.if_else(ok, data, pa.nulls(len(data), pa.binary()))
    inner = pc.binary_slice(data, 0, -suffix)
    start = _tail_longs(pc.binary_slice(data, -8))
    end = _tail_longs(pc.binary_slice(data, -16, -8)) if session else None
    return inner, start, end
