"""JSON format: decode/encode round trips, coercions, errors, fast path == slow path."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ksqlpy.formats import FormatInfo, JsonFormat, get_format
from ksqlpy.schema import Column
from ksqlpy.types import (BIGINT, BOOLEAN, BYTES, DATE, DOUBLE, INTEGER, STRING, TIME,
                          TIMESTAMP, array, decimal, map_, struct)


def dec(records, cols, **kw):
    fmt = JsonFormat(FormatInfo("JSON", {}, kw.get("wrap")), kw.get("is_key", False))
    return fmt.decode(pa.array(records, pa.binary()), cols)


def cols_of(**types):
    return [Column(n, t) for n, t in types.items()]


def test_case_insensitive_fields_and_missing_extra():
    cols = cols_of(ID=INTEGER, NAME=STRING)
    d = dec([b'{"id": 1, "Name": "a", "extra": true}', b'{"ID": 2}'], cols)
    assert [a.to_pylist() for a in d.arrays] == [[1, 2], ["a", None]]
    assert d.errors == {} and d.null_rows is None


def test_exact_name_wins_over_case_variant():
    cols = [Column("Foo", INTEGER)]
    # quoted column `Foo`: only the exact key matches ("FOO" upper-cases to FOO != Foo)
    d = dec([b'{"Foo": 1, "foo": 2}', b'{"FOO": 3}'], cols)
    assert d.arrays[0].to_pylist() == [1, None]
    cols = [Column("A", INTEGER)]
    d = dec([b'{"A": 1, "a": 2}', b'{"a": 3}'], cols)
    assert d.arrays[0].to_pylist() == [1, 3]


def test_tombstones_and_null_bytes():
    cols = cols_of(A=INTEGER)
    d = dec([b'{"A": 1}', None, b"null", b'{"A": null}'], cols)
    assert d.arrays[0].to_pylist() == [1, None, None, None]
    assert d.null_rows.to_pylist() == [False, True, True, False]


def test_coercions():
    cols = cols_of(I=INTEGER, B=BIGINT, D=DOUBLE, S=STRING, T=TIMESTAMP)
    d = dec([b'{"I": "12", "B": 1.9, "D": "1.5", "S": 10, "T": 1000}',
             b'{"I": -1.9, "B": "-7", "D": 3, "S": {"x": [1, 2.50]}, "T": "5"}',
             b'{"S": [1, "a", null, {"k": true}], "D": 1e400}',
             b'{"S": 1.10, "I": 4294967297}'], cols)
    assert d.errors == {}
    got = [a.to_pylist() for a in d.arrays]
    assert got[0] == [12, -1, None, 1]          # truncation, Java int wrap-around
    assert got[1] == [1, -7, None, None]
    assert got[2] == [1.5, 3.0, float("inf"), None]
    assert got[3] == ["10", '{"x":[1,2.50]}', '[1, a, null, {"k":true}]', "1.10"]
    assert [v.timestamp() * 1000 if v else v for v in got[4]][:2] == [1000, 5]


def test_boolean_is_strict_like_ksqldb():
    d = dec([b'{"B": true}', b'{"B": "true"}', b'{"B": 1}'], cols_of(B=BOOLEAN))
    assert d.arrays[0].to_pylist() == [True, None, None]
    assert d.errors == {
        1: "Can't convert type. sourceType: TextNode, requiredType: BOOLEAN, path: $.B",
        2: "Can't convert type. sourceType: IntNode, requiredType: BOOLEAN, path: $.B"}


def test_bad_rows_are_errors_not_exceptions():
    cols = cols_of(A=INTEGER, S=STRING)
    recs = [b'{"A": 1, "S": "x"}', b"not json", b'{"A": "abc", "S": "y"}', b"[1,2]", b"",
            b'{"A": 2}']
    d = dec(recs, cols)
    assert set(d.errors) == {1, 2, 3, 4}
    assert d.errors[2] == "Can't coerce string to type. targetType: INTEGER, path: $.A"
    assert "sourceType: ArrayNode, requiredType: STRUCT<A INTEGER, S STRING>, path: $" \
        in d.errors[3]
    assert d.arrays[0].to_pylist() == [1, None, None, None, None, 2]
    assert d.arrays[1].to_pylist() == ["x", None, None, None, None, None]


def test_bad_row_in_large_batch_bisects():
    good = b'{"A": 1, "S": "x"}'
    recs = [good] * 3000
    recs[1234] = b'{"A": 1, "S": '
    d = dec(recs, cols_of(A=INTEGER, S=STRING))
    assert list(d.errors) == [1234]
    assert d.arrays[0].null_count == 1 and d.arrays[0][1234].as_py() is None


def test_decimals_exact_scale():
    t = decimal(6, 4)
    d = dec([b'{"D": 10}', b'{"D": 0.1}', b'{"D": "1.2345"}', b'{"D": 1.23456}',
             b'{"D": 123}'], [Column("D", t)])
    assert d.arrays[0].to_pylist()[:3] == [Decimal("10.0000"), Decimal("0.1000"),
                                           Decimal("1.2345")]
    assert "without rounding" in d.errors[3]
    assert "Numeric field overflow" in d.errors[4]


def test_decimal_encode_trims_to_the_values_own_scale():
    # ksqlDB keeps a decimal's own scale (10.0 read into DECIMAL(4, 2) is written as 10.0);
    # Arrow keeps only the column scale, so trailing zeros are trimmed to one digit.
    t = decimal(4, 2)
    fmt = JsonFormat(FormatInfo("JSON", {}))
    arr = pa.array([Decimal("1.10"), Decimal("-0.01"), Decimal("2.00"), None], t.to_arrow())
    out = fmt.encode([arr], [Column("D", t)]).data.to_pylist()
    assert out == [b'{"D":1.1}', b'{"D":-0.01}', b'{"D":2.0}', b'{"D":null}']


def test_nested_types_round_trip():
    t = struct([("A", array(map_(STRING, DOUBLE))), ("B", BYTES), ("C", decimal(3, 1))])
    cols = [Column("S", t), Column("L", array(STRING))]
    recs = [b'{"s": {"a": [{"x": 1.5, "y": null}], "b": "AQI=", "c": 1.5}, "l": ["p", null]}',
            b'{"S": null, "L": []}']
    d = dec(recs, cols)
    assert d.errors == {}
    v = d.arrays[0].to_pylist()[0]
    assert v == {"A": [[("x", 1.5), ("y", None)]], "B": b"\x01\x02", "C": Decimal("1.5")}
    fmt = JsonFormat(FormatInfo("JSON", {}))
    enc = fmt.encode(d.arrays, cols).data.to_pylist()
    assert enc[0] == (b'{"S":{"A":[{"x":1.5,"y":null}],"B":"AQI=","C":1.5},'
                      b'"L":["p",null]}')
    assert enc[1] == b'{"S":null,"L":[]}'
    back = fmt.decode(pa.array(enc, pa.binary()), cols)
    assert [a.to_pylist() for a in back.arrays] == [a.to_pylist() for a in d.arrays]


def test_unwrapped_values_and_keys():
    fmt = JsonFormat(FormatInfo("JSON", {}, wrap_single=False), is_key=False)
    cols = [Column("V", INTEGER)]
    d = fmt.decode(pa.array([b"10", b"null", None, b'"7"'], pa.binary()), cols)
    assert d.arrays[0].to_pylist() == [10, None, None, 7]
    assert d.null_rows.to_pylist() == [False, True, True, False]
    assert fmt.encode(d.arrays, cols).data.to_pylist() == [b"10", None, None, b"7"]
    key = get_format(FormatInfo("JSON", {}), is_key=True)
    kd = key.decode(pa.array([b'"Hey"', b"33"], pa.binary()), [Column("K", STRING)])
    assert kd.arrays[0].to_pylist() == ["Hey", "33"]
    # multi-column keys are wrapped
    kc = [Column("K1", STRING), Column("K2", INTEGER)]
    enc = key.encode([pa.array(["a"]), pa.array([1], pa.int32())], kc).data.to_pylist()
    assert enc == [b'{"K1":"a","K2":1}']


def test_all_null_record_is_not_a_tombstone():
    fmt = JsonFormat(FormatInfo("JSON", {}))
    cols = [Column("A", INTEGER), Column("B", STRING)]
    out = fmt.encode([pa.nulls(1, pa.int32()), pa.nulls(1, pa.string())], cols).data
    assert out.to_pylist() == [b'{"A":null,"B":null}']


def test_encode_doubles_strings_and_temporals():
    fmt = JsonFormat(FormatInfo("JSON", {}))
    cols = [Column("D", DOUBLE), Column("S", STRING), Column("T", TIMESTAMP),
            Column("DT", DATE), Column("TM", TIME), Column("B", BOOLEAN)]
    arrays = [pa.array([1.0, 1e10, float("nan"), 0.1]),
              pa.array(['a"b', "é\n", None, "\\"]),
              pa.array([0, 1700000000000, None, 5], pa.timestamp("ms")),
              pa.array([1, 0, None, 19000], pa.date32()),
              pa.array([1000, 0, None, 5], pa.time32("ms")),
              pa.array([True, False, None, True])]
    out = [b.decode() for b in fmt.encode(arrays, cols).data.to_pylist()]
    assert out[0] == '{"D":1.0,"S":"a\\"b","T":0,"DT":1,"TM":1000,"B":true}'
    assert out[1] == '{"D":1.0E10,"S":"é\\n","T":1700000000000,"DT":0,"TM":0,"B":false}'
    assert out[2] == '{"D":"NaN","S":null,"T":null,"DT":null,"TM":null,"B":null}'
    back = fmt.decode(pa.array([o.encode() for o in out], pa.binary()), cols)
    assert back.errors == {}
    assert back.arrays[1].to_pylist() == ['a"b', "é\n", None, "\\"]
    assert back.arrays[0].to_pylist()[:2] == [1.0, 1e10]


def test_order_records_fast_path():
    cols = cols_of(ORDER_ID=STRING, CUSTOMER_ID=STRING, QUANTITY=INTEGER, PRICE=DOUBLE,
                   TS=BIGINT)
    rec = (b'{"order_id":"o1","customer_id":"c42","product_id":"p7","quantity":12,'
           b'"price":9.99,"ts":1700000000000}')
    d = dec([rec] * 500, cols)
    assert [a[0].as_py() for a in d.arrays] == ["o1", "c42", 12, 9.99, 1700000000000]


# ---------------------------------------------------------------- fast path == slow path
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(1 << 40), 1 << 40),
    st.integers(-(1 << 70), 1 << 70),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=8), st.sampled_from(["12", "-3", "1.5", "true", "AQI=", "2020-01-01"]))
JSON_VALUES = st.recursive(SCALARS, lambda c: st.one_of(
    st.lists(c, max_size=3), st.dictionaries(st.sampled_from(["a", "B", "x"]), c, max_size=3)),
    max_leaves=6)
KEYS = st.sampled_from(["A", "a", "B", "b", "C", "D", "E", "F", "zz"])
COLS = [Column("A", INTEGER), Column("B", STRING), Column("C", DOUBLE), Column("D", BIGINT),
        Column("E", decimal(10, 2)), Column("F", BOOLEAN)]


def _dump(v) -> bytes:
    import json
    return json.dumps(v).encode()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(
    st.dictionaries(KEYS, SCALARS, max_size=6).map(_dump),
    st.dictionaries(KEYS, JSON_VALUES, max_size=3).map(_dump),
    st.sampled_from([b"null", b"[1]", b"{bad", b" {}", b"{}"]),
    st.none()), min_size=1, max_size=40), st.booleans())
def test_fast_equals_slow_decode(records, homogeneous):
    if homogeneous:      # mostly-fast batches: repeat the first record many times
        records = records[:1] * 300 + records
    fmt = JsonFormat(FormatInfo("JSON", {}))
    data = pa.array(records, pa.binary())
    fast, slow = fmt.decode(data, COLS), fmt.decode_slow(data, COLS)
    assert [a.to_pylist() for a in fast.arrays] == [a.to_pylist() for a in slow.arrays]
    assert fast.errors == slow.errors
    assert (fast.null_rows is None) == (slow.null_rows is None)
    if fast.null_rows is not None:
        assert fast.null_rows.to_pylist() == slow.null_rows.to_pylist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.none() | st.text(max_size=10),
                          st.none() | st.floats(width=64),
                          st.none() | st.integers(-(1 << 63), (1 << 63) - 1),
                          st.none() | st.decimals(min_value=-99999, max_value=99999,
                                                  places=2, allow_nan=False)),
                min_size=1, max_size=30))
def test_fast_equals_slow_encode(rows):
    cols = [Column("S", STRING), Column("D", DOUBLE), Column("L", BIGINT),
            Column("M", decimal(7, 2))]
    arrays = [pa.array([r[i] for r in rows], c.type.to_arrow()) for i, c in enumerate(cols)]
    fmt = JsonFormat(FormatInfo("JSON", {}))
    fast, slow = fmt.encode(arrays, cols), fmt.encode_slow(arrays, cols)
    assert fast.data.to_pylist() == slow.data.to_pylist()
    back = fmt.decode(fast.data, cols)
    assert back.errors == {}
    for a, b, c in zip(back.arrays, arrays, cols):
        if c.type.base == "DOUBLE":
            xs, ys = a.to_pylist(), b.to_pylist()
            assert all((x is None and y is None) or x == y or (x != x and y != y)
                       for x, y in zip(xs, ys))
        else:
            assert a.to_pylist() == b.to_pylist()


def test_unwrapped_fast_equals_slow():
    fmt = JsonFormat(FormatInfo("JSON", {}, wrap_single=False))
    cols = [Column("V", STRING)]
    recs = [b'"a"', b"1", b"true", b"null", None, b"1.50", b"[1, 2]", b'{"x": 1}', b"bad"]
    data = pa.array(recs * 100, pa.binary())
    fast, slow = fmt.decode(data, cols), fmt.decode_slow(data, cols)
    assert fast.arrays[0].to_pylist() == slow.arrays[0].to_pylist()
    assert fast.errors == slow.errors
    assert fast.arrays[0].to_pylist()[:8] == ["a", "1", "true", None, None, "1.50", "[1, 2]",
                                              '{"x":1}']
