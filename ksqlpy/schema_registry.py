"""An in-process Confluent Schema Registry (pipeline edges: the SR formats).

Subjects (``<topic>-key`` / ``<topic>-value``) hold versions of schemas; every distinct schema
gets a global id (a sequence from 1, like Confluent's). Registering a schema that a subject
already holds returns its id; the same schema text under another subject reuses the id.
Schema types are ``AVRO`` (the default), ``PROTOBUF`` and ``JSON``.

>>> sr = SchemaRegistry()
>>> sr.register("t-value", '{"type": "int"}')
1
>>> sr.register("t-value", '{"type":"int"}'), sr.latest("t-value").version
(1, 1)
>>> sr.by_id(1).schema_type
'AVRO'
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

__all__ = ["SchemaRegistry", "RegisteredSchema", "SchemaRegistryError", "subject_name",
           "SCHEMA_TYPES"]

SCHEMA_TYPES = ("AVRO", "PROTOBUF", "JSON")


class SchemaRegistryError(Exception):
    """An unknown subject or id, or an invalid registration."""


def subject_name(topic: str, is_key: bool) -> str:
    """``KsqlConstants.getSRSubject``: ``<topic>-key`` or ``<topic>-value``."""
    return f"{topic}-{'key' if is_key else 'value'}"


@dataclass(frozen=True)
class RegisteredSchema:
    id: int
    subject: str
    version: int
    schema_type: str
    schema: str                               # the schema text as registered
    references: tuple = field(default=())     # ({"name", "subject", "version"}, ...)


def _canonical(schema: str, schema_type: str) -> str:
    if schema_type in ("AVRO", "JSON"):
        try:
            return json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"))
        except ValueError:
            return schema
    return " ".join(schema.split())


class SchemaRegistry:
    """Thread-safe in-memory registry (one per engine)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_id: dict[int, tuple[str, str, tuple]] = {}     # id -> (type, text, refs)
        self._ids: dict[tuple[str, str], int] = {}            # (type, canonical) -> id
        self._subjects: dict[str, list[RegisteredSchema]] = {}
        self._next_id = 1

    def register(self, subject: str, schema, schema_type: str = "AVRO", *,
                 schema_id: int | None = None, references=()) -> int:
        """Register ``schema`` (text, or a dict/list for AVRO/JSON) under ``subject``."""
        schema_type = (schema_type or "AVRO").upper()
        if schema_type not in SCHEMA_TYPES:
            raise SchemaRegistryError(f"Unknown schema type: {schema_type}")
        if not isinstance(schema, str):
            schema = json.dumps(schema)
        refs = tuple(references or ())
        canon = (schema_type, _canonical(schema, schema_type))
        with self._lock:
            versions = self._subjects.setdefault(subject, [])
            if schema_id is None:
                for v in versions:
                    if (v.schema_type, _canonical(v.schema, v.schema_type)) == canon:
                        return v.id
                sid = self._ids.get(canon)
                if sid is None:
                    sid = self._next_id
                    while sid in self._by_id:
                        sid += 1
                    self._next_id = sid + 1
            else:
                sid = int(schema_id)
                old = self._by_id.get(sid)
                if old is not None and (old[0], _canonical(old[1], old[0])) != canon:
                    raise SchemaRegistryError(
                        f"Schema id {sid} is already used by another schema")
                for v in versions:
                    if v.id == sid:
                        return sid
            self._by_id.setdefault(sid, (schema_type, schema, refs))
            self._ids.setdefault(canon, sid)
            versions.append(RegisteredSchema(sid, subject, len(versions) + 1, schema_type,
                                             schema, refs))
            return sid

    def latest(self, subject: str) -> RegisteredSchema | None:
        with self._lock:
            versions = self._subjects.get(subject)
            return versions[-1] if versions else None

    def version(self, subject: str, version: int) -> RegisteredSchema | None:
        with self._lock:
            for v in self._subjects.get(subject, ()):
                if v.version == version:
                    return v
        return None

    def by_id(self, schema_id: int) -> RegisteredSchema:
        with self._lock:
            got = self._by_id.get(schema_id)
        if got is None:
            raise SchemaRegistryError(f"Schema {schema_id} not found")
        return RegisteredSchema(schema_id, "", 0, got[0], got[1], got[2])

    def has_id(self, schema_id: int) -> bool:
        return schema_id in self._by_id

    def subjects(self) -> list[str]:
        with self._lock:
            return [s for s, v in self._subjects.items() if v]

    def versions(self, subject: str) -> list[RegisteredSchema]:
        with self._lock:
            return list(self._subjects.get(subject, ()))

    def delete_subject(self, subject: str) -> list[int]:
        with self._lock:
            return [v.version for v in self._subjects.pop(subject, [])]
