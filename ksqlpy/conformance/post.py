"""QTT ``post`` conditions: the catalog and the topics after a test ran.

From ksqlDB's ``PostConditions`` / ``SourceNode`` / ``KeyFormatNode`` / ``PostTopicNode``:

- ``sources`` is a subset (hamcrest ``hasItems``): every expected source must match some
  catalog source on name, type, and whichever of schema, keyFormat (format, windowType and
  windowSize — absent window fields mean "not windowed"), valueFormat, keyFeatures /
  valueFeatures (as sets) and isSource are given;
- ``topics.blacklist`` is a regex that must not be *found* in any existing topic name;
- ``topics.topics`` is a subset over the existing topics: name, key and value format (format,
  features, properties, window), partitions when given. Schema-registry schemas
  (``keySchema``/``valueSchema``/ids) cannot be checked: ksqlpy has no schema registry yet.
"""

from __future__ import annotations

import re
from typing import Any

from ksqlpy.conformance.schematext import SchemaTextError, parse_schema

__all__ = ["check_post"]


def _u(s: Any) -> str:
    return str(s).upper() if s is not None else ""


def _cols(columns) -> list[tuple]:
    return [(c.name, c.type, c.namespace, c.header_key) for c in columns]


def _fmt_name(fi) -> str:
    return _u(getattr(fi, "name", fi))


def _source_mismatch(src, exp: dict) -> str | None:
    """None if catalog source ``src`` satisfies expected SourceNode ``exp``; else why not."""
    if src.name != exp.get("name"):
        return f"name {src.name!r} != {exp.get('name')!r}"
    if "type" in exp and _u(src.kind) != _u(exp["type"]):
        return f"type {src.kind} != {_u(exp['type'])}"
    if exp.get("schema") is not None:
        try:
            want = parse_schema(exp["schema"])
        except (SchemaTextError, ValueError) as e:
            return f"invalid expected schema {exp['schema']!r}: {e}"
        # LogicalSchema order: key, value, headers columns
        want_sorted = ([c for c in want if c.namespace == "KEY"]
                       + [c for c in want if c.namespace == "VALUE"]
                       + [c for c in want if c.namespace not in ("KEY", "VALUE")])
        if _cols(want_sorted) != _cols(src.schema.columns):
            return f"schema is {str(src.schema)!r}, expected {exp['schema']!r}"
    kf = exp.get("keyFormat")
    if kf is not None:
        if kf.get("format") is not None and _fmt_name(src.key_format) != _u(kf["format"]):
            return f"key format {_fmt_name(src.key_format)} != {_u(kf['format'])}"
        win = getattr(src, "window", None)
        act_type = _u(win.type) if win is not None else None
        exp_type = _u(kf["windowType"]) if kf.get("windowType") is not None else None
        if act_type != exp_type:
            return f"key window type {act_type} != {exp_type}"
        act_size = win.size_ms if win is not None else None
        exp_size = kf.get("windowSize")
        if act_size != exp_size:
            return f"key window size {act_size} != {exp_size}"
    if exp.get("valueFormat") is not None:
        if _fmt_name(src.value_format) != _u(exp["valueFormat"]):
            return f"value format {_fmt_name(src.value_format)} != {_u(exp['valueFormat'])}"
    for key, attr in (("keyFeatures", "key_features"), ("valueFeatures", "value_features")):
        if exp.get(key) is not None:
            act = {_u(f) for f in (getattr(src, attr, ()) or ())}
            want = {_u(f) for f in exp[key]}
            if act != want:
                return f"{key} {sorted(act)} != {sorted(want)}"
    if exp.get("isSource") is not None and bool(src.is_source) != bool(exp["isSource"]):
        return f"isSource {bool(src.is_source)} != {bool(exp['isSource'])}"
    return None


def _check_sources(engine, expected: list[dict]) -> str | None:
    sources = list(engine.catalog.sources())
    for exp in expected:
        if not any(_source_mismatch(s, exp) is None for s in sources):
            same = [s for s in sources if s.name == exp.get("name")]
            if not same:
                names = ", ".join(f"{s.kind}:{s.name}" for s in sources)
                return f"post: no source named {exp.get('name')!r} (sources: {names})"
            return f"post: source {exp.get('name')}: {_source_mismatch(same[0], exp)}"
    return None


def _format_mismatch(kind: str, fi, features, window, exp: dict) -> str | None:
    if _fmt_name(fi) != _u(exp.get("format")):
        return f"{kind} format {_fmt_name(fi)} != {_u(exp.get('format'))}"
    act_feat = {_u(f) for f in (features or ())}
    exp_feat = {_u(f) for f in (exp.get("features") or ())}
    if act_feat != exp_feat:
        return f"{kind} features {sorted(act_feat)} != {sorted(exp_feat)}"
    exp_props = exp.get("properties") or {}
    act_props = dict(getattr(fi, "properties", None) or {})
    if {k: str(v) for k, v in exp_props.items()} != {k: str(v) for k, v in act_props.items()}:
        return f"{kind} format properties {act_props} != {exp_props}"
    if kind == "key":
        wi = exp.get("windowInfo")
        if (wi is None) != (window is None):
            return f"key window {window} != {wi}"
        if wi is not None:
            if _u(wi.get("type")) != _u(window.type):
                return f"key window type {window.type} != {wi.get('type')}"
            size = wi.get("size")
            # WindowInfo.size is a java.time.Duration, written in seconds
            exp_ms = None if size is None else int(round(float(size) * 1000))
            if exp_ms != window.size_ms:
                return f"key window size {window.size_ms}ms != {exp_ms}ms"
    return None


def _check_topics(engine, node: dict) -> str | None:
    names = [t.name for t in engine.log.topics()]
    bl = node.get("blacklist")
    if bl:
        try:
            pat = re.compile(bl)
        except re.error as e:
            return f"post: invalid blacklist regex {bl!r}: {e}"
        hits = sorted(n for n in names if pat.search(n))
        if hits:
            return f"post: blacklisted topics found: {hits}"
    for exp in node.get("topics") or []:
        name = exp.get("name")
        info = engine.log.topic(name)
        if info is None:
            return f"post: topic {name!r} does not exist (topics: {sorted(names)})"
        srcs = [s for s in engine.catalog.sources() if s.topic == name]
        if not srcs:
            return f"post: no source uses topic {name!r}, its formats are unknown"
        src = srcs[0]
        r = _format_mismatch("key", src.key_format, getattr(src, "key_features", ()),
                             getattr(src, "window", None), exp.get("keyFormat") or {})
        if r is None:
            r = _format_mismatch("value", src.value_format, getattr(src, "value_features", ()),
                                 None, exp.get("valueFormat") or {})
        if r is None and exp.get("partitions") is not None \
                and int(exp["partitions"]) != info.partitions:
            r = f"partitions {info.partitions} != {exp['partitions']}"
        if r is not None:
            return f"post: topic {name}: {r}"
    return None


def check_post(engine, post: dict) -> str | None:
    """None if all post conditions hold; else the first failure."""
    r = _check_sources(engine, post.get("sources") or [])
    if r is None and post.get("topics") is not None:
        r = _check_topics(engine, post["topics"])
    return r
