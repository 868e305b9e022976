"""Statement handlers (stage: runtime). One function per statement kind, dispatched through
``HANDLERS`` by AST node class name. Each validates against the catalog with ksqlDB's
messages, applies the change and returns the /ksql entity the REST API will serve."""

from __future__ import annotations

from sqlglot import exp

from ksqlpy.catalog import Source, WindowInfo
from ksqlpy.errors import AnalysisError, NotSupportedError
from ksqlpy.formats import FormatInfo, validate as validate_format
from ksqlpy.formats import srhooks as _sr
from ksqlpy.parse import name_of, parse_with
from ksqlpy.plan.planner import plan_query
from ksqlpy.runtime.query import PersistentQuery
from ksqlpy.schema import HEADER, HEADERS, KEY, VALUE, Column, LogicalSchema
from ksqlpy.types import BYTES, STRING, SqlType, array, from_ast, struct

HANDLERS = {}


def handler(*names):
    def register(fn):
        for n in names:
            HANDLERS[n] = fn
        return fn
    return register


async def execute(engine, session, node, text: str):
    fn = HANDLERS.get(type(node).__name__)
    if fn is None:
        if isinstance(node, exp.Select):
            raise AnalysisError(
                "The following statement types should be issued to the websocket endpoint "
                "'/query':\n\t* PRINT\n\t* SELECT")
        raise NotSupportedError(f"Statement not supported yet: {type(node).__name__}")
    return await fn(engine, session, node, text)


def status(text: str, command_id: str, message: str, query_id: str | None = None,
           seq: int = 0):
    from ksqlpy.runtime.engine import StatementResult

    status = {"status": "SUCCESS", "message": message}
    if query_id:
        status["queryId"] = query_id
    return StatementResult("currentStatus", {
        "@type": "currentStatus", "statementText": text, "commandId": command_id,
        "commandStatus": status, "commandSequenceNumber": seq, "warnings": []},
        query_id=query_id, message=message)


def entity(kind: str, text: str, **fields):
    from ksqlpy.runtime.engine import StatementResult

    return StatementResult(kind, {"@type": kind, "statementText": text, **fields,
                                  "warnings": []})


# -- formats -------------------------------------------------------------------------------

HEADERS_TYPE = array(struct([("KEY", STRING), ("VALUE", BYTES)]))


def _format_infos(props, session, *, inherit: Source | None = None,
                  key_columns=(), value_columns=()):
    p = session.properties
    fmt = props.str("FORMAT")
    inherited_key = inherit.key_format.name if inherit else None
    if inherited_key == "NONE" and key_columns:
        inherited_key = None  # a keyless source whose result has a key (join, GROUP BY)
    key_name = (props.str("KEY_FORMAT") or fmt or inherited_key or
                p.get("ksql.persistence.default.format.key") or "KAFKA").upper()
    value_name = props.str("VALUE_FORMAT") or fmt or \
        (inherit.value_format.name if inherit else None) or \
        p.get("ksql.persistence.default.format.value")
    if not value_name:
        raise AnalysisError(
            "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either "
            "provide one or set a default via the 'ksql.persistence.default.format.value' "
            "config.")
    value_name = value_name.upper()
    key_props, value_props = {}, {}
    if props.str("KEY_DELIMITER"):
        key_props["delimiter"] = props.str("KEY_DELIMITER")
    if props.str("VALUE_DELIMITER"):
        value_props["delimiter"] = props.str("VALUE_DELIMITER")
    elif inherit is not None and inherit.value_format.name == value_name and \
            "delimiter" in inherit.value_format.properties:
        value_props["delimiter"] = inherit.value_format.properties["delimiter"]
    if inherit is not None and inherit.key_format.name == key_name and \
            "delimiter" in inherit.key_format.properties and "delimiter" not in key_props:
        key_props["delimiter"] = inherit.key_format.properties["delimiter"]
    wrap = props.get("WRAP_SINGLE_VALUE")
    if wrap is None and p.get("ksql.persistence.wrap.single.values") not in (None, "", "null"):
        wrap = str(p.get("ksql.persistence.wrap.single.values")).lower() == "true"
        wrap = wrap if len(value_columns) == 1 else None
    if key_name == "NONE" and key_columns:
        got = ", ".join(c.sql() for c in key_columns)
        raise AnalysisError(
            f"The 'NONE' format can only be used when no columns are defined. Got: [{got}]")
    from ksqlpy.formats.inference import sr_properties  # SR formats: schema ids/names
    sr_key, sr_value = sr_properties(props, key_name, value_name)
    key = FormatInfo(key_name, {**key_props, **sr_key})
    value = FormatInfo(value_name, {**value_props, **sr_value}, wrap)
    try:
        validate_format(key, list(key_columns), True)
    except AnalysisError as e:
        cols = ", ".join(c.sql() for c in key_columns)
        raise AnalysisError(
            f"Key format does not support schema.\nformat: {key.name}\nschema: "
            f"Persistence{{columns=[{cols}], features=[]}}\nreason: {e.message}") from None
    validate_format(value, list(value_columns), False)
    return key, value


def _features(key_columns, value_format: FormatInfo, value_columns):
    key_features = ("UNWRAP_SINGLES",) if len(key_columns) == 1 and \
        key_columns[0] is not None else ()
    value_features = ()
    if value_format.wrap_single is False:
        value_features = ("UNWRAP_SINGLES",)
    elif value_format.wrap_single is True:
        value_features = ("WRAP_SINGLES",)
    return key_features, value_features


async def _ensure_topic(engine, name: str, partitions: int | None, replicas: int | None,
                        *, create: bool, config: dict | None = None) -> int:
    for what, value in (("partitions", partitions), ("replicas", replicas)):
        if value is not None and value < 1:
            raise AnalysisError(f"Invalid number of {what}: {value}. It must be at least 1.")
    info = engine.log.topic(name)
    if info is not None:
        if partitions is not None and info.partitions != partitions:
            raise AnalysisError(
                f"A Kafka topic with the name '{name}' already exists, with different "
                f"partition/replica configuration than required. KSQL expects {partitions} "
                f"partitions (topic has {info.partitions}), 1 replication factor (topic has 1).")
        return info.partitions
    if not create and partitions is None:
        raise AnalysisError(f"Kafka topic does not exist: {name}")
    await engine.log.create_topic(name, partitions or 1, replicas or 1, config or {})
    return partitions or 1


# -- CREATE STREAM / TABLE -----------------------------------------------------------------

def _columns(node, kind: str, engine) -> list[Column]:
    cols: list[Column] = []
    seen = set()
    for el in node.args.get("columns") or []:
        name = name_of(el.this)
        if name in seen:
            raise AnalysisError(f"Duplicate column names: {name}")
        seen.add(name)
        t = from_ast(el.args["kind"], engine.catalog.types)
        constraint = el.args.get("constraint")
        if constraint == "PRIMARY KEY":
            if kind == "STREAM":
                raise AnalysisError(
                    f"Column `{name}` is a 'PRIMARY KEY' column: please use 'KEY' for streams.\n"
                    "Tables have PRIMARY KEYs, which are unique and NON NULL.\n"
                    "Streams have KEYs, which have no uniqueness or NULL constraints.")
            cols.append(Column(name, t, KEY))
        elif constraint == "KEY":
            if kind == "TABLE":
                raise AnalysisError(
                    f"Column `{name}` is a 'KEY' column: please use 'PRIMARY KEY' for tables.\n"
                    "Tables have PRIMARY KEYs, which are unique and NON NULL.\n"
                    "Streams have KEYs, which have no uniqueness or NULL constraints.")
            cols.append(Column(name, t, KEY))
        elif constraint == "HEADERS":
            if t != HEADERS_TYPE:
                raise AnalysisError(
                    f"Invalid type for HEADERS column: expected {HEADERS_TYPE}, got {t}")
            cols.append(Column(name, t, HEADERS))
        elif constraint == "HEADER":
            if t != BYTES:
                raise AnalysisError(
                    f"Invalid type for HEADER('{el.args.get('header_key')}') column: expected "
                    f"BYTES, got {t}")
            cols.append(Column(name, t, HEADER, el.args.get("header_key")))
        else:
            cols.append(Column(name, t, VALUE))
    for c in cols:
        if c.name in ("ROWTIME", "ROWPARTITION", "ROWOFFSET", "WINDOWSTART", "WINDOWEND"):
            raise AnalysisError(
                f"'{c.name}' is a reserved column name. You cannot use it as a name for a "
                f"column.")
        if c.namespace == KEY and _contains_map(c.type):
            raise AnalysisError(
                "Map keys, including types that contain maps, are not supported as they may "
                "lead to unexpected behavior due to inconsistent serialization. Key column "
                f"name: `{c.name}`. Column type: {c.type}. See "
                "https://github.com/confluentinc/ksql/issues/6621 for more.")
    return cols


def _contains_map(t: SqlType) -> bool:
    if t.base == "MAP":
        return True
    if t.base == "ARRAY":
        return _contains_map(t.item)
    if t.base == "STRUCT":
        return any(_contains_map(ft) for _, ft in t.fields)
    return False


def _window_info(props) -> WindowInfo | None:
    """WINDOW_TYPE/WINDOW_SIZE of a CREATE STREAM/TABLE. ksqlDB checks these source
    properties while parsing the statement, so their errors are parse errors."""
    from ksqlpy.errors import ParseError

    wtype = props.str("WINDOW_TYPE")
    if not wtype:
        return None
    wtype = wtype.upper()
    if wtype not in ("TUMBLING", "HOPPING", "SESSION"):
        raise ParseError(f"Invalid value {wtype} for property WINDOW_TYPE")
    size = props.str("WINDOW_SIZE")
    if wtype == "SESSION":
        if size:
            raise ParseError("'WINDOW_SIZE' should not be set for SESSION windows.")
        return WindowInfo("SESSION", None)
    if not size:
        raise ParseError(f"'WINDOW_SIZE' must be set for {wtype} windows.")
    return WindowInfo(wtype, parse_duration_ms(size))


_UNITS = {"MILLISECOND": 1, "SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000,
          "DAY": 86_400_000}


def parse_duration_ms(text: str) -> int:
    parts = text.strip().split()
    if len(parts) != 2 or not parts[0].lstrip("-").isdigit():
        raise AnalysisError(f"Invalid duration: '{text}'")
    unit = parts[1].upper().rstrip("S")
    if unit not in _UNITS:
        raise AnalysisError(f"Invalid duration unit: '{parts[1]}'")
    return int(parts[0]) * _UNITS[unit]


@handler("CreateSource")
async def create_source(engine, session, node, text):
    kind = node.args["kind"].upper()
    name = name_of(node.this)
    is_source = bool(node.args.get("source"))
    if is_source and node.args.get("replace"):
        raise AnalysisError(f"Cannot add {kind.lower()} '{name}': CREATE OR REPLACE is not "
                            f"supported on source {kind.lower()}s.")
    existing = engine.catalog.source(name)
    if existing is not None:
        if node.args.get("exists"):
            return _exists_warning(text, existing)
        if node.args.get("replace"):
            if is_source or existing.is_source:
                raise AnalysisError(
                    f"Cannot add {kind.lower()} '{name}': CREATE OR REPLACE is not supported on "
                    f"source {kind.lower()}s.")
        else:
            raise AnalysisError(
                f"Cannot add {kind.lower()} '{name}': A {existing.kind.lower()} with the same "
                f"name already exists")
    props = parse_with(node.args.get("properties"))
    cols = _columns(node, kind, engine)
    schema = LogicalSchema.of(cols)
    topic = props.str("KAFKA_TOPIC")
    if not topic:
        raise AnalysisError(
            "Missing required property \"KAFKA_TOPIC\" which has no default value.")
    cols = _sr.infer_source_columns(engine, session, props, kind, cols)  # schema inference
    schema = LogicalSchema.of(cols)
    key_fmt, value_fmt = _format_infos(props, session, key_columns=schema.key,
                                       value_columns=schema.value)
    if not cols:
        raise AnalysisError("The statement does not define any columns.")
    if kind == "TABLE" and not schema.key:
        raise AnalysisError("Tables require a PRIMARY KEY. Please define the PRIMARY KEY.")
    window = _window_info(props)
    if window is not None and not schema.key:
        raise AnalysisError("Windowed sources require a key column.")
    partitions = await _ensure_topic(engine, topic, props.get("PARTITIONS"),
                                     props.get("REPLICAS"), create=False)
    key_features, value_features = _features(schema.key, value_fmt, schema.value)
    key_fmt, value_fmt = _sr.attach(engine, name, topic, key_fmt, value_fmt, schema, False)
    ts_col = props.str("TIMESTAMP")
    source = Source(name=name, kind=kind, topic=topic, schema=schema, key_format=key_fmt,
                    value_format=value_fmt, statement=text, window=window, is_source=is_source,
                    timestamp_column=name_of_str(ts_col),
                    timestamp_format=props.str("TIMESTAMP_FORMAT"), partitions=partitions,
                    key_features=key_features, value_features=value_features)
    if source.timestamp_column:
        from ksqlpy.operators.timestamps import timestamp_extractor

        timestamp_extractor(source)  # validates the column and its type
    engine.catalog.add(source, replace=bool(node.args.get("replace")))
    await engine.record_command(text, session.overrides)
    what = "Stream" if kind == "STREAM" else "Table"
    return status(text, f"{kind.lower()}/`{name}`/create", f"{what} created")


def name_of_str(text: str | None) -> str | None:
    """A column name given as a property string: quoted with backticks keeps case."""
    if text is None:
        return None
    if text.startswith("`") and text.endswith("`"):
        return text[1:-1]
    return text.upper()


def _location(node) -> str:
    """ksqlDB's ``Line: L, Col: C: `` prefix for a name in the statement, when known."""
    meta = getattr(node, "meta", None) or {}
    if "line" not in meta or "col" not in meta:
        return ""
    col = meta["col"] - (meta.get("end", 0) - meta.get("start", 0))
    return f"Line: {meta['line']}, Col: {col}: "


def _exists_warning(text, existing):
    r = status(text, f"{existing.kind.lower()}/`{existing.name}`/create",
               f"A {existing.kind.lower()} with the same name already exists.")
    r.entity["warnings"] = [{"message": r.message}]
    return r


# -- CREATE ... AS SELECT / INSERT INTO ----------------------------------------------------

async def _start_query(engine, session, text, select, plan, sink, query_id: str,
                       command_id: str):
    """Create, start and record a persistent query writing ``sink``. The query can plan
    ``select`` again for fresh operator state (a scale-out rebalance)."""
    properties = session.properties
    ctx = engine.operator_context(query_id, properties)

    def replan():
        return plan_query(select, engine.catalog, properties, sink_name=sink.name)

    query = PersistentQuery(query_id, text, plan, sink, engine.log, ctx,
                            group=f"_confluent-ksql-{engine.service_id}query_{query_id}",
                            replan=replan)
    engine.add_query(query, properties)
    await engine.record_command(text, session.overrides)
    return status(text, command_id, f"Created query with ID {query_id}", query_id)


@handler("CreateAsSelect")
async def create_as_select(engine, session, node, text):
    kind = node.args["kind"].upper()
    name = name_of(node.this)
    existing = engine.catalog.source(name)
    if existing is not None and not node.args.get("replace"):
        if node.args.get("exists"):
            return _exists_warning(text, existing)
        raise AnalysisError(
            f"Cannot add {kind.lower()} '{name}': A {existing.kind.lower()} with the same name "
            f"already exists")
    props = parse_with(node.args.get("properties"))
    select = node.expression
    if select.args.get("limit") is not None:
        raise AnalysisError(f"CREATE {kind} AS SELECT statements don't support LIMIT clause.")
    properties = session.properties
    plan = plan_query(select, engine.catalog, properties, sink_name=name,
                      sink_timestamp=name_of_str(props.str("TIMESTAMP")))
    source = plan.source
    if any(s.kind == "TABLE" and s.window is not None for s in plan.sources):
        from ksqlpy.errors import KsqlError

        raise KsqlError("KSQL does not support persistent queries on windowed tables.")
    aggregated = "window" in plan.extra
    if kind == "TABLE" and source.kind == "STREAM" and not aggregated:
        raise AnalysisError(
            "Invalid result type. Your SELECT query produces a STREAM. Please use CREATE "
            "STREAM AS SELECT statement instead.")
    if kind == "STREAM" and (source.kind == "TABLE" or aggregated):
        raise AnalysisError(
            "Invalid result type. Your SELECT query produces a TABLE. Please use CREATE TABLE "
            "AS SELECT statement instead.")
    topic = props.str("KAFKA_TOPIC") or \
        (properties.get("ksql.output.topic.name.prefix") or "") + name
    key_fmt, value_fmt = _format_infos(props, session, inherit=source,
                                       key_columns=plan.output.key,
                                       value_columns=plan.output.value)
    partitions = props.get("PARTITIONS") or _int(properties.get("ksql.sink.partitions")) or \
        source.partitions
    replicas = props.get("REPLICAS") or _int(properties.get("ksql.sink.replicas")) or 1
    ts_col = name_of_str(props.str("TIMESTAMP"))
    key_features, value_features = _features(plan.output.key, value_fmt, plan.output.value)
    key_fmt, value_fmt = _sr.attach(engine, name, topic, key_fmt, value_fmt, plan.output, True)
    window = source.window
    if plan.extra.get("window") is not None:
        w = plan.extra["window"]
        window = WindowInfo(w.kind, None if w.kind == "SESSION" else w.size)
    sink = Source(name=name, kind=kind, topic=topic, schema=plan.output, key_format=key_fmt,
                  value_format=value_fmt, statement=text, window=window,
                  timestamp_column=ts_col, timestamp_format=props.str("TIMESTAMP_FORMAT"),
                  partitions=partitions, replicas=replicas, key_features=key_features,
                  value_features=value_features, cas_target=True)
    if ts_col:
        from ksqlpy.operators.timestamps import timestamp_extractor

        timestamp_extractor(sink)
    prefix = "CSAS" if kind == "STREAM" else "CTAS"
    old_query = None
    if existing is not None:
        old_query = existing.writer_query
    query_id = old_query or engine.next_query_id(prefix, name)
    await _ensure_topic(engine, topic, partitions, replicas, create=True)
    sink.writer_query = query_id
    if old_query and old_query in engine.queries_by_id:
        await engine.queries_by_id.pop(old_query).stop()
    engine.catalog.add(sink, replace=existing is not None)
    return await _start_query(engine, session, text, select, plan, sink, query_id,
                              f"{kind.lower()}/`{name}`/create")


def _int(v):
    try:
        return int(v) if v not in (None, "") else None
    except ValueError:
        return None


@handler("InsertInto")
async def insert_into(engine, session, node, text):
    name = name_of(node.this)
    target = engine.catalog.source(name)
    if target is None:
        raise AnalysisError(f"{_location(node.this)}Source `{name}` does not exist.")
    if target.kind != "STREAM":
        raise AnalysisError(
            f"INSERT INTO can only be used to insert into a stream. {name} is a table.")
    if any(c.namespace in (HEADER, HEADERS) for c in target.schema.columns):
        raise AnalysisError(f"Cannot insert into {name} because it has header columns")
    props = parse_with(node.args.get("properties"), allowed={"QUERY_ID"})
    properties = session.properties
    plan = plan_query(node.expression, engine.catalog, properties, sink_name=name)
    if plan.output != target.schema:
        raise AnalysisError(
            f"Incompatible schema between results and sink.\nResult schema is {plan.output}\n"
            f"Sink schema is {target.schema}")
    if target.is_source:
        raise AnalysisError(f"Cannot insert into read-only {target.kind.lower()}: {name}")
    query_id = props.str("QUERY_ID")
    if query_id:
        query_id = query_id.upper()
        if query_id in engine.queries_by_id:
            raise AnalysisError(f"Query ID '{query_id}' already exists.")
    else:
        query_id = engine.next_query_id("INSERTQUERY", None)
    return await _start_query(engine, session, text, node.expression, plan, target, query_id,
                              f"stream/`{name}`/create")


# -- INSERT VALUES -------------------------------------------------------------------------

@handler("InsertValues")
async def insert_values(engine, session, node, text):
    from ksqlpy.runtime.insert_values import insert_values as run

    await run(engine, session, node)
    return None


# -- ALTER ---------------------------------------------------------------------------------

@handler("AlterSource")
async def alter_source(engine, session, node, text):
    """ALTER STREAM|TABLE x ADD [COLUMN] c type, ...: append value columns to a source
    declared by CREATE STREAM/TABLE (ksqlDB's AlterSourceFactory and DdlCommandExec)."""
    from dataclasses import replace

    kind = node.args["kind"].upper()
    name = name_of(node.this)
    source = engine.catalog.source(name)
    if source is not None and source.is_source:
        raise AnalysisError(f"Cannot alter {kind.lower()} '{name}': ALTER operations are not "
                            f"supported on source {kind.lower()}s.")
    new_cols = [Column(name_of(el.this), from_ast(el.args["kind"], engine.catalog.types), VALUE)
                for el in node.args.get("columns") or []]
    if source is None:
        raise AnalysisError(f"Source {name} does not exist.")
    if source.kind != kind:
        raise AnalysisError(
            f"Incompatible data source type is {source.kind}, but statement was ALTER {kind}")
    if source.writer_query is not None or source.cas_target:
        raise AnalysisError("ALTER command is not supported for CREATE ... AS statements.")
    seen = {c.name for c in source.schema.columns}
    for c in new_cols:
        if c.name in seen:
            raise AnalysisError(f"Cannot add column `{c.name}` to schema. A column with the "
                                f"same name already exists.")
        seen.add(c.name)
    schema = LogicalSchema(key=source.schema.key, value=source.schema.value + tuple(new_cols),
                           headers=source.schema.headers)
    validate_format(source.value_format, list(schema.value), False)
    engine.catalog.add(replace(source, schema=schema, statement=text), replace=True)
    await engine.record_command(text, session.overrides)
    what = "Stream" if kind == "STREAM" else "Table"
    return status(text, f"{kind.lower()}/`{name}`/alter", f"{what} {name} altered.")


# -- DROP / TERMINATE ----------------------------------------------------------------------

@handler("DropSource")
async def drop_source(engine, session, node, text):
    kind = node.args["kind"].upper()
    name = name_of(node.this)
    source = engine.catalog.source(name)
    if source is None:
        if node.args.get("exists"):
            return status(text, f"{kind.lower()}/`{name}`/drop",
                          f"Source `{name}` does not exist.")
        raise AnalysisError(f"{kind.capitalize()} {name} does not exist."
                            + engine.catalog.alternatives_hint(name, kind))
    if source.kind != kind:
        raise AnalysisError(
            f"Incompatible data source type is {source.kind.lower()}, but statement was DROP "
            f"{kind.lower()}")
    if source.is_source and node.args.get("delete_topic"):
        raise AnalysisError(f"Cannot delete topic for read-only source: {name}")
    readers = [q.id for q in engine.queries if name in q.sources]
    writers = [q.id for q in engine.queries if q.sink.name == name and q.id not in readers]
    if writers or readers:
        lines = [f"Cannot drop {name}."]
        if readers:
            lines.append(f"The following queries read from this source: [{', '.join(readers)}].")
        if writers:
            lines.append(f"The following queries write into this source: "
                         f"[{', '.join(writers)}].")
        lines.append("You need to terminate them before dropping " + name + ".")
        raise AnalysisError("\n".join(lines))
    engine.catalog.remove(name)
    if node.args.get("delete_topic"):
        await engine.log.delete_topic(source.topic)
    await engine.record_command(text, session.overrides)
    return status(text, f"{kind.lower()}/`{name}`/drop",
                  f"Source `{name}` (topic: {source.topic}) was dropped.")


@handler("Terminate")
async def terminate(engine, session, node, text):
    if node.args.get("all"):
        ids = [q.id for q in engine.queries]
    else:
        qid = str(node.this)
        match = [q for q in engine.queries if q.id.upper() == qid.upper()]
        if not match:
            if qid in engine.transient:
                await engine.transient.pop(qid).close()
                from ksqlpy.runtime.engine import StatementResult

                return StatementResult("terminate_query", {
                    "@type": "terminate_query", "statementText": text, "queryId": qid,
                    "wasTerminated": True, "warnings": []})
            raise AnalysisError(f"Unknown queryId: {qid}")
        ids = [match[0].id]
    for qid in ids:
        q = engine.queries_by_id.pop(qid)
        await q.stop()
        if q.sink is not None and q.sink.writer_query == qid:
            q.sink.writer_query = None
    await engine.record_command(text, session.overrides)
    return status(text, "terminate/" + ("ALL" if node.args.get("all") else ids[0]) + "/execute",
                  "Query terminated.")


# -- SET / DEFINE / TYPES ------------------------------------------------------------------

@handler("SetProperty")
async def set_property(engine, session, node, text):
    session.overrides[str(node.this)] = str(node.args.get("value"))
    return None


@handler("UnsetProperty")
async def unset_property(engine, session, node, text):
    session.overrides.pop(str(node.this), None)
    return None


@handler("DefineVariable")
async def define(engine, session, node, text):
    session.variables[str(node.this)] = str(node.args.get("value"))
    return None


@handler("UndefineVariable")
async def undefine(engine, session, node, text):
    name = str(node.this)
    if name not in session.variables:
        r = entity("warning_entity", text, message=f"Cannot undefine variable '{name}' which "
                   "was never defined")
        return r
    session.variables.pop(name)
    return None


@handler("CreateType")
async def create_type(engine, session, node, text):
    name = name_of(node.this)
    if name in engine.catalog.types:
        if node.args.get("exists"):
            return status(text, f"type/`{name}`/create", f"Type {name} already exists.")
        raise AnalysisError(
            f"Cannot register custom type '{name}' since it is already registered with type: "
            f"{engine.catalog.types[name]}")
    engine.catalog.types[name] = from_ast(node.args["kind"], engine.catalog.types)
    await engine.record_command(text, session.overrides)
    return status(text, f"type/`{name}`/create", "Created custom type with alias " + name)


@handler("DropType")
async def drop_type(engine, session, node, text):
    name = name_of(node.this)
    if name not in engine.catalog.types:
        if node.args.get("exists"):
            return status(text, f"type/`{name}`/drop", f"Type {name} does not exist.")
        raise AnalysisError(f"Type {name} does not exist.")
    del engine.catalog.types[name]
    await engine.record_command(text, session.overrides)
    return status(text, f"type/`{name}`/drop", "Dropped type " + name)


@handler("RunScript")
async def run_script(engine, session, node, text):
    from ksqlpy.errors import ParseError

    # RUN SCRIPT is a client command: the CLI reads the file and sends its statements.
    raise ParseError("line 1:1: Syntax Error\nUnknown statement 'RUN'", line=1, column=1)


# -- SHOW / DESCRIBE / EXPLAIN -------------------------------------------------------------

@handler("Show")
async def show(engine, session, node, text):
    from ksqlpy.runtime import describe

    return describe.show(engine, session, node, text)


@handler("Describe")
async def describe_source(engine, session, node, text):
    from ksqlpy.runtime import describe

    return describe.describe(engine, session, node, text)


@handler("Explain")
async def explain(engine, session, node, text):
    from ksqlpy.runtime import describe

    return describe.explain(engine, session, node, text)
