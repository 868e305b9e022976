"""NONE format: "no columns on this side" (key-only in ksqlDB). Nothing in, null bytes out."""

from __future__ import annotations

from typing import Sequence

import pyarrow as pa

from ksqlpy.formats.base import Decoded, Encoded, FormatInfo, as_binary
from ksqlpy.schema import Column

__all__ = ["NoneFormat"]


class NoneFormat:
    name = "NONE"

    def __init__(self, info: FormatInfo | None = None, is_key: bool = True):
        self.is_key = is_key

    def decode(self, data, columns: Sequence[Column]) -> Decoded:
        as_binary(data)
        return Decoded([], {}, None)

    def encode(self, arrays: Sequence[pa.Array], columns: Sequence[Column], *,
               num_rows: int | None = None) -> Encoded:
        n = num_rows if num_rows is not None else (len(arrays[0]) if arrays else 0)
        return Encoded(pa.nulls(n, pa.binary()), {})
