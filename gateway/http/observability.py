"""Request ids in and out, one structured JSON log line per request, Prometheus metrics."""

from __future__ import annotations

import json
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

from gateway.ids import new_request_id

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


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
LOG_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}

# The access log line's own fields, in the order they are written.
ACCESS_FIELDS = ("request_id", "method", "path", "route", "status", "duration_ms", "app_id")


def _access_record(values: tuple) -> logging.LogRecord:
    """The access log record of one request: ``values`` in ACCESS_FIELDS order.

    ``access_log.info("request", extra=...)`` minus logging.findCaller(), the stack walk that
    finds the calling file and line: the JSON line never shows them, and the walk was a quarter
    of the logging cost per request (bench/README.md). Same record, handlers and filters. The
    ``_access`` marker lets _JsonFormatter take its fast path (python-json-logger leaves
    attributes starting with "_" out of the line)."""
    extra = dict(zip(ACCESS_FIELDS, values))
    extra["_access"] = ACCESS_FIELDS
    return access_log.makeRecord(access_log.name, logging.INFO, "(unknown file)", 0, "request", (), None,
                                 "(unknown function)", extra=extra)


class _JsonFormatter(JsonFormatter):
    """python-json-logger's formatter with two per-line costs taken out, same output.

    One line per request goes through it (the access log), so: the JSON encoder is built once
    instead of by ``json.dumps(..., cls=...)`` on every line (encoders hold no state between
    calls), and the ``time`` field's seconds part (``time.strftime`` of the local time) is
    computed once per second instead of per line; milliseconds are appended per record exactly
    as ``logging.Formatter.formatTime`` does. Measured: 27 -> ~20 µs a line (bench/README.md).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._encoder = (self.json_encoder or json.JSONEncoder)(
            default=self.json_default, indent=self.json_indent, ensure_ascii=self.json_ensure_ascii
        )
        self._second = (None, "")  # (int second, its strftime text): one tuple, swapped atomically
        self._access_encode = self._access_fast_path()

    def jsonify_log_record(self, log_data) -> str:
        return self._encoder.encode(log_data)

    def _access_fast_path(self):
        """The access line's encoder when this formatter writes access records the simple way
        (the gateway's format and renames, nothing else configured), else None."""
        encoder = self._encoder
        if (self._required_fields != ["asctime", "levelname", "name", "message"]
                or self.rename_fields != LOG_RENAMES or self.static_fields or self.defaults
                or self.timestamp or self.prefix or self.rename_fields_keep_missing or encoder.indent is not None
                or any(field in self._skip_fields for field in ACCESS_FIELDS)
                or json.encoder.c_make_encoder is None or type(encoder).encode is not json.JSONEncoder.encode):
            return None
        # what encoder.encode(dict) runs, built once instead of per line; no circular-reference
        # markers, as the access fields are flat scalars
        string = json.encoder.encode_basestring_ascii if encoder.ensure_ascii else json.encoder.encode_basestring
        iterencode = json.encoder.c_make_encoder(
            None, encoder.default, string, None, encoder.key_separator, encoder.item_separator,
            encoder.sort_keys, encoder.skipkeys, encoder.allow_nan)
        # an access record straight from _access_record (formatted by no one before: then
        # "message" and "asctime" are set already, and a filter adding a field changes it too)
        self._access_size = len(_access_record((None,) * len(ACCESS_FIELDS)).__dict__)
        return iterencode

    def format(self, record) -> str:
        """python-json-logger's ``format``; for the access record of a request (one per request)
        the same line built directly from the fields it has (~18 -> ~6 µs a line in a full
        request, bench/README.md): the renamed format fields then the access fields, which is
        the order python-json-logger writes them in. Anything else, or an access record a filter
        changed the shape of, takes python-json-logger's path. A test compares both outputs."""
        fields = record.__dict__
        if (self._access_encode is None or fields.get("_access") is not ACCESS_FIELDS
                or len(fields) != self._access_size or record.exc_info or record.exc_text
                or record.stack_info):
            return super().format(record)
        record.message = record.getMessage()  # the same attributes python-json-logger sets
        record.asctime = self.formatTime(record, self.datefmt)
        return self._access_json(record.asctime, record.levelname, record.name, record.message,
                                 [fields[name] for name in ACCESS_FIELDS])

    def _access_json(self, asctime: str, level: str, logger: str, message: str, values) -> str:
        line = {"time": asctime, "level": level, "logger": logger, "message": message}
        for name, value in zip(ACCESS_FIELDS, values):
            line[name] = value
        return "".join(self._access_encode(line, 0))

    def access_line(self, values: tuple, created: float) -> str | None:
        """The line ``format`` writes for ``_access_record(values)`` made at time ``created``,
        without making the record (see ``write_access_line``); None when this formatter has no
        access fast path or its time format is not logging's default."""
        if self._access_encode is None or self.datefmt or self.default_msec_format is None:
            return None
        msecs = int((created - int(created)) * 1000)  # LogRecord's own rounding (truncated)
        return self._access_json(self._time_text(created, msecs), logging.getLevelName(logging.INFO),
                                 access_log.name, "request", values)

    def formatTime(self, record, datefmt=None) -> str:  # noqa: N802  (logging's name)
        if datefmt or self.default_msec_format is None:
            return super().formatTime(record, datefmt)
        return self._time_text(record.created, record.msecs)

    def _time_text(self, created: float, msecs: float) -> str:
        second, text = self._second
        if second != int(created):
            second = int(created)
            text = time.strftime(self.default_time_format, self.converter(created))
            self._second = (second, text)
        return self.default_msec_format % (text, msecs)


def _sole_access_handler():
    """The gateway's handler when it is the only place the access record would go and nothing
    on the way could drop or change it — logging as ``configure_logging`` leaves it. Any other
    set-up (a test's ``caplog``, a filter, a second handler, a handler on a logger in between)
    returns None, and the record takes logging's own path."""
    if access_log.filters or access_log.disabled:
        return None
    logger = access_log
    while logger.parent is not None:  # the handlers callHandlers() would visit before the root's
        if logger.handlers or not logger.propagate:
            return None
        logger = logger.parent
    handlers = logger.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if (not getattr(handler, "_shijing", False) or handler.filters or handler.level > logging.INFO
            or type(handler) is not logging.StreamHandler or not isinstance(handler.formatter, _JsonFormatter)):
        return None
    return handler


def write_access_line(values: tuple) -> None:
    """Log one request's access line: ``values`` in ACCESS_FIELDS order.

    One line per request is the largest single cost the middleware adds to a trivial request:
    making the LogRecord and sending it through the logger hierarchy and the handler's
    filtering cost more than formatting and writing the line itself (bench/README.md). When the
    gateway's handler is the only one that would see the record (``_sole_access_handler``),
    the line its formatter would write is written to its stream directly, under the handler's
    lock, and flushed, as ``StreamHandler.emit`` does (a failed write goes to the handler's
    ``handleError``, as there). Otherwise the record goes through logging as usual. A test
    compares both ways' output."""
    handler = _sole_access_handler()
    if handler is not None:
        line = handler.formatter.access_line(values, time.time())
        if line is not None:
            handler.acquire()
            try:
                stream = handler.stream
                stream.write(line + handler.terminator)
                stream.flush()
            except Exception:  # noqa: BLE001  (as emit does: report it, never fail the request)
                handler.handleError(_access_record(values))
            finally:
                handler.release()
            return
    access_log.handle(_access_record(values))


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_shijing", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter(LOG_FORMAT, rename_fields=LOG_RENAMES))
    handler._shijing = True
    root.addHandler(handler)
    root.setLevel(level)
    # Authlib logs every issued token (access and refresh, in clear) at DEBUG: never below INFO.
    logging.getLogger("authlib").setLevel(max(logging.INFO, root.getEffectiveLevel()))


def init_app(app: Flask) -> None:
    log_requests = app.config["SHIJING"]["ACCESS_LOG"]

    # Both hooks resolve the ``g`` and ``request`` proxies once (each proxy attribute access is
    # three Python calls through werkzeug.local; these hooks made ~15 of them per request).

    @app.before_request
    def _start():
        ctx = g._get_current_object()
        ctx.started = time.perf_counter()
        # the environ entry request.headers.get("X-Request-Id") reads, without the lookup object
        incoming = request._get_current_object().environ.get("HTTP_X_REQUEST_ID", "")
        # A caller's id is kept only if it is harmless in logs and headers.
        # fullmatch: with match(), "$" also matches before a trailing newline ("abc\n")
        ctx.request_id = incoming if incoming and _SAFE_REQUEST_ID.fullmatch(incoming) else new_request_id()

    @app.after_request
    def _finish(response: Response):
        ctx = g._get_current_object()
        req = request._get_current_object()
        request_id = ctx.get("request_id")  # gateway.http.headers sends it as X-Request-Id
        url_rule = req.url_rule
        rule = url_rule.rule if url_rule else "unmatched"
        finished = time.perf_counter()
        elapsed = finished - ctx.get("started", finished)
        status = response.status_code
        _count(req.method, rule, status, elapsed)
        if log_requests and access_log.isEnabledFor(logging.INFO):
            token = ctx.get("token")
            write_access_line((
                request_id, req.method, req.path, rule, status, round(elapsed * 1000, 2),
                token.app_id if token else None,
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
