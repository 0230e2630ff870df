#!/usr/bin/env python3
"""A minimal stdlib HTTP load driver, the fallback of `benches/load.sh --smoke` where oha is not
installed. It writes the subset of oha's JSON output that benches/load_report.py reads.

    loadgen.py [-m METHOD] [-t TOKEN] [-b BODYFILE] [-c CONNS] [-s SECONDS] [-q RATE] URL
    loadgen.py --mix REQUESTS.json [-c CONNS] [-s SECONDS] [-q RATE] URL

--mix sends a list of `{"token", "body"}` requests round robin (POST), the realistic mix of
`benches/load.sh` (in full mode the Rust driver benches/baseline/src/bin/mix.rs does this).

Without -q it is closed-loop (each connection sends as soon as its last answer arrived). With
-q it is open-loop: request i is due at start + i/RATE and its latency counts from that due
time, so a stalled server is not hidden by requests that were never sent (coordinated
omission), like oha's --latency-correction.
"""
import argparse
import http.client
import json
import threading
import time
import urllib.parse

p = argparse.ArgumentParser()
p.add_argument("-m", default="GET")
p.add_argument("-t")
p.add_argument("-b")
p.add_argument("-c", type=int, default=8)
p.add_argument("-s", type=float, default=2.0)
p.add_argument("-q", type=float)
p.add_argument("--mix")
p.add_argument("url")
a = p.parse_args()
u = urllib.parse.urlsplit(a.url)
path = u.path + ("?" + u.query if u.query else "")
body = open(a.b, "rb").read() if a.b else None
headers = {"Authorization": f"Bearer {a.t}"} if a.t else {}
if body:
    headers["Content-Type"] = "application/json"
# The mix: (headers, body) pairs taken round robin.
mix = []
if a.mix:
    a.m = "POST"
    for r in json.load(open(a.mix)):
        h = {"Authorization": f"Bearer {r['token']}", "Content-Type": "application/json"}
        mix.append((h, json.dumps(r["body"], ensure_ascii=False).encode()))

lock = threading.Lock()
latencies, statuses = [], {}
start = time.monotonic()
deadline = start + a.s
next_slot = [0]


def worker():
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    while True:
        if a.q:
            with lock:
                i = next_slot[0]
                next_slot[0] += 1
            due = start + i / a.q
            if due >= deadline:
                break
            time.sleep(max(0.0, due - time.monotonic()))
        else:
            due = time.monotonic()
            if due >= deadline:
                break
        h, b = headers, body
        if mix:
            with lock:
                h, b = mix[next_slot[0] % len(mix)] if not a.q else mix[i % len(mix)]
                if not a.q:
                    next_slot[0] += 1
        try:
            conn.request(a.m, path, body=b, headers=h)
            r = conn.getresponse()
            r.read()
            code = str(r.status)
        except OSError:
            conn.close()
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            code = "error"
        took = time.monotonic() - due
        with lock:
            latencies.append(took)
            statuses[code] = statuses.get(code, 0) + 1


threads = [threading.Thread(target=worker) for _ in range(a.c)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.monotonic() - start
latencies.sort()
ok = sum(n for c, n in statuses.items() if c.startswith("2"))


def pct(q):
    return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None


json.dump(
    {
        "summary": {
            "successRate": ok / max(1, len(latencies)),
            "total": elapsed,
            "requestsPerSec": len(latencies) / elapsed,
        },
        "latencyPercentiles": {"p50": pct(0.50), "p99": pct(0.99)},
        "statusCodeDistribution": statuses,
        "driver": "loadgen.py",
    },
    __import__("sys").stdout,
)
