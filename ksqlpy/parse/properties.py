"""WITH-clause properties (stage: AST → analysis): typed, validated, ksqlDB's messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from ksqlpy.errors import AnalysisError

KNOWN = {
    "KAFKA_TOPIC", "KEY_FORMAT", "VALUE_FORMAT", "FORMAT", "PARTITIONS", "REPLICAS",
    "RETENTION_MS", "CLEANUP_POLICY", "TIMESTAMP", "TIMESTAMP_FORMAT", "WRAP_SINGLE_VALUE",
    "KEY_SCHEMA_ID", "VALUE_SCHEMA_ID", "KEY_SCHEMA_FULL_NAME", "VALUE_SCHEMA_FULL_NAME",
    "VALUE_AVRO_SCHEMA_FULL_NAME", "KEY_DELIMITER", "VALUE_DELIMITER", "WINDOW_TYPE",
    "WINDOW_SIZE", "SOURCE_CONNECTOR", "QUERY_ID", "KEY_PROTOBUF_NULLABLE_REPRESENTATION",
    "VALUE_PROTOBUF_NULLABLE_REPRESENTATION",
}
INTEGER_PROPS = {"PARTITIONS", "REPLICAS", "RETENTION_MS", "KEY_SCHEMA_ID", "VALUE_SCHEMA_ID"}


@dataclass
class WithProperties:
    """WITH (...) as a dict keyed by upper-case property name; values are str, int or bool."""

    values: dict[str, object] = field(default_factory=dict)

    def get(self, key: str, default=None):
        return self.values.get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def str(self, key: str) -> str | None:
        v = self.values.get(key)
        return None if v is None else str(v)


def _literal_value(node):
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        text = node.this
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if isinstance(node, exp.Neg):
        return -_literal_value(node.this)
    if isinstance(node, (exp.Identifier, exp.Var, exp.Column)):
        return node.name
    return node.sql()


def parse_with(props, allowed: set[str] | None = None) -> WithProperties:
    """Turn the grammar's WithProperty nodes into validated values."""
    out: dict[str, object] = {}
    for p in props or ():
        key = str(p.this).upper()
        if key not in KNOWN or (allowed is not None and key not in allowed):
            raise AnalysisError(f"Invalid config variable(s) in the WITH clause: {key}")
        value = _literal_value(p.args.get("value"))
        if key in INTEGER_PROPS:
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise AnalysisError(
                    f"Invalid value {value} for property {key}: Not an int") from None
        if key == "WRAP_SINGLE_VALUE" and isinstance(value, str):
            if value.lower() not in ("true", "false"):
                raise AnalysisError(
                    f"Invalid value {value} for property WRAP_SINGLE_VALUE: Not a boolean")
            value = value.lower() == "true"
        out[key] = value
    for other in ("KEY_FORMAT", "VALUE_FORMAT"):
        if "FORMAT" in out and other in out:
            raise AnalysisError(
                f"Cannot supply both '{other}' and 'FORMAT' properties, as 'FORMAT' sets both "
                "key and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and "
                "'VALUE_FORMAT'.")
    return WithProperties(out)
