#!/usr/bin/env python
"""Nearby search over 1,000,000 POIs: our query vs the best raw index query, our API vs a raw route.

    .venv/bin/python bench/poi_nearby.py                  # SQLite on tmpfs, 1 M POIs (~5 min)
    .venv/bin/python bench/poi_nearby.py --quick          # 100 k POIs, 1 repetition, 2 s runs
    .venv/bin/python bench/poi_nearby.py --database-url postgresql://127.0.0.1:5432/shijing_bench_poi

(a) In-process, one connection, median per query over dense (city centres) and sparse (uniform)
query points, 20 nearest within 3 km: our ``gateway.poi.search`` statement (exactly as ``nearby``
runs it, through SQLAlchemy) and the whole ``search.nearby`` call, against every raw-driver index
method of bench/poi_queries.py (strip index, composite B-trees, R*Tree; GiST point, cube +
earthdistance on PostgreSQL), each on its own connection. Every query point is run by every method in
turn (order reversed on every other repetition; `--interleave method` runs each method's whole set in a
row, as before 11-30 16:00). Goal: ours ≤ 1.5× the best.

(b) HTTP, one gunicorn process (bench/poi_wsgi.py = bench/wsgi.py + the reference route): GET
/v1/pois/nearby with a real client-credentials token against ``/__bench/bare/poi/nearby``, bare Flask
running the best raw index query without auth, on the same query points; wrk as in
bench/http_ratios.py (sync workers = cores, -t2 -c32, warm-up, alternating, ≥ 3 repetitions,
per-repetition ratios). Goal: API ≥ 0.70× the reference.

Data (bench/poi_dataset.py, seed 42): 70 % in 20 city clusters, 30 % uniform over China, loaded
with raw executemany into a scratch SQLite on /dev/shm, or with COPY into the PostgreSQL database
given by --database-url, whose ``public`` schema is dropped and recreated: a scratch database you
created for this (``createdb -h 127.0.0.1 shijing_bench_poi``), never the test suite's.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import poi_dataset, poi_queries
from bench.harness import (
    LUA_DIR,
    REPO_ROOT,
    AutogroupNice,
    CpuMeter,
    Server,
    cores,
    http,
    machine_summary,
    ratio_stats,
    require_wrk,
    run_wrk,
    scratch_dir,
    summarise,
    wait_for_quiet,
    write_results,
)
from bench.http_ratios import client_credentials, seed, server_env

RADIUS_M = 3000
DB_TARGET = 1.5
HTTP_TARGET = 0.70


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000, help="POIs to generate")
    parser.add_argument("--queries", type=int, default=200, help="query points per set (dense, sparse)")
    parser.add_argument("--db-reps", type=int, default=5, help="repetitions of the in-process part")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of the HTTP part (>= 3 for a verdict)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured wrk run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of wrk warm-up per endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=cores(), help="gunicorn sync workers (default: cores)")
    parser.add_argument("--methods", help="comma-separated raw method keys (default: all of the dialect)")
    parser.add_argument("--interleave", choices=("point", "method"), default="point",
                        help="(a): every contender on each query point in turn (default), or each "
                             "contender's whole set in a row")
    parser.add_argument("--skip-db", action="store_true", help="skip part (a)")
    parser.add_argument("--skip-http", action="store_true", help="skip part (b)")
    parser.add_argument("--quick", action="store_true", help="100 k POIs, 1 repetition, 2 s runs")
    parser.add_argument("--database-url", default="", help="PostgreSQL scratch database (schema public is reset)")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--nice", type=int, default=0, help="gunicorn and wrk under `nice -n N` (root: -10)")
    parser.add_argument("--quiet-wait", type=float, default=10.0)
    parser.add_argument("--quiet-threshold", type=float, default=0.15)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    args.prometheus_multiproc = False
    if args.quick:
        args.count, args.queries, args.db_reps, args.reps, args.duration, args.warmup = 100_000, 100, 1, 1, 2.0, 1.0
    if not (1000 <= args.count <= 5_000_000 and 10 <= args.queries <= 2000 and 1 <= args.db_reps <= 20
            and 1 <= args.reps <= 20 and 1 <= args.duration <= 120 and 0 <= args.warmup <= 30
            and 1 <= args.connections <= 1024 and 1 <= args.workers <= 64 and -20 <= args.nice <= 19):
        parser.error("bounded runs only: 1k-5M POIs, 10-2000 queries, 1-20 repetitions, 1-120 s runs")
    if args.database_url:
        if not args.database_url.startswith(("postgres://", "postgresql")):
            parser.error("--database-url must be PostgreSQL (the default is SQLite on tmpfs)")
        if args.database_url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] == "test":
            parser.error("refusing the test suite's `test` database: create a scratch one")
    return args


# --- set-up ----------------------------------------------------------------------------------------


def _nearby_index_migration():
    """The migration that builds the current ``ix_pois_nearby`` (0010: 0.04° strips)."""
    import importlib.util

    path = REPO_ROOT / "gateway/migrations/versions/0010_poi_nearby_wider_strips.py"
    spec = importlib.util.spec_from_file_location("migration_0010", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(_dsn(url), autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS public CASCADE")
        connection.execute("CREATE SCHEMA public")


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def load(args, env: dict, merchants: list[str]) -> dict:
    """Bulk-load the POIs with the spatial index dropped, then rebuild it as its migration does."""
    m3 = _nearby_index_migration()
    info = {}
    if args.database_url:
        import psycopg

        dsn = _dsn(args.database_url)
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("DROP INDEX IF EXISTS ix_pois_nearby")
        info["load_s"] = poi_dataset.load_postgres(dsn, args.count, merchants)
        started = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(m3.POSTGRESQL)
            connection.execute("VACUUM ANALYZE pois")  # the visibility map: index-only scans
            info["index_s"] = time.perf_counter() - started
            info["size"] = connection.execute(
                "SELECT pg_size_pretty(pg_total_relation_size('pois')), "
                "pg_size_pretty(pg_relation_size('ix_pois_nearby'))").fetchone()
    else:
        import sqlite3

        path = sqlite_path(env)
        with sqlite3.connect(path) as connection:
            connection.execute("DROP INDEX IF EXISTS ix_pois_nearby")
        info["load_s"] = poi_dataset.load_sqlite(path, args.count, merchants)
        started = time.perf_counter()
        connection = sqlite3.connect(path)
        connection.execute(m3.SQLITE)
        connection.execute("ANALYZE")
        connection.commit()
        info["index_s"] = time.perf_counter() - started
        pages = connection.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name = 'ix_pois_nearby'").fetchone()[0] if _has_dbstat(connection) else None
        connection.close()
        info["size"] = (f"{os.path.getsize(path) / 1e6:.0f} MB", f"{pages / 1e6:.0f} MB" if pages else "?")
    return info


def _has_dbstat(connection) -> bool:
    try:
        connection.execute("SELECT 1 FROM dbstat LIMIT 1")
        return True
    except Exception:  # noqa: BLE001 - dbstat is an optional SQLite module
        return False


def sqlite_path(env: dict) -> str:
    return str(Path(env["SHIJING_INSTANCE_PATH"]) / "shijing.db")


# --- (a) in-process --------------------------------------------------------------------------------


def measure_db(args, env: dict) -> dict:
    from gateway.db import make_engine
    from gateway.poi import search
    from gateway.poi.geo import distance_m

    dialect = "postgresql" if args.database_url else "sqlite"
    url = args.database_url or f"sqlite:///{sqlite_path(env)}"
    from gateway.config import normalise_database_url

    engine = make_engine(normalise_database_url(url))
    if dialect == "postgresql":
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")  # as gateway.db.reader()
    methods = [m for m in poi_queries.METHODS if m.dialect == dialect]
    if args.methods:
        wanted = set(args.methods.split(","))
        methods = [m for m in methods if m.key in wanted or m.key == poi_queries.BEST[dialect]]
    if dialect == "sqlite":
        import sqlite3

        raw = sqlite3.connect(sqlite_path(env))
    else:
        import psycopg

        raw = psycopg.connect(_dsn(args.database_url), autocommit=True)
    setup = {}
    for method in methods:
        started = time.perf_counter()
        poi_queries.prepare(raw, method)
        if dialect == "sqlite":
            raw.commit()
        setup[method.key] = time.perf_counter() - started
    if dialect == "postgresql":
        raw.execute("VACUUM ANALYZE pois")
    else:
        raw.execute("ANALYZE")
        raw.commit()
    statements = search.STATEMENTS[dialect]
    sets = {kind: poi_dataset.query_points(kind, args.queries) for kind in ("dense", "sparse")}
    timings: dict[str, dict[str, list[float]]] = {kind: {} for kind in sets}
    answers: dict[str, dict[str, list]] = {kind: {} for kind in sets}
    # Every contender has its own connection, so that each one's page cache sees only its own
    # queries, in the same order whatever the interleaving.
    if dialect == "sqlite":
        def raw_connection():
            return sqlite3.connect(sqlite_path(env))
    else:
        def raw_connection():
            return psycopg.connect(_dsn(args.database_url), autocommit=True)
    connections = []
    with engine.connect() as connection, engine.connect() as nearby_connection:
        def ours_statement(lat, lng):
            # what nearby() asks the database: the ranking from the index, then the rows of the
            # answer by key (those within the radius; no second statement when there are none, and
            # none on PostgreSQL, where the ranking statement joins them)
            area = search._Area(dialect, lat, lng, RADIUS_M)
            ranked = search._fetch(connection, statements["nearby" + area.variant],
                                   dict(area.params, n=20 + search._EXTRA_ROWS))
            within = [row for row in ranked if distance_m(lat, lng, row[1], row[2]) <= RADIUS_M]
            if search.JOINED_ROWS[dialect]:  # PostgreSQL: the ranking statement read the rows
                return within
            return search._rows(connection, statements, [row[0] for row in within])

        def ours_nearby(lat, lng):
            return search.nearby(nearby_connection, lat=lat, lng=lng, radius_m=RADIUS_M)

        def raw_method(method):
            own = raw_connection()
            connections.append(own)

            def run(lat, lng):
                return own.execute(method.sql, poi_queries.params(method, lat, lng, RADIUS_M)).fetchall()
            return run

        contenders = [("ours_statement", ours_statement), ("ours_nearby", ours_nearby)] + \
            [(m.key, raw_method(m)) for m in methods]
        for kind, points in sets.items():
            for name, _ in contenders:
                timings[kind][name] = []
            for rep in range(args.db_reps):
                order = contenders if rep % 2 == 0 else list(reversed(contenders))
                if args.interleave == "point":
                    # each point by every contender in turn: a burst of foreign load hits them alike
                    runs = ((name, run, lat, lng) for lat, lng in points for name, run in order)
                else:  # "method": each contender's 200 points in a row (the runs before 11-30 16:00)
                    runs = ((name, run, lat, lng) for name, run in order for lat, lng in points)
                for name, run, lat, lng in runs:
                    started = time.perf_counter()
                    result = run(lat, lng)
                    timings[kind][name].append(time.perf_counter() - started)
                    if rep == 0:
                        answers[kind].setdefault(name, []).append(result)
            print(f"(a) {kind}: " + ", ".join(
                f"{name} {statistics.median(timings[kind][name]) * 1e3:.3f} ms" for name, _ in contenders),
                file=sys.stderr)
    for own in connections:
        own.close()
    raw.close()
    engine.dispose()
    return {"setup_s": setup, "timings": timings, "agreement": _agreement(answers), "methods": methods}


def _agreement(answers) -> dict:
    """Share of queries where a method's top-20 ids (within 3 km) equal ``search.nearby``'s."""
    out = {}
    for kind, by_method in answers.items():
        ours = [[r["id"] for r in rows] for rows in by_method["ours_nearby"]]
        out[kind] = {}
        for name, results in by_method.items():
            if name.startswith("ours"):
                continue
            ids = [[row[0] for row in rows] for rows in results]  # the radius is tested in their SQL
            same = sum(1 for a, b in zip(ours, ids) if a == b)
            out[kind][name] = same / len(ours)
    return out


# --- (b) HTTP --------------------------------------------------------------------------------------


def measure_http(args, server: Server, token: str, access_log: Path) -> dict:
    sets = {kind: poi_dataset.query_points(kind, args.queries) for kind in ("dense", "sparse")}
    endpoints = [("hello", "/__bench/bare/hello", "", None)]
    for kind, points in sets.items():
        api = " ".join(f"/v1/pois/nearby?lat={lat:.6f}&lng={lng:.6f}&radius={RADIUS_M}" for lat, lng in points)
        ref = " ".join(f"/__bench/bare/poi/nearby?lat={lat:.6f}&lng={lng:.6f}" for lat, lng in points)
        endpoints += [(f"api_{kind}", api, f"Bearer {token}", kind), (f"ref_{kind}", ref, "", kind)]
    results: dict[str, list[dict]] = {key: [] for key, *_ in endpoints}
    for key, paths, auth, _ in endpoints:  # fail fast on errors
        first = paths.split()[0]
        status, body = http("GET", server.base_url + first, headers={"Authorization": auth} if auth else {})
        if status != 200:
            raise RuntimeError(f"{key}: preflight GET {first} -> {status} {body[:300]!r}")
    for rep in range(args.reps):
        order = endpoints if rep % 2 == 0 else list(reversed(endpoints))
        for key, paths, auth, _ in order:
            url = server.base_url + paths.split()[0]
            common = dict(connections=args.connections, script=LUA_DIR / "get.lua",
                          env={"WRK_PATHS": paths, "WRK_AUTH": auth}, nice=args.nice)
            if args.quiet_wait:
                wait_for_quiet(args.quiet_wait, args.quiet_threshold)
            if args.warmup:
                run_wrk(url, duration=args.warmup, **common)
            os.truncate(access_log, 0)
            with CpuMeter(server.pids()) as cpu:
                result = run_wrk(url, duration=args.duration, **common)
            row = {"rps": result.rps, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms,
                   "requests": result.requests, "errors": result.errors,
                   "server_cpu_us": cpu.server_seconds / max(1, result.requests) * 1e6,
                   "foreign_share": cpu.foreign_share}
            results[key].append(row)
            print(f"(b) rep {rep + 1}/{args.reps} {key:12s} {row['rps']:8.0f} rps  p50 {row['p50_ms']:6.2f} ms  "
                  f"p99 {row['p99_ms']:6.2f} ms  server {row['server_cpu_us']:5.0f} µs/req  "
                  f"foreign {row['foreign_share']:4.0%}  errors {row['errors']}", file=sys.stderr)
    return results


# --- report ----------------------------------------------------------------------------------------


def render(meta: dict, db: dict | None, web: dict | None) -> str:
    lines = [f"# Nearby search over {meta['count']:,} POIs — {meta['started']}".replace(",", " "), "",
             f"Database: {meta['database']}; load {meta['load']['load_s']:.0f} s, spatial index "
             f"{meta['load']['index_s']:.0f} s; size (table + indexes, spatial index): {meta['load']['size']}.",
             f"Machine: {meta['machine']}.", ""]
    if db:
        best_key = {}
        lines += [f"## (a) in-process, one connection per method: 20 nearest within {RADIUS_M} m, {meta['queries']} dense + "
                  f"{meta['queries']} sparse query points × {meta['db_reps']} repetitions (interleaved by {meta['interleave']})", "",
                  "| method | dense median ms | dense p95 | sparse median ms | sparse p95 | same top-20 as ours "
                  "(dense / sparse) | extra index build s |", "|---|---|---|---|---|---|---|"]
        labels = {"ours_statement": "**ours: `search` statements** (as `nearby` runs them: prebuilt SQL on the "
                  "connection's DB-API cursor; index ranking, then the rows within the radius by key)",
                  "ours_nearby": "ours: whole `search.nearby()` call (+ exact distances, rows → dicts)"}
        for method in db["methods"]:
            labels[method.key] = f"raw: {method.label} (`{method.key}`)"
        for name in db["timings"]["dense"]:
            dense, sparse = db["timings"]["dense"][name], db["timings"]["sparse"][name]
            agree = db["agreement"]["dense"].get(name), db["agreement"]["sparse"].get(name)
            agree_text = "–" if agree[0] is None else f"{agree[0]:.0%} / {agree[1]:.0%}"
            build = db["setup_s"].get(name)
            lines.append(f"| {labels[name]} | {_ms(dense)} | {_p95(dense)} | {_ms(sparse)} | {_p95(sparse)} | "
                         f"{agree_text} | {'' if build is None else f'{build:.0f}'} |")
        lines += ["", "| goal (a) | set | ours statement | best raw method | ratio | per-repetition ratios "
                  "median [min–max] | target | verdict |", "|---|---|---|---|---|---|---|---|"]
        for kind in ("dense", "sparse"):
            raw = {k: statistics.median(v) for k, v in db["timings"][kind].items() if not k.startswith("ours")}
            best = min(raw, key=raw.get)
            best_key[kind] = best
            ours = statistics.median(db["timings"][kind]["ours_statement"])
            ratio = ours / raw[best]
            # each repetition's medians, ours ÷ that best method (every repetition ran every point once)
            per_rep = [statistics.median(mine) / statistics.median(theirs) for mine, theirs in zip(
                _repetitions(db["timings"][kind]["ours_statement"], meta["db_reps"]),
                _repetitions(db["timings"][kind][best], meta["db_reps"]))]
            lines.append(f"| DB query ≤ {DB_TARGET}× best index | {kind} | {ours * 1e3:.3f} ms | `{best}` "
                         f"{raw[best] * 1e3:.3f} ms | {ratio:.2f} | {statistics.median(per_rep):.2f} "
                         f"[{min(per_rep):.2f}–{max(per_rep):.2f}] | ≤ {DB_TARGET} | "
                         f"{'pass' if ratio <= DB_TARGET else '**miss**'} |")
        lines.append("")
    if web:
        lines += [f"## (b) HTTP: {meta['server']}, `wrk -t2 -c{meta['connections']} -d{meta['duration']:g}s`, "
                  f"{meta['reps']} repetition(s), alternating", "",
                  "| endpoint | rps | p50 / p99 ms | server CPU µs/req | foreign (max) | errors |",
                  "|---|---|---|---|---|---|"]
        names = {"hello": "bare Flask hello (context)",
                 "api_dense": "GET /v1/pois/nearby, real token — dense", "ref_dense": "reference: bare Flask + best raw "
                 "index query, no auth — dense", "api_sparse": "GET /v1/pois/nearby, real token — sparse",
                 "ref_sparse": "reference — sparse"}
        for key, rows in web.items():
            rps = summarise([r["rps"] for r in rows])
            p50 = statistics.median(r["p50_ms"] for r in rows)
            p99 = statistics.median(r["p99_ms"] for r in rows)
            cpu = summarise([r["server_cpu_us"] for r in rows])
            lines.append(f"| {names[key]} | {rps.fmt()} | {p50:.1f} / {p99:.1f} | {cpu.fmt()} | "
                         f"{max(r['foreign_share'] for r in rows):.0%} | {sum(r['errors'] for r in rows)} |")
        lines += ["", "| goal (b) | set | API / reference rps, median [min–max] of per-repetition ratios | target "
                  "| verdict |", "|---|---|---|---|---|"]
        for kind in ("dense", "sparse"):
            stats = ratio_stats([r["rps"] for r in web[f"api_{kind}"]], [r["rps"] for r in web[f"ref_{kind}"]])
            verdict = "(smoke run: no verdict)" if meta["reps"] < 3 else ("pass" if stats.median >= HTTP_TARGET
                                                                          else "**miss**")
            lines.append(f"| API ≥ {HTTP_TARGET}× reference | {kind} | {stats.fmt(2)} | ≥ {HTTP_TARGET} | {verdict} |")
    return "\n".join(lines) + "\n"


def _repetitions(values: list, reps: int) -> list[list]:
    size = len(values) // reps
    return [values[k * size:(k + 1) * size] for k in range(reps)]


def _ms(values) -> str:
    return f"{statistics.median(values) * 1e3:.3f}"


def _p95(values) -> str:
    ordered = sorted(values)
    return f"{ordered[int(0.95 * (len(ordered) - 1))] * 1e3:.3f}"


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.skip_http:
        require_wrk()
    scratch = scratch_dir("shijing-bench-poi-nearby-")
    access_log = scratch / "access.log"
    access_log.touch()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    db = web = None
    try:
        server = Server({}, scratch, workers=args.workers, nice=args.nice, app="bench.poi_wsgi:application",
                        stderr_path=str(access_log))
        env = server_env(scratch, args, server.port)
        server.env = env
        if args.database_url:
            reset_postgres(args.database_url)
        demo = seed(env)
        merchants = [m["id"] for m in demo["merchants"]]
        print(f"scratch {scratch}; loading {args.count} POIs", file=sys.stderr)
        info = load(args, env, merchants)
        print(f"loaded in {info['load_s']:.0f} s, spatial index {info['index_s']:.0f} s, sizes {info['size']}",
              file=sys.stderr)
        if not args.skip_db:
            db = measure_db(args, env)
        if not args.skip_http:
            partner = demo["partner_app"]
            basic = "Basic " + base64.b64encode(
                f"{partner['client_id']}:{partner['client_secret']}".encode()).decode()
            with AutogroupNice(args.nice), server:
                token = client_credentials(server.base_url, basic)
                web = measure_http(args, server, token, access_log)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    meta = {
        "started": started, "count": args.count, "interleave": args.interleave, "queries": args.queries,
        "db_reps": args.db_reps,
        "reps": args.reps, "duration": args.duration, "connections": args.connections,
        "server": f"{server.describe()} (`bench/poi_wsgi.py`, one process)",
        "database": ("PostgreSQL " + args.database_url.rsplit("@", 1)[-1]) if args.database_url
        else "SQLite file on tmpfs", "load": info, "machine": machine_summary(),
    }
    markdown = render(meta, db, web)
    print(markdown)
    if not args.no_save:
        data = {"meta": meta, "db": {k: v for k, v in (db or {}).items() if k != "methods"}, "http": web}
        path = write_results("poi-nearby" + ("-pg" if args.database_url else ""), markdown, data)
        print(f"saved {path.relative_to(REPO_ROOT)}", file=sys.stderr)
    errors = sum(r["errors"] for rows in (web or {}).values() for r in rows)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
