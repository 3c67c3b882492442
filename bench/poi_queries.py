"""The raw-driver nearby queries the POI benchmarks compare ``gateway.poi.search`` with.

Each method is "20 nearest live, non-closed POIs within r of (lat, lng)" written the best way we know
for one kind of index, run with the raw driver (``sqlite3`` / ``psycopg``), with the planar
distance of PERFORMANCE.md §2.4 (``dx = Δlng·k·cos(lat0)``, ``dy = Δlat·k``, filter ``dx²+dy² ≤ r²``,
order by it) except where the index brings its own distance (earthdistance). Each may need extra
indexes, built by :func:`prepare` on the benchmark's scratch database only (never by migrations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.poi.search import STRIPS_PER_DEGREE as STRIPS

R = 6_371_008.8
K = math.pi / 180 * R  # metres per degree of latitude
COLUMNS = ("id, name, category, address, city, district, lat, lng, rating, rating_count, status, "
           "images, opening_hours")
_D2_SQLITE = "((lng - :lng) * (lng - :lng) * :kx2 + (lat - :lat) * (lat - :lat) * :ky2)"
_D2_PG = "((lng - %(lng)s) * (lng - %(lng)s) * %(kx2)s + (lat - %(lat)s) * (lat - %(lat)s) * %(ky2)s)"
_LIVE_SQLITE = "live = 1 AND status != 'closed'"
_LIVE_PG = "live AND status <> 'closed'"


@dataclass(frozen=True)
class Method:
    key: str
    label: str
    dialect: str  # sqlite | postgresql
    sql: str
    setup: tuple[str, ...] = ()  # DDL run once on the scratch database
    strips: str = ""  # "trunc" (SQLite CAST) or "floor" (PostgreSQL) when the query lists lat strips
    per_degree: int = 0  # strips per degree of latitude of that index


def _sqlite_strips(index: str, per_degree: int) -> str:
    return (f"SELECT {COLUMNS}, d2 FROM (SELECT rowid AS rid, {_D2_SQLITE} AS d2 FROM pois INDEXED BY {index} "
            f"WHERE CAST(lat * {per_degree} AS INTEGER) IN (SELECT value FROM json_each(:strips)) "
            f"AND lng BETWEEN :lng_min AND :lng_max AND lat BETWEEN :lat_min AND :lat_max AND {_LIVE_SQLITE} "
            "AND d2 <= :r2 ORDER BY d2 LIMIT 20) AS n JOIN pois ON pois.rowid = n.rid ORDER BY d2")


def _strip_slots(per_degree: int) -> int:
    """Strips a 3 km circle can cover (PostgreSQL's statements list them as that many scalars)."""
    return math.ceil(2 * 3000 / K * 1.0001 * per_degree) + 1


def _pg_strips(per_degree: int) -> str:
    # the planner picks the index whose expression matches floor(lat * per_degree); the strips as
    # scalars, as gateway.poi.search sends them: with one array parameter PostgreSQL never keeps
    # the prepared generic plan and plans every execution (~0.2 ms)
    strips = ", ".join(f"%(s{k})s" for k in range(_strip_slots(per_degree)))
    return (f"SELECT {COLUMNS}, d2 FROM (SELECT id AS nid, {_D2_PG} AS d2 FROM pois "
            f"WHERE floor(lat * {per_degree}) IN ({strips}) "
            f"AND lng BETWEEN %(lng_min)s AND %(lng_max)s AND lat BETWEEN %(lat_min)s AND %(lat_max)s "
            f"AND {_LIVE_PG} AND {_D2_PG} <= %(r2)s ORDER BY d2 LIMIT 20) AS n JOIN pois ON pois.id = n.nid "
            "ORDER BY d2")


METHODS = [
    # --- SQLite -------------------------------------------------------------------------------
    Method(
        "sqlite_strips", f"lat-strip × lng B-tree (the migrations' index, {1 / STRIPS:g}° strips), index-only "
        "+ 20 row reads", "sqlite", _sqlite_strips("ix_pois_nearby", STRIPS), strips="trunc", per_degree=STRIPS,
    ),
    Method(
        "sqlite_strips_100", "lat-strip × lng B-tree with 0.01° strips (migration 0003's cut), index-only "
        "+ 20 row reads", "sqlite", _sqlite_strips("bench_pois_strips_100", 100), strips="trunc", per_degree=100,
        setup=(("CREATE INDEX IF NOT EXISTS bench_pois_strips_100 ON pois "
                "(CAST(lat * 100 AS INTEGER), lng, lat, live, status, category)"),),
    ),
    Method(
        "sqlite_btree", "composite (lat, lng) B-tree, bounding box (PERFORMANCE.md (b))", "sqlite",
        f"SELECT {COLUMNS}, {_D2_SQLITE} AS d2 FROM pois INDEXED BY bench_pois_lat_lng "
        f"WHERE lat BETWEEN :lat_min AND :lat_max AND lng BETWEEN :lng_min AND :lng_max AND {_LIVE_SQLITE} "
        "AND d2 <= :r2 ORDER BY d2 LIMIT 20",
        setup=("CREATE INDEX IF NOT EXISTS bench_pois_lat_lng ON pois (lat, lng)",),
    ),
    Method(
        "sqlite_btree_covering", "composite (lat, lng, live, status) B-tree, index-only + 20 row reads",
        "sqlite",
        f"SELECT {COLUMNS}, d2 FROM (SELECT rowid AS rid, {_D2_SQLITE} AS d2 FROM pois "
        "INDEXED BY bench_pois_lat_lng_live "
        f"WHERE lat BETWEEN :lat_min AND :lat_max AND lng BETWEEN :lng_min AND :lng_max AND {_LIVE_SQLITE} "
        "AND d2 <= :r2 ORDER BY d2 LIMIT 20) AS n JOIN pois ON pois.rowid = n.rid ORDER BY d2",
        setup=("CREATE INDEX IF NOT EXISTS bench_pois_lat_lng_live ON pois (lat, lng, live, status)",),
    ),
    Method(
        "sqlite_rtree", "R*Tree (live, non-closed rows) joined by rowid (PERFORMANCE.md (c))", "sqlite",
        "SELECT pois.id, pois.name, pois.category, pois.address, pois.city, pois.district, pois.lat, pois.lng, "
        "pois.rating, pois.rating_count, pois.status, pois.images, pois.opening_hours, "
        "((pois.lng - :lng) * (pois.lng - :lng) * :kx2 + (pois.lat - :lat) * (pois.lat - :lat) * :ky2) AS d2 "
        "FROM bench_rtree AS r JOIN pois ON pois.rowid = r.id "
        "WHERE r.min_lat >= :lat_min AND r.max_lat <= :lat_max AND r.min_lng >= :lng_min AND r.max_lng <= :lng_max "
        "AND d2 <= :r2 ORDER BY d2 LIMIT 20",
        setup=(
            "CREATE VIRTUAL TABLE IF NOT EXISTS bench_rtree USING rtree(id, min_lat, max_lat, min_lng, max_lng)",
            "INSERT INTO bench_rtree SELECT rowid, lat, lat, lng, lng FROM pois "
            "WHERE live = 1 AND status != 'closed' AND NOT EXISTS (SELECT 1 FROM bench_rtree LIMIT 1)",
        ),
    ),
    # --- PostgreSQL (no PostGIS on this machine) ------------------------------------------------
    Method(
        "pg_strips", f"lat-strip × lng B-tree (the migrations' index, {1 / STRIPS:g}° strips), index-only "
        "+ 20 row reads", "postgresql", _pg_strips(STRIPS), strips="floor", per_degree=STRIPS,
    ),
    Method(
        "pg_strips_100", "lat-strip × lng B-tree with 0.01° strips (migration 0003's cut), index-only "
        "+ 20 row reads", "postgresql", _pg_strips(100), strips="floor", per_degree=100,
        setup=(("CREATE INDEX IF NOT EXISTS bench_pois_strips_100 ON pois "
                "(floor(lat * 100), lng, lat) INCLUDE (id, live, status, category)"),),
    ),
    Method(
        "pg_btree", "composite (lat, lng) B-tree, bounding box (PERFORMANCE.md (b))", "postgresql",
        f"SELECT {COLUMNS}, {_D2_PG} AS d2 FROM pois "
        f"WHERE lat BETWEEN %(lat_min)s AND %(lat_max)s AND lng BETWEEN %(lng_min)s AND %(lng_max)s AND {_LIVE_PG} "
        f"AND {_D2_PG} <= %(r2)s ORDER BY d2 LIMIT 20",
        setup=("CREATE INDEX IF NOT EXISTS bench_pois_lat_lng ON pois (lat, lng)",),
    ),
    Method(
        "pg_btree_covering", "composite (lat, lng) B-tree INCLUDE (id, live, status), index-only + 20 row reads",
        "postgresql",
        f"SELECT {COLUMNS}, d2 FROM (SELECT id AS nid, {_D2_PG} AS d2 FROM pois "
        f"WHERE lat BETWEEN %(lat_min)s AND %(lat_max)s AND lng BETWEEN %(lng_min)s AND %(lng_max)s AND {_LIVE_PG} "
        f"AND {_D2_PG} <= %(r2)s ORDER BY d2 LIMIT 20) AS n JOIN pois ON pois.id = n.nid ORDER BY d2",
        setup=("CREATE INDEX IF NOT EXISTS bench_pois_lat_lng_incl ON pois (lat, lng) INCLUDE (id, live, status)",),
    ),
    Method(
        "pg_gist_point", "built-in GiST on point(lng, lat), box containment (no extension)", "postgresql",
        f"SELECT {COLUMNS}, {_D2_PG} AS d2 FROM pois "
        "WHERE point(lng, lat) <@ box(point(%(lng_min)s, %(lat_min)s), point(%(lng_max)s, %(lat_max)s)) "
        f"AND {_LIVE_PG} AND {_D2_PG} <= %(r2)s ORDER BY d2 LIMIT 20",
        setup=("CREATE INDEX IF NOT EXISTS bench_pois_gist_point ON pois USING gist (point(lng, lat)) "
               f"WHERE {_LIVE_PG}",),
    ),
    Method(
        "pg_earthdistance", "cube + earthdistance: GiST on ll_to_earth, earth_box + earth_distance", "postgresql",
        f"SELECT {COLUMNS}, earth_distance(ll_to_earth(%(lat)s, %(lng)s), ll_to_earth(lat, lng)) AS d FROM pois "
        "WHERE earth_box(ll_to_earth(%(lat)s, %(lng)s), %(r)s) @> ll_to_earth(lat, lng) "
        f"AND {_LIVE_PG} AND earth_distance(ll_to_earth(%(lat)s, %(lng)s), ll_to_earth(lat, lng)) <= %(r)s "
        "ORDER BY d LIMIT 20",
        setup=("CREATE EXTENSION IF NOT EXISTS cube", "CREATE EXTENSION IF NOT EXISTS earthdistance",
               "CREATE INDEX IF NOT EXISTS bench_pois_earth ON pois USING gist (ll_to_earth(lat, lng)) "
               f"WHERE {_LIVE_PG}"),
    ),
]
BY_KEY = {m.key: m for m in METHODS}
BEST = {"sqlite": "sqlite_strips", "postgresql": "pg_strips"}  # what the HTTP reference route runs


def params(method: Method, lat: float, lng: float, radius: float) -> dict:
    d_lat = radius / K
    d_lng = d_lat / math.cos(math.radians(lat)) * 1.0001  # the cap is a hair wider than r/cos(lat)
    p = {"lat": lat, "lng": lng, "r": radius, "r2": radius * radius,
         "lat_min": lat - d_lat, "lat_max": lat + d_lat, "lng_min": lng - d_lng, "lng_max": lng + d_lng,
         "kx2": (K * math.cos(math.radians(lat))) ** 2, "ky2": K * K}
    n = method.per_degree
    if method.strips == "trunc":
        p["strips"] = "[" + ",".join(str(k) for k in range(int(p["lat_min"] * n), int(p["lat_max"] * n) + 1)) + "]"
    elif method.strips == "floor":
        first, last = math.floor(p["lat_min"] * n), math.floor(p["lat_max"] * n)
        for k in range(_strip_slots(n)):
            p[f"s{k}"] = float(min(first + k, last))
    return p


def prepare(connection, method: Method) -> None:
    for statement in method.setup:
        connection.execute(statement)
