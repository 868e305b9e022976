"""Headless deployment (stage: entry point, queries file → persistent queries).

``ksqlpy server --queries-file app.sql`` (or ``ksql.queries.file``) runs the statements of one
file and nothing else, like ksqlDB's ``StandaloneExecutor``:

* only SET, UNSET, CREATE STREAM, CREATE TABLE, CREATE TYPE, CREATE STREAM/TABLE AS SELECT and
  INSERT INTO … SELECT are allowed ("Unsupported statement…" otherwise), checked for the whole
  file before anything runs; a file with no persistent query fails with ksqlDB's message;
* SET/UNSET apply to the statements that follow them in the file;
* the REST API then refuses statements and queries (``HEADLESS_MESSAGE``) but serves /info,
  /healthcheck, /metrics (see ``server/app.py``).

Restarts do not duplicate output. The engine replays its command log on start, which brings
back every source and persistent query the file created before — with the same query ids,
hence the same consumer groups and committed offsets (each batch's output and its source
offsets commit in one transaction on the embedded log). The file is then compared with what
was replayed: a statement whose exact text (after variable substitution) is already in the
command log is not executed again; only new statements run. So a query resumes from its
committed offsets instead of a second copy starting over from the beginning. A statement
that changed under an existing name fails with the engine's "already exists" error: a
changed file needs a fresh data directory (or a new sink name), as in ksqlDB where a
changed topology needs a new service id.
"""

from __future__ import annotations

import json
import logging
from collections import Counter

from ksqlpy.errors import KsqlError

logger = logging.getLogger(__name__)

__all__ = ["run_queries_file", "validate_queries_file", "HEADLESS_MESSAGE", "ALLOWED"]

HEADLESS_MESSAGE = ("The server is running in headless mode with the queries file {file}: "
                    "interactive use is disabled.")

NO_QUERIES = ("The SQL file does not contain any persistent queries. i.e. it contains no "
              "'INSERT INTO', 'CREATE TABLE x AS SELECT' or 'CREATE STREAM x AS SELECT' "
              "style statements.")

# node class → ksqlDB's handler name (its "supported statements" list)
ALLOWED = {"SetProperty": "SET", "UnsetProperty": "UNSET", "CreateSource": None,
           "CreateType": "REGISTER TYPE", "CreateAsSelect": None, "InsertInto": "INSERT INTO"}
SUPPORTED = ["CREATE STREAM", "CREATE STREAM AS SELECT", "CREATE TABLE",
             "CREATE TABLE AS SELECT", "INSERT INTO", "REGISTER TYPE", "SET", "UNSET"]
PERSISTENT = {"CreateAsSelect", "InsertInto"}


def _statements(text: str) -> list[tuple[str, object]]:
    """(statement text as the engine records it, AST) for every statement of the file."""
    from ksqlpy.parse.script import split_and_parse

    return list(split_and_parse(text, {}))


def validate_queries_file(text: str) -> list[tuple[str, object]]:
    """Parse and check the whole file before anything runs (ksqlDB's sandbox pass)."""
    stmts = _statements(text)
    has_query = False
    for stmt, node in stmts:
        kind = type(node).__name__
        if kind not in ALLOWED or (kind == "CreateSource" and node.args.get("source")):
            raise KsqlError("Unsupported statement. Only the following statements are "
                            "supporting in standalone mode:\n" + "\n".join(SUPPORTED) +
                            f"\nStatement: {stmt}")
        if kind == "CreateSource" and not node.args.get("columns"):
            props = {str(k).lower(): str(v).upper() for k, v in
                     _with_properties(node).items()}
            fmt = props.get("value_format") or props.get("format") or ""
            if fmt not in ("AVRO", "JSON_SR", "PROTOBUF"):
                raise KsqlError("statement does not define the schema and the supplied "
                                f"format does not support schema inference\nStatement: {stmt}")
        has_query |= kind in PERSISTENT
    if not has_query:
        raise KsqlError(NO_QUERIES)
    return stmts


def _with_properties(node) -> dict:
    props = node.args.get("properties")
    out = {}
    try:
        for p in getattr(props, "expressions", None) or []:
            out[str(p.this if hasattr(p, "this") else p)] = str(p.args.get("value", ""))
    except Exception:  # noqa: BLE001 - best effort: the engine validates for real
        pass
    return out


async def _replayed_commands(engine) -> Counter:
    """The statement texts in the engine's command log (what ``engine.start()`` replayed)."""
    texts: Counter = Counter()
    log = engine.log
    topic = engine.command_topic
    if log is None or log.topic(topic) is None:
        return texts
    offset = 0
    while True:
        batch = await log.read(topic, 0, offset, 1000)
        if batch.num_rows == 0:
            break
        for value in batch.column("value").to_pylist():
            try:
                texts[json.loads(value)["statement"].strip()] += 1
            except (ValueError, KeyError, TypeError):
                continue
        offset = batch.column("offset")[-1].as_py() + 1
    return texts


async def run_queries_file(engine, path: str) -> dict:
    """Run the queries file on a started engine; returns counts (executed, skipped)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise KsqlError(f"Could not read the query file: {path}. Details: "
                        f"{e.strerror or e}") from None
    stmts = validate_queries_file(text)
    replayed = await _replayed_commands(engine)
    overrides: dict[str, str] = {}
    executed = skipped = 0
    for stmt, node in stmts:
        kind = type(node).__name__
        if kind == "SetProperty":
            overrides[str(node.this)] = str(node.args.get("value"))
            continue
        if kind == "UnsetProperty":
            overrides.pop(str(node.this), None)
            continue
        key = stmt.strip()
        if replayed[key] > 0:
            replayed[key] -= 1
            skipped += 1
            logger.info("headless: already running from the command log: %s", key[:200])
            continue
        await engine.execute(stmt, dict(overrides))
        executed += 1
    leftover = [k for k, n in replayed.items() if n > 0]
    for k in leftover:
        logger.warning("headless: the command log holds a statement that is no longer in %s "
                       "(it was replayed and keeps running): %s", path, k[:200])
    logger.info("headless: %d statement(s) executed, %d resumed from the command log",
                executed, skipped)
    return {"executed": executed, "skipped": skipped}
