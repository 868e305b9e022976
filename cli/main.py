"""``ksqlpy`` command line (stage: entry point): the shell, ``-e``/``-f``, ``apply`` and
``migrations``.

``ksqlpy`` opens the shell on an embedded engine (the REST server started in-process on a free
loopback port over ``--data-dir``); ``ksqlpy --server URL`` (or ``ksqlpy URL``) connects to a
running server. ``-e "…"`` / ``-f file.sql`` run statements and exit, non-zero on the first
statement error. ``ksqlpy apply DIR`` and ``ksqlpy migrations status|apply|validate|unlock DIR``
are the migrations tool (``ksqlpy.cli.migrations``).
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["main", "connect"]


def _add_connection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", "-s", metavar="URL",
                   help="a running server (default: an embedded engine over --data-dir)")
    p.add_argument("--user", "-u", help="HTTP Basic user")
    p.add_argument("--password", "-p", help="HTTP Basic password")
    p.add_argument("--data-dir", help="data directory of the embedded engine "
                                      "(default $KSQLPY_DATA_DIR or ./ksqlpy-data)")
    p.add_argument("--config", help="java-properties file of engine settings (embedded)")


class Connection:
    """A REST client, and the embedded server behind it when there is one."""

    def __init__(self, client, embedded=None):
        self.client = client
        self.embedded = embedded

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def connect(args, quiet: bool = False) -> Connection:
    from ksqlpy.cli.client import RestClient

    if args.server:
        client = RestClient(args.server, args.user, args.password)

        def waiting():
            if not quiet:
                sys.stderr.write(f"Waiting for the server at {client.url}…\n")
        client.info_cached = client.wait_ready(10.0, waiting)
        return Connection(client)
    from ksqlpy.cli.embedded import EmbeddedServer

    props = {}
    if getattr(args, "config", None):
        from ksqlpy.server.main import read_properties

        props = read_properties(args.config)
    emb = EmbeddedServer(args.data_dir, props)
    url = emb.start()
    client = RestClient(url)
    client.info_cached = client.wait_ready(30.0)
    return Connection(client, emb)


def shell_main(argv: list[str]) -> int:
    from ksqlpy import __version__

    p = argparse.ArgumentParser(prog="ksqlpy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", nargs="?", help="server URL (same as --server)")
    _add_connection_args(p)
    p.add_argument("-e", "--execute", metavar="STATEMENTS", help="run these and exit")
    p.add_argument("-f", "--file", help="run the statements of this file and exit")
    p.add_argument("-d", "--define", action="append", default=[], metavar="NAME=VALUE",
                   help="define a variable (repeatable)")
    p.add_argument("--output", default="TABULAR", type=str.upper,
                   choices=["TABULAR", "JSON"], help="output format")
    p.add_argument("--query-row-limit", type=int, help="stop push queries after n rows")
    p.add_argument("--query-timeout", type=int, help="stop push queries after n ms")
    p.add_argument("--vi", action="store_true", help="vi key bindings (default emacs)")
    p.add_argument("--history-file", help="history file (default ~/.ksqlpy-history)")
    p.add_argument("--version", action="version", version=f"ksqlpy {__version__}")
    args = p.parse_args(argv)
    if args.url and not args.server:
        args.server = args.url
    variables = {}
    for d in args.define:
        if "=" not in d:
            p.error(f"--define needs NAME=VALUE, got {d!r}")
        k, v = d.split("=", 1)
        variables[k.strip()] = v
    script = None
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as f:
                script = f.read()
        except OSError as e:
            print(f"Error: cannot read {args.file}: {e.strerror or e}", file=sys.stderr)
            return 1
    elif args.execute is not None:
        script = args.execute
    from ksqlpy.cli.client import ServerError
    from ksqlpy.cli.session import CliSession, ExitShell

    interactive = script is None
    try:
        if interactive:
            print("Starting…" if not args.server else f"Connecting to {args.server}…",
                  file=sys.stderr, flush=True)
        conn = connect(args, quiet=not interactive)
    except (ServerError, RuntimeError, ValueError, OSError) as e:
        print(f"Error: {getattr(e, 'message', None) or e}", file=sys.stderr)
        return 1
    try:
        session = CliSession(conn.client, output=args.output, interactive=interactive,
                             query_row_limit=args.query_row_limit,
                             query_timeout=args.query_timeout)
        session.variables.update(variables)
        info = conn.client.info_cached
        session.server_version = info.get("version")
        if not interactive:
            try:
                return 0 if session.run_text(script) else 1
            except ExitShell:
                return 0
        from ksqlpy.cli.shell import Shell

        if conn.embedded is not None:
            where = (f"embedded engine over {os.path.abspath(conn.embedded.data_dir)} "
                     f"(REST API on {conn.client.url})")
        else:
            where = f"server at {conn.client.url}"
        banner = (f"ksqlpy CLI {__version__}, server v{info.get('version', '?')} — {where}\n"
                  f"Server status: {info.get('serverStatus', '?')}\n"
                  "Statements end with ';'. Type 'help' for the client-side commands, "
                  "Ctrl-D to exit.\n")
        history = args.history_file or os.environ.get("KSQLPY_HISTORY") or \
            os.path.join(os.path.expanduser("~"), ".ksqlpy-history")
        return Shell(session, history, args.vi, banner).run()
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "apply":
        from ksqlpy.cli.migrations import main as migrations_main

        return migrations_main(argv)
    if argv and argv[0] == "migrations":
        from ksqlpy.cli.migrations import main as migrations_main

        return migrations_main(argv[1:])
    return shell_main(argv)


if __name__ == "__main__":
    sys.exit(main())
