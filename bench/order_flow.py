#!/usr/bin/env python
"""Purchase and verification (核销) throughput, as ratios to bare Flask hello in the same run.

    .venv/bin/python bench/order_flow.py --quick            # smoke run: 1 repetition x 2 s
    .venv/bin/python bench/order_flow.py --nice -10         # 3 repetitions x 10 s per endpoint
    .venv/bin/python bench/order_flow.py --database-url postgresql://127.0.0.1:5432/orderbench
    .venv/bin/python bench/order_flow.py --profile          # in-process: where a verification's time goes

Issue 9: "purchase + verification throughput next to bare Flask hello world in the same run".

- purchase: ``POST /v1/platform-client/orders`` with demo user alice's ``platform.client`` token
  (the console app's real code flow): one voucher (``hotpot-voucher-100`` at ``hotpot-jiefangbei``),
  quantity 1, no Idempotency-Key. The product's stock is set to 10 000 000 before the server starts.
- pay: ``POST /v1/platform-client/orders/{id}/payments`` (a fresh Idempotency-Key per request) on an
  unpaid order of demo user carol, one per request, from a pool placed before the run.
- simulate: ``POST /v1/platform-client/payments/{id}/simulate`` — the simulated provider's cashier
  and its signed callback applied: the order paid, its certificate issued, ``order.paid`` emitted —
  on a pending payment of carol's, one per request, from a pool made before the run.
- verify: ``POST /v1/merchants/{merchant_id}/verifications`` with the demo partner app's
  client-credentials token (``order.fulfil``), a fresh Idempotency-Key and one code per request,
  from a pool of paid certificates (demo user bob's orders of 4 vouchers) issued before the run.

Pools are made in the scratch database through ``gateway.orders.services`` (``place_order``,
``start_payment``, ``apply_callback``; codes read with ``services._code_box().open(...)``), written one
value a line, and handed out by ``bench/lua/order_flow.lua`` (as the login-code pool of
``bench/miniprogram_login.py``: thread t of n takes lines offset + t, + n, ...). The unpaid orders'
payment window (``SHIJING_ORDER_PAYMENT_TTL``) is raised to 6 h for the run.

Options: those of ``bench/http_ratios.py`` (``--reps``, ``--duration``, ``--quick``, ``--nice``,
``--database-url``, ``--quiet-wait``, ``--only purchase,verify,...``) plus ``--rps-cap R`` (what each
pool assumes no run exceeds; pool = reps x (warm-up + duration) x R + 10 %), ``--profile`` and
``--calls N`` (in-process mode).

Checks: before the load, one verification answers 201 and the same code with a new key 409;
each pooled endpoint's preflight answers as expected; after the runs, statuses from the access log;
at the end, used certificates in the database = verifications answered 201, alice's orders =
purchases answered 201, carol's payments = pays answered 201 + the simulate pool, carol's succeeded
payments = simulations answered 200. Exit status 1 on any non-2xx or socket error in a measured
run, on a pool that ran dry, or on a mismatch.
"""

from __future__ import annotations

import base64
import json
import math
import os
import secrets
import shutil
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    LUA_DIR,
    REPO_ROOT,
    AutogroupNice,
    CpuMeter,
    Server,
    http,
    machine_summary,
    run_wrk,
    scratch_dir,
    wait_for_quiet,
    write_results,
)
from bench.http_ratios import Endpoint, count_lines, parse_args, render, seed, server_env  # noqa: E402
from bench.miniprogram_login import CodePool, _run_with, app_token, user_token  # noqa: E402

PURCHASE_PATH = "/v1/platform-client/orders"
ENDPOINTS = [
    Endpoint("hello", "bare Flask hello (baseline)", "/__bench/bare/hello"),
    Endpoint("healthz", "ref: GET /healthz, full middleware stack", "/healthz", reference=True),
    Endpoint("purchase", "POST /v1/platform-client/orders (1 voucher, qty 1)", PURCHASE_PATH,
             auth="bearer", method="POST"),
    Endpoint("pay", "POST …/orders/{id}/payments (start paying)", "/v1/platform-client/orders/{}/payments",
             auth="bearer", method="POST"),
    Endpoint("simulate", "POST …/payments/{id}/simulate (paid, certificate issued)",
             "/v1/platform-client/payments/{}/simulate", auth="bearer", method="POST"),
    Endpoint("verify", "POST /v1/merchants/{id}/verifications (1 code)", "/v1/merchants/{merchant}/verifications",
             auth="bearer", method="POST"),
]
POOLED = ("pay", "simulate", "verify")
EXPECTED = {"healthz": 200, "purchase": 201, "pay": 201, "simulate": 200, "verify": 201}
LUA = LUA_DIR / "order_flow.lua"
DEFAULT_RPS_CAP = 600  # per pooled endpoint: more than any run is expected to reach on 2 cores (measured <= ~420)
PAYMENT_TTL = 6 * 3600
STOCK = 10_000_000
MAX_POOL = 200_000
PRODUCT, POI = "hotpot-voucher-100", "hotpot-jiefangbei"  # demo data (gateway/demo.py)
CODES_PER_ORDER = 4  # the demo voucher's max_per_order


# --- before the server starts: stock and pools, in the scratch database ------------------------------


def prepare_here(partner_app_id: str, users: dict, counts: dict, folder: str) -> dict:
    """Runs in a subprocess with the server's environment. Sets the voucher's stock, then makes
    the pools through the order services, committed in batches: ``verify`` codes of paid
    certificates (bob), ``pay`` unpaid orders and ``simulate`` pending payments (carol)."""
    from sqlalchemy import select, update

    from gateway import create_app
    from gateway.orders import services
    from gateway.poi.models import Poi, Product

    app = create_app()
    timings = {}
    with app.app_context():
        db = app.extensions["shijing.db"]
        with db.new_session() as session:
            product_id = session.scalar(select(Product.id).where(Product.source_app_id == partner_app_id,
                                                                 Product.external_id == PRODUCT))
            poi = session.scalar(select(Poi).where(Poi.source_app_id == partner_app_id, Poi.external_id == POI))
            poi_id, merchant_id = poi.id, poi.merchant_id
            session.execute(update(Product).where(Product.id == product_id).values(stock=STOCK))
            session.commit()

        def order(session, user_id: str, quantity: int):
            return services.place_order(session, user_id, {
                "poi_id": poi_id, "items": [{"product_id": product_id, "quantity": quantity}], "channel": "poi_page"})

        def batches(total: int, size: int, make, path: Path) -> None:
            started = time.perf_counter()
            with open(path, "w") as out:
                done = 0
                while done < total:
                    n = min(size, total - done)
                    with db.new_session() as session:
                        values = make(session, n)
                        session.commit()
                    out.write("".join(v + "\n" for v in values))
                    done += n
            timings[path.stem] = {"count": total, "seconds": time.perf_counter() - started}

        def paid_codes(session, n: int) -> list[str]:
            codes = []
            for _ in range(math.ceil(n / CODES_PER_ORDER)):
                placed = order(session, users["bob"], CODES_PER_ORDER)
                session.flush()
                payment, _ = services.start_payment(session, placed)
                session.flush()
                services.apply_callback(session, {"payment_id": payment.id, "status": "succeeded",
                                                  "amount": payment.amount,
                                                  "provider_transaction_id": "bench_" + secrets.token_hex(8)})
                session.flush()
                certificates = session.scalars(select(services.Certificate).where(
                    services.Certificate.order_id == placed.id)).all()
                codes += [services._code_box().open(c.code_sealed) for c in certificates]
            return codes[:n] if len(codes) > n else codes

        def unpaid_orders(session, n: int) -> list[str]:
            placed = [order(session, users["carol"], 1) for _ in range(n)]
            return [o.id for o in placed]

        def pending_payments(session, n: int) -> list[str]:
            payments = []
            for _ in range(n):
                placed = order(session, users["carol"], 1)
                session.flush()
                payments.append(services.start_payment(session, placed)[0])
            session.flush()
            return [p.id for p in payments]

        folder_path = Path(folder)
        makers = {"verify": (paid_codes, 400), "pay": (unpaid_orders, 1000), "simulate": (pending_payments, 1000)}
        for key, count in counts.items():
            if count:
                make, size = makers[key]
                batches(count, size, make, folder_path / f"{key}.txt")
    # a verify batch may end with up to 3 codes more than asked for (orders of 4): the file is the pool
    return {"product_id": product_id, "poi_id": poi_id, "merchant_id": merchant_id, "timings": timings}


def prepare(env: dict, partner_app_id: str, users: dict, counts: dict, folder: Path) -> dict:
    code = (f"import json; from bench.order_flow import prepare_here; "
            f"print(json.dumps(prepare_here({partner_app_id!r}, {users!r}, {counts!r}, {str(folder)!r})))")
    return json.loads(_run_with(env, code, "preparing stock and pools", timeout=3000))


def db_counts_here(users: dict) -> dict:
    """Runs in a subprocess: what the checks compare with the answered statuses."""
    from sqlalchemy import func, select

    from gateway import create_app
    from gateway.orders.models import Certificate, Order, Payment

    app = create_app()
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        def count(statement) -> int:
            return s.scalar(statement)

        carol_payments = select(func.count()).select_from(Payment).join(Order, Order.id == Payment.order_id) \
            .where(Order.user_id == users["carol"])
        return {
            "used_certificates": count(select(func.count()).select_from(Certificate)
                                       .where(Certificate.status == "used")),
            "alice_orders": count(select(func.count()).select_from(Order).where(Order.user_id == users["alice"])),
            "carol_payments": count(carol_payments),
            "carol_payments_succeeded": count(carol_payments.where(Payment.status == "succeeded")),
            "orders": count(select(func.count()).select_from(Order)),
        }


def db_counts(env: dict, users: dict) -> dict:
    code = f"import json; from bench.order_flow import db_counts_here; print(json.dumps(db_counts_here({users!r})))"
    try:
        return json.loads(_run_with(env, code, "counting rows", timeout=300))
    except RuntimeError as error:
        print(f"warning: {error}", file=sys.stderr)
        return {}


# --- the access log --------------------------------------------------------------------------------


def kind_of(path: str, merchant_id: str) -> str | None:
    if path == PURCHASE_PATH:
        return "purchase"
    if path.startswith("/v1/platform-client/orders/") and path.endswith("/payments"):
        return "pay"
    if path.startswith("/v1/platform-client/payments/") and path.endswith("/simulate"):
        return "simulate"
    if path == f"/v1/merchants/{merchant_id}/verifications":
        return "verify"
    return None


class AccessLog:
    """The JSON access log on tmpfs. Never truncated while the server runs (a request still in
    flight when a warm-up ends could write its line between a read and a truncation, and be lost):
    a measured run reads the lines written since its start offset, the totals are read once at
    the end. Requests of a warm-up that finish after it count in the measured run's statuses."""

    def __init__(self, path: Path, merchant_id: str) -> None:
        self.path = path
        self.merchant_id = merchant_id

    def offset(self) -> int:
        return self.path.stat().st_size

    def statuses(self, start: int = 0) -> tuple[dict[str, Counter], int]:
        """Statuses per kind of request and the number of lines, from byte ``start`` on."""
        found: dict[str, Counter] = {}
        count = 0
        with open(self.path, "rb") as handle:
            handle.seek(start)
            for raw in handle:
                count += 1
                line = raw.decode("utf-8", errors="replace")
                if '"path"' not in line:
                    continue
                try:
                    record = json.loads(line[line.index("{"):])
                except ValueError:
                    continue
                kind = kind_of(record.get("path") or "", self.merchant_id)
                if kind:
                    found.setdefault(kind, Counter())[str(record.get("status"))] += 1
        return found, count


# --- one measured endpoint -------------------------------------------------------------------------


def post(base_url: str, path: str, token: str, body: str = "", key: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"}
    if body:
        headers["Content-Type"] = "application/json"
    if key:
        headers["Idempotency-Key"] = key
    status, raw = http("POST", base_url + path, data=body.encode() if body else b"", headers=headers)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, {"raw": raw[:300].decode(errors="replace")}


class Plan:
    """What each endpoint sends: path and body templates ("{}" is the pool line), token, key."""

    def __init__(self, paths: dict, bodies: dict, tokens: dict, pools: dict) -> None:
        self.paths, self.bodies, self.tokens, self.pools = paths, bodies, tokens, pools

    def preflight(self, base_url: str, key: str) -> tuple[int, dict]:
        value = self.pools[key].take_one() if key in self.pools else ""
        path = self.paths[key].replace("{}", value)
        if key == "healthz":
            return http("GET", base_url + path)[0], {}
        return post(base_url, path, self.tokens[key], self.bodies[key].replace("{}", value),
                    key=f"pre-{secrets.token_hex(8)}" if key in ("pay", "verify") else None)


def measure(server: Server, endpoint: Endpoint, plan: Plan, args, log: AccessLog | None) -> dict:
    key = endpoint.key
    url = server.base_url + (plan.paths[key] if "{}" not in plan.paths[key] else "/")
    if key == "hello":
        script, status = LUA_DIR / "get.lua", http("GET", url)[0]
    elif key == "healthz":
        script, status = LUA_DIR / "get.lua", plan.preflight(server.base_url, key)[0]
    else:
        script = LUA
        status, body = plan.preflight(server.base_url, key)
        if status != EXPECTED[key] or (key == "simulate" and body.get("status") != "succeeded"):
            raise RuntimeError(f"{key}: preflight {plan.paths[key]} -> {status} {str(body)[:300]}")
    if status != 200 and key in ("hello", "healthz"):
        raise RuntimeError(f"{key}: preflight -> {status}")

    def wrk_env() -> dict:
        if key in ("hello", "healthz"):
            return {"WRK_PATHS": plan.paths[key], "WRK_AUTH": ""}
        env = {"WRK_AUTH": f"Bearer {plan.tokens[key]}", "WRK_PATH": plan.paths[key], "WRK_BODY": plan.bodies[key],
               "WRK_IDEMPOTENCY": "1" if key in ("pay", "verify") else "0",
               "WRK_KEY_PREFIX": f"b{secrets.token_hex(6)}"}
        if key in plan.pools:
            env["WRK_LINES_FILE"] = str(plan.pools[key].path)
            env.update({k: v for k, v in plan.pools[key].wrk_env(args.threads).items() if k != "WRK_CODES_FILE"})
        return env

    common = {"threads": args.threads, "connections": args.connections, "script": script, "nice": args.nice}
    quiet_before = wait_for_quiet(args.quiet_wait, args.quiet_threshold) if args.quiet_wait else None
    spent_warmup = exhausted_warmup = 0
    if args.warmup:
        warm = run_wrk(url, duration=args.warmup, env=wrk_env(), **common)
        if key in plan.pools:
            spent_warmup, exhausted_warmup = plan.pools[key].advance(warm.raw)
    start = log.offset() if log is not None else 0
    with CpuMeter(server.pids()) as cpu:
        result = run_wrk(url, duration=args.duration, env=wrk_env(), **common)
    spent = exhausted = 0
    if key in plan.pools:
        spent, exhausted = plan.pools[key].advance(result.raw)
    time.sleep(0.2)  # requests cut off at the end of the run finish and are logged
    log_lines, measured = None, Counter()
    if log is not None:
        found, log_lines = log.statuses(start)
        measured = found.get(key, Counter())
    return {"rps": result.rps, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms,
            "requests": result.requests, "non_2xx": result.non_2xx,
            "socket_errors": result.socket_errors, "access_log_lines": log_lines,
            "server_cpu_us": cpu.server_seconds / max(1, result.requests) * 1e6,
            "wrk_cpu_us": cpu.wrk_seconds / max(1, result.requests) * 1e6,
            "foreign_share": cpu.foreign_share, "foreign_share_before": quiet_before,
            "statuses": dict(measured), "pool_spent": spent, "pool_spent_warmup": spent_warmup,
            "pool_exhausted": exhausted + exhausted_warmup}


# --- the HTTP benchmark ----------------------------------------------------------------------------


def own_options(argv: list[str]) -> tuple[dict, list[str]]:
    own = {"--rps-cap": DEFAULT_RPS_CAP, "--profile": False, "--calls": 1000}
    argv = list(argv)
    for name in ("--rps-cap", "--calls"):
        if name in argv:
            at = argv.index(name)
            own[name] = int(argv[at + 1])
            del argv[at:at + 2]
    if "--profile" in argv:
        argv.remove("--profile")
        own["--profile"] = True
    if not (10 <= own["--rps-cap"] <= 5_000 and 100 <= own["--calls"] <= 10_000):
        sys.exit("error: --rps-cap 10-5000, --calls 100-10000")
    return own, argv


def pool_size(args, rps_cap: int) -> int:
    return min(MAX_POOL, math.ceil(args.reps * (args.warmup + args.duration) * rps_cap * 1.1) + 100)


def run_http(args, own: dict) -> int:
    is_pg = args.database_url.startswith(("postgres://", "postgresql"))
    if args.database_url and not is_pg:
        sys.exit("error: --database-url must be a PostgreSQL URL (the default is SQLite on tmpfs)")
    endpoints = ENDPOINTS if not args.only else [e for e in ENDPOINTS if e.key in {"hello", *args.only.split(",")}]
    keys = {e.key for e in endpoints}
    size = pool_size(args, own["--rps-cap"])
    # verify: + 1 for the single-use check; each pool: + 1 per repetition for the preflights
    counts = {k: (size + args.reps + (1 if k == "verify" else 0)) if k in keys else 0 for k in POOLED}
    if "verify" not in keys:
        counts["verify"] = 1  # the single-use check runs in every mode

    scratch = scratch_dir("shijing-bench-orders-")
    access_log = scratch / "access.log" if args.access_log == "file" else None
    results: dict[str, list[dict]] = {e.key: [] for e in endpoints}
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    checks: dict = {}
    log = None
    try:
        server = Server({}, scratch, workers=args.workers, nice=args.nice,
                        stderr_path=str(access_log) if access_log else os.devnull)
        env = server_env(scratch, args, server.port)
        env["SHIJING_ORDER_PAYMENT_TTL"] = str(PAYMENT_TTL)
        server.env = env
        demo = seed(env)
        users = {name: demo["users"][name]["id"] for name in ("alice", "bob", "carol")}
        partner = demo["partner_app"]
        before = db_counts(env, users)  # a PostgreSQL database may keep rows of earlier runs
        checks["before"] = before
        made = prepare(env, partner["client_id"], users, counts, scratch)
        checks["prepare"] = made["timings"]
        pools = {k: CodePool(scratch / f"{k}.txt", count_lines(scratch / f"{k}.txt"))
                 for k in POOLED if counts[k]}
        for k, t in made["timings"].items():
            print(f"pool {k}: {t['count']} in {t['seconds']:.1f} s ({t['count'] / t['seconds']:.0f}/s)",
                  file=sys.stderr)
        log = AccessLog(access_log, made["merchant_id"]) if access_log else None
        poi_id, product_id, merchant_id = made["poi_id"], made["product_id"], made["merchant_id"]
        paths = {e.key: e.path.replace("{merchant}", merchant_id) for e in ENDPOINTS}
        bodies = {"purchase": json.dumps({"poi_id": poi_id, "items": [{"product_id": product_id, "quantity": 1}]},
                                         separators=(",", ":")),
                  "pay": "", "simulate": "",
                  "verify": json.dumps({"poi_id": poi_id, "codes": ["{}"]}, separators=(",", ":"))}
        print(f"scratch {scratch}; starting {server.describe()}", file=sys.stderr)
        with AutogroupNice(args.nice), server:
            partner_token = app_token(server.base_url, partner["client_id"], partner["client_secret"], "order.fulfil")
            # a used code answers 409: proves the load below cannot be served from reused codes
            code = pools["verify"].take_one()
            body = bodies["verify"].replace("{}", code)
            first, answer = post(server.base_url, paths["verify"], partner_token, body, key=secrets.token_hex(8))
            again, answer_again = post(server.base_url, paths["verify"], partner_token, body, key=secrets.token_hex(8))
            if first != 201 or again != 409:
                raise RuntimeError(f"verification check failed: first {first} {answer}, again {again} {answer_again}")
            checks["replay"] = {"first": first, "again": again, "again_code": answer_again.get("code")}
            for rep in range(args.reps):
                # fresh, real tokens per repetition (access tokens live 15 minutes)
                user = user_token(server.base_url, demo, "alice", "platform.client")
                tokens = {"purchase": user,
                          "pay": user_token(server.base_url, demo, "carol", "platform.client"),
                          "verify": app_token(server.base_url, partner["client_id"], partner["client_secret"],
                                              "order.fulfil")}
                tokens["simulate"] = tokens["pay"]
                plan = Plan(paths, bodies, tokens, pools)
                order = endpoints if rep % 2 == 0 else list(reversed(endpoints))
                for endpoint in order:
                    row = measure(server, endpoint, plan, args, log)
                    results[endpoint.key].append(row)
                    pool = pools.get(endpoint.key) if endpoint.key in POOLED else None
                    extra = f"  pool {pool.next}/{pool.size}" if pool else ""
                    print(f"rep {rep + 1}/{args.reps} {endpoint.key:8s} {row['rps']:8.0f} rps  "
                          f"p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  "
                          f"server {row['server_cpu_us']:5.0f} µs/req  foreign {row['foreign_share']:4.0%}  "
                          f"errors {row['non_2xx'] + row['socket_errors']}  {row['statuses']}{extra}",
                          file=sys.stderr)
        if log is not None:  # the server has stopped: every answered request is in the log
            checks["statuses"] = {k: dict(v) for k, v in log.statuses()[0].items()}
        after = db_counts(env, users)
        checks["after"] = after
        checks["pool_next"] = {k: p.next for k, p in pools.items()}
        checks["pool_size"] = {k: p.size for k, p in pools.items()}
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    meta = {
        "started": started, "server": f"{server.describe()} (`bench/wsgi.py`, one process)",
        "threads": args.threads, "connections": args.connections, "duration": args.duration,
        "warmup": args.warmup, "reps": args.reps,
        "database": ("PostgreSQL " + args.database_url.rsplit("@", 1)[-1]) if is_pg else "SQLite file on tmpfs",
        "access_log": "file on tmpfs" if access_log else "/dev/null",
        "machine": machine_summary(), "redis": bool(args.redis_url),
        "prometheus_multiproc": args.prometheus_multiproc, "nice": args.nice, "payment_ttl": PAYMENT_TTL,
    }
    markdown = render(results, endpoints, [], meta).replace("# Shijing HTTP ratios", "# Shijing orders", 1)
    markdown = markdown.replace("\n| goal | metric | median [min–max] | target | verdict |\n|---|---|---|---|---|\n", "\n")
    problems = verify_checks(results, checks)
    markdown += report(results, checks, problems)
    print(markdown)
    if not args.no_save:
        name = "order-flow" + ("-pg" if is_pg else "")
        path = write_results(name, markdown, {"meta": meta, "checks": checks, "results": results})
        print(f"saved {path.relative_to(REPO_ROOT)}", file=sys.stderr)
    errors = sum(r["non_2xx"] + r["socket_errors"] for rows in results.values() for r in rows)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if errors or problems else 0


def verify_checks(results: dict, checks: dict) -> list[str]:
    """The database against the answered statuses (every request of the run: warm-ups, preflights
    and the single-use check included)."""
    problems = []
    exhausted = sum(r["pool_exhausted"] for rows in results.values() for r in rows)
    if exhausted:
        problems.append(f"{exhausted} requests found a pool empty: raise --rps-cap")
    statuses, before, after = checks.get("statuses"), checks.get("before", {}), checks.get("after", {})
    if statuses is None or not after:
        return problems + (["no access log or no row counts: the database checks did not run"]
                           if statuses is None or not after else [])

    def answered(kind: str, status: str) -> int:
        return statuses.get(kind, {}).get(status, 0)

    def grew(name: str) -> int:
        return after.get(name, 0) - before.get(name, 0)

    pairs = [("used certificates", grew("used_certificates"), "verifications answered 201", answered("verify", "201")),
             ("alice's orders", grew("alice_orders"), "purchases answered 201", answered("purchase", "201"))]
    simulate_pool = checks.get("prepare", {}).get("simulate", {}).get("count", 0)
    if "pay" in results or "simulate" in results:
        pairs.append(("carol's payments", grew("carol_payments"), "pays answered 201 + the simulate pool",
                      answered("pay", "201") + simulate_pool))
        pairs.append(("carol's succeeded payments", grew("carol_payments_succeeded"), "simulations answered 200",
                      answered("simulate", "200")))
    checks["pairs"] = pairs
    for what, in_db, versus, count in pairs:
        if in_db != count:
            problems.append(f"{what} in the database {in_db} != {versus} {count}")
    return problems


def report(results: dict, checks: dict, problems: list[str]) -> str:
    prepare_ = checks.get("prepare", {})
    lines = [""]
    made = "; ".join(f"{k} {t['count']} in {t['seconds']:.0f} s ({t['count'] / t['seconds']:.0f}/s)"
                     for k, t in prepare_.items())
    lines.append(f"Pools made through `gateway.orders.services` before the server started (one process): {made}. "
                 f"Stock of the voucher set to {STOCK}; unpaid orders' payment window {PAYMENT_TTL} s.")
    replay = checks.get("replay")
    if replay:
        lines.append(f"Single use: one code verified answered {replay['first']}, the same code with a new key "
                     f"{replay['again']} ({replay['again_code']}).")
    for key in ("purchase", "pay", "simulate", "verify"):
        rows = results.get(key)
        if not rows:
            continue
        status_total: Counter = Counter()
        for r in rows:
            status_total.update(r["statuses"])
        pool = (f"; pool lines spent {sum(r['pool_spent'] for r in rows)} measured + "
                f"{sum(r['pool_spent_warmup'] for r in rows)} warm-up of {checks.get('pool_size', {}).get(key)}, "
                f"{sum(r['pool_exhausted'] for r in rows)} requests found it empty") if key in POOLED else ""
        lines.append(f"{key}: {sum(r['requests'] for r in rows)} measured requests, "
                     f"{sum(r['non_2xx'] for r in rows)} non-2xx (wrk); access log of the measured runs "
                     f"{dict(status_total)}{pool}.")
    if "statuses" in checks:
        lines.append(f"Every request of the run in the access log (warm-ups, preflights, checks): {checks['statuses']}.")
    for what, in_db, versus, count in checks.get("pairs", []):
        lines.append(f"Check: {what} added in the database {in_db}, {versus} {count}: "
                     f"{'equal' if in_db == count else '**MISMATCH**'}.")
    if problems:
        lines.append("Problems: " + "; ".join(problems) + ".")
    return "\n".join(lines) + "\n"


# --- in process: where a verification's time goes --------------------------------------------------

PROFILE_PARTS = [
    ("Flask request context, `before_request` hooks", "flask/app.py", "preprocess_request"),
    ("bearer token check", "gateway/http/auth.py", "resolve_bearer_token"),
    ("`@idempotent`: claim of the key (own session, INSERT + commit)", "gateway/http/idempotency.py", "_claim"),
    ("`@idempotent`: response sealed and stored (`_store`)", "gateway/http/idempotency.py", "_store"),
    ("body schema (marshmallow load)", "marshmallow/schema.py", "load"),
    ("**service** `fulfilment.verify`", "gateway/orders/fulfilment.py", "verify"),
    ("↳ `check` (POI, certificates, products, product-POI, slots, holiday)", "gateway/orders/fulfilment.py", "check"),
    ("↳ `_after_change` (orders, settle_status, dump, tell → emit)", "gateway/orders/fulfilment.py", "_after_change"),
    ("  ↳ `settle_status` (flush + count per status)", "gateway/orders/services.py", "settle_status"),
    ("  ↳ `tell` (partner_apps query, emit events)", "gateway/orders/services.py", "tell"),
    ("  ↳ `emit` (event row + webhook fan-out)", "gateway/events/services.py", "emit"),
    ("`fulfilment.dump` (the response, certificates re-read)", "gateway/orders/fulfilment.py", "dump"),
    ("ORM flushes (`Session.flush`)", "sqlalchemy/orm/session.py", "flush"),
    ("ORM statements executed (`Session.execute`)", "sqlalchemy/orm/session.py", "execute"),
    ("`after_request` hooks (unit of work, access log, headers)", "flask/app.py", "process_response"),
    ("↳ the unit of work's commit (`_unit_of_work`)", "gateway/__init__.py", "_unit_of_work"),
    ("teardown (session removed, connections returned)", "flask/ctx.py", "pop"),
]


def profile_shares(stats) -> list[tuple[str, float]]:
    total = max(ct for (_, _, _, ct, _) in stats.stats.values())
    shares = []
    for label, suffix, function in PROFILE_PARTS:
        cumulative = [ct for (filename, _, name), (_, _, _, ct, _) in stats.stats.items()
                      if filename.endswith(suffix) and name == function]
        if cumulative:
            shares.append((label, max(cumulative) / total))
    return shares


class StatementCounter:
    """SQL statements per request, by their first words (SQLAlchemy ``before_cursor_execute``)."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.seen: Counter = Counter()
        self.engine = engine
        self._listen = lambda conn, cursor, statement, params, context, many: self.seen.update(
            [" ".join(statement.split()[:3])[:60]])
        event.listen(engine, "before_cursor_execute", self._listen)

    def close(self) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._listen)


def run_profile(args, own: dict) -> int:
    """Verifications called in this process (no server, no wrk): CPU µs per request beside hello and
    healthz, SQL statements per verification, and a CPU-time cProfile."""
    import cProfile
    import io
    import pstats

    from bench.profile_inprocess import InProcess

    calls, reps = own["--calls"], args.reps
    with InProcess(args.database_url) as bench:
        demo = seed(dict(os.environ))  # idempotent: the same apps and credentials InProcess seeded
        gateway_app = bench.application.app
        users = {name: demo["users"][name]["id"] for name in ("alice", "bob", "carol")}
        partner = demo["partner_app"]
        folder = bench.scratch
        os.environ["SHIJING_ORDER_PAYMENT_TTL"] = str(PAYMENT_TTL)
        basic = base64.b64encode(f"{partner['client_id']}:{partner['client_secret']}".encode()).decode()
        status, body = bench.call(bench.build("POST", "/oauth2/token", {
            "Authorization": "Basic " + basic, "Content-Type": "application/x-www-form-urlencoded"},
            "grant_type=client_credentials&scope=order.fulfil"))
        assert status.startswith("200"), (status, body)
        token = json.loads(body)["access_token"]
        need = reps * calls + 50 + 200 + calls
        made = prepare_in(gateway_app, partner["client_id"], users, {"verify": need}, folder)
        codes = (folder / "verify.txt").read_text().split()
        merchant, poi = made["merchant_id"], made["poi_id"]
        path = f"/v1/merchants/{merchant}/verifications"
        template = bench.build("POST", path, {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                                              "Idempotency-Key": "x"}, "{}")

        def verify_over_wsgi(batch: list[str]) -> Counter:
            seen: Counter = Counter()
            for code in batch:
                environ = dict(template)
                environ["HTTP_IDEMPOTENCY_KEY"] = secrets.token_hex(8)
                raw = json.dumps({"poi_id": poi, "codes": [code]}).encode()
                environ["wsgi.input"] = io.BytesIO(raw)
                environ["CONTENT_LENGTH"] = str(len(raw))
                answer: list[str] = []
                b"".join(bench.application(environ, lambda s, h, e=None, answer=answer: answer.append(s)))
                seen[answer[0][:3]] += 1
            return seen

        def take(n: int) -> list[str]:
            batch, codes[:] = codes[:n], codes[n:]
            return batch

        timings: dict[str, list[float]] = {"hello": [], "healthz": [], "verify": []}
        statuses_seen: Counter = Counter()
        verify_over_wsgi(take(50))  # warm-up
        for _ in range(reps):
            for key in ("hello", "healthz"):
                timings[key].append(bench.time(key, calls))
            batch = take(calls)
            started = time.process_time()
            statuses_seen.update(verify_over_wsgi(batch))
            timings["verify"].append((time.process_time() - started) / len(batch) * 1e6)
            bench.log.truncate(0)

        # the purchase beside it: statements and CPU of one order placed over WSGI (alice's token)
        purchase_statements, purchase_us = purchase_probe(bench, gateway_app, demo, made, calls)
        counter = StatementCounter(gateway_app.extensions["shijing.db"].engine)
        profiler = cProfile.Profile()
        profiler.enable()
        statuses_seen.update(verify_over_wsgi(take(200)))
        profiler.disable()
        counter.close()
        calls_per = pstats.Stats(profiler).total_calls / 200
        statements = {k: v / 200 for k, v in counter.seen.most_common()}

        profiler = cProfile.Profile(time.process_time)
        batch = take(calls)
        profiler.enable()
        statuses_seen.update(verify_over_wsgi(batch))
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        verify_us = statistics.median(timings["verify"])
        hello = statistics.median(timings["hello"])
        labels = {"hello": "bare Flask hello", "healthz": "GET /healthz (full middleware stack)",
                  "verify": "POST /v1/merchants/{id}/verifications, 1 code, fresh key (over WSGI)"}
        out = [f"# Verification in process — {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", "",
               (f"Database: {'PostgreSQL' if args.database_url else 'SQLite on tmpfs'}; {reps} repetitions x "
                f"{calls} calls, CPU time of this process (`time.process_time`); machine: {machine_summary()}."), "",
               "| what | CPU µs per call, median [min–max] | vs hello |", "|---|---|---|"]
        for key, values in timings.items():
            med = statistics.median(values)
            out.append(f"| {labels[key]} | {med:.0f} [{min(values):.0f}–{max(values):.0f}] | {med / hello:.1f}× |")
        out.append(f"\nStatuses of the timed verifications: {dict(statuses_seen)}.")
        out.append(f"\nPython function calls per verification: {calls_per:.0f}. SQL statements per verification "
                   f"(first words, all sessions of the request): {sum(statements.values()):.1f}:")
        out += ["", "| statement | per verification |", "|---|---|"]
        out += [f"| `{k}` | {v:.2f} |" for k, v in statements.items()]
        out += ["", (f"For comparison, placing an order through the service alone (`services.place_order` + "
                     f"commit, 1 voucher, qty 1, no HTTP): {purchase_us:.0f} µs CPU, {sum(purchase_statements.values()):.1f} SQL statements:"),
                "", "| statement | per purchase |", "|---|---|"]
        out += [f"| `{k}` | {v:.2f} |" for k, v in purchase_statements.items()]
        out += ["", (f"Where a verification's CPU time goes (cumulative share in a CPU-time cProfile of {calls} "
                     f"verifications; µs = share × the unprofiled {verify_us:.0f} µs, approximate; nested rows are "
                     f"part of the row above):"), "", "| part | share | ≈ µs |", "|---|---|---|"]
        out += [f"| {label} | {share:.0%} | {share * verify_us:.0f} |" for label, share in profile_shares(stats)]
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(70)
        out += ["", "```", text.getvalue().strip(), "```"]
    markdown = "\n".join(out) + "\n"
    print(markdown)
    if not args.no_save:
        saved = write_results("order-flow-profile" + ("-pg" if args.database_url else ""), markdown,
                              {"timings": timings, "statements": statements, "calls": calls, "reps": reps})
        print(f"saved {saved.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0 if set(statuses_seen) == {"201"} else 1


def purchase_probe(bench, gateway_app, demo: dict, made: dict, calls: int) -> tuple[dict, float]:
    """CPU µs and SQL statements of ``services.place_order`` + commit alone (session per call, no
    HTTP: the view adds ``dump_order`` and the request stack), for alice."""
    from gateway.orders import services

    db = gateway_app.extensions["shijing.db"]
    data = {"poi_id": made["poi_id"], "items": [{"product_id": made["product_id"], "quantity": 1}],
            "channel": "poi_page"}
    user_id = demo["users"]["alice"]["id"]

    def place(n: int) -> None:
        with gateway_app.app_context():
            for _ in range(n):
                with db.new_session() as session:
                    services.place_order(session, user_id, data)
                    session.commit()

    place(20)
    counter = StatementCounter(db.engine)
    place(50)
    counter.close()
    started = time.process_time()
    place(calls)
    elapsed = (time.process_time() - started) / calls * 1e6
    return {k: v / 50 for k, v in counter.seen.most_common()}, elapsed


def prepare_in(gateway_app, partner_app_id: str, users: dict, counts: dict, folder: Path) -> dict:
    """``prepare_here`` inside an app already loaded in this process (it builds its own app)."""
    return prepare_here(partner_app_id, users, counts, str(folder))


def main(argv=None) -> int:
    own, rest = own_options(sys.argv[1:] if argv is None else argv)
    args = parse_args(rest)
    if own["--profile"]:
        return run_profile(args, own)
    return run_http(args, own)


if __name__ == "__main__":
    sys.exit(main())
