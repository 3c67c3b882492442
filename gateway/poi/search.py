"""Finding POIs by place: ``nearby`` (public search), ``within`` and ``within_many`` (the duplicate
guard: one point, or every new POI of a batch in one statement).

Both read the spatial index ``ix_pois_nearby`` (migration 0003, strips re-cut by 0010): latitude
cut into 0.04° strips (about 4.4 km), then longitude, then lat, live, status and category. A query
lists the strips that cover its circle and, within each, reads one longitude range, so it touches
little more than the circle's bounding box, and only the index: the table is read for the few rows
it returns (measurements and the alternatives that lost: bench/README.md, "POI").

Why 0.04°: each strip is one index seek, and in an empty area the seeks are the query. A 3 km
circle (0.054° of latitude) covers 2–3 of these strips instead of 6–7 of 0.01°, which cut the
sparse query by about a fifth; the price is reading wider slices in cities (≈ 1.7× the bounding
box instead of 1.2×), about +10 % there (bench/README.md, "Strips of 0.04°").

Distances are great-circle (haversine, :func:`gateway.poi.geo.distance_m`) and "nearest first" is
exact. The database ranks candidates by a planar distance that needs no trigonometry per row
(SQLite's math functions cost more than the index scan): x scaled by the cosine of the mid-latitude
(its first-order Taylor term around the centre), which is within 0.04 % of haversine up to 100 km
and 80° of latitude (measured: 3.9e-4 at worst). Python then computes the exact distances of the
rows it got, re-sorts them, and checks that no row beyond the fetched ones could rank higher:
every unfetched row is at least ``last fetched × (1 − ε)`` away. If that proof fails (a near tie at
the cut), it fetches more. Near the poles or across the antimeridian the planar measure is
meaningless: there it takes every row of the box and decides in Python.

Statements are written once per dialect as SQL text: the strip expression must match the index
exactly (the planner matches it textually), and building a ``select()`` per request would cost
more than the query (PERFORMANCE.md §2.1).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from gateway.clock import utcnow
from gateway.db import driver_execute
from gateway.poi import hours
from gateway.poi.geo import EARTH_MEAN_RADIUS_M, distance_m

INDEX_NAME = "ix_pois_nearby"
STRIPS_PER_DEGREE = 25  # must match the index expression (migration 0010): lat * 25
MAX_RADIUS_M = 100_000
PLANAR_MAX_ABS_LAT = 80.0  # beyond it, no planar ranking (see the module docstring)
PLANAR_ERROR = 1e-3  # ε: bound on |planar / haversine − 1| within MAX_RADIUS_M and PLANAR_MAX_ABS_LAT
_METRES_PER_DEGREE = math.pi / 180 * EARTH_MEAN_RADIUS_M
# _Area's constants: bx = −(metres per degree)·sin(lat)·π/360 and ay2 = (metres per degree)²
_BX_PER_SIN_LAT = -_METRES_PER_DEGREE * math.pi / 360
_AY2 = _METRES_PER_DEGREE ** 2
_DEGREES_PER_RADIAN = 180 / math.pi
_RADIANS_PER_DEGREE = math.pi / 180
_PAD = 1e-9
_sin, _cos, _asin = math.sin, math.cos, math.asin
_UNLIMITED = 1_000_000
_EXTRA_ROWS = 4  # fetched beyond the limit, so that the exactness proof rarely needs a second query

# squared planar distance in m²: dx = Δlng·(a + Δlat·b) with a + Δlat·b ≈ metres per degree of
# longitude at the mid-latitude; dy = Δlat·metres per degree
_D2 = (
    "((lng - :lng) * (:ax + (lat - :lat) * :bx) * (lng - :lng) * (:ax + (lat - :lat) * :bx)"
    " + (lat - :lat) * (lat - :lat) * :ay2)"
)
_SUMMARY_COLUMNS = (
    "p.id, p.name, p.category, p.address, p.city, p.district, p.lat, p.lng, p.rating, p.rating_count, "
    "p.status, {first_image} AS image, {hours_text}"
)

# On SQLite nearby() runs two statements (PostgreSQL joins them, below). The first ranks the box
# by planar distance from the spatial index alone and returns (row key, lat, lng, d2): no radius
# test in SQL (evaluating the distance twice per row cost ~15 %; rows past the radius only come
# back where the box holds fewer than the limit, and Python drops them). The second reads the summary columns of the rows that make the
# answer, by row key: none in an empty area, which is most of the map (a JOIN in the first
# statement cost ~10 µs even when it joined nothing, a third of the query there: bench/README.md,
# "POI nearby"). With and without a category are two statements: an
# "(:category IS NULL OR ...)" test on every index entry cost ~15 % in sparse areas.
#
# The statements run on the DB-API cursor of the caller's connection (same transaction): going
# through SQLAlchemy's execute() cost ~130 µs per query, more than the whole query in sparse areas.
# They are written with :name parameters; PostgreSQL's copies are turned into psycopg's %(name)s.
#
# SQLite: the ranking runs on the index alone (EXPLAIN QUERY PLAN: "COVERING INDEX"), keyed by
# rowid; the rows are read by rowid. INDEXED BY makes "never a full scan" a property of the
# statement: SQLite refuses to run it rather than plan it without the index.
_SQLITE_SUMMARY = _SUMMARY_COLUMNS.format(first_image="json_extract(p.images, '$[0]')",
                                          hours_text="p.opening_hours")
# the strip number of a row, written exactly as the index expression (the planner matches it textually)
_SQLITE_STRIP = f"CAST(lat * {STRIPS_PER_DEGREE} AS INTEGER)"
_PG_STRIP = f"floor(lat * {STRIPS_PER_DEGREE})"
_SQLITE_BOX = (
    f"{_SQLITE_STRIP} IN (SELECT value FROM json_each(:strips)) "
    "AND lng BETWEEN :lng_min AND :lng_max AND lat BETWEEN :lat_min AND :lat_max"
)
_SQLITE_NEARBY = (
    f"SELECT rowid, lat, lng, {_D2} AS d2 FROM pois INDEXED BY {INDEX_NAME} "
    f"WHERE {_SQLITE_BOX} AND live = 1 AND status != 'closed'{{category}} "
    "ORDER BY d2 LIMIT :n"
)
# the same visibility test again: the two statements may see different commits (PostgreSQL's
# reader runs each in its own snapshot)
_SQLITE_ROWS = (
    f"SELECT p.rowid, {_SQLITE_SUMMARY} FROM pois AS p "
    "WHERE p.rowid IN (SELECT value FROM json_each(:keys)) AND p.live = 1 AND p.status != 'closed'"
)
# one key (most non-empty answers in sparse areas): a plain equality, 5–10 µs less than json_each
_SQLITE_ROW = (
    f"SELECT p.rowid, {_SQLITE_SUMMARY} FROM pois AS p "
    "WHERE p.rowid = :key AND p.live = 1 AND p.status != 'closed'"
)
_SQLITE_WITHIN = (
    f"SELECT id, name, merchant_id, live, status, lat, lng FROM pois INDEXED BY {INDEX_NAME} "
    f"WHERE {_SQLITE_BOX} AND {_D2} <= :d2_max "
    "AND (:merchant_id IS NULL OR live = 1 OR merchant_id = :merchant_id)"
)

# PostgreSQL: the index INCLUDEs id, live, status and category, so the ranking is an index-only
# scan keyed by id; the rows are read by primary key.
_PG_SUMMARY = _SUMMARY_COLUMNS.format(first_image="p.images ->> 0",
                                      hours_text="CAST(p.opening_hours AS text)")
# The strips are a list of scalar parameters, padded to one of a few lengths (one statement per
# length), not one array parameter: with an array PostgreSQL's estimate of the generic plan stays
# above the custom plans' and it plans every execution anew (~0.2 ms, most of the query in an empty
# area); with scalars it keeps the prepared generic plan, the same index-only scan. Measured on
# 1,000,000 POIs, sparse 0.31 → 0.20 ms, dense 1.45 → 1.11 ms (bench/README.md, "Strips of 0.04°").
_PG_STRIP_SLOTS = (3, 6, 12, 24, 48)  # 3: any circle up to 4.4 km; 48: up to MAX_RADIUS_M
_STRIP_PARAMETERS = tuple(f"s{k}" for k in range(_PG_STRIP_SLOTS[-1]))
_PG_BOX = (
    f"{_PG_STRIP} IN ({{strips}}) "
    "AND lng BETWEEN :lng_min AND :lng_max AND lat BETWEEN :lat_min AND :lat_max"
)
# PostgreSQL reads the ranked rows in the same statement (a JOIN by primary key on the ranking):
# there a second statement is a second round trip, which cost more than the join (1 M POIs, in
# cities: 2.65 ms as two statements, 2.27 ms joined; in empty areas alike, 0.220 / 0.223 ms). Its
# rows are (key, lat, lng, d2, summary columns…), and JOINED_ROWS tells nearby() not to ask again.
_PG_NEARBY = (
    f"SELECT n.id, n.lat, n.lng, n.d2, {_PG_SUMMARY} FROM ("
    f"SELECT id, lat, lng, {_D2} AS d2 FROM pois "
    f"WHERE {_PG_BOX} AND live AND status <> 'closed'{{category}} "
    "ORDER BY d2 LIMIT :n) AS n JOIN pois AS p ON p.id = n.id ORDER BY n.d2"
)
JOINED_ROWS = {"sqlite": False, "postgresql": True}
_PG_ROWS = (
    f"SELECT p.id, {_PG_SUMMARY} FROM pois AS p "
    "WHERE p.id = ANY(CAST(:keys AS varchar[])) AND p.live AND p.status <> 'closed'"
)
_PG_ROW = (
    f"SELECT p.id, {_PG_SUMMARY} FROM pois AS p "
    "WHERE p.id = :key AND p.live AND p.status <> 'closed'"
)
_PG_WITHIN = (
    f"SELECT id, name, merchant_id, live, status, lat, lng FROM pois "
    f"WHERE {_PG_BOX} AND {_D2} <= :d2_max "
    "AND (CAST(:merchant_id AS varchar) IS NULL OR live OR merchant_id = CAST(:merchant_id AS varchar))"
)


# within_many(): the duplicate guard of a whole batch in one statement (one per item was a round
# trip per new POI on PostgreSQL). Each circle becomes its boxes, one per strip it covers (a 50 m
# circle covers one or two), listed as rows (circle number, strip, lng range, lat range) and
# joined to the spatial index: one index range per box, the same range within() reads. The list
# is the outer side of the join (SQLite: CROSS JOIN fixes the order, INDEXED BY the index;
# json_extract rather than ->>, which needs SQLite 3.38).
# No planar prefilter: the boxes hold few rows and Python keeps those within the exact distance.
_SQLITE_WITHIN_MANY = (
    "SELECT json_extract(b.value, '$[0]'), p.id, p.name, p.merchant_id, p.live, p.lat, p.lng "
    f"FROM json_each(:boxes) AS b CROSS JOIN pois AS p INDEXED BY {INDEX_NAME} "
    f"WHERE CAST(p.lat * {STRIPS_PER_DEGREE} AS INTEGER) = json_extract(b.value, '$[1]') "
    "AND p.lng BETWEEN json_extract(b.value, '$[2]') AND json_extract(b.value, '$[3]') "
    "AND p.lat BETWEEN json_extract(b.value, '$[4]') AND json_extract(b.value, '$[5]')"
)
# PostgreSQL: a LATERAL subquery per box, kept from being flattened into the join by OFFSET 0.
# As a plain join the planner chose a hash join over a full scan of pois (11 ms per batch at 10 k
# rows, growing with the table); this way each box is one index range scan, as in within().
_PG_WITHIN_MANY = (
    "SELECT b.k, p.id, p.name, p.merchant_id, p.live, p.lat, p.lng "
    "FROM unnest(CAST(:k AS integer[]), CAST(:strip AS double precision[]), "
    "CAST(:lng_min AS double precision[]), CAST(:lng_max AS double precision[]), "
    "CAST(:lat_min AS double precision[]), CAST(:lat_max AS double precision[])) "
    "AS b(k, strip, lng_min, lng_max, lat_min, lat_max) "
    "CROSS JOIN LATERAL (SELECT id, name, merchant_id, live, lat, lng FROM pois "
    f"WHERE {_PG_STRIP} = b.strip AND lng BETWEEN b.lng_min AND b.lng_max "
    "AND lat BETWEEN b.lat_min AND b.lat_max OFFSET 0) AS p"
)


def _statements(nearby_sql: str, rows_sql: str, row_sql: str, within_sql: str, within_many_sql: str,
                paramstyle, slots: tuple[int, ...] = ()) -> dict[str, str]:
    """Name -> SQL; with ``slots`` (PostgreSQL), the area statements once per number of strip
    parameters: ``name`` for the first, ``name/<n>`` for the others (``_Area.variant``)."""
    statements = {
        "nearby_rows": paramstyle(rows_sql),
        "nearby_row": paramstyle(row_sql),
        "within_many": paramstyle(within_many_sql),
    }
    for n in slots or (0,):
        variant = "" if n == (slots or (0,))[0] else f"/{n}"
        strips = ", ".join(f":{name}" for name in _STRIP_PARAMETERS[:n])  # (no {strips} in SQLite's)
        statements.update({
            "nearby" + variant: paramstyle(nearby_sql.format(category="", strips=strips)),
            "nearby_category" + variant: paramstyle(
                nearby_sql.format(category=" AND category = :category", strips=strips)),
            "within" + variant: paramstyle(within_sql.format(strips=strips)),
        })
    return statements


STATEMENTS = {  # dialect -> name -> SQL in the driver's parameter style
    "sqlite": _statements(_SQLITE_NEARBY, _SQLITE_ROWS, _SQLITE_ROW, _SQLITE_WITHIN, _SQLITE_WITHIN_MANY,
                          lambda sql: sql),
    "postgresql": _statements(_PG_NEARBY, _PG_ROWS, _PG_ROW, _PG_WITHIN, _PG_WITHIN_MANY,
                              lambda sql: re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql), _PG_STRIP_SLOTS),
}
# within_many's six arrays (~500 boxes each) go in psycopg's binary format (%(name)b): as text,
# psycopg formats every float in Python and the server parses it back; for a batch of 500 POIs
# the statement took 11.8 ms of wall time with text arrays, 4.6 ms with binary ones.
STATEMENTS["postgresql"]["within_many"] = re.sub(r"(?<!:):(\w+)", r"%(\1)b", _PG_WITHIN_MANY)


def nearby(session: Session | Connection, *, lat: float, lng: float, radius_m: float,
           category: str | None = None, open_now: bool = False, at: datetime | None = None,
           limit: int = 20) -> list[dict]:
    """Live POIs that are not closed, within ``radius_m`` of the GCJ-02 point, nearest first.

    Each is a ``PoiSummary`` dict plus ``distance_m`` (whole metres). ``open_now`` in each is true,
    false (also when temporarily closed) or null (no hours given); with ``open_now=True`` only
    those open at ``at`` (default: now) are returned.
    """
    connection = _connection(session)
    statements = STATEMENTS[connection.dialect.name]
    at = at or utcnow()
    area = _Area(connection.dialect.name, lat, lng, radius_m)
    statement = statements[("nearby" if category is None else "nearby_category") + area.variant]
    params = dict(area.params, category=category)
    joined = JOINED_ROWS[connection.dialect.name]
    # open-now is decided in Python from the hours: ask for more rows when it filters
    fetch = limit + _EXTRA_ROWS if not open_now else 4 * limit + _EXTRA_ROWS
    if not area.planar:
        fetch = _UNLIMITED
    while True:
        params["n"] = fetch
        ranked = _fetch(connection, statement, params)  # (key, lat, lng, d2[, summary]), planar order
        # every row not fetched is at least this far away (exactly: no planar error bound needed
        # when everything in the box was fetched)
        horizon = math.inf if len(ranked) < fetch else math.sqrt(ranked[-1][3]) * (1 - PLANAR_ERROR)
        # the rows that may be in the answer: within the radius and before the horizon (a row
        # past the horizon might come after an unfetched one)
        eligible = []
        for row in ranked:
            exact = distance_m(lat, lng, row[1], row[2])
            if exact <= radius_m and exact <= horizon:
                eligible.append((exact, row[0]))
        if joined:  # (d2, summary columns…): _summary ignores the first, as it does the row key
            rows = {row[0]: row[3:] for row in ranked}
        else:
            # (all of them, not only the first `limit`: a row closed between the two statements
            # is left out by the second and the next one takes its place)
            rows = _rows(connection, statements, [key for _, key in eligible])
        found = []  # nearest first, ties by id
        for exact, _, row in sorted((exact, rows[key][1], rows[key]) for exact, key in eligible if key in rows):
            summary = _summary(row, exact, at)
            if open_now and summary["open_now"] is not True:
                continue
            found.append(summary)
            if len(found) == limit:
                return found
        if horizon == math.inf:
            return found
        fetch = _UNLIMITED if fetch >= 8 * limit else 8 * fetch


def within(session: Session | Connection, *, lat: float, lng: float, radius_m: float,
           merchant_id: str | None = None) -> list[dict]:
    """Every POI within ``radius_m`` of the GCJ-02 point (live or not, any status), nearest first.

    With ``merchant_id``, only those that are live or belong to that merchant: the set the
    duplicate guard compares names with. Each is ``{id, name, merchant_id, live, status, distance_m}``.
    """
    connection = _connection(session)
    area = _Area(connection.dialect.name, lat, lng, radius_m)
    statement = STATEMENTS[connection.dialect.name]["within" + area.variant]
    found = []
    for poi_id, name, owner, live, status, poi_lat, poi_lng in _fetch(
        connection, statement, dict(area.params, merchant_id=merchant_id)
    ):
        exact = distance_m(lat, lng, poi_lat, poi_lng)
        if exact <= radius_m:
            found.append({"id": poi_id, "name": name, "merchant_id": owner, "live": bool(live),
                          "status": status, "distance_m": exact})
    found.sort(key=lambda f: (f["distance_m"], f["id"]))
    return found


def within_many(session: Session | Connection, points: list[tuple[float, float]],
                radius_m: float) -> list[list[dict]]:
    """:func:`within` (without ``merchant_id``) of each GCJ-02 ``(lat, lng)`` point, in one statement:
    the lists are in the order of ``points``, each nearest first (ties by id) as :func:`within`
    returns it, each POI as ``{id, name, merchant_id, live, distance_m}``."""
    found: list[list[dict]] = [[] for _ in points]
    if not points:
        return found
    connection = _connection(session)
    dialect = connection.dialect.name
    boxes = []  # (point number, strip, lng_min, lng_max, lat_min, lat_max)
    for k, (lat, lng) in enumerate(points):
        area = _Area(dialect, lat, lng, radius_m)
        box = area.params
        for strip in area.strip_numbers:
            boxes.append((k, strip, box["lng_min"], box["lng_max"], box["lat_min"], box["lat_max"]))
    if dialect == "sqlite":
        params = {"boxes": json.dumps(boxes)}
    else:
        params = {name: [box[n] for box in boxes]
                  for n, name in enumerate(("k", "strip", "lng_min", "lng_max", "lat_min", "lat_max"))}
        params["strip"] = [float(strip) for strip in params["strip"]]
    for k, poi_id, name, owner, live, poi_lat, poi_lng in _fetch(connection, STATEMENTS[dialect]["within_many"],
                                                                  params):
        lat, lng = points[k]
        exact = distance_m(lat, lng, poi_lat, poi_lng)
        if exact <= radius_m:
            found[k].append({"id": poi_id, "name": name, "merchant_id": owner, "live": bool(live),
                             "distance_m": exact})
    for candidates in found:
        candidates.sort(key=lambda f: (f["distance_m"], f["id"]))
    return found


def _connection(session: Session | Connection) -> Connection:
    return session if isinstance(session, Connection) else session.connection()


def _rows(connection: Connection, statements: dict[str, str], keys: list) -> dict:
    """The summary rows (key first) of the given row keys, by key; no query for none."""
    if not keys:
        return {}
    if len(keys) == 1:
        return {row[0]: row for row in _fetch(connection, statements["nearby_row"], {"key": keys[0]})}
    if connection.dialect.name == "sqlite":
        keys = "[" + ",".join(map(str, keys)) + "]"
    return {row[0]: row for row in _fetch(connection, statements["nearby_rows"], {"keys": keys})}


def _fetch(connection: Connection, sql: str, params: dict) -> list[tuple]:
    """Run ``sql`` on the DB-API connection under ``connection`` (its transaction, if any)."""
    return driver_execute(connection, sql, params, "all")


class _Area:
    """The bind parameters describing a circle: its bounding box, the strips covering it, and the
    planar distance terms with their bound (``planar`` is false where the planar measure fails)."""

    __slots__ = ("params", "planar", "strip_numbers", "variant")

    def __init__(self, dialect: str, lat: float, lng: float, radius_m: float) -> None:
        # (written for speed: in an empty area this arithmetic was a fifth of the query's time,
        # hence the precomputed constants and a single trigonometric call per term)
        if not (0 < radius_m <= MAX_RADIUS_M):
            raise ValueError(f"radius_m must be in (0, {MAX_RADIUS_M}]")
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise ValueError("lat must be in [-90, 90] and lng in [-180, 180]")
        angle = radius_m / EARTH_MEAN_RADIUS_M  # the radius as an angle at the Earth's centre
        d_lat = angle * _DEGREES_PER_RADIAN
        lat_min, lat_max = max(-90.0, lat - d_lat), min(90.0, lat + d_lat)
        # the exact longitude half-width of a spherical cap (a little more than r / cos(lat): its
        # widest point is poleward of the centre); over a pole, every longitude
        phi = lat * _RADIANS_PER_DEGREE
        cos_lat = _cos(phi)
        ratio = _sin(angle) / cos_lat if cos_lat > 1e-12 else 2.0
        planar = -PLANAR_MAX_ABS_LAT <= lat <= PLANAR_MAX_ABS_LAT
        if ratio >= 1.0:
            lng_min, lng_max = -180.0, 180.0
            planar = False
        else:
            d_lng = _asin(ratio) * _DEGREES_PER_RADIAN
            lng_min, lng_max = lng - d_lng, lng + d_lng
            if lng_min < -180.0 or lng_max > 180.0:  # across the antimeridian: take every longitude
                lng_min, lng_max = -180.0, 180.0
                planar = False
        # floating-point slack of _PAD: exact distances decide in the end
        lat_min, lat_max, lng_min, lng_max = lat_min - _PAD, lat_max + _PAD, lng_min - _PAD, lng_max + _PAD
        if dialect == "sqlite":  # CAST(... AS INTEGER) truncates toward zero, as int() does
            first, last = int(lat_min * STRIPS_PER_DEGREE), int(lat_max * STRIPS_PER_DEGREE)
            strips = str(list(range(first, last + 1)))  # "[997, 998]": a list of ints prints as JSON
            variant = ""
        else:  # floor(lat * STRIPS_PER_DEGREE); s0, s1, … padded with the last strip (see _PG_BOX)
            first, last = math.floor(lat_min * STRIPS_PER_DEGREE), math.floor(lat_max * STRIPS_PER_DEGREE)
            slots = next(n for n in _PG_STRIP_SLOTS if n > last - first)
            variant = "" if slots == _PG_STRIP_SLOTS[0] else f"/{slots}"
            strips = None
        if planar:
            reach = radius_m * (1 + PLANAR_ERROR)
            d2_max = reach * reach
        else:
            d2_max = 1e300
        self.planar = planar
        self.params: dict = {
            "lat": lat, "lng": lng,
            "ax": _METRES_PER_DEGREE * cos_lat,
            "bx": _BX_PER_SIN_LAT * _sin(phi),
            "ay2": _AY2,
            "d2_max": d2_max,
            "lat_min": lat_min, "lat_max": lat_max, "lng_min": lng_min, "lng_max": lng_max,
        }
        if strips is not None:
            self.params["strips"] = strips
        else:
            padded = [float(k) for k in range(first, last + 1)] + [float(last)] * (slots - 1 - last + first)
            self.params.update(zip(_STRIP_PARAMETERS, padded))
        self.variant = variant
        self.strip_numbers = range(first, last + 1)


def _summary(row, exact: float, at: datetime) -> dict:
    (_, poi_id, name, category, address, city, district, lat, lng, rating, rating_count, status, image,
     opening_hours) = row
    # hours come as their JSON text: parsed schedules are cached by it (POIs share hours)
    open_now = False if status == "temporarily_closed" else hours.is_open_json(opening_hours, at)
    return {
        "id": poi_id, "name": name, "category": category, "address": address, "city": city,
        "district": district, "lat": lat, "lng": lng, "rating": rating, "rating_count": rating_count,
        "status": status, "images": [image] if image is not None else [], "open_now": open_now,
        "distance_m": round(exact),
    }
