"""``ksqlpy.cli``: the shell, ``-e``/``-f``, headless deployment and the migrations tool —
all REST clients of a ksqlpy server (embedded in-process or remote)."""

from ksqlpy.cli.main import main

__all__ = ["main"]
