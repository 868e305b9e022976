"""QTT loading: comment stripping, validation, format/config matrix expansion."""

import json
from decimal import Decimal

from ksqlpy.conformance.qtt import FORMAT_REPLACE_ERROR, expand, load_text, strip_comments


def test_strip_line_and_block_comments():
    text = '{\n // a comment\n "a": 1, /* block\n comment */ "b": "x // not a comment",\n' \
           ' "c": "/* nor this */", "d": "esc \\" // still string" // trailing\n}'
    doc = json.loads(strip_comments(text))
    assert doc == {"a": 1, "b": "x // not a comment", "c": "/* nor this */",
                   "d": 'esc " // still string'}


def test_strip_keeps_line_numbers():
    text = '{\n/* one\ntwo */\n"a": [1,\n2]}'
    assert strip_comments(text).count("\n") == text.count("\n")


def test_load_parses_floats_as_exact_decimals():
    tcs = load_text('{"tests":[{"name":"t","statements":["CREATE STREAM X;"],'
                    '"inputs":[{"topic":"t","value":{"D":1.10}}]}]}', "f")
    (tc,) = tcs
    v = tc.inputs[0]["value"]["D"]
    assert isinstance(v, Decimal) and str(v) == "1.10"
    assert tc.name == "f - t"


def _node(**kw):
    node = {"name": "n", "statements": ["CREATE STREAM S WITH (value_format='{FORMAT}');"],
            "outputs": [{"topic": "o", "value": 1}]}
    node.update(kw)
    return node


def test_format_matrix():
    tcs = expand(_node(format=["JSON", "AVRO"]), "file")
    assert [t.name for t in tcs] == ["file - n - JSON", "file - n - AVRO"]
    assert tcs[0].statements == ["CREATE STREAM S WITH (value_format='JSON');"]
    assert tcs[1].statements == ["CREATE STREAM S WITH (value_format='AVRO');"]


def test_format_placeholder_without_matrix():
    (tc,) = expand(_node(), "file")
    assert FORMAT_REPLACE_ERROR in tc.statements[0]


def test_config_matrix():
    tcs = expand(_node(config=["true", "false"],
                       properties={"ksql.x": "{CONFIG}", "other": "v"}), "file")
    assert [t.name for t in tcs] == ["file - n - ksql.x=true", "file - n - ksql.x=false"]
    assert tcs[0].properties == {"ksql.x": "true", "other": "v"}
    assert tcs[1].properties == {"ksql.x": "false", "other": "v"}


def test_format_and_config_matrix():
    tcs = expand(_node(format=["JSON"], config=["a", "b"], properties={"p": "{CONFIG}"}), "f")
    assert [t.name for t in tcs] == ["f - n - JSON - p=a", "f - n - JSON - p=b"]


def test_disabled_is_skipped():
    (tc,) = expand(_node(enabled=False), "f")
    assert tc.skipped


def test_validation():
    def reason(**kw):
        (tc,) = expand(_node(**kw), "f")
        return tc.invalid

    assert reason() is None
    assert "statements" in reason(statements=[])
    assert "no inputs, outputs or expectedException" in reason(outputs=[])
    assert reason(outputs=[], expectedException={"type": "x"}) is None
    assert "expectedException.type or" in reason(expectedException={"cause": "x"})
    assert "expectedException.cause" in reason(expectedException={"message": "m",
                                                                  "causeMessage": "c"})
    assert "missing field: value" in reason(outputs=[{"topic": "o"}])
    assert "missing field: topic" in reason(inputs=[{"value": 1}])
    (tc,) = expand({"statements": ["x"], "outputs": [{"topic": "o", "value": 1}]}, "f")
    assert "name" in tc.invalid


def test_unknown_fields_ignored():
    (tc,) = expand(_node(comments=["x"], comment="y", notes=1), "f")
    assert tc.invalid is None
