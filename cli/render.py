"""Output (stage: cli, entities and rows → text), laid out like ksqlDB's CLI.

``render_entity`` turns one /ksql entity into text (TABULAR) or pretty JSON; ``Grid`` prints
query rows as a ``+---+`` grid sized to the terminal, cells wrapped (``SET CLI WRAP ON``, the
default) or truncated with ``…`` (``WRAP OFF``).
"""

from __future__ import annotations

import json
import shutil
import textwrap

__all__ = ["render_entity", "Grid", "table", "format_value", "terminal_width"]


def terminal_width() -> int:
    return max(40, shutil.get_terminal_size((120, 40)).columns)


def format_value(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def _fit(text: str, width: int, wrap: bool) -> list[str]:
    lines = text.splitlines() or [""]
    out: list[str] = []
    for ln in lines:
        if len(ln) <= width:
            out.append(ln)
        elif wrap:
            out.extend(textwrap.wrap(ln, width, break_long_words=True,
                                     replace_whitespace=False, drop_whitespace=True) or [""])
        else:
            out.append(ln[:max(width - 1, 0)] + "…")
    if not wrap:
        out = out[:1] if len(lines) == 1 else [out[0][:max(width - 1, 0)] + "…"]
    return out


def table(headers: list[str], rows: list[list], wrap: bool = True,
          width: int | None = None) -> str:
    """ksqlDB's entity table: `` A | B `` header, dashes, rows, dashes; columns shrink (widest
    first) until the table fits the terminal."""
    width = width or terminal_width()
    cells = [[format_value(c) for c in r] for r in rows]
    n = len(headers)
    widths = [max([len(h)] + [max((len(x) for x in (r[i].splitlines() or [""])), default=0)
                              for r in cells]) for i, h in enumerate(headers)]
    budget = width - (3 * n - 1) - 2
    while sum(widths) > budget and max(widths) > 8:
        i = widths.index(max(widths))
        widths[i] -= 1
    sep = "-" * min(width, sum(widths) + 3 * n - 1 + 2)

    def line(values: list[str]) -> list[str]:
        parts = [_fit(v, widths[i], wrap) for i, v in enumerate(values)]
        height = max(len(p) for p in parts)
        out = []
        for k in range(height):
            out.append(" " + " | ".join((p[k] if k < len(p) else "").ljust(widths[i])
                                        for i, p in enumerate(parts)) + " ")
        return out

    out = line(headers) + [sep]
    for r in cells:
        out.extend(line(r))
    out.append(sep)
    return "\n".join(x.rstrip() for x in out)


class Grid:
    """Rows of a query printed one at a time, ksqlDB-style: ``|ID   |NAME  |``."""

    def __init__(self, columns: list[str], wrap: bool = True, width: int | None = None,
                 rows: list[list] | None = None):
        width = width or terminal_width()
        n = max(len(columns), 1)
        if rows is not None:  # a finished result: size columns to their content
            natural = [max([len(c)] + [len(format_value(r[i])) for r in rows if i < len(r)])
                       for i, c in enumerate(columns)]
        else:
            even = max((width - n - 1) // n, 4)
            natural = [max(min(even, 40), min(len(c), even)) for c in columns]
        budget = width - n - 1
        widths = list(natural)
        while sum(widths) > budget and max(widths) > 4:
            i = widths.index(max(widths))
            widths[i] -= 1
        self.widths = widths
        self.columns = columns
        self.wrap = wrap

    def border(self) -> str:
        return "+" + "+".join("-" * w for w in self.widths) + "+"

    def _line(self, values: list[str]) -> str:
        parts = [_fit(v, self.widths[i], self.wrap) for i, v in enumerate(values)]
        height = max(len(p) for p in parts) if parts else 1
        out = []
        for k in range(height):
            out.append("|" + "|".join((p[k] if k < len(p) else "").ljust(self.widths[i])
                                      for i, p in enumerate(parts)) + "|")
        return "\n".join(out)

    def header(self) -> str:
        return "\n".join([self.border(), self._line(self.columns), self.border()])

    def row(self, values: list) -> str:
        return self._line([format_value(v) for v in values])


# -- entities -------------------------------------------------------------------------------

def _type_name(schema: dict) -> str:
    t = schema.get("type", "?")
    if t == "ARRAY":
        return f"ARRAY<{_type_name(schema.get('memberSchema') or {})}>"
    if t == "MAP":
        return f"MAP<STRING, {_type_name(schema.get('memberSchema') or {})}>"
    if t == "STRUCT":
        inner = ", ".join(f"{f['name']} {_type_name(f['schema'])}"
                          for f in schema.get("fields") or [])
        return f"STRUCT<{inner}>"
    if t == "DECIMAL" and schema.get("parameters"):
        p = schema["parameters"]
        return f"DECIMAL({p.get('precision')}, {p.get('scale')})"
    if t == "STRING":
        return "VARCHAR(STRING)"
    return t


def _fields(fields: list[dict], wrap: bool) -> str:
    rows = []
    for f in fields:
        mark = {"KEY": "  (key)", "HEADER": "  (header)"}.get(f.get("type"), "")
        rows.append([f["name"], _type_name(f["schema"]) + mark])
    return table(["Field", "Type"], rows, wrap)


def _queries(queries: list[dict], wrap: bool) -> str:
    rows = [[q.get("id"), q.get("queryType", "PERSISTENT"), q.get("state", "RUNNING"),
             ",".join(q.get("sinks") or []), ",".join(q.get("sinkKafkaTopics") or []),
             q.get("queryString", "")] for q in queries]
    return table(["Query ID", "Query Type", "Status", "Sink Name", "Sink Kafka Topic",
                  "Query String"], rows, wrap)


def _source_description(d: dict, wrap: bool) -> str:
    out = []
    out.append(f"{'Name':<20} : {d.get('name')}")
    if d.get("extended"):
        out.append(f"{'Type':<20} : {d.get('type')}")
        out.append(f"{'Timestamp field':<20} : {d.get('timestamp') or 'Not set - using <ROWTIME>'}")
        out.append(f"{'Key format':<20} : {d.get('keyFormat')}")
        out.append(f"{'Value format':<20} : {d.get('valueFormat')}")
        out.append(f"{'Kafka topic':<20} : {d.get('topic')} (partitions: "
                   f"{d.get('partitions')}, replication: {d.get('replication')})")
        out.append(f"{'Statement':<20} : {d.get('statement')}")
    out.append(_fields(d.get("fields") or [], wrap))
    if d.get("windowType"):
        out.insert(1, f"{'Window type':<20} : {d['windowType']}")
    if d.get("extended"):
        for title, qs in (("Queries that read from this", d.get("readQueries") or []),
                          ("Queries that write from this", d.get("writeQueries") or [])):
            out.append("")
            out.append(f"{title} {d.get('type', 'SOURCE')}")
            out.append("-" * 40)
            for q in qs:
                out.append(f"{q.get('id')} ({q.get('state', 'RUNNING')}) : "
                           f"{q.get('queryString')}")
            out.append("")
            out.append("For query topology and execution plan please run: "
                       "EXPLAIN <QueryId>")
        if d.get("statistics"):
            out.append("")
            out.append(f"Runtime statistics by host\n{d['statistics']}")
    else:
        out.append("For runtime statistics and query details run: "
                   "DESCRIBE <Stream,Table> EXTENDED;")
    return "\n".join(out)


def _query_description(d: dict, wrap: bool) -> str:
    out = [f"{'ID':<20} : {d.get('id')}",
           f"{'Query Type':<20} : {d.get('queryType', 'PERSISTENT')}",
           f"{'SQL':<20} : {d.get('statementText')}"]
    if d.get("state"):
        out.append(f"{'Host Query Status':<20} : {{{d.get('state')}}}")
    out.append("")
    out.append(_fields(d.get("fields") or [], wrap))
    out.append("")
    out.append("Sources that this query reads from: ")
    out.append("-" * 35)
    out.extend(d.get("sources") or [])
    out.append("")
    out.append("For source description please run: DESCRIBE [EXTENDED] <SourceId>")
    out.append("")
    out.append("Sinks that this query writes to: ")
    out.append("-" * 33)
    out.extend(d.get("sinks") or [])
    out.append("")
    out.append("For sink description please run: DESCRIBE [EXTENDED] <SinkId>")
    out.append("")
    out.append("Execution plan")
    out.append("-" * 14)
    out.append(d.get("executionPlan") or "")
    if d.get("topology"):
        out.append("")
        out.append("Processing topology")
        out.append("-" * 19)
        out.append(d["topology"])
    return "\n".join(out)


def _describe_function(e: dict, wrap: bool) -> str:
    out = [f"{'Name':<12} : {e.get('name')}"]
    for k in ("author", "version"):
        if e.get(k):
            out.append(f"{k.capitalize():<12} : {e[k]}")
    out.append(f"{'Overview':<12} : {e.get('description', '')}")
    out.append(f"{'Type':<12} : {e.get('type', '')}")
    out.append(f"{'Jar':<12} : {e.get('path', 'internal')}")
    out.append(f"{'Variations':<12} : ")
    for fn in e.get("functions") or []:
        args = ", ".join(f"{a.get('name', '')} {a.get('type', '')}".strip()
                         for a in fn.get("arguments") or [])
        out.append("")
        out.append(f"\t{'Variation':<12} : {e.get('name')}({args})")
        out.append(f"\t{'Returns':<12} : {fn.get('returnType')}")
        if fn.get("description"):
            out.append(f"\t{'Description':<12} : {fn['description']}")
    return "\n".join(out)


def _status(e: dict, wrap: bool) -> str:
    msg = (e.get("commandStatus") or {}).get("message", "")
    return table(["Message"], [[msg]], wrap)


def render_entity(e: dict, fmt: str = "TABULAR", wrap: bool = True) -> str:
    """One /ksql entity as text."""
    if fmt == "JSON":
        return json.dumps(e, indent=2)
    kind = e.get("@type")
    text = _render_tabular(kind, e, wrap)
    warnings = [w.get("message", "") for w in e.get("warnings") or [] if w]
    if warnings:
        text = (text + "\n" if text else "") + "\n".join(f"WARNING: {w}" for w in warnings)
    return text


def _render_tabular(kind: str | None, e: dict, wrap: bool) -> str:
    if kind == "currentStatus":
        return _status(e, wrap)
    if kind == "streams":
        return table(["Stream Name", "Kafka Topic", "Key Format", "Value Format", "Windowed"],
                     [[s["name"], s.get("topic"), s.get("keyFormat"), s.get("valueFormat"),
                       s.get("isWindowed", False)] for s in e.get("streams", [])], wrap)
    if kind == "tables":
        return table(["Table Name", "Kafka Topic", "Key Format", "Value Format", "Windowed"],
                     [[s["name"], s.get("topic"), s.get("keyFormat"), s.get("valueFormat"),
                       s.get("isWindowed", False)] for s in e.get("tables", [])], wrap)
    if kind == "queries":
        return _queries(e.get("queries", []), wrap)
    if kind in ("kafka_topics", "kafka_topics_extended"):
        rows = []
        for t in e.get("topics", []):
            r = [t["name"], len(t.get("replicaInfo") or []),
                 " ".join(str(x) for x in t.get("replicaInfo") or [])]
            if kind == "kafka_topics_extended":
                r += [t.get("consumerCount", 0), t.get("consumerGroupCount", 0)]
            rows.append(r)
        headers = ["Kafka Topic", "Partitions", "Partition Replicas"]
        if kind == "kafka_topics_extended":
            headers += ["Consumers", "ConsumerGroups"]
        return table(headers, rows, wrap)
    if kind == "properties":
        over = set(e.get("overwrittenProperties") or [])
        rows = [[p["name"], p.get("scope", ""), p.get("level", ""),
                 "SESSION" if p["name"] in over else "", p.get("value")]
                for p in e.get("properties", [])]
        return table(["Property", "Scope", "Level", "Default override", "Effective Value"],
                     rows, wrap)
    if kind == "function_names":
        return table(["Function Name", "Category"],
                     [[f["name"], f.get("category", "")] for f in e.get("functions", [])],
                     wrap) + ("\nFor detailed information about a function, run: "
                              "DESCRIBE FUNCTION <Function Name>;")
    if kind == "describe_function":
        return _describe_function(e, wrap)
    if kind == "sourceDescription":
        return _source_description(e.get("sourceDescription") or {}, wrap)
    if kind == "sourceDescriptionList":
        return "\n\n".join(_source_description(d, wrap)
                           for d in e.get("sourceDescriptions") or [])
    if kind == "queryDescription":
        return _query_description(e.get("queryDescription") or {}, wrap)
    if kind == "queryDescriptionList":
        return "\n\n".join(_query_description(d, wrap)
                           for d in e.get("queryDescriptions") or [])
    if kind == "type_list":
        return table(["Type Name", "Schema"],
                     [[k, _type_name(v)] for k, v in (e.get("types") or {}).items()], wrap)
    if kind == "variables":
        return table(["Variable Name", "Value"],
                     [[v["name"], v.get("value")] for v in e.get("variables", [])], wrap)
    if kind == "warning_entity":
        return e.get("message", "")
    if kind in ("connector_list", "connector_plugins_list", "connector_description",
                "connector_info", "drop_connector"):
        return json.dumps(e, indent=2)
    return json.dumps(e, indent=2)
