"""SHOW / LIST, DESCRIBE and EXPLAIN (stage: runtime, read-only): catalog → /ksql entities
with ksqlDB's field names (KSQLDB.md §5)."""

from __future__ import annotations

from ksqlpy.errors import AnalysisError, NotSupportedError
from ksqlpy.parse import name_of
from ksqlpy.runtime.statements import entity
from ksqlpy.schema import HEADER, HEADERS, KEY


def _field_schema(t) -> dict:
    out = {"type": t.base if t.base != "INTEGER" else "INTEGER", "fields": None,
           "memberSchema": None}
    if t.base == "DECIMAL":
        out["parameters"] = {"precision": t.precision, "scale": t.scale}
    if t.base in ("ARRAY", "MAP"):
        out["memberSchema"] = _field_schema(t.item)
    if t.base == "STRUCT":
        out["fields"] = [{"name": n, "schema": _field_schema(ft)} for n, ft in t.fields]
    return out


def field_info(col) -> dict:
    info = {"name": col.name, "schema": _field_schema(col.type)}
    if col.namespace == KEY:
        info["type"] = "KEY"
    elif col.namespace in (HEADER, HEADERS):
        info["type"] = "HEADER"
        if col.header_key:
            info["headerKey"] = col.header_key
    return info


def _running_query(q) -> dict:
    return {"queryString": q.statement, "sinks": [q.sink.name] if q.sink else [],
            "sinkKafkaTopics": [q.sink_topic] if q.sink_topic else [], "id": q.id,
            "statusCount": {q.state: 1}, "queryType": q.kind, "state": q.state}


def source_description(engine, src, extended: bool = False) -> dict:
    readers = [_running_query(q) for q in engine.queries if src.name in q.sources]
    writers = [_running_query(q) for q in engine.queries if q.sink and q.sink.name == src.name]
    topic = engine.log.topic(src.topic)
    fields = [{"name": "ROWTIME", "schema": {"type": "BIGINT", "fields": None,
                                              "memberSchema": None}}] if False else []
    fields += [field_info(c) for c in src.schema.columns]
    return {
        "name": src.name, "windowType": src.window.type if src.window else None,
        "readQueries": readers, "writeQueries": writers, "fields": fields,
        "type": src.kind, "timestamp": src.timestamp_column or "", "statistics": "",
        "errorStats": "", "extended": extended, "keyFormat": src.key_format.name,
        "valueFormat": src.value_format.name, "topic": src.topic,
        "partitions": topic.partitions if topic else 0,
        "replication": topic.replicas if topic else 0, "statement": src.statement,
        "queryOffsetSummaries": [], "sourceConstraints": [],
    }


def _source_list_item(src) -> dict:
    return {"type": src.kind, "name": src.name, "topic": src.topic,
            "keyFormat": src.key_format.name, "valueFormat": src.value_format.name,
            "isWindowed": src.window is not None}


def show(engine, session, node, text):
    what = str(node.this).upper()
    extended = bool(node.args.get("extended"))
    if what in ("STREAMS", "TABLES"):
        kind = what[:-1]
        sources = [s for s in engine.catalog.sources() if s.kind == kind]
        if extended:
            return entity("source_descriptions", text, sourceDescriptions=[
                source_description(engine, s, True) for s in sources])
        return entity(what.lower(), text, **{what.lower(): [_source_list_item(s)
                                                              for s in sources]})
    if what == "TOPICS":
        show_all = bool(node.args.get("all"))
        topics = [t for t in engine.log.topics()
                  if show_all or not t.name.startswith("_confluent-ksql-")]
        return entity("kafka_topics", text, topics=[
            {"name": t.name, "replicaInfo": [t.replicas] * t.partitions} for t in topics])
    if what == "QUERIES":
        return entity("queries", text, queries=[_running_query(q) for q in engine.queries])
    if what == "PROPERTIES":
        props = session.properties
        return entity("properties", text, properties=[
            {"name": k, "scope": "KSQL" if k.startswith("ksql.") else "STREAMS",
             "value": str(v), "editable": False, "level": "SERVER"}
            for k, v in sorted(props.items())],
            overwrittenProperties=sorted(session.overrides), defaultProperties=[])
    if what == "FUNCTIONS":
        from ksqlpy.expr import function_names

        return entity("function_names", text, functions=function_names())
    if what == "TYPES":
        from ksqlpy.runtime.describe import _field_schema as fs

        return entity("type_list", text, types={n: fs(t) for n, t in engine.catalog.types.items()})
    if what == "VARIABLES":
        return entity("variables", text, variables=[
            {"name": k, "value": v} for k, v in session.variables.items()])
    raise NotSupportedError(f"SHOW {what} is not supported yet.")


def describe(engine, session, node, text):
    extended = bool(node.args.get("extended"))
    what = node.args.get("what")
    if what:
        kind = str(what).upper()[:-1]
        return entity("source_descriptions", text, sourceDescriptions=[
            source_description(engine, s, extended) for s in engine.catalog.sources()
            if s.kind == kind])
    name = name_of(node.this)
    src = engine.catalog.source(name)
    if src is None:
        raise AnalysisError(f"Could not find STREAM/TABLE '{name}' in the Metastore")
    return entity("sourceDescription", text,
                  sourceDescription=source_description(engine, src, extended))


def explain(engine, session, node, text):
    qid = node.args.get("query_id")
    if qid:
        q = engine.queries_by_id.get(str(qid).upper()) or engine.queries_by_id.get(str(qid))
        if q is None:
            raise AnalysisError(f"Query with id:{qid} does not exist, use SHOW QUERIES to view "
                                f"the full set of queries.")
        steps, statement, fields = q.plan.steps, q.statement, q.plan.output.columns
        qid = q.id
    else:
        raise NotSupportedError("EXPLAIN <statement> is not supported yet; use EXPLAIN <query id>.")
    plan_text = "\n".join(f" > [ {s['@type']} ] | " + " | ".join(
        f"{k}: {v}" for k, v in s.items() if k != "@type") for s in steps)
    return entity("queryDescription", text, queryDescription={
        "id": qid, "statementText": statement, "windowType": None,
        "fields": [field_info(c) for c in fields], "sources": q.sources,
        "sinks": [q.sink.name], "topology": "", "executionPlan": plan_text,
        "overriddenProperties": {}, "queryType": q.kind, "state": q.state})
