"""ExpectedRecordComparator rules."""

from decimal import Decimal as D

from ksqlpy.conformance.compare import explain, headers_match, matches


def test_decimal_scale_must_match():
    assert matches(D("1.10"), D("1.10"))
    assert not matches(D("1.1"), D("1.10"))
    assert not matches(D("1.10"), D("1.1"))
    assert "different scale" in explain(D("1.10"), D("1.1"))


def test_integer_expected_vs_decimal_actual():
    assert matches(D("10"), 10)
    assert not matches(D("10.0"), 10)
    assert matches(D("1E+1"), 10)  # scale -1 <= 0, value equal


def test_integer_actual():
    assert matches(10, 10)
    assert not matches(11, 10)
    assert matches(10, D("10.0"))   # Java: expected.intValue() == actual
    assert not matches(2 ** 70, 2 ** 70)  # a BigInteger: no comparator branch


def test_double_tolerance():
    assert matches(0.30000000000000004, D("0.3"))
    assert matches(1.0000001, D("1.0"))
    assert not matches(1.00001, D("1.0"))
    assert matches(5.0, 5)


def test_bool_is_not_a_number():
    assert not matches(True, 1)
    assert not matches(1, True)
    assert matches(True, True)
    assert not matches(False, True)


def test_null():
    assert matches(None, None)
    assert not matches(0, None)
    assert not matches(None, 0)


def test_text():
    assert matches("abc", "abc")
    assert not matches("abc", "ABC")
    assert matches(D("1.50"), "1.50")
    assert not matches(D("1.5"), "1.50")
    assert not matches(D("1.5"), "not a number")
    assert matches(b"\x01\x02", "AQI=")
    assert not matches(1, "1")


def test_object_field_lookup_and_count():
    assert matches({"ID": 1}, {"id": 1})          # expected key upper-cased on a miss
    assert matches({"id": 1}, {"id": 1})
    assert not matches({"ID": 1, "X": 2}, {"ID": 1})   # field counts differ
    assert not matches({"Id": 1}, {"id": 1})
    assert matches({"A": None}, {"a": None})
    assert not matches([1], {"a": 1})


def test_arrays():
    assert matches([1, "a", None], [1, "a", None])
    assert not matches([1, 2], [1, 2, 3])
    assert not matches([2, 1], [1, 2])
    assert "[1]" in explain([1, 3], [1, 2])


def test_nested_explain_path():
    why = explain({"S": {"F": [D("1.0")]}}, {"S": {"F": [D("1.00")]}})
    assert why.startswith("value.S.F[0]")


def test_headers():
    assert headers_match([("a", b"x")], [("a", b"x")])
    assert not headers_match([("a", b"x")], [("a", b"y")])
    assert not headers_match([], [("a", None)])
    assert headers_match([("a", None)], [("a", None)])
