"""``X-Request-Id`` in and out, and one structured JSON access-log line per request."""

from __future__ import annotations

import json
import logging
import re

import pytest

from tests.conftest import bearer
from tests.problems import assert_problem, raw_client

GENERATED = re.compile(r"req_[0-9a-z]{26}")


def test_a_safe_request_id_is_echoed(client):
    for request_id in ("abc-123", "7f0c1b5e-2c1d-4c57-9b0e-4f1f8b0a6c11", "a.b:c_d", "x" * 128):
        response = client.get("/healthz", headers={"X-Request-Id": request_id})
        assert response.headers["X-Request-Id"] == request_id


def test_a_request_id_is_generated_when_none_is_sent(client):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert GENERATED.fullmatch(first.headers["X-Request-Id"])
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


@pytest.mark.parametrize(
    "unsafe",
    [
        "abc\r\nSet-Cookie: x=1",
        "abc\n",
        "abc\r",
        "x" * 129,
        "",
        "a b",
        "<script>",
        "id\x00",
        "ïd",
        "a;b",
    ],
)
def test_an_unsafe_request_id_is_replaced(client, unsafe):
    # set in the WSGI environ directly: a client library would refuse to send most of these
    response = client.get("/healthz", environ_overrides={"HTTP_X_REQUEST_ID": unsafe})
    assert response.status_code == 200
    assert GENERATED.fullmatch(response.headers["X-Request-Id"]), response.headers["X-Request-Id"]


def test_the_request_id_is_in_problem_bodies(client):
    response = client.get("/v1/apps", headers={"X-Request-Id": "trace-42"})
    body = assert_problem(response, 401)
    assert body["request_id"] == "trace-42" == response.headers["X-Request-Id"]
    generated = client.get("/v1/apps", environ_overrides={"HTTP_X_REQUEST_ID": "bad\r\nid"})
    assert assert_problem(generated, 401)["request_id"] == generated.headers["X-Request-Id"]


def test_the_request_id_is_on_unknown_routes_too(app):
    response = raw_client(app).get("/nowhere", headers={"X-Request-Id": "lost-1"})
    assert assert_problem(response, 404)["request_id"] == "lost-1"


def _json_lines(records) -> list[dict]:
    """Format captured records with the gateway's own handler formatter, as they reach stderr."""
    (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "_shijing", False)]
    return [json.loads(handler.formatter.format(record)) for record in records]


def test_one_structured_json_access_log_line_per_request(make_app, factory, caplog):
    app = make_app(ACCESS_LOG=True)
    client = app.test_client()
    partner = factory.app_client()
    token = factory.token(partner, "apps.manage")
    caplog.set_level(logging.INFO, logger="shijing.access")

    client.get(f"/v1/apps/{partner.id}", headers={**bearer(token), "X-Request-Id": "log-1"})
    client.get("/v1/apps/app_missing", headers={**bearer(token), "X-Request-Id": "log-2"})

    lines = _json_lines([r for r in caplog.records if r.name == "shijing.access"])
    assert [line["request_id"] for line in lines] == ["log-1", "log-2"]
    ok, missing = lines
    assert ok["route"] == missing["route"] == "/v1/apps/<app_id>"  # the template, not the raw path
    assert (ok["status"], missing["status"]) == (200, 404)
    assert ok["method"] == "GET" and ok["path"] == f"/v1/apps/{partner.id}"
    assert ok["app_id"] == partner.id
    assert isinstance(ok["duration_ms"], (int, float)) and ok["duration_ms"] >= 0
    assert ok["level"] == "INFO" and ok["logger"] == "shijing.access" and ok["time"]
    # credentials never reach the log
    assert token not in json.dumps(lines)


def test_no_access_log_when_disabled(client, caplog):
    caplog.set_level(logging.INFO, logger="shijing.access")
    client.get("/healthz")
    assert not [r for r in caplog.records if r.name == "shijing.access"]


def test_the_gateway_log_formatter_writes_exactly_what_python_json_logger_writes():
    # observability._JsonFormatter shortcuts two per-line costs; its lines must stay identical
    from pythonjsonlogger.json import JsonFormatter

    from gateway.http import observability

    ours = observability._JsonFormatter(observability.LOG_FORMAT, rename_fields=observability.LOG_RENAMES)
    reference = JsonFormatter(observability.LOG_FORMAT, rename_fields=observability.LOG_RENAMES)
    access = logging.getLogger("shijing.access")
    records = []
    for created in (1_790_000_000.0, 1_790_000_000.999, 1_790_000_001.0005, 1_790_000_061.25):
        record = access.makeRecord(access.name, logging.INFO, "(unknown file)", 0, "request", (), None,
                                   extra={"request_id": "req_1", "status": 200, "path": "/ü", "app_id": None})
        record.created, record.msecs = created, (created - int(created)) * 1000
        records.append(record)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        records.append(logging.getLogger("shijing.test").makeRecord(
            "shijing.test", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info()))
    for record in records:
        assert ours.format(record) == reference.format(record)


def test_access_lines_take_the_fast_path_and_still_match_python_json_logger():
    # _JsonFormatter writes the access record of a request directly (a fast path); its line must
    # be python-json-logger's, and any record a filter reshaped must go python-json-logger's way
    from pythonjsonlogger.json import JsonFormatter

    from gateway.http import observability

    ours = observability._JsonFormatter(observability.LOG_FORMAT, rename_fields=observability.LOG_RENAMES)
    reference = JsonFormatter(observability.LOG_FORMAT, rename_fields=observability.LOG_RENAMES)
    assert ours._access_encode is not None
    cases = [
        ("req_1", "GET", "/v1/merchants/mch_1", "/v1/merchants/<merchant_id>", 200, 1.23, "app_1"),
        ("x" * 128, "POST", '/ü/"q"\n\u2028', "unmatched", 404, 0.0, None),
        ("r", "DELETE", "/", "/", 500, 12345.678, "a\\b"),
    ]
    for values in cases:
        for reshape in (None, "add", "exc"):
            records = [observability._access_record(values) for _ in range(2)]
            for record in records:
                record.created, record.msecs = 1_790_000_000.5, 500.0
                if reshape == "add":
                    record.tenant = "t1"  # as a logging.Filter adding a field would
                if reshape == "exc":
                    record.stack_info = "Stack (most recent call last):\n  here"
            line = ours.format(records[0])
            assert line == reference.format(records[1])
            assert json.loads(line)["request_id"] == values[0]
            assert ours.format(records[0]) == line  # formatted twice (two handlers): the same


def test_a_formatter_configured_differently_never_takes_the_access_fast_path():
    from gateway.http import observability

    renamed = observability._JsonFormatter(observability.LOG_FORMAT, rename_fields={"levelname": "severity"})
    static = observability._JsonFormatter(observability.LOG_FORMAT, rename_fields=observability.LOG_RENAMES,
                                          static_fields={"service": "gateway"})
    assert renamed._access_encode is None and static._access_encode is None
    record = observability._access_record(("r", "GET", "/", "/", 200, 1.0, None))
    assert json.loads(static.format(record))["service"] == "gateway"


def test_the_access_line_written_straight_to_the_handler_is_the_line_logging_writes(make_app, monkeypatch):
    # With logging as the gateway configures it (its handler alone on the root), the access line
    # skips the LogRecord and goes straight to the handler's stream; with anything else on the
    # way (here a filter; in a test, caplog's handler) it goes through logging. Same line.
    import io

    from gateway.http import observability

    app = make_app(ACCESS_LOG=True)
    client = raw_client(app)  # an unknown path too, which the spec's client would refuse to send
    root = logging.getLogger()
    (handler,) = [h for h in root.handlers if getattr(h, "_shijing", False)]
    written = io.StringIO()
    monkeypatch.setattr(root, "handlers", [handler])  # pytest's capture handlers off, for this test
    monkeypatch.setattr(handler, "stream", written)
    assert observability._sole_access_handler() is handler
    level = observability.access_log.level
    observability.access_log.setLevel(logging.INFO)  # the tests' configuration logs warnings only

    def passes(record):
        return True

    odd_path = '/nowhere/ü/"q"'
    try:
        for request_id in ("direct-1", "logged-1"):
            if request_id == "logged-1":
                handler.addFilter(passes)
                assert observability._sole_access_handler() is None
            client.get("/healthz", headers={"X-Request-Id": request_id})
            client.get(odd_path, headers={"X-Request-Id": request_id + "-404"})
    finally:
        handler.removeFilter(passes)
        observability.access_log.setLevel(level)

    lines = written.getvalue().splitlines()
    assert len(lines) == 4
    parsed = [json.loads(line) for line in lines]
    assert [line["request_id"] for line in parsed] == ["direct-1", "direct-1-404", "logged-1", "logged-1-404"]
    for direct, logged in ((parsed[0], parsed[2]), (parsed[1], parsed[3])):
        assert list(direct) == list(logged)  # the same fields in the same order
        varying = {"time", "duration_ms", "request_id"}
        assert {k: v for k, v in direct.items() if k not in varying} == {
            k: v for k, v in logged.items() if k not in varying}
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", direct["time"])
    assert parsed[1]["path"] == odd_path and parsed[1]["route"] == "unmatched" and parsed[1]["status"] == 404
    # and byte for byte, for a fixed time: the direct line is what format() writes for the record
    formatter = handler.formatter
    values = ("r-1", "GET", odd_path, "unmatched", 404, 0.25, None)
    for created in (1_790_000_000.0, 1_790_000_000.9999, 1_790_000_059.5004):
        record = observability._access_record(values)
        record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
        assert formatter.access_line(values, created) == formatter.format(record)
