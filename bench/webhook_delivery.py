#!/usr/bin/env python
"""Webhook deliveries per second to a local receiver: the gateway's queue vs ``requests.post`` in a loop.

    .venv/bin/python bench/webhook_delivery.py --quick        # 200 events, 1 repetition (~30 s): smoke run
    .venv/bin/python bench/webhook_delivery.py                # SQLite + SqliteHuey on tmpfs, 1,000 events, 3 repetitions
    createdb -h 127.0.0.1 whbench                             # a scratch database: its schema public is reset
    .venv/bin/python bench/webhook_delivery.py --database-url postgresql://127.0.0.1:5432/whbench \\
        --redis-url redis://127.0.0.1:6379/12                 # PostgreSQL + RedisHuey
    .venv/bin/python bench/webhook_delivery.py --profile      # in-process, one thread: where a delivery's time goes

Issue: "deliveries/s to a local receiver with 1,000 queued events, next to raw ``requests.post`` in
a loop to the same receiver".

One receiver for both sides: a ``ThreadingHTTPServer`` in a process of its own on 127.0.0.1 (so it
never competes for this process's GIL), answering 200 with an empty body, HTTP/1.1 keep-alive unless
the request says ``Connection: close``; it counts the POSTs and the distinct ``webhook-id`` values.

Each run (one repetition × one worker count W) builds a fresh gateway in this process: a new SQLite
database on tmpfs (or the PostgreSQL database, schema reset) migrated with ``upgrade_engine``, a new
queue (``SqliteHuey`` in the instance folder, or ``RedisHuey`` on ``--redis-url``, flushed), one app
and one endpoint at the receiver (``SHIJING_WEBHOOK_TEST_ALLOWLIST=127.0.0.1``, ENV development).
Then:

- enqueue (timed apart): ``emit("app.updated")`` ``--count`` times in ONE transaction, then commit —
  the commit queues one Huey task per delivery (``gateway.webhooks.delivery.init_app``);
- gateway: a Huey consumer with W worker threads in this process (``Jobs.start_consumer_thread``,
  ``max_delay=0.1``), timed from its start to the last ``succeeded_at`` (the database is polled every
  50 ms with a connection of its own);
- raw: the same bodies (the exact envelope bytes the gateway signs) with the same headers, posted by
  ``requests`` in a loop on one ``requests.Session`` — with keep-alive, and with ``Connection: close``
  (a new TCP connection per request, as the gateway's transport makes for every attempt).

Both raw loops run right before the gateway and again right after it (in reverse order); a run's raw
rate is both together, so drift on the shared machine weighs on both sides alike. Ratios are gateway /
raw of the same run, reported as median [min–max] over repetitions, and so is a CPU ratio (the raw
loop's CPU per request ÷ the consumer's CPU per delivery, both in this process), steadier than rates
when other work shares the machine. Every run is checked:
``--count`` deliveries ``succeeded`` in one attempt each, the receiver saw that many POSTs with as many
distinct ``webhook-id`` values, and one received request verifies with ``standardwebhooks``.
Bounded: ``--count`` ≤ 20,000, ``--timeout`` per gateway run (abort with the statuses seen), W ≤ 8.

``--profile`` runs the worker's loop (Huey dequeue → ``deliver`` → recorded) in the main thread, and
times each part of a delivery alone (Huey's storage operations, ``attempt`` with the network stubbed,
envelope, signatures, secret decryption, ``transport.post``, its deadline timer thread), then prints
the SQL statements a delivery runs and a cProfile of the loop (top 25 by cumulative time).
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
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    HOST,
    REPO_ROOT,
    AutogroupNice,
    CpuMeter,
    free_port,
    http,
    machine_summary,
    ratio_stats,
    scratch_dir,
    summarise,
    write_results,
)

EVENT_TYPE = "app.updated"
POLL_SECONDS = 0.05
SECRET_KEY = "bench-webhook-delivery-" + "k" * 32  # a scratch app's key: seals the endpoint secret
RAW_LOOPS = (("keepalive", True), ("fresh", False))  # (label, keep-alive)
MAX_WORKERS = 8  # the PostgreSQL pool (DB_POOL_SIZE 5 + 5 overflow) serves ≤ 10 sessions at once


# --- the receiver: a process of its own ---------------------------------------------------------


class _ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for the Session baseline; "Connection: close" is honoured

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        server = self.server
        with server.lock:
            server.posts += 1
            server.ids.add(self.headers.get("webhook-id"))
            server.last = (self.headers, body)
        self.send_response_only(200)
        self.send_header("Content-Length", "0")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def do_GET(self) -> None:
        server = self.server
        with server.lock:
            if self.path.startswith("/__last"):
                headers, body = server.last or ({}, b"")
                payload = {"headers": dict(headers.items()) if headers else {},
                           "body": base64.b64encode(body).decode()}
            else:
                payload = {"posts": server.posts, "ids": len(server.ids)}
                if "reset" in self.path:
                    server.posts, server.ids, server.last = 0, set(), None
        data = json.dumps(payload).encode()
        self.send_response_only(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args) -> None:
        pass


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    # the default backlog of 5 drops SYNs when 8 workers connect at once (a 1 s retransmit each)
    request_queue_size = 128

    def __init__(self, address) -> None:
        super().__init__(address, _ReceiverHandler)
        self.lock = threading.Lock()
        self.posts = 0
        self.ids: set[str | None] = set()
        self.last = None


def serve_receiver(port: int) -> None:
    _ReceiverServer((HOST, port)).serve_forever(poll_interval=0.5)


class Receiver:
    """The receiver process, started and stopped by its PID (its own process group)."""

    def __init__(self, scratch: Path, start_timeout: float = 15.0) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}/hooks"
        self._log = open(scratch / "receiver.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--receiver-port", str(self.port)],
            cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, process_group=0,
        )
        (scratch / "receiver.pid").write_text(str(self.process.pid))
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                self.stats()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the receiver did not start (see {scratch / 'receiver.log'})") from None
                time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stats(self, reset: bool = False) -> dict:
        status, body = http("GET", f"http://{HOST}:{self.port}/__stats" + ("?reset=1" if reset else ""), timeout=5)
        if status != 200:
            raise RuntimeError(f"receiver stats: HTTP {status}")
        return json.loads(body)

    def last(self) -> tuple[dict, bytes]:
        _, body = http("GET", f"http://{HOST}:{self.port}/__last", timeout=5)
        payload = json.loads(body)
        return payload["headers"], base64.b64decode(payload["body"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


# --- the gateway: one fresh database, queue, app and endpoint per run ------------------------------


class Gateway:
    """A gateway app in this process with a fresh database and queue, one app and one endpoint."""

    def __init__(self, instance: Path, args, receiver_url: str) -> None:
        self.instance = instance
        self.args = args
        self.receiver_url = receiver_url
        self.consumer = None

    def __enter__(self) -> Self:
        from gateway import create_app
        from gateway.migrate import upgrade_engine

        if self.args.database_url:
            from bench.poi_nearby import reset_postgres

            reset_postgres(self.args.database_url)
        self.instance.mkdir(parents=True)
        self.app = create_app({
            "ENV": "development", "INSTANCE_PATH": str(self.instance), "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": self.args.database_url or f"sqlite:///{self.instance / 'shijing.db'}",
            "REDIS_URL": self.args.redis_url, "JOBS_IMMEDIATE": False, "ACCESS_LOG": False,
            "LOG_LEVEL": "WARNING", "WEBHOOK_TEST_ALLOWLIST": HOST,
        })
        self.db = self.app.extensions["shijing.db"]
        self.jobs = self.app.extensions["shijing.jobs"]
        upgrade_engine(self.db.engine)
        self.jobs.huey.flush()
        self._seed()
        return self

    def _seed(self) -> None:
        from gateway.accounts.services import create_user
        from gateway.apps.services import create_app as register_app
        from gateway.demo import PARTNER_SCOPES
        from gateway.webhooks.services import create_endpoint

        with self.app.app_context(), self.db.new_session() as s:
            developer = create_user(s, username="bench-developer", password="bench-password-1234",
                                    is_developer=True)
            s.flush()
            app, _ = register_app(s, developer_user_id=developer.id, name="Webhook bench", kind="service_provider",
                                  redirect_uris=["https://partner.example/cb"], scopes=PARTNER_SCOPES)
            endpoint, secret = create_endpoint(s, app.id, url=self.receiver_url, event_types=["*"], verify=False)
            s.commit()
            self.app_id, self.endpoint_id, self.secret = app.id, endpoint.id, secret

    def enqueue(self, count: int) -> dict:
        """``count`` events in one transaction; the commit queues one task per delivery."""
        from gateway.events.services import emit

        with self.app.app_context(), self.db.new_session() as s:
            started = time.perf_counter()
            for n in range(count):
                emit(s, EVENT_TYPE, app_id=self.app_id,
                     data={"app_id": self.app_id, "changed": ["description", "name"] if n % 2 else ["redirect_uris"]})
            emitted = time.perf_counter()
            s.flush()
            flushed = time.perf_counter()
            s.commit()  # the after_commit hook enqueues every delivery
            committed = time.perf_counter()
        queued = self.jobs.huey.pending_count()
        if queued != count:
            raise RuntimeError(f"{queued} tasks queued for {count} deliveries")
        return {"emit_s": emitted - started, "flush_s": flushed - emitted, "commit_s": committed - flushed,
                "total_s": committed - started}

    def raw_requests(self) -> list[tuple[bytes, dict]]:
        """(body, headers) of every queued delivery, as the gateway sends them (not timed)."""
        from sqlalchemy import select

        from gateway.events.models import Event
        from gateway.webhooks import signing
        from gateway.webhooks.delivery import envelope
        from gateway.webhooks.services import USER_AGENT

        with self.app.app_context(), self.db.new_session() as s:
            events = s.scalars(select(Event).where(Event.type == EVENT_TYPE).order_by(Event.id)).all()
            timestamp = int(time.time())
            out = []
            for event in events:
                body = envelope(event)
                out.append((body, {"content-type": "application/json", "user-agent": USER_AGENT,
                                   **signing.headers([self.secret], event.id, timestamp, body)}))
        return out

    def _statuses(self, connection) -> dict[str, tuple[int, int]]:
        """status -> (deliveries, attempts), on the poller's own connection."""
        from sqlalchemy import text

        rows = connection.execute(text(
            "SELECT status, count(*), coalesce(sum(attempts), 0) FROM webhook_deliveries GROUP BY status")).all()
        connection.rollback()  # a fresh snapshot at the next poll
        return {status: (n, attempts) for status, n, attempts in rows}

    def deliver(self, count: int, workers: int, timeout: float) -> dict:
        """Start a consumer with ``workers`` threads; wait until every delivery has succeeded."""
        from sqlalchemy import create_engine, func, select
        from sqlalchemy.pool import NullPool

        from gateway.webhooks.models import WebhookDelivery

        # a connection of its own: the workers' pool stays theirs
        poller = create_engine(self.db.engine.url, poolclass=NullPool)
        try:
            with poller.connect() as connection:
                servers0 = self._server_cpu(connection)
                started_at = datetime.now(UTC)
                started = time.perf_counter()
                cpu0 = time.process_time()
                self.consumer = self.jobs.start_consumer_thread(workers=workers, periodic=False, max_delay=0.1)
                while True:
                    statuses = self._statuses(connection)
                    succeeded = statuses.get("succeeded", (0, 0))[0]
                    pending_attempts = statuses.get("pending", (0, 0))[1]
                    if succeeded == count:
                        break
                    if "failed" in statuses or pending_attempts:
                        raise RuntimeError(f"W={workers}: a delivery failed or is being retried: {statuses} "
                                           f"(last errors: {self._errors()})")
                    if time.perf_counter() - started > timeout:
                        raise RuntimeError(f"W={workers}: only {succeeded} of {count} deliveries succeeded within "
                                           f"--timeout {timeout:.0f} s ({statuses}); aborted")
                    time.sleep(POLL_SECONDS)
                cpu = time.process_time() - cpu0
                polled = time.perf_counter() - started
                servers = {name: seconds - servers0.get(name, 0.0)
                           for name, seconds in self._server_cpu(connection).items()}
        finally:
            poller.dispose()
            self.stop_consumer()
        with self.app.app_context(), self.db.new_session() as s:
            last = s.scalar(select(func.max(WebhookDelivery.succeeded_at)))
        # succeeded_at has millisecond precision; the poll only says when it noticed
        seconds = max((last - started_at).total_seconds(), 1e-3)
        return {"seconds": seconds, "polled_s": polled, "cpu_s": cpu, **servers}

    def _server_cpu(self, connection) -> dict[str, float]:
        """CPU seconds so far of the PostgreSQL backends serving this database (each run's pool
        connects anew, so a backend missing from the first reading started during the run) and
        of the Redis server (all its clients: others' test suites too)."""
        from sqlalchemy import text

        out: dict[str, float] = {}
        if connection.dialect.name == "postgresql":
            pids = connection.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars().all()
            connection.rollback()
            out["db_cpu_s"] = cpu_seconds(pids)
        if self.args.redis_url:
            info = self.jobs.huey.storage.conn.info("cpu")
            out["redis_cpu_s"] = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        return out

    def _errors(self) -> list:
        from sqlalchemy import select

        from gateway.webhooks.models import WebhookDelivery

        with self.app.app_context(), self.db.new_session() as s:
            return s.execute(select(WebhookDelivery.last_status, WebhookDelivery.last_error)
                             .where(WebhookDelivery.attempts > 0, WebhookDelivery.status != "succeeded")
                             .limit(5)).all()

    def check(self, count: int) -> dict:
        """Every delivery succeeded in one attempt, one attempt row each; what the queue kept."""
        from sqlalchemy import func, select

        from gateway.webhooks.models import WebhookAttempt, WebhookDelivery

        with self.app.app_context(), self.db.new_session() as s:
            succeeded, attempts = s.execute(select(func.count(), func.coalesce(func.sum(WebhookDelivery.attempts), 0))
                                            .where(WebhookDelivery.status == "succeeded")).one()
            rows = s.scalar(select(func.count()).select_from(WebhookAttempt))
        if (succeeded, attempts, rows) != (count, count, count):
            raise RuntimeError(f"{succeeded} deliveries succeeded with {attempts} attempts ({rows} attempt rows); "
                               f"expected {count} each")
        return {"queue_results_kept": self.jobs.huey.result_count(), "queue_pending": self.jobs.huey.pending_count()}

    def stop_consumer(self) -> None:
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            consumer.stop(graceful=True)  # joins the worker threads

    def __exit__(self, *exc) -> None:
        self.stop_consumer()
        try:
            self.jobs.huey.flush()
        finally:
            self.db.engine.dispose()


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids) -> float:
    """User + system CPU seconds of these processes, all their threads (Linux /proc; 0 for one gone)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK
        except (OSError, IndexError, ValueError):
            pass
    return total


def verify_signature(receiver: Receiver, secret: str) -> None:
    """The last request the receiver got verifies as Standard Webhooks (SECURITY G13), untouched."""
    from standardwebhooks import Webhook

    headers, body = receiver.last()
    Webhook(secret).verify(body, {name.lower(): value for name, value in headers.items()})


# --- the raw side ------------------------------------------------------------------------------


def post_loop(url: str, requests_: list[tuple[bytes, dict]], *, keep_alive: bool, timeout: float) -> dict:
    """``requests`` POSTs of every (body, headers) in a loop on one Session; wall and CPU seconds."""
    import requests

    extra = {} if keep_alive else {"Connection": "close"}
    prepared = [(body, {**headers, **extra}) for body, headers in requests_]
    failures = 0
    with requests.Session() as session:
        session.trust_env = False  # only 127.0.0.1, never through a proxy from the environment
        started = time.perf_counter()
        cpu0 = time.process_time()
        for body, headers in prepared:
            response = session.post(url, data=body, headers=headers, timeout=timeout)
            failures += response.status_code != 200
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu0
    if failures:
        raise RuntimeError(f"the raw loop got {failures} non-200 answers")
    return {"seconds": seconds, "cpu_s": cpu}


# --- the run -------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="events queued per run (one delivery each)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (the median is reported)")
    parser.add_argument("--workers", default="1,4,8", help=f"consumer worker threads, comma-separated (≤ {MAX_WORKERS})")
    parser.add_argument("--quick", action="store_true", help="200 events, 1 repetition")
    parser.add_argument("--profile", action="store_true", help="in-process, one thread: where a delivery's time goes")
    parser.add_argument("--database-url", default="", help="PostgreSQL scratch database (schema public is reset)")
    parser.add_argument("--redis-url", default="", help="Redis for the queue (RedisHuey; its keys are flushed)")
    parser.add_argument("--disk", action="store_true",
                        help="scratch folder (SQLite database, SqliteHuey file) in the system temp dir, not tmpfs")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a gateway run may take before aborting")
    parser.add_argument("--nice", type=int, default=0, help="this process and the receiver under nice N (root: -10)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    parser.add_argument("--receiver-port", type=int, help=argparse.SUPPRESS)  # the receiver process itself
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.reps = 200, 1
    try:
        args.worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    except ValueError:
        parser.error("--workers takes numbers: 1,4,8")
    if not (100 <= args.count <= 20_000 and 1 <= args.reps <= 10 and args.worker_counts
            and all(1 <= w <= MAX_WORKERS for w in args.worker_counts) and 5 <= args.timeout <= 600
            and -20 <= args.nice <= 19):
        parser.error(f"bounded runs only: 100-20,000 events, 1-10 repetitions, 1-{MAX_WORKERS} workers, "
                     "a timeout of 5-600 s")
    if args.database_url:
        if not args.database_url.startswith(("postgres://", "postgresql")):
            parser.error("--database-url must be PostgreSQL (the default is SQLite on tmpfs)")
        if args.database_url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] == "test":
            parser.error("refusing the test suite's `test` database: create a scratch one (createdb -h 127.0.0.1 whbench)")
    for url in filter(None, (args.database_url, args.redis_url)):
        if "127.0.0.1" not in url and "localhost" not in url:
            parser.error(f"benchmarks only talk to {HOST}: {url}")
    if args.redis_url and not args.redis_url.startswith("redis://"):
        parser.error("--redis-url must be redis://127.0.0.1:6379/<db>")
    return args


def measure(args, scratch: Path, receiver: Receiver) -> tuple[dict, dict]:
    n = args.count
    results: dict[str, list] = {}
    notes: dict[str, object] = {}

    def add(key: str, value: float) -> None:
        results.setdefault(key, []).append(value)

    def raw_loop(requests_, keep_alive: bool) -> dict:
        receiver.stats(reset=True)
        receiver_cpu = cpu_seconds([receiver.pid])
        with CpuMeter([os.getpid(), receiver.pid]) as meter:
            run = post_loop(receiver.url, requests_, keep_alive=keep_alive, timeout=args.timeout)
        seen = receiver.stats(reset=True)
        if seen["posts"] != n:
            raise RuntimeError(f"raw loop: the receiver saw {seen['posts']} POSTs, expected {n}")
        add("foreign", meter.foreign_share)
        return {**run, "receiver_cpu_s": cpu_seconds([receiver.pid]) - receiver_cpu}

    def record_raw(runs: dict[str, list[dict]], w: int) -> None:
        """Each raw loop's figures over its runs before and after the gateway together."""
        for label, pair in runs.items():
            rate = len(pair) * n / sum(run["seconds"] for run in pair)
            add(f"raw_{label}_w{w}", rate)
            add(f"raw_{label}", rate)
            for key, field in (("cpu", "cpu_s"), ("receiver_cpu", "receiver_cpu_s")):
                value = sum(run[field] for run in pair) / (len(pair) * n) * 1e6
                add(f"raw_{label}_{key}", value)
                add(f"raw_{label}_{key}_w{w}", value)
        print(f"  raw loop: keep-alive {results['raw_keepalive'][-1]:7.0f}/s, fresh connection "
              f"{results['raw_fresh'][-1]:7.0f}/s (before / after the gateway: "
              + " / ".join(f"{n / run['seconds']:.0f}" for run in runs["fresh"]) + ")", file=sys.stderr)

    def gateway_side(gateway: Gateway, w: int) -> None:
        receiver.stats(reset=True)
        receiver_cpu = cpu_seconds([receiver.pid])
        with CpuMeter([os.getpid(), receiver.pid]) as meter:
            run = gateway.deliver(n, w, args.timeout)
        receiver_cpu = cpu_seconds([receiver.pid]) - receiver_cpu
        seen = receiver.stats()
        if seen["posts"] != n or seen["ids"] != n:
            raise RuntimeError(f"W={w}: the receiver saw {seen['posts']} POSTs with {seen['ids']} distinct "
                               f"webhook-ids, expected {n}")
        verify_signature(receiver, gateway.secret)
        receiver.stats(reset=True)
        notes.update(gateway.check(n))
        add(f"gw_w{w}", n / run["seconds"])
        add(f"gw_cpu_w{w}", run["cpu_s"] / n * 1e6)
        add(f"gw_receiver_cpu_w{w}", receiver_cpu / n * 1e6)
        for server in ("db", "redis"):
            if f"{server}_cpu_s" in run:
                add(f"gw_{server}_cpu_w{w}", run[f"{server}_cpu_s"] / n * 1e6)
        add("foreign", meter.foreign_share)
        print(f"  gateway W={w}: {n / run['seconds']:7.0f} deliveries/s ({run['seconds']:.2f} s, noticed at "
              f"{run['polled_s']:.2f} s), CPU {run['cpu_s'] / n * 1e6:.0f} µs/delivery here, "
              f"foreign {meter.foreign_share:.0%}", file=sys.stderr)

    for rep in range(args.reps):
        for w in args.worker_counts:
            with Gateway(scratch / f"run-{rep}-w{w}", args, receiver.url) as gateway:
                enqueue = gateway.enqueue(n)
                add("enqueue_total", n / enqueue["total_s"])
                add("enqueue_emit", n / enqueue["emit_s"])
                add("enqueue_commit", n / (enqueue["flush_s"] + enqueue["commit_s"]))
                requests_ = gateway.raw_requests()
                print(f"rep {rep + 1}/{args.reps} W={w}: enqueued {n} in {enqueue['total_s']:.2f} s "
                      f"(emit {enqueue['emit_s']:.2f}, flush {enqueue['flush_s']:.2f}, commit+queue "
                      f"{enqueue['commit_s']:.2f})", file=sys.stderr)
                # the raw loops right before the gateway and again right after it, in reverse order, so
                # that drift on the shared machine during the gateway run weighs on both sides alike
                runs: dict[str, list[dict]] = {"keepalive": [], "fresh": []}
                for label, keep_alive in RAW_LOOPS:
                    runs[label].append(raw_loop(requests_, keep_alive))
                gateway_side(gateway, w)
                for label, keep_alive in reversed(RAW_LOOPS):
                    runs[label].append(raw_loop(requests_, keep_alive))
                record_raw(runs, w)
    return results, notes


def render(meta: dict, results: dict, notes: dict) -> str:
    workers = meta["workers"]

    def row(label: str, rate_key: str, cpu: str, fresh_ratio: str, keepalive_ratio: str, cpu_ratio: str) -> str:
        rates = summarise(results[rate_key])
        wall = summarise([1e6 / r for r in results[rate_key]])
        return f"| {label} | {rates.fmt()} | {wall.fmt()} | {cpu} | {fresh_ratio} | {keepalive_ratio} | {cpu_ratio} |"

    servers = [name for name, label in (("db", "PostgreSQL"), ("redis", "Redis"))
               if f"gw_{name}_cpu_w{workers[0]}" in results]
    server_labels = "".join(" / " + {"db": "PostgreSQL backends", "redis": "Redis server"}[name] for name in servers)

    def cpu_cell(*keys: str) -> str:
        return " / ".join(f"{statistics.median(results[key]):.0f}" if key in results else "–" for key in keys)

    lines = [
        f"# Webhook delivery: {meta['count']:,} queued events — {meta['started']}".replace(",", " "), "",
        (f"Database: {meta['database']}; queue: {meta['queue']}. Receiver: `ThreadingHTTPServer` in its own process, "
        f"200 with an empty body. {meta['reps']} repetition(s) × {len(workers)} worker counts; every gateway run on a fresh "
        "database and queue, between raw loops run right before and right after it (their rate: both runs together)."), "",
        f"Machine: {meta['machine']}", "",
        (f"| side | deliveries/s | wall µs per delivery | CPU µs per delivery: this process / receiver{server_labels} "
        "| gateway ÷ raw fresh-connection | gateway ÷ raw keep-alive "
        "| CPU ratio: raw fresh-connection µs ÷ gateway µs (this process) |"),
        "|---|---|---|---|---|---|---|",
        row("raw `requests` loop, one Session, keep-alive", "raw_keepalive",
            cpu_cell("raw_keepalive_cpu", "raw_keepalive_receiver_cpu", *(["-"] * len(servers))), "–", "1", "–"),
        row("raw `requests` loop, one Session, `Connection: close`", "raw_fresh",
            cpu_cell("raw_fresh_cpu", "raw_fresh_receiver_cpu", *(["-"] * len(servers))), "1", "–", "1"),
    ]
    for w in workers:
        fresh = ratio_stats(results[f"gw_w{w}"], results[f"raw_fresh_w{w}"]).fmt(2)
        keep = ratio_stats(results[f"gw_w{w}"], results[f"raw_keepalive_w{w}"]).fmt(2)
        cpu_ratio = ratio_stats(results[f"raw_fresh_cpu_w{w}"], results[f"gw_cpu_w{w}"]).fmt(2)
        lines.append(row(f"**gateway**, Huey consumer, {w} worker thread{'s' if w > 1 else ''}", f"gw_w{w}",
                         cpu_cell(f"gw_cpu_w{w}", f"gw_receiver_cpu_w{w}", *(f"gw_{name}_cpu_w{w}" for name in servers)),
                         f"**{fresh}**", keep, cpu_ratio))
    enqueue = summarise(results["enqueue_total"])
    lines += [
        "",
        (f"Enqueue phase (`emit` × {meta['count']} in one transaction, then commit, which queues one task per delivery): "
        f"**{enqueue.fmt()} events/s** — emit loop {summarise(results['enqueue_emit']).fmt()} events/s, "
        f"flush + commit + queueing {summarise(results['enqueue_commit']).fmt()} events/s."), "",
        (f"Ratios are per run (gateway ÷ the raw loop measured next to it), median [min–max]. CPU figures are medians; "
        f"\"this process\" is the consumer's threads (raw: the client loop), the receiver is the other process. "
        f"Foreign CPU (other processes + steal{', the database server included' if servers else ''}) over the runs: "
        f"median {statistics.median(results['foreign']):.0%}, max {max(results['foreign']):.0%}."
        + (" The Redis figure is the whole server's (every client)." if "redis" in servers else "")), "",
        (f"Checked every run: {meta['count']} deliveries `succeeded` in one attempt each, {meta['count']} attempt rows; "
        f"the receiver got {meta['count']} POSTs with {meta['count']} distinct `webhook-id`s; the last one verifies with "
        f"`standardwebhooks`. Left in the queue's result store after a run: {notes.get('queue_results_kept')} "
        f"(Huey keeps every task's non-None return value until it is read)."),
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.receiver_port:
        serve_receiver(args.receiver_port)
        return 0
    if args.nice:
        os.nice(args.nice)  # the receiver inherits it: both sides share one priority
    scratch = Path(tempfile.mkdtemp(prefix="shijing-bench-webhooks-")) if args.disk \
        else scratch_dir("shijing-bench-webhooks-")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    receiver = Receiver(scratch)
    try:
        with AutogroupNice(args.nice):
            if args.profile:
                return profile(args, scratch, receiver)
            results, notes = measure(args, scratch, receiver)
    except RuntimeError as error:  # a check failed or a run overran --timeout: say which, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        receiver.stop()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    storage = "system temp dir (disk)" if args.disk else "tmpfs"
    meta = {
        "started": started, "count": args.count, "reps": args.reps, "workers": args.worker_counts,
        "database": (f"PostgreSQL {args.database_url.rsplit('@', 1)[-1]}" if args.database_url
                     else f"SQLite file on {storage}"),
        "queue": (f"RedisHuey on {args.redis_url}" if args.redis_url else f"SqliteHuey file on {storage}"),
        "machine": machine_summary(),
    }
    markdown = render(meta, results, notes)
    print(markdown)
    if not args.no_save:
        suffix = ("-pg" if args.database_url else "") + ("-redis" if args.redis_url else "") + ("-disk" if args.disk else "")
        path = write_results("webhook-delivery" + suffix, markdown, {"meta": meta, "results": results, "notes": notes})
        print(f"saved {path.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0


# --- profile: where the time of one delivery goes ----------------------------------------------

# (label, caller, callees): the cProfile time spent in ``callees`` when called straight from ``caller``
# (each a (path suffix, function name)), so that a function used in several places — Session.get in the
# claim and in the record, Session.execute inside Session.get — is counted where it is called
_DELIVERY = "gateway/webhooks/delivery.py"
_TRANSPORT = "gateway/webhooks/transport.py"
_SESSION = "sqlalchemy/orm/session.py"
_HUEY = "huey/api.py"
PHASES: list[tuple[str, tuple[str, str] | None, list[tuple[str, str]]]] = [
    ("worker loop (Huey dequeue → execute → `deliver`)", None, [("bench/webhook_delivery.py", "_inline_loop")]),
    ("· Huey: dequeue (storage, unpickle)", ("bench/webhook_delivery.py", "_inline_loop"), [(_HUEY, "dequeue")]),
    ("· Huey: revocation check", (_HUEY, "execute"), [(_HUEY, "is_revoked")]),
    ("· Huey: delete the task's revoke key", (_HUEY, "_execute"), [(_HUEY, "delete")]),
    ("· Huey: store the task's result", (_HUEY, "_execute"), [(_HUEY, "put_result")]),
    ("· app context per task (`Jobs._in_app`)", ("gateway/jobs.py", "run"),
     [("flask/app.py", "app_context"), ("flask/ctx.py", "__enter__"), ("flask/ctx.py", "__exit__")]),
    ("· the task: `attempt`", (_DELIVERY, "deliver"), [(_DELIVERY, "attempt")]),
    ("·· claim: ORM `UPDATE … SET leased_until` (Session.execute)", (_DELIVERY, "attempt"), [(_SESSION, "execute")]),
    ("·· claim: commit", (_DELIVERY, "attempt"), [(_SESSION, "commit")]),
    ("·· load delivery, endpoint, event (3 × Session.get)", (_DELIVERY, "attempt"), [(_SESSION, "get")]),
    ("·· two sessions: create + close", (_DELIVERY, "attempt"),
     [("gateway/db.py", "new_session"), (_SESSION, "__exit__")]),
    ("·· `envelope` (marshmallow dump + JSON)", (_DELIVERY, "attempt"), [(_DELIVERY, "envelope")]),
    ("·· `current_secrets` (AES-GCM open)", (_DELIVERY, "attempt"), [("gateway/webhooks/services.py", "current_secrets")]),
    ("·· `signing.headers` (HMAC-SHA256)", (_DELIVERY, "attempt"), [("gateway/webhooks/signing.py", "headers")]),
    ("·· `transport.post`", (_DELIVERY, "attempt"), [(_TRANSPORT, "post")]),
    ("··· `check_url` (again at every delivery)", (_TRANSPORT, "post"), [(_TRANSPORT, "check_url")]),
    ("··· deadline timer thread (`_Deadline` start + finish)", (_TRANSPORT, "post"),
     [(_TRANSPORT, "__init__"), (_TRANSPORT, "finish")]),
    ("··· `_attempt`: connect, send, read the answer, close", (_TRANSPORT, "post"), [(_TRANSPORT, "_attempt")]),
    ("·· Prometheus counter + histogram", (_DELIVERY, "attempt"),
     [("prometheus_client/metrics.py", "inc"), ("prometheus_client/metrics.py", "observe")]),
    ("·· `_record`", (_DELIVERY, "attempt"), [(_DELIVERY, "_record")]),
    ("··· 2 × Session.get … FOR UPDATE (delivery, endpoint)", (_DELIVERY, "_record"), [(_SESSION, "get")]),
    ("··· flush + commit (INSERT attempt, UPDATE delivery)", (_DELIVERY, "_record"), [(_SESSION, "commit")]),
]


def _inline_loop(huey, count: int) -> None:
    """What one consumer worker does, in this thread: dequeue and execute ``count`` tasks. (Never
    one dequeue more: on Redis, a dequeue from an empty queue blocks for its read timeout.)"""
    for done in range(count):
        task = huey.dequeue()
        if task is None:
            raise RuntimeError(f"the queue ran dry after {done} of {count} tasks")
        huey.execute(task)


def _phase_seconds(stats) -> dict[str, float]:
    """Seconds per phase of :data:`PHASES` from a ``pstats.Stats``."""

    def matches(key, target) -> bool:
        return key[0].endswith(target[0]) and key[2] == target[1]

    out: dict[str, float] = {}
    for label, caller, callees in PHASES:
        total, found = 0.0, False
        for key, (_, _, _, cumulative, callers) in stats.stats.items():
            if not any(matches(key, callee) for callee in callees):
                continue
            if caller is None:
                total, found = max(total, cumulative), True
                continue
            for caller_key, edge in callers.items():
                if matches(caller_key, caller):
                    total += edge[3]  # (calls, primitive calls, own time, cumulative time) of this edge
                    found = True
        if found:
            out[label] = total
    return out


def _with_remainders(phases: dict[str, float]) -> list[tuple[str, float]]:
    """The phases in order, each parent followed (after its children) by the time its children
    leave unexplained: its own code (for ``attempt``: building the claim statement, clocks, settings)."""
    labels = list(phases)

    def depth(label: str) -> int:
        return len(label) - len(label.lstrip("·"))

    def subtree(start: int) -> tuple[list[tuple[str, float]], int]:
        label = labels[start]
        rows, children, i = [(label, phases[label])], 0.0, start + 1
        while i < len(labels) and depth(labels[i]) > depth(label):
            children += phases[labels[i]]
            below, i = subtree(i)
            rows += below
        if i > start + 1:
            rows.append(("·" * (depth(label) + 1) + f" rest: own code of {label.lstrip('· ')}",
                         phases[label] - children))
        return rows, i

    rows, i = [], 0
    while i < len(labels):
        below, i = subtree(i)
        rows += below
    return rows


def _database_parts(gateway: Gateway) -> dict[str, float]:
    """µs per call of the ORM pieces a delivery repeats, next to the raw driver's floor."""
    from datetime import timedelta

    from sqlalchemy import or_, select, update

    from gateway.clock import utcnow
    from gateway.webhooks.models import WebhookDelivery

    with gateway.app.app_context(), gateway.db.new_session() as s:
        delivery_id = s.scalar(select(WebhookDelivery.id).limit(1))
    lease = timedelta(seconds=60)

    def claim_statement():
        # what gateway.webhooks.delivery.attempt builds before every claim
        now = utcnow()
        return (update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending",
                       or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now),
                       WebhookDelivery.next_attempt_at <= now + timedelta(seconds=1))
                .values(leased_until=now + lease)
                .execution_options(synchronize_session=False))

    def orm_get():
        with gateway.db.new_session() as s:
            s.get(WebhookDelivery, delivery_id)

    engine = gateway.db.engine
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()

        def driver_get():
            cursor.execute(f"SELECT * FROM webhook_deliveries WHERE id = {mark}", (delivery_id,))
            cursor.fetchone()

        with gateway.app.app_context():
            return {"claim_statement": _per_call(claim_statement, 2000), "orm_get": _per_call(orm_get, 1000),
                    "driver_get": _per_call(driver_get, 2000)}
    finally:
        raw.rollback()
        raw.close()


def _per_call(fn, calls: int, reps: int = 3) -> float:
    """Median over ``reps`` of the wall µs per call of ``fn`` called ``calls`` times."""
    timings = []
    for _ in range(reps):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        timings.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(timings)


def profile(args, scratch: Path, receiver: Receiver) -> int:
    import cProfile
    import io
    import pstats

    from sqlalchemy import event, select

    from gateway.events.models import Event
    from gateway.webhooks import delivery, signing, transport
    from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
    from gateway.webhooks.services import current_secrets

    n = args.count
    with Gateway(scratch / "profile", args, receiver.url) as gateway:
        huey = gateway.jobs.huey
        engine = gateway.db.engine

        def queued_pass(body, posts: int = n) -> dict:
            """Queue ``n`` fresh deliveries, run ``body``, check the receiver got ``posts`` requests."""
            gateway.enqueue(n)
            receiver.stats(reset=True)
            result = body()
            seen = receiver.stats(reset=True)["posts"]
            if seen != posts:
                raise RuntimeError(f"the receiver saw {seen} POSTs, expected {posts}")
            return result

        # 1. the worker's loop, no profiler
        def plain() -> dict:
            started, cpu0 = time.perf_counter(), time.process_time()
            _inline_loop(huey, n)
            return {"wall": (time.perf_counter() - started) / n * 1e6, "cpu": (time.process_time() - cpu0) / n * 1e6}

        loop = queued_pass(plain)

        # 2. the same with every SQL statement timed (cursor events)
        sql: dict[str, list] = {}

        def before(conn, cursor, statement, parameters, context, executemany):
            conn.info["_bench_t"] = time.perf_counter()

        def after(conn, cursor, statement, parameters, context, executemany):
            words = statement.split()
            key = " ".join(words[:2] if words[0] in ("UPDATE", "SELECT") else words[:3])
            if words[0] == "SELECT":
                key += " … " + " ".join(words[words.index("FROM") + 1:words.index("FROM") + 2])
            entry = sql.setdefault(key, [0.0, 0])
            entry[0] += time.perf_counter() - conn.info.pop("_bench_t")
            entry[1] += 1

        commits = [0]

        def on_commit(conn):
            commits[0] += 1

        def with_sql() -> dict:
            event.listen(engine, "before_cursor_execute", before)
            event.listen(engine, "after_cursor_execute", after)
            event.listen(engine, "commit", on_commit)
            try:
                return plain()
            finally:
                event.remove(engine, "before_cursor_execute", before)
                event.remove(engine, "after_cursor_execute", after)
                event.remove(engine, "commit", on_commit)

        queued_pass(with_sql)

        # 3. cProfile of the loop
        profiler = cProfile.Profile()

        def profiled() -> None:
            profiler.enable()
            try:
                return _inline_loop(huey, n)
            finally:
                profiler.disable()

        queued_pass(profiled)

        # 4. `attempt` with the network stubbed out: everything but the HTTP request and Huey
        def stubbed() -> dict:
            with gateway.app.app_context(), gateway.db.new_session() as s:
                ids = s.scalars(select(WebhookDelivery.id).where(WebhookDelivery.status == "pending")
                                .order_by(WebhookDelivery.id)).all()
            huey.flush()  # the queued tasks are not run here
            real = transport.post
            transport.post = lambda url, body, headers, policy: transport.Outcome(status=200, error=None, latency_ms=0)
            try:
                with gateway.app.app_context():
                    started, cpu0 = time.perf_counter(), time.process_time()
                    for delivery_id in ids:
                        if delivery.attempt(delivery_id) != "succeeded":
                            raise RuntimeError("the stubbed attempt did not succeed")
                    return {"wall": (time.perf_counter() - started) / len(ids) * 1e6,
                            "cpu": (time.process_time() - cpu0) / len(ids) * 1e6}
            finally:
                transport.post = real

        no_network = queued_pass(stubbed, posts=0)

        # 5. each part alone
        requests_ = gateway.raw_requests()[:200]
        body, headers = requests_[0]
        policy = gateway.app.extensions["shijing.webhooks"].policy
        with gateway.app.app_context(), gateway.db.new_session() as s:
            endpoint = s.get(WebhookEndpoint, gateway.endpoint_id)
            sample_event = s.scalars(select(Event).limit(1)).one()
            secrets_ = current_secrets(endpoint)
            parts = {
                "envelope": _per_call(lambda: delivery.envelope(sample_event), 2000),
                "secrets": _per_call(lambda: current_secrets(endpoint), 2000),
            }
        parts["sign"] = _per_call(lambda: signing.headers(secrets_, "evt_x", int(time.time()), body), 5000)
        parts.update(_database_parts(gateway))
        parts["check_url"] = _per_call(lambda: transport.check_url(receiver.url, policy), 5000)
        parts["deadline"] = _per_call(lambda: transport._Deadline(policy.total_timeout).finish(), 2000)
        parts["transport"] = _per_call(lambda: transport.post(receiver.url, body, headers, policy), 500)
        raw_fresh = post_loop(receiver.url, requests_ * 3, keep_alive=False, timeout=args.timeout)
        raw_keep = post_loop(receiver.url, requests_ * 3, keep_alive=True, timeout=args.timeout)
        parts["raw_fresh"] = raw_fresh["seconds"] / (3 * len(requests_)) * 1e6
        parts["raw_keep"] = raw_keep["seconds"] / (3 * len(requests_)) * 1e6
        storage = huey.storage
        message = huey.serialize_task(gateway.jobs.tasks["gateway.webhooks.delivery.deliver"].s("wd_x" * 4))
        huey.flush()

        def queue_round_trip():
            storage.enqueue(message, 0)
            storage.dequeue()

        parts["queue_enqueue_dequeue"] = _per_call(queue_round_trip, 1000)
        parts["queue_revoke_check"] = _per_call(lambda: storage.peek_many(["r:a", "r:b"]), 1000)
        parts["queue_delete"] = _per_call(lambda: storage.delete_data("r:a"), 1000)
        parts["queue_put_result"] = _per_call(lambda: storage.put_data("res", b"x" * 40, is_result=True), 1000)
        huey.flush()
        dialect = engine.dialect.name

    stats = pstats.Stats(profiler)
    inclusive = _phase_seconds(stats)
    whole = inclusive.get(PHASES[0][0]) or 1e-9
    kind = "PostgreSQL" if args.database_url else ("SQLite on disk" if args.disk else "SQLite on tmpfs")
    queue = "RedisHuey" if args.redis_url else "SqliteHuey"
    out = [f"# Where a webhook delivery's time goes: {n} deliveries per pass, one thread, {kind} + {queue}", "",
           (f"Worker loop in the main thread (Huey dequeue → `deliver` → recorded), no profiler: "
           f"**{loop['wall']:.0f} µs wall, {loop['cpu']:.0f} µs CPU per delivery** "
           f"({1e6 / loop['wall']:.0f} deliveries/s). Raw `requests` POST of the same body: "
           f"{parts['raw_fresh']:.0f} µs with a new connection, {parts['raw_keep']:.0f} µs with keep-alive."), "",
           "| part, timed alone (no profiler) | wall µs per delivery |", "|---|---|",
           f"| Huey storage: enqueue + dequeue of one message ({queue}) | {parts['queue_enqueue_dequeue']:.0f} |",
           f"| Huey storage: revocation check (`peek_many`) | {parts['queue_revoke_check']:.0f} |",
           f"| Huey storage: delete the revoke key | {parts['queue_delete']:.0f} |",
           f"| Huey storage: store the task's result | {parts['queue_put_result']:.0f} |",
           (f"| `attempt()` with the network stubbed out (claim, envelope, secret, signature, record, commits) | "
           f"{no_network['wall']:.0f} (CPU {no_network['cpu']:.0f}) |"),
           f"| · `envelope(event)` | {parts['envelope']:.0f} |",
           f"| · `current_secrets` (AES-GCM open) | {parts['secrets']:.0f} |",
           f"| · `signing.headers` | {parts['sign']:.0f} |",
           f"| · building the claim's `update()` statement, as `attempt` does on every call | {parts['claim_statement']:.0f} |",
           f"| · a session: `new_session()`, `Session.get` of a delivery by primary key, close | {parts['orm_get']:.0f} |",
           f"| · the same SELECT by primary key on a held DB-API connection (the floor) | {parts['driver_get']:.0f} |",
           f"| `transport.post` to the receiver (new connection) | {parts['transport']:.0f} |",
           f"| · `check_url` | {parts['check_url']:.0f} |",
           f"| · `_Deadline` timer thread: start + cancel | {parts['deadline']:.0f} |",
           f"| reference: `requests` POST, new connection / keep-alive | {parts['raw_fresh']:.0f} / {parts['raw_keep']:.0f} |",
           "", (f"SQL a delivery runs ({dialect}; cursor execute, wall, timed in the loop without profiler; "
           f"{commits[0] / n:.1f} commits a delivery):"), "",
           "| statement | per delivery | µs per delivery |", "|---|---|---|"]
    for key, (seconds, calls) in sorted(sql.items(), key=lambda kv: -kv[1][0]):
        out.append(f"| `{key}` | {calls / n:.1f} | {seconds / n * 1e6:.0f} |")
    out += ["", "| phase (cProfile wall, inclusive; · = nesting) | µs per delivery | share |", "|---|---|---|"]
    out += [f"| {label} | {seconds / n * 1e6:.0f} | {seconds / whole:.0%} |"
            for label, seconds in _with_remainders(inclusive)]
    text = io.StringIO()
    stats.stream = text
    stats.sort_stats("cumulative").print_stats(25)
    out += ["", "## cProfile of the worker loop, top 25 by cumulative time", "", "```",
            text.getvalue().strip()[-9000:], "```"]
    markdown = "\n".join(out) + "\n"
    print(markdown)
    if not args.no_save:
        suffix = ("-pg" if args.database_url else "") + ("-redis" if args.redis_url else "") + ("-disk" if args.disk else "")
        path = write_results("webhook-delivery-profile" + suffix, markdown, {"loop": loop, "parts": parts,
                             "no_network": no_network, "sql": sql, "commits_per_delivery": commits[0] / n})
        print(f"saved {path.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
