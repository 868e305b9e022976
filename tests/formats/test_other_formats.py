"""DELIMITED, KAFKA, NONE, windowed keys, java_double_str, validate, to_arrow_array."""

from __future__ import annotations

import struct as pystruct
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ksqlpy.errors import AnalysisError, SerdeError
from ksqlpy.formats import (FormatInfo, decode_windowed_key, encode_windowed_key, get_format,
                            java_double_str, supported_formats, to_arrow_array, validate)
from ksqlpy.formats.javafmt import java_double_str_array
from ksqlpy.schema import KEY, Column
from ksqlpy.types import (BIGINT, BOOLEAN, BYTES, DATE, DOUBLE, INTEGER, STRING, TIME,
                          TIMESTAMP, array, decimal, map_, struct)


def delimited(delim=None, is_key=False, wrap=None):
    props = {"delimiter": delim} if delim else {}
    return get_format(FormatInfo("DELIMITED", props, wrap), is_key)


# ------------------------------------------------------------------------- DELIMITED
def test_delimited_round_trip_types():
    cols = [Column("I", INTEGER), Column("S", STRING), Column("D", DOUBLE),
            Column("M", decimal(6, 4)), Column("B", BOOLEAN), Column("T", TIMESTAMP),
            Column("DT", DATE), Column("TM", TIME), Column("BY", BYTES), Column("L", BIGINT)]
    recs = [b"1,one,1.5,10.0000,true,1000,3,5,AQI=,9", b",,,,,,,,,", b"-2,x,1.0E10,1.2,FALSE,0,0,0,,0"]
    fmt = delimited()
    d = fmt.decode(pa.array(recs, pa.binary()), cols)
    assert d.errors == {}
    rows = list(zip(*[a.to_pylist() for a in d.arrays]))
    assert rows[0][:5] == (1, "one", 1.5, Decimal("10.0000"), True)
    assert rows[0][8:] == (b"\x01\x02", 9)
    assert rows[1] == (None,) * 10
    assert rows[2][4] is False and rows[2][2] == 1e10 and rows[2][3] == Decimal("1.2000")
    out = fmt.encode(d.arrays, cols).data.to_pylist()
    assert out == [b"1,one,1.5,10.0000,true,1000,3,5,AQI=,9", b",,,,,,,,,",
                   b"-2,x,1.0E10,1.2000,false,0,0,0,,0"]


def test_delimited_quoting():
    fmt = delimited()
    cols = [Column("A", STRING), Column("B", STRING)]
    d = fmt.decode(pa.array([b'"a,b","say ""hi"""', b'x,"multi\nline"', b'"",z'], pa.binary()),
                   cols)
    assert d.errors == {}
    assert d.arrays[0].to_pylist() == ["a,b", "x", None]
    assert d.arrays[1].to_pylist() == ['say "hi"', "multi\nline", "z"]
    out = fmt.encode([pa.array(["a,b", "plain", "", " lead", "#x"]),
                      pa.array(['say "hi"', "a\nb", "", "trail ", "ok"])], cols).data
    assert out.to_pylist() == [b'"a,b","say ""hi"""', b'plain,"a\nb"', b'"",',
                               b'" lead","trail "', b'"#x",ok']


def test_delimited_quoted_values_and_keys_from_qtt():
    key = delimited(is_key=True)
    d = key.decode(pa.array([b"true", b'"true"', b"false", None], pa.binary()),
                   [Column("K", BOOLEAN, KEY)])
    assert d.arrays[0].to_pylist() == [True, True, False, None]
    assert d.null_rows.to_pylist() == [False, False, False, True]
    d = key.decode(pa.array([b'"12.0"', b"12.3650"]), [Column("K", decimal(6, 4), KEY)])
    assert key.encode(d.arrays, [Column("K", decimal(6, 4), KEY)]).data.to_pylist() == [
        b"12.0000", b"12.3650"]
    # multi-column key with custom delimiter
    k2 = delimited(";", is_key=True)
    cols = [Column("K1", STRING, KEY), Column("K2", STRING, KEY)]
    d = k2.decode(pa.array([b"foo,bar;baz"]), cols)
    assert [a.to_pylist() for a in d.arrays] == [["foo,bar"], ["baz"]]
    # null single key → null bytes
    assert key.encode([pa.array([None], pa.int32())], [Column("K", INTEGER, KEY)]).data \
        .to_pylist() == [None]


@pytest.mark.parametrize("word,char", [("SPACE", " "), ("TAB", "\t"), ("|", "|"), ("$", "$")])
def test_delimiters(word, char):
    fmt = delimited(word)
    cols = [Column("ID", BIGINT), Column("NAME", STRING), Column("V", INTEGER)]
    rec = f"0{char}zero{char}0".encode()
    d = fmt.decode(pa.array([rec]), cols)
    assert [a.to_pylist() for a in d.arrays] == [[0], ["zero"], [0]]
    assert fmt.encode(d.arrays, cols).data.to_pylist() == [rec]


def test_delimited_errors():
    fmt = delimited()
    cols = [Column("A", INTEGER), Column("B", STRING), Column("C", DOUBLE)]
    recs = [b"1,a", b"1,a,2,3", b"x,a,1", b"1,a,zz", b'"bad"x,a,1', b"3,b,2.5",
            b"99999999999,a,1"]
    d = fmt.decode(pa.array(recs), cols)
    assert d.errors[0] == "Unexpected field count, csvFields:2 schemaFields:3"
    assert d.errors[1] == "Unexpected field count, csvFields:4 schemaFields:3"
    assert d.errors[2] == 'For input string: "x"'
    assert d.errors[3] == 'For input string: "zz"'
    assert 4 in d.errors and 6 in d.errors and 5 not in d.errors
    assert [a[5].as_py() for a in d.arrays] == [3, "b", 2.5]
    assert all(a[1].as_py() is None for a in d.arrays)


def test_delimited_decimal_and_no_trim():
    fmt = delimited()
    t = decimal(21, 19)
    d = fmt.decode(pa.array([b"10.1234512345123451234"]), [Column("D", t)])
    assert fmt.encode(d.arrays, [Column("D", t)]).data.to_pylist() == [
        b"10.1234512345123451234"]


# ------------------------------------------------------------------------- KAFKA
@pytest.mark.parametrize("t,values,fmtc", [
    (INTEGER, [1, -2, 2147483647, None], ">i"),
    (BIGINT, [1, -(1 << 62), None], ">q"),
    (DOUBLE, [1.5, -0.0, float("inf"), None], ">d")])
def test_kafka_fixed_width(t, values, fmtc):
    fmt = get_format(FormatInfo("KAFKA", {}), is_key=True)
    cols = [Column("K", t, KEY)]
    out = fmt.encode([pa.array(values, t.to_arrow())], cols).data.to_pylist()
    assert out == [None if v is None else pystruct.pack(fmtc, v) for v in values]
    back = fmt.decode(pa.array(out, pa.binary()), cols)
    assert back.arrays[0].to_pylist() == values
    assert back.null_rows.to_pylist() == [v is None for v in values]


def test_kafka_wrong_size_and_strings():
    fmt = get_format(FormatInfo("KAFKA", {}), is_key=False)
    d = fmt.decode(pa.array([b"\0\0\0\1", b"\0\1", b""]), [Column("V", INTEGER)])
    assert d.arrays[0].to_pylist() == [1, None, None]
    assert d.errors == {1: "Size of data received by IntegerDeserializer is not 4",
                        2: "Size of data received by IntegerDeserializer is not 4"}
    d = fmt.decode(pa.array([b"\0" * 4]), [Column("V", BIGINT)])
    assert d.errors == {0: "Size of data received by LongDeserializer is not 8"}
    s = fmt.decode(pa.array(["héllo".encode(), b"", b"\xff"]), [Column("V", STRING)])
    assert s.arrays[0].to_pylist() == ["héllo", "", "\ufffd"]
    enc = fmt.encode([pa.array(["héllo", None])], [Column("V", STRING)]).data
    assert enc.to_pylist() == ["héllo".encode(), None]
    b = fmt.decode(pa.array([b"\x00\x01"]), [Column("V", BYTES)])
    assert b.arrays[0].to_pylist() == [b"\x00\x01"]


def test_kafka_no_key_columns():
    fmt = get_format(FormatInfo("KAFKA", {}), is_key=True)
    d = fmt.decode(pa.array([b"ignored", None]), [])
    assert d.arrays == [] and d.errors == {}
    assert fmt.encode([], [], num_rows=2).data.to_pylist() == [None, None]


def test_none_format():
    fmt = get_format(FormatInfo("NONE", {}), is_key=True)
    assert fmt.decode(pa.array([b"x"]), []).arrays == []
    assert fmt.encode([], [], num_rows=3).data.to_pylist() == [None] * 3


# ------------------------------------------------------------------------- windowed
@given(st.lists(st.tuples(st.binary(max_size=6), st.integers(-(1 << 63), (1 << 63) - 1),
                          st.integers(-(1 << 63), (1 << 63) - 1)), max_size=20))
def test_windowed_round_trip(rows):
    inner = pa.array([r[0] for r in rows], pa.binary())
    start = pa.array([r[1] for r in rows], pa.int64())
    end = pa.array([r[2] for r in rows], pa.int64())
    t = encode_windowed_key(inner, start, None, session=False)
    assert t.to_pylist() == [r[0] + pystruct.pack(">q", r[1]) for r in rows]
    i2, s2, e2 = decode_windowed_key(t, session=False)
    assert i2.to_pylist() == inner.to_pylist() and s2.to_pylist() == start.to_pylist()
    assert e2 is None
    s = encode_windowed_key(inner, start, end, session=True)
    assert s.to_pylist() == [r[0] + pystruct.pack(">qq", r[2], r[1]) for r in rows]
    i3, s3, e3 = decode_windowed_key(s, session=True)
    assert (i3.to_pylist(), s3.to_pylist(), e3.to_pylist()) == (
        inner.to_pylist(), start.to_pylist(), end.to_pylist())


def test_windowed_short_and_null():
    i, s, e = decode_windowed_key(pa.array([b"abc", None], pa.binary()), session=False)
    assert i.to_pylist() == [None, None] and s.to_pylist() == [None, None]


# ------------------------------------------------------------------------- java_double_str
@pytest.mark.parametrize("x,text", [
    (1.0, "1.0"), (0.1, "0.1"), (1e10, "1.0E10"), (1.23e-5, "1.23E-5"), (100.0, "100.0"),
    (1e7, "1.0E7"), (9999999.0, "9999999.0"), (0.001, "0.001"), (0.00099, "9.9E-4"),
    (-1.5, "-1.5"), (0.0, "0.0"), (-0.0, "-0.0"), (123456.789, "123456.789"),
    (1.7976931348623157e308, "1.7976931348623157E308"), (12345678.9, "1.23456789E7"),
    (float("nan"), "NaN"), (float("inf"), "Infinity"), (float("-inf"), "-Infinity"),
    (4.9e-324, "4.9E-324")])
def test_java_double_str(x, text):
    assert java_double_str(x) == text


@settings(max_examples=300)
@given(st.lists(st.floats(width=64) | st.none(), max_size=30))
def test_java_double_str_array_matches_scalar(xs):
    got = java_double_str_array(pa.array(xs, pa.float64())).to_pylist()
    assert got == [None if x is None else java_double_str(x) for x in xs]
    for x, s in zip(xs, got):
        if x is not None and x == x:
            assert float(s.replace("E", "e").replace("Infinity", "inf")) == x


# ------------------------------------------------------------------------- validate
@pytest.mark.parametrize("info,cols,is_key,msg", [
    (FormatInfo("KAFKA"), [Column("K", BOOLEAN)], True,
     "The 'KAFKA' format does not support type 'BOOLEAN'"),
    (FormatInfo("KAFKA"), [Column("V", array(INTEGER))], False,
     "The 'KAFKA' format does not support type 'ARRAY'"),
    (FormatInfo("KAFKA"), [Column("A", INTEGER), Column("B", INTEGER)], True,
     "The 'KAFKA' format only supports a single field"),
    (FormatInfo("DELIMITED"), [Column("V", struct([("F1", DOUBLE)]))], False,
     "The 'DELIMITED' format does not support type 'STRUCT'"),
    (FormatInfo("DELIMITED", {}, True), [Column("FOO", INTEGER)], False,
     "Format 'DELIMITED' does not support 'WRAP_SINGLE_VALUE' set to 'true'."),
    (FormatInfo("KAFKA", {}, True), [Column("FOO", INTEGER)], False,
     "Format 'KAFKA' does not support 'WRAP_SINGLE_VALUE' set to 'true'."),
    (FormatInfo("JSON", {}, False), [Column("F0", STRING), Column("F1", STRING)], False,
     "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas"),
    (FormatInfo("NONE"), [Column("FOO", INTEGER)], False,
     "The 'NONE' format can only be used when no columns are defined. Got: [`FOO` INTEGER]"),
    (FormatInfo("NONE"), [Column("K", STRING, KEY)], True,
     "The 'NONE' format can only be used when no columns are defined. Got: [`K` STRING KEY]"),
    (FormatInfo("JSON"), [Column("FOO", map_(INTEGER, DOUBLE))], False,
     "JSON only supports MAP types with STRING keys"),
    (FormatInfo("JSON", {"delimiter": "|"}), [Column("A", INTEGER)], False,
     "JSON does not support the following configs: [delimiter]"),
    (FormatInfo("JSON"), [Column("K", map_(INTEGER, DOUBLE), KEY)], True,
     "Map keys, including types that contain maps, are not supported as they may lead to "
     "unexpected behavior due to inconsistent serialization. Key column name: `K`. Column "
     "type: MAP<INTEGER, DOUBLE>. See https://github.com/confluentinc/ksql/issues/6621 for "
     "more."),
    (FormatInfo("FOO"), [], False, "Unknown format: FOO"),
    (FormatInfo("DELIMITED", {"delimiter": "ab"}), [Column("A", INTEGER)], False,
     "Invalid delimiter value: 'ab'"),
])
def test_validate_errors(info, cols, is_key, msg):
    with pytest.raises(AnalysisError) as e:
        validate(info, cols, is_key)
    assert msg in str(e.value)


def test_validate_ok():
    validate(FormatInfo("KAFKA"), [Column("K", STRING, KEY)], True)
    validate(FormatInfo("KAFKA"), [], True)
    validate(FormatInfo("NONE"), [], True)
    validate(FormatInfo("DELIMITED", {"delimiter": "TAB"}, False), [Column("A", INTEGER)], False)
    validate(FormatInfo("JSON", {}, False), [Column("A", map_(STRING, INTEGER))], False)
    assert set(supported_formats()) == {"JSON", "DELIMITED", "KAFKA", "NONE", "AVRO",
                                         "JSON_SR", "PROTOBUF", "PROTOBUF_NOSR"}


# ------------------------------------------------------------------------- to_arrow_array
def test_to_arrow_array_lenient():
    assert to_arrow_array([1.1, "2", 3, None], decimal(4, 2)).to_pylist() == [
        Decimal("1.10"), Decimal("2.00"), Decimal("3.00"), None]
    assert to_arrow_array(["true", False], BOOLEAN).to_pylist() == [True, False]
    assert to_arrow_array([{"a": 1}], map_(STRING, BIGINT)).to_pylist() == [[("a", 1)]]
    assert to_arrow_array([{"f": "1"}], struct([("F", INTEGER)])).to_pylist() == [{"F": 1}]
    assert to_arrow_array([1.5, 10], STRING).to_pylist() == ["1.5", "10"]
    assert to_arrow_array([5], DATE).to_pylist()[0].isoformat() == "1970-01-06"
    assert to_arrow_array(["AQI="], BYTES).to_pylist() == [b"\x01\x02"]
    with pytest.raises(SerdeError):
        to_arrow_array(["abc"], INTEGER)
