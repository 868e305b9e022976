"""Command line (stage: entry point): ``ksqlpy`` opens the shell (``ksqlpy.cli``, on an embedded
engine or ``--server URL``); ``ksqlpy server ...`` runs the REST server; ``ksqlpy apply`` /
``ksqlpy migrations`` are the migrations tool; ``ksqlpy conformance PATH...`` runs ksqlDB's
query-validation tests against the engine."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "server":
        from ksqlpy.server.main import main as server_main

        return server_main(argv[1:]) or 0
    if argv and argv[0] == "conformance":
        from ksqlpy.conformance.cli import main as conformance_main

        return conformance_main(argv[1:]) or 0
    # [cli] everything else — the shell, -e/-f, apply, migrations — is ksqlpy.cli (cli/)
    from ksqlpy.cli import main as cli_main

    return cli_main(argv) or 0


if __name__ == "__main__":
    sys.exit(main())
