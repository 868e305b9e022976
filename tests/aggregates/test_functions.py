"""Unit tests of every aggregate function: resolution (overloads, result types, errors),
add / undo / merge / result, nulls and ksqlDB's Java arithmetic."""

from __future__ import annotations

import datetime
import math
import pickle
from decimal import Decimal

import pytest

from ksqlpy.aggregates import check_intermediate_types, check_table_aggregation, registered
from ksqlpy.aggregates import resolve
from ksqlpy.errors import AnalysisError, ExecutionError, KsqlError
from ksqlpy.types import (BIGINT, BOOLEAN, BYTES, DATE, DOUBLE, INTEGER, NULL, STRING, TIME,
                          TIMESTAMP, array, decimal, map_, struct)


def fn_for(name, types, literals=None, **kw):
    return resolve(name, types, literals if literals is not None else [None] * len(types), **kw)


def feed(fn, rows, acc=None):
    """Add each row (a tuple of arguments, or a bare first argument) and return the acc."""
    acc = fn.init() if acc is None else acc
    for r in rows:
        acc = fn.add(acc, r if isinstance(r, tuple) else (r,))
    return acc


def results(fn, rows):
    acc, out = fn.init(), []
    for r in rows:
        acc = fn.add(acc, r if isinstance(r, tuple) else (r,))
        out.append(fn.result(acc))
    return out


def test_all_eighteen_registered():
    assert registered() == sorted([
        "ATTR", "AVG", "COLLECT_LIST", "COLLECT_SET", "CORRELATION", "COUNT", "COUNT_DISTINCT",
        "EARLIEST_BY_OFFSET", "HISTOGRAM", "LATEST_BY_OFFSET", "MAX", "MIN", "STDDEV_SAMP",
        "STDDEV_SAMPLE", "SUM", "SUM_LIST", "TOPK", "TOPKDISTINCT"])


def test_unknown_function():
    with pytest.raises(AnalysisError, match="Can't find any functions with the name 'nope'"):
        resolve("nope", [INTEGER], [None])


def test_name_is_upper_cased():
    assert resolve("count", [], []).name == "COUNT"


# -- COUNT -----------------------------------------------------------------------------------

def test_count_column_skips_nulls_and_undoes():
    f = fn_for("COUNT", [STRING])
    assert str(f.type) == "BIGINT" and f.undoable
    acc = feed(f, ["a", None, "b"])
    assert f.result(acc) == 2
    assert f.result(f.undo(acc, ("a",))) == 1
    assert f.result(f.undo(acc, (None,))) == 2
    assert f.merge(2, 3) == 5


def test_count_star_and_literal_count_rows():
    assert f_result("COUNT", [], [], [(), (), ()]) == 3
    f = fn_for("COUNT", [INTEGER], [1])
    assert f.result(feed(f, [(1,), (1,)])) == 2


def f_result(name, types, literals, rows):
    f = fn_for(name, types, literals)
    return f.result(feed(f, rows))


def test_count_rejects_two_args():
    with pytest.raises(AnalysisError,
                       match=r"Function 'COUNT' does not accept parameters \(INTEGER, STRING\)\."):
        fn_for("COUNT", [INTEGER, STRING])


# -- SUM -------------------------------------------------------------------------------------

@pytest.mark.parametrize("t, rows, expected", [
    (INTEGER, [1, None, 2], 3),
    (BIGINT, [2**40, 1], 2**40 + 1),
    (DOUBLE, [1.5, 2.25], 3.75),
])
def test_sum_types(t, rows, expected):
    f = fn_for("SUM", [t])
    assert f.type == t
    assert f.result(feed(f, rows)) == expected


def test_sum_empty_is_zero():
    f = fn_for("SUM", [INTEGER])
    assert f.result(f.init()) == 0


def test_sum_int_wraps_like_java():
    f = fn_for("SUM", [INTEGER])
    assert f.result(feed(f, [2**31 - 1, 1])) == -2**31
    g = fn_for("SUM", [BIGINT])
    assert g.result(feed(g, [2**63 - 1, 1])) == -2**63


def test_sum_undo_and_merge():
    f = fn_for("SUM", [BIGINT])
    acc = feed(f, [5, 7])
    assert f.undo(acc, (5,)) == 7
    assert f.undo(acc, (None,)) == 12
    assert f.merge(3, 4) == 7


def test_sum_decimal_keeps_type_and_scale():
    t = decimal(4, 1)
    f = fn_for("SUM", [t])
    assert f.type == t
    acc = feed(f, [Decimal("5.4"), Decimal("100.1")])
    assert f.result(acc) == Decimal("105.5") and f.result(acc).as_tuple().exponent == -1
    assert f.result(f.init()).as_tuple().exponent == -1
    assert f.undo(acc, (Decimal("5.4"),)) == Decimal("100.1")


def test_sum_decimal_overflow_fails_the_query():
    f = fn_for("SUM", [decimal(4, 1)])
    acc = feed(f, [Decimal("500.9"), Decimal("300.8")])
    with pytest.raises(ExecutionError) as e:
        f.add(acc, (Decimal("400.8"),))
    assert e.value.java_type == "org.apache.kafka.streams.errors.StreamsException"
    assert "Exception caught in process" in str(e.value)
    cause = e.value.__cause__
    assert cause.java_type == "io.confluent.ksql.function.KsqlFunctionException"
    assert "Numeric field overflow" in str(cause) and "Got 1203" in str(cause)  # MathContext(4)


@pytest.mark.parametrize("t", [STRING, BOOLEAN, array(INTEGER)])
def test_sum_rejects(t):
    with pytest.raises(AnalysisError, match=f"Function 'SUM' does not accept parameters"):
        fn_for("SUM", [t])


# -- SUM_LIST --------------------------------------------------------------------------------

def test_sum_list():
    f = fn_for("SUM_LIST", [array(INTEGER)])
    assert f.type == INTEGER and f.undoable
    assert results(f, [[1, 1], [2, 2], None, [100, None]]) == [2, 6, 6, 106]
    acc = feed(f, [[1, 2], [3]])
    assert f.undo(acc, ([1, 2],)) == 3
    assert f.merge(1, 2) == 3
    d = fn_for("sum_list", [array(DOUBLE)])
    assert d.type == DOUBLE and d.result(feed(d, [[0.5, 0.25]])) == 0.75
    assert fn_for("SUM_LIST", [array(BIGINT)]).type == BIGINT


def test_sum_list_wraps_int():
    f = fn_for("SUM_LIST", [array(INTEGER)])
    assert f.result(feed(f, [[2**31 - 1, 1]])) == -2**31


@pytest.mark.parametrize("t", [INTEGER, array(STRING), array(decimal(3, 1))])
def test_sum_list_rejects(t):
    with pytest.raises(AnalysisError, match="Function 'sum_list' does not accept parameters"):
        fn_for("SUM_LIST", [t])


# -- AVG -------------------------------------------------------------------------------------

def test_avg_results_are_double():
    f = fn_for("AVG", [INTEGER])
    assert f.type == DOUBLE and f.undoable
    assert results(f, [1, 2, None, 6]) == [1.0, 1.5, 1.5, 3.0]


def test_avg_of_nothing_is_zero():
    f = fn_for("AVG", [DOUBLE])
    assert f.result(f.init()) == 0.0
    assert f.result(feed(f, [None])) == 0.0


def test_avg_undo_and_merge():
    f = fn_for("AVG", [BIGINT])
    acc = feed(f, [1, 2, 3])
    assert f.result(f.undo(acc, (3,))) == 1.5
    assert f.result(f.undo(acc, (None,))) == 2.0
    assert f.result(f.merge(feed(f, [10]), feed(f, [20, 30]))) == 20.0


def test_avg_int_sum_wraps_like_java():
    f = fn_for("AVG", [INTEGER])
    assert f.result(feed(f, [2**31 - 1, 1])) == -2**31 / 2


def test_avg_decimal_binds_to_double():
    f = fn_for("AVG", [decimal(4, 2)])
    assert f.type == DOUBLE
    assert f.result(feed(f, [Decimal("1.50"), Decimal("2.50")])) == 2.0


def test_avg_intermediate_is_struct():
    assert fn_for("AVG", [INTEGER]).intermediate_type.base == "STRUCT"


@pytest.mark.parametrize("t", [STRING, BOOLEAN])
def test_avg_rejects(t):
    with pytest.raises(AnalysisError, match=rf"Function 'avg' does not accept parameters \({t}\)"):
        fn_for("AVG", [t])


# -- MIN / MAX -------------------------------------------------------------------------------

@pytest.mark.parametrize("t, rows, lo, hi", [
    (INTEGER, [3, None, 1, 2], 1, 3),
    (BIGINT, [2**40, -5], -5, 2**40),
    (DOUBLE, [0.5, -1.5], -1.5, 0.5),
    (decimal(4, 2), [Decimal("1.10"), Decimal("0.90")], Decimal("0.90"), Decimal("1.10")),
    (STRING, ["b", "a", "c"], "a", "c"),
    (BYTES, [b"\x02", b"\x01"], b"\x01", b"\x02"),
    (DATE, [datetime.date(2020, 1, 2), datetime.date(2019, 1, 1)],
     datetime.date(2019, 1, 1), datetime.date(2020, 1, 2)),
    (TIME, [datetime.time(1), datetime.time(0, 5)], datetime.time(0, 5), datetime.time(1)),
    (TIMESTAMP, [datetime.datetime(2020, 1, 1), datetime.datetime(2021, 1, 1)],
     datetime.datetime(2020, 1, 1), datetime.datetime(2021, 1, 1)),
])
def test_min_max(t, rows, lo, hi):
    mn, mx = fn_for("MIN", [t]), fn_for("MAX", [t])
    assert mn.type == t and mx.type == t
    assert mn.result(feed(mn, rows)) == lo
    assert mx.result(feed(mx, rows)) == hi


def test_min_max_nulls_and_merge_and_no_undo():
    f = fn_for("MAX", [INTEGER])
    assert f.result(feed(f, [None])) is None
    assert f.merge(None, 3) == 3 and f.merge(4, 3) == 4
    assert not f.undoable and not fn_for("MIN", [INTEGER]).undoable


@pytest.mark.parametrize("t", [BOOLEAN, array(INTEGER), map_(STRING, INTEGER)])
def test_min_max_reject(t):
    with pytest.raises(AnalysisError, match="Function 'MIN' does not accept parameters"):
        fn_for("MIN", [t])


# -- COLLECT_LIST / COLLECT_SET --------------------------------------------------------------

def test_collect_list_keeps_everything_in_order():
    f = fn_for("COLLECT_LIST", [INTEGER])
    assert f.type == array(INTEGER) and f.undoable
    assert results(f, [1, None, 1]) == [[1], [1, None], [1, None, 1]]


def test_collect_list_result_is_a_snapshot():
    f = fn_for("COLLECT_LIST", [INTEGER])
    acc = feed(f, [1])
    first = f.result(acc)
    f.add(acc, (2,))
    assert first == [1]


def test_collect_list_undo_removes_last_equal():
    f = fn_for("COLLECT_LIST", [STRING])
    acc = feed(f, ["a", "b", "a"])
    assert f.result(f.undo(acc, ("a",))) == ["a", "b"]
    assert f.result(f.undo(acc, ("zzz",))) == ["a", "b"]


def test_collect_list_of_maps_and_structs():
    t = map_(STRING, DOUBLE)
    f = fn_for("COLLECT_LIST", [t])
    acc = feed(f, [[("a", 1.0), ("b", 2.0)]])
    assert f.result(f.undo(acc, ([("b", 2.0), ("a", 1.0)],))) == []
    s = fn_for("COLLECT_LIST", [struct([("A", INTEGER)])])
    assert s.result(feed(s, [{"A": 1}])) == [{"A": 1}]


def test_collect_list_limit():
    f = fn_for("COLLECT_LIST", [INTEGER],
               properties={"ksql.functions.collect_list.limit": 2})
    assert f.result(feed(f, [1, 2, 3])) == [1, 2]
    assert f.merge([1], [2, 3]) == [1, 2]
    g = fn_for("COLLECT_LIST", [INTEGER],
               properties={"ksql.functions.collect_list.limit": "-1"})
    assert len(g.result(feed(g, range(5)))) == 5
    h = fn_for("COLLECT_LIST", [INTEGER], properties={"ksql.functions.collect_list.limit": "1"})
    assert h.result(feed(h, [7, 8])) == [7]


def test_collect_list_merge():
    f = fn_for("COLLECT_LIST", [INTEGER])
    assert f.merge([1, 2], [3]) == [1, 2, 3]


def test_collect_set():
    f = fn_for("COLLECT_SET", [STRING])
    assert f.type == array(STRING) and not f.undoable
    assert results(f, ["a", "b", "a", None, None]) == [
        ["a"], ["a", "b"], ["a", "b"], ["a", "b", None], ["a", "b", None]]
    merged = f.merge(feed(f, ["a", "b"]), feed(f, ["b", "c"]))
    assert f.result(merged) == ["a", "b", "c"]


def test_collect_set_limit_and_compound_values():
    f = fn_for("COLLECT_SET", [INTEGER], properties={"ksql.functions.collect_set.limit": 1})
    assert f.result(feed(f, [1, 2])) == [1]
    assert f.result(f.merge(feed(f, [1]), feed(f, [2]))) == [1]
    m = fn_for("COLLECT_SET", [map_(STRING, INTEGER)])
    acc = feed(m, [[("a", 1), ("b", 2)], [("b", 2), ("a", 1)]])
    assert len(m.result(acc)) == 1
    a = fn_for("COLLECT_SET", [array(INTEGER)])
    assert a.result(feed(a, [[1, 2], [1, 2], [2, 1]])) == [[1, 2], [2, 1]]


def test_collect_set_accumulator_pickles():
    f = fn_for("COLLECT_SET", [STRING])
    acc = pickle.loads(pickle.dumps(feed(f, ["a"])))
    assert f.result(f.add(acc, ("a",))) == ["a"]


# -- HISTOGRAM -------------------------------------------------------------------------------

def test_histogram():
    f = fn_for("HISTOGRAM", [STRING])
    assert f.type == map_(STRING, BIGINT) and f.undoable
    acc = feed(f, ["a", "b", "a", None])
    assert f.result(acc) == {"a": 2, "b": 1}
    acc = f.undo(acc, ("b",))
    assert f.result(acc) == {"a": 2}
    assert f.result(f.undo(acc, ("missing",))) == {"a": 2}
    assert f.merge({"a": 1}, {"a": 2, "c": 1}) == {"a": 3, "c": 1}


def test_histogram_limit_of_1000_entries():
    f = fn_for("HISTOGRAM", [STRING])
    acc = feed(f, [str(i) for i in range(1001)] + ["0"])
    r = f.result(acc)
    assert len(r) == 1000 and "1000" not in r and r["0"] == 2


def test_histogram_rejects_non_strings():
    with pytest.raises(AnalysisError, match="Function 'histogram' does not accept parameters"):
        fn_for("HISTOGRAM", [INTEGER])


# -- ATTR ------------------------------------------------------------------------------------

def test_attr():
    f = fn_for("ATTR", [STRING])
    assert f.type == STRING and f.undoable
    assert results(f, ["1", "1"]) == ["1", "1"]
    assert results(f, ["1", "2", "1"]) == ["1", None, None]
    assert results(f, [None, "2", "2"]) == [None, None, None]
    assert results(f, ["1", None]) == ["1", None]


def test_attr_undo_restores_single_value():
    f = fn_for("ATTR", [STRING])
    acc = feed(f, ["1", "2"])
    assert f.result(acc) is None
    acc = f.undo(acc, ("2",))
    assert f.result(acc) == "1"
    acc = f.undo(acc, ("1",))
    assert f.result(acc) is None
    acc = f.undo(acc, ("1",))  # never below zero
    assert f.result(f.add(acc, ("3",))) == "3"


def test_attr_merge_and_compound():
    f = fn_for("ATTR", [array(INTEGER)])
    a, b = feed(f, [[1, 2]]), feed(f, [[1, 2]])
    assert f.result(f.merge(a, b)) == [1, 2]
    assert f.result(f.merge(a, feed(f, [[3]]))) is None


# -- COUNT_DISTINCT --------------------------------------------------------------------------

def test_count_distinct():
    f = fn_for("COUNT_DISTINCT", [STRING])
    assert f.type == BIGINT and not f.undoable
    assert results(f, ["a", "b", "a", None]) == [1, 2, 2, 2]
    assert f.result(f.merge(feed(f, ["a", "b"]), feed(f, ["b", "c"]))) == 3


def test_count_distinct_large_is_estimated_within_two_percent():
    f = fn_for("COUNT_DISTINCT", [BIGINT])
    acc = feed(f, range(20000))
    est = f.result(acc)
    assert abs(est - 20000) / 20000 < 0.02
    acc2 = pickle.loads(pickle.dumps(acc))
    assert f.result(f.merge(acc2, feed(f, range(100)))) == est


# -- EARLIEST_BY_OFFSET / LATEST_BY_OFFSET ---------------------------------------------------

def test_earliest_latest_single():
    e = fn_for("EARLIEST_BY_OFFSET", [INTEGER])
    la = fn_for("LATEST_BY_OFFSET", [INTEGER])
    assert e.type == INTEGER and la.type == INTEGER
    assert not e.undoable and not la.undoable
    assert results(e, [None, 1, 2]) == [None, 1, 1]
    assert results(la, [1, None, 2]) == [1, 1, 2]


def test_not_ignoring_nulls():
    e = fn_for("EARLIEST_BY_OFFSET", [INTEGER, BOOLEAN], [None, False])
    assert results(e, [None, 1]) == [None, None]
    la = fn_for("LATEST_BY_OFFSET", [INTEGER, BOOLEAN], [None, False])
    assert results(la, [1, None]) == [1, None]


def test_n_forms_return_arrays():
    e = fn_for("EARLIEST_BY_OFFSET", [STRING, INTEGER], [None, 2])
    assert e.type == array(STRING)
    assert results(e, ["a", None, "b", "c"]) == [["a"], ["a"], ["a", "b"], ["a", "b"]]
    la = fn_for("LATEST_BY_OFFSET", [STRING, INTEGER], [None, 2])
    assert results(la, ["a", None, "b", "c"]) == [["a"], ["a"], ["a", "b"], ["b", "c"]]
    la2 = fn_for("LATEST_BY_OFFSET", [STRING, INTEGER, BOOLEAN], [None, 2, False])
    assert results(la2, ["a", None, "b"]) == [["a"], ["a", None], [None, "b"]]
    e2 = fn_for("EARLIEST_BY_OFFSET", [STRING, INTEGER, BOOLEAN], [None, 2, False])
    assert results(e2, [None, "a", "b"]) == [[None], [None, "a"], [None, "a"]]
    assert e.result(e.init()) == []


def test_n_of_one_is_the_single_form():
    assert fn_for("LATEST_BY_OFFSET", [INTEGER, INTEGER], [None, 1]).type == INTEGER


def test_offset_merge_uses_arrival_order():
    la = fn_for("LATEST_BY_OFFSET", [INTEGER])
    first, second = feed(la, [1]), feed(la, [2])
    assert la.result(la.merge(second, first)) == 2
    assert la.result(la.merge(first, la.init())) == 1
    e = fn_for("EARLIEST_BY_OFFSET", [INTEGER])
    a, b = feed(e, [1]), feed(e, [2])
    assert e.result(e.merge(b, a)) == 1
    assert e.result(e.merge(e.init(), b)) == 2
    ln = fn_for("LATEST_BY_OFFSET", [INTEGER, INTEGER], [None, 2])
    x, y = feed(ln, [1, 2]), feed(ln, [3])
    assert ln.result(ln.merge(y, x)) == [2, 3]
    en = fn_for("EARLIEST_BY_OFFSET", [INTEGER, INTEGER], [None, 2])
    x, y = feed(en, [1]), feed(en, [2, 3])
    assert en.result(en.merge(y, x)) == [1, 2]


def test_offset_any_type():
    t = array(struct([("A", STRING), ("M", map_(STRING, DOUBLE))]))
    f = fn_for("LATEST_BY_OFFSET", [t])
    v = [{"A": "x", "M": [("k", 1.0)]}]
    assert f.type == t and f.result(feed(f, [v])) == v


def test_offset_literal_errors():
    with pytest.raises(AnalysisError, match="Parameter 2 passed to function EARLIEST_BY_OFFSET "
                                            "must be a literal constant, but was expression: "
                                            "'F0'"):
        resolve("EARLIEST_BY_OFFSET", [INTEGER, INTEGER], [None, None], arg_texts=["F0", "F0"])
    with pytest.raises(AnalysisError, match="Function 'LATEST_BY_OFFSET' does not accept "
                                            r"parameters \(INTEGER, STRING\)"):
        fn_for("LATEST_BY_OFFSET", [INTEGER, STRING], [None, "x"])
    with pytest.raises(AnalysisError, match="n must be positive"):
        fn_for("LATEST_BY_OFFSET", [INTEGER, INTEGER], [None, 0])
    with pytest.raises(AnalysisError, match="does not accept parameters"):
        fn_for("EARLIEST_BY_OFFSET", [INTEGER, BOOLEAN, INTEGER], [None, True, 2])


# -- TOPK / TOPKDISTINCT ---------------------------------------------------------------------

def test_topk():
    f = fn_for("TOPK", [INTEGER, INTEGER], [None, 3])
    assert f.type == array(INTEGER) and not f.undoable
    assert results(f, [0, 100, 99, None, 100, 7]) == [
        [0], [100, 0], [100, 99, 0], [100, 99, 0], [100, 100, 99], [100, 100, 99]]
    assert f.merge([9, 5, 1], [7, 5]) == [9, 7, 5]


def test_topk_with_other_columns_returns_structs():
    f = fn_for("TOPK", [BIGINT, STRING, INTEGER], [None, None, 2])
    assert str(f.type) == "ARRAY<STRUCT<`sort_col` BIGINT, `col0` STRING>>"
    out = results(f, [(5, "a", 2), (9, "b", 2), (None, "x", 2), (9, None, 2)])
    assert out[-1] == [{"sort_col": 9, "col0": "b"}, {"sort_col": 9, "col0": None}]
    a = [{"sort_col": 9, "col0": "a"}]
    b = [{"sort_col": 10, "col0": "b"}, {"sort_col": 1, "col0": "c"}]
    assert f.merge(a, b) == [{"sort_col": 10, "col0": "b"}, {"sort_col": 9, "col0": "a"}]


def test_topk_strings_and_decimal_widening():
    f = fn_for("TOPK", [STRING, INTEGER], [None, 2])
    assert f.result(feed(f, [("b", 2), ("a", 2), ("c", 2)])) == ["c", "b"]
    d = fn_for("TOPK", [decimal(3, 1), INTEGER], [None, 2])
    assert d.type == array(DOUBLE)
    assert d.result(feed(d, [(Decimal("1.5"), 2)])) == [1.5]


def test_topk_errors():
    with pytest.raises(AnalysisError, match="Parameter 2 passed to function TOPK must be a "
                                            "literal constant, but was expression: 'K'"):
        resolve("TOPK", [INTEGER, INTEGER], [None, None], arg_texts=["V", "K"])
    with pytest.raises(AnalysisError, match="Function 'TOPK' does not accept parameters"):
        fn_for("TOPK", [BOOLEAN, INTEGER], [None, 3])
    with pytest.raises(AnalysisError, match="Function 'TOPK' does not accept parameters"):
        fn_for("TOPK", [INTEGER], [None])


def test_topkdistinct():
    f = fn_for("TOPKDISTINCT", [INTEGER, INTEGER], [None, 3])
    assert f.type == array(INTEGER) and not f.undoable
    assert results(f, [0, 100, 99, None, 7, 100]) == [
        [0], [100, 0], [100, 99, 0], [100, 99, 0], [100, 99, 7], [100, 99, 7]]
    assert f.merge([9, 5, 1], [9, 7]) == [9, 7, 5]


@pytest.mark.parametrize("t, vals, top", [
    (decimal(3, 1), [Decimal("1.0"), Decimal("2.0")], [Decimal("2.0"), Decimal("1.0")]),
    (BYTES, [b"B", b"F", b"A"], [b"F", b"B"]),
    (DATE, [datetime.date(1970, 1, 1), datetime.date(1970, 4, 10)],
     [datetime.date(1970, 4, 10), datetime.date(1970, 1, 1)]),
    (TIME, [datetime.time(0, 0), datetime.time(0, 1)], [datetime.time(0, 1), datetime.time(0)]),
])
def test_topkdistinct_types(t, vals, top):
    f = fn_for("TOPKDISTINCT", [t, INTEGER], [None, 2])
    assert f.type == array(t)
    assert f.result(feed(f, [(v, 2) for v in vals])) == top


def test_topkdistinct_rejects():
    with pytest.raises(AnalysisError, match="Function 'TOPKDISTINCT' does not accept"):
        fn_for("TOPKDISTINCT", [BOOLEAN, INTEGER], [None, 2])


# -- STDDEV ----------------------------------------------------------------------------------

def test_stddev_sample_is_the_standard_deviation():
    f = fn_for("STDDEV_SAMPLE", [DOUBLE])
    assert f.type == DOUBLE and f.undoable
    out = results(f, [10.0, 12.0, 13.0, 14.0, 16.0, None])
    assert out[0] == 0.0
    assert out[1] == pytest.approx(math.sqrt(2))
    assert out[4] == pytest.approx(2.23606797749979)
    assert out[5] == out[4]


def test_stddev_samp_is_the_variance_like_ksqldb():
    f = fn_for("STDDEV_SAMP", [INTEGER])
    assert results(f, [0, 10]) == [0.0, 50.0]


def test_stddev_undo_and_merge():
    f = fn_for("STDDEV_SAMPLE", [DOUBLE])
    acc = feed(f, [1.0, 2.0, 4.0])
    undone = f.undo(acc, (4.0,))
    assert f.result(undone) == pytest.approx(f.result(feed(f, [1.0, 2.0])))
    merged = f.merge(feed(f, [1.0, 2.0]), feed(f, [4.0, 8.0]))
    assert f.result(merged) == pytest.approx(f.result(feed(f, [1.0, 2.0, 4.0, 8.0])))
    g = fn_for("STDDEV_SAMPLE", [BIGINT])
    assert g.result(g.merge(g.init(), feed(g, [1, 3]))) == pytest.approx(math.sqrt(2))


def test_stddev_rejects():
    with pytest.raises(AnalysisError, match="does not accept parameters"):
        fn_for("STDDEV_SAMP", [STRING])


# -- CORRELATION -----------------------------------------------------------------------------

def test_correlation():
    f = fn_for("CORRELATION", [INTEGER, INTEGER])
    assert f.type == DOUBLE and f.undoable
    out = results(f, [(1, 8), (-1, -2), (None, 5), (-4, -1)])
    assert math.isnan(out[0])
    assert out[1] == 1.0
    assert out[3] == pytest.approx(0.7455284088780169)
    acc = feed(f, [(1, 8), (-1, -2), (-4, -1)])
    assert f.result(f.undo(acc, (-4, -1))) == pytest.approx(1.0)
    assert f.result(f.merge(feed(f, [(1, 8)]), feed(f, [(-1, -2), (-4, -1)]))) == \
        pytest.approx(0.7455284088780169)


def test_correlation_rejects():
    with pytest.raises(AnalysisError, match="Function 'correlation' does not accept"):
        fn_for("CORRELATION", [STRING, DOUBLE])
    with pytest.raises(AnalysisError, match="Function 'correlation' does not accept"):
        fn_for("CORRELATION", [DOUBLE])


# -- planner checks --------------------------------------------------------------------------

def test_intermediate_type_check_for_delimited():
    avg = fn_for("AVG", [INTEGER])
    with pytest.raises(KsqlError, match="intermediate type that the value format can not "
                                        "handle"):
        check_intermediate_types([fn_for("COUNT", []), avg], "DELIMITED")
    check_intermediate_types([avg], "JSON")
    check_intermediate_types([fn_for("SUM", [INTEGER]), fn_for("MAX", [STRING])], "DELIMITED")


def test_table_aggregation_check():
    fns = [fn_for("LATEST_BY_OFFSET", [INTEGER]), fn_for("MIN", [BIGINT]),
           fn_for("MAX", [BIGINT]), fn_for("COUNT", [])]
    with pytest.raises(AnalysisError, match="The aggregation functions LATEST_BY_OFFSET, MIN "
                                            "and MAX cannot be applied to a table source, only "
                                            "to a stream source."):
        check_table_aggregation(fns)
    with pytest.raises(AnalysisError, match="The aggregation function COLLECT_SET cannot"):
        check_table_aggregation([fn_for("COLLECT_SET", [INTEGER])])
    check_table_aggregation([fn_for(n, [INTEGER]) for n in
                             ("COUNT", "SUM", "AVG", "COLLECT_LIST", "ATTR", "STDDEV_SAMP")])


def test_null_literal_argument_types():
    with pytest.raises(AnalysisError):
        fn_for("COLLECT_LIST", [NULL])
