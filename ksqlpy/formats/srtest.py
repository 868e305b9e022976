"""Test-side serdes of the SR formats (what QTT's ``ConnectSerdeSupplier`` does).

* :func:`json_to_sr` writes a QTT record value (JSON-like) through the *latest* schema
  registered under the topic's subject (``SpecToConnectConverter.specToConnect``, then the
  format's converter), framed with that schema's id;
* :func:`sr_to_json` reads actual bytes with the writer schema named by their id and returns
  what the comparator sees (``connectToSpec``: structs keyed by the schema's field names,
  doubles as floats, decimals as ``Decimal``, bytes as ``bytes``).

PROTOBUF_NOSR has no registry: pass the columns (the schema comes from the DDL).
"""

from __future__ import annotations

from typing import Any, Sequence

from ksqlpy.formats.connect import (DataError, columns_schema, connect_to_spec,
                                    spec_to_connect)

__all__ = ["json_to_sr", "sr_to_json", "SrTestError", "register_test_schema"]


class SrTestError(Exception):
    """A test value that cannot be written, or bytes that cannot be read."""


def _native_for(fmt: str, registry, subject: str | None, columns, is_key: bool,
                properties: dict | None):
    from ksqlpy.formats.srformat import derive_schema, native_schema

    fmt = fmt.upper()
    if fmt == "PROTOBUF_NOSR" or subject is None or registry is None:
        if columns is None:
            raise SrTestError(f"no schema for {fmt} record")
        cols = list(columns)
        unwrapped = len(cols) == 1 and is_key and fmt in ("AVRO", "JSON_SR")
        return 0, derive_schema(fmt, columns_schema(cols, unwrapped), properties or {},
                                is_key)
    reg = registry.latest(subject)
    if reg is None:
        if columns is None:
            raise SrTestError(f"No schema registered under subject {subject}")
        cols = list(columns)
        unwrapped = len(cols) == 1 and is_key and fmt in ("AVRO", "JSON_SR")
        native = derive_schema(fmt, columns_schema(cols, unwrapped), properties or {},
                               is_key)
        return 0, native
    return reg.id, native_schema(fmt, reg.schema, references=reg.references,
                                 registry=registry,
                                 full_name=(properties or {}).get("fullSchemaName"),
                                 properties=properties or {})


def json_to_sr(value: Any, fmt: str, registry=None, topic: str | None = None, *,
               is_key: bool = False, columns: Sequence | None = None,
               properties: dict | None = None) -> bytes | None:
    """Serialize a QTT test value for ``topic`` in SR format ``fmt``."""
    from ksqlpy.formats.srformat import frame

    if value is None:
        return None
    fmt = fmt.upper()
    subject = None if topic is None else f"{topic}-{'key' if is_key else 'value'}"
    sid, native = _native_for(fmt, registry, subject, columns, is_key, properties)
    try:
        cv = spec_to_connect(value, native.connect)
        body = native.encode(cv)
    except (DataError, ValueError, TypeError, KeyError, OverflowError) as e:
        raise SrTestError(str(e)) from None
    if fmt == "PROTOBUF_NOSR":
        return body
    if fmt == "PROTOBUF":
        from ksqlpy.formats.protobuf import write_indexes

        return frame(sid, body, write_indexes(native.indexes))
    return frame(sid, body)


def sr_to_json(data: bytes | None, fmt: str, registry=None, *, columns: Sequence | None = None,
               is_key: bool = False, properties: dict | None = None) -> Any:
    """Deserialize actual output bytes of SR format ``fmt`` to a comparable value."""
    from ksqlpy.formats.srformat import unframe

    if data is None:
        return None
    fmt = fmt.upper()
    try:
        if fmt == "PROTOBUF_NOSR":
            _, native = _native_for(fmt, None, None, columns, is_key, properties)
            return connect_to_spec(native.decode(data), native.connect)
        sid, body = unframe(data)
        if registry is None:
            raise SrTestError("no schema registry")
        from ksqlpy.formats.srformat import native_schema

        reg = registry.by_id(sid)
        native = native_schema(fmt, reg.schema, references=reg.references, registry=registry)
        if fmt == "PROTOBUF":
            from ksqlpy.formats.protobuf import read_indexes

            indexes, body = read_indexes(body)
            v, cs = native.decode_indexed(body, indexes)
            return connect_to_spec(v, cs)
        return connect_to_spec(native.decode(body), native.connect)
    except SrTestError:
        raise
    except Exception as e:  # noqa: BLE001 - any decoding failure is a test failure
        raise SrTestError(f"{type(e).__name__}: {e}") from None


def register_test_schema(registry, topic: str, is_key: bool, fmt: str | None, schema: Any,
                         schema_id: int | None = None, references=()) -> int:
    """Register a QTT ``topics[]`` key/value schema (before the statements run)."""
    import json

    fmt = (fmt or "AVRO").upper()
    stype = {"AVRO": "AVRO", "JSON_SR": "JSON", "JSON": "JSON", "PROTOBUF": "PROTOBUF",
             "PROTOBUF_NOSR": "PROTOBUF"}.get(fmt, "AVRO")
    if stype == "PROTOBUF" and not isinstance(schema, str):
        schema = json.dumps(schema)
    # the schema itself is registered first (it gets the next id), then its references
    # under their names as subjects (resolved lazily when the schema is parsed)
    refs = tuple(tuple(sorted({"name": r.get("name"), "subject": r.get("name"),
                               "version": 1}.items())) for r in references or ())
    sid = registry.register(f"{topic}-{'key' if is_key else 'value'}", schema, stype,
                            schema_id=schema_id, references=refs)
    for r in references or ():
        ref_fmt = (r.get("format") or fmt).upper()
        ref_type = {"JSON_SR": "JSON", "PROTOBUF_NOSR": "PROTOBUF"}.get(ref_fmt, ref_fmt)
        registry.register(r.get("name"), r.get("schema"), ref_type, schema_id=r.get("id"))
    return sid
