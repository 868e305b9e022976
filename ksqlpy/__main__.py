"""Command line (stage: entry point): ``ksqlpy`` opens a SQL prompt on an embedded engine;
``ksqlpy conformance PATH...`` runs ksqlDB's query-validation tests against the engine."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "server":
        from ksqlpy.server.main import main as server_main

        return server_main(argv[1:]) or 0
    if argv and argv[0] == "conformance":
        from ksqlpy.conformance.cli import main as conformance_main

        return conformance_main(argv[1:]) or 0
    parser = argparse.ArgumentParser(prog="ksqlpy", description=__doc__)
    parser.add_argument("--data-dir", help="data directory (default $KSQLPY_DATA_DIR or "
                                           "./ksqlpy-data)")
    parser.add_argument("-e", "--execute", help="run these statements and exit")
    parser.add_argument("-f", "--file", help="run the statements in this file and exit")
    args = parser.parse_args(argv)
    from ksqlpy.cli_prompt import run_prompt

    return asyncio.run(run_prompt(args))


if __name__ == "__main__":
    sys.exit(main())
