"""The conformance runner: ksqlDB's query-validation tests (QTT) against ksqlpy.

``ksqlpy conformance PATH... [--json FILE] [-k SUBSTRING] [-v]`` (or
``python -m ksqlpy.conformance``); see :mod:`ksqlpy.conformance.cli`.
"""
