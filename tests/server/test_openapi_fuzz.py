"""schemathesis fuzzes a real server (a subprocess on a free loopback port) from its own
/openapi.json: no 5xx, and every response's status code, content type and body conform to the
spec. Bounded: a few examples per operation (the whole module takes well under a minute).

``POST /ksql/terminate`` is left out: it would tear down the state the other operations run
against. Needs ``pip install schemathesis`` (skipped without it)."""

from __future__ import annotations

import json

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402  (schemathesis depends on it)
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (content_type_conformance,  # noqa: E402
                                               response_schema_conformance,
                                               status_code_conformance)

from tests.server.conftest import ServerProcess  # noqa: E402

DELIMITED = "application/vnd.ksqlapi.delimited.v1"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@schemathesis.serializer(DELIMITED)
def _delimited_body(ctx, value):
    """/inserts-stream bodies: the spec says a string (a header line, then JSON lines)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


@schemathesis.deserializer(DELIMITED)
def _delimited_response(ctx, response):
    """One JSON document per line: the list of them (or the text, if some line is not JSON)."""
    text = response.content.decode("utf-8", "replace")
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        return text


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    s = ServerProcess(tmp_path_factory.mktemp("fuzz")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_server):
    return schemathesis.openapi.from_url(fuzz_server.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema").exclude(path="/ksql/terminate")


@schema.parametrize()
@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_openapi(case, fuzz_server):
    case.call_and_validate(base_url=fuzz_server.url, checks=CHECKS, timeout=10)
