"""TLS (with ALPN h2), HTTP Basic auth, the push-query limit and graceful restart."""

from __future__ import annotations

import json
import subprocess

import pytest

from .conftest import ServerProcess, curl


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    bcrypt = pytest.importorskip("bcrypt")
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    users = tmp / "users"
    users.write_text("# user:bcrypt-hash\nalice:" +
                     bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode() + "\n")
    s = ServerProcess(tmp, "--ssl-cert", str(cert), "--ssl-key", str(key),
                      "--auth-file", str(users), scheme="https").start()
    yield s
    assert s.stop() == 0


def test_tls_and_basic_auth(secure):
    url = secure.url
    r = curl("-k", "-o", "/dev/null", "-w", "%{http_code}", url + "/info")
    assert r.stdout == b"401"
    r = curl("-k", "-i", "-u", "alice:wrong", url + "/info")
    assert b" 401" in r.stdout.split(b"\r\n")[0]
    assert b'www-authenticate: Basic realm="KsqlServer"' in r.stdout.lower().replace(
        b"basic", b"Basic").replace(b"ksqlserver", b"KsqlServer")
    body = r.stdout.partition(b"\r\n\r\n")[2]
    assert json.loads(body)["error_code"] == 40100
    r = curl("-k", "--http1.1", "-u", "alice:s3cret", url + "/info")
    assert json.loads(r.stdout)["KsqlServerInfo"]["serverStatus"] == "RUNNING"
    r = curl("-k", "-o", "/dev/null", "-w", "%{http_code}", url + "/healthcheck")
    assert r.stdout == b"200"  # open path
    # HTTP/2 negotiated through ALPN
    r = curl("-k", "--http2", "-i", "-u", "alice:s3cret", "-X", "POST", url + "/ksql",
             "-d", json.dumps({"ksql": "SHOW STREAMS;"}))
    assert r.stdout.startswith(b"HTTP/2 200"), r.stdout
    # plain HTTP on the TLS port is refused
    r = curl("-o", "/dev/null", "-w", "%{http_code}", url.replace("https", "http") + "/info")
    assert r.stdout in (b"000", b"400")


def test_push_query_limit_and_restart(tmp_path):
    s = ServerProcess(tmp_path, "--max-push-queries", "2").start()
    procs = []
    try:
        status, body = s.ksql("CREATE STREAM LIM (ID INT KEY, V STRING) WITH "
                              "(kafka_topic='lim', value_format='JSON', partitions=1);")
        assert status == 200, body
        for _ in range(2):
            p = subprocess.Popen(["curl", "-sS", "-N", "-X", "POST", s.url + "/query-stream",
                                  "-d", json.dumps({"sql": "SELECT * FROM LIM EMIT CHANGES;"})],
                                 stdout=subprocess.PIPE)
            assert b"queryId" in p.stdout.readline()
            procs.append(p)
        status, _, body = s.request("POST", "/query-stream",
                                    {"sql": "SELECT * FROM LIM EMIT CHANGES;"})
        assert status == 400 and json.loads(body)["error_code"] == 40003
        # pull queries are not push queries
        status, _, body = s.request("POST", "/query-stream", {"sql": "SELECT * FROM LIM;"})
        assert status == 200
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert s.stop() == 0  # SIGTERM: graceful
    s2 = ServerProcess(tmp_path, "--max-push-queries", "2")
    s2.data_dir = s.data_dir
    s2.start()
    try:
        status, body = s2.ksql("SHOW STREAMS;")
        assert "LIM" in [x["name"] for x in body[0]["streams"]]
    finally:
        assert s2.stop() == 0
