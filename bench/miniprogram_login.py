#!/usr/bin/env python
"""Mini-program login-code exchange (code2session) and mount-click recording per second, as
ratios to bare Flask hello.

    .venv/bin/python bench/miniprogram_login.py --quick            # smoke run: 1 repetition x 2 s
    .venv/bin/python bench/miniprogram_login.py --nice -10         # 3 repetitions x 10 s per endpoint
    .venv/bin/python bench/miniprogram_login.py --database-url postgresql://127.0.0.1:5432/mpbench
    .venv/bin/python bench/miniprogram_login.py --profile          # in-process: where an exchange's time goes

Issue 5: "code exchange per second and mount-click recording per second, each next to bare Flask
hello world in the same run". A click is ``POST /v1/platform-client/mounts/{id}/clicks`` with a
demo user's token on an active mount of the demo mini-program on a video of the demo creator
(created through ``gateway.miniprograms.mounts.create`` before the server starts): one
``mount_events`` row and the launch with its order source per request.

Options: those of ``bench/http_ratios.py`` (``--reps``, ``--duration``, ``--quick``, ``--nice``,
``--database-url``, ``--only healthz,exchange,issue``, ...) plus ``--codes N`` (the pool, 0: sized
from the run), ``--rps-cap R`` (what the default pool assumes no run exceeds), ``--profile`` (no
server: the in-process cost and a profile of the exchange) and ``--calls N`` (per repetition there).

Same harness and rules as ``bench/http_ratios.py`` (its options and its table; see bench/README.md):
one gunicorn process (``sync`` workers = cores) serves the gateway and the bare baseline
(bench/wsgi.py), ``wrk -t2 -c32 --latency`` on 127.0.0.1 after a warm-up, order alternating,
per-repetition ratios reported as median [min-max].

A code works once, so every exchange needs its own. Before the server starts, ``--codes`` codes
(default: repetitions x (warm-up + duration) x ``--rps-cap``, +10 %) are issued in bulk through
``gateway.miniprograms.services.issue_login_code`` in the scratch database, for the demo users in
turn, and written to a file; ``bench/lua/miniprogram_login.lua`` gives each request the next unused
line, and reports how far it got so the next run starts after it. Their lifetime
(``SHIJING_MINIPROGRAM_LOGIN_CODE_TTL``) is raised to cover the whole run. Measured too, as
references: issuing a code over HTTP (``POST /v1/platform-client/miniprograms/{id}/login-codes``
with a demo user's token from the console app's real code flow) and ``GET /healthz``.

Checks: before the load, one exchange must answer 200 and the same code again 400; after each
run the access log gives the statuses of the measured requests; at the end the database must hold
exactly as many used codes as exchanges answered 200. Exit status 1 on any non-2xx response or
socket error in a measured run (a 400 means a code was reused or expired), or when the pool ran dry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from http.cookiejar import CookieJar
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    HOST,
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

EXCHANGE_PATH = "/v1/miniprogram-sessions"
ENDPOINTS = [
    Endpoint("hello", "bare Flask hello (baseline)", "/__bench/bare/hello"),
    Endpoint("healthz", "ref: GET /healthz, full middleware stack", "/healthz", reference=True),
    Endpoint("exchange", "POST /v1/miniprogram-sessions (a fresh code per request)", EXCHANGE_PATH,
             auth="bearer", method="POST"),
    Endpoint("click", "POST /v1/platform-client/mounts/{id}/clicks (a tap on a card, recorded)",
             "/v1/platform-client/mounts/{mount}/clicks", auth="bearer", method="POST"),
    Endpoint("issue", "ref: POST /v1/platform-client/miniprograms/{id}/login-codes",
             "/v1/platform-client/miniprograms/{mp}/login-codes", auth="bearer", method="POST", reference=True),
]
LUA = LUA_DIR / "miniprogram_login.lua"
DEFAULT_RPS_CAP = 1500  # exchanges/s no run is expected to reach on 2 cores (measured ~800; hello ~4 000)
CODE_TTL = 6 * 3600  # seconds: longer than any bounded run, so no code expires mid-benchmark
MAX_CODES = 500_000
EXCHANGED = ("miniprogram_id", "open_id", "union_id", "session_key", "expires_in")


# --- the code pool ------------------------------------------------------------------------------


def issue_codes_here(count: int, miniprogram_id: str, user_ids: list[str], path: str) -> dict:
    """Runs in a subprocess with the server's environment: ``count`` codes through the service,
    committed in batches, one per line in ``path``."""
    from gateway import create_app
    from gateway.miniprograms.services import issue_login_code

    app = create_app()
    started = time.perf_counter()
    with app.app_context(), open(path, "w") as out:
        for first in range(0, count, 2000):
            with app.extensions["shijing.db"].new_session() as session:
                codes = [issue_login_code(session, miniprogram_id, user_ids[i % len(user_ids)])[0]
                         for i in range(first, min(count, first + 2000))]
                session.commit()
            out.write("\n".join(codes) + "\n")
    return {"count": count, "seconds": time.perf_counter() - started}


def issue_codes(env: dict, count: int, miniprogram_id: str, user_ids: list[str], path: Path) -> dict:
    code = (f"import json; from bench.miniprogram_login import issue_codes_here; "
            f"print(json.dumps(issue_codes_here({count}, {miniprogram_id!r}, {user_ids!r}, {str(path)!r})))")
    return json.loads(_run_with(env, code, "issuing login codes", timeout=1800))


def mount_here(partner_app_id: str, creator_id: str, miniprogram_id: str) -> dict:
    """Runs in a subprocess with the server's environment: a video of the demo creator carrying an
    active mount of the demo mini-program, placed through the service (every rule checked)."""
    from gateway import create_app
    from gateway.accounts.models import Creator
    from gateway.creators.services import create_video
    from gateway.miniprograms import mounts

    app = create_app()
    with app.app_context(), app.extensions["shijing.db"].new_session() as session:
        creator = session.get(Creator, creator_id)
        video = create_video(session, creator, "bench video")
        mount = mounts.create(session, partner_app_id, creator, {
            "target_type": "video", "target_id": video.id, "miniprogram_id": miniprogram_id,
            "path": "pages/index/index", "query": "from=bench", "title": "bench card"})
        session.commit()
        return {"mount_id": mount.id, "status": mount.status}


def place_mount(env: dict, partner_app_id: str, creator_id: str, miniprogram_id: str) -> dict:
    code = (f"import json; from bench.miniprogram_login import mount_here; "
            f"print(json.dumps(mount_here({partner_app_id!r}, {creator_id!r}, {miniprogram_id!r})))")
    return json.loads(_run_with(env, code, "placing the mount", timeout=300))


def _run_with(env: dict, code: str, what: str, *, timeout: float) -> str:
    """Run ``code`` in a Python with the server's environment (its database); its last line."""
    completed = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True,
                               text=True, timeout=timeout, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{completed.stderr[-3000:]}")
    return completed.stdout.strip().splitlines()[-1]


def _count_rows(env: dict, model: str, where: str) -> int:
    """``SELECT count(*)`` of a gateway.miniprograms model in the server's database, -1 if it fails."""
    code = ("from sqlalchemy import func, select; from gateway import create_app; "
            f"from gateway.miniprograms.models import {model}; app = create_app(); "
            "s = app.extensions['shijing.db'].new_session(); "
            f"print(s.scalar(select(func.count()).select_from({model}).where({where})))")
    try:
        return int(_run_with(env, code, f"counting {model}", timeout=120))
    except RuntimeError:
        return -1


def click_count(env: dict, mount_id: str) -> int:
    return _count_rows(env, "MountEvent", f"MountEvent.mount_id == {mount_id!r}, MountEvent.kind == 'click'")


def used_code_count(env: dict, miniprogram_id: str) -> int:
    return _count_rows(env, "LoginCode",
                       f"LoginCode.miniprogram_id == {miniprogram_id!r}, LoginCode.used_at.is_not(None)")


class CodePool:
    """The file of pre-issued codes and how far the runs have got through it."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self.next = 0
        self._lines: list[str] | None = None

    def take_one(self) -> str:
        if self._lines is None:
            self._lines = self.path.read_text().split()
        if self.next >= len(self._lines):
            raise RuntimeError("the code pool is spent: raise --codes or --rps-cap")
        code = self._lines[self.next]
        self.next += 1
        return code

    def wrk_env(self, threads: int) -> dict:
        return {"WRK_CODES_FILE": str(self.path), "WRK_OFFSET": str(self.next), "WRK_STRIDE": str(threads)}

    def advance(self, wrk_output: str) -> tuple[int, int]:
        """Move past every code the run built a request with; returns (codes spent, requests that
        found the pool empty)."""
        match = re.search(r"codes: stride (\d+) max_used (\d+) exhausted (\d+)", wrk_output)
        if match is None:
            raise RuntimeError(f"the Lua script did not report its codes:\n{wrk_output}")
        stride, most, exhausted = (int(x) for x in match.groups())
        before = self.next
        self.next = min(self.size, self.next + stride * most)
        return self.next - before, exhausted


# --- credentials over HTTP ----------------------------------------------------------------------


def app_token(base_url: str, client_id: str, client_secret: str, scope: str) -> str:
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    status, body = http("POST", base_url + "/oauth2/token",
                        data=urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope}).encode(),
                        headers={"Authorization": "Basic " + basic,
                                 "Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise RuntimeError(f"client-credentials token failed: {status} {body[:300]!r}")
    return json.loads(body)["access_token"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # every Location is read by the caller


def user_token(base_url: str, demo: dict, username: str, scope: str) -> str:
    """A demo user's token for the platform's console app, through the real code flow: sign-in
    form, consent form (CSRF tokens read from the pages), PKCE S256, code exchange."""
    if not base_url.startswith(f"http://{HOST}:"):
        raise ValueError(f"benchmarks only talk to {HOST}: {base_url}")
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect())
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')

    def send(path: str, form: dict | None = None) -> tuple[int, str, dict]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with browser.open(urllib.request.Request(base_url + path, data=data), timeout=10) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as answer:  # 3xx (not followed) and errors
            return answer.code, answer.read().decode(errors="replace"), dict(answer.headers)

    _, page, _ = send("/login")
    status, _, _ = send("/login", {"csrf_token": csrf.search(page).group(1), "username": username,
                                   "password": demo["password"], "next": "/login"})
    if status != 303:
        raise RuntimeError(f"sign-in as {username} failed: {status}")
    console = demo["console_app"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": console["client_id"], "redirect_uri": console["redirect_uris"][0],
        "scope": scope, "state": secrets.token_urlsafe(12), "code_challenge": challenge,
        "code_challenge_method": "S256"})
    _, consent, _ = send("/oauth2/authorize?" + query)
    status, _, headers = send("/oauth2/authorize?" + query,
                              {"csrf_token": csrf.search(consent).group(1), "decision": "allow"})
    location = headers.get("Location", "")
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("code", [""])[0]
    if status != 303 or not code:
        raise RuntimeError(f"consent failed: {status} {location!r}")
    status, body = http("POST", base_url + "/oauth2/token", data=urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": code, "redirect_uri": console["redirect_uris"][0],
        "client_id": console["client_id"], "code_verifier": verifier}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise RuntimeError(f"code exchange for the user token failed: {status} {body[:300]!r}")
    return json.loads(body)["access_token"]


# --- one measured endpoint ----------------------------------------------------------------------


def exchange_once(base_url: str, token: str, code: str) -> tuple[int, dict]:
    status, body = http("POST", base_url + EXCHANGE_PATH, data=json.dumps({"code": code}).encode(),
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {"raw": body[:300].decode(errors="replace")}


class AccessLog:
    """The project app's JSON access log on tmpfs: truncated before every measured run, so the
    exchange statuses are tallied from it just before each truncation (and once at the end) —
    every exchange the server answered is counted once, whichever run it belonged to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.exchanges: Counter = Counter()

    def statuses(self, path: str) -> Counter:
        """Status codes of the requests to ``path`` now in the log."""
        found: Counter = Counter()
        with open(self.path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if f'"{path}"' not in line:
                    continue
                try:
                    record = json.loads(line[line.index("{"):])
                except ValueError:
                    continue
                if record.get("path") == path:
                    found[str(record.get("status"))] += 1
        return found

    def drain(self) -> None:
        self.exchanges.update(self.statuses(EXCHANGE_PATH))

    def truncate(self) -> None:
        self.drain()
        os.truncate(self.path, 0)

    def lines(self) -> int:
        return count_lines(self.path)


def measure(server: Server, endpoint: Endpoint, paths: dict, tokens: dict, pool: CodePool, args,
            log: AccessLog | None) -> dict:
    path = paths[endpoint.key]
    url = server.base_url + path
    auth = f"Bearer {tokens[endpoint.key]}" if endpoint.auth == "bearer" else ""
    if endpoint.key == "exchange":
        script = LUA
        status, body = exchange_once(server.base_url, tokens["exchange"], pool.take_one())
        expected = 200
    elif endpoint.method == "POST":
        script = LUA
        status, raw = http("POST", url, headers={"Authorization": auth})
        body, expected = raw[:300], 201
    else:
        script = LUA_DIR / "get.lua"
        status, raw = http("GET", url)
        body, expected = raw[:300], 200
    if status != expected:  # fail fast: a benchmark of error responses measures nothing
        raise RuntimeError(f"{endpoint.key}: preflight {endpoint.method} {url} -> {status} {body!r}")

    def wrk_env() -> dict:
        env = {"WRK_AUTH": auth}
        if endpoint.key == "exchange":
            env.update(pool.wrk_env(args.threads))
        elif endpoint.method == "GET":
            env["WRK_PATHS"] = path
        return env

    common = {"threads": args.threads, "connections": args.connections, "script": script, "nice": args.nice}
    quiet_before = wait_for_quiet(args.quiet_wait, args.quiet_threshold) if args.quiet_wait else None
    spent_warmup = exhausted_warmup = 0
    if args.warmup:
        warm = run_wrk(url, duration=args.warmup, env=wrk_env(), **common)
        if endpoint.key == "exchange":
            spent_warmup, exhausted_warmup = pool.advance(warm.raw)
    if log is not None:
        log.truncate()
    with CpuMeter(server.pids()) as cpu:
        result = run_wrk(url, duration=args.duration, env=wrk_env(), **common)
    spent = exhausted = 0
    if endpoint.key == "exchange":
        spent, exhausted = pool.advance(result.raw)
    time.sleep(0.2)  # requests cut off at the end of the run finish and are logged
    log_lines = log.lines() if log is not None else None
    measured_statuses = log.statuses(path) if log is not None and path != paths["hello"] else Counter()
    return {"rps": result.rps, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms,
            "requests": result.requests, "non_2xx": result.non_2xx,
            "socket_errors": result.socket_errors, "access_log_lines": log_lines,
            "server_cpu_us": cpu.server_seconds / max(1, result.requests) * 1e6,
            "wrk_cpu_us": cpu.wrk_seconds / max(1, result.requests) * 1e6,
            "foreign_share": cpu.foreign_share, "foreign_share_before": quiet_before,
            "statuses": dict(measured_statuses),
            "codes_spent": spent, "codes_spent_warmup": spent_warmup,
            "pool_exhausted": exhausted + exhausted_warmup}


# --- the HTTP benchmark -------------------------------------------------------------------------


def own_options(argv: list[str]) -> tuple[dict, list[str]]:
    """This script's options; everything else goes to http_ratios.parse_args."""
    own = {"--codes": 0, "--rps-cap": DEFAULT_RPS_CAP, "--profile": False, "--calls": 2000}
    argv = list(argv)
    for name in ("--codes", "--rps-cap", "--calls"):
        if name in argv:
            at = argv.index(name)
            own[name] = int(argv[at + 1])
            del argv[at:at + 2]
    if "--profile" in argv:
        argv.remove("--profile")
        own["--profile"] = True
    if not (0 <= own["--codes"] <= MAX_CODES and 10 <= own["--rps-cap"] <= 20_000 and 100 <= own["--calls"] <= 20_000):
        sys.exit(f"error: --codes 0-{MAX_CODES} (0: sized from the run), --rps-cap 10-20000, --calls 100-20000")
    return own, argv


def pool_size(args, rps_cap: int) -> int:
    seconds = args.reps * (args.warmup + args.duration)
    return min(MAX_CODES, math.ceil(seconds * rps_cap * 1.1) + 100)


def run_http(args, own: dict) -> int:
    is_pg = args.database_url.startswith(("postgres://", "postgresql"))
    if args.database_url and not is_pg:
        sys.exit("error: --database-url must be a PostgreSQL URL (the default is SQLite on tmpfs)")
    endpoints = ENDPOINTS if not args.only else [e for e in ENDPOINTS if e.key in {"hello", *args.only.split(",")}]
    codes = own["--codes"] or pool_size(args, own["--rps-cap"])

    scratch = scratch_dir("shijing-bench-mp-login-")
    access_log = scratch / "access.log" if args.access_log == "file" else None
    log = AccessLog(access_log) if access_log else None
    results: dict[str, list[dict]] = {e.key: [] for e in endpoints}
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    checks: dict = {}
    try:
        server = Server({}, scratch, workers=args.workers, nice=args.nice,
                        stderr_path=str(access_log) if access_log else os.devnull)
        env = server_env(scratch, args, server.port)
        env["SHIJING_MINIPROGRAM_LOGIN_CODE_TTL"] = str(CODE_TTL)
        server.env = env
        demo = seed(env)
        miniprogram_id = demo["miniprogram"]["id"]
        user_ids = [user["id"] for user in demo["users"].values()]
        pool = CodePool(scratch / "codes.txt", codes)
        issued = issue_codes(env, codes, miniprogram_id, user_ids, pool.path)
        checks["bulk_issue"] = issued
        print(f"scratch {scratch}; {codes} codes issued through the service in {issued['seconds']:.1f} s "
              f"({codes / issued['seconds']:.0f}/s); starting {server.describe()}", file=sys.stderr)
        mount = place_mount(env, demo["partner_app"]["client_id"], demo["creator"]["id"], miniprogram_id)
        checks["mount"] = mount
        paths = {e.key: e.path.replace("{mp}", miniprogram_id).replace("{mount}", mount["mount_id"])
                 for e in ENDPOINTS}
        mini = demo["miniprogram_app"]
        with AutogroupNice(args.nice), server:
            # a used code answers 400: proves the load below cannot be served from reused codes
            token = app_token(server.base_url, mini["client_id"], mini["client_secret"], "miniprogram.manage")
            code = pool.take_one()
            first, body = exchange_once(server.base_url, token, code)
            again, body_again = exchange_once(server.base_url, token, code)
            if first != 200 or sorted(body) != sorted(EXCHANGED) or again != 400:
                raise RuntimeError(f"exchange check failed: first {first} {body}, again {again} {body_again}")
            checks["replay"] = {"first": first, "again": again, "again_code": body_again.get("code")}
            for rep in range(args.reps):
                # fresh, real tokens per repetition (access tokens live 15 minutes)
                tokens = {"exchange": app_token(server.base_url, mini["client_id"], mini["client_secret"],
                                                "miniprogram.manage"),
                          "issue": user_token(server.base_url, demo, "alice", "platform.client")}
                tokens["click"] = tokens["issue"]
                order = endpoints if rep % 2 == 0 else list(reversed(endpoints))
                for endpoint in order:
                    row = measure(server, endpoint, paths, tokens, pool, args, log)
                    results[endpoint.key].append(row)
                    extra = (f"  codes {row['codes_spent']} (pool {pool.next}/{pool.size})"
                             if endpoint.key == "exchange" else "")
                    print(f"rep {rep + 1}/{args.reps} {endpoint.key:8s} {row['rps']:8.0f} rps  "
                          f"p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  "
                          f"server {row['server_cpu_us']:5.0f} µs/req  foreign {row['foreign_share']:4.0%}  "
                          f"errors {row['non_2xx'] + row['socket_errors']}  {row['statuses']}{extra}",
                          file=sys.stderr)
        if log is not None:  # the server has stopped: every answered exchange is in the log
            log.drain()
            checks["exchange_statuses"] = dict(log.exchanges)
        checks["used_in_db"] = used_code_count(env, miniprogram_id)
        checks["clicks_in_db"] = click_count(env, mount["mount_id"])
        checks["pool_next"] = pool.next
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
        "prometheus_multiproc": args.prometheus_multiproc, "nice": args.nice,
        "codes": codes, "code_ttl": CODE_TTL,
    }
    markdown = render(results, endpoints, [], meta).replace("# Shijing HTTP ratios", "# Shijing mini-program login", 1)
    markdown = markdown.replace("\n| goal | metric | median [min–max] | target | verdict |\n|---|---|---|---|---|\n", "\n")
    markdown += report_codes(results, checks, codes)
    print(markdown)
    if not args.no_save:
        name = "miniprogram-login" + ("-pg" if is_pg else "")
        path = write_results(name, markdown, {"meta": meta, "checks": checks, "results": results})
        print(f"saved {path.relative_to(REPO_ROOT)}", file=sys.stderr)
    errors = sum(r["non_2xx"] + r["socket_errors"] for rows in results.values() for r in rows)
    exhausted = sum(r["pool_exhausted"] for r in results.get("exchange", []))
    if exhausted:
        print(f"error: {exhausted} requests found the code pool empty: raise --codes or --rps-cap", file=sys.stderr)
    answered = checks.get("exchange_statuses", {}).get("200")
    mismatch = answered is not None and answered != checks.get("used_in_db")
    if mismatch:  # more 200s than used codes would mean a code was exchanged twice
        print(f"error: {answered} exchanges answered 200 but {checks.get('used_in_db')} codes are used",
              file=sys.stderr)
    return 1 if errors or exhausted or mismatch else 0


def report_codes(results: dict, checks: dict, codes: int) -> str:
    rows = results.get("exchange", [])
    issued = checks["bulk_issue"]
    lines = ["", (f"Codes: {codes} issued in bulk through `issue_login_code` before the run "
                  f"({issued['count'] / issued['seconds']:.0f} codes/s in one process, batches of 2 000); "
                  f"lifetime raised to {CODE_TTL} s.")]
    replay = checks.get("replay")
    if replay:
        lines.append(f"Single use: one code exchanged answered {replay['first']}, the same code again "
                     f"{replay['again']} ({replay['again_code']}).")
    if rows:
        measured = sum(r["codes_spent"] for r in rows)
        warm = sum(r["codes_spent_warmup"] for r in rows)
        non_2xx = sum(r["non_2xx"] for r in rows)
        status_total: Counter = Counter()
        for r in rows:
            status_total.update(r["statuses"])
        lines.append(f"Exchanges: {sum(r['requests'] for r in rows)} measured requests, {non_2xx} non-2xx "
                     f"(wrk); codes spent {measured} measured + {warm} warm-up, each on one request "
                     f"(pool used {checks.get('pool_next', '?')} of {codes}; "
                     f"{sum(r['pool_exhausted'] for r in rows)} requests found it empty).")
        if "exchange_statuses" in checks:
            def text(counter) -> str:
                return ", ".join(f"{k}: {v}" for k, v in sorted(counter.items())) or "none"

            lines.append(f"Statuses in the access log: measured exchanges {text(status_total)}; every exchange "
                         f"of the run (warm-ups, preflights and the single-use check included) "
                         f"{text(checks['exchange_statuses'])}. Used codes in the database: "
                         f"{checks.get('used_in_db')} (must equal the 200s).")
    clicks = results.get("click", [])
    if clicks and "mount" in checks:
        lines.append(f"Clicks: mount {checks['mount']['mount_id']} ({checks['mount']['status']}); "
                     f"{sum(r['requests'] for r in clicks)} measured requests, "
                     f"{sum(r['non_2xx'] for r in clicks)} non-2xx; click rows in `mount_events` after the run "
                     f"(warm-ups and preflights included): {checks.get('clicks_in_db')}.")
    return "\n".join(lines) + "\n"


# --- in process: where the time of one exchange goes ----------------------------------------------

# (label, path suffix, function): cumulative time of these in a cProfile of the exchange, as a share
# of the whole request. Nested rows are indented; shares overlap where one calls another.
PROFILE_PARTS = [
    ("Flask request context, `before_request` hooks (request id, rate limits, metrics)",
     "flask/app.py", "preprocess_request"),
    ("bearer token check (token cache hit)", "gateway/http/auth.py", "resolve_bearer_token"),
    ("JSON body", "gateway/http/requests.py", "json_body"),
    ("body schema (marshmallow load)", "marshmallow/schema.py", "load"),
    ("**service** `exchange_login_code`", "gateway/miniprograms/services.py", "exchange_login_code"),
    ("↳ of which the two ORM statements, executed (`Session.execute`)", "sqlalchemy/orm/session.py", "execute"),
    ("↳ of which open_id + union_id (HMAC, key derived per call)", "gateway/oauth/identity.py", "_derive"),
    ("`after_request` hooks (unit of work, access log, rate-limit and security headers)",
     "flask/app.py", "process_response"),
    ("↳ of which the unit of work's commit (`_unit_of_work`)", "gateway/__init__.py", "_unit_of_work"),
    ("response object and JSON encoding (`make_response`)", "flask/app.py", "make_response"),
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


def part_costs(gateway_app, db, app_id: str, developer_user_id: str, user_id: str, calls: int) -> dict[str, float]:
    """CPU µs of pieces of the exchange on their own, without a profiler's distortion."""
    from sqlalchemy import select, update

    from gateway.clock import utcnow
    from gateway.miniprograms.models import LoginCode, MiniProgram
    from gateway.oauth import identity
    from gateway.security import hash_credential

    def per_call(action) -> float:
        started = time.process_time()
        for _ in range(calls):
            action()
        return (time.process_time() - started) / calls * 1e6

    def build_statements() -> None:
        # the two statements as services.exchange_login_code builds them on every call (keep in step)
        select(LoginCode, MiniProgram.app_id, MiniProgram.developer_user_id) \
            .join(MiniProgram, MiniProgram.id == LoginCode.miniprogram_id) \
            .where(LoginCode.code_hash == hash_credential("c" * 32))
        update(LoginCode).where(LoginCode.id == "lc_x", LoginCode.used_at.is_(None)).values(used_at=utcnow()) \
            .execution_options(synchronize_session=False)

    def session_lifecycle() -> None:
        with db.new_session() as session:
            session.connection()
            session.commit()

    with gateway_app.app_context():
        return {
            "building the service's two statements (select + join + where, update + where + values)":
                per_call(build_statements),
            "open_id + union_id": per_call(lambda: (identity.open_id(app_id, user_id),
                                                    identity.union_id(developer_user_id, user_id))),
            "an ORM session's lifecycle with no statement (create, begin, commit, close)": per_call(session_lifecycle),
        }



def run_profile(args, own: dict) -> int:
    """The exchange called in this process (no server, no wrk): CPU µs per request beside hello,
    healthz and the authenticated merchant GET, the service alone, Python calls, and cProfile."""
    import cProfile
    import io
    import pstats

    from bench.profile_inprocess import InProcess

    calls, reps = own["--calls"], args.reps
    with InProcess(args.database_url) as bench:
        demo = seed(dict(os.environ))  # idempotent: the same apps and credentials InProcess seeded
        gateway_app = bench.application.app
        db = gateway_app.extensions["shijing.db"]
        miniprogram_id = demo["miniprogram"]["id"]
        user_ids = [user["id"] for user in demo["users"].values()]
        mini = demo["miniprogram_app"]
        basic = base64.b64encode(f"{mini['client_id']}:{mini['client_secret']}".encode()).decode()
        status, body = bench.call(bench.build("POST", "/oauth2/token", {
            "Authorization": "Basic " + basic, "Content-Type": "application/x-www-form-urlencoded"},
            "grant_type=client_credentials&scope=miniprogram.manage"))
        assert status.startswith("200"), (status, body)
        token = json.loads(body)["access_token"]
        template = bench.build("POST", EXCHANGE_PATH, {"Authorization": f"Bearer {token}",
                                                       "Content-Type": "application/json"},
                               json.dumps({"code": "x" * 32}))

        from gateway.miniprograms import services

        def fresh_codes(n: int) -> list[str]:
            with gateway_app.app_context(), db.new_session() as session:
                codes = [services.issue_login_code(session, miniprogram_id, user_ids[i % len(user_ids)])[0]
                         for i in range(n)]
                session.commit()
            return codes

        def exchange_over_wsgi(codes: list[str]) -> Counter:
            seen: Counter = Counter()
            for code in codes:
                environ = dict(template)
                environ["wsgi.input"] = io.BytesIO(json.dumps({"code": code}).encode())
                answer: list[str] = []
                b"".join(bench.application(environ, lambda s, h, e=None, answer=answer: answer.append(s)))
                seen[answer[0][:3]] += 1
            return seen

        def exchange_in_service(codes: list[str]) -> None:
            with gateway_app.app_context():
                for code in codes:
                    with db.new_session() as session:
                        services.exchange_login_code(session, mini["client_id"], code)
                        session.commit()

        def cpu_us(function, codes) -> tuple[float, object]:
            started = time.process_time()
            outcome = function(codes)
            return (time.process_time() - started) / len(codes) * 1e6, outcome

        keys = ["hello", "healthz", "merchant_auth"]
        timings: dict[str, list[float]] = {k: [] for k in [*keys, "exchange", "exchange_service"]}
        statuses_seen: Counter = Counter()
        exchange_over_wsgi(fresh_codes(50))  # warm-up
        for _ in range(reps):
            for key in keys:
                timings[key].append(bench.time(key, calls))
            us, seen = cpu_us(exchange_over_wsgi, fresh_codes(calls))
            timings["exchange"].append(us)
            statuses_seen.update(seen)
            bench.log.truncate(0)
            timings["exchange_service"].append(cpu_us(exchange_in_service, fresh_codes(calls))[0])

        developer = demo["users"]["meituan-dev"]["id"]
        parts = part_costs(gateway_app, db, mini["client_id"], developer, user_ids[0], calls)
        hello = statistics.median(timings["hello"])
        labels = {"hello": "bare Flask hello", "healthz": "GET /healthz (full middleware stack)",
                  "merchant_auth": "GET /v1/merchants/{id}, real token (authenticated read)",
                  "exchange": "POST /v1/miniprogram-sessions (exchange over WSGI)",
                  "exchange_service": "`services.exchange_login_code` + commit alone (session per call, no HTTP)"}
        out = [f"# Mini-program code exchange in process — {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", "",
               (f"Database: {'PostgreSQL' if args.database_url else 'SQLite on tmpfs'}; {reps} repetitions x "
                f"{calls} calls, CPU time of this process (`time.process_time`); machine: {machine_summary()}."), "",
               "| what | CPU µs per call, median [min–max] | vs hello |", "|---|---|---|"]
        for key, values in timings.items():
            med = statistics.median(values)
            out.append(f"| {labels[key]} | {med:.0f} [{min(values):.0f}–{max(values):.0f}] | {med / hello:.1f}× |")
        out.append(f"\nStatuses of the timed exchanges: {dict(statuses_seen)}.")
        out += ["", "Pieces of the exchange timed alone (CPU µs per call):", "", "| piece | µs |", "|---|---|"]
        out += [f"| {label} | {us:.0f} |" for label, us in parts.items()]

        profiler = cProfile.Profile()
        codes = fresh_codes(200)
        profiler.enable()
        exchange_over_wsgi(codes)
        profiler.disable()
        out.append(f"\nPython function calls per exchange: {pstats.Stats(profiler).total_calls / 200:.0f}.")

        # CPU time, not wall time: on PostgreSQL the waits for the server would otherwise land on
        # whichever function sent the statement
        profiler = cProfile.Profile(time.process_time)
        codes = fresh_codes(calls)
        profiler.enable()
        exchange_over_wsgi(codes)
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        exchange_us = statistics.median(timings["exchange"])
        out += ["", (f"Where an exchange's CPU time goes (cumulative share in a CPU-time cProfile of {calls} "
                     f"exchanges; the µs column applies the share to the unprofiled {exchange_us:.0f} µs, "
                     f"approximate; nested rows are part of the row above):"), "",
                "| part | share | ≈ µs |", "|---|---|---|"]
        out += [f"| {label} | {share:.0%} | {share * exchange_us:.0f} |" for label, share in profile_shares(stats)]
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(60)
        out += ["", "```", text.getvalue().strip(), "```"]
    markdown = "\n".join(out) + "\n"
    print(markdown)
    if not args.no_save:
        path = write_results("miniprogram-login-profile" + ("-pg" if args.database_url else ""), markdown,
                             {"timings": timings, "parts": parts, "calls": calls, "reps": reps})
        print(f"saved {path.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0 if set(statuses_seen) == {"200"} else 1


def main(argv=None) -> int:
    own, rest = own_options(sys.argv[1:] if argv is None else argv)
    args = parse_args(rest)
    if own["--profile"]:
        return run_profile(args, own)
    return run_http(args, own)


if __name__ == "__main__":
    sys.exit(main())
