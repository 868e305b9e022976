"""Numbers from bytes: INT_FROM_BYTES, BIGINT_FROM_BYTES, DOUBLE_FROM_BYTES."""

from __future__ import annotations

import struct

from ksqlpy.expr.registry import scalar

CAT = "CONVERSIONS"


def _from_bytes(fmt: str, size: int):
    def f(b, order="BIG_ENDIAN"):
        b = bytes(b)
        if len(b) != size:
            raise ValueError(f"Number of bytes must be equal to {size}, but found {len(b)}")
        o = order.upper()
        if o not in ("BIG_ENDIAN", "LITTLE_ENDIAN"):
            raise ValueError(f"Byte order must be BIG_ENDIAN or LITTLE_ENDIAN: {order}")
        return struct.unpack((">" if o == "BIG_ENDIAN" else "<") + fmt, b)[0]
    return f


for _name, _fmt, _size, _ret in (("INT_FROM_BYTES", "i", 4, "INTEGER"),
                                 ("BIGINT_FROM_BYTES", "q", 8, "BIGINT"),
                                 ("DOUBLE_FROM_BYTES", "d", 8, "DOUBLE")):
    _spec = scalar(_name, CAT, f"Convert a {_size}-byte array to {_ret}.")
    _f = _from_bytes(_fmt, _size)
    _spec.add(["BYTES"], _ret, lambda c, f=_f: c.rowwise(f))
    _spec.add(["BYTES", "STRING"], _ret, lambda c, f=_f: c.rowwise(f))
