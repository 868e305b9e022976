"""A translator for Java ``DateTimeFormatter`` patterns: format and parse with Python.

Supported letters: ``y u Y M L d D H h k K m s S n a E e z Z X x V O G`` and quoted literals
(``'T'``, ``''``). Unknown letters raise ``ValueError`` (reported per row by the caller).
"""

from __future__ import annotations

import datetime as _dt
import re
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["tokenize", "format_dt", "parse_dt", "zone"]

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# abbreviations Java's zone-text parser maps to regions
_ABBREV = {"PST": "America/Los_Angeles", "PDT": "America/Los_Angeles",
           "MST": "America/Denver", "MDT": "America/Denver", "CST": "America/Chicago",
           "CDT": "America/Chicago", "EST": "America/New_York", "EDT": "America/New_York",
           "GMT": "UTC", "UTC": "UTC", "BST": "Europe/London", "CET": "Europe/Paris",
           "CEST": "Europe/Paris", "IST": "Asia/Kolkata", "JST": "Asia/Tokyo", "Z": "UTC"}


@lru_cache(maxsize=256)
def zone(name: str) -> _dt.tzinfo:
    n = name.strip()
    m = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?", n)
    if m:
        sign = 1 if m.group(1) == "+" else -1
        return _dt.timezone(sign * _dt.timedelta(hours=int(m.group(2)),
                                                 minutes=int(m.group(3) or 0)))
    if n.upper() in ("UTC", "GMT", "Z"):
        return _dt.timezone.utc
    if n.upper() in _ABBREV:
        return ZoneInfo(_ABBREV[n.upper()])
    try:
        return ZoneInfo(n)
    except Exception:  # noqa: BLE001
        raise ValueError(f"Unknown time-zone ID: {name}") from None


@lru_cache(maxsize=256)
def tokenize(pattern: str) -> tuple:
    toks: list = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "'":
            if i + 1 < n and pattern[i + 1] == "'":
                toks.append(("lit", "'"))
                i += 2
                continue
            j = i + 1
            buf = []
            while j < n:
                if pattern[j] == "'":
                    if j + 1 < n and pattern[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(pattern[j])
                j += 1
            toks.append(("lit", "".join(buf)))
            i = j + 1
            continue
        if ch in "[]":
            i += 1          # optional sections: treated as always present
            continue
        if ch.isalpha():
            j = i
            while j < n and pattern[j] == ch:
                j += 1
            if ch not in "yuYMLdDHhkKmsSnaEezZXxVOG":
                raise ValueError(f"Unknown pattern letter: {ch}")
            toks.append(("f", ch, j - i))
            i = j
            continue
        toks.append(("lit", ch))
        i += 1
    return tuple(toks)


def _offset_str(off: _dt.timedelta | None, style: str, count: int) -> str:
    secs = int(off.total_seconds()) if off is not None else 0
    if style in "XO" and secs == 0 and style == "X":
        return "Z"
    sign = "+" if secs >= 0 else "-"
    secs = abs(secs)
    hh, mm = secs // 3600, (secs % 3600) // 60
    if style == "O":
        return "GMT" if secs == 0 else f"GMT{sign}{hh}" + (f":{mm:02d}" if mm else "")
    if style == "Z":
        return f"{sign}{hh:02d}{mm:02d}" if count < 4 else (
            "GMT" if secs == 0 else f"GMT{sign}{hh:02d}:{mm:02d}")
    if count == 1:
        return f"{sign}{hh:02d}" + (f"{mm:02d}" if mm else "")
    if count in (2, 4):
        return f"{sign}{hh:02d}{mm:02d}"
    return f"{sign}{hh:02d}:{mm:02d}"


def format_dt(d: _dt.datetime | _dt.date | _dt.time, pattern: str) -> str:
    out = []
    for t in tokenize(pattern):
        if t[0] == "lit":
            out.append(t[1])
            continue
        _, ch, c = t
        if ch in "yuY":
            y = d.year
            out.append(f"{y % 100:02d}" if c == 2 else f"{y:0{c}d}")
        elif ch in "ML":
            m = d.month
            out.append(_MONTHS[m - 1][:3] if c == 3 else _MONTHS[m - 1] if c >= 4 else
                       f"{m:0{c}d}")
        elif ch == "d":
            out.append(f"{d.day:0{c}d}")
        elif ch == "D":
            out.append(f"{d.timetuple().tm_yday:0{c}d}")
        elif ch in "Ee":
            wd = d.weekday()
            out.append(_DAYS[wd][:3] if c <= 3 else _DAYS[wd])
        elif ch == "H":
            out.append(f"{d.hour:0{c}d}")
        elif ch == "k":
            out.append(f"{d.hour or 24:0{c}d}")
        elif ch == "h":
            out.append(f"{(d.hour % 12) or 12:0{c}d}")
        elif ch == "K":
            out.append(f"{d.hour % 12:0{c}d}")
        elif ch == "m":
            out.append(f"{d.minute:0{c}d}")
        elif ch == "s":
            out.append(f"{d.second:0{c}d}")
        elif ch == "S":
            frac = f"{d.microsecond:06d}000"
            out.append(frac[:c].ljust(c, "0"))
        elif ch == "n":
            out.append(str(d.microsecond * 1000))
        elif ch == "a":
            out.append("AM" if d.hour < 12 else "PM")
        elif ch == "G":
            out.append("AD")
        elif ch == "z":
            tz = getattr(d, "tzinfo", None)
            out.append((d.tzname() if tz is not None else None) or "UTC")
        elif ch == "V":
            tz = getattr(d, "tzinfo", None)
            out.append(getattr(tz, "key", None) or (d.tzname() if tz else "UTC") or "UTC")
        else:  # Z X x O
            out.append(_offset_str(d.utcoffset() if getattr(d, "tzinfo", None) else None,
                                   ch, c))
    return "".join(out)


@lru_cache(maxsize=256)
def _parser(pattern: str) -> tuple[re.Pattern, tuple]:
    parts, fields = [], []
    for t in tokenize(pattern):
        if t[0] == "lit":
            parts.append(re.escape(t[1]))
            continue
        _, ch, c = t
        g = f"g{len(fields)}"
        fields.append((ch, c))
        if ch in "yuY":
            rx = r"\d{2}" if c == 2 else r"[+-]?\d{4,9}" if c >= 4 else r"[+-]?\d{1,9}"
        elif ch in "ML" and c >= 3:
            rx = "[A-Za-z]+"
        elif ch in "Ee":
            rx = "[A-Za-z]+"
        elif ch == "S":
            rx = r"\d{%d}" % c
        elif ch == "n":
            rx = r"\d{1,9}"
        elif ch == "a":
            rx = "(?i:AM|PM)"
        elif ch == "G":
            rx = "[A-Za-z]+"
        elif ch in "zV":
            rx = r"[A-Za-z_/+\-0-9:]+"
        elif ch in "ZXxO":
            rx = r"Z|(?:GMT|UTC)?[+-]\d{1,2}(?::?\d{2})?(?::?\d{2})?|GMT|UTC"
        elif ch == "D":
            rx = r"\d{%d,3}" % c
        else:
            rx = r"\d{%d,2}" % c if c <= 2 else r"\d{%d}" % c
        parts.append(f"(?P<{g}>{rx})")
    # like java.time's parse(text, ParsePosition) as ksqlDB uses it: trailing text is ignored
    return re.compile("".join(parts)), tuple(fields)


def parse_dt(text: str, pattern: str, default_zone: _dt.tzinfo | None = None
             ) -> tuple[_dt.datetime, _dt.tzinfo | None, set]:
    """Parse ``text``; returns (naive local datetime, zone found or default, fields seen)."""
    rx, fields = _parser(pattern)
    m = rx.match(text)
    if not m:
        raise ValueError(f"Text '{text}' could not be parsed with pattern '{pattern}'")
    y, mo, d, h, mi, s, us = 1970, 1, 1, 0, 0, 0, 0
    doy = None
    pm = None
    tz = default_zone
    seen = set()
    for i, (ch, c) in enumerate(fields):
        v = m.group(f"g{i}")
        seen.add(ch)
        if ch in "yuY":
            y = int(v) + (2000 if c == 2 else 0)
        elif ch in "ML":
            if c >= 3:
                names = [x[:3].lower() for x in _MONTHS] if c == 3 else [x.lower() for x in
                                                                           _MONTHS]
                mo = names.index(v.lower()) + 1
            else:
                mo = int(v)
        elif ch == "d":
            d = int(v)
        elif ch == "D":
            doy = int(v)
        elif ch in "Hk":
            h = int(v) % 24
        elif ch in "hK":
            h = int(v) % 12
            seen.add("h12")
        elif ch == "m":
            mi = int(v)
        elif ch == "s":
            s = int(v)
        elif ch == "S":
            us = int(v.ljust(6, "0")[:6])
        elif ch == "n":
            us = int(v) // 1000
        elif ch == "a":
            pm = v.upper() == "PM"
        elif ch in "zVZXxO":
            tz = zone(v)
    if pm is not None and "h12" in seen:
        h = h % 12 + (12 if pm else 0)
    if doy is not None:
        base = _dt.datetime(y, 1, 1) + _dt.timedelta(days=doy - 1)
        mo, d = base.month, base.day
    return _dt.datetime(y, mo, d, h, mi, s, us), tz, seen
