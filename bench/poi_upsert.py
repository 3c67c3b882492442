#!/usr/bin/env python
"""Partner batch upsert of 100,000 POIs through the API vs a raw-driver executemany upsert.

    .venv/bin/python bench/poi_upsert.py --quick          # 10 k POIs, 1 repetition (~1 min)
    .venv/bin/python bench/poi_upsert.py                  # SQLite on tmpfs, 100 k POIs, 3 repetitions
    createdb -h 127.0.0.1 shijing_bench_upsert            # a scratch database: its schema public is reset
    .venv/bin/python bench/poi_upsert.py --database-url postgresql://127.0.0.1:5432/shijing_bench_upsert
    .venv/bin/python bench/poi_upsert.py --profile        # in-process: where the time of a batch goes

Goal (issue 4): ``POST /v1/merchants/{merchant_id}/pois/batch``, 500 validated items per call, stores
rows at >= 0.20x the rows/s of a raw ``sqlite3`` ``executemany`` upsert on SQLite and >= 0.50x a raw
psycopg ``executemany`` upsert on PostgreSQL.

Both sides store the same 100,000 POIs (realistic payloads: every category with valid attributes,
opening hours with overnight ranges and holidays, coordinates in the partner's system — GCJ-02, WGS-84
or BD-09 — spread over 20 city clusters and the rest of China, unique external ids, two merchants)
into the same ``pois`` table of the same database (migrated and seeded by ``shijing demo``), which
already holds ``--base`` (100,000) POIs of bench/poi_dataset.py that the partner synced earlier,
bulk-loaded and analysed:

- API: one gunicorn process (``bench/wsgi.py``, sync workers = cores, every middleware on, rate
  limits counted), batches of 500 pre-encoded JSON bodies sent by ``--concurrency`` client threads
  (default = workers) with a real client-credentials token of the demo partner app. A batch does what
  production does: validation (schemas, category attributes, opening hours, coordinates), digest,
  duplicate guard (one spatial query for the batch's new POIs), the POI row and its pending review
  submission, the commit of the request's unit of work.
- raw: ``INSERT … ON CONFLICT(source_app_id, external_id) DO UPDATE`` of the same rows (already as
  column tuples, GCJ-02, JSON text) with ``executemany`` on one raw connection (``sqlite3`` with the
  gateway's pragmas, or psycopg, which pipelines it), one transaction per 500 rows like the API.

Each repetition runs both sides in turn (order reversed on every other repetition), each on a table
emptied of the benchmark's rows (not timed: DELETE, and VACUUM on PostgreSQL): pass 1 creates all
rows; pass 2 resends the same 100,000 (API: every item ``unchanged``; raw: every row conflicts and is
rewritten). Ratios are per repetition, reported as median [min–max]. After every API pass the
responses are checked (every item ``created``, then ``unchanged`` with the same ids) and so is the
table (row count, one pending review submission per POI). Bounded: count, repetitions, a per-request
timeout and ``--max-minutes`` for the whole run; the gunicorn arbiter is stopped by its PID.

``--profile`` runs the batch path in this process (no server, bench/profile_inprocess.py's
``InProcess``) under cProfile and a SQLAlchemy cursor-event timer, and prints where the time of an
item goes: validation, digest, duplicate guard, lookups, each statement, commit, the response.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import shutil
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import poi_dataset
from bench.harness import (
    REPO_ROOT,
    AutogroupNice,
    CpuMeter,
    Server,
    cores,
    http,
    machine_summary,
    ratio_stats,
    scratch_dir,
    summarise,
    write_results,
)
from bench.http_ratios import client_credentials, seed, server_env
from bench.poi_nearby import _dsn, reset_postgres, sqlite_path

TARGETS = {"sqlite": 0.20, "postgresql": 0.50}
PREFIX = "ub-"  # every external id the benchmark writes: what the clean-up deletes
MIN_SPACING_M = 60  # > the duplicate guard's 50 m: distinct places, so every item is created
COORD_SHARES = (("gcj02", 0.60), ("wgs84", 0.25), ("bd09", 0.15))
APP_KEY = "__app__"

# --- realistic payloads ----------------------------------------------------------------------------

PROVINCES = {
    "北京": "北京市", "上海": "上海市", "天津": "天津市", "重庆": "重庆市", "广州": "广东省", "深圳": "广东省",
    "东莞": "广东省", "成都": "四川省", "杭州": "浙江省", "宁波": "浙江省", "武汉": "湖北省", "西安": "陕西省",
    "南京": "江苏省", "苏州": "江苏省", "长沙": "湖南省", "郑州": "河南省", "青岛": "山东省", "沈阳": "辽宁省",
    "昆明": "云南省", "厦门": "福建省",
}
COUNTY_TOWNS = [("河北省", "保定市"), ("山西省", "大同市"), ("内蒙古自治区", "呼伦贝尔市"), ("甘肃省", "张掖市"),
                ("新疆维吾尔自治区", "喀什地区"), ("西藏自治区", "林芝市"), ("青海省", "海西州"),
                ("黑龙江省", "牡丹江市"), ("贵州省", "黔东南州"), ("广西壮族自治区", "桂林市")]
DISTRICTS = ["城关区", "高新区", "新城区", "开发区", "滨江区", "东城区", "南山区", "锦江区"]
ROADS = ["人民路", "解放路", "中山路", "建设路", "和平街", "文化路", "新华路", "长江路", "春熙路", "学府路"]
BRANDS = {
    "food": ["蜀香火锅", "老北京炸酱面", "粤式茶餐厅", "湘味小厨", "兰州牛肉面", "东北饺子馆", "鮨·日料", "韩式烤肉"],
    "hotel": ["锦江之星", "如家酒店", "全季酒店", "亚朵酒店", "汉庭酒店"],
    "homestay": ["山居小院民宿", "花间堂", "云上民宿", "溪畔人家"],
    "scenic_spot": ["湿地公园", "古镇景区", "植物园", "民俗博物馆"],
    "leisure": ["足道养生馆", "台球俱乐部", "密室逃脱馆", "清吧"],
    "beauty": ["美发沙龙", "美甲工作室", "美容SPA"],
    "murder_mystery": ["推理社剧本杀", "谜踪剧本杀", "探案馆"],
    "ktv": ["纯K", "星聚会KTV", "麦乐迪KTV"],
    "fitness": ["超级猩猩", "乐刻健身", "游泳健身会所"],
}
CATEGORY_WEIGHTS = {"food": 40, "hotel": 12, "homestay": 6, "scenic_spot": 5, "leisure": 10, "beauty": 10,
                    "murder_mystery": 5, "ktv": 5, "fitness": 7}


def _some(rng: random.Random, values, low: int = 1, high: int = 4) -> list:
    return rng.sample(list(values), rng.randint(low, min(high, len(values))))


def attributes_for(category: str, rng: random.Random) -> dict:
    """Valid category attributes (gateway/poi/categories.py), a few of them as partners send."""
    from gateway.poi import categories as c

    makers = {
        "food": lambda: {"cuisine": rng.choice(c.CUISINES), "avg_price_per_person": rng.randrange(2000, 30000, 100),
                         "reservations": rng.random() < 0.5, "seats": rng.randint(20, 300)},
        "hotel": lambda: {"star_rating": rng.randint(2, 5), "check_in_time": "14:00", "check_out_time": "12:00",
                          "room_count": rng.randint(30, 400), "facilities": _some(rng, c.HOTEL_FACILITIES, 2, 5)},
        "homestay": lambda: {"max_guests": rng.randint(2, 10), "room_count": rng.randint(2, 20),
                             "pets_allowed": rng.random() < 0.3, "check_in_time": "15:00"},
        "scenic_spot": lambda: {"level": rng.choice(["AA", "AAA", "AAAA", "AAAAA"]), "ticket_required": True,
                                "suggested_visit_hours": rng.choice([1.5, 2, 3, 4])},
        "leisure": lambda: {"kind": rng.choice(c.LEISURE_KINDS), "avg_price_per_person": rng.randrange(3000, 20000, 100),
                            "open_24h": rng.random() < 0.2},
        "beauty": lambda: {"services": _some(rng, c.BEAUTY_SERVICES), "appointment_required": rng.random() < 0.6,
                           "stylist_count": rng.randint(2, 30)},
        "murder_mystery": lambda: {"genres": _some(rng, c.MYSTERY_GENRES, 1, 3), "min_players": 4, "max_players": 8,
                                   "rooms": rng.randint(2, 12), "scripts": [
                                       {"title": f"剧本{rng.randint(1, 500)}", "min_players": 5, "max_players": 7,
                                        "duration_minutes": 240} for _ in range(rng.randint(1, 3))]},
        "ktv": lambda: {"room_sizes": _some(rng, c.KTV_ROOM_SIZES, 2, 4), "room_count": rng.randint(10, 80),
                        "food_served": rng.random() < 0.5},
        "fitness": lambda: {"facilities": _some(rng, c.FITNESS_FACILITIES, 2, 5), "open_24h": rng.random() < 0.4},
    }
    maker = makers.get(category)
    return maker() if maker else {}


def opening_hours_for(rng: random.Random) -> dict:
    """One of poi_dataset's templates (overnight ranges, 24 h, office hours, none), in the partner's
    full form: a time zone, and now and then holidays and special opening ranges."""
    hours = json.loads(rng.choice(poi_dataset.HOURS_TEMPLATES))
    if not hours:
        return {}
    hours["timezone"] = "Asia/Shanghai"
    roll = rng.random()
    if roll < 0.2:
        hours["special_days"] = [{"date": "2026-10-01", "closed": True, "note": "国庆"},
                                 {"date": "2027-02-06", "closed": True, "note": "春节"}]
    elif roll < 0.3:
        hours["special_days"] = [{"date": "2026-12-31", "ranges": [{"open": "10:00", "close": "02:00"}]}]
    return hours


def _spaced_points(count: int, taken: list[tuple[float, float]], seed: int) -> list[tuple[float, float, str]]:
    """poi_dataset's placement, skipping points within MIN_SPACING_M of one already placed (or of
    ``taken``, the POIs already in the database)."""
    from gateway.poi.geo import distance_m, in_china

    grid: dict[tuple[int, int], list[tuple[float, float]]] = {}

    def near(lat: float, lng: float) -> bool:
        cell = (int(lat * 1000), int(lng * 1000))  # 0.001° ≥ 90 m in China: neighbours are adjacent cells
        return any(distance_m(lat, lng, a, b) < MIN_SPACING_M
                   for dx in (-1, 0, 1) for dy in (-1, 0, 1) for a, b in grid.get((cell[0] + dx, cell[1] + dy), ()))

    def add(lat: float, lng: float) -> None:
        grid.setdefault((int(lat * 1000), int(lng * 1000)), []).append((lat, lng))

    for lat, lng in taken:
        add(lat, lng)
    out = []
    for lat, lng, city in poi_dataset.points(count * 3, seed):
        if len(out) == count:
            break
        lat, lng = round(lat, 6), round(lng, 6)
        if in_china(lng, lat) and not near(lat, lng):
            add(lat, lng)
            out.append((lat, lng, city))
    if len(out) < count:
        raise RuntimeError("could not place the POIs")
    return out


def payloads(count: int, taken: list[tuple[float, float]], seed: int = 1042) -> tuple[list[dict], list[tuple]]:
    """``count`` batch items as a partner sends them, and the GCJ-02 point each one stores (placed
    like poi_dataset's, with another seed than the base POIs')."""
    from gateway.poi.geo import from_gcj02

    rng = random.Random(seed + 2)
    categories = list(CATEGORY_WEIGHTS)
    weights = list(CATEGORY_WEIGHTS.values())
    systems, system_weights = zip(*COORD_SHARES)
    items, stored = [], []
    for n, (lat, lng, city) in enumerate(_spaced_points(count, taken, seed)):
        category = rng.choices(categories, weights)[0]
        if city in PROVINCES:
            province, city_name = PROVINCES[city], city + ("市" if not city.endswith("市") else "")
        else:
            province, city_name = rng.choice(COUNTY_TOWNS)
        district, road = rng.choice(DISTRICTS), rng.choice(ROADS)
        number = rng.randint(1, 999)
        system = rng.choices(systems, system_weights)[0]
        send_lng, send_lat = from_gcj02(lng, lat, system)
        item = {
            "external_id": f"{PREFIX}{n:07d}",
            "name": f"{rng.choice(BRANDS[category])}（{road}{number}号店）",
            "category": category,
            "attributes": attributes_for(category, rng),
            "address": f"{city_name}{district}{road}{number}号",
            "province": province, "city": city_name, "district": district,
            "lat": round(send_lat, 7), "lng": round(send_lng, 7), "coord_system": system,
            "phone": f"0{rng.randint(10, 999)}-{rng.randint(1000_0000, 9999_9999)}",
            "opening_hours": opening_hours_for(rng),
            "images": [f"https://img.example.com/poi/{n}/{k}.jpg" for k in range(rng.randint(1, 3))],
            "status": "open" if rng.random() < 0.95 else "temporarily_closed",
        }
        items.append(item)
        stored.append((lat, lng))
    return items, stored


def check_sample(items: list[dict], sample: int = 500) -> None:
    """Fail fast (before any timing) if the generator drifted from the category schemas or hours rules."""
    from gateway.poi import categories, hours

    for item in items[:sample]:
        problems = categories.validate_attributes(item["category"], item["attributes"])
        if item["opening_hours"]:
            problems += hours.validate_opening_hours(item["opening_hours"], "opening_hours")
        if problems:
            raise RuntimeError(f"generated item {item['external_id']} is invalid: {problems}")


# --- the raw side --------------------------------------------------------------------------------

UPDATED = [c for c in poi_dataset.COLUMNS if c not in ("id", "merchant_id", "source_app_id", "external_id",
                                                      "created_at")]


def raw_rows(items, stored, merchants: list[str], app_id: str, batch: int, *, postgres: bool) -> list[tuple]:
    """The column tuples of the same POIs as the API stores them (pending, GCJ-02, JSON text)."""
    from gateway.ids import new_id

    now = datetime.now(UTC)
    stamp = now if postgres else now.strftime("%Y-%m-%d %H:%M:%S.%f")
    false = False if postgres else 0
    rows = []
    for n, (item, (lat, lng)) in enumerate(zip(items, stored)):
        values = {
            "id": new_id("poi"), "merchant_id": merchants[(n // batch) % len(merchants)], "source_app_id": app_id,
            "external_id": item["external_id"], "name": item["name"], "category": item["category"],
            "attributes": _json(item["attributes"]), "address": item["address"], "province": item["province"],
            "city": item["city"], "district": item["district"], "lat": lat, "lng": lng,
            "images": _json(item["images"]), "phone": item["phone"], "opening_hours": _json(item["opening_hours"]),
            "status": item["status"], "rating": None, "rating_count": 0, "quality_tags": "[]", "live": false,
            "review_status": "pending",
            "content_digest": hashlib.sha256(_json(item, sort_keys=True).encode()).hexdigest(),
            "created_at": stamp, "updated_at": stamp,
        }
        rows.append(tuple(values[c] for c in poi_dataset.COLUMNS))
    return rows


def _json(value, sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)


def upsert_sql(postgres: bool) -> str:
    mark = "%s" if postgres else "?"
    return (f"INSERT INTO pois ({', '.join(poi_dataset.COLUMNS)}) VALUES ({', '.join(mark for _ in poi_dataset.COLUMNS)}) "
            f"ON CONFLICT (source_app_id, external_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in UPDATED))


class Store:
    """Raw-driver access to the benchmark's database: the baseline upsert, counts, clean-up."""

    def __init__(self, database_url: str, sqlite_file: str) -> None:
        self.postgres = bool(database_url)
        self.dsn = _dsn(database_url) if database_url else sqlite_file
        self.mark = "%s" if self.postgres else "?"

    def connect(self):
        if self.postgres:
            import psycopg

            return psycopg.connect(self.dsn)
        import sqlite3

        connection = sqlite3.connect(self.dsn, timeout=30)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
            connection.execute(f"PRAGMA {pragma}")  # as gateway.db's engine
        return connection

    def upsert(self, rows: list[tuple], batch: int) -> float:
        """Seconds to upsert ``rows`` with executemany, one transaction per ``batch`` rows."""
        sql = upsert_sql(self.postgres)
        connection = self.connect()
        try:
            started = time.perf_counter()
            cursor = connection.cursor()
            for start in range(0, len(rows), batch):
                cursor.executemany(sql, rows[start:start + batch])
                connection.commit()
            return time.perf_counter() - started
        finally:
            connection.close()

    def query(self, sql: str, *params):
        connection = self.connect()
        try:
            return connection.execute(sql.replace("?", self.mark), params).fetchall()
        finally:
            connection.close()

    def analyse(self) -> None:
        """Fresh statistics (what autovacuum, off on this machine's PostgreSQL, would keep): before
        the checks and the clean-up, review_submissions analysed while empty would look like 8 rows
        and the semi-joins below would run as nested loops over 100,000 × 200,000 rows."""
        if self.postgres:
            import psycopg

            with psycopg.connect(self.dsn, autocommit=True) as connection:
                connection.execute("ANALYZE pois")
                connection.execute("ANALYZE review_submissions")

    def counts(self, app_id: str) -> tuple[int, int]:
        """(benchmark POIs, their pending review submissions)."""
        self.analyse()
        pois = self.query("SELECT count(*) FROM pois WHERE source_app_id = ? AND external_id LIKE ?",
                          app_id, PREFIX + "%")[0][0]
        pending = self.query(
            "SELECT count(*) FROM review_submissions WHERE subject_type = 'poi' AND status = 'pending' AND subject_id IN "
            "(SELECT id FROM pois WHERE source_app_id = ? AND external_id LIKE ?)", app_id, PREFIX + "%")[0][0]
        return pois, pending

    def clean(self, app_id: str) -> None:
        """Delete the benchmark's rows (not timed), so each side starts from the same table."""
        self.analyse()
        connection = self.connect()
        try:
            for table in ("review_submissions", "pois"):
                where = ("subject_type = 'poi' AND subject_id IN (SELECT id FROM pois WHERE source_app_id = ? AND "
                         "external_id LIKE ?)") if table != "pois" else "source_app_id = ? AND external_id LIKE ?"
                connection.execute(f"DELETE FROM {table} WHERE {where}".replace("?", self.mark), (app_id, PREFIX + "%"))
            connection.commit()
        finally:
            connection.close()
        if self.postgres:
            import psycopg

            with psycopg.connect(self.dsn, autocommit=True) as connection:
                connection.execute("VACUUM ANALYZE pois")
                connection.execute("VACUUM ANALYZE review_submissions")

    def load_base(self, count: int, merchants: list[str], app_id: str) -> float:
        """The POIs the partner already synced (external ids ``bench-N``, never cleaned), bulk-loaded
        and analysed, so both sides write into a populated table whose statistics say so.

        Why it matters on PostgreSQL: with statistics of a table where the partner has no rows
        (autovacuum is off on this machine, so they never catch up) the planner runs the duplicate
        guard's query as a sequential scan and the lookup by external id as a scan of all the
        partner's rows, and both grow with every batch: the run measures the stale statistics."""
        if not count:
            return 0.0
        started = time.perf_counter()
        if self.postgres:
            poi_dataset.load_postgres(self.dsn, count, merchants)
        else:
            poi_dataset.load_sqlite(self.dsn, count, merchants)
        connection = self.connect()
        connection.execute("UPDATE pois SET source_app_id = ? WHERE external_id LIKE ?".replace("?", self.mark),
                           (app_id, "bench-%"))
        connection.commit()
        connection.close()
        self.analyse()
        return time.perf_counter() - started

    def points(self) -> list[tuple[float, float]]:
        return [(lat, lng) for lat, lng in self.query("SELECT lat, lng FROM pois")]


# --- the API side --------------------------------------------------------------------------------


def batch_bodies(items: list[dict], batch: int) -> list[bytes]:
    return [json.dumps({"items": items[i:i + batch]}, ensure_ascii=False).encode() for i in range(0, len(items), batch)]


def send_all(base_url: str, token: str, merchants: list[str], bodies: list[bytes], concurrency: int,
             timeout: float) -> tuple[float, list[tuple[int, bytes]]]:
    """POST every body (batch k to merchant k mod 2) from ``concurrency`` threads; (seconds, responses)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(k: int) -> tuple[int, bytes]:
        url = f"{base_url}/v1/merchants/{merchants[k % len(merchants)]}/pois/batch"
        return http("POST", url, headers=headers, data=bodies[k], timeout=timeout)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        responses = list(pool.map(post, range(len(bodies))))
    return time.perf_counter() - started, responses


def check_responses(responses: list[tuple[int, bytes]], expected: str, ids: dict | None) -> dict[str, str]:
    """Every batch answered 200 and every item has the ``expected`` result (with the same id as
    before when ``ids`` is given). Returns external id -> POI id."""
    seen: dict[str, str] = {}
    problems = []
    for k, (status, body) in enumerate(responses):
        if status != 200:
            problems.append(f"batch {k}: HTTP {status} {body[:300]!r}")
            continue
        for row in json.loads(body)["results"]:
            if row["result"] != expected:
                problems.append(f"batch {k} item {row['index']} ({row['external_id']}): {row['result']} "
                                f"{json.dumps(row.get('error'), ensure_ascii=False)[:300]}")
            elif ids is not None and ids.get(row["external_id"]) != row["id"]:
                problems.append(f"{row['external_id']}: id {row['id']} != {ids.get(row['external_id'])}")
            seen[row["external_id"]] = row["id"]
    if problems:
        raise RuntimeError(f"{len(problems)} unexpected results, first: " + "; ".join(problems[:5]))
    return seen


# --- the run -------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000, help="POIs per pass")
    parser.add_argument("--base", type=int, default=100_000,
                        help="POIs already in the table (bench/poi_dataset.py, bulk-loaded, analysed) before both sides")
    parser.add_argument("--batch", type=int, default=500, help="items per API call and rows per raw transaction")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (>= 3 for a verdict)")
    parser.add_argument("--workers", type=int, default=cores(), help="gunicorn sync workers (default: cores)")
    parser.add_argument("--concurrency", type=int, default=0, help="client threads sending batches (default: workers)")
    parser.add_argument("--quick", action="store_true", help="10 k POIs, 1 repetition")
    parser.add_argument("--profile", action="store_true", help="in-process profile of the batch path instead")
    parser.add_argument("--profile-batches", type=int, default=20, help="batches per profiled pass")
    parser.add_argument("--database-url", default="", help="PostgreSQL scratch database (schema public is reset)")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--nice", type=int, default=0, help="gunicorn and this process under `nice -n N` (root: -10)")
    parser.add_argument("--request-timeout", type=float, default=120.0)
    parser.add_argument("--max-minutes", type=float, default=45.0, help="stop between passes after this long")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    args.prometheus_multiproc = False
    args.concurrency = args.concurrency or args.workers
    if args.quick:
        args.count, args.reps, args.base = 10_000, 1, min(args.base, 10_000)
    if not (1000 <= args.count <= 500_000 and 0 <= args.base <= 2_000_000 and 1 <= args.batch <= 500 and 1 <= args.reps <= 10
            and 1 <= args.workers <= 16 and 1 <= args.concurrency <= 32 and -20 <= args.nice <= 19
            and 1 <= args.profile_batches <= 200 and 1 <= args.request_timeout <= 600
            and 1 <= args.max_minutes <= 180):
        parser.error("bounded runs only: 1k-500k POIs, a base of <= 2M, batches of 1-500, 1-10 repetitions, <= 180 minutes")
    if args.database_url:
        if not args.database_url.startswith(("postgres://", "postgresql")):
            parser.error("--database-url must be PostgreSQL (the default is SQLite on tmpfs)")
        if args.database_url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] == "test":
            parser.error("refusing the test suite's `test` database: create a scratch one")
    return args


class Deadline:
    def __init__(self, minutes: float) -> None:
        self.end = time.monotonic() + minutes * 60

    def check(self, what: str) -> None:
        if time.monotonic() > self.end:
            raise TimeoutError(f"--max-minutes reached before {what}")


def measure(args, server: Server, store: Store, demo: dict, items, rows, bodies, deadline: Deadline) -> dict:
    app_id = demo["partner_app"]["client_id"]
    merchants = [m["id"] for m in demo["merchants"]]
    partner = demo["partner_app"]
    basic = "Basic " + base64.b64encode(f"{partner['client_id']}:{partner['client_secret']}".encode()).decode()
    results: dict[str, list] = {k: [] for k in ("raw_1", "raw_2", "api_1", "api_2", "api_cpu_1", "api_cpu_2",
                                                "foreign_1", "foreign_2")}
    n = len(items)

    def raw_side(rep: int) -> None:
        first = store.upsert(rows, args.batch)
        second = store.upsert(rows, args.batch)
        count, _ = store.counts(app_id)
        if count != n:
            raise RuntimeError(f"raw upsert stored {count} rows, expected {n}")
        results["raw_1"].append(n / first)
        results["raw_2"].append(n / second)
        print(f"rep {rep + 1}/{args.reps} raw  pass 1 {n / first:9,.0f} rows/s  pass 2 {n / second:9,.0f} rows/s",
              file=sys.stderr)
        store.clean(app_id)

    def api_side(rep: int) -> None:
        token = client_credentials(server.base_url, basic)
        timings = []
        ids = None
        for expected in ("created", "unchanged"):
            deadline.check(f"API pass {expected}")
            with CpuMeter(server.pids()) as cpu:
                seconds, responses = send_all(server.base_url, token, merchants, bodies, args.concurrency,
                                              args.request_timeout)
            ids = check_responses(responses, expected, ids)
            timings.append((seconds, cpu))
        count, pending = store.counts(app_id)
        if count != n or pending != n or len(ids) != n:
            raise RuntimeError(f"API stored {count} POIs with {pending} pending submissions, expected {n}")
        for k, (seconds, cpu) in enumerate(timings, 1):
            results[f"api_{k}"].append(n / seconds)
            results[f"api_cpu_{k}"].append(cpu.server_seconds / n * 1e6)
            results[f"foreign_{k}"].append(cpu.foreign_share)
        print(f"rep {rep + 1}/{args.reps} API  pass 1 {results['api_1'][-1]:9,.0f} rows/s  pass 2 "
              f"{results['api_2'][-1]:9,.0f} rows/s  server CPU {results['api_cpu_1'][-1]:.0f} / "
              f"{results['api_cpu_2'][-1]:.0f} µs/row  foreign {timings[0][1].foreign_share:.0%}  "
              f"(checked: {n} created, then unchanged; {count} rows, {pending} pending reviews)", file=sys.stderr)
        store.clean(app_id)

    # warm-up, not timed: both workers load the batch path, both sides touch the table once
    token = client_credentials(server.base_url, basic)
    warm = [dict(item, external_id=PREFIX + "w" + item["external_id"]) for item in items[:args.batch * 2]]
    _, responses = send_all(server.base_url, token, merchants, batch_bodies(warm, args.batch), args.concurrency,
                            args.request_timeout)
    check_responses(responses, "created", None)
    store.clean(app_id)
    store.upsert(rows[:args.batch * 2], args.batch)
    store.clean(app_id)

    for rep in range(args.reps):
        sides = [raw_side, api_side] if rep % 2 == 0 else [api_side, raw_side]
        for side in sides:
            deadline.check(f"repetition {rep + 1}")
            side(rep)
    return results


def render(meta: dict, results: dict) -> str:
    dialect = meta["dialect"]
    target = TARGETS[dialect]
    raw_label = ("`sqlite3` executemany upsert (WAL, synchronous=NORMAL)" if dialect == "sqlite"
                 else "psycopg executemany upsert (pipelined)")
    api_cpu = (f"{statistics.median(results['api_cpu_1']):.0f} / {statistics.median(results['api_cpu_2']):.0f}")
    foreign = max(results["foreign_1"] + results["foreign_2"])
    lines = [
        f"# Batch upsert of {meta['count']:,} POIs — {meta['started']}".replace(",", " "), "",
        (f"Database: {meta['database']}, holding {meta['base']:,} earlier POIs of the partner. Server: {meta['server']}, {meta['concurrency']} client threads, "
         f"batches of {meta['batch']}, {meta['reps']} repetition(s), raw side and API alternating."), "",
        f"Machine: {meta['machine']}", "",
        "| side | pass 1: create rows/s | pass 2: resend rows/s | server CPU µs/row (pass 1 / 2) | foreign CPU (max) |",
        "|---|---|---|---|---|",
        (f"| raw: {raw_label}, one transaction per {meta['batch']} rows | {summarise(results['raw_1']).fmt()} | "
         f"{summarise(results['raw_2']).fmt()} (every row rewritten) | – | – |"),
        (f"| API: `POST /v1/merchants/{{id}}/pois/batch`, real token, validated | {summarise(results['api_1']).fmt()} | "
         f"{summarise(results['api_2']).fmt()} (every item `unchanged`) | {api_cpu} | {foreign:.0%} |"), "",
        "| goal | API / raw rows/s, median [min–max] of per-repetition ratios | target | verdict |",
        "|---|---|---|---|",
    ]
    first = ratio_stats(results["api_1"], results["raw_1"])
    second = ratio_stats(results["api_2"], results["raw_2"])
    verdict = "(smoke run: no verdict)" if meta["reps"] < 3 else ("pass" if first.median >= target else "**miss**")
    lines.append(f"| pass 1 (create) {dialect} | {first.fmt(3)} | ≥ {target} | {verdict} |")
    lines.append(f"| pass 2 (resend, all unchanged) {dialect} | {second.fmt(3)} | reported | – |")
    lines += ["", (f"Checked after every API pass: {meta['count']} results `created`, then `unchanged` with the "
                   f"same ids; {meta['count']} rows in `pois` and one pending review submission each.")]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.profile:
        return profile(args)
    if args.nice:
        os.nice(args.nice)  # the raw side runs in this process: both sides get the same priority
    deadline = Deadline(args.max_minutes)
    scratch = scratch_dir("shijing-bench-poi-upsert-")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    try:
        server = Server({}, scratch, workers=args.workers, nice=0)  # gunicorn inherits our nice value
        env = server_env(scratch, args, server.port)
        server.env = env
        if args.database_url:
            reset_postgres(args.database_url)
        demo = seed(env)
        store = Store(args.database_url, sqlite_path(env))
        merchants = [m["id"] for m in demo["merchants"]]
        base_s = store.load_base(args.base, merchants, demo["partner_app"]["client_id"])
        items, stored = payloads(args.count, store.points())
        check_sample(items)
        rows = raw_rows(items, stored, merchants, demo["partner_app"]["client_id"], args.batch,
                        postgres=store.postgres)
        bodies = batch_bodies(items, args.batch)
        print(f"scratch {scratch}; base of {args.base} POIs loaded in {base_s:.0f} s; {len(items)} POIs in {len(bodies)} batches "
              f"(largest body {max(map(len, bodies)) / 1024:.0f} KiB); starting {server.describe()}", file=sys.stderr)
        with AutogroupNice(args.nice), server:
            results = measure(args, server, store, demo, items, rows, bodies, deadline)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    meta = {"started": started, "count": args.count, "base": args.base, "batch": args.batch, "reps": args.reps,
            "concurrency": args.concurrency, "dialect": "postgresql" if args.database_url else "sqlite",
            "server": f"{server.describe()} (`bench/wsgi.py`)",
            "database": ("PostgreSQL " + args.database_url.rsplit("@", 1)[-1]) if args.database_url
            else "SQLite file on tmpfs", "machine": machine_summary()}
    markdown = render(meta, results)
    print(markdown)
    if not args.no_save:
        path = write_results("poi-upsert" + ("-pg" if args.database_url else ""), markdown,
                             {"meta": meta, "results": results})
        print(f"saved {path.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0


# --- profile: where the time of a batch goes -----------------------------------------------------

# (label, path suffix, functions): inclusive time of those functions per item (one line each)
PHASES = [
    ("whole request (Flask app)", "flask/app.py", ("wsgi_app",)),
    ("· view `batch_upsert_pois`", "gateway/poi/views.py", ("batch_upsert_pois",)),
    ("·· request JSON parse", "gateway/http/requests.py", ("json_body",)),
    ("·· validate items (`_poi_item`)", "gateway/poi/services.py", ("_poi_item",)),
    ("··· compiled item check + digest (`_fast_batch_load`)", "gateway/poi/services.py", ("_fast_batch_load",)),
    ("··· marshmallow schema load (items the check refuses)", "gateway/poi/services.py", ("_load",)),
    ("··· coordinates → GCJ-02", "gateway/poi/services.py", ("_coordinates",)),
    ("··· category attributes (jsonschema)", "gateway/poi/categories.py", ("validate_attributes",)),
    ("··· opening-hours rules (remembered by JSON text)", "gateway/poi/services.py", ("_opening_hours_problems",)),
    ("··· content digest", "gateway/poi/services.py", ("digest_of",)),
    ("·· store (`run`)", "gateway/poi/services.py", ("run",)),
    ("··· existing rows by external id", "gateway/poi/services.py", ("_existing_rows",)),
    ("··· duplicate guard (`_duplicates_of`, one per batch)", "gateway/poi/services.py", ("_duplicates_of",)),
    ("···· spatial query (`search.within_many`)", "gateway/poi/search.py", ("within_many",)),
    ("···· name similarity", "gateway/poi/services.py", ("similar_names",)),
    ("··· pending submissions lookup", "gateway/poi/services.py", ("_pending",)),
    ("··· plan rows and submissions", "gateway/poi/services.py", ("_plan_insert", "_plan_update")),
    ("··· writes (`_execute`: INSERT/UPDATE executemany)", "gateway/poi/services.py", ("_execute",)),
    ("·· result rows", "gateway/poi/services.py", ("result_row",)),
    ("· commit (`Session.commit`)", "sqlalchemy/orm/session.py", ("commit",)),
    ("· response JSON (`jsonify`)", "flask/json/provider.py", ("response",)),
]


def _inclusive(stats: pstats.Stats) -> dict[str, float]:
    best: dict[tuple[str, str], float] = {}
    for (path, _, name), (_, _, _, cumulative, _) in stats.stats.items():
        for _, suffix, functions in PHASES:
            if path.endswith(suffix) and name in functions:
                # several functions may share a name in one file (Session.commit and
                # SessionTransaction.commit): the outermost has the largest inclusive time
                best[(suffix, name)] = max(best.get((suffix, name), 0.0), cumulative)
    return {label: sum(best[(suffix, f)] for f in functions if (suffix, f) in best)
            for label, suffix, functions in PHASES if any((suffix, f) in best for f in functions)}


def profile(args) -> int:
    """The batch path in-process: µs per item without a profiler, then the cProfile breakdown."""
    from sqlalchemy import event

    from bench.profile_inprocess import InProcess

    if args.database_url:
        reset_postgres(args.database_url)
    with InProcess(args.database_url) as bench:
        auth = bench.environs["merchant_auth"]["HTTP_AUTHORIZATION"]
        merchant = bench.environs["merchant_auth"]["PATH_INFO"].rsplit("/", 1)[-1]
        instance = bench.scratch / "instance"
        app_id = json.loads((instance / "demo-credentials.json").read_text())["partner_app"]["client_id"]
        store = Store(args.database_url, str(instance / "shijing.db"))
        store.load_base(args.base, [merchant], app_id)
        count = args.profile_batches * args.batch
        items, stored = payloads(count, store.points())
        check_sample(items)
        environs = [bench.build("POST", f"/v1/merchants/{merchant}/pois/batch",
                                {"Authorization": auth, "Content-Type": "application/json"}, body)
                    for body in batch_bodies(items, args.batch)]
        engine = bench.application.app.extensions["shijing.db"].engine  # bench/wsgi.py's project app
        sql_time: dict[str, list] = {}

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            conn.info["_bench_started"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):
            key = " ".join(statement.split()[:3])[:48]
            entry = sql_time.setdefault(key, [0.0, 0])
            entry[0] += time.perf_counter() - conn.info.pop("_bench_started")
            entry[1] += 1

        # the statements that skip Core's execute (no cursor events): the bulk INSERTs/COPY and the
        # duplicate guard's spatial query on the DBAPI cursor; timed with their Python around them
        import gateway.db
        import gateway.poi.search

        def timed(label, function):
            def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    entry = sql_time.setdefault(label(*args), [0.0, 0])
                    entry[0] += time.perf_counter() - started
                    entry[1] += 1
            return wrapper

        gateway.db.PrebuiltInsert.execute = timed(lambda self, *_: f"bulk INSERT {self.table.name} (+ params)",
                                                  gateway.db.PrebuiltInsert.execute)
        gateway.poi.search.driver_execute = timed(lambda _, sql, *__: "driver " + " ".join(sql.split()[:3])[:40],
                                                  gateway.poi.search.driver_execute)

        def run_pass(expected: str, profiler=None) -> float:
            responses = []
            started = time.process_time()
            if profiler:
                profiler.enable()
            for environ in environs:
                status, body = bench.call(environ)
                responses.append((int(status.split()[0]), body))
            if profiler:
                profiler.disable()
            elapsed = time.process_time() - started
            check_responses(responses, expected, None)
            return elapsed / count * 1e6

        plain = {"created": run_pass("created"), "unchanged": run_pass("unchanged")}
        store.clean(app_id)
        profiles = {}
        for expected in ("created", "unchanged"):
            sql_time.clear()
            profiler = cProfile.Profile()
            run_pass(expected, profiler)
            profiles[expected] = (profiler, dict(sql_time))
        store.clean(app_id)
        raw = _raw_costs(store, items, stored, app_id, merchant, args.batch)

    print(f"# In-process batch upsert profile: {args.profile_batches} batches × {args.batch} POIs, "
          f"{'PostgreSQL' if args.database_url else 'SQLite on tmpfs'}\n")
    print(f"CPU µs per item without a profiler: create {plain['created']:.0f}, resend (unchanged) "
          f"{plain['unchanged']:.0f}. Raw executemany upsert of the same rows: {raw['with_index']:.1f} µs per row "
          f"wall ({raw['without_index']:.1f} without the spatial index `ix_pois_nearby`).\n")
    inclusive = {k: _inclusive(pstats.Stats(profiler)) for k, (profiler, _) in profiles.items()}
    whole = {k: inclusive[k].get(PHASES[0][0]) or 1e-9 for k in inclusive}
    print("| phase (cProfile, inclusive; · = nesting) | create µs/item | share | resend µs/item | share |\n"
          "|---|---|---|---|---|")
    for label, _, _ in PHASES:
        cells = []
        for k in ("created", "unchanged"):
            value = inclusive[k].get(label)
            cells.append("– | –" if value is None else f"{value / count * 1e6:.0f} | {value / whole[k]:.0%}")
        print(f"| {label} | {cells[0]} | {cells[1]} |")
    print("\n| SQL statement (cursor execute, wall, under cProfile) | create µs/item | calls | resend µs/item | calls |\n"
          "|---|---|---|---|---|")
    created_sql, resend_sql = profiles["created"][1], profiles["unchanged"][1]
    for key in sorted(set(created_sql) | set(resend_sql), key=lambda k: -created_sql.get(k, [0.0])[0]):
        a, b = created_sql.get(key, [0.0, 0]), resend_sql.get(key, [0.0, 0])
        print(f"| `{key}` | {a[0] / count * 1e6:.1f} | {a[1]} | {b[0] / count * 1e6:.1f} | {b[1]} |")
    for expected in ("created", "unchanged"):
        out = io.StringIO()
        pstats.Stats(profiles[expected][0], stream=out).sort_stats("tottime").print_stats(25)
        print(f"\n## top functions by own time, pass `{expected}`\n\n```\n{out.getvalue()[-7000:]}\n```")
    return 0


def _raw_costs(store: Store, items, stored, app_id: str, merchant: str, batch: int) -> dict:
    """µs per row of the raw upsert of the same items, with and without the spatial index."""
    rows = raw_rows(items, stored, [merchant], app_id, batch, postgres=store.postgres)
    out = {"with_index": store.upsert(rows, batch) / len(rows) * 1e6}
    store.clean(app_id)
    connection = store.connect()
    connection.execute("DROP INDEX ix_pois_nearby")  # the profile's own scratch database
    connection.commit()
    connection.close()
    out["without_index"] = store.upsert(rows, batch) / len(rows) * 1e6
    store.clean(app_id)
    return out


if __name__ == "__main__":
    sys.exit(main())
