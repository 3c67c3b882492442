#!/usr/bin/env python
"""First HTTP figures of the gateway, each as a ratio to bare Flask hello in the same run.

    .venv/bin/python bench/http_ratios.py              # 3 repetitions x 10 s per endpoint (~6 min)
    .venv/bin/python bench/http_ratios.py --quick      # smoke run: 1 repetition x 2 s
    .venv/bin/python bench/http_ratios.py --database-url postgresql://127.0.0.1:5432/shijing_bench

Needs wrk (``apt-get install -y wrk`` on Debian/Ubuntu, ``brew install wrk`` on macOS); the
script stops with that hint if it is missing. Rules (PERFORMANCE.md §3, see bench/README.md):
one gunicorn process (``sync`` workers = cores) serves the project and the baselines
(bench/wsgi.py); ``wrk -t2 -c32 -d10s --latency`` on 127.0.0.1 after a 2 s warm-up of the same
endpoint; baseline and project alternate within each repetition (the order is reversed on every
other repetition); ratios are computed per repetition and reported as median [min–max].

Set-up: a scratch folder on tmpfs (/dev/shm) holds the SQLite database, keys and logs;
``shijing demo --json`` migrates and seeds it; each repetition gets a fresh client-credentials
token for the demo partner app over HTTP. The measured stack has everything on: request id,
JSON access log (to ``<scratch>/access.log`` on tmpfs by default, ``--access-log devnull`` to
discard), error handlers, security headers, rate limits (limits raised so that nothing is
refused — the counters are still hit on every request), Prometheus metrics, the token cache.

Output: a markdown table on stdout and in bench/results/<timestamp>-http-ratios.md (+ .json).
Everything is bounded: fixed wrk durations with subprocess timeouts, a start-up deadline, and
the gunicorn process (PID recorded in the scratch folder) is stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    LUA_DIR,
    AutogroupNice,
    CpuMeter,
    REPO_ROOT,
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

UNLIMITED = "1000000000/minute"  # rate limits stay on (counted every request) but never refuse


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    path: str  # "{mid}" stands for the demo merchants (chosen at random per request)
    auth: str = ""  # "" | "bearer" | "basic"
    method: str = "GET"
    reference: bool = False  # context only, no goal attached


ENDPOINTS = [
    Endpoint("hello", "bare Flask hello (baseline)", "/__bench/bare/hello"),
    Endpoint("healthz", "GET /healthz, full middleware stack", "/healthz"),
    Endpoint("merchant_noauth", "GET merchant, auth off (same view, no token)", "/__bench/merchants/{mid}"),
    Endpoint("merchant_auth", "GET /v1/merchants/{id}, real token", "/v1/merchants/{mid}", auth="bearer"),
    Endpoint("token", "POST /oauth2/token client_credentials", "/oauth2/token", auth="basic", method="POST"),
    Endpoint("ref_stack_sqlite", "ref: full stack + raw sqlite3 PK read", "/__bench/sqlite/merchants/{mid}",
             reference=True),
    Endpoint("ref_bare_sqlite", "ref: bare Flask + raw sqlite3 PK read", "/__bench/bare/sqlite/merchants/{mid}",
             reference=True),
]
PG_BASELINE = Endpoint("ref_bare_pg", "bare Flask + psycopg PK read (G3 baseline)", "/__bench/bare/pg/merchants/{mid}")

# (id, what, numerator, denominator, kind, target); kind rps: ratio >= target; p99: ratio <= target
GOALS = [
    ("G1", "full middleware stack vs hello (rps)", "healthz", "hello", "rps", 0.80),
    ("G2", "authenticated GET vs hello (rps)", "merchant_auth", "hello", "rps", 0.55),
    ("G2", "authenticated GET p99 vs hello p99", "merchant_auth", "hello", "p99", 2.0),
    ("G4", "auth on vs auth off, same endpoint (rps)", "merchant_auth", "merchant_noauth", "rps", 0.85),
]
PG_GOAL = ("G3", "authenticated GET (PostgreSQL) vs psycopg PK read (rps)", "merchant_auth", "ref_bare_pg", "rps", 0.70)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3, help="repetitions (>= 3 for a verdict)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured wrk run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of wrk warm-up per endpoint")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--workers", type=int, default=cores(), help="gunicorn sync workers (default: cores)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repetition, 2 s, 1 s warm-up")
    parser.add_argument("--only", help="comma-separated endpoint keys (hello is always measured)")
    parser.add_argument("--database-url", default="",
                        help="PostgreSQL URL of a database the benchmark may migrate and seed "
                             "(never the test suite's); default: SQLite on tmpfs")
    parser.add_argument("--redis-url", default="", help="Redis for rate limits and token-cache invalidation")
    parser.add_argument("--access-log", choices=("file", "devnull"), default="file",
                        help="where the JSON access log goes: a file on tmpfs (default) or /dev/null")
    parser.add_argument("--prometheus-multiproc", action="store_true",
                        help="set PROMETHEUS_MULTIPROC_DIR (metrics aggregated across workers)")
    parser.add_argument("--quiet-wait", type=float, default=20.0,
                        help="before each run, wait up to this many seconds for other processes to "
                             "use < --quiet-threshold of the box (0: do not wait)")
    parser.add_argument("--quiet-threshold", type=float, default=0.15)
    parser.add_argument("--nice", type=int, default=0,
                        help="run gunicorn and wrk under `nice -n N` (negative needs root): on a shared "
                             "machine, -10 keeps other work from landing on one side of a ratio")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps, args.duration, args.warmup = 1, 2.0, 1.0
    if not (1 <= args.reps <= 20 and 1 <= args.duration <= 120 and 0 <= args.warmup <= 30
            and 0 <= args.quiet_wait <= 300):
        parser.error("bounded runs only: 1-20 repetitions, 1-120 s per run, 0-30 s warm-up, "
                     "0-300 s quiet wait")
    if not (1 <= args.connections <= 1024 and 1 <= args.threads <= 64 and 1 <= args.workers <= 64):
        parser.error("connections 1-1024, threads 1-64, workers 1-64")
    if not -20 <= args.nice <= 19:
        parser.error("--nice is -20..19")
    return args


def server_env(scratch: Path, args, port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIJING_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({
        "SHIJING_ENV": "development",
        "SHIJING_INSTANCE_PATH": str(scratch / "instance"),
        "SHIJING_ISSUER": f"http://127.0.0.1:{port}",
        "SHIJING_BENCH_ROUTES": "1",
        "SHIJING_ACCESS_LOG": "1",
        "SHIJING_LOG_LEVEL": "INFO",
        "SHIJING_RATELIMIT_APP": UNLIMITED,
        "SHIJING_RATELIMIT_MERCHANT": UNLIMITED,
        "SHIJING_RATELIMIT_IP": UNLIMITED,
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    if args.database_url:
        env["SHIJING_DATABASE_URL"] = args.database_url
    if args.redis_url:
        env["SHIJING_REDIS_URL"] = args.redis_url
    if args.prometheus_multiproc:
        (scratch / "prometheus").mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(scratch / "prometheus")
    return env


def seed(env: dict) -> dict:
    """``shijing demo --json``: migrate and seed, exactly as scripts and examples do."""
    completed = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "demo", "--json"], env=env, cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=300,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"shijing demo failed:\n{completed.stderr[-3000:]}")
    out = completed.stdout
    return json.loads(out[out.index("{"):])


def client_credentials(base_url: str, basic: str) -> str:
    status, body = http("POST", base_url + "/oauth2/token", data=b"grant_type=client_credentials",
                        headers={"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise RuntimeError(f"token request failed: {status} {body[:300]!r}")
    return json.loads(body)["access_token"]


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return 0


def measure(server: Server, endpoint: Endpoint, merchants: list[str], token: str, basic: str, args,
            access_log: Path | None) -> dict:
    url = server.base_url + endpoint.path.replace("{mid}", merchants[0])
    if endpoint.method == "POST":
        script, env = LUA_DIR / "token.lua", {"WRK_AUTH": basic}
        headers = {"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"}
        status, body = http("POST", url, data=b"grant_type=client_credentials", headers=headers)
    else:
        paths = " ".join(endpoint.path.replace("{mid}", m) for m in merchants)
        auth = f"Bearer {token}" if endpoint.auth == "bearer" else ""
        script, env = LUA_DIR / "get.lua", {"WRK_PATHS": paths, "WRK_AUTH": auth}
        status, body = http("GET", url, headers={"Authorization": auth} if auth else {})
    if status != 200:  # fail fast: a benchmark of error responses measures nothing
        raise RuntimeError(f"{endpoint.key}: preflight {endpoint.method} {url} -> {status} {body[:300]!r}")
    common = dict(threads=args.threads, connections=args.connections, script=script, env=env, nice=args.nice)
    quiet_before = wait_for_quiet(args.quiet_wait, args.quiet_threshold) if args.quiet_wait else None
    if args.warmup:
        run_wrk(url, duration=args.warmup, **common)
    if access_log is not None:
        os.truncate(access_log, 0)
    with CpuMeter(server.pids()) as cpu:
        result = run_wrk(url, duration=args.duration, **common)
    log_lines = count_lines(access_log) if access_log is not None else None
    return {"rps": result.rps, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms,
            "requests": result.requests, "non_2xx": result.non_2xx,
            "socket_errors": result.socket_errors, "access_log_lines": log_lines,
            "server_cpu_us": cpu.server_seconds / max(1, result.requests) * 1e6,
            "wrk_cpu_us": cpu.wrk_seconds / max(1, result.requests) * 1e6,
            "foreign_share": cpu.foreign_share, "foreign_share_before": quiet_before}


def render(results: dict[str, list[dict]], endpoints: list[Endpoint], goals: list, meta: dict) -> str:
    hello = results["hello"]
    lines = [
        f"# Shijing HTTP ratios — {meta['started']}",
        "",
        f"{meta['server']}; `wrk -t{meta['threads']} -c{meta['connections']} -d{meta['duration']:g}s --latency` "
        f"after a {meta['warmup']:g} s warm-up; {meta['reps']} repetition(s), order alternating; "
        f"database: {meta['database']}; access log: {meta['access_log']}; "
        f"Redis: {'yes' if meta['redis'] else 'no'}; Prometheus multiprocess: "
        f"{'yes' if meta['prometheus_multiproc'] else 'no'}"
        + (f"; server and wrk under `nice -n {meta['nice']}`" if meta["nice"] else "") + ".",
        f"Machine: {meta['machine']}.",
        "",
        "rps, latencies and server CPU: median [min–max] over repetitions; ratios: median [min–max] of "
        "the per-repetition ratios to bare Flask hello (rps: endpoint / hello; CPU: hello µs / endpoint µs). "
        "Server CPU = gunicorn arbiter + workers, per request; foreign = other processes + steal, "
        "share of the box during the run (max over repetitions).",
        "",
        "| endpoint | rps | p50 / p99 ms | ratio to hello | server CPU µs/req | CPU ratio | foreign | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for endpoint in endpoints:
        rows = results.get(endpoint.key)
        if not rows:
            continue
        rps = summarise([r["rps"] for r in rows])
        p50 = summarise([r["p50_ms"] for r in rows]).median
        p99 = summarise([r["p99_ms"] for r in rows]).median
        ratio = ratio_stats([r["rps"] for r in rows], [h["rps"] for h in hello])
        cpu = summarise([r["server_cpu_us"] for r in rows])
        cpu_ratio = ratio_stats([h["server_cpu_us"] for h in hello], [r["server_cpu_us"] for r in rows])
        foreign = max(r["foreign_share"] for r in rows)
        errors = sum(r["non_2xx"] + r["socket_errors"] for r in rows)
        lines.append(f"| {endpoint.label} | {rps.fmt()} | {p50:.1f} / {p99:.1f} | {ratio.fmt(2)} | "
                     f"{cpu.fmt()} | {cpu_ratio.fmt(2)} | {foreign:.0%} | {errors} |")
    lines += ["", "| goal | metric | median [min–max] | target | verdict |", "|---|---|---|---|---|"]
    verdicts = []
    for gid, what, num, den, kind, target in goals:
        if not results.get(num) or not results.get(den):
            continue
        field = "rps" if kind == "rps" else "p99_ms"
        stats = ratio_stats([r[field] for r in results[num]], [r[field] for r in results[den]])
        ok = stats.median >= target if kind == "rps" else stats.median <= target
        if meta["reps"] < 3:
            verdict = "(smoke run: no verdict)"
        else:
            verdict = "pass" if ok else "**miss**"
        verdicts.append({"goal": gid, "metric": what, "median": stats.median, "min": stats.low,
                         "max": stats.high, "target": target, "pass": ok})
        sign = "≥" if kind == "rps" else "≤"
        lines.append(f"| {gid} | {what} | {stats.fmt(2)} | {sign} {target:.2f} | {verdict} |")
    meta["verdicts"] = verdicts
    shares = [r["foreign_share"] for rows in results.values() for r in rows]
    if shares:
        noisy = sum(1 for x in shares if x > 0.10)
        lines += ["", f"Noise: other processes and steal took a median {statistics.median(shares):.0%} "
                      f"(max {max(shares):.0%}) of the box during the measured runs; {noisy} of "
                      f"{len(shares)} runs above 10 %." + (" ⚠ A busy machine: re-run when it is quiet "
                                                          "before trusting the verdicts." if noisy else "")]
    project = [e.key for e in endpoints if not e.path.startswith("/__bench/bare")]
    logged = sum(r["access_log_lines"] or 0 for key in project for r in results.get(key, []))
    served = sum(r["requests"] for key in project for r in results.get(key, []))
    if meta["access_log"].startswith("file"):
        lines += ["", f"Access log check: {logged} JSON lines written during {served} measured requests "
                      "to the project app (bare routes write none)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    require_wrk()
    endpoints = list(ENDPOINTS)
    goals = list(GOALS)
    is_pg = args.database_url.startswith(("postgres://", "postgresql"))
    if args.database_url and not is_pg:
        sys.exit("error: --database-url must be a PostgreSQL URL (the default is SQLite on tmpfs)")
    if is_pg:
        endpoints = [e for e in endpoints if "sqlite" not in e.key] + [PG_BASELINE]
        goals.append(PG_GOAL)
    if args.only:
        wanted = {"hello", *args.only.split(",")}
        unknown = wanted - {e.key for e in endpoints}
        if unknown:
            sys.exit(f"error: unknown endpoint keys {sorted(unknown)}; known: {[e.key for e in endpoints]}")
        endpoints = [e for e in endpoints if e.key in wanted]

    scratch = scratch_dir()
    access_log = scratch / "access.log" if args.access_log == "file" else None
    results: dict[str, list[dict]] = {e.key: [] for e in endpoints}
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    try:
        # the port is chosen first: the issuer (and so the token endpoint) must name it
        server = Server({}, scratch, workers=args.workers, nice=args.nice,
                        stderr_path=str(access_log) if access_log else os.devnull)
        env = server_env(scratch, args, server.port)
        server.env = env
        demo = seed(env)
        merchants = [m["id"] for m in demo["merchants"]]
        partner = demo["partner_app"]
        basic = "Basic " + base64.b64encode(
            f"{partner['client_id']}:{partner['client_secret']}".encode()).decode()
        print(f"scratch {scratch}; seeded {len(merchants)} merchants; starting {server.describe()}",
              file=sys.stderr)
        with AutogroupNice(args.nice), server:
            for rep in range(args.reps):
                token = client_credentials(server.base_url, basic)  # a fresh, real token per repetition
                order = endpoints if rep % 2 == 0 else list(reversed(endpoints))
                for endpoint in order:
                    row = measure(server, endpoint, merchants, token, basic, args, access_log)
                    results[endpoint.key].append(row)
                    print(f"rep {rep + 1}/{args.reps} {endpoint.key:18s} {row['rps']:8.0f} rps  "
                          f"p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  "
                          f"server {row['server_cpu_us']:5.0f} µs/req  foreign {row['foreign_share']:4.0%}  "
                          f"errors {row['non_2xx'] + row['socket_errors']}", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    meta = {
        "started": started, "server": f"{server.describe()} (`bench/wsgi.py`, one process)",
        "threads": args.threads, "connections": args.connections, "duration": args.duration,
        "warmup": args.warmup, "reps": args.reps,
        "database": ("PostgreSQL " + args.database_url.rsplit("@", 1)[-1]) if is_pg else "SQLite file on tmpfs",
        "access_log": "file on tmpfs" if access_log else "/dev/null",
        "machine": machine_summary(),
        "redis": bool(args.redis_url), "prometheus_multiproc": args.prometheus_multiproc,
        "nice": args.nice,
    }
    markdown = render(results, endpoints, goals, meta)
    print(markdown)
    if not args.no_save:
        path = write_results("http-ratios", markdown, {"meta": meta, "results": results})
        print(f"saved {path.relative_to(REPO_ROOT)}", file=sys.stderr)
    errors = sum(r["non_2xx"] + r["socket_errors"] for rows in results.values() for r in rows)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
