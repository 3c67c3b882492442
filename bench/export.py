#!/usr/bin/env python
"""Export of 1,000,000 rows to CSV and JSONL through a job and a download, as a ratio to the
in-process streaming baseline of the same format and database in the same run (issue 8, G7).

    .venv/bin/python bench/export.py --quick                  # 100,000 rows, 1 repetition: smoke run
    .venv/bin/python bench/export.py                          # SQLite on tmpfs, 1,000,000 rows, 3 repetitions
    createdb -h 127.0.0.1 exportbench                         # a scratch database: its schema public is reset
    .venv/bin/python bench/export.py --database-url postgresql://127.0.0.1:5432/exportbench

Seeded once, set-based (one INSERT … SELECT over a recursive CTE / generate_series, not timed):
``--rows`` page views of one merchant's POI, the first ``--small`` of them on 2026-01-01 and the
rest on 2026-01-02, viewers among 5,000 users; the dataset is ``poi_page_views`` (6 columns: id,
POI, source, source id, the viewer's open_id, time).

Per repetition, formats and sides alternating:

- **gateway**: ``POST /v1/merchants/{m}/exports`` over HTTP to a gunicorn sync worker serving
  ``gateway.wsgi:app`` (the commit queues the job on the SqliteHuey queue in the instance folder); a **separate worker
  process** (``--worker``: the app and a Huey consumer, nothing else) runs it; the job is polled
  every 20 ms, then its file is downloaded over HTTP with the signed link and discarded, 1 MiB at a
  time. Timed from the POST to the last byte. The worker reports its RSS after start-up (VmRSS)
  and its peak while running the job (VmHWM, reset with ``/proc/self/clear_refs`` after start-up).
- **baseline**: the same SELECT on one raw driver connection in this process — sqlite3
  ``fetchmany(5000)``, or a psycopg server-side (named) cursor with ``itersize`` 5000 — through
  ``csv.writer`` or ``json.dumps`` per row, written to a file on tmpfs (PERFORMANCE.md §2.5).

The ratio is gateway rows/s ÷ baseline rows/s of the same repetition, median [min–max]. The RSS
check: peak growth at ``--rows`` ≤ 64 MB and ≤ 1.2× the growth at ``--small`` (run once each
per format). Bounded: ``--rows`` ≤ 2,000,000 and ``--timeout`` seconds per job.

Then a dashboard's stats query (page views by hour and by day over all rows) through the API next to
the same GROUP BY on a raw driver connection, ``--stats-reps`` calls each (median ms).

``--rss-probe`` (used by tests/exports/test_memory.py): seed ``--rows`` rows, run the export job
inline in this process and print its peak RSS growth as JSON; ``--mistake fetchall`` or
``--mistake unsized`` first patches SQLAlchemy's ``Result.partitions`` into one of the two
accidental full loads of PERFORMANCE.md §2.5, to show the probe catches them.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Server as HarnessServer
from bench.harness import machine_summary, ratio_stats, scratch_dir, summarise, write_results

SECRET_KEY = "bench-export-" + "k" * 40
DAY1, DAY2 = "2026-01-01", "2026-01-02"
USERS = 5000
MAX_ROWS = 2_000_000
COLUMNS = "id, poi_id, source, source_id, user_id, viewed_at"


def _config(instance: Path, database_url: str) -> dict:
    return {"ENV": "development", "INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": database_url or f"sqlite:///{instance / 'shijing.db'}", "REDIS_URL": "",
            "JOBS_IMMEDIATE": False, "ACCESS_LOG": False, "LOG_LEVEL": "WARNING",
            "RATELIMIT_APP": "1000000000/minute", "RATELIMIT_MERCHANT": "1000000000/minute",
            "DB_STATEMENT_TIMEOUT_MS": 600000, "ISSUER": "http://127.0.0.1"}


def build(instance: Path, database_url: str, *, fresh: bool):
    from gateway import create_app
    from gateway.migrate import upgrade_engine

    if fresh and database_url:
        from bench.poi_nearby import reset_postgres

        reset_postgres(database_url)
    instance.mkdir(parents=True, exist_ok=True)
    app = create_app(_config(instance, database_url))
    if fresh:
        upgrade_engine(app.extensions["shijing.db"].engine)
        app.extensions["shijing.jobs"].huey.flush()
    return app


def seed(app, rows: int, small: int) -> dict:
    """The merchant, its POI, a partner app it authorised with data.export; ``rows`` page views."""
    from sqlalchemy import text

    from gateway.accounts.models import Merchant, User
    from gateway.apps.services import create_app as register_app
    from gateway.authorizations import services as authorizations
    from gateway.clock import utcnow
    from gateway.ids import new_id
    from gateway.poi.models import Poi

    db = app.extensions["shijing.db"]
    now = utcnow()
    with app.app_context(), db.new_session() as s:
        owner = User(id=new_id("user"), username="owner", display_name="Owner", password_hash="x", created_at=now)
        s.add(owner)
        s.flush()
        merchant = Merchant(id=new_id("merchant"), owner_user_id=owner.id, name="Bench Hotpot", created_at=now)
        s.add(merchant)
        s.flush()
        poi = Poi(id=new_id("poi"), merchant_id=merchant.id, name="山城老火锅", category="food", attributes={},
                  address="解放碑 1 号", province="重庆", city="重庆", district="渝中", lat=29.56, lng=106.57,
                  status="active", created_at=now, updated_at=now)
        s.add(poi)
        partner, secret = register_app(s, developer_user_id=owner.id, name="Data partner", kind="service_provider",
                                       redirect_uris=["https://partner.example/cb"], scopes=["data.export"])
        s.flush()
        authorizations.grant(s, app_id=partner.id, subject_type="merchant", subject_id=merchant.id,
                             user_id=owner.id, scopes=["data.export"])
        s.commit()
        ids = {"merchant": merchant.id, "poi": poi.id, "app": partner.id, "secret": secret}
    with db.engine.begin() as connection:
        params = {"m": ids["merchant"], "p": ids["poi"], "n": rows, "small": small, "u": USERS}
        if db.is_sqlite:
            connection.execute(text(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :n) "
                f"INSERT INTO poi_page_views ({COLUMNS}, merchant_id) "
                "SELECT printf('pgv_%026d', i), :p, CASE i % 3 WHEN 0 THEN 'search' WHEN 1 THEN 'nearby' "
                "ELSE 'video' END, CASE WHEN i % 7 = 0 THEN '=cmd|'' /C calc''!A0' END, "
                "printf('usr_%026d', i % :u), "
                "CASE WHEN i < :small THEN '2026-01-01 ' ELSE '2026-01-02 ' END || "
                "printf('%02d:%02d:%02d.000000', (i / 3600) % 24, (i / 60) % 60, i % 60), :m FROM n"), params)
        else:
            connection.execute(text(
                f"INSERT INTO poi_page_views ({COLUMNS}, merchant_id) "
                "SELECT 'pgv_' || lpad(i::text, 26, '0'), :p, (ARRAY['search','nearby','video'])[i % 3 + 1], "
                "CASE WHEN i % 7 = 0 THEN '=cmd|'' /C calc''!A0' END, 'usr_' || lpad((i % :u)::text, 26, '0'), "
                "(CASE WHEN i < :small THEN timestamp '2026-01-01' ELSE timestamp '2026-01-02' END) "
                "+ make_interval(secs => i % 86400), :m FROM generate_series(0, :n - 1) AS i"), params)
            connection.execute(text("ANALYZE poi_page_views"))
    return ids


# --- memory ---------------------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def reset_peak() -> int:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0) and return that RSS in kB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS")


def peak_kb() -> int:
    return _status_kb("VmHWM")


def patch_mistake(mistake: str) -> None:
    """Swap the export's chunked fetch for one of PERFORMANCE.md §2.5's accidental full loads."""
    from sqlalchemy import text

    from gateway.exports import services

    original = services.fetch_chunks

    def fetchall(connection, statement, size):  # the whole result at once, as fetchall() would
        yield from original(connection, statement, 10**9)

    def unsized(connection, statement, size):  # text() + yield_per, partitions() without a size
        compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
        result = connection.execution_options(yield_per=size).execute(text(str(compiled)))
        for chunk in result.partitions():
            yield [tuple(row) for row in chunk]

    services.fetch_chunks = {"fetchall": fetchall, "unsized": unsized}[mistake]


def rss_probe(args) -> None:
    from gateway.exports import services

    instance = scratch_dir("shijing-export-probe-")
    app = build(instance, args.database_url, fresh=True)
    ids = seed(app, args.rows, args.rows)
    if args.mistake != "none":
        patch_mistake(args.mistake)
    db = app.extensions["shijing.db"]
    with app.app_context():
        with db.new_session() as s:
            job = services.create_job(s, ids["merchant"], ids["app"], {"dataset": "poi_page_views", "format": args.format,
                                                                      "date_from": DAY1, "date_to": DAY2})
            s.info.pop("export_jobs", None)
            s.commit()
            job_id = job.id
        db.engine.dispose()
        import gc

        gc.collect()
        baseline = reset_peak()
        started = time.perf_counter()
        services.run_job(db.new_session, job_id)
        elapsed = time.perf_counter() - started
        peak = peak_kb()
        with db.new_session() as s:
            from gateway.exports.models import ExportJob

            done = s.get(ExportJob, job_id)
            rows, status = done.rows_done, done.status
    print(json.dumps({"rows": rows, "status": status, "seconds": round(elapsed, 3), "baseline_mb": baseline / 1024,
                      "growth_mb": (peak - baseline) / 1024, "mistake": args.mistake}))


def worker(args) -> None:
    """A worker process: the app and a Huey consumer; reports RSS once the job is final."""
    from sqlalchemy import text

    app = build(Path(args.instance), args.database_url, fresh=False)
    consumer = app.extensions["shijing.jobs"].start_consumer_thread(workers=1, periodic=False, max_delay=0.02)
    time.sleep(0.2)
    baseline = reset_peak()
    print(json.dumps({"ready": True}), flush=True)
    db = app.extensions["shijing.db"]
    job_id = sys.stdin.readline().strip()
    deadline = time.monotonic() + args.timeout
    status = None
    with db.engine.connect() as connection:
        while time.monotonic() < deadline:
            status = connection.execute(text("SELECT status FROM export_jobs WHERE id = :id"), {"id": job_id}).scalar()
            connection.rollback()
            if status in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.02)
    peak = peak_kb()
    consumer.stop(graceful=True)
    print(json.dumps({"status": status, "baseline_mb": baseline / 1024, "growth_mb": (peak - baseline) / 1024}),
          flush=True)


# --- the two sides ---------------------------------------------------------------------------------


def gunicorn_env(instance: Path, database_url: str) -> dict:
    """The same settings as this process's app, as SHIJING_* variables for gunicorn."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIJING_")}
    for name, value in _config(instance, database_url).items():
        env["SHIJING_" + name] = str(int(value)) if isinstance(value, bool) else str(value)
    return env


def gateway_side(server, session, args, instance: Path, ids: dict, fmt: str, date_to: str, expected: int):
    worker_process = subprocess.Popen(
        [sys.executable, __file__, "--worker", "--instance", str(instance), "--timeout", str(args.timeout)]
        + (["--database-url", args.database_url] if args.database_url else []),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert json.loads(worker_process.stdout.readline())["ready"]
        base = f"{server.url}/v1/merchants/{ids['merchant']}/exports"
        started = time.perf_counter()
        created = session.post(base, json={"dataset": "poi_page_views", "format": fmt, "date_from": DAY1,
                                           "date_to": date_to}, timeout=30)
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        worker_process.stdin.write(job_id + "\n")
        worker_process.stdin.flush()
        while True:
            job = session.get(f"{base}/{job_id}", timeout=30).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            if time.perf_counter() - started > args.timeout:
                raise SystemExit(f"export {job_id} still {job['status']} after {args.timeout} s")
            time.sleep(0.02)
        assert job["status"] == "completed" and job["rows_done"] == expected, job
        polled = time.perf_counter() - started
        size = 0
        with session.get(server.url + job["download_url"], stream=True, timeout=60) as response:
            assert response.status_code == 200
            for chunk in response.iter_content(1 << 20):
                size += len(chunk)
        elapsed = time.perf_counter() - started
        assert size == job["file_size"], (size, job["file_size"])
        report = json.loads(worker_process.stdout.readline())
        from datetime import datetime

        def moment(value):
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()

        report["job_seconds"] = moment(job["finished_at"]) - moment(job["started_at"])
        report["queue_seconds"] = moment(job["started_at"]) - moment(job["created_at"])
        report["download_seconds"] = elapsed - polled
    finally:
        worker_process.wait(timeout=args.timeout)
    return elapsed, report, size


def baseline_side(app, ids: dict, fmt: str, date_to: str, out_dir: Path, expected: int) -> float:
    """The same rows, raw driver, server-side cursor, csv.writer / json.dumps, to a tmpfs file."""
    db = app.extensions["shijing.db"]
    sql = (f"SELECT {COLUMNS} FROM poi_page_views WHERE merchant_id = %s AND viewed_at >= %s "
           "AND viewed_at < %s ORDER BY id")
    names = ["id", "poi_id", "source", "source_id", "user_id", "viewed_at"]
    until = "2026-01-02" if date_to == DAY1 else "2026-01-03"
    path = out_dir / f"baseline.{fmt}"
    started = time.perf_counter()
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as out:
        if db.is_sqlite:
            import sqlite3

            connection = sqlite3.connect(str(db.engine.url.database))
            cursor = connection.execute(sql.replace("%s", "?"), (ids["merchant"], DAY1, until))
            fetch = cursor.fetchmany
        else:
            import psycopg

            connection = psycopg.connect(str(db.engine.url.set(drivername="postgresql")).replace("***", ""))
            cursor = connection.cursor(name="baseline")
            cursor.itersize = 5000
            cursor.execute(sql, (ids["merchant"], DAY1, until))
            fetch = cursor.fetchmany
        writer = csv.writer(out)
        if fmt == "csv":
            writer.writerow(names)
        while True:
            chunk = fetch(5000)
            if not chunk:
                break
            if fmt == "csv":
                writer.writerows(chunk)
            else:
                out.write("".join(json.dumps(dict(zip(names, (str(v) if v is not None and not isinstance(v, str)
                                                               else v for v in row)))) + "\n" for row in chunk))
            count += len(chunk)
        connection.close()
    elapsed = time.perf_counter() - started
    assert count == expected, (count, expected)
    path.unlink()
    return elapsed


# --- stats ------------------------------------------------------------------------------------------


def stats_sides(server, session, app, ids: dict, reps: int, expected: int) -> list[str]:
    """A dashboard's query, page views by hour and by day over the two seeded days (all ``--rows``
    rows), through ``GET /v1/merchants/{m}/stats`` over HTTP next to the same GROUP BY on one raw
    driver connection in this process; median milliseconds of ``reps`` calls each, alternating."""
    import statistics

    db = app.extensions["shijing.db"]
    url = f"{server.url}/v1/merchants/{ids['merchant']}/stats"
    lines = ["| granularity | gateway ms (HTTP) | raw GROUP BY ms (in-process) | ratio raw ÷ gateway |", "|---|---|---|---|"]
    for granularity, width in (("hour", 13), ("day", 10)):
        if db.is_sqlite:
            import sqlite3

            connection = sqlite3.connect(str(db.engine.url.database))
            sql = (f"SELECT substr(replace(viewed_at, ' ', 'T'), 1, {width}) AS b, count(*) FROM poi_page_views "
                   "WHERE merchant_id = ? AND viewed_at >= ? AND viewed_at < ? GROUP BY b")
            params = (ids["merchant"], DAY1, "2026-01-03")
        else:
            import psycopg

            connection = psycopg.connect(str(db.engine.url.set(drivername="postgresql")).replace("***", ""))
            pattern = 'YYYY-MM-DD"T"HH24' if granularity == "hour" else "YYYY-MM-DD"
            sql = (f"SELECT to_char(viewed_at, '{pattern}') AS b, count(*) FROM poi_page_views "
                   "WHERE merchant_id = %s AND viewed_at >= %s AND viewed_at < %s GROUP BY b")
            params = (ids["merchant"], DAY1, "2026-01-03")
        gateway_ms, raw_ms = [], []
        for rep in range(reps):
            for side in (("gateway", "raw") if rep % 2 == 0 else ("raw", "gateway")):
                started = time.perf_counter()
                if side == "gateway":
                    response = session.get(url, params={"metric": "page_views", "granularity": granularity,
                                                        "date_from": DAY1, "date_to": DAY2}, timeout=60)
                    assert response.status_code == 200 and response.json()["total"] == expected, response.text
                    gateway_ms.append((time.perf_counter() - started) * 1000)
                else:
                    total = sum(count for _, count in connection.execute(sql, params).fetchall())
                    assert total == expected
                    raw_ms.append((time.perf_counter() - started) * 1000)
        connection.close()
        gateway, raw = statistics.median(gateway_ms), statistics.median(raw_ms)
        lines.append(f"| {granularity} | {gateway:.0f} [{min(gateway_ms):.0f}–{max(gateway_ms):.0f}] | "
                     f"{raw:.0f} [{min(raw_ms):.0f}–{max(raw_ms):.0f}] | **{raw / gateway:.2f}** |")
        print(f"stats by {granularity}: gateway {gateway:.0f} ms, raw {raw:.0f} ms", flush=True)
    return lines


def run(args) -> None:
    import requests

    instance = scratch_dir("shijing-export-bench-")
    print(f"# scratch {instance}; {'PostgreSQL' if args.database_url else 'SQLite on tmpfs'}; "
          f"{args.rows:,} rows ({args.small:,} on day 1)", flush=True)
    app = build(instance, args.database_url, fresh=True)
    started = time.perf_counter()
    ids = seed(app, args.rows, args.small)
    print(f"# seeded in {time.perf_counter() - started:.1f} s", flush=True)
    server = HarnessServer(gunicorn_env(instance, args.database_url), instance, workers=1,
                           app="gateway.wsgi:app").__enter__()  # sync worker: downloads use sendfile
    server.url = server.base_url
    session = requests.Session()
    token = session.post(f"{server.url}/oauth2/token", data={"grant_type": "client_credentials", "scope": "data.export"},
                         auth=(ids["app"], ids["secret"]), timeout=30).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    formats = args.formats.split(",")
    results: dict = {fmt: {"gateway": [], "baseline": [], "rss_large": [], "rss_small": None} for fmt in formats}
    try:
        for fmt in formats:  # peak RSS at the small size, once per format
            _, report, _ = gateway_side(server, session, args, instance, ids, fmt, DAY1, args.small)
            results[fmt]["rss_small"] = report["growth_mb"]
            print(f"{fmt} {args.small:,} rows: worker RSS +{report['growth_mb']:.1f} MB", flush=True)
        for rep in range(args.reps):
            order = formats if rep % 2 == 0 else formats[::-1]
            for fmt in order:
                sides = ("gateway", "baseline") if rep % 2 == 0 else ("baseline", "gateway")
                for side in sides:
                    if side == "gateway":
                        elapsed, report, size = gateway_side(server, session, args, instance, ids, fmt, DAY2,
                                                             args.rows)
                        results[fmt]["gateway"].append(args.rows / elapsed)
                        results[fmt]["rss_large"].append(report["growth_mb"])
                        print(f"rep {rep + 1} {fmt} gateway {args.rows / elapsed:,.0f} rows/s ({size / 1e6:.0f} MB, "
                              f"worker RSS +{report['growth_mb']:.1f} MB; queued {report['queue_seconds']:.2f} s, "
                              f"job {report['job_seconds']:.2f} s, download {report['download_seconds']:.2f} s)",
                              flush=True)
                    else:
                        elapsed = baseline_side(app, ids, fmt, DAY2, instance, args.rows)
                        results[fmt]["baseline"].append(args.rows / elapsed)
                        print(f"rep {rep + 1} {fmt} baseline {args.rows / elapsed:,.0f} rows/s", flush=True)
        stats_lines = stats_sides(server, session, app, ids, args.stats_reps, args.rows) if args.stats_reps else []
    finally:
        server.stop()
    lines = [(f"## Export of {args.rows:,} rows ({'PostgreSQL' if args.database_url else 'SQLite, tmpfs'}), "
              f"{args.reps} repetitions"), "", machine_summary(), "",
             ("| format | gateway rows/s (job + download) | baseline rows/s (in-process) | ratio (goal ≥ 0.70) | "
              f"worker peak RSS growth at {args.rows:,} (goal ≤ 64 MB) | at {args.small:,} | growth ratio (goal ≤ 1.2) |"),
             "|---|---|---|---|---|---|---|"]
    failed = False
    for fmt in formats:
        r = results[fmt]
        ratio = ratio_stats(r["gateway"], r["baseline"])
        large = max(r["rss_large"])
        flat = large / r["rss_small"] if r["rss_small"] > 1 else 1.0
        flat_ok = large <= max(1.2 * r["rss_small"], r["rss_small"] + 5)
        failed |= ratio.median < 0.70 or large > 64 or not flat_ok
        lines.append(f"| {fmt} | {summarise(r['gateway']).fmt()} | {summarise(r['baseline']).fmt()} | "
                     f"**{ratio.fmt(2)}** | {large:.1f} MB | {r['rss_small']:.1f} MB | {flat:.2f} |")
    if stats_lines:
        title = (f"Stats (`GET /v1/merchants/{{m}}/stats?metric=page_views`, {args.rows:,} rows over 2 days, "
                 f"median of {args.stats_reps} calls; the issue's bar is \"fast enough to chart\"):")
        lines += ["", title, "", *stats_lines]
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    if not args.no_save:
        print(f"saved {write_results('export', markdown, {'args': vars(args), 'results': results})}")
    if failed:
        print("GOAL MISSED", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--formats", default="csv,jsonl")
    parser.add_argument("--stats-reps", type=int, default=5, help="stats calls per side and granularity (0: none)")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--quick", action="store_true", help="100,000 rows (10,000 small), 1 repetition")
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    parser.add_argument("--rss-probe", action="store_true", help="seed --rows, export inline, print RSS growth")
    parser.add_argument("--mistake", default="none", choices=("none", "fetchall", "unsized"))
    parser.add_argument("--format", default="csv", choices=("csv", "jsonl"), help="the --rss-probe's format")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.small, args.reps = 100_000, 10_000, 1
    if not 0 < args.small <= args.rows <= MAX_ROWS:
        raise SystemExit(f"need 0 < --small <= --rows <= {MAX_ROWS:,}")
    if args.worker:
        worker(args)
    elif args.rss_probe:
        rss_probe(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
