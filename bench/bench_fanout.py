"""Push-query fan-out (bench): N concurrent push clients on one server while a producer
inserts R records/s in total; prints p50/p99 end-to-end latency (insert → row at client) and
the server's RSS growth per client.

    python bench/bench_fanout.py [--clients 100] [--rate 5000] [--seconds 10]

A real server subprocess (memory log) on a free loopback port; clients are raw HTTP/1.1
/query-stream readers (asyncio protocols in this process). Inserts go through /inserts-stream
over HTTP/2, each row carrying its send time; every row received by every client is measured.
The last line is ``fanout: <n> records/s, p50 …, p99 …, peak RSS <m> MiB`` (records/s = the
input rate reached).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from array import array
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


ROW_TS = re.compile(rb"\r\n\[\d+,(\d+)\]\n\r\n")  # one HTTP chunk holding one row [ID,TS]


class PushClient(asyncio.Protocol):
    """One raw HTTP/1.1 /query-stream client. Every row's TS (producer's send time, µs) is
    compared with the time the bytes holding it were read: ``lat`` gets one latency (µs) per
    row received. Rows are found with one regex over each read (a row is one chunk: size
    line, ``[ID,TS]\\n``, CRLF), so 500k rows/s across clients stay cheap to measure."""

    def __init__(self, request: bytes, ready: asyncio.Semaphore, lat: array,
                 stall: bool = False):
        self.request = request
        self.stall = stall  # stop reading after the header: a client that never keeps up
        self.ready = ready
        self.lat = lat
        self.buf = b""
        self.started = False
        self.rows = 0
        self.transport = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data):
        now = int(time.time() * 1e6)
        buf = self.buf + data
        if not self.started:
            i = buf.find(b"queryId")
            if i < 0:
                self.buf = buf
                return
            j = buf.find(b"\n\r\n", i)
            if j < 0:
                self.buf = buf
                return
            self.started = True
            self.ready.release()
            buf = buf[j + 1:]
            if self.stall:
                self.transport.pause_reading()
                return
        end = buf.rfind(b"\n\r\n")
        if end < 0:
            self.buf = buf
            return
        part, self.buf = buf[:end + 3], buf[end + 3:]
        stamps = ROW_TS.findall(part)
        self.rows += len(stamps)
        self.lat.extend([now - int(t) for t in stamps])

    def connection_lost(self, exc):
        if not self.closed.done():
            self.closed.set_result(None)


async def producer(port, name, rate, seconds, in_flight=32):
    """Insert ``rate`` rows/s for ``seconds`` through /inserts-stream (HTTP/2): every 10 ms
    the rows due by then, each stamped with its send time, in one request; requests are not
    serialized (up to ``in_flight`` at once) so the rate does not depend on the server's
    answer time. Returns (rows sent, rows acknowledged, elapsed seconds)."""
    import httpx

    sent = acked = 0
    errors: list[str] = []
    slots = asyncio.Semaphore(in_flight)

    async def post(c, body: bytes, n: int):
        nonlocal acked
        try:
            r = await c.post(f"http://127.0.0.1:{port}/inserts-stream", content=body)
            ok = r.content.count(b'"ok"')
            acked += ok
            if r.status_code != 200 or ok != n:
                errors.append(r.text[:200])
        finally:
            slots.release()

    async with httpx.AsyncClient(http1=False, http2=True, timeout=60) as c:
        posts = []
        head = json.dumps({"target": name})
        t0 = time.time()
        while (now := time.time()) - t0 < seconds:
            due = int((now - t0) * rate) - sent
            if due > 0:
                await slots.acquire()
                ts = int(time.time() * 1e6)
                lines = [head] + ['{"ID":%d,"TS":%d}' % (sent + i, ts) for i in range(due)]
                sent += due
                posts.append(asyncio.create_task(
                    post(c, ("\n".join(lines) + "\n").encode(), due)))
            await asyncio.sleep(max(0.0, t0 + (sent + rate / 100) / rate - time.time()))
        elapsed = time.time() - t0
        await asyncio.gather(*posts)
    if errors:
        print(f"insert errors: {len(errors)}, first: {errors[0]}")
    return sent, acked, elapsed


def rss_hwm_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main_async(args):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "ksqlpy.server.main", "--host", "127.0.0.1",
                             "--port", str(port), "--memory", "--max-push-queries",
                             str(args.clients + 10)], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(args.server_log, "ab") if args.server_log
                            else subprocess.DEVNULL)
    loop = asyncio.get_running_loop()
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
        ready = asyncio.Semaphore(0)
        sql = f"SELECT ID, TS FROM {name} EMIT CHANGES;"
        body = json.dumps({"sql": sql}).encode()
        request = (b"POST /query-stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                   b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        lats = [array("q") for _ in range(args.clients)]
        clients = []
        for i in range(args.clients):
            _, c = await loop.create_connection(
                lambda i=i: PushClient(request, ready, lats[i], i < args.stalled),
                "127.0.0.1", port)
            clients.append(c)
        for _ in range(args.clients):
            await asyncio.wait_for(ready.acquire(), 30)
        rss1 = rss_kb(proc.pid)
        cpu0, bcpu0 = cpu_seconds(proc.pid), time.process_time()
        sent, acked, elapsed = await producer(port, name, args.rate, args.seconds)
        deadline = time.time() + 10  # the last rows: wait until every client has them all
        live = [c for c in clients if not c.stall]
        while time.time() < deadline and any(c.rows < sent for c in live):
            await asyncio.sleep(0.05)
        cpu1, bcpu1 = cpu_seconds(proc.pid), time.process_time()
        await asyncio.sleep(1)
        rss2 = rss_kb(proc.pid)
        hwm = rss_hwm_kb(proc.pid)
        for c in clients:
            c.transport.close()
        lat = sorted(x for a in lats for x in a)
        expected = sent * len(live)
        short = sum(1 for c in live if c.rows != sent)
        if args.stalled:
            print(f"{args.stalled} of the clients stalled (never read after the header); "
                  "the figures below are the others'")
        print(f"clients={args.clients} rate={args.rate}/s seconds={args.seconds} sent={sent} "
              f"acked={acked} ({sent / elapsed:,.0f} records/s in) delivered={len(lat)}/"
              f"{expected} ({len(lat) / elapsed:,.0f} rows/s out); clients short of rows: "
              f"{short}")
        p50 = p99 = float("nan")
        if lat:
            p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1000  # noqa: E731
            p50, p99 = p(0.5), p(0.99)
            print(f"latency ms: p50={p50:.1f} p99={p99:.1f} p99.9={p(0.999):.1f} "
                  f"max={lat[-1] / 1000:.1f}")
        per_client = (rss2 - rss0) / args.clients
        print(f"RSS: idle={rss0} KiB, +{(rss1 - rss0) / args.clients:.1f} KiB/client at "
              f"connect, +{per_client:.1f} KiB/client after the run, peak {hwm} KiB")
        print(f"CPU during the run: server {cpu1 - cpu0:.1f} s, bench (producer + clients) "
              f"{bcpu1 - bcpu0:.1f} s, over {elapsed:.1f} s")
        ok = (p99 <= 100 and per_client <= 1024 and len(lat) == expected
              and sent / elapsed >= 0.98 * args.rate)
        print(f"target (p99 <= 100 ms, <= 1 MiB/client, every row delivered, "
              f"{args.rate}/s in): {'met' if ok else 'NOT met'}")
        print(f"fanout: {sent / elapsed:,.0f} records/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
              f"peak RSS {hwm / 1024:.0f} MiB")
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
    ap.add_argument("--stalled", type=int, default=0,
                    help="this many clients stop reading after the header")
    ap.add_argument("--server-log", help="append the server's stderr to this file")
    args = ap.parse_args(argv)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
