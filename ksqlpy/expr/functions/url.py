"""URL functions (java.net.URI semantics, approximated with urllib)."""

from __future__ import annotations

from urllib.parse import parse_qs, quote_plus, unquote_plus, urlsplit

from ksqlpy.expr.registry import scalar

CAT = "URL"


def _split(u: str):
    return urlsplit(u)


def _port(u: str):
    try:
        p = _split(u).port
    except ValueError:
        return None
    return p


def _param(u: str, name: str):
    q = _split(u).query
    if not q:
        return None
    vals = parse_qs(q, keep_blank_values=True).get(name)
    return vals[0] if vals else None


_FUNCS = {
    "URL_EXTRACT_FRAGMENT": (lambda u: _split(u).fragment or None, "The fragment of a URL."),
    "URL_EXTRACT_HOST": (lambda u: _split(u).hostname or None, "The host of a URL."),
    "URL_EXTRACT_PATH": (lambda u: _split(u).path, "The path of a URL."),
    "URL_EXTRACT_PROTOCOL": (lambda u: _split(u).scheme or None, "The protocol of a URL."),
    "URL_EXTRACT_QUERY": (lambda u: _split(u).query or None, "The query string of a URL."),
}
for _name, (_fn, _desc) in _FUNCS.items():
    scalar(_name, CAT, _desc).add(["STRING"], "STRING", lambda c, f=_fn: c.rowwise(f))

scalar("URL_EXTRACT_PORT", CAT, "The port of a URL.").add(
    ["STRING"], "INTEGER", lambda c: c.rowwise(_port))
scalar("URL_EXTRACT_PARAMETER", CAT, "The first value of a query parameter.").add(
    ["STRING", "STRING"], "STRING", lambda c: c.rowwise(_param))
scalar("URL_ENCODE_PARAM", CAT, "application/x-www-form-urlencoded encoding.").add(
    ["STRING"], "STRING", lambda c: c.rowwise(lambda s: quote_plus(s, safe="*")))
scalar("URL_DECODE_PARAM", CAT, "application/x-www-form-urlencoded decoding.").add(
    ["STRING"], "STRING", lambda c: c.rowwise(unquote_plus))
