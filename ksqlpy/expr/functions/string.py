"""String and bytes functions."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid as _uuid

import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.expr.registry import Call, scalar
from ksqlpy.types import STRING, array, map_

CAT = "STRING"
_JAVA_WS = "".join(chr(i) for i in range(33))


def _str_or_bytes(spec, params, ret_same: bool, impl, ret_other: str | None = None, **kw):
    for t in ("STRING", "BYTES"):
        spec.add([p.replace("S", t) if p == "S" else p for p in params],
                 t if ret_same else ret_other, impl, **kw)


# ---------------------------------------------------------------- case, trim, length

lcase = scalar("LCASE", CAT, "Lower-case a string.")
lcase.add(["STRING"], "STRING", lambda c: pc.utf8_lower(c.args[0]))
ucase = scalar("UCASE", CAT, "Upper-case a string.")
ucase.add(["STRING"], "STRING", lambda c: pc.utf8_upper(c.args[0]))
trim = scalar("TRIM", CAT, "Remove leading and trailing whitespace.")
trim.add(["STRING"], "STRING", lambda c: c.rowwise(lambda s: s.strip(_JAVA_WS)))

length = scalar("LEN", CAT, "The length of a string or byte array.")
length.add(["STRING"], "INTEGER", lambda c: pc.utf8_length(c.args[0]).cast(pa.int32()))
length.add(["BYTES"], "INTEGER", lambda c: pc.binary_length(c.args[0]).cast(pa.int32()))


def _initcap(s: str) -> str:
    out, prev_space = [], True
    for ch in s:
        out.append(ch.upper() if prev_space else ch.lower())
        prev_space = ch.isspace()
    return "".join(out)


initcap = scalar("INITCAP", CAT, "Capitalize the first letter of each word.")
initcap.add(["STRING"], "STRING", lambda c: c.rowwise(_initcap))


# ---------------------------------------------------------------- concat

def _concat(c: Call) -> pa.Array:
    if not c.args:
        return pa.repeat(pa.scalar("" if c.ret.base == "STRING" else b"", c.ret.to_arrow()), c.n)
    empty = "" if c.ret.base == "STRING" else b""
    parts = [pc.fill_null(a, empty) for a in c.args]
    if c.ret.base == "BYTES":
        return c.rowwise(lambda *vs: b"".join(vs), args=parts)
    return pc.binary_join_element_wise(*parts, "")


concat = scalar("CONCAT", CAT, "Concatenate strings or bytes; nulls are skipped.")
concat.add(["STRING"], "STRING", _concat, variadic=True)
concat.add(["BYTES"], "BYTES", _concat, variadic=True)


def _concat_ws(c: Call) -> pa.Array:
    def f(sep, *vs):
        if sep is None:
            return None
        return sep.join(v for v in vs if v is not None)
    return c.rowwise(f, null_on_null=False)


concat_ws = scalar("CONCAT_WS", CAT, "Concatenate with a separator; nulls are skipped.")
concat_ws.add(["STRING", "STRING"], "STRING", _concat_ws, variadic=True)
concat_ws.add(["BYTES", "BYTES"], "BYTES", _concat_ws, variadic=True)


# ---------------------------------------------------------------- substring, instr

def _sub_start(n: int, pos: int) -> int:
    return max(n + pos, 0) if pos < 0 else max(min(pos - 1, n), 0)


def _substring2(v, pos):
    return v[_sub_start(len(v), pos):]


def _substring3(v, pos, ln):
    start = _sub_start(len(v), pos)
    end = max(min(start + ln, len(v)), start)
    return v[start:end]


def _substring_vec(c: Call) -> pa.Array:
    """Vectorized when position/length are literals (the common case)."""
    from ksqlpy.expr.registry import NOCONST

    pos = c.const(1)
    ln = c.const(2) if len(c.args) > 2 else None
    consts_ok = pos is not NOCONST and pos is not None and (
        len(c.args) == 2 or (ln is not NOCONST and ln is not None))
    if not consts_ok or c.ret.base != "STRING":
        return c.rowwise(_substring2 if len(c.args) == 2 else _substring3)
    if pos > 0:
        start = pos - 1
        stop = None if ln is None else start + max(ln, 0)
    elif pos == 0:
        start = 0
        stop = None if ln is None else max(ln, 0)
    else:
        start = pos
        stop = None if ln is None or pos + ln >= 0 else pos + max(ln, 0)
        if ln is not None and ln <= 0:
            stop = start
        if ln is not None and stop is not None and stop != start:
            # strings shorter than -pos start at 0 and keep `ln` characters (Java clamps)
            short = pc.less(pc.utf8_length(c.args[0]), -pos)
            a = pc.utf8_slice_codeunits(c.args[0], start=start, stop=stop)
            b = pc.utf8_slice_codeunits(c.args[0], start=0, stop=ln)
            return pc.if_else(short, b, a)
    return pc.utf8_slice_codeunits(c.args[0], start=start, stop=stop)


substring = scalar("SUBSTRING", CAT, "A substring by 1-based position and optional length.")
for _t in ("STRING", "BYTES"):
    substring.add([_t, "INTEGER"], _t, _substring_vec)
    substring.add([_t, "INTEGER", "INTEGER"], _t, _substring_vec)


def _instr(s, sub, pos=1, occ=1):
    if occ <= 0:
        return 0
    n = len(s)
    if pos > 0:
        idx = pos - 1
        for _ in range(occ):
            idx = s.find(sub, idx)
            if idx < 0:
                return 0
            found = idx
            idx += 1
        return found + 1
    if pos < 0:
        idx = n + pos
        for _ in range(occ):
            if idx < 0:
                return 0
            idx = s.rfind(sub, 0, idx + len(sub))
            if idx < 0:
                return 0
            found = idx
            idx -= 1
        return found + 1
    return 0


instr = scalar("INSTR", CAT, "The 1-based position of a substring, or 0.")
instr.add(["STRING", "STRING"], "INTEGER", lambda c: c.rowwise(_instr))
instr.add(["STRING", "STRING", "INTEGER"], "INTEGER", lambda c: c.rowwise(_instr))
instr.add(["STRING", "STRING", "INTEGER", "INTEGER"], "INTEGER", lambda c: c.rowwise(_instr))


# ---------------------------------------------------------------- pad, replace

def _pad(left: bool):
    def f(s, ln, pad):
        if ln < 0 or len(pad) == 0:
            return None
        if len(s) >= ln:
            return s[:ln]
        need = ln - len(s)
        fill = (pad * (need // len(pad) + 1))[:need]
        return fill + s if left else s + fill
    return f


for _name, _left in (("LPAD", True), ("RPAD", False)):
    _spec = scalar(_name, CAT, f"Pad the input on the {'left' if _left else 'right'}.")
    for _t in ("STRING", "BYTES"):
        _spec.add([_t, "INTEGER", _t], _t, lambda c, l=_left: c.rowwise(_pad(l)))

replace = scalar("REPLACE", CAT, "Replace every occurrence of a substring.")
replace.add(["STRING", "STRING", "STRING"], "STRING",
            lambda c: c.rowwise(lambda s, old, new: s.replace(old, new)))


# ---------------------------------------------------------------- split

def _split(s, d):
    if len(d) == 0:
        return list(s) if isinstance(s, str) else [s[i:i + 1] for i in range(len(s))]
    return s.split(d)


split = scalar("SPLIT", CAT, "Split a string or bytes by a delimiter.")
split.add(["STRING", "STRING"], "ARRAY<STRING>", lambda c: c.rowwise(_split))
split.add(["BYTES", "BYTES"], "ARRAY<BYTES>", lambda c: c.rowwise(_split))


def _split_to_map(s, entry, kv):
    if not entry or not kv:
        raise ValueError("delimiters must not be empty")
    out = {}
    for part in s.split(entry):
        if not part:
            continue
        if kv in part:
            k, v = part.split(kv, 1)
            out[k] = v
    return out


split_to_map = scalar("SPLIT_TO_MAP", CAT, "Split a string into a map of key/value pairs.")
split_to_map.add(["STRING", "STRING", "STRING"], map_(STRING, STRING).sql(),
                 lambda c: c.rowwise(_split_to_map))


# ---------------------------------------------------------------- regexp

_JAVA_GROUP = re.compile(r"\$(\d+|\{[A-Za-z][A-Za-z0-9]*\})")
_cache: dict[str, re.Pattern] = {}


def _rx(p: str) -> re.Pattern:
    r = _cache.get(p)
    if r is None:
        r = _cache[p] = re.compile(p)
    return r


def _java_replacement(rep: str) -> str:
    out, i = [], 0
    while i < len(rep):
        ch = rep[i]
        if ch == "\\" and i + 1 < len(rep):
            out.append(rep[i + 1].replace("\\", "\\\\"))
            i += 2
            continue
        if ch == "$":
            m = _JAVA_GROUP.match(rep, i)
            if m:
                g = m.group(1).strip("{}")
                out.append(f"\\g<{g}>")
                i = m.end()
                continue
        out.append("\\\\" if ch == "\\" else ch)
        i += 1
    return "".join(out)


def _regexp_extract(pattern, s, group=0):
    m = _rx(pattern).search(s)
    return m.group(group) if m else None


def _regexp_extract_all(pattern, s, group=0):
    return [m.group(group) for m in _rx(pattern).finditer(s)]


rx_extract = scalar("REGEXP_EXTRACT", CAT, "The first substring matching a regex.")
rx_extract.add(["STRING", "STRING"], "STRING", lambda c: c.rowwise(_regexp_extract))
rx_extract.add(["STRING", "STRING", "INTEGER"], "STRING", lambda c: c.rowwise(_regexp_extract))
rx_all = scalar("REGEXP_EXTRACT_ALL", CAT, "All substrings matching a regex.")
rx_all.add(["STRING", "STRING"], "ARRAY<STRING>", lambda c: c.rowwise(_regexp_extract_all))
rx_all.add(["STRING", "STRING", "INTEGER"], "ARRAY<STRING>",
           lambda c: c.rowwise(_regexp_extract_all))
rx_replace = scalar("REGEXP_REPLACE", CAT, "Replace every regex match.")
rx_replace.add(["STRING", "STRING", "STRING"], "STRING", lambda c: c.rowwise(
    lambda s, p, r: _rx(p).sub(_java_replacement(r), s)))


def _rx_split(s, p):
    if p == "":
        return list(s)
    parts = []
    last = 0
    for m in _rx(p).finditer(s):
        if m.end() == 0:
            continue
        parts.append(s[last:m.start()])
        last = m.end()
    parts.append(s[last:])
    return parts


rx_split = scalar("REGEXP_SPLIT_TO_ARRAY", CAT, "Split a string by a regex.")
rx_split.add(["STRING", "STRING"], "ARRAY<STRING>", lambda c: c.rowwise(_rx_split))


# ---------------------------------------------------------------- masking

_DEFAULT_MASK = ("X", "x", "n", "-")


def _mask_char(ch: str, m) -> str:
    up, lo, dig, oth = m
    if ch.isupper():
        return ch if up is None else up
    if ch.islower():
        return ch if lo is None else lo
    if ch.isdigit():
        return ch if dig is None else dig
    return ch if oth is None else oth


def _masks(vals) -> tuple:
    if not vals:
        return _DEFAULT_MASK
    return tuple((v[0] if v else None) if v is not None else None for v in vals)


def _mask_impl(kind: str):
    def impl(c: Call) -> pa.Array:
        def f(s, *rest):
            if s is None:
                return None
            if kind == "ALL":
                m = _masks(rest)
                return "".join(_mask_char(ch, m) for ch in s)
            n, m = rest[0], _masks(rest[1:])
            if n is None:
                return None
            if n < 0:
                raise ValueError(f"function {kind.lower()} requires a non-negative number")
            if kind == "KEEP_LEFT":
                return s[:n] + "".join(_mask_char(ch, m) for ch in s[n:])
            if kind == "KEEP_RIGHT":
                cut = max(len(s) - n, 0)
                return "".join(_mask_char(ch, m) for ch in s[:cut]) + s[cut:]
            if kind == "LEFT":
                return "".join(_mask_char(ch, m) for ch in s[:n]) + s[n:]
            cut = max(len(s) - n, 0)
            return s[:cut] + "".join(_mask_char(ch, m) for ch in s[cut:])
        return c.rowwise(f, null_on_null=False)
    return impl


mask = scalar("MASK", CAT, "Mask upper, lower, digit and other characters.")
mask.add(["STRING"], "STRING", _mask_impl("ALL"))
mask.add(["STRING", "STRING", "STRING", "STRING", "STRING"], "STRING", _mask_impl("ALL"))
for _name, _kind in (("MASK_KEEP_LEFT", "KEEP_LEFT"), ("MASK_KEEP_RIGHT", "KEEP_RIGHT"),
                     ("MASK_LEFT", "LEFT"), ("MASK_RIGHT", "RIGHT")):
    _spec = scalar(_name, CAT, f"Mask characters ({_kind.lower().replace('_', ' ')}).")
    _spec.add(["STRING", "INTEGER"], "STRING", _mask_impl(_kind))
    _spec.add(["STRING", "INTEGER", "STRING", "STRING", "STRING", "STRING"], "STRING",
              _mask_impl(_kind))


# ---------------------------------------------------------------- chr, elt, field

def _chr_int(code: int):
    if code < 0 or code > 0x10FFFF:
        return None
    return chr(code)


_UESC = re.compile(r"^(\\u[0-9a-fA-F]{4})+$")


def _chr_str(s: str):
    if not _UESC.match(s):
        return None
    units = [int(s[i + 2:i + 6], 16) for i in range(0, len(s), 6)]
    data = b"".join(u.to_bytes(2, "big") for u in units)
    try:
        return data.decode("utf-16-be")
    except UnicodeDecodeError:
        return data.decode("utf-16-be", errors="replace")


chr_ = scalar("CHR", CAT, "The character of a code point or a \\uXXXX escape.")
chr_.add(["INTEGER"], "STRING", lambda c: c.rowwise(_chr_int))
chr_.add(["STRING"], "STRING", lambda c: c.rowwise(_chr_str))


def _elt(n, *vs):
    if n is None or n < 1 or n > len(vs):
        return None
    return vs[n - 1]


elt = scalar("ELT", CAT, "The n-th argument (1-based).")
elt.add(["INTEGER", "STRING"], "STRING", lambda c: c.rowwise(_elt, null_on_null=False),
        variadic=True)


def _field(s, *vs):
    if s is None:
        return 0
    for i, v in enumerate(vs):
        if v is not None and v == s:
            return i + 1
    return 0


field = scalar("FIELD", CAT, "The 1-based position of the first argument among the rest, or 0.")
field.add(["STRING", "STRING"], "INTEGER", lambda c: c.rowwise(_field, null_on_null=False),
          variadic=True)


# ---------------------------------------------------------------- encodings

_HEX_PREFIX = re.compile(r"^(0x(?P<a>[0-9a-fA-F]*)|[xX]'(?P<b>[0-9a-fA-F]*)')$")


def _hex_decode(s: str) -> bytes:
    m = _HEX_PREFIX.match(s)
    if m:
        body = m.group("a") if m.group("a") is not None else m.group("b")
        if m.group("b") is not None and len(body) % 2:
            raise ValueError("odd hex length")
        if len(body) % 2:
            body = "0" + body
        return bytes.fromhex(body)
    if len(s) % 2:
        raise ValueError("odd hex length")
    return bytes.fromhex(s)


def decode_text(s: str, enc: str) -> bytes:
    e = enc.lower()
    if e == "hex":
        return _hex_decode(s)
    if e == "utf8":
        return s.encode("utf-8")
    if e == "ascii":
        return s.encode("ascii", errors="replace")
    if e == "base64":
        return base64.b64decode(s, validate=True)
    raise ValueError(f"Unsupported encoding: {enc}")


def encode_bytes(b: bytes, enc: str) -> str:
    e = enc.lower()
    if e == "hex":
        return binascii.hexlify(b).decode()
    if e == "utf8":
        return b.decode("utf-8", errors="replace")
    if e == "ascii":
        return "".join(chr(x) if x < 128 else "\ufffd" for x in b)
    if e == "base64":
        return base64.b64encode(b).decode()
    raise ValueError(f"Unsupported encoding: {enc}")


encode = scalar("ENCODE", CAT, "Re-encode a string between hex, utf8, ascii and base64.")
encode.add(["STRING", "STRING", "STRING"], "STRING", lambda c: c.rowwise(
    lambda s, i, o: encode_bytes(decode_text(s, i), o)))

to_bytes = scalar("TO_BYTES", CAT, "Convert a string to bytes using an encoding.")
to_bytes.add(["STRING", "STRING"], "BYTES", lambda c: c.rowwise(decode_text))
from_bytes = scalar("FROM_BYTES", CAT, "Convert bytes to a string using an encoding.")
from_bytes.add(["BYTES", "STRING"], "STRING", lambda c: c.rowwise(encode_bytes))

md5 = scalar("MD5", CAT, "The hex MD5 digest of a string.")
md5.add(["STRING"], "STRING", lambda c: c.rowwise(
    lambda s: hashlib.md5(s.encode("utf-8")).hexdigest()))

uuid_ = scalar("UUID", CAT, "A random UUID, or the UUID text of 16 bytes.")
uuid_.add([], "STRING", lambda c: pa.array([str(_uuid.uuid4()) for _ in range(c.n)]))
uuid_.add(["BYTES"], "STRING", lambda c: c.rowwise(
    lambda b: str(_uuid.UUID(bytes=bytes(b))) if len(b) == 16 else None))

_ = array
