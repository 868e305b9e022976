"""Miscellaneous: AS_VALUE."""

from __future__ import annotations

from ksqlpy.expr.registry import scalar

as_value = scalar("AS_VALUE", "OTHER", "Copy a key column into the value.")
as_value.add(["T"], "T", lambda c: c.args[0])
