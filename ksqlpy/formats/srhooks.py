"""The two calls ``ksqlpy.runtime.statements`` makes into the schema-registry formats."""

from __future__ import annotations

from ksqlpy.formats.base import FormatInfo
from ksqlpy.formats.inference import (default_key_full_name, infer_columns, register_schemas,
                                      sr_properties, with_registry)

__all__ = ["infer_source_columns", "attach"]


def _names(props, session) -> tuple[str, str | None]:
    p = session.properties
    fmt = props.str("FORMAT")
    key = (props.str("KEY_FORMAT") or fmt or p.get("ksql.persistence.default.format.key")
           or "KAFKA").upper()
    value = props.str("VALUE_FORMAT") or fmt or p.get("ksql.persistence.default.format.value")
    return key, value.upper() if value else None


def infer_source_columns(engine, session, props, kind: str, cols: list) -> list:
    """CREATE STREAM/TABLE: add the key/value columns a SR format can infer."""
    key_name, value_name = _names(props, session)
    if value_name is None:
        return cols
    topic = props.str("KAFKA_TOPIC")
    if not topic:
        return cols
    sk, sv = sr_properties(props, key_name, value_name)
    wrap = props.get("WRAP_SINGLE_VALUE")
    return infer_columns(engine, props, kind, topic, cols, FormatInfo(key_name, sk),
                         FormatInfo(value_name, sv), wrap)


def attach(engine, source_name: str, topic: str, key_fmt: FormatInfo, value_fmt: FormatInfo,
           schema, is_sink: bool) -> tuple[FormatInfo, FormatInfo]:
    """Formats carrying the registry and topic; registers the source's schemas."""
    registry = getattr(engine, "schema_registry", None)
    key_fmt = default_key_full_name(key_fmt, source_name)
    key_fmt = with_registry(key_fmt, registry, topic)
    value_fmt = with_registry(value_fmt, registry, topic)
    register_schemas(engine, topic, key_fmt, value_fmt, list(schema.key), list(schema.value),
                     always=is_sink)
    return key_fmt, value_fmt
