"""Request ids in and out, one structured JSON log line per request, Prometheus metrics."""

from __future__ import annotations

import logging
import os
import re
import sys
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from pythonjsonlogger.json import JsonFormatter

from gateway.ids import new_id

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

access_log = logging.getLogger("shijing.access")

# Metrics live in the default registry; under gunicorn, PROMETHEUS_MULTIPROC_DIR makes every
# worker write its samples to files that /metrics aggregates.
REQUESTS = Counter(
    "shijing_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
LATENCY = Histogram(
    "shijing_http_request_duration_seconds",
    "Time spent serving HTTP requests",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


# labels() validates and locks on every call; the children are cached per label tuple instead
# (a handful of routes x methods x statuses), which is what prometheus_client's docs suggest
# for hot paths. Same samples, ~10 µs less per request (bench/README.md).
_request_counters: dict[tuple, object] = {}
_latency_histograms: dict[str, object] = {}


def _count(method: str, rule: str, status: int, elapsed: float) -> None:
    counter = _request_counters.get((method, rule, status))
    if counter is None:
        counter = _request_counters[(method, rule, status)] = REQUESTS.labels(method, rule, status)
    histogram = _latency_histograms.get(rule)
    if histogram is None:
        histogram = _latency_histograms[rule] = LATENCY.labels(rule)
    counter.inc()
    histogram.observe(elapsed)


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_shijing", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler._shijing = True
    root.addHandler(handler)
    root.setLevel(level)
    # Authlib logs every issued token (access and refresh, in clear) at DEBUG: never below INFO.
    logging.getLogger("authlib").setLevel(max(logging.INFO, root.getEffectiveLevel()))


def init_app(app: Flask) -> None:
    log_requests = app.config["SHIJING"]["ACCESS_LOG"]

    @app.before_request
    def _start():
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-Id", "")
        # A caller's id is kept only if it is harmless in logs and headers.
        # fullmatch: with match(), "$" also matches before a trailing newline ("abc\n")
        g.request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else new_id("request")

    @app.after_request
    def _finish(response: Response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        _count(request.method, rule, response.status_code, elapsed)
        if log_requests and access_log.isEnabledFor(logging.INFO):
            token = g.get("token")
            # access_log.info() minus logging.findCaller(), the stack walk that finds the calling
            # file and line: the JSON line never shows them, and the walk was a quarter of the
            # logging cost per request (bench/README.md). Same record, handlers and filters.
            access_log.handle(access_log.makeRecord(
                access_log.name, logging.INFO, "(unknown file)", 0, "request", (), None,
                "(unknown function)",
                extra={
                    "request_id": g.get("request_id"),
                    "method": request.method,
                    "path": request.path,
                    "route": rule,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 2),
                    "app_id": token.app_id if token else None,
                },
            ))
        return response


def metrics_response() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        payload = generate_latest(registry)
    else:
        payload = generate_latest()
    return Response(payload, mimetype=CONTENT_TYPE_LATEST.split(";")[0])
