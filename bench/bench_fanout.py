"""Push-query fan-out (bench): N concurrent push clients on one server while a producer
inserts R records/s in total; prints p50/p99 end-to-end latency (insert → row at client) and
the server's RSS growth per client.

    python bench/bench_fanout.py [--clients 100] [--rate 5000] [--seconds 10]

A real server subprocess (memory log) on a free loopback port; clients are raw HTTP/1.1
/query-stream readers (asyncio streams). Inserts go through /inserts-stream over HTTP/2, each row carrying its send time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def http1_client(port, sql, latencies, ready, stop):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"sql": sql}).encode()
    writer.write(b"POST /query-stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    while (await reader.readline()) not in (b"\r\n", b""):
        pass  # response headers
    header_seen = False
    try:
        while not stop.is_set():
            size = await reader.readline()
            if not size:
                break
            n = int(size.strip(), 16)
            if n == 0:
                break
            data = await reader.readexactly(n + 2)
            now = time.time()
            for line in data[:-2].splitlines():
                if not header_seen:
                    header_seen = True
                    ready.release()
                    continue
                row = json.loads(line)
                latencies.append(now - row[1] / 1e6)
    finally:
        writer.close()


async def producer(port, name, rate, seconds):
    import httpx

    sent = 0
    async with httpx.AsyncClient(http1=False, http2=True, timeout=60) as c:
        t0 = time.time()
        batch_every = 0.01
        per_batch = max(1, int(rate * batch_every))
        while time.time() - t0 < seconds:
            lines = [json.dumps({"target": name})]
            for _ in range(per_batch):
                lines.append(json.dumps({"ID": sent, "TS": int(time.time() * 1e6)}))
                sent += 1
            await c.post(f"http://127.0.0.1:{port}/inserts-stream",
                         content="\n".join(lines) + "\n")
            target = t0 + sent / rate
            await asyncio.sleep(max(0.0, target - time.time()))
    return sent


async def main_async(args):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "ksqlpy.server.main", "--host", "127.0.0.1",
                             "--port", str(port), "--memory", "--max-push-queries",
                             str(args.clients + 10)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        name = "FANOUT"
        r, w = await asyncio.open_connection("127.0.0.1", port)
        body = json.dumps({"ksql": f"CREATE STREAM {name} (ID BIGINT KEY, TS BIGINT) WITH "
                                   "(kafka_topic='fanout', value_format='JSON', "
                                   "partitions=1);"}).encode()
        w.write(b"POST /ksql HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close"
                b"\r\n\r\n" % len(body) + body)
        await w.drain()
        print((await r.read()).split(b"\r\n")[0].decode())
        w.close()
        rss0 = rss_kb(proc.pid)
        latencies: list[float] = []
        ready = asyncio.Semaphore(0)
        stop = asyncio.Event()
        sql = f"SELECT ID, TS FROM {name} EMIT CHANGES;"
        tasks = [asyncio.create_task(http1_client(port, sql, latencies, ready, stop))
                 for _ in range(args.clients)]
        for _ in range(args.clients):
            await asyncio.wait_for(ready.acquire(), 30)
        rss1 = rss_kb(proc.pid)
        sent = await producer(port, name, args.rate, args.seconds)
        await asyncio.sleep(2)
        rss2 = rss_kb(proc.pid)
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        lat = sorted(latencies)
        expected = sent * args.clients
        print(f"clients={args.clients} rate={args.rate}/s seconds={args.seconds} sent={sent} "
              f"delivered={len(lat)}/{expected}")
        if lat:
            p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
            print(f"latency ms: p50={p(0.5):.1f} p99={p(0.99):.1f} max={lat[-1] * 1000:.1f}")
        print(f"RSS: idle={rss0} KiB, +{(rss1 - rss0) / args.clients:.1f} KiB/client at "
              f"connect, +{(rss2 - rss0) / args.clients:.1f} KiB/client after the run")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args(argv)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
