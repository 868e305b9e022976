"""Schema-registry side of CREATE statements: WITH properties of the SR formats, schema
inference (columns from the registry), and registering a source's schemas.

Called from ``ksqlpy.runtime.statements``:

* :func:`sr_properties` — ``KEY/VALUE_SCHEMA_ID``, ``*_SCHEMA_FULL_NAME``,
  ``*_PROTOBUF_NULLABLE_REPRESENTATION`` → format properties (``schemaId``,
  ``fullSchemaName``, ``nullableRepresentation``) as ksqlDB names them;
* :func:`infer_columns` — a CREATE STREAM/TABLE without value columns (or key columns) takes
  them from the latest schema under ``<topic>-value`` / ``<topic>-key`` or from the schema id,
  with ksqlDB's messages when that is not possible;
* :func:`register_schemas` — ksqlDB's ``SchemaRegisterInjector``: a CREATE registers the
  schema derived from its columns when the subject has none; a C*AS always registers its
  sink's schema.
"""

from __future__ import annotations

from dataclasses import replace

from ksqlpy.errors import AnalysisError, KsqlError
from ksqlpy.formats.base import FormatInfo
from ksqlpy.schema import KEY, VALUE, Column

__all__ = ["sr_properties", "infer_columns", "register_schemas", "with_registry",
           "supports_inference", "INFERENCE_FORMATS"]

INFERENCE_FORMATS = ("AVRO", "PROTOBUF", "JSON_SR")
SR_FORMATS = INFERENCE_FORMATS


def supports_inference(name: str) -> bool:
    return name.upper() in INFERENCE_FORMATS


def sr_properties(props, key_name: str, value_name: str, *, source_name: str | None = None
                  ) -> tuple[dict, dict]:
    """Format properties from the WITH clause (only those given, except the default Avro key
    schema name ksqlDB sets for AVRO keys)."""
    key, value = {}, {}
    kfull = props.str("KEY_SCHEMA_FULL_NAME")
    vfull = props.str("VALUE_SCHEMA_FULL_NAME")
    if vfull is None:
        vfull = props.str("VALUE_AVRO_SCHEMA_FULL_NAME")
    if kfull is not None:
        key["fullSchemaName"] = kfull.strip()
    if vfull is not None:
        value["fullSchemaName"] = vfull.strip()
    kid, vid = props.get("KEY_SCHEMA_ID"), props.get("VALUE_SCHEMA_ID")
    if kid is not None:
        key["schemaId"] = str(kid)
    if vid is not None:
        value["schemaId"] = str(vid)
    # ksqlDB sets unwrapPrimitives for new PROTOBUF sources (wrapper types read as
    # nullable primitives)
    if key_name == "PROTOBUF":
        key["unwrapPrimitives"] = "true"
    if value_name == "PROTOBUF":
        value["unwrapPrimitives"] = "true"
    kn = props.str("KEY_PROTOBUF_NULLABLE_REPRESENTATION")
    vn = props.str("VALUE_PROTOBUF_NULLABLE_REPRESENTATION")
    if kn is not None:
        key["nullableRepresentation"] = kn.upper()
    if vn is not None:
        value["nullableRepresentation"] = vn.upper()
    return key, value


def default_key_full_name(key: FormatInfo, source_name: str) -> FormatInfo:
    """ksqlDB names an AVRO key schema after its source (``OutputKey``) unless given."""
    if key.name.upper() == "AVRO" and "fullSchemaName" not in key.properties:
        from ksqlpy.formats.avro import key_schema_name

        return replace(key, properties={**key.properties,
                                        "fullSchemaName": key_schema_name(source_name)})
    return key


def with_registry(info: FormatInfo, registry, topic: str) -> FormatInfo:
    """``info`` carrying the runtime context the SR formats need."""
    return replace(info, registry=registry, topic=topic)


def _fail(msg: str) -> AnalysisError:
    return AnalysisError(msg)


def _schema_for(registry, topic: str, is_key: bool, schema_id):
    side = "key" if is_key else "value"
    subject = f"{topic}-{side}"
    if schema_id is not None:
        try:
            return registry.by_id(int(schema_id)), subject
        except Exception:
            raise _fail(f"Schema id {schema_id} does not exist in schema registry for "
                        f"{subject}") from None
    reg = registry.latest(subject)
    if reg is None:
        raise _fail(
            f"Schema for message {side}s on topic '{topic}' does not exist in the Schema "
            f"Registry.Subject: {subject}\n\n"
            f"Possible causes include:\n"
            f"- The topic itself does not exist\n"
            f"\t-> Use SHOW TOPICS; to check\n"
            f"- Messages on the topic are not serialized using a format Schema Registry "
            f"supports\n"
            f"\t-> Use PRINT '{topic}' FROM BEGINNING; to verify\n"
            f"- Messages on the topic have not been serialized using a Confluent Schema "
            f"Registry supported serializer\n"
            f"\t-> See https://docs.confluent.io/current/schema-registry/docs/serializer-"
            f"formatter.html\n"
            f"- The schema is registered on a different instance of the Schema Registry\n"
            f"\t-> Use the REST API to list available subjects\n"
            f"\t-> https://docs.confluent.io/current/schema-registry/docs/api.html#get--"
            f"subjects\n"
            f"- You do not have permissions to access the Schema Registry.Subject: {subject}"
            f"\n\t-> See https://docs.confluent.io/current/schema-registry/docs/security.html")
    return reg, subject


def _columns_from(fmt: FormatInfo, reg, registry, is_key: bool, unwrapped_allowed: bool,
                  wrap_single) -> list[Column]:
    from ksqlpy.formats.connect import InferenceError, connect_to_sql
    from ksqlpy.formats.srformat import native_schema

    ns = KEY if is_key else VALUE
    try:
        native = native_schema(fmt.name, reg.schema,
                               full_name=fmt.properties.get("fullSchemaName"),
                               references=reg.references, registry=registry,
                               properties=fmt.properties)
        cs = native.connect
        if cs.type == "STRUCT" and not (is_key and unwrapped_allowed and
                                        _single_unwrapped_key(fmt)) and \
                not (not is_key and wrap_single is False):
            cols = []
            seen = set()
            # ksqlDB keeps the schema's field names when given a schema id (it writes back
            # with that exact schema), and upper-cases them otherwise
            exact = fmt.properties.get("schemaId") is not None
            for n, fs in cs.fields:
                name = n if exact else n.upper()
                if name in seen:
                    continue
                seen.add(name)
                cols.append(Column(name, connect_to_sql(fs, upper=not exact), ns))
            if not cols:
                raise InferenceError("Schema has no fields")
            return cols
        if not unwrapped_allowed:
            raise InferenceError(
                f"{fmt.name} schema for {'key' if is_key else 'value'} must be a "
                f"{'message' if 'PROTOBUF' in fmt.name else 'record'}")
        return [Column("ROWKEY" if is_key else "ROWVAL", connect_to_sql(cs), ns)]
    except (InferenceError, ValueError) as e:
        raise _fail(f"Unable to verify if the {'key' if is_key else 'value'} schema for topic: "
                    f"{reg.subject or ''} is compatible with ksqlDB.\nReason: {e}") from None


def _single_unwrapped_key(fmt: FormatInfo) -> bool:
    return fmt.name.upper() in ("AVRO", "JSON_SR")


def infer_columns(engine, props, kind: str, topic: str, cols: list[Column],
                  key_fmt: FormatInfo, value_fmt: FormatInfo, wrap_single) -> list[Column]:
    """``cols`` with inferred key/value columns added, or ``cols`` unchanged."""
    registry = getattr(engine, "schema_registry", None)
    key_cols = [c for c in cols if c.namespace == KEY]
    value_cols = [c for c in cols if c.namespace == VALUE]
    other = [c for c in cols if c.namespace not in (KEY, VALUE)]
    kid = key_fmt.properties.get("schemaId")
    vid = value_fmt.properties.get("schemaId")
    kname, vname = key_fmt.name.upper(), value_fmt.name.upper()
    if vid is not None:
        if not supports_inference(vname):
            raise _fail("VALUE_FORMAT should support schema inference when VALUE_SCHEMA_ID is "
                        f"provided. Current format is {vname}.")
        if value_cols:
            raise _fail("Table elements and VALUE_SCHEMA_ID cannot both exist for create "
                        "statement.")
    if kid is not None:
        if not supports_inference(kname):
            raise _fail("KEY_FORMAT should support schema inference when KEY_SCHEMA_ID is "
                        f"provided. Current format is {kname}.")
        if key_cols:
            raise _fail("Table elements and KEY_SCHEMA_ID cannot both exist for create "
                        "statement.")
    new_key, new_value = key_cols, value_cols
    if registry is None:
        return cols
    if not value_cols and supports_inference(vname):
        reg, _ = _schema_for(registry, topic, False, vid)
        new_value = _columns_from(value_fmt, reg, registry, False, True, wrap_single)
    if not key_cols and supports_inference(kname):
        reg = None
        if kid is not None:
            reg, _ = _schema_for(registry, topic, True, kid)
        else:
            reg = registry.latest(f"{topic}-key")
        if reg is not None:
            new_key = _columns_from(key_fmt, reg, registry, True, True, None)
    if new_key is key_cols and new_value is value_cols:
        return cols
    names = {c.name for c in new_key}
    dup = [c.name for c in new_value if c.name in names]
    if dup:
        raise _fail(f"Duplicate column names: {dup[0]}")
    return list(new_key) + list(new_value) + other


def register_schemas(engine, topic: str, key_fmt: FormatInfo, value_fmt: FormatInfo,
                     key_cols, value_cols, *, always: bool) -> None:
    """Register the derived key/value schemas (``SchemaRegisterInjector``)."""
    from ksqlpy.formats import get_format

    registry = getattr(engine, "schema_registry", None)
    if registry is None:
        return
    for fmt, cols, is_key in ((key_fmt, key_cols, True), (value_fmt, value_cols, False)):
        if fmt.name.upper() not in SR_FORMATS or not cols:
            continue
        if fmt.properties.get("schemaId") is not None:
            continue
        subject = f"{topic}-{'key' if is_key else 'value'}"
        if not always and registry.latest(subject) is not None:
            continue
        f = get_format(with_registry(fmt, registry, topic), is_key)
        try:
            f.writer_schema(list(cols))
        except KsqlError:
            raise
        except Exception as e:
            raise AnalysisError(f"Could not register schema for topic: {e}") from None
