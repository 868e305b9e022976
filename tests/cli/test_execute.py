"""``ksqlpy -e`` / ``-f``: statements run without a terminal, exit codes, client-side
commands (SET, DEFINE, RUN SCRIPT, SPOOL, OUTPUT) and error lines."""

from __future__ import annotations

import json

from tests.cli.conftest import run_cli


def test_execute_ok_and_exit_code_zero(server):
    r = run_cli("--server", server.url, "-e",
                "CREATE STREAM EXEC_OK (ID INT KEY, V STRING) WITH (kafka_topic='exec_ok', "
                "value_format='JSON', partitions=1); INSERT INTO EXEC_OK (ID, V) VALUES (1, 'x');"
                " SHOW STREAMS;")
    assert r.returncode == 0, r.stderr
    assert "Stream created" in r.stdout
    assert "EXEC_OK" in r.stdout and "exec_ok" in r.stdout


def test_execute_error_is_one_line_and_non_zero(server):
    r = run_cli("--server", server.url, "-e", "SHOW STREAMS; SELEC nope;")
    assert r.returncode == 1
    assert "Stream Name" in r.stdout          # the statement before the error ran
    assert r.stderr.startswith("line 1:1: Syntax Error")
    assert "Traceback" not in r.stderr + r.stdout
    r = run_cli("--server", server.url, "-e", "DESCRIBE NO_SUCH_STREAM;")
    assert r.returncode == 1 and "NO_SUCH_STREAM" in r.stderr


def test_file_with_variables_properties_and_queries(server, tmp_path):
    script = tmp_path / "app.sql"
    script.write_text(
        "-- a script\n"
        "DEFINE name = 'EXEC_FILE';\n"
        "CREATE STREAM ${name} (ID INT KEY, V STRING)\n"
        "  WITH (kafka_topic='exec_file', value_format='JSON', partitions=1);\n"
        "INSERT INTO ${name} (ID, V) VALUES (1, 'a;b');\n"
        "INSERT INTO ${name} (ID, V) VALUES (2, 'c');\n"
        "SHOW VARIABLES;\n"
        "SET 'auto.offset.reset' = 'earliest';\n"
        "SELECT * FROM ${name} EMIT CHANGES LIMIT 2;\n"
        "SELECT V FROM ${name} WHERE ID = 2;\n")
    r = run_cli("--server", server.url, "-f", str(script))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "EXEC_FILE" in out                  # SHOW VARIABLES, client-side
    assert "Successfully changed local property 'auto.offset.reset' to 'earliest'." in out
    assert "|a;b" in out and "Limit Reached" in out
    assert "|c" in out and "Query terminated" in out


def test_file_errors(server, tmp_path):
    r = run_cli("--server", server.url, "-f", str(tmp_path / "missing.sql"))
    assert r.returncode == 1 and "cannot read" in r.stderr
    bad = tmp_path / "bad.sql"
    bad.write_text("SHOW STREAMS;\nCREATE STREAM X AS SELECT * FROM NOWHERE;\nSHOW TABLES;\n")
    r = run_cli("--server", server.url, "-f", str(bad))
    assert r.returncode == 1
    assert "NOWHERE" in r.stderr
    assert "Table Name" not in r.stdout       # stops at the first error


def test_run_script_spool_and_json_output(server, tmp_path):
    inner = tmp_path / "inner.sql"
    inner.write_text("CREATE STREAM EXEC_RUN (ID INT KEY) WITH (kafka_topic='exec_run', "
                     "value_format='JSON', partitions=1);\n")
    spool = tmp_path / "spool.txt"
    r = run_cli("--server", server.url, "-e",
                f"SPOOL '{spool}'; RUN SCRIPT '{inner}'; OUTPUT JSON; SHOW STREAMS; "
                "SPOOL OFF;")
    assert r.returncode == 0, r.stderr
    text = spool.read_text()
    assert "Stream created" in text and "ksql> RUN SCRIPT" in text
    start = r.stdout.index('{\n  "@type": "streams"')
    body = r.stdout[start:r.stdout.index("\n}\n", start) + 2]
    assert any(s["name"] == "EXEC_RUN" for s in json.loads(body)["streams"])


def test_embedded_engine_and_exit_codes(tmp_path):
    data = tmp_path / "data"
    r = run_cli("--data-dir", str(data), "-e",
                "CREATE STREAM EMB (ID INT KEY) WITH (kafka_topic='emb', value_format='JSON', "
                "partitions=1);")
    assert r.returncode == 0, r.stderr
    # the embedded engine replays its command log: the stream is still there
    r = run_cli("--data-dir", str(data), "-e", "SHOW STREAMS;")
    assert r.returncode == 0 and "EMB" in r.stdout
    r = run_cli("--data-dir", str(data), "-e", "DROP STREAM NOPE;")
    assert r.returncode == 1 and "NOPE" in r.stderr


def test_unreachable_server():
    from tests.cli.conftest import free_port

    r = run_cli("--server", f"http://127.0.0.1:{free_port()}", "-e", "SHOW STREAMS;",
                timeout=90)
    assert r.returncode == 1 and "Could not reach the server" in r.stderr


def test_print_topic(server):
    r = run_cli("--server", server.url, "-e",
                "CREATE STREAM EXEC_PRINT (ID INT KEY, V STRING) WITH (kafka_topic='exec_print',"
                " value_format='JSON', partitions=1);"
                " INSERT INTO EXEC_PRINT (ID, V) VALUES (1, 'x');"
                " PRINT exec_print FROM BEGINNING LIMIT 1;")
    assert r.returncode == 0, r.stderr
    assert "Value format: JSON" in r.stdout
    assert 'value: {"V":"x"}, partition: 0' in r.stdout
    r = run_cli("--server", server.url, "-e", "PRINT no_such_topic LIMIT 1;")
    assert r.returncode != 0 and "Could not find topic" in (r.stdout + r.stderr)
