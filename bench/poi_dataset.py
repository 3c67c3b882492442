"""A deterministic POI data set for the POI benchmarks (PERFORMANCE.md §1's shape), loaded fast.

Placement (seeded): 70 % in 20 Gaussian clusters around real Chinese city centres (σ = 0.1°,
about 11 km), 30 % uniform over the China-sized box lat 18–54, lng 73–135. 90 % of POIs are live
and 90 % of those are open (the rest temporarily closed or closed), in 8 categories, with one of a
few opening-hours templates. Rows go straight into the migrated ``pois`` table with the raw driver:
``sqlite3.executemany`` in one transaction, or psycopg's ``COPY`` on PostgreSQL.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator

CITY_CENTRES = [  # (name, lat, lng) in GCJ-02, roughly
    ("北京", 39.9087, 116.3975), ("上海", 31.2304, 121.4737), ("广州", 23.1291, 113.2644),
    ("深圳", 22.5431, 114.0579), ("成都", 30.5728, 104.0668), ("杭州", 30.2741, 120.1551),
    ("重庆", 29.5630, 106.5516), ("武汉", 30.5928, 114.3055), ("西安", 34.3416, 108.9398),
    ("南京", 32.0603, 118.7969), ("天津", 39.3434, 117.3616), ("苏州", 31.2990, 120.5853),
    ("长沙", 28.2282, 112.9388), ("郑州", 34.7466, 113.6254), ("东莞", 23.0207, 113.7518),
    ("青岛", 36.0671, 120.3826), ("沈阳", 41.8057, 123.4315), ("宁波", 29.8683, 121.5440),
    ("昆明", 24.8801, 102.8329), ("厦门", 24.4798, 118.0894),
]
CATEGORIES = ["food", "hotel", "homestay", "scenic_spot", "leisure", "beauty", "murder_mystery", "shopping"]
CLUSTER_SHARE = 0.70
CLUSTER_SIGMA_DEG = 0.1
BOX = (18.0, 54.0, 73.0, 135.0)  # lat min, lat max, lng min, lng max

HOURS_TEMPLATES = [
    json.dumps({"weekly": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                            "open": "10:00", "close": "22:00"}]}),
    json.dumps({"weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "open": "09:00", "close": "18:00"}]}),
    json.dumps({"weekly": [{"days": ["fri", "sat"], "open": "18:00", "close": "02:00"},
                           {"days": ["sun", "mon", "tue", "wed", "thu"], "open": "18:00", "close": "24:00"}]}),
    json.dumps({"weekly": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                            "open": "00:00", "close": "24:00"}]}),
    "{}",
]

COLUMNS = (
    "id", "merchant_id", "source_app_id", "external_id", "name", "category", "attributes", "address",
    "province", "city", "district", "lat", "lng", "images", "phone", "opening_hours", "status",
    "rating", "rating_count", "quality_tags", "live", "review_status", "content_digest",
    "created_at", "updated_at",
)


def points(count: int, seed: int = 42) -> Iterator[tuple[float, float, str]]:
    """``(lat, lng, city)`` for ``count`` POIs."""
    rng = random.Random(seed)
    for _ in range(count):
        if rng.random() < CLUSTER_SHARE:
            city, lat, lng = rng.choice(CITY_CENTRES)
            yield lat + rng.gauss(0, CLUSTER_SIGMA_DEG), lng + rng.gauss(0, CLUSTER_SIGMA_DEG), city
        else:
            yield rng.uniform(BOX[0], BOX[1]), rng.uniform(BOX[2], BOX[3]), "其他"


def rows(count: int, merchant_ids: list[str], *, seed: int = 42, postgres: bool = False) -> Iterator[tuple]:
    rng = random.Random(seed + 1)
    now = "2026-11-30T00:00:00+00:00" if postgres else "2026-11-30 00:00:00.000000"
    true, false = (True, False) if postgres else (1, 0)
    for n, (lat, lng, city) in enumerate(points(count, seed)):
        live = rng.random() < 0.9
        roll = rng.random()
        status = "open" if roll < 0.9 else ("temporarily_closed" if roll < 0.95 else "closed")
        yield (
            f"poi_bench{n:08d}", merchant_ids[n % len(merchant_ids)], None, f"bench-{n}",
            f"店铺{n}", CATEGORIES[n % len(CATEGORIES)], "{}", f"{city}某路{n % 999}号",
            "某省", city, "某区", lat, lng, '["https://img.example/p.jpg"]', "", rng.choice(HOURS_TEMPLATES),
            status, round(rng.uniform(3.0, 5.0), 1), rng.randrange(0, 500), "[]",
            true if live else false, "approved" if live else "pending", "", now, now,
        )


def load_sqlite(path: str, count: int, merchant_ids: list[str], *, seed: int = 42) -> float:
    """Insert ``count`` POIs into the migrated SQLite database at ``path``; seconds taken."""
    import sqlite3

    started = time.perf_counter()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    placeholders = ", ".join("?" for _ in COLUMNS)
    with connection:
        connection.executemany(
            f"INSERT INTO pois ({', '.join(COLUMNS)}) VALUES ({placeholders})",
            rows(count, merchant_ids, seed=seed),
        )
    connection.execute("ANALYZE")
    connection.close()
    return time.perf_counter() - started


def load_postgres(dsn: str, count: int, merchant_ids: list[str], *, seed: int = 42) -> float:
    """COPY ``count`` POIs into the migrated PostgreSQL database; seconds taken."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(dsn) as connection:
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY pois ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows(count, merchant_ids, seed=seed, postgres=True):
                    copy.write_row(row)
        connection.execute("ANALYZE pois")
    return time.perf_counter() - started


def query_points(kind: str, count: int, seed: int = 7) -> list[tuple[float, float]]:
    """Query centres: ``dense`` around the city centres (σ = 0.05°), ``sparse`` uniform over the box."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        if kind == "dense":
            _, lat, lng = rng.choice(CITY_CENTRES)
            out.append((lat + rng.gauss(0, CLUSTER_SIGMA_DEG / 2), lng + rng.gauss(0, CLUSTER_SIGMA_DEG / 2)))
        else:
            out.append((rng.uniform(BOX[0], BOX[1]), rng.uniform(BOX[2], BOX[3])))
    return out
