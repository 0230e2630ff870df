#!/usr/bin/env python3
"""SSE delivery benchmark driver (stdlib only, asyncio raw sockets): N clients split across
the given SafeGrid instances subscribe to GET /api/v1/worker/events as the worker of a grid;
then E reports are submitted into that grid (alternating instances, one every GAP seconds).
Prints submit-to-receipt latency p50/p99 and checks that every client got every event
exactly once.

    sse_clients.py --token T --body report.json --clients 1000 --events 100 \
        http://127.0.0.1:18081 http://127.0.0.1:18082
"""
import argparse
import re
import asyncio
import json
import resource
import sys
import time
import urllib.parse

p = argparse.ArgumentParser()
p.add_argument("--token", required=True)
p.add_argument("--resident", required=True)
p.add_argument("--body", required=True)
p.add_argument("--clients", type=int, default=1000)
p.add_argument("--events", type=int, default=100)
p.add_argument("--gap", type=float, default=0.05)
p.add_argument("--settle", type=float, default=5.0)
p.add_argument("bases", nargs="+")
a = p.parse_args()
SUBJECT = re.compile(rb'"subject_id":"([^"]+)"')

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.clients + 256)), hard))
body = open(a.body, "rb").read()
received = [dict() for _ in range(a.clients)]  # client -> {report id: [receipt times]}
connected = 0
sent_at = {}


async def client(i):
    global connected
    u = urllib.parse.urlsplit(a.bases[i % len(a.bases)])
    r, w = await asyncio.open_connection(u.hostname, u.port)
    w.write(
        (
            f"GET /api/v1/worker/events HTTP/1.1\r\nHost: {u.netloc}\r\n"
            f"Authorization: Bearer {a.token}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    await w.drain()
    status = await r.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"client {i}: {status!r}")
    while (await r.readline()) not in (b"\r\n", b""):
        pass
    first = True
    try:
        while True:
            line = await r.readline()
            if not line:
                return
            if first and b"connected" in line:
                connected += 1
                first = False
            # Chunked transfer: frames arrive as size lines and payload lines; only data counts.
            # A regex instead of json.loads: one Python process reads every client's frames,
            # and parsing 1,000 copies of each event would be the benchmark's bottleneck.
            if line.startswith(b"data: ") and b'"report_submitted"' in line:
                now = time.monotonic()
                m = SUBJECT.search(line)
                if m:
                    received[i].setdefault(m.group(1).decode(), []).append(now)
    except asyncio.CancelledError:
        w.close()
        raise


async def submit(base):
    u = urllib.parse.urlsplit(base)
    r, w = await asyncio.open_connection(u.hostname, u.port)
    t = time.monotonic()
    w.write(
        (
            f"POST /api/v1/reports HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n"
            f"Authorization: Bearer {a.resident}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
    )
    await w.drain()
    raw = await r.read()
    w.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    if b" 201 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"submit failed: {head[:200]!r}")
    if b"chunked" in head.lower():
        size, _, rest = payload.partition(b"\r\n")
        payload = rest[: int(size, 16)]
    sent_at[json.loads(payload)["id"]] = t


async def main():
    tasks = []
    for i in range(a.clients):
        tasks.append(asyncio.create_task(client(i)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)
    deadline = time.monotonic() + 60
    while connected < a.clients and time.monotonic() < deadline:
        failed = [t for t in tasks if t.done()]
        if failed:
            failed[0].result()
        await asyncio.sleep(0.1)
    if connected < a.clients:
        sys.exit(f"only {connected}/{a.clients} clients connected")
    print(f"{connected} clients connected to {len(a.bases)} instance(s)", file=sys.stderr)
    for e in range(a.events):
        await submit(a.bases[e % len(a.bases)])
        await asyncio.sleep(a.gap)
    await asyncio.sleep(a.settle)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    lat, missing, dupes = [], 0, 0
    for got in received:
        for rid, t0 in sent_at.items():
            times = got.get(rid, [])
            if not times:
                missing += 1
                continue
            dupes += len(times) - 1
            lat.append(times[0] - t0)
        dupes += sum(len(v) for k, v in got.items() if k not in sent_at)
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
    result = {
        "clients": a.clients,
        "instances": len(a.bases),
        "events": len(sent_at),
        "submit_rate_per_s": round(
            (len(sent_at) - 1) / max(1e-9, max(sent_at.values()) - min(sent_at.values())), 1
        )
        if len(sent_at) > 1
        else None,
        "deliveries": len(lat),
        "expected": a.clients * len(sent_at),
        "missing": missing,
        "duplicates": dupes,
        "p50_ms": round(pct(0.50), 1),
        "p99_ms": round(pct(0.99), 1),
        "max_ms": round(lat[-1] * 1000, 1) if lat else None,
    }
    print(json.dumps(result))
    if missing or dupes:
        sys.exit(1)


asyncio.run(main())
