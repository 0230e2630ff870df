#!/usr/bin/env python3
"""Writes a synthetic city as a GeoJSON FeatureCollection for import benchmarks:
1 district, streets of ~2,500 grids, communities of ~200 grids, and N grids on a lattice
around Shanghai (GCJ-02) whose edges are subdivided into K jittered points shared exactly by
both neighbours (4*K vertices per grid).

    python3 benches/synth_geojson.py 50000 > /tmp/city.geojson
"""
import json
import math
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
k = int(sys.argv[2]) if len(sys.argv) > 2 else 10
side = math.ceil(math.sqrt(n))
cell = 0.004  # ~400 m
x0, y0 = 121.0, 31.0


def jitter(key):
    r = random.Random(hash(key) & 0xFFFFFFFF)
    return (r.random() - 0.5) * cell * 0.15


def edge(a, b, key):
    """Points from a to b (exclusive of b), jittered perpendicular, same for both users."""
    (ax, ay), (bx, by) = a, b
    pts = []
    for i in range(k):
        t = i / k
        x, y = ax + (bx - ax) * t, ay + (by - ay) * t
        if i:
            d = jitter((key, i))
            if ax == bx:
                x += d
            else:
                y += d
        pts.append((round(x, 7), round(y, 7)))
    return pts


def corner(i, j):
    return (x0 + i * cell, y0 + j * cell)


def ring(i, j):
    c = [corner(i, j), corner(i + 1, j), corner(i + 1, j + 1), corner(i, j + 1)]
    # Each edge is keyed by its lattice position, so both neighbours walk the same points.
    south = edge(c[0], c[1], ("h", i, j))
    east = edge(c[1], c[2], ("v", i + 1, j))
    north = edge(c[3], c[2], ("h", i, j + 1))  # walked backwards: c2 → c3
    west = edge(c[0], c[3], ("v", i, j))  # walked backwards: c3 → c0
    pts = south + east + [c[2]] + list(reversed(north[1:])) + [c[3]] + list(reversed(west[1:])) + [c[0]]
    return [list(p) for p in pts]


features = [{"type": "Feature", "properties": {"code": "D1", "name": "基准区", "level": "district", "parent_code": None}, "geometry": None}]
streets = max(1, n // 2500)
communities = max(1, n // 200)
for s in range(streets):
    features.append({"type": "Feature", "properties": {"code": f"S{s}", "name": f"街道{s}", "level": "street", "parent_code": "D1"}, "geometry": None})
for c in range(communities):
    features.append({"type": "Feature", "properties": {"code": f"C{c}", "name": f"社区{c}", "level": "community", "parent_code": f"S{c % streets}"}, "geometry": None})
for g in range(n):
    i, j = g % side, g // side
    features.append({
        "type": "Feature",
        "properties": {"code": f"G{g:06d}", "name": f"网格{g}", "level": "grid", "parent_code": f"C{g // 200 % communities}"},
        "geometry": {"type": "Polygon", "coordinates": [ring(i, j)]},
    })
json.dump({"type": "FeatureCollection", "features": features}, sys.stdout, ensure_ascii=False)
