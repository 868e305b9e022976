"""Test-side serdes and the post-condition schema parser."""

import struct
from decimal import Decimal

import pytest

from ksqlpy.conformance import serde
from ksqlpy.conformance.schematext import parse_schema
from ksqlpy.schema import HEADER, HEADERS, KEY, VALUE, Column
from ksqlpy.types import (BIGINT, BYTES, DOUBLE, INTEGER, STRING, array, decimal, map_,
                          struct as struct_t)


def test_json_dumps_keeps_decimal_text():
    assert serde.json_dumps({"A": Decimal("1.10"), "B": [1, None, True], "C": "é\"x"}) == \
        '{"A":1.10,"B":[1,null,true],"C":"é\\"x"}'


def test_kafka_roundtrip():
    for t, v, raw in ((INTEGER, 7, struct.pack(">i", 7)), (BIGINT, 7, struct.pack(">q", 7)),
                      (DOUBLE, 1.5, struct.pack(">d", 1.5)), (STRING, "ab", b"ab")):
        cols = [Column("K", t, KEY)]
        assert serde.encode("KAFKA", cols, v, is_key=True) == raw
        assert serde.decode("KAFKA", cols, raw, is_key=True) == v
    assert serde.encode("KAFKA", [Column("K", DOUBLE, KEY)], 2, is_key=True) == \
        struct.pack(">d", 2.0)
    assert serde.encode("KAFKA", [], "opaque", is_key=True) == b"opaque"
    assert serde.encode("KAFKA", [Column("K", BYTES, KEY)], "AQI=", is_key=True) == b"\x01\x02"
    with pytest.raises(serde.SerdeFailure):
        serde.decode("KAFKA", [Column("K", INTEGER, KEY)], b"\x00", is_key=True)


def test_nulls_and_none_format():
    assert serde.encode("JSON", [], None, is_key=False) is None
    assert serde.encode("NONE", [], "x", is_key=True) is None
    assert serde.decode("KAFKA", [Column("K", INTEGER, KEY)], None, is_key=True) is None


def test_json_decode_exact_or_float():
    assert str(serde.decode("JSON", [], b'{"A":1.50}', is_key=False)["A"]) == "1.50"
    assert serde.decode("JSON", [], b'{"A":1.50}', is_key=False, exact_numbers=False) == \
        {"A": 1.5}


def test_unsupported_format():
    with pytest.raises(serde.UnsupportedFormat, match="format XML not supported yet"):
        serde.encode("XML", [], {"a": 1}, is_key=False)


def test_windowed_keys():
    inner = b"k"
    tw = serde.encode_windowed(inner, "TIME", 1000, 2000)
    assert tw == b"k" + struct.pack(">q", 1000)
    assert serde.decode_windowed(tw, "TUMBLING", 1000) == \
        (b"k", {"start": 1000, "end": 2000, "type": "TIME"})
    sw = serde.encode_windowed(inner, "SESSION", 10, 20)
    assert sw == b"k" + struct.pack(">q", 20) + struct.pack(">q", 10)
    assert serde.decode_windowed(sw, "SESSION", None) == \
        (b"k", {"start": 10, "end": 20, "type": "SESSION"})


def test_parse_schema():
    cols = parse_schema("`id` BIGINT KEY, NAME varchar, `S` STRUCT<a INT, `b` ARRAY<DECIMAL(4, 2)>>,"
                        " M MAP<STRING, DOUBLE>, H BYTES HEADER('h1'), HS ARRAY<STRUCT<`KEY` STRING,"
                        " `VALUE` BYTES>> HEADERS")
    assert cols == [
        Column("id", BIGINT, KEY),
        Column("NAME", STRING, VALUE),
        Column("S", struct_t([("A", INTEGER), ("b", array(decimal(4, 2)))]), VALUE),
        Column("M", map_(STRING, DOUBLE), VALUE),
        Column("H", BYTES, HEADER, "h1"),
        Column("HS", array(struct_t([("KEY", STRING), ("VALUE", BYTES)])), HEADERS),
    ]
    assert parse_schema("K STRING PRIMARY KEY") == [Column("K", STRING, KEY)]


def test_json_doubles_as_floats_by_schema():
    cols = [Column("D", DOUBLE), Column("X", decimal(4, 2)),
            Column("S", struct_t([("E", DOUBLE), ("F", BIGINT)])), Column("A", array(DOUBLE))]
    v = {"D": Decimal("9.223372036854775E12"), "X": Decimal("1.10"),
         "S": {"E": 1, "F": 2}, "A": [Decimal("1.5"), None]}
    out = serde.json_doubles_as_floats(v, cols, unwrapped=False)
    assert out == {"D": 9223372036854.775, "X": Decimal("1.10"), "S": {"E": 1.0, "F": 2},
                   "A": [1.5, None]}
    assert isinstance(out["D"], float) and isinstance(out["X"], Decimal)
    assert isinstance(out["S"]["F"], int)
    assert serde.json_doubles_as_floats(Decimal("2.5"), [Column("V", DOUBLE)], True) == 2.5
