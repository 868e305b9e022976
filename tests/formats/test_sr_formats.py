"""Schema-registry formats: registry, Avro/Protobuf/JSON_SR codecs, framing, inference."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pyarrow as pa
import pytest

from ksqlpy.errors import AnalysisError
from ksqlpy.formats import FormatInfo, get_format, json_to_sr, sr_to_json, validate
from ksqlpy.formats.avro import AvroSchema, connect_to_avro
from ksqlpy.formats.connect import columns_schema
from ksqlpy.formats.inference import with_registry
from ksqlpy.formats.protobuf import ProtoNative, connect_to_proto, read_indexes
from ksqlpy.schema import KEY, Column
from ksqlpy.schema_registry import SchemaRegistry
from ksqlpy.types import (BIGINT, BOOLEAN, BYTES, DATE, DOUBLE, INTEGER, STRING, TIME,
                          TIMESTAMP, array, decimal, map_, struct)

COLS = [Column("I", INTEGER), Column("L", BIGINT), Column("D", DOUBLE), Column("B", BOOLEAN),
        Column("S", STRING), Column("DEC", decimal(4, 2)), Column("BY", BYTES),
        Column("DT", DATE), Column("TM", TIME), Column("TS", TIMESTAMP),
        Column("A", array(STRING)), Column("M", map_(STRING, INTEGER)),
        Column("ST", struct([("X", INTEGER), ("Y", array(DOUBLE))]))]
ROW = [1, 2, 1.5, True, "s", Decimal("1.10"), b"\x01", 3, 4000, 5000, ["a", None],
       [("k", 1), ("n", None)], {"X": 1, "Y": [1.0]}]
NULL_ROW = [None] * len(COLS)


def _fmt(name, registry, topic="t", is_key=False, **props):
    info = with_registry(FormatInfo(name, props), registry, topic)
    return get_format(info, is_key)


def _arrays(rows):
    return [pa.array([r[i] for r in rows], c.type.to_arrow()) for i, c in enumerate(COLS)]


@pytest.mark.parametrize("name", ["AVRO", "JSON_SR", "PROTOBUF", "PROTOBUF_NOSR"])
def test_round_trip_all_types(name):
    sr = SchemaRegistry()
    f = _fmt(name, sr)
    enc = f.encode(_arrays([ROW, NULL_ROW]), COLS)
    assert enc.errors == {}
    d = f.decode(enc.data, COLS)
    assert d.errors == {}
    got = [a.to_pylist()[0] for a in d.arrays]
    assert got[0] == 1 and got[5] == Decimal("1.10") and got[6] == b"\x01"
    assert got[10] == (["a", ""] if name.startswith("PROTOBUF") else ["a", None])
    assert got[12]["X"] == 1
    nulls = [a.to_pylist()[1] for a in d.arrays]
    if name.startswith("PROTOBUF"):
        assert nulls[0] == 0 and nulls[4] == ""      # proto3: nulls read back as defaults
    else:
        assert nulls == [None] * len(COLS)


def test_wire_framing_and_registration():
    sr = SchemaRegistry()
    f = _fmt("AVRO", sr, topic="out")
    data = f.encode([pa.array([7], pa.int32())], [Column("A", INTEGER)]).data.to_pylist()[0]
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == 1
    assert sr.latest("out-value").id == 1
    schema = json.loads(sr.latest("out-value").schema)
    assert schema["name"] == "KsqlDataSourceSchema"
    assert schema["namespace"] == "io.confluent.ksql.avro_schemas"
    assert schema["fields"] == [{"name": "A", "type": ["null", "int"], "default": None}]
    assert data[5:] == b"\x02\x0e"            # union branch 1, zigzag 7


def test_protobuf_framing_has_message_index():
    sr = SchemaRegistry()
    f = _fmt("PROTOBUF", sr)
    data = f.encode([pa.array([150], pa.int32())], [Column("A", INTEGER)]).data.to_pylist()[0]
    assert data[:6] == b"\x00\x00\x00\x00\x01\x00"
    assert data[6:] == b"\x08\x96\x01"
    assert read_indexes(b"\x00rest") == ([0], b"rest")


def test_registry_ids():
    sr = SchemaRegistry()
    a = sr.register("x-value", '{"type":"int"}')
    b = sr.register("y-value", '{"type": "int"}')
    c = sr.register("x-value", '{"type":"long"}')
    assert (a, b, c) == (1, 1, 2)
    assert sr.latest("x-value").version == 2
    assert sr.register("z-value", '"string"', schema_id=10) == 10
    assert sr.by_id(10).schema == '"string"'


def test_avro_nested_names_and_maps():
    cs = columns_schema([Column("S", struct([("M", map_(STRING, struct([("Q", INTEGER)])))]))],
                        False)
    avro = connect_to_avro(cs)
    inner = avro["fields"][0]["type"][1]
    assert inner["name"] == "KsqlDataSourceSchema_S"
    entry = inner["fields"][0]["type"][1]["items"]
    assert entry["name"] == "KsqlDataSourceSchema_S_M"
    assert entry["connect.internal.type"] == "MapEntry"
    assert entry["fields"][1]["type"][1]["name"] == "KsqlDataSourceSchema_S_M_MapValue"


def test_avro_reads_writer_schema_case_insensitively_with_coercion():
    sr = SchemaRegistry()
    sid = sr.register("t-value", {"type": "record", "name": "r", "fields": [
        {"name": "foo", "type": "int"}, {"name": "e", "type": {
            "type": "enum", "name": "E", "symbols": ["A", "B"]}}]})
    body = AvroSchema(sr.by_id(sid).schema).encode({"foo": 10, "e": "B"})
    data = b"\x00" + sid.to_bytes(4, "big") + body
    cols = [Column("FOO", STRING), Column("E", STRING)]
    d = _fmt("AVRO", sr).decode(pa.array([data], pa.binary()), cols)
    assert [a.to_pylist() for a in d.arrays] == [["10"], ["B"]]
    d = _fmt("AVRO", sr).decode(pa.array([data], pa.binary()), [Column("FOO", BOOLEAN)])
    assert d.errors[0] == "Cannot deserialize type int32 as type boolean for path: ->FOO"


def test_unwrapped_avro_key():
    sr = SchemaRegistry()
    f = _fmt("AVRO", sr, is_key=True)
    enc = f.encode([pa.array([5, None], pa.int64())], [Column("K", BIGINT, KEY)])
    assert enc.data.to_pylist()[1] is None
    assert json.loads(sr.latest("t-key").schema) == "long"
    assert f.decode(enc.data, [Column("K", BIGINT, KEY)]).arrays[0].to_pylist() == [5, None]


def test_protobuf_schema_generation_and_nullable_representations():
    cs = columns_schema([Column("I", INTEGER), Column("D", decimal(4, 2))], False)
    text = connect_to_proto(cs)
    assert "message ConnectDefault1 {" in text and "int32 I = 1;" in text
    assert 'import "confluent/type/decimal.proto";' in text
    assert "optional int32 I = 1;" in connect_to_proto(cs, None,
                                                       {"nullableRepresentation": "OPTIONAL"})
    assert "google.protobuf.Int32Value I = 1;" in connect_to_proto(
        cs, None, {"nullableRepresentation": "WRAPPER"})
    for rep in ("OPTIONAL", "WRAPPER"):
        sr = SchemaRegistry()
        f = _fmt("PROTOBUF", sr, nullableRepresentation=rep)
        cols = [Column("I", INTEGER)]
        enc = f.encode([pa.array([None, 0], pa.int32())], cols)
        assert f.decode(enc.data, cols).arrays[0].to_pylist() == [None, 0]


def test_proto_parser_nested_enum_map_and_full_name():
    text = ('syntax = "proto3"; message A {int32 x = 1;} message B { enum E {Z = 0; O = 1;} '
            'message N {string s = 1;} E e = 1; repeated N ns = 2; map<string, int64> m = 3;}')
    native = ProtoNative(text, full_name="B")
    assert native.indexes == [1]
    v = {"e": "O", "ns": [{"s": "q"}], "m": {"k": 5}}
    assert native.decode(native.encode(v)) == v


def test_test_side_serde_through_registered_schema():
    sr = SchemaRegistry()
    sr.register("in-value", {"type": "record", "name": "r", "fields": [
        {"name": "c1", "type": ["null", "string"]},
        {"name": "d", "type": {"type": "bytes", "logicalType": "decimal", "precision": 4,
                               "scale": 2}}]})
    data = json_to_sr({"C1": 10, "D": Decimal("1.5")}, "AVRO", sr, "in")
    assert sr_to_json(data, "AVRO", sr) == {"c1": "10", "d": Decimal("1.50")}


def test_validate_messages():
    with pytest.raises(AnalysisError, match="Avro only supports MAPs with STRING keys"):
        validate(FormatInfo("AVRO"), [Column("M", map_(INTEGER, DOUBLE))], False)
    with pytest.raises(AnalysisError, match="Illegal initial character: 1A"):
        validate(FormatInfo("AVRO"), [Column("1A", DOUBLE)], False)
    with pytest.raises(AnalysisError, match="PROTOBUF format only supports MAP types"):
        validate(FormatInfo("PROTOBUF"), [Column("M", map_(INTEGER, DOUBLE))], False)
    with pytest.raises(AnalysisError, match=r"JSON does not support the following configs: "
                                            r"\[fullSchemaName\]"):
        validate(FormatInfo("JSON", {"fullSchemaName": "x"}), [Column("A", INTEGER)], False)
    with pytest.raises(AnalysisError, match="fullSchemaName cannot be empty"):
        validate(FormatInfo("AVRO", {"fullSchemaName": ""}), [Column("A", INTEGER)], False)


async def _engine():
    from ksqlpy.runtime.engine import Engine, EngineConfig

    e = Engine(EngineConfig(log="memory", run_queries=False))
    await e.start()
    await e.log.create_topic("t", 1)
    return e


def test_inference_from_registry_and_errors():
    async def run():
        e = await _engine()
        e.schema_registry.register("t-value", {"type": "record", "name": "r", "fields": [
            {"name": "a", "type": "int"}, {"name": "b", "type": ["null", "string"]}]})
        e.schema_registry.register("t-key", '"long"')
        await e.execute("CREATE STREAM S WITH (kafka_topic='t', format='AVRO');")
        assert str(e.catalog.source("S").schema) == \
            "`ROWKEY` BIGINT KEY, `A` INTEGER, `B` STRING"
        with pytest.raises(AnalysisError, match="Table elements and VALUE_SCHEMA_ID cannot "
                                                "both exist for create statement."):
            await e.execute("CREATE STREAM S2 (A INT) WITH (kafka_topic='t', "
                            "value_format='AVRO', value_schema_id=1);")
        with pytest.raises(AnalysisError, match="VALUE_FORMAT should support schema "
                                                "inference when VALUE_SCHEMA_ID is provided. "
                                                "Current format is KAFKA."):
            await e.execute("CREATE STREAM S3 WITH (kafka_topic='t', value_format='KAFKA', "
                            "value_schema_id=1);")
        await e.execute("CREATE STREAM S4 WITH (kafka_topic='t', value_format='AVRO', "
                        "value_schema_id=1);")
        assert [c.name for c in e.catalog.source("S4").schema.value] == ["a", "b"]
        await e.close()
    asyncio.run(run())


def test_create_registers_schema_once_and_csas_always():
    async def run():
        e = await _engine()
        await e.execute("CREATE STREAM S (K STRING KEY, A INT) WITH (kafka_topic='t', "
                        "format='AVRO');")
        await e.execute("CREATE STREAM O AS SELECT * FROM S;")
        sr = e.schema_registry
        assert set(sr.subjects()) == {"t-key", "t-value", "O-key", "O-value"}
        assert json.loads(sr.latest("O-key").schema) == "string"
        await e.close()
    asyncio.run(run())
