"""Date and time functions. Patterns are Java ``DateTimeFormatter`` patterns."""

from __future__ import annotations

import datetime as _dt
import time as _time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from ksqlpy.errors import AnalysisError
from ksqlpy.expr.compiler import Node, ksql_text
from ksqlpy.expr.javatime import format_dt, parse_dt, zone
from ksqlpy.expr.registry import Call, resolve, scalar
from ksqlpy.expr.runtime import null_mask
from ksqlpy.types import INTEGER

CAT = "DATE / TIME"
UTC = _dt.timezone.utc
EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DATE = _dt.date(1970, 1, 1)


def _ms_to_dt(ms: int, tz: _dt.tzinfo = UTC) -> _dt.datetime:
    return (EPOCH + _dt.timedelta(milliseconds=ms)).astimezone(tz)


def _dt_to_ms(d: _dt.datetime) -> int:
    delta = d - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _local_to_ms(local: _dt.datetime, tz: _dt.tzinfo | None) -> int:
    return _dt_to_ms(local.replace(tzinfo=tz or UTC))


def _ms_of(v) -> int:
    """TIMESTAMP python value (naive datetime, UTC) → epoch ms."""
    return _dt_to_ms(v.replace(tzinfo=UTC))


def _ts_millis(c: Call, i: int) -> list:
    return c.args[i].cast(pa.int64()).to_pylist()


# ---------------------------------------------------------------- format / parse timestamp

def _format_ts(c: Call) -> pa.Array:
    ms = _ts_millis(c, 0)
    rest = [a.to_pylist() for a in c.args[1:]]
    out = []
    for i, v in enumerate(ms):
        args = [r[i] for r in rest]
        if v is None or any(a is None for a in args):
            out.append(None)
            continue
        try:
            tz = zone(args[1]) if len(args) > 1 else UTC
            out.append(format_dt(_ms_to_dt(v, tz), args[0]))
        except Exception as e:  # noqa: BLE001
            c.error(i, f"Failed to format timestamp {v} with formatter '{args[0]}': {e}")
            out.append(None)
    return pa.array(out, pa.string())


def _parse_ts_ms(c: Call) -> list:
    vals = [a.to_pylist() for a in c.args]
    out = []
    for i in range(c.n):
        args = [v[i] for v in vals]
        if any(a is None for a in args):
            out.append(None)
            continue
        try:
            tz = zone(args[2]) if len(args) > 2 else None
            local, ztz, _ = parse_dt(args[0], args[1], tz)
            out.append(_local_to_ms(local, ztz))
        except Exception as e:  # noqa: BLE001
            c.error(i, f"Failed to parse timestamp '{args[0]}' with formatter '{args[1]}': {e}")
            out.append(None)
    return out


fmt_ts = scalar("FORMAT_TIMESTAMP", CAT, "Format a TIMESTAMP with a pattern and optional zone.")
fmt_ts.add(["TIMESTAMP", "STRING"], "STRING", _format_ts)
fmt_ts.add(["TIMESTAMP", "STRING", "STRING"], "STRING", _format_ts)
parse_ts = scalar("PARSE_TIMESTAMP", CAT, "Parse a string into a TIMESTAMP.")
for _sig in (["STRING", "STRING"], ["STRING", "STRING", "STRING"]):
    parse_ts.add(_sig, "TIMESTAMP",
                 lambda c: pa.array(_parse_ts_ms(c), pa.int64()).cast(pa.timestamp("ms")))

ts2s = scalar("TIMESTAMPTOSTRING", CAT, "Format epoch millis (BIGINT) with a pattern.")
ts2s.add(["BIGINT", "STRING"], "STRING", _format_ts)
ts2s.add(["BIGINT", "STRING", "STRING"], "STRING", _format_ts)
s2ts = scalar("STRINGTOTIMESTAMP", CAT, "Parse a string into epoch millis (BIGINT).")
for _sig in (["STRING", "STRING"], ["STRING", "STRING", "STRING"]):
    s2ts.add(_sig, "BIGINT", lambda c: pa.array(_parse_ts_ms(c), pa.int64()))


# ---------------------------------------------------------------- dates and times

def _format_date(c: Call) -> pa.Array:
    days = c.args[0].cast(pa.int32()).to_pylist()
    pats = c.args[1].to_pylist()
    out = []
    for i, (d, p) in enumerate(zip(days, pats)):
        if d is None or p is None:
            out.append(None)
            continue
        try:
            out.append(format_dt(EPOCH_DATE + _dt.timedelta(days=d), p))
        except Exception as e:  # noqa: BLE001
            c.error(i, f"Failed to format date {d} with formatter '{p}': {e}")
            out.append(None)
    return pa.array(out, pa.string())


def _parse_days(c: Call) -> list:
    out = []
    for i, (s, p) in enumerate(zip(c.args[0].to_pylist(), c.args[1].to_pylist())):
        if s is None or p is None:
            out.append(None)
            continue
        try:
            local, _, seen = parse_dt(s, p)
            if seen & set("HhkKmsSna"):
                raise ValueError("Date format contains time field.")
            out.append((local.date() - EPOCH_DATE).days)
        except Exception as e:  # noqa: BLE001
            c.error(i, f"Failed to parse date '{s}' with formatter '{p}': {e}")
            out.append(None)
    return out


fmt_date = scalar("FORMAT_DATE", CAT, "Format a DATE with a pattern.")
fmt_date.add(["DATE", "STRING"], "STRING", _format_date)
parse_date = scalar("PARSE_DATE", CAT, "Parse a string into a DATE.")
parse_date.add(["STRING", "STRING"], "DATE",
               lambda c: pa.array(_parse_days(c), pa.int32()).cast(pa.date32()))
d2s = scalar("DATETOSTRING", CAT, "Format days since epoch (INT) with a pattern.")
d2s.add(["INTEGER", "STRING"], "STRING", _format_date)
s2d = scalar("STRINGTODATE", CAT, "Parse a string into days since epoch (INT).")
s2d.add(["STRING", "STRING"], "INTEGER", lambda c: pa.array(_parse_days(c), pa.int32()))


def _format_time(c: Call) -> pa.Array:
    ms = c.args[0].cast(pa.int32()).to_pylist()
    out = []
    for i, (v, p) in enumerate(zip(ms, c.args[1].to_pylist())):
        if v is None or p is None:
            out.append(None)
            continue
        try:
            t = (_dt.datetime(1970, 1, 1) + _dt.timedelta(milliseconds=v))
            out.append(format_dt(t, p))
        except Exception as e:  # noqa: BLE001
            c.error(i, f"Failed to format time {v} with formatter '{p}': {e}")
            out.append(None)
    return pa.array(out, pa.string())


def _parse_time(c: Call) -> pa.Array:
    out = []
    for i, (s, p) in enumerate(zip(c.args[0].to_pylist(), c.args[1].to_pylist())):
        if s is None or p is None:
            out.append(None)
            continue
        try:
            local, _, seen = parse_dt(s, p)
            if seen & set("yuYMLdDEe"):
                raise ValueError("Time format contains date field.")
            out.append(((local.hour * 60 + local.minute) * 60 + local.second) * 1000
                       + local.microsecond // 1000)
        except Exception as e:  # noqa: BLE001
            c.error(i, f"Failed to parse time '{s}' with formatter '{p}': {e}")
            out.append(None)
    return pa.array(out, pa.int32()).cast(pa.time32("ms"))


fmt_time = scalar("FORMAT_TIME", CAT, "Format a TIME with a pattern.")
fmt_time.add(["TIME", "STRING"], "STRING", _format_time)
parse_time = scalar("PARSE_TIME", CAT, "Parse a string into a TIME.")
parse_time.add(["STRING", "STRING"], "TIME", _parse_time)


# ---------------------------------------------------------------- epoch conversions

def _now_ms() -> int:
    return int(_time.time() * 1000)


unix_ts = scalar("UNIX_TIMESTAMP", CAT, "Epoch millis of now or of a TIMESTAMP.")
unix_ts.add([], "BIGINT", lambda c: pa.repeat(pa.scalar(_now_ms(), pa.int64()), c.n))
unix_ts.add(["TIMESTAMP"], "BIGINT", lambda c: c.args[0].cast(pa.int64()))
unix_date = scalar("UNIX_DATE", CAT, "Days since epoch of today or of a DATE.")
unix_date.add([], "INTEGER", lambda c: pa.repeat(
    pa.scalar((_dt.datetime.now(UTC).date() - EPOCH_DATE).days, pa.int32()), c.n))
unix_date.add(["DATE"], "INTEGER", lambda c: c.args[0].cast(pa.int32()))
from_unix = scalar("FROM_UNIXTIME", CAT, "The TIMESTAMP of epoch millis.")
from_unix.add(["BIGINT"], "TIMESTAMP", lambda c: c.args[0].cast(pa.timestamp("ms")))
from_days = scalar("FROM_DAYS", CAT, "The DATE of days since epoch.")
from_days.add(["INTEGER"], "DATE", lambda c: c.args[0].cast(pa.date32()))


def _convert_tz(c: Call) -> pa.Array:
    ms = _ts_millis(c, 0)
    out = []
    for i, (v, a, b) in enumerate(zip(ms, c.args[1].to_pylist(), c.args[2].to_pylist())):
        if v is None or a is None or b is None:
            out.append(None)
            continue
        try:
            local = _dt.datetime(1970, 1, 1) + _dt.timedelta(milliseconds=v)
            inst = local.replace(tzinfo=zone(a))
            conv = inst.astimezone(zone(b)).replace(tzinfo=None)
            out.append(_dt_to_ms(conv.replace(tzinfo=UTC)))
        except Exception as e:  # noqa: BLE001
            c.error(i, str(e))
            out.append(None)
    return pa.array(out, pa.int64()).cast(pa.timestamp("ms"))


convert_tz = scalar("CONVERT_TZ", CAT, "Convert a TIMESTAMP from one time zone to another.")
convert_tz.add(["TIMESTAMP", "STRING", "STRING"], "TIMESTAMP", _convert_tz)


# ---------------------------------------------------------------- DATEADD & co (unit keyword)

_UNITS = {
    "MILLISECOND": 1, "MILLISECONDS": 1, "SECOND": 1000, "SECONDS": 1000,
    "MINUTE": 60000, "MINUTES": 60000, "HOUR": 3600000, "HOURS": 3600000,
    "DAY": 86400000, "DAYS": 86400000,
}


def _unit_of(node) -> str | None:
    if isinstance(node, (exp.Column, exp.Identifier, exp.Var)) and (
            node.name.upper() in _UNITS or node.name.upper() in ("WEEK", "WEEKS", "MONTH",
                                                                  "MONTHS", "YEAR", "YEARS")):
        return node.name.upper()
    return None


def _interval_fn(name: str, target: str, sign: int, int_types: tuple):
    spec = scalar(name, CAT, f"{'Add' if sign > 0 else 'Subtract'} an interval to a {target}.",
                  display=name.lower())
    for it in int_types:
        spec.add(["STRING", it, target], target, lambda c: c.args[2])   # for DESCRIBE only

    @spec.hook
    def _hook(comp, args, _spec, node):
        if len(args) != 3:
            raise AnalysisError(f"Function '{name.lower()}' does not accept parameters "
                                f"({', '.join(str(comp.compile(a).type) for a in args)}).")
        unit = _unit_of(args[0])
        amount, value = comp.compile(args[1]), comp.compile(args[2])
        if unit is None or amount.type.base not in ("INTEGER", "BIGINT", "NULL") or \
                value.type.base not in (target, "NULL"):
            first = comp.compile(args[0]).type if unit is None else None
            shown = [str(first) if first else "INTERVALUNIT", str(amount.type),
                     str(value.type)]
            raise AnalysisError(f"Function '{name.lower()}' does not accept parameters "
                                f"({', '.join(shown)}).")
        if unit not in _UNITS:
            raise AnalysisError(f"Unsupported time unit for {name}: {unit}")
        step = _UNITS[unit] * sign
        if target == "DATE" and step % 86400000:
            pass
        rt = value.type if value.type.base != "NULL" else _target_type(target)

        def ev(bt, e):
            v = value.ev(bt, e)
            a = amount.ev(bt, e)
            a64 = np.asarray(pc.fill_null(a.cast(pa.int64()), 0).to_numpy(
                zero_copy_only=False))
            mask = null_mask(v) | null_mask(a)
            if target == "TIMESTAMP":
                base = np.asarray(pc.fill_null(v.cast(pa.int64()), 0).to_numpy(
                    zero_copy_only=False))
                res = base + a64 * step
                return pa.array(res, mask=mask, type=pa.int64()).cast(pa.timestamp("ms"))
            if target == "DATE":
                base = np.asarray(pc.fill_null(v.cast(pa.int32()), 0).to_numpy(
                    zero_copy_only=False)).astype(np.int64)
                res = base + (a64 * step) // 86400000
                return pa.array(res.astype(np.int32), mask=mask).cast(pa.date32())
            base = np.asarray(pc.fill_null(v.cast(pa.int32()), 0).to_numpy(
                zero_copy_only=False)).astype(np.int64)
            res = np.mod(base + a64 * step, 86400000)
            return pa.array(res.astype(np.int32), mask=mask).cast(pa.time32("ms"))
        return Node(rt, ev, ksql_text(node))
    return spec


def _target_type(t: str):
    from ksqlpy.types import DATE, TIME, TIMESTAMP
    return {"DATE": DATE, "TIME": TIME, "TIMESTAMP": TIMESTAMP}[t]


_interval_fn("DATEADD", "DATE", 1, ("INTEGER",))
_interval_fn("DATESUB", "DATE", -1, ("INTEGER",))
_interval_fn("TIMEADD", "TIME", 1, ("INTEGER",))
_interval_fn("TIMESUB", "TIME", -1, ("INTEGER",))
_interval_fn("TIMESTAMPADD", "TIMESTAMP", 1, ("INTEGER", "BIGINT"))
_interval_fn("TIMESTAMPSUB", "TIMESTAMP", -1, ("INTEGER", "BIGINT"))

_ = (resolve, INTEGER)
