"""Scalar functions, family by family."""

import datetime as dt
import math
from decimal import Decimal

import pytest

from ksqlpy.errors import AnalysisError

from .util import ev, typeof

D = Decimal


# ------------------------------------------------------------------ math
@pytest.mark.parametrize("sql,want", [
    ("ABS(-3)", 3), ("ABS(-3.5E0)", 3.5), ("ABS(-1.25)", D("1.25")), ("ABS(-2147483648)", -2147483648),
    ("CEIL(1.1E0)", 2.0), ("CEIL(-1.1E0)", -1.0), ("CEIL(1.1)", D("2.0")), ("CEIL(5)", 5),
    ("FLOOR(1.7E0)", 1.0), ("FLOOR(-1.1)", D("-2.0")), ("SIGN(-5)", -1), ("SIGN(0.0E0)", 0),
    ("SIGN(2.5)", 1), ("ROUND(2.5E0)", 3), ("ROUND(-2.5E0)", -2), ("ROUND(1.5)", D("2")),
    ("ROUND(-1.5)", D("-1")), ("ROUND(1.25E0, 1)", 1.3), ("ROUND(-1.25E0, 1)", -1.2),
    ("ROUND(1.234, 2)", D("1.230")), ("ROUND(7)", 7), ("TRUNC(1.99E0)", 1),
    ("TRUNC(-1.99E0)", -1), ("TRUNC(1.99, 1)", D("1.90")), ("TRUNC(12.5)", D("12")),
    ("SQRT(16.0E0)", 4.0), ("SQRT(4)", 2.0), ("CBRT(27.0E0)", 3.0), ("EXP(0)", 1.0),
    ("LN(1)", 0.0), ("LOG(100.0E0) / LN(10)", 2.0), ("LOG(2, 8)", 3.0), ("POWER(2, 10)", 1024.0),
    ("DEGREES(PI())", 180.0), ("RADIANS(180)", math.pi), ("SIN(0)", 0.0), ("COS(0)", 1.0),
    ("ATAN2(1, 1)", math.pi / 4), ("GREATEST(1, 5, 3)", 5), ("LEAST(4, 2, 3)", 2),
    ("GREATEST(1, null, 5)", 5), ("GREATEST('apple', 'zebra', null)", "zebra"),
    ("LEAST(1.5, 2.25)", D("1.50")), ("GREATEST(1.5E0, 2.5E0)", 2.5),
])
def test_math(sql, want):
    got = ev(sql)
    if isinstance(want, float):
        assert got == pytest.approx(want)
    else:
        assert got == want


def test_math_types_and_nan():
    assert typeof("ROUND(1.5E0)") == "BIGINT"
    assert typeof("ROUND(1.25)") == "DECIMAL(1, 0)"
    assert typeof("ROUND(12.345, 1)") == "DECIMAL(5, 3)"
    assert typeof("CEIL(12.34)") == "DECIMAL(4, 2)"
    assert typeof("SIGN(1.5E0)") == "INTEGER"
    assert typeof("LEAST(1.5, 22.25)") == "DECIMAL(4, 2)"
    assert math.isnan(ev("SQRT(-1)"))
    assert ev("LN(0)") == -math.inf
    assert 0.0 <= ev("RANDOM()") < 1.0
    cols = {"X": ("INT", [4, None])}
    assert ev("SQRT(X)", cols) == [2.0, None]
    assert ev("ABS(X)", cols) == [4, None]


def test_overload_resolution_messages():
    with pytest.raises(AnalysisError, match=r"Function 'greatest' cannot be resolved due to "
                                            r"ambiguous method parameters \(INTEGER, BIGINT\)"):
        typeof("GREATEST(A, B)", {"A": ("INT", []), "B": ("BIGINT", [])})
    with pytest.raises(AnalysisError, match=r"ambiguous method parameters \(null, null\)"):
        typeof("GREATEST(null, null)")
    with pytest.raises(AnalysisError, match=r"Function 'greatest' does not accept parameters "
                                            r"\(STRING, INTEGER\)"):
        typeof("GREATEST('a', 1)")
    with pytest.raises(AnalysisError, match=r"does not accept parameters \(\)"):
        typeof("GREATEST()")
    with pytest.raises(AnalysisError, match=r"Function 'SUBSTRING' does not accept parameters "
                                            r"\(STRING, BOOLEAN\)"):
        typeof("SUBSTRING('a', true)")
    with pytest.raises(AnalysisError, match=r"Function 'COALESCE' does not accept parameters"):
        typeof("COALESCE()")


def test_implicit_widening_in_calls():
    assert ev("SQRT(CAST(16 AS BIGINT))") == 4.0
    assert ev("ABS(CAST(-3 AS BIGINT))") == 3
    assert typeof("ABS(CAST(-3 AS BIGINT))") == "BIGINT"
    cols = {"D": ("DATE", [dt.date(2022, 1, 1), None])}
    assert ev("GREATEST(D, '2022-06-14')", cols) == [dt.date(2022, 6, 14)] * 2


# ------------------------------------------------------------------ strings
@pytest.mark.parametrize("sql,want", [
    ("LCASE('MiXeD')", "mixed"), ("UCASE('MiXeD')", "MIXED"), ("TRIM(' \t a b \t')", "a b"),
    ("LEN('hello')", 5), ("LEN('')", 0), ("INITCAP('the   Quick br0wn fOx')",
                                          "The   Quick Br0wn Fox"),
    ("INITCAP('some_string')", "Some_string"), ("CONCAT('a', 'b', 'c')", "abc"),
    ("CONCAT('a', null, 'c')", "ac"), ("'a' || 'b'", "ab"),
    ("CONCAT_WS('-', 'a', null, 'b')", "a-b"), ("CONCAT_WS(null, 'a')", None),
    ("SUBSTRING('some_string', 6)", "string"), ("SUBSTRING('short', 6)", ""),
    ("SUBSTRING('long enough', 2, 5)", "ong e"), ("SUBSTRING('s', 2, 5)", ""),
    ("SUBSTRING('hello', -3)", "llo"), ("SUBSTRING('hello', -3, 2)", "ll"),
    ("SUBSTRING('hello', 0)", "hello"), ("SUBSTRING('hello', null)", None),
    ("INSTR('corporate floor', 'or')", 2), ("INSTR('corporate floor', 'or', 4, 2)", 14),
    ("INSTR('no substring', 'or')", 0), ("INSTR('corporate floor', 'or', -3)", 5),
    ("INSTR('corporate floor', 'or', -3, 2)", 2),
    ("LPAD('foo', 7, 'Bar')", "BarBfoo"), ("RPAD('foo', 7, 'Bar')", "fooBarB"),
    ("RPAD('foo', 2, 'Bar')", "fo"), ("RPAD('foo', -1, 'Bar')", None),
    ("RPAD('foo', 7, '')", None), ("LPAD('', 7, 'Bar')", "BarBarB"),
    ("REPLACE('abcabc', 'b', 'X')", "aXcaXc"), ("SPLIT('a.b.c', '.')", ["a", "b", "c"]),
    ("SPLIT('..a..', '.')", ["", "", "a", "", ""]), ("SPLIT('', '.')", [""]),
    ("SPLIT('abc', '')", ["a", "b", "c"]),
    ("SPLIT_TO_MAP('a=1;b=2', ';', '=')", {"a": "1", "b": "2"}),
    ("REGEXP_EXTRACT('.*?(\\d+)', 'abc123def456')", "abc123"),
    ("REGEXP_EXTRACT('(\\d+)([a-z]+)', 'abc123def456', 2)", "def"),
    ("REGEXP_EXTRACT('x', 'abc')", None),
    ("REGEXP_EXTRACT_ALL('\\d+', 'a1b22c333')", ["1", "22", "333"]),
    ("REGEXP_REPLACE('a1b22', '\\d+', '#')", "a#b#"),
    ("REGEXP_REPLACE('john smith', '(\\w+) (\\w+)', '$2 $1')", "smith john"),
    ("REGEXP_SPLIT_TO_ARRAY('aabcda', '(ab|cd)')", ["a", "", "a"]),
    ("MASK('AbCd-12')", "XxXx-nn"), ("MASK('AbCd-12', '*', null, '#', null)", "*b*d-##"),
    ("MASK_KEEP_LEFT('AbCd-12', 2)", "AbXx-nn"), ("MASK_KEEP_RIGHT('AbCd-12', 2)", "XxXx-12"),
    ("MASK_LEFT('AbCd-12', 2)", "XxCd-12"), ("MASK_RIGHT('AbCd-12', 2)", "AbCd-nn"),
    ("CHR(75)", "K"), ("CHR(22909)", "\u597d"), ("CHR(-1)", None), ("CHR('\\u004b')", "K"),
    ("CHR('75')", None), ("ELT(2, 'a', 'b')", "b"), ("ELT(3, 'a', 'b')", None),
    ("FIELD('hello', 'x', 'hello')", 2), ("FIELD('z', 'x', 'y')", 0), ("FIELD(null, 'x')", 0),
    ("ENCODE('4578616d706C6521', 'hex', 'utf8')", "Example!"),
    ("ENCODE('Example!', 'ascii', 'base64')", "RXhhbXBsZSE="),
    ("ENCODE('RXhhbXBsZSE=', 'base64', 'hex')", "4578616d706c6521"),
    ("ENCODE('0x4578', 'hex', 'utf8')", "Ex"), ("ENCODE('0x0x', 'hex', 'utf8')", None),
    ("MD5('hello')", "5d41402abc4b2a76b9719d911017c592"),
    ("FROM_BYTES(TO_BYTES('hello', 'utf8'), 'base64')", "aGVsbG8="),
    ("FROM_BYTES(TO_BYTES('AQID', 'base64'), 'hex')", "010203"),
    ("LEN(TO_BYTES('AQID', 'base64'))", 3),
    ("UUID(TO_BYTES('AAECAwQFBgcICQoLDA0ODw==', 'base64'))",
     "00010203-0405-0607-0809-0a0b0c0d0e0f"),
])
def test_strings(sql, want):
    assert ev(sql) == want


def test_string_null_handling_and_columns():
    cols = {"S": ("STRING", ["Ab", None, ""])}
    assert ev("LCASE(S)", cols) == ["ab", None, ""]
    assert ev("LEN(S)", cols) == [2, None, 0]
    assert ev("CONCAT(S, '!')", cols) == ["Ab!", "!", "!"]
    assert ev("S || '!'", cols) == ["Ab!", "!", "!"]
    assert ev("UCASE(S) + 'x'", cols) == ["ABx", None, "x"]
    assert len(ev("UUID()", rows=3)) == 3 and len(set(ev("UUID()", rows=3))) == 3


# ------------------------------------------------------------------ nulls
def test_null_functions():
    cols = {"A": ("INT", [1, None, None]), "B": ("INT", [None, 2, None])}
    assert ev("COALESCE(A, B, 9)", cols) == [1, 2, 9]
    assert ev("IFNULL(A, 10)", cols) == [1, 10, 10]
    assert ev("NULLIF(A, 1)", cols) == [None, None, None]
    assert ev("NULLIF(B, 1)", cols) == [None, 2, None]
    assert typeof("COALESCE(A, CAST(1 AS BIGINT))", cols) == "BIGINT"
    arr = {"L": ("ARRAY<INT>", [[1], None])}
    assert ev("COALESCE(L, ARRAY[10, 20])", arr) == [[1], [10, 20]]


# ------------------------------------------------------------------ arrays
@pytest.mark.parametrize("sql,want", [
    ("ARRAY_LENGTH(ARRAY[1, 2, 3])", 3), ("ARRAY_CONTAINS(ARRAY[1, 2], 2)", True),
    ("ARRAY_CONTAINS(ARRAY['a'], 'b')", False),
    ("ARRAY_DISTINCT(ARRAY[1, 1, 2, null, null])", [1, 2, None]),
    ("ARRAY_EXCEPT(ARRAY[1, 2, 3, 2], ARRAY[3])", [1, 2]),
    ("ARRAY_INTERSECT(ARRAY[1, 2, 3], ARRAY[3, 1, 4])", [1, 3]),
    ("ARRAY_UNION(ARRAY[1, 2], ARRAY[2, 3])", [1, 2, 3]),
    ("ARRAY_CONCAT(ARRAY[1], ARRAY[2, 3])", [1, 2, 3]),
    ("ARRAY_REMOVE(ARRAY[1, 2, 1], 1)", [2]), ("ARRAY_JOIN(ARRAY[1, 2])", "1,2"),
    ("ARRAY_JOIN(ARRAY['a', 'b'], '|')", "a|b"), ("ARRAY_MAX(ARRAY[1, null, 5])", 5),
    ("ARRAY_MIN(ARRAY['b', 'a'])", "a"), ("ARRAY_SORT(ARRAY[3, null, 1])", [1, 3, None]),
    ("ARRAY_SORT(ARRAY[3, 1, 2], 'DESC')", [3, 2, 1]), ("SLICE(ARRAY[1, 2, 3, 4], 2, 3)", [2, 3]),
    ("SLICE(ARRAY[1, 2], 3, 4)", []), ("GENERATE_SERIES(0, 3)", [0, 1, 2, 3]),
    ("GENERATE_SERIES(4, 0)", [4, 3, 2, 1, 0]), ("GENERATE_SERIES(0, 10, 5)", [0, 5, 10]),
    ("ENTRIES(MAP('b' := 1, 'a' := 2), true)", [{"K": "a", "V": 2}, {"K": "b", "V": 1}]),
])
def test_arrays(sql, want):
    assert ev(sql) == want


def test_array_null_inputs():
    cols = {"L": ("ARRAY<INT>", [None, [1, 2]])}
    assert ev("ARRAY_LENGTH(L)", cols) == [None, 2]
    assert ev("ARRAY_CONTAINS(L, 1)", cols) == [False, True]
    assert ev("ARRAY_MAX(L)", cols) == [None, 2]
    assert typeof("ENTRIES(MAP('a' := 1.5), false)") == \
        "ARRAY<STRUCT<`K` STRING, `V` DECIMAL(2, 1)>>"


# ------------------------------------------------------------------ maps
def test_maps():
    assert ev("MAP_KEYS(MAP('a' := 1, 'b' := 2))") == ["a", "b"]
    assert ev("MAP_VALUES(MAP('a' := 1, 'b' := 2))") == [1, 2]
    assert ev("MAP_UNION(MAP('a' := 1), MAP('a' := 3, 'b' := 2))") == {"a": 3, "b": 2}
    assert ev("AS_MAP(ARRAY['a', 'b'], ARRAY[1, 2])") == {"a": 1, "b": 2}
    assert typeof("AS_MAP(ARRAY['a'], ARRAY[1])") == "MAP<STRING, INTEGER>"


# ------------------------------------------------------------------ lambdas
def test_transform_filter_reduce_arrays():
    cols = {"A": ("ARRAY<INT>", [[1, 2, 3], None, []]), "K": ("INT", [10, 20, 30])}
    assert ev("TRANSFORM(A, x => x * 2)", cols) == [[2, 4, 6], None, []]
    assert ev("TRANSFORM(A, x => x + K)", cols) == [[11, 12, 13], None, []]
    assert ev("TRANSFORM(A, x => CAST(x AS STRING))", cols) == [["1", "2", "3"], None, []]
    assert ev("FILTER(A, x => x > 1)", cols) == [[2, 3], None, []]
    assert ev("REDUCE(A, 0, (s, x) => s + x)", cols) == [6, 0, 0]
    assert ev("REDUCE(A, K, (s, x) => s * x)", cols) == [60, 20, 30]
    assert ev("REDUCE(ARRAY['a', null, 'b'], '', (s, x) => CONCAT(s, x))") == "ab"
    assert typeof("REDUCE(A, CAST(0 AS BIGINT), (s, x) => s + x)", cols) == "BIGINT"
    nested = {"N": ("ARRAY<ARRAY<INT>>", [[[1, 2], [3]], [[4]]])}
    assert ev("TRANSFORM(N, xs => TRANSFORM(xs, y => y + 1))", nested) == [[[2, 3], [4]], [[5]]]
    assert ev("TRANSFORM(N, xs => REDUCE(xs, 0, (s, y) => s + y))", nested) == [[3, 3], [4]]


def test_lambdas_over_maps():
    cols = {"M": ("MAP<STRING, INT>", [{"123": 3, "12": 7, "1234": 2}, None])}
    assert ev("REDUCE(M, 0, (s, k, v) => CASE WHEN LEN(k) > 3 THEN s + v ELSE s - v END)",
              cols) == [-8, 0]
    assert ev("FILTER(M, (k, v) => v > 2)", cols) == [{"123": 3, "12": 7}, None]
    assert ev("TRANSFORM(M, (k, v) => CONCAT(k, '!'), (k, v) => v * 10)", cols) == [
        {"123!": 30, "12!": 70, "1234!": 20}, None]
    errs = []
    assert ev("TRANSFORM(M, (k, v) => 'same', (k, v) => v)", cols, errors=errs) == [None, None]
    assert len(errs) == 1


def test_lambda_errors():
    with pytest.raises(AnalysisError):
        typeof("FILTER(ARRAY[1], x => x + 1)")
    with pytest.raises(AnalysisError):
        typeof("TRANSFORM(1, x => x)")
    errs = []
    cols = {"A": ("ARRAY<INT>", [[1, 0], [2]])}
    assert ev("TRANSFORM(A, x => 10 / x)", cols, errors=errs) == [[10, None], [5]]
    assert errs == [(0, "/ by zero")]


# ------------------------------------------------------------------ json
@pytest.mark.parametrize("sql,want", [
    ("EXTRACTJSONFIELD('{\"a\": {\"b\": [1, {\"c\": \"x\"}]}}', '$.a.b[1].c')", "x"),
    ("EXTRACTJSONFIELD('{\"a\": {\"b\": [1, 2]}}', '$.a.b')", "[1,2]"),
    ("EXTRACTJSONFIELD('{\"a\": 1}', '$.z')", None),
    ("EXTRACTJSONFIELD('not json', '$.a')", None),
    ("EXTRACTJSONFIELD('{\"@type\": \"t\"}', '$.@type')", "t"),
    ("EXTRACTJSONFIELD('{\"a b\": 1}', '$[''a b'']')", "1"),
    ("IS_JSON_STRING('{\"a\": 1}')", True), ("IS_JSON_STRING('{a')", False),
    ("IS_JSON_STRING(null)", False), ("JSON_ARRAY_LENGTH('[1, 2, 3]')", 3),
    ("JSON_ARRAY_LENGTH('{}')", None), ("JSON_ARRAY_CONTAINS('[1, 2]', 2)", True),
    ("JSON_ARRAY_CONTAINS('[\"a\"]', 'b')", False), ("JSON_ARRAY_CONTAINS('[true]', true)", True),
    ("JSON_CONCAT('{\"a\": 1}', '{\"b\": 2}')", "{\"a\":1,\"b\":2}"),
    ("JSON_CONCAT('[1]', '[2, 3]')", "[1,2,3]"), ("JSON_CONCAT('[1]', '{\"a\": 1}')",
                                                  "[1,{\"a\":1}]"),
    ("JSON_ITEMS('[{\"a\": 1}, 2]')", ["{\"a\":1}", "2"]),
    ("JSON_KEYS('{\"a\": 1, \"b\": 2}')", ["a", "b"]),
    ("JSON_RECORDS('{\"a\": [1], \"b\": \"x\"}')", {"a": "[1]", "b": "\"x\""}),
    ("TO_JSON_STRING(1)", "1"), ("TO_JSON_STRING('a')", "\"a\""),
    ("TO_JSON_STRING(ARRAY[1, null])", "[1,null]"),
    ("TO_JSON_STRING(STRUCT(A := 1, B := MAP('k' := 1.5E0)))", "{\"A\":1,\"B\":{\"k\":1.5}}"),
    ("TO_JSON_STRING(CAST('2020-01-01T01:02:03' AS TIMESTAMP))",
     "\"2020-01-01T01:02:03.000\""),
    ("TO_JSON_STRING(CAST('16:43:40' AS TIME))", "\"16:43:40\""),
])
def test_json(sql, want):
    assert ev(sql) == want


# ------------------------------------------------------------------ date / time
TS = dt.datetime(2018, 5, 11, 21, 58, 33)


@pytest.mark.parametrize("sql,want", [
    ("FORMAT_TIMESTAMP(T, 'yyyy-MM-dd HH:mm:ss')", "2018-05-11 21:58:33"),
    ("FORMAT_TIMESTAMP(T, 'yyyy-MM-dd''T''HH:mm:ss.SSS')", "2018-05-11T21:58:33.000"),
    ("FORMAT_TIMESTAMP(T, 'yyyy-MM-dd HH:mm:ss zzz', 'America/Los_Angeles')",
     "2018-05-11 14:58:33 PDT"),
    ("FORMAT_TIMESTAMP(T, 'dd/MMM/yyyy h:mm a, EEEE')", "11/May/2018 9:58 PM, Friday"),
    ("FORMAT_TIMESTAMP(T, 'yyyy-MM-dd HH:mm:ssXXX', '+02:00')", "2018-05-11 23:58:33+02:00"),
    ("FORMAT_TIMESTAMP(T, 'D')", "131"),
    ("TIMESTAMPTOSTRING(1526075913000, 'yyyy-MM-dd HH:mm:ss')", "2018-05-11 21:58:33"),
    ("UNIX_TIMESTAMP(T)", 1526075913000),
    ("STRINGTOTIMESTAMP('2018-05-11T21:58:33 PST', 'yyyy-MM-dd''T''HH:mm:ss zzz')",
     1526101113000),
    ("STRINGTOTIMESTAMP('2018-05-11 21:58:33', 'yyyy-MM-dd HH:mm:ss', 'UTC')", 1526075913000),
    ("UNIX_TIMESTAMP(PARSE_TIMESTAMP('2018-05-11T21:58:33', 'yyyy-MM-dd''T''HH:mm:ss'))",
     1526075913000),
    ("UNIX_TIMESTAMP(PARSE_TIMESTAMP('11/05/2018 09:58 PM', 'dd/MM/yyyy hh:mm a'))",
     1526075880000),
    ("UNIX_DATE(PARSE_DATE('2003-12-24', 'yyyy-MM-dd'))", 12410),
    ("PARSE_DATE('2004', 'yyyy-MM-dd')", None),
    ("FORMAT_DATE(FROM_DAYS(10), 'dd.MM.yyyy')", "11.01.1970"),
    ("DATETOSTRING(18000, 'yyyy-MM-dd')", "2019-04-14"),
    ("STRINGTODATE('2019-04-14', 'yyyy-MM-dd')", 18000),
    ("FORMAT_TIME(PARSE_TIME('00:01:05', 'HH:mm:ss'), 'HH_mm_ss_SSS')", "00_01_05_000"),
    ("FORMAT_TIME(CAST('00:20:34.567' AS TIME), 'HHmmss''AAAAA''')", "002034AAAAA"),
    ("UNIX_TIMESTAMP(FROM_UNIXTIME(1000))", 1000), ("UNIX_DATE(FROM_DAYS(3))", 3),
    ("UNIX_TIMESTAMP(CONVERT_TZ(FROM_UNIXTIME(100), '+0200', '+0500'))", 10800100),
    ("UNIX_TIMESTAMP(CONVERT_TZ(FROM_UNIXTIME(1589234313000), 'America/Los_Angeles', "
     "'America/New_York'))", 1589245113000),
    ("UNIX_DATE(DATEADD(DAYS, 10, FROM_DAYS(10)))", 20),
    ("UNIX_DATE(DATESUB(DAYS, 5, FROM_DAYS(2)))", -3),
    ("UNIX_TIMESTAMP(TIMESTAMPADD(MILLISECONDS, -5, FROM_UNIXTIME(10)))", 5),
    ("UNIX_TIMESTAMP(TIMESTAMPSUB(HOURS, 1, FROM_UNIXTIME(3600000)))", 0),
    ("FORMAT_TIME(TIMEADD(MINUTES, 90, CAST('23:00' AS TIME)), 'HH:mm')", "00:30"),
    ("FORMAT_TIME(TIMESUB(SECONDS, 1, CAST('00:00' AS TIME)), 'HH:mm:ss')", "23:59:59"),
])
def test_datetime(sql, want):
    assert ev(sql, {"T": ("TIMESTAMP", [TS])}) == [want]


def test_datetime_errors_and_nulls():
    errs = []
    assert ev("PARSE_TIMESTAMP(S, 'yyyy-MM-dd')", {"S": ("STRING", ["bad", None])},
              errors=errs) == [None, None]
    assert len(errs) == 1
    with pytest.raises(AnalysisError, match=r"Function 'dateadd' does not accept parameters "
                                            r"\(DATE, INTEGER, DATE\)"):
        typeof("DATEADD(D, 5, D)", {"D": ("DATE", [])})
    with pytest.raises(AnalysisError, match=r"Function 'timestampadd' does not accept"):
        typeof("TIMESTAMPADD(T, 5, T)", {"T": ("TIMESTAMP", [])})
    assert ev("DATEADD(MILLISECONDS, N, D)", {"N": ("INT", [5, None]),
                                              "D": ("DATE", [None, dt.date(1970, 1, 1)])}) == \
        [None, None]
    assert isinstance(ev("UNIX_TIMESTAMP()"), int)
    assert isinstance(ev("UNIX_DATE()"), int)


# ------------------------------------------------------------------ url / bytes / geo / other
@pytest.mark.parametrize("sql,want", [
    ("URL_EXTRACT_HOST('http://www.test.com:8080/a/b?x=1&y=2#frag')", "www.test.com"),
    ("URL_EXTRACT_PORT('http://www.test.com:8080/a/b?x=1&y=2#frag')", 8080),
    ("URL_EXTRACT_PORT('http://www.test.com/a')", None),
    ("URL_EXTRACT_PATH('http://www.test.com:8080/a/b?x=1&y=2#frag')", "/a/b"),
    ("URL_EXTRACT_PROTOCOL('https://x.com')", "https"),
    ("URL_EXTRACT_QUERY('http://x.com/p?x=1&y=2#f')", "x=1&y=2"),
    ("URL_EXTRACT_FRAGMENT('http://x.com/p?x=1&y=2#f')", "f"),
    ("URL_EXTRACT_PARAMETER('http://x.com/p?x=1&y=2#f', 'y')", "2"),
    ("URL_EXTRACT_PARAMETER('http://x.com/p?x=1', 'z')", None),
    ("URL_ENCODE_PARAM('a b&c=d/e')", "a+b%26c%3Dd%2Fe"),
    ("URL_DECODE_PARAM('a+b%26c')", "a b&c"),
    ("INT_FROM_BYTES(TO_BYTES('AAAAAQ==', 'base64'))", 1),
    ("INT_FROM_BYTES(TO_BYTES('AQAAAA==', 'base64'), 'LITTLE_ENDIAN')", 1),
    ("BIGINT_FROM_BYTES(TO_BYTES('AAAAAAAAAAI=', 'base64'))", 2),
    ("DOUBLE_FROM_BYTES(TO_BYTES('P/AAAAAAAAA=', 'base64'))", 1.0),
    ("INT_FROM_BYTES(TO_BYTES('AQ==', 'base64'))", None),
    ("AS_VALUE('k')", "k"),
])
def test_misc(sql, want):
    assert ev(sql) == want


def test_geo_distance():
    assert ev("GEO_DISTANCE(37.4439, -122.1663, 51.5257, -0.1122)") == \
        pytest.approx(8634.6598, rel=1e-6)
    assert ev("GEO_DISTANCE(37.4439, -122.1663, 51.5257, -0.1122, 'MI')") == \
        pytest.approx(5365.66, rel=1e-4)
    errs = []
    assert ev("GEO_DISTANCE(91.0, 0.0, 0.0, 0.0)", errors=errs) is None
    assert len(errs) == 1


@pytest.mark.parametrize("pos,ln", [(p, l) for p in (-7, -3, -1, 0, 1, 2, 5, 6, 9)
                                    for l in (None, -1, 0, 1, 2, 10)])
def test_substring_vectorized_matches_java_rules(pos, ln):
    from ksqlpy.expr.functions.string import _substring2, _substring3
    vals = ["hello", "", "ab", None]
    sql = f"SUBSTRING(S, {pos})" if ln is None else f"SUBSTRING(S, {pos}, {ln})"
    want = [None if v is None else (_substring2(v, pos) if ln is None else
                                    _substring3(v, pos, ln)) for v in vals]
    assert ev(sql, {"S": ("STRING", vals)}) == want


def test_round_double_vectorized():
    vals = [0.5, -0.5, 1.5, -1.5, 2.4999, -2.5000001, float("nan"), 1e300, -1e300, None,
            0.49999999999999994]
    assert ev("ROUND(D)", {"D": ("DOUBLE", vals)}) == [
        1, 0, 2, -1, 2, -3, 0, 2 ** 63 - 1, -(2 ** 63), None, 0]
