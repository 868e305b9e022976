"""ksqlDB's validations and messages for bad statements (stage: runtime/analysis), checked
through the engine the REST API uses: read-only sources, ALTER, window bounds, untyped NULL,
KAFKA value format, header columns, source-name hints."""

import pytest

from ksqlpy.errors import KsqlError, ParseError
from tests.engine.conftest import memory_engine, run

STREAM = ("CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', value_format='JSON', "
          "partitions=1);")
SOURCE = ("CREATE SOURCE STREAM SRC (K STRING KEY, V INT) WITH (kafka_topic='s', "
          "value_format='JSON', partitions=1);")


def _error(setup: str, statement: str) -> KsqlError:
    async def go():
        engine = await memory_engine()
        try:
            if setup:
                await engine.execute(setup)
            with pytest.raises(KsqlError) as info:
                await engine.execute(statement)
            return info.value
        finally:
            await engine.close()
    return run(go())


def _ok(sql: str):
    async def go():
        engine = await memory_engine()
        try:
            return await engine.execute(sql), engine.catalog
        finally:
            await engine.close()
    return run(go())


# -- read-only sources ---------------------------------------------------------------------

def test_insert_select_into_source_stream_is_rejected():
    e = _error(SOURCE + STREAM, "INSERT INTO SRC SELECT * FROM S;")
    assert e.message == "Cannot insert into read-only stream: SRC"


def test_drop_delete_topic_of_source_is_rejected_but_plain_drop_works():
    e = _error(SOURCE, "DROP STREAM SRC DELETE TOPIC;")
    assert e.message == "Cannot delete topic for read-only source: SRC"
    results, catalog = _ok(SOURCE + "DROP STREAM SRC;")
    assert catalog.source("SRC") is None


def test_alter_source_stream_is_rejected():
    e = _error(SOURCE, "ALTER STREAM SRC ADD COLUMN X INT;")
    assert e.message == ("Cannot alter stream 'SRC': ALTER operations are not supported on "
                         "source streams.")


# -- ALTER -----------------------------------------------------------------------------------

def test_alter_adds_value_columns():
    results, catalog = _ok(STREAM + "ALTER STREAM S ADD COLUMN X INT, ADD Y STRING;")
    assert results[-1].message == "Stream S altered."
    assert [c.name for c in catalog.source("S").schema.value] == ["V", "X", "Y"]


@pytest.mark.parametrize("statement, message", [
    ("ALTER STREAM NOPE ADD COLUMN X INT;", "Source NOPE does not exist."),
    ("ALTER TABLE S ADD COLUMN X INT;",
     "Incompatible data source type is STREAM, but statement was ALTER TABLE"),
    ("ALTER STREAM S ADD COLUMN V INT;",
     "Cannot add column `V` to schema. A column with the same name already exists."),
    ("ALTER STREAM S ADD COLUMN K INT;",
     "Cannot add column `K` to schema. A column with the same name already exists."),
])
def test_alter_errors(statement, message):
    assert _error(STREAM, statement).message == message


def test_alter_of_a_create_as_select_is_rejected():
    e = _error(STREAM + "CREATE STREAM OUT AS SELECT * FROM S;",
               "ALTER STREAM OUT ADD COLUMN X INT;")
    assert e.message == "ALTER command is not supported for CREATE ... AS statements."


# -- DROP / INSERT names ---------------------------------------------------------------------

def test_drop_unknown_names_the_kind_and_hints_at_case():
    assert _error("", "DROP STREAM NOPE;").message == "Stream NOPE does not exist."
    e = _error(STREAM.replace("STREAM S ", "STREAM `s` "), "DROP STREAM s;")
    assert e.message == ('Stream S does not exist.\nDid you mean "s"? Hint: wrap the source '
                         'name in double quotes to make it case-sensitive.')


def test_insert_values_unknown_source_hints_at_case():
    e = _error(STREAM, "INSERT INTO `s` VALUES ('a', 1);")
    assert e.message == ("Cannot insert values into an unknown stream/table: `s`\nDid you mean "
                         "S? Hint: try removing double quotes from the source name.")
    e = _error(STREAM, "INSERT INTO NOPE VALUES ('a', 1);")
    assert e.message == "Cannot insert values into an unknown stream/table: `NOPE`"


def test_insert_select_into_unknown_source():
    e = _error(STREAM, "INSERT INTO NOPE SELECT * FROM S;")
    assert e.message.endswith("Source `NOPE` does not exist.")


# -- header columns --------------------------------------------------------------------------

HEADERED = ("CREATE STREAM H (K STRING KEY, H1 BYTES HEADER('abc'), V INT) WITH "
            "(kafka_topic='h', value_format='JSON', partitions=1);")


def test_insert_values_without_columns_into_a_source_with_headers():
    e = _error(HEADERED, "INSERT INTO H VALUES ('a', NULL, 1);")
    assert e.message == "Cannot insert into HEADER columns: H1"


def test_insert_select_into_a_source_with_headers():
    e = _error(HEADERED + STREAM.replace("STREAM S ", "STREAM S2 ").replace("'s'", "'s2'"),
               "INSERT INTO H SELECT * FROM S2;")
    assert e.message == "Cannot insert into H because it has header columns"


# -- window bounds ---------------------------------------------------------------------------

BOUNDS = "Window bounds column {} can only be used in the SELECT clause of windowed aggregations"


@pytest.mark.parametrize("query, column", [
    ("SELECT K, COUNT(*) AS C FROM S WINDOW TUMBLING (SIZE 1 SECOND) "
     "GROUP BY K, WINDOWSTART, WINDOWEND", "WINDOWSTART"),
    ("SELECT K, COUNT(*) AS C FROM S WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY WINDOWEND",
     "WINDOWEND"),
    ("SELECT K, COUNT(*) AS C FROM S WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY K "
     "HAVING WINDOWSTART > 0", "WINDOWSTART"),
    ("SELECT K, MIN(WINDOWEND) AS C FROM S WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY K",
     "WINDOWEND"),
    ("SELECT K, COUNT(*) AS C FROM S WINDOW TUMBLING (SIZE 1 SECOND) WHERE WINDOWSTART > 0 "
     "GROUP BY K", "WINDOWSTART"),
])
def test_window_bounds_outside_the_select_of_a_windowed_aggregation(query, column):
    e = _error(STREAM, f"CREATE TABLE T AS {query};")
    assert e.message.startswith(BOUNDS.format(column))


def test_group_by_both_window_bounds_is_one_row_per_window():
    # ksqlpy's documented extension (docs/architecture.md)
    results, catalog = _ok(
        STREAM + "CREATE TABLE T AS SELECT WINDOWSTART AS WS, COUNT(*) AS C FROM S "
        "WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY WINDOWEND, WINDOWSTART;")
    assert catalog.source("T").schema.key == ()


# -- types and formats ----------------------------------------------------------------------

def test_bare_null_column_has_no_type():
    e = _error(STREAM, "CREATE STREAM O AS SELECT K, NULL AS N FROM S;")
    assert e.message == ("Can't infer a type of null. Please explicitly cast it to a required "
                         "type, e.g. CAST(null AS VARCHAR).")
    _ok(STREAM + "CREATE STREAM O AS SELECT K, CAST(NULL AS INT) AS N FROM S;")


def test_kafka_value_format_cannot_group_by():
    e = _error("CREATE STREAM KS (K STRING KEY, V STRING) WITH (kafka_topic='ks', "
               "value_format='KAFKA', partitions=1);",
               "CREATE TABLE T WITH (value_format='JSON') AS SELECT V, COUNT(*) FROM KS "
               "GROUP BY V;")
    assert e.message == ("Source(s) KS are using the 'KAFKA' value format. This format does "
                         "not yet support GROUP BY.")


def test_sink_timestamp_column_is_checked_before_the_key_columns():
    e = _error(STREAM, "CREATE STREAM O WITH (timestamp='nope') AS SELECT V FROM S;")
    assert e.message == ("The TIMESTAMP column set in the WITH clause does not exist in the "
                         "schema: 'NOPE'")


def test_missing_key_columns_lists_every_key_column():
    e = _error("CREATE STREAM M (A INT KEY, B INT KEY, V INT) WITH (kafka_topic='m', "
               "format='JSON', partitions=1);", "CREATE STREAM O AS SELECT A, V FROM M;")
    assert e.message == ("The query used to build `O` must include the key columns A and B in "
                         "its projection (eg, SELECT A, B...).")


def test_select_star_with_group_by():
    e = _error(STREAM, "CREATE TABLE T AS SELECT *, COUNT(*) AS C FROM S GROUP BY K;")
    assert e.message.startswith("Non-aggregate SELECT expression(s) not part of GROUP BY: V")
    results, catalog = _ok(
        STREAM + "CREATE TABLE T WITH (key_format='JSON') AS SELECT *, COUNT(*) AS C FROM S "
        "GROUP BY K, V;")
    assert [c.name for c in catalog.source("T").schema.columns] == ["K", "V", "C"]


def test_duplicate_group_by_is_shown_qualified():
    e = _error(STREAM, "CREATE TABLE T AS SELECT COUNT(*) FROM S GROUP BY V, S.V;")
    assert e.message == "Duplicate GROUP BY expression: S.V"


def test_session_window_size_is_a_parse_error():
    e = _error("", "CREATE TABLE W (K STRING PRIMARY KEY, V INT) WITH (kafka_topic='w', "
               "value_format='JSON', partitions=1, window_type='Session', "
               "window_size='1 second');")
    assert isinstance(e, ParseError)
