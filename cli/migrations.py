"""The migrations tool (stage: cli, a directory of ``V000001__name.sql`` files → a server).

``ksqlpy apply DIR [--server URL] [--dry-run] [--until VERSION]`` applies the migration files
of DIR in version order; ``ksqlpy migrations status DIR`` shows what is applied;
``ksqlpy migrations validate DIR`` checks the checksums; ``ksqlpy migrations unlock DIR``
clears a lock left by a crashed apply. Like ``ksql-migrations`` it is a pure REST client and
keeps its metadata on the server:

* stream ``MIGRATION_EVENTS`` (topic ``<service id>ksql_MIGRATION_EVENTS``) — one event per
  state change: ``VERSION_KEY`` (the version, ``CURRENT`` or ``__LOCK__``), ``VERSION``,
  ``NAME``, ``STATE`` (RUNNING, MIGRATED, ERROR), ``CHECKSUM`` (MD5 of the file's bytes, hex,
  as ksql-migrations), ``STARTED_ON``/``COMPLETED_ON`` (epoch ms), ``PREVIOUS``,
  ``ERROR_REASON``;
* table ``MIGRATION_SCHEMA_VERSIONS`` — ``LATEST_BY_OFFSET`` of each column per
  ``VERSION_KEY``, as ksql-migrations creates it.

The tool reads the state with a pull query over the *stream* (``SELECT * FROM
MIGRATION_EVENTS;`` scans it to its end, in offset order) and folds it client-side, so it does
not depend on table pull queries.

Lock: the ``__LOCK__`` events of the same stream. An apply appends ``LOCK_REQUESTED`` with a
random token, then reads the stream back: folding the lock events in offset order (a request
is granted only when nobody holds the lock; a release frees it only when it comes from the
holder), it holds the lock iff its own request was the one granted. The stream has one
partition, so every client sees the same order and exactly one of two concurrent applies wins;
the loser withdraws and fails with "another apply is in progress". ``migrations unlock``
releases a lock whose holder died. This works the same for the embedded engine and a remote
server, with no file lock.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ksqlpy.cli.client import RestClient, ServerError

__all__ = ["main", "Migration", "load_migrations", "MigrationError"]

FILE_RE = re.compile(r"^V(\d+)__(\w[\w\-. ]*)\.sql$", re.I)
STREAM = "MIGRATION_EVENTS"
TABLE = "MIGRATION_SCHEMA_VERSIONS"
LOCK_KEY = "__LOCK__"
COLUMNS = ["VERSION_KEY", "VERSION", "NAME", "STATE", "CHECKSUM", "STARTED_ON",
           "COMPLETED_ON", "PREVIOUS", "ERROR_REASON"]


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    checksum: str

    @property
    def label(self) -> str:
        return f"V{self.version:06d}"


def load_migrations(directory: str) -> list[Migration]:
    d = Path(directory)
    if not d.is_dir():
        raise MigrationError(f"Migrations directory not found: {directory}")
    # a ksql-migrations project keeps its files under migrations/
    if (d / "migrations").is_dir() and not any(FILE_RE.match(p.name) for p in d.iterdir()):
        d = d / "migrations"
    out: dict[int, Migration] = {}
    for p in sorted(d.iterdir()):
        m = FILE_RE.match(p.name)
        if not m or not p.is_file():
            continue
        v = int(m.group(1))
        if v <= 0:
            raise MigrationError(f"Invalid migration version in {p.name}: versions start at 1")
        if v in out:
            raise MigrationError(f"Two migration files have version {v}: "
                                 f"{out[v].path.name} and {p.name}")
        out[v] = Migration(v, m.group(2).replace("_", " "), p,
                           hashlib.md5(p.read_bytes()).hexdigest())
    return [out[v] for v in sorted(out)]


def _q(v) -> str:
    return "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"


class Metadata:
    """The migrations stream and table on one server."""

    def __init__(self, client: RestClient):
        self.client = client
        info = client.info_cached if hasattr(client, "info_cached") else client.info()
        self.service_id = info.get("ksqlServiceId", "default_")

    def exists(self) -> bool:
        ents = self.client.ksql("SHOW STREAMS;")
        return any(s["name"] == STREAM for e in ents for s in e.get("streams", []))

    def initialize(self) -> None:
        if self.exists():
            return
        self.client.ksql(
            f"CREATE STREAM {STREAM} (VERSION_KEY STRING KEY, VERSION STRING, NAME STRING, "
            "STATE STRING, CHECKSUM STRING, STARTED_ON STRING, COMPLETED_ON STRING, "
            "PREVIOUS STRING, ERROR_REASON STRING) WITH (KAFKA_TOPIC="
            f"'{self.service_id}ksql_{STREAM}', VALUE_FORMAT='JSON', PARTITIONS=1, "
            "REPLICAS=1);")
        try:
            self.client.ksql(
                f"CREATE TABLE IF NOT EXISTS {TABLE} WITH (KAFKA_TOPIC='{self.service_id}ksql_"
                f"{TABLE}') AS SELECT VERSION_KEY, "
                + ", ".join(f"LATEST_BY_OFFSET({c}) AS {c}" for c in COLUMNS[1:])
                + f" FROM {STREAM} GROUP BY VERSION_KEY EMIT CHANGES;",
                {"auto.offset.reset": "earliest"})
        except ServerError as e:  # the stream is what the tool reads; the table is a view
            print(f"Warning: could not create {TABLE}: {e.message}", file=sys.stderr)

    def events(self) -> list[dict]:
        if not self.exists():
            return []
        stream = self.client.query_stream(f"SELECT * FROM {STREAM};")
        try:
            cols = [c.upper() for c in stream.columns]
            rows = [dict(zip(cols, r)) for r in stream.rows()]
        finally:
            stream.close()
        if stream.error is not None:
            raise stream.error
        return rows

    def append(self, key: str, version=None, name=None, state=None, checksum=None,
               started=None, completed=None, previous=None, error=None) -> None:
        values = [key, version, name, state, checksum, started, completed, previous, error]
        self.client.ksql(f"INSERT INTO {STREAM} ({', '.join(COLUMNS)}) VALUES "
                         f"({', '.join(_q(v) for v in values)});")

    # -- folded state ---------------------------------------------------------------------
    @staticmethod
    def versions(events: list[dict]) -> dict[int, dict]:
        out: dict[int, dict] = {}
        for e in events:
            key = e.get("VERSION_KEY")
            if key in (None, "CURRENT", LOCK_KEY):
                continue
            try:
                out[int(key)] = e
            except ValueError:
                continue
        return out

    @staticmethod
    def lock_holder(events: list[dict]) -> tuple[str | None, dict | None]:
        holder, event = None, None
        for e in events:
            if e.get("VERSION_KEY") != LOCK_KEY:
                continue
            if e.get("STATE") == "LOCK_REQUESTED" and holder is None:
                holder, event = e.get("NAME"), e
            elif e.get("STATE") == "LOCK_RELEASED" and e.get("NAME") == holder:
                holder, event = None, None
        return holder, event

    def acquire(self) -> str:
        token = uuid.uuid4().hex
        self.append(LOCK_KEY, state="LOCK_REQUESTED", name=token, started=_now())
        holder, event = self.lock_holder(self.events())
        if holder != token:
            self.append(LOCK_KEY, state="LOCK_RELEASED", name=token, completed=_now())
            since = ""
            if event and event.get("STARTED_ON"):
                since = f" (held since {_fmt_time(event['STARTED_ON'])})"
            raise MigrationError("Another migration apply is in progress" + since + ". If no "
                                 "apply is running, clear the lock with: ksqlpy migrations "
                                 "unlock DIR")
        return token

    def release(self, token: str) -> None:
        self.append(LOCK_KEY, state="LOCK_RELEASED", name=token, completed=_now())


def _now() -> str:
    return str(int(time.time() * 1000))


def _fmt_time(ms) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(ms) / 1000))
    except (TypeError, ValueError):
        return str(ms or "")


def _check_applied(files: list[Migration], versions: dict[int, dict]) -> None:
    by_version = {m.version: m for m in files}
    for v, e in sorted(versions.items()):
        if e.get("STATE") != "MIGRATED":
            continue
        m = by_version.get(v)
        if m is None:
            raise MigrationError(f"Migration V{v:06d} ({e.get('NAME')}) is applied on the "
                                 "server but its file is missing from the directory")
        if m.checksum != e.get("CHECKSUM"):
            raise MigrationError(f"Checksum mismatch for migration {m.label} ({m.name}): "
                                 f"applied with {e.get('CHECKSUM')}, the file now has "
                                 f"{m.checksum}. An applied migration must not change; add a "
                                 "new migration file instead.")


def apply(client: RestClient, directory: str, dry_run: bool = False,
          until: int | None = None, out=None) -> int:
    from ksqlpy.cli.session import CliSession

    out = out or sys.stdout
    files = load_migrations(directory)
    meta = Metadata(client)
    if not dry_run:
        meta.initialize()
    token = None if dry_run else meta.acquire()
    try:
        events = meta.events()
        versions = meta.versions(events)
        _check_applied(files, versions)
        applied = {v for v, e in versions.items() if e.get("STATE") == "MIGRATED"}
        current = max(applied, default=0)
        pending = [m for m in files if m.version not in applied]
        if until is not None:
            pending = [m for m in pending if m.version <= until]
        late = [m for m in pending if m.version < current]
        if late:
            raise MigrationError(f"Migration {late[0].label} ({late[0].name}) is older than the "
                                 f"current version V{current:06d} and was never applied; "
                                 "migrations apply in version order")
        if not pending:
            out.write(f"Already up to date: current version "
                      f"{f'V{current:06d}' if current else '<none>'}; nothing to apply.\n")
            return 0
        for m in pending:
            if dry_run:
                out.write(f"Would apply {m.label} ({m.name}) from {m.path.name} "
                          f"[checksum {m.checksum}]\n")
                continue
            out.write(f"Applying {m.label} ({m.name})… ")
            out.flush()
            started = _now()
            previous = f"{current}" if current else None
            meta.append(str(m.version), str(m.version), m.name, "RUNNING", m.checksum, started,
                        None, previous)
            captured, errors = io.StringIO(), io.StringIO()
            session = CliSession(client, stdout=captured, stderr=errors)
            ok = session.run_text(m.path.read_text(encoding="utf-8"))
            if not ok:
                reason = errors.getvalue().strip() or "failed"
                meta.append(str(m.version), str(m.version), m.name, "ERROR", m.checksum,
                            started, _now(), previous, reason[:2000])
                out.write("ERROR\n")
                raise MigrationError(f"Migration {m.label} ({m.name}) failed: {reason}")
            done = _now()
            meta.append(str(m.version), str(m.version), m.name, "MIGRATED", m.checksum,
                        started, done, previous)
            meta.append("CURRENT", str(m.version), m.name, "MIGRATED", m.checksum, started,
                        done, previous)
            current = m.version
            out.write("done\n")
        if dry_run:
            out.write("Dry run: nothing was applied.\n")
        else:
            out.write(f"Applied {len(pending)} migration(s); current version "
                      f"V{current:06d}.\n")
        return 0
    finally:
        if token is not None:
            meta.release(token)


def status(client: RestClient, directory: str, out=None) -> int:
    from ksqlpy.cli.render import table

    out = out or sys.stdout
    files = load_migrations(directory)
    meta = Metadata(client)
    events = meta.events()
    versions = meta.versions(events)
    rows = []
    mismatch = False
    for m in files:
        e = versions.get(m.version)
        state = e.get("STATE") if e else "PENDING"
        check = ""
        if e:
            check = "ok" if e.get("CHECKSUM") == m.checksum else "MISMATCH"
            mismatch |= check == "MISMATCH" and state == "MIGRATED"
        rows.append([m.label, m.name, state, check,
                     _fmt_time(e.get("STARTED_ON")) if e else "",
                     _fmt_time(e.get("COMPLETED_ON")) if e and e.get("COMPLETED_ON") else "",
                     (e.get("ERROR_REASON") or "") if e else ""])
    for v, e in sorted(versions.items()):
        if v not in {m.version for m in files}:
            rows.append([f"V{v:06d}", e.get("NAME"), e.get("STATE"), "FILE MISSING",
                         _fmt_time(e.get("STARTED_ON")), _fmt_time(e.get("COMPLETED_ON")),
                         e.get("ERROR_REASON") or ""])
    applied = [v for v, e in versions.items() if e.get("STATE") == "MIGRATED"]
    cur = max(applied, default=0)
    out.write(f"Current migration version: {f'V{cur:06d}' if cur else '<none>'}\n")
    holder, _ = meta.lock_holder(events)
    if holder:
        out.write("An apply holds the migrations lock.\n")
    out.write(table(["Version", "Name", "State", "Checksum", "Started On", "Completed On",
                     "Error"], rows) + "\n")
    return 1 if mismatch else 0


def unlock(client: RestClient, out=None) -> int:
    out = out or sys.stdout
    meta = Metadata(client)
    holder, _ = meta.lock_holder(meta.events())
    if holder is None:
        out.write("The migrations lock is free.\n")
        return 0
    meta.release(holder)
    out.write("Released the migrations lock.\n")
    return 0


def main(argv: list[str]) -> int:
    """``apply DIR ...`` or ``status|apply|validate|unlock DIR ...``."""
    from ksqlpy.cli.main import _add_connection_args, connect

    p = argparse.ArgumentParser(prog="ksqlpy migrations",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["apply", "status", "validate", "unlock"])
    p.add_argument("directory", help="directory of V000001__name.sql files")
    _add_connection_args(p)
    p.add_argument("--dry-run", action="store_true", help="show what would be applied")
    p.add_argument("--until", type=int, metavar="VERSION",
                   help="apply up to and including this version")
    args = p.parse_args(argv)
    try:
        load_migrations(args.directory)
    except MigrationError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    try:
        conn = connect(args, quiet=True)
    except (ServerError, RuntimeError, ValueError, OSError) as e:
        print(f"Error: {getattr(e, 'message', None) or e}", file=sys.stderr)
        return 1
    try:
        if args.command == "apply":
            return apply(conn.client, args.directory, args.dry_run, args.until)
        if args.command == "status":
            return status(conn.client, args.directory)
        if args.command == "unlock":
            return unlock(conn.client)
        files = load_migrations(args.directory)
        meta = Metadata(conn.client)
        _check_applied(files, meta.versions(meta.events()))
        print("All applied migrations match their files.")
        return 0
    except MigrationError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    except ServerError as e:
        print(f"Error: {e.message}", file=sys.stderr)
        return 1
    finally:
        conn.close()
