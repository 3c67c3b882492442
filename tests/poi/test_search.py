"""Nearby search and the duplicate guard's ``within``: exact against brute force, on the spatial index."""

from __future__ import annotations

import json
import math
import random
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text, update

from gateway.ids import new_id
from gateway.poi import geo, search
from gateway.poi.models import Poi

POIS = Poi.__table__
CATEGORIES = ["food", "hotel", "leisure", "beauty"]
BEIJING = (39.9087, 116.3975)  # (lat, lng), GCJ-02
NIGHT_BAR = {"weekly": [{"days": ["fri", "sat"], "open": "18:00", "close": "02:00"}]}
OFFICE_HOURS = {"weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "open": "09:00", "close": "18:00"}]}
# Friday 2026-10-02 23:00 in Shanghai
FRIDAY_NIGHT = datetime(2026, 10, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def merchant(factory):
    return factory.merchant()


@pytest.fixture
def connection(db_session):
    return db_session.connection()


def _row(merchant_id: str, lat: float, lng: float, **values) -> dict:
    row = {
        "id": new_id("poi"), "merchant_id": merchant_id, "source_app_id": None, "external_id": None,
        "name": "测试店", "category": "food", "attributes": {}, "address": "某路1号", "province": "北京市",
        "city": "北京市", "district": "东城区", "lat": lat, "lng": lng, "images": ["https://img.example/1.jpg"],
        "phone": "", "opening_hours": {}, "status": "open", "rating": 4.5, "rating_count": 10,
        "quality_tags": [], "live": True, "review_status": "approved", "content_digest": "",
        "created_at": FRIDAY_NIGHT, "updated_at": FRIDAY_NIGHT,
    }
    row.update(values)
    return row


def _insert(connection, rows: list[dict]) -> None:
    """Core executemany, as the batch upsert writes."""
    connection.execute(insert(POIS), rows)


def _destination(lat: float, lng: float, distance: float, bearing_deg: float) -> tuple[float, float]:
    """The point ``distance`` metres from (lat, lng) on ``bearing`` (great circle)."""
    angle = distance / geo.EARTH_MEAN_RADIUS_M
    phi, lam, bearing = math.radians(lat), math.radians(lng), math.radians(bearing_deg)
    phi2 = math.asin(math.sin(phi) * math.cos(angle) + math.cos(phi) * math.sin(angle) * math.cos(bearing))
    lam2 = lam + math.atan2(math.sin(bearing) * math.sin(angle) * math.cos(phi),
                            math.cos(angle) - math.sin(phi) * math.sin(phi2))
    return math.degrees(phi2), math.degrees(lam2)


def _random_world(merchant_id: str, seed: int = 4) -> list[dict]:
    """A dense cluster in Beijing, a sparse spread around it, mixed liveness, status and category."""
    rng = random.Random(seed)
    rows = []
    for n in range(2500):
        if n < 1800:
            lat, lng = BEIJING[0] + rng.gauss(0, 0.02), BEIJING[1] + rng.gauss(0, 0.02)
        else:
            lat, lng = BEIJING[0] + rng.uniform(-1.5, 1.5), BEIJING[1] + rng.uniform(-1.5, 1.5)
        rows.append(_row(
            merchant_id, lat, lng, name=f"店{n}", category=rng.choice(CATEGORIES),
            live=rng.random() < 0.85,
            status=rng.choices(["open", "temporarily_closed", "closed"], [0.8, 0.1, 0.1])[0],
            opening_hours=rng.choice([{}, NIGHT_BAR, OFFICE_HOURS]),
        ))
    return rows


def _brute_force(rows, lat, lng, radius, *, category=None, limit=20, open_now=False, at=FRIDAY_NIGHT):
    from gateway.poi.hours import is_open

    found = []
    for row in rows:
        if not row["live"] or row["status"] == "closed":
            continue
        if category is not None and row["category"] != category:
            continue
        if open_now and (row["status"] == "temporarily_closed" or is_open(row["opening_hours"], at) is not True):
            continue
        distance = geo.distance_m(lat, lng, row["lat"], row["lng"])
        if distance <= radius:
            found.append((distance, row["id"]))
    found.sort()
    return [(poi_id, round(distance)) for distance, poi_id in found[:limit]]


def _got(results) -> list[tuple[str, int]]:
    return [(r["id"], r["distance_m"]) for r in results]


def _centres(seed: int = 9) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    dense = [(BEIJING[0] + rng.gauss(0, 0.02), BEIJING[1] + rng.gauss(0, 0.02)) for _ in range(15)]
    sparse = [(BEIJING[0] + rng.uniform(-1.5, 1.5), BEIJING[1] + rng.uniform(-1.5, 1.5)) for _ in range(15)]
    return dense + sparse


@pytest.mark.parametrize("radius", [300, 3000, 20_000])
def test_nearby_is_the_brute_force_answer(connection, merchant, radius):
    rows = _random_world(merchant.id)
    _insert(connection, rows)
    for lat, lng in _centres():
        expected = _brute_force(rows, lat, lng, radius)
        assert _got(search.nearby(connection, lat=lat, lng=lng, radius_m=radius, at=FRIDAY_NIGHT)) == expected


def test_nearby_with_a_category_and_larger_limits(connection, merchant):
    rows = _random_world(merchant.id, seed=5)
    _insert(connection, rows)
    for lat, lng in _centres(seed=10):
        for category in ("hotel", "beauty"):
            expected = _brute_force(rows, lat, lng, 5000, category=category, limit=50)
            got = search.nearby(connection, lat=lat, lng=lng, radius_m=5000, category=category, limit=50)
            assert _got(got) == expected
            assert all(r["category"] == category for r in got)
        assert _got(search.nearby(connection, lat=lat, lng=lng, radius_m=5000, limit=1)) == \
            _brute_force(rows, lat, lng, 5000, limit=1)


def test_nearby_open_now(connection, merchant):
    rows = _random_world(merchant.id, seed=6)
    _insert(connection, rows)
    for lat, lng in _centres(seed=11):
        got = search.nearby(connection, lat=lat, lng=lng, radius_m=10_000, open_now=True, at=FRIDAY_NIGHT)
        assert _got(got) == _brute_force(rows, lat, lng, 10_000, open_now=True)
        assert all(r["open_now"] is True for r in got)
    # 23:00 on a Friday: only the bars are open; at 10:00 on a Monday only the offices
    monday_morning = datetime(2026, 10, 5, 2, 0, tzinfo=UTC)
    got = search.nearby(connection, lat=BEIJING[0], lng=BEIJING[1], radius_m=10_000, open_now=True,
                        at=monday_morning, limit=50)
    assert got and _got(got) == _brute_force(rows, *BEIJING, 10_000, open_now=True, at=monday_morning, limit=50)


def test_open_now_field_says_open_closed_or_unknown(connection, merchant):
    near = [_destination(*BEIJING, 100 * (i + 1), 45) for i in range(4)]
    _insert(connection, [
        _row(merchant.id, *near[0], name="bar", opening_hours=NIGHT_BAR),
        _row(merchant.id, *near[1], name="office", opening_hours=OFFICE_HOURS),
        _row(merchant.id, *near[2], name="no hours", opening_hours={}),
        _row(merchant.id, *near[3], name="shut for works", opening_hours=NIGHT_BAR, status="temporarily_closed"),
    ])
    got = search.nearby(connection, lat=BEIJING[0], lng=BEIJING[1], radius_m=1000, at=FRIDAY_NIGHT)
    assert [(r["name"], r["open_now"]) for r in got] == [
        ("bar", True), ("office", False), ("no hours", None), ("shut for works", False)]
    only_open = search.nearby(connection, lat=BEIJING[0], lng=BEIJING[1], radius_m=1000, open_now=True,
                              at=FRIDAY_NIGHT)
    assert [r["name"] for r in only_open] == ["bar"]


def test_radius_edges(connection, merchant):
    bearings = [0, 37, 90, 143, 180, 225, 270, 333]
    inside = [_row(merchant.id, *_destination(*BEIJING, 2999.0, b), name=f"in {b}") for b in bearings]
    outside = [_row(merchant.id, *_destination(*BEIJING, 3001.0, b), name=f"out {b}") for b in bearings]
    _insert(connection, inside + outside)
    got = search.nearby(connection, lat=BEIJING[0], lng=BEIJING[1], radius_m=3000, limit=50)
    assert sorted(r["name"] for r in got) == sorted(r["name"] for r in inside)
    assert {r["distance_m"] for r in got} == {2999}
    assert search.nearby(connection, lat=BEIJING[0], lng=BEIJING[1], radius_m=2998, limit=50) == []
    assert len(search.nearby(connection, lat=BEIJING[0], lng=BEIJING[1], radius_m=3002, limit=50)) == 16


def test_the_summary_shape(connection, merchant):
    lat, lng = _destination(*BEIJING, 250, 10)
    row = _row(merchant.id, lat, lng, name="老北京炸酱面", category="food", rating=4.7, rating_count=321,
               images=["https://img.example/a.jpg", "https://img.example/b.jpg"], opening_hours=NIGHT_BAR)
    _insert(connection, [row])
    (found,) = search.nearby(connection, lat=BEIJING[0], lng=BEIJING[1], radius_m=3000, at=FRIDAY_NIGHT)
    assert found == {
        "id": row["id"], "name": "老北京炸酱面", "category": "food", "address": "某路1号", "city": "北京市",
        "district": "东城区", "lat": lat, "lng": lng, "rating": 4.7, "rating_count": 321, "status": "open",
        "images": ["https://img.example/a.jpg"], "open_now": True, "distance_m": 250,
    }
    _insert(connection, [_row(merchant.id, *_destination(*BEIJING, 300, 10), images=[], rating=None)])
    second = search.nearby(connection, lat=BEIJING[0], lng=BEIJING[1], radius_m=3000)[1]
    assert second["images"] == [] and second["rating"] is None


def test_only_live_pois_that_are_not_closed_are_found(connection, merchant, db_session):
    here = _destination(*BEIJING, 50, 0)
    rows = [
        _row(merchant.id, *here, name="live open"),
        _row(merchant.id, *here, name="live, temporarily closed", status="temporarily_closed"),
        _row(merchant.id, *here, name="live, closed for good", status="closed"),
        _row(merchant.id, *here, name="awaiting review", live=False, review_status="pending"),
    ]
    _insert(connection, rows)
    names = lambda: sorted(r["name"] for r in search.nearby(connection, lat=BEIJING[0], lng=BEIJING[1], radius_m=100))
    assert names() == ["live open", "live, temporarily closed"]

    # changes through the ORM keep the index right: approval, closing, moving away
    pending = db_session.get(Poi, rows[3]["id"])
    pending.live = True
    db_session.flush()
    assert names() == ["awaiting review", "live open", "live, temporarily closed"]
    db_session.get(Poi, rows[0]["id"]).status = "closed"
    db_session.flush()
    assert names() == ["awaiting review", "live, temporarily closed"]
    moved = db_session.get(Poi, rows[1]["id"])
    moved.lat, moved.lng = _destination(*BEIJING, 5000, 90)
    db_session.flush()
    assert names() == ["awaiting review"]
    assert [r["name"] for r in search.nearby(connection, lat=moved.lat, lng=moved.lng, radius_m=10)] == \
        ["live, temporarily closed"]
    # and Core bulk updates too
    connection.execute(update(POIS).where(POIS.c.id == rows[3]["id"]).values(live=False))
    assert names() == []


def test_empty_places_and_far_away_corners(connection, merchant):
    assert search.nearby(connection, lat=BEIJING[0], lng=BEIJING[1], radius_m=3000) == []
    spots = [(0.001, 0.001), (-33.8688, 151.2093), (64.1466, -21.9426), (85.5, 10.0), (-0.002, 179.9995),
             (0.0, -179.9995)]
    _insert(connection, [_row(merchant.id, lat, lng, name=f"{lat},{lng}") for lat, lng in spots])
    # the equator and the southern hemisphere, high latitudes and across the antimeridian
    assert [r["name"] for r in search.nearby(connection, lat=0.0, lng=0.0, radius_m=1000)] == ["0.001,0.001"]
    assert [r["name"] for r in search.nearby(connection, lat=-33.87, lng=151.21, radius_m=1000)] == \
        ["-33.8688,151.2093"]
    assert len(search.nearby(connection, lat=85.51, lng=10.0, radius_m=2000)) == 1
    across = search.nearby(connection, lat=0.0, lng=180.0, radius_m=1000)
    assert sorted(r["name"] for r in across) == ["-0.002,179.9995", "0.0,-179.9995"]
    with pytest.raises(ValueError):
        search.nearby(connection, lat=BEIJING[0], lng=BEIJING[1], radius_m=0)


def test_within_finds_every_poi_nearby_for_the_duplicate_guard(connection, merchant, factory):
    other = factory.merchant()
    spots = {name: _destination(*BEIJING, d, 60) for name, d in
             [("own pending", 10), ("other live", 20), ("other pending", 30), ("own closed", 40), ("far", 60)]}
    _insert(connection, [
        _row(merchant.id, *spots["own pending"], name="own pending", live=False),
        _row(other.id, *spots["other live"], name="other live"),
        _row(other.id, *spots["other pending"], name="other pending", live=False),
        _row(merchant.id, *spots["own closed"], name="own closed", status="closed"),
        _row(merchant.id, *spots["far"], name="far"),
    ])
    found = search.within(connection, lat=BEIJING[0], lng=BEIJING[1], radius_m=50)
    assert [(f["name"], round(f["distance_m"])) for f in found] == [
        ("own pending", 10), ("other live", 20), ("other pending", 30), ("own closed", 40)]
    assert found[0]["merchant_id"] == merchant.id and found[0]["live"] is False
    assert set(found[0]) == {"id", "name", "merchant_id", "live", "status", "distance_m"}
    guarded = search.within(connection, lat=BEIJING[0], lng=BEIJING[1], radius_m=50, merchant_id=merchant.id)
    assert [f["name"] for f in guarded] == ["own pending", "other live", "own closed"]


def test_search_accepts_a_session_or_a_connection(db_session, merchant):
    _insert(db_session.connection(), [_row(merchant.id, *_destination(*BEIJING, 10, 0))])
    assert len(search.nearby(db_session, lat=BEIJING[0], lng=BEIJING[1], radius_m=100)) == 1
    assert len(search.within(db_session, lat=BEIJING[0], lng=BEIJING[1], radius_m=100)) == 1


# --- the index is used: never a full scan ------------------------------------------------------


def _explain(connection, prefix: str, name: str) -> list[tuple]:
    area = search._Area(connection.dialect.name, *BEIJING, 3000)
    params = dict(area.params, category="food", n=24, merchant_id=None)
    return search._fetch(connection, prefix + search.STATEMENTS[connection.dialect.name][name], params)


def test_the_rows_of_the_answer_are_read_by_key(connection, merchant):
    _insert(connection, _random_world(merchant.id))
    statement = search.STATEMENTS[connection.dialect.name]["nearby_rows"]
    if connection.dialect.name == "sqlite":
        plan = " | ".join(row[3] for row in search._fetch(connection, "EXPLAIN QUERY PLAN " + statement,
                                                          {"keys": "[1,2,3]"}))
        assert "USING INTEGER PRIMARY KEY (rowid=?)" in plan and "SCAN p" not in plan, plan
        one = " | ".join(row[3] for row in search._fetch(
            connection, "EXPLAIN QUERY PLAN " + search.STATEMENTS["sqlite"]["nearby_row"], {"key": 1}))
        assert "USING INTEGER PRIMARY KEY (rowid=?)" in one and "SCAN p" not in one, one
    else:
        connection.execute(text("ANALYZE pois"))
        plan = "\n".join(row[0] for row in search._fetch(connection, "EXPLAIN " + statement,
                                                          {"keys": ["poi_a", "poi_b"]}))
        assert "Seq Scan" not in plan and "pk_pois" in plan, plan
        one = "\n".join(row[0] for row in search._fetch(
            connection, "EXPLAIN " + search.STATEMENTS["postgresql"]["nearby_row"], {"key": "poi_a"}))
        assert "Seq Scan" not in one and "pk_pois" in one, one


def _china_spread(merchant_id: str, count: int = 4000, seed: int = 5) -> list[dict]:
    """POIs spread over China, as most of a real table is: far from any one query's circle."""
    rng = random.Random(seed)
    return [_row(merchant_id, rng.uniform(18, 54), rng.uniform(73, 135), name=f"远{n}",
                 category=rng.choice(CATEGORIES)) for n in range(count)]


@pytest.mark.parametrize("name", ["nearby", "nearby_category", "within"])
def test_the_query_plan_reads_the_spatial_index(connection, merchant, name):
    # Beijing's cluster plus the rest of the country: in the cluster alone (most of the table
    # within one circle) PostgreSQL rightly prefers the category index for nearby_category
    _insert(connection, _random_world(merchant.id) + _china_spread(merchant.id))
    if connection.dialect.name == "sqlite":
        plan = " | ".join(row[3] for row in _explain(connection, "EXPLAIN QUERY PLAN ", name))
        assert f"INDEX {search.INDEX_NAME} (<expr>=? AND lng>? AND lng<?)" in plan, plan
        assert "SCAN pois" not in plan and "SCAN p " not in plan, plan
        if name != "within":  # the table is read only for the rows returned
            assert f"COVERING INDEX {search.INDEX_NAME}" in plan, plan
    else:
        connection.execute(text("ANALYZE pois"))
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(row[0] for row in _explain(connection, "EXPLAIN ", name))
        connection.execute(text("SET LOCAL enable_seqscan = on"))
        # an index (only) scan, or a bitmap scan of it (possibly ANDed with the category index)
        assert re.search(rf"(Index Only Scan|Index Scan) using {search.INDEX_NAME} on pois"
                         rf"|Bitmap Index Scan on {search.INDEX_NAME}", plan), plan
        assert "Seq Scan" not in plan, plan
        # the strips and the longitude range are index conditions, not filters
        assert re.search(rf"Index Cond: \(\(floor\(\(lat \* '{search.STRIPS_PER_DEGREE}'::double precision\)\) = ANY .*"
                         r"AND \(lng >= ", plan), plan


# --- within_many: the duplicate guard of a whole batch -------------------------------------------


def test_within_many_is_within_of_each_point(connection, merchant):
    """One statement for a batch's points finds, per point, exactly what within() finds."""
    rows = _random_world(merchant.id)
    _insert(connection, rows)
    rng = random.Random(7)
    # points on stored POIs (found at distance 0), a few metres off them, across a strip edge
    # (39.92° = strip 998 of 0.04°), and far from everything
    edge = 998 / search.STRIPS_PER_DEGREE
    points = [(r["lat"], r["lng"]) for r in rows[:40]]
    points += [_destination(r["lat"], r["lng"], rng.uniform(1, 60), rng.uniform(0, 360)) for r in rows[40:120]]
    points += [(edge + 0.00001 * k, 116.3975 + 0.0001 * k) for k in range(-3, 4)]
    points += [(10.0, 10.0), BEIJING]
    for radius in (50, 400):
        many = search.within_many(connection, points, radius)
        for point, found in zip(points, many, strict=True):
            one = search.within(connection, lat=point[0], lng=point[1], radius_m=radius)
            assert [(f["id"], f["distance_m"], f["live"], f["name"], f["merchant_id"]) for f in found] == \
                [(f["id"], f["distance_m"], f["live"], f["name"], f["merchant_id"]) for f in one]
    assert search.within_many(connection, [], 50) == []


def test_within_many_reads_the_spatial_index(connection, merchant):
    _insert(connection, _random_world(merchant.id))
    points = [BEIJING, (BEIJING[0] + 0.01, BEIJING[1])]
    statement = search.STATEMENTS[connection.dialect.name]["within_many"]
    if connection.dialect.name == "sqlite":
        boxes = json.dumps([[0, 997, 116.39, 116.40, 39.90, 39.91]])
        plan = " | ".join(row[3] for row in search._fetch(connection, "EXPLAIN QUERY PLAN " + statement,
                                                          {"boxes": boxes}))
        assert f"INDEX {search.INDEX_NAME} (<expr>=? AND lng>? AND lng<?)" in plan, plan
        assert "SCAN p " not in plan and "SCAN pois" not in plan, plan
    else:
        connection.execute(text("ANALYZE pois"))
        params = {"k": [0, 1], "strip": [997.0, 998.0], "lng_min": [116.39] * 2, "lng_max": [116.40] * 2,
                  "lat_min": [39.90] * 2, "lat_max": [39.91] * 2}
        plan = "\n".join(row[0] for row in search._fetch(connection, "EXPLAIN " + statement, params))
        assert "Seq Scan on pois" not in plan, plan
        assert search.INDEX_NAME in plan, plan
    assert len(search.within_many(connection, points, 50)) == 2
