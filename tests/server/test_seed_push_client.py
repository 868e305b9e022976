"""The seed article's Node.js push client (../shared/seed/push-client.js, run unchanged with
axios from npm) receives the high-value orders from /query-stream of a real server running
the article's statements exactly as written."""

import asyncio
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ksqlpy.log.embedded import EmbeddedLog
from tests.server.conftest import ServerProcess

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed"

pytestmark = pytest.mark.skipif(
    not (SEED / "push-client.js").exists() or not shutil.which("node")
    or not shutil.which("npm"), reason="needs the seed client, node and npm")


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory):
    """axios, installed from the npm registry into a scratch folder (cached by npm)."""
    d = tmp_path_factory.mktemp("npm")
    proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent",
                           "--prefix", str(d), "axios@1"], capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"npm could not install axios: {proc.stderr.strip()[:200]}")
    return d / "node_modules"


async def _topics(data_dir: Path):
    # the article's topics exist before its statements run, as they would on Kafka
    log = EmbeddedLog(data_dir / "log")
    await log.create_topic("orders", 1)
    await log.create_topic("customers", 1)
    await log.close()


def test_article_push_client_receives_high_value_orders(tmp_path, node_modules):
    server = ServerProcess(tmp_path)
    server.data_dir.mkdir(parents=True)
    asyncio.run(_topics(server.data_dir))
    server.start()
    try:
        status, body = server.ksql((SEED / "orders-example.sql").read_text())
        assert status == 200, body
        status, body = server.ksql(
            "INSERT INTO customers_table (customer_id, name, email, tier, total_spent) "
            "VALUES ('c1', 'Alice', 'a@x', 'PREMIUM', 1.0);"
            "INSERT INTO customers_table (customer_id, name, email, tier, total_spent) "
            "VALUES ('c2', 'Bob', 'b@x', 'GOLD', 1.0);")
        assert status == 200, body
        script = tmp_path / "subscribe.js"
        script.write_text(
            f"const {{ KsqlDBClient }} = require({json.dumps(str(SEED / 'push-client.js'))});\n"
            f"new KsqlDBClient({json.dumps(server.url)}).subscribeToHighValueOrders(\n"
            "  (row) => console.log(JSON.stringify(row)));\n")
        client = subprocess.Popen(["node", str(script)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  env={"NODE_PATH": str(node_modules), "PATH": "/usr/bin:/bin"})
        try:
            time.sleep(2.0)  # the client asks for 'latest': let its query start first
            orders = [("o1", "c1", 10, 150.0), ("o2", "c2", 5, 300.0), ("o3", "c2", 1, 2.0)]
            for oid, cust, qty, price in orders:
                status, body = server.ksql(
                    f"INSERT INTO orders_stream (order_id, customer_id, product_id, quantity, "
                    f"price, order_timestamp) VALUES ('{oid}', '{cust}', 'p', {qty}, {price}, "
                    f"'2030-01-01T00:00:01.000');")
                assert status == 200, body
            time.sleep(3.0)
        finally:
            client.kill()
            out, err = client.communicate()
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        # the metadata line, then o2 only: over 1000 and not PREMIUM
        assert lines and lines[0]["columnNames"][:3] == ["O_CUSTOMER_ID", "ORDER_ID",
                                                        "CUSTOMER_NAME"], (lines, err)
        assert lines[1:] == [["c2", "o2", "Bob", "GOLD", "p", 5, 300.0, 1500.0]], (lines, err)
    finally:
        server.stop()
