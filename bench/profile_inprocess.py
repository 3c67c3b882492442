#!/usr/bin/env python
"""In-process cost per request of the endpoints http_ratios.py measures, and where it goes.

    .venv/bin/python bench/profile_inprocess.py                   # µs per request, every endpoint
    .venv/bin/python bench/profile_inprocess.py --profile healthz # + cProfile top functions

No server and no load generator: the WSGI application of ``bench/wsgi.py`` is called directly
with a prebuilt environ, so the figures are pure server-side CPU (what the ratios are made of,
minus the kernel and wrk). Same set-up as http_ratios.py: scratch folder on tmpfs, demo data,
access log on (to a file in the scratch folder), rate limits counted but never refusing.
Bounded: ``--calls`` per endpoint per repetition (default 3000), 3 repetitions.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import scratch_dir  # noqa: E402
from bench.http_ratios import ENDPOINTS, PG_BASELINE, parse_args as ratio_args, seed, server_env  # noqa: E402


class InProcess:
    """The bench WSGI app loaded in this process, with a prebuilt environ per endpoint.

    Reusable by ad-hoc experiments: ``with InProcess() as bench: bench.time("healthz", 3000)``.
    """

    def __init__(self, database_url: str = "") -> None:
        self.scratch = scratch_dir()
        self.database_url = database_url

    def __enter__(self) -> "InProcess":
        env = server_env(self.scratch, ratio_args(["--database-url", self.database_url] if self.database_url else []), 8000)
        demo = seed(env)
        os.environ.clear()
        os.environ.update(env)
        self.log = open(self.scratch / "access.log", "a")
        sys.stderr = self.log  # the app's JSON log handler writes to sys.stderr, as under gunicorn
        try:
            from bench.wsgi import application
        finally:
            sys.stderr = sys.__stderr__
        _point_log_handlers_at(self.log)
        self.application = application
        partner = demo["partner_app"]
        basic = "Basic " + base64.b64encode(f"{partner['client_id']}:{partner['client_secret']}".encode()).decode()
        merchant = demo["merchants"][0]["id"]
        token_env = self.build("POST", "/oauth2/token", {"Authorization": basic,
                               "Content-Type": "application/x-www-form-urlencoded"}, "grant_type=client_credentials")
        status, body = self.call(token_env)
        assert status.startswith("200"), (status, body)
        token = json.loads(body)["access_token"]
        self.environs = {}
        endpoints = ENDPOINTS
        if self.database_url:  # the same endpoint set http_ratios.py measures on PostgreSQL
            endpoints = [e for e in ENDPOINTS if "sqlite" not in e.key] + [PG_BASELINE]
        for endpoint in endpoints:
            path = endpoint.path.replace("{mid}", merchant)
            if endpoint.method == "POST":
                self.environs[endpoint.key] = token_env
            else:
                headers = {"Authorization": f"Bearer {token}"} if endpoint.auth == "bearer" else {}
                self.environs[endpoint.key] = self.build("GET", path, headers)
            status, body = self.call(self.environs[endpoint.key])
            assert status.startswith("200"), (endpoint.key, status, body)
        # not an http_ratios endpoint: GET /v1/pois/nearby in an area with no POI within 3 km,
        # the sparse case of bench/poi_nearby.py minus its query (priced by instructions.py)
        self.environs["poi_nearby_empty"] = self.build(
            "GET", "/v1/pois/nearby?lat=35.1234&lng=95.4321&radius=3000&limit=20",
            {"Authorization": f"Bearer {token}"})
        status, body = self.call(self.environs["poi_nearby_empty"])
        assert status.startswith("200") and b'"data":[]' in body, (status, body)
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    @staticmethod
    def build(method, path, headers, data=None) -> dict:
        from werkzeug.test import EnvironBuilder

        environ = EnvironBuilder(method=method, path=path, headers=headers, data=data,
                                 base_url="http://127.0.0.1:8000").get_environ()
        environ["REMOTE_ADDR"] = "127.0.0.1"
        environ["_body"] = environ["wsgi.input"].read()
        return environ

    def call(self, environ_template: dict) -> tuple[str, bytes]:
        environ = dict(environ_template)
        environ["wsgi.input"] = io.BytesIO(environ_template["_body"])
        status = []
        body = b"".join(self.application(environ, lambda s, h, e=None: status.append(s)))
        return status[0], body

    def time(self, key: str, calls: int) -> float:
        """CPU µs per request for ``calls`` requests to endpoint ``key`` (after 50 warm-up calls)."""
        environ = self.environs[key]
        for _ in range(50):
            self.call(environ)
        # CPU time of this process, not wall time: on a shared box, time spent descheduled
        # would otherwise land on whichever endpoint was running
        started = time.process_time()
        for _ in range(calls):
            self.call(environ)
        elapsed = (time.process_time() - started) / calls * 1e6
        self.log.truncate(0)
        return elapsed

    def table(self, keys, calls: int, reps: int) -> dict:
        timings = {key: [] for key in keys}
        for _ in range(reps):
            for key in keys:
                timings[key].append(self.time(key, calls if key != "token" else max(1, calls // 5)))
        return timings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", help="comma-separated endpoint keys")
    parser.add_argument("--profile", help="endpoint key to profile with cProfile")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--count-calls", action="store_true", help="also count Python calls per request")
    parser.add_argument("--database-url", default="", help="PostgreSQL database the run may migrate and seed "
                        "(never the test suite's); default: SQLite on tmpfs")
    args = parser.parse_args(argv)
    if not (1 <= args.calls <= 100_000 and 1 <= args.reps <= 50):
        parser.error("bounded runs only: 1-100000 calls, 1-50 repetitions")

    with InProcess(args.database_url) as bench:
        keys = args.only.split(",") if args.only else list(bench.environs)
        if "hello" not in keys:
            keys.insert(0, "hello")
        timings = bench.table(keys, args.calls, args.reps)
        hello = statistics.median(timings["hello"])
        print("| endpoint | CPU µs per request, median [min–max] | extra over hello |")
        print("|---|---|---|")
        for key, values in timings.items():
            med = statistics.median(values)
            print(f"| {key} | {med:.1f} [{min(values):.1f}–{max(values):.1f}] | {med - hello:+.1f} |")

        if args.count_calls:
            # Python function calls per request: deterministic, so it compares code versions
            # even when the shared machine makes timings noisy (C work is not counted)
            print("\n| endpoint | Python function calls per request |\n|---|---|")
            for key in keys:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(200):
                    bench.call(bench.environs[key])
                profiler.disable()
                total = pstats.Stats(profiler).total_calls
                print(f"| {key} | {total / 200:.0f} |")

        if args.profile:
            environ = bench.environs[args.profile]
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.calls):
                bench.call(environ)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(args.top)
            stats.sort_stats("cumulative").print_stats(args.top)
            print(out.getvalue())
    return 0


def _point_log_handlers_at(stream) -> None:
    import logging

    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and getattr(handler, "_shijing", False):
            handler.setStream(stream)


if __name__ == "__main__":
    sys.exit(main())
