"""Push queries shared by several HTTP clients (ksqlpy/runtime/push_fanout.py): each client
its own rows, LIMIT and lifetime; rows written together still arrive one per HTTP chunk."""

from __future__ import annotations

import asyncio
import json

import httpx


class ChunkedReader:
    """A raw HTTP/1.1 /query-stream client that keeps the chunk boundaries."""

    def __init__(self, port: int, sql: str):
        self.port, self.sql = port, sql

    async def open(self):
        self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
        body = json.dumps({"sql": self.sql}).encode()
        self.w.write(b"POST /query-stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        status = await self.r.readline()
        assert b" 200 " in status, status
        while (await self.r.readline()) not in (b"\r\n", b""):
            pass
        header = await self.chunk()
        assert b"queryId" in header
        return self

    async def chunk(self) -> bytes | None:
        """The next chunk's payload; None at the end of the body."""
        size = int((await asyncio.wait_for(self.r.readline(), 20)).strip(), 16)
        data = await self.r.readexactly(size + 2)
        return data[:-2] if size else None

    async def rows(self, n: int) -> list:
        out = []
        for _ in range(n):
            c = await self.chunk()
            assert c is not None and c.endswith(b"\n") and c.count(b"\n") == 1, c
            out.append(json.loads(c))
        return out

    def close(self):
        self.w.close()


async def insert(port: int, name: str, ids) -> None:
    """All rows in one /inserts-stream request, so they reach the query together."""
    lines = [json.dumps({"target": name})] + [json.dumps({"ID": i, "V": f"v{i}"}) for i in ids]
    async with httpx.AsyncClient(http1=False, http2=True, timeout=20) as c:
        r = await c.post(f"http://127.0.0.1:{port}/inserts-stream",
                         content="\n".join(lines) + "\n")
        assert r.status_code == 200 and r.text.count('"ok"') == len(ids), r.text


def test_clients_of_one_push_query(server, name):
    status, body = server.ksql(f"CREATE STREAM {name} (ID INT KEY, V STRING) WITH "
                               f"(kafka_topic='{name.lower()}', value_format='JSON', "
                               "partitions=1);")
    assert status == 200, body
    sql = f"SELECT ID, V FROM {name} EMIT CHANGES;"

    async def go():
        a = await ChunkedReader(server.port, sql).open()
        b = await ChunkedReader(server.port, sql).open()
        lim = await ChunkedReader(server.port, sql.replace(";", " LIMIT 2;")).open()
        await insert(server.port, name, [1, 2, 3])
        # three rows written at once: still one chunk each
        assert await a.rows(3) == [[1, "v1"], [2, "v2"], [3, "v3"]]
        assert await b.rows(3) == [[1, "v1"], [2, "v2"], [3, "v3"]]
        assert await lim.rows(2) == [[1, "v1"], [2, "v2"]]
        assert await lim.chunk() is None  # LIMIT reached: its response ends, not the others'
        lim.close()
        a.close()  # one client goes away
        await insert(server.port, name, [4])
        assert await b.rows(1) == [[4, "v4"]]
        c = await ChunkedReader(server.port, sql).open()  # joins at the end of the stream
        await insert(server.port, name, [5])
        assert await b.rows(1) == [[5, "v5"]]
        assert await c.rows(1) == [[5, "v5"]]
        b.close()
        c.close()

    asyncio.run(asyncio.wait_for(go(), 60))
