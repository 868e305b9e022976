"""Plain Python values → Arrow arrays of a SQL type (for the conformance runner and tests).

Values are as written in ksqlDB's test files: ints, floats (or Decimals), strings, lists,
dicts, booleans, None. Conversion is lenient like the JSON reader (numeric strings become
numbers, anything becomes a STRING, decimals given as numbers or strings keep the column
scale) and also takes the strings ``"true"``/``"false"`` for BOOLEAN and lists of pairs for MAP.

>>> from ksqlpy.types import decimal, array, INTEGER
>>> to_arrow_array([1.1, "2", None], decimal(4, 2)).to_pylist()
[Decimal('1.10'), Decimal('2.00'), None]
>>> to_arrow_array([[1, "2"]], array(INTEGER)).to_pylist()
[[1, 2]]
"""

from __future__ import annotations

import pyarrow as pa

from ksqlpy.errors import SerdeError
from ksqlpy.formats.coerce import CoercionError, converter
from ksqlpy.types import SqlType

__all__ = ["to_arrow_array"]


def to_arrow_array(values: list, sql_type: SqlType) -> pa.Array:
    """Raises :class:`ksqlpy.errors.SerdeError` for a value that cannot be converted."""
    conv = converter(sql_type, lenient=True)
    out = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        try:
            out.append(conv(v))
        except CoercionError as e:
            raise SerdeError(f"{e.raw}, path: ${e.path}") from None
    return pa.array(out, sql_type.to_arrow())
