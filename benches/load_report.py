#!/usr/bin/env python3
"""Turns the outputs of benches/load.sh into a table (stdlib only): prints it and, with
--append FILE, appends it with the machine, date and exact command to BENCHMARKS.md.
With --check (smoke mode) it fails unless every request succeeded and every figure is there.
"""
import argparse
import datetime
import json
import os
import platform
import re
import sys

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--command", required=True)
p.add_argument("--grids", type=int)
p.add_argument("--reports", type=int)
p.add_argument("--connections", type=int)
p.add_argument("--seconds", type=float)
p.add_argument("--append")
p.add_argument("--check", action="store_true")
a = p.parse_args()
problems = []


def oha(name):
    d = json.load(open(os.path.join(a.out, name)))
    codes = d.get("statusCodeDistribution") or {}
    bad = {c: n for c, n in codes.items() if not str(c).startswith("2")}
    if bad or not codes:
        problems.append(f"{name}: non-2xx answers {bad or 'none at all'}")
    # Requests still in flight when a timed phase ends are cut off by oha; they are not errors.
    errors = {k: v for k, v in (d.get("errorDistribution") or {}).items() if "deadline" not in k}
    if errors:
        problems.append(f"{name}: errors {errors}")
    lat = d.get("latencyPercentiles") or {}
    ms = lambda v: None if v is None else v * 1000.0
    return {
        "rps": d["summary"]["requestsPerSec"],
        "p50": ms(lat.get("p50")),
        "p99": ms(lat.get("p99")),
        "n": sum(codes.values()),
    }


def pgbench(name):
    text = open(os.path.join(a.out, name)).read()
    m = re.search(r"tps = ([0-9.]+)", text)
    if not m:
        problems.append(f"{name}: no tps in pgbench output: {text[-300:]}")
        return float("nan")
    return float(m.group(1))


submit_max, submit_half = oha("submit.max.json"), oha("submit.half.json")
queue_max, queue_half = oha("queue.max.json"), oha("queue.half.json")
# The unit staff's queue, beside the worker's (absent when the binary predates units).
has_unit = os.path.exists(os.path.join(a.out, "unit_queue.max.json"))
if has_unit:
    unit_max, unit_half = oha("unit_queue.max.json"), oha("unit_queue.half.json")
pg_insert, pg_select = pgbench("pgbench.insert.txt"), pgbench("pgbench.select.txt")
# Patrol check-in batches (absent when the binary predates patrols).
has_checkin = os.path.exists(os.path.join(a.out, "checkin.max.json"))
if has_checkin:
    checkin_max, checkin_half = oha("checkin.max.json"), oha("checkin.half.json")
    pg_checkins = pgbench("pgbench.checkins.txt")
rss_mb = int(open(os.path.join(a.out, "rss.kb")).read().strip()) / 1024.0
data_secs = open(os.path.join(a.out, "benchdata.secs")).read().strip().splitlines()[-1]


def ratio(x, y):
    return x / y if y and y == y else float("nan")


def verdict(ok):
    return "met" if ok else "**missed**"


rows = [
    ("report submission (POST /api/v1/reports)", submit_max, submit_half, pg_insert, "INSERT", 25.0),
    ("worker queue (GET /api/v1/worker/tasks, 40 tasks)", queue_max, queue_half, pg_select, "SELECT", 15.0),
]
if has_unit:
    rows.append(
        ("unit queue (GET /api/v1/unit/tasks, 40 assignments)", unit_max, unit_half, pg_select, "SELECT", 15.0)
    )
if has_checkin:
    rows.append(
        ("patrol check-ins (POST /api/v1/patrols/{id}/checkins, 20 points)", checkin_max, checkin_half, pg_checkins, "20-row INSERT", 25.0)
    )
lines = [
    f"| operation | req/s at {a.connections} conns | pgbench ceiling (tps) | ratio (target ≥ 0.50) | open-loop rate | p50 ms | p99 ms (target) |",
    "|---|---:|---:|---:|---:|---:|---:|",
]
for label, mx, half, ceiling, kind, p99_target in rows:
    r = ratio(mx["rps"], ceiling)
    lines.append(
        f"| {label} | {mx['rps']:.0f} | {ceiling:.0f} ({kind}) | {r:.2f} {verdict(r >= 0.5)} "
        f"| {half['rps']:.0f}/s | {half['p50']:.1f} | {half['p99']:.1f} (≤ {p99_target:.0f}) {verdict(half['p99'] <= p99_target)} |"
    )
lines.append("")
if has_unit:
    lines.append(
        f"Unit queue beside the worker queue (same run): {unit_max['rps']:.0f} vs {queue_max['rps']:.0f} req/s "
        f"({ratio(unit_max['rps'], queue_max['rps']):.2f}×), open-loop p99 {unit_half['p99']:.1f} vs "
        f"{queue_half['p99']:.1f} ms."
    )
    lines.append("")
lines.append(
    f"Server RSS after the run: **{rss_mb:.0f} MB** with {a.grids:,} grids loaded "
    f"(target < 100 MB: {verdict(rss_mb < 100)}). Bench data ({a.grids:,} grids, "
    f"{a.reports:,} reports) written in {float(data_secs):.1f} s."
)

# Issue 21: the yardstick beside SafeGrid (two alternating rounds), CPU per request of every
# closed-loop phase, and the realistic mix.
def maybe(name):
    return oha(name) if os.path.exists(os.path.join(a.out, name)) else None


def cpu(name):
    f = os.path.join(a.out, f"{name}.cpu.json")
    if not os.path.exists(f):
        return None
    d = json.load(open(f))
    n = max(1, d["requests"])
    return {"server": d["server_ms"] / n, "pg": d["pg_ms"] / n, "n": d["requests"]}


pairs = [
    ("submission", "submit", "base_submit", "submit2", "base_submit2", pg_insert, 25.0),
    ("worker queue", "queue", "base_queue", "queue2", "base_queue2", pg_select, 15.0),
]
if maybe("base_submit.max.json"):
    lines += [
        "SafeGrid beside the yardstick (benches/baseline: actix-web + tokio-postgres, the same JWT "
        "check and exactly SafeGrid's SQL; closed loop, alternating, two rounds):",
        "",
        "| path | round | SafeGrid req/s | yardstick req/s | SafeGrid / yardstick (target ≥ 0.80) "
        "| pgbench ceiling | SafeGrid CPU ms/req (server + PostgreSQL) | yardstick CPU ms/req (server + PostgreSQL) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, sg1, bl1, sg2, bl2, ceiling, _ in pairs:
        for rnd, sg, bl in ((1, sg1, bl1), (2, sg2, bl2)):
            x, y = maybe(f"{sg}.max.json"), maybe(f"{bl}.max.json")
            if not x or not y:
                continue
            cx, cy = cpu(sg), cpu(bl)
            r = ratio(x["rps"], y["rps"])
            fmt = lambda c: f"{c['server']:.2f} + {c['pg']:.2f}" if c else "?"
            lines.append(
                f"| {label} | {rnd} | {x['rps']:.0f} | {y['rps']:.0f} | {r:.2f} {verdict(r >= 0.8)} "
                f"| {ceiling:.0f} | {fmt(cx)} | {fmt(cy)} |"
            )
    lines.append("")
other = [n for n in ("submit", "queue", "unit_queue", "checkin", "mix") if cpu(n)]
if other:
    lines.append(
        "CPU per request of SafeGrid's phases (round 1; server process + PostgreSQL processes, ms): "
        + ", ".join(f"{n} {cpu(n)['server']:.2f} + {cpu(n)['pg']:.2f}" for n in other)
        + "."
    )
    lines.append("")
mix_max, mix_half = maybe("mix.max.json"), maybe("mix.half.json")
if mix_max and mix_half:
    lines.append(
        f"Realistic mix (1,000 bodies: random grids, every category, 200 reporters): "
        f"**{mix_max['rps']:.0f} submissions/s** closed loop at {a.connections} connections "
        f"({ratio(mix_max['rps'], submit_max['rps']):.2f}× the same-body worst case of this run); "
        f"open loop at {mix_half['rps']:.0f}/s: p50 {mix_half['p50']:.1f} ms, p99 "
        f"{mix_half['p99']:.1f} ms (≤ 25: {verdict(mix_half['p99'] <= 25.0)})."
    )
    lines.append("")
table = "\n".join(lines)
print(table)

if a.check:
    if problems:
        print("\nload benchmark smoke FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    counts = [submit_max["n"], submit_half["n"], queue_max["n"], queue_half["n"]]
    if has_unit:
        counts += [unit_max["n"], unit_half["n"]]
    if has_checkin:
        counts += [checkin_max["n"], checkin_half["n"]]
    if mix_max and mix_half:
        counts += [mix_max["n"], mix_half["n"]]
    if min(counts) < 1:
        print("load benchmark smoke FAILED: a phase sent no request", file=sys.stderr)
        sys.exit(1)
    print("\nload benchmark smoke: every phase ran and every answer was 2xx")
    sys.exit(0)

if problems:
    print("\nWARNING:\n  " + "\n  ".join(problems), file=sys.stderr)

if a.append:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # Read at the end, the load average includes the run itself (64 connections and
    # PostgreSQL for minutes); load.sh passes the reading from before it started anything.
    load_end = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else ["?"] * 3
    load_start = os.environ.get("LOAD_AT_START", "").split()[:3] or ["?"] * 3
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        f"\n### Load run of {now}\n\n"
        f"Machine: {platform.node()}, {os.cpu_count()} cores ({cpu}), Linux {platform.release()}; "
        f"load average (1, 5, 15 min) when the script started {' '.join(load_start)}, at its end "
        f"{' '.join(load_end)} (the run's own load included).  \n"
        f"Command: `{a.command}` ({a.seconds:g} s per phase).\n\n"
    )
    notes = "\n".join(f"- warning: {p}" for p in problems)
    with open(a.append, "a") as f:
        f.write(head + table + "\n" + (notes + "\n" if notes else ""))
    print(f"\nappended to {a.append}")
