"""Export jobs end to end through the gateway (SECURITY.md row 43, G20): a tenant's export holds
none of another tenant's rows, links are bound to the app and short-lived, CSV cells cannot run
as formulas, bad requests are clear problems, a cancelled job leaves no file."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine

from gateway.clock import utcnow
from gateway.exports import services
from gateway.exports.datasets import DATASETS
from tests.conftest import bearer
from tests.exports.conftest import FORMULA, read_rows

EXPECTED_ROWS = {  # what each tenant holds, per dataset, in the last week
    "poi_page_views": 4, "mount_events": 3, "orders": 2, "verifications": 1, "followers": 1,
    "service_account_messages": 2, "poi_quality_tags": 1,
}


def _foreign(world, text: str) -> dict:
    """A's ids (and A's merchant) found in ``text``."""
    return {kind: value for kind, value in world.a.ids.items() if isinstance(value, str) and value and value in text}


def test_every_dataset_publishes_its_schema(client, export_world):
    listed = client.get("/v1/datasets", headers=export_world.headers)
    assert listed.status_code == 200
    by_name = {d["name"]: d for d in listed.get_json()["data"]}
    assert set(by_name) == {"poi_page_views", "mount_events", "orders", "verifications", "followers",
                            "service_account_messages", "poi_quality_tags"}
    for dataset in by_name.values():
        assert dataset["columns"] and all(c["type"] in ("string", "integer", "timestamp", "json")
                                          for c in dataset["columns"])
        assert dataset["freshness"] and dataset["retention_days"] >= 0
        # users only as the app's open_id: no internal user id column anywhere
        assert not any(c["name"] in ("user_id", "buyer_user_id") for c in dataset["columns"])
    one = client.get("/v1/datasets/orders", headers=export_world.headers)
    assert one.get_json() == by_name["orders"]
    missing = client.get("/v1/datasets/payments", headers=export_world.headers)
    assert missing.status_code == 404 and missing.get_json()["code"] == "DATASET_NOT_FOUND"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_an_export_holds_the_tenants_rows_and_no_foreign_row(client, export_world, dataset, fmt):
    """G20: the partner serves A and B; B's export of every dataset has B's rows and none of A's."""
    job = export_world.export(client, export_world.b, dataset=dataset, format=fmt)
    assert job["status"] == "completed", job
    assert job["rows_done"] == job["rows_estimated"] == EXPECTED_ROWS[dataset]
    response = export_world.download(client, job)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.mimetype == ("text/csv" if fmt == "csv" else "application/x-ndjson")
    rows = read_rows(response.data, fmt)
    assert len(rows) == EXPECTED_ROWS[dataset]
    assert list(rows[0]) == [c.name for c in DATASETS[dataset].columns]  # exactly the allow-listed columns
    assert not _foreign(export_world, response.get_data(as_text=True))
    text = response.get_data(as_text=True)
    assert export_world.b.ids["owner"] not in text  # users appear by open_id only


def test_orders_and_ids_match_the_tenant(client, export_world):
    job = export_world.export(client, export_world.b, dataset="orders", format="jsonl")
    rows = read_rows(export_world.download(client, job).data, "jsonl")
    assert {row["id"] for row in rows} == {export_world.b.ids["order"], export_world.b.ids["unpaid_order"]}
    assert all(row["buyer_open_id"].startswith("ou_") for row in rows)


def test_filters_narrow_the_rows(client, export_world):
    job = export_world.export(client, export_world.b, dataset="poi_page_views", format="jsonl", source="search",
                              poi_id=export_world.b.ids["poi"])
    rows = read_rows(export_world.download(client, job).data, "jsonl")
    assert len(rows) == 2 and {row["source"] for row in rows} == {"search"}
    job = export_world.export(client, export_world.b, dataset="orders", status="pending_payment", format="jsonl")
    assert [row["id"] for row in read_rows(export_world.download(client, job).data, "jsonl")] == [
        export_world.b.ids["unpaid_order"]]


def test_a_foreign_merchant_is_404_and_the_range_is_respected(client, export_world):
    # B's partner token for A's merchant works only because A authorised the partner too; an app
    # A never authorised (none here for B) gets 404 for B's merchant
    response = client.post(f"{export_world.base(export_world.b)}/exports", headers=bearer(export_world.other_token),
                           json={"dataset": "orders", "date_from": "2026-01-01", "date_to": "2026-01-02"})
    assert response.status_code == 404
    old = export_world.export(client, export_world.b, dataset="orders", date_from="2020-01-01", date_to="2020-01-31")
    assert old["rows_done"] == 0
    assert read_rows(export_world.download(client, old).data, "csv") == []


def test_csv_cells_that_start_a_formula_are_neutralised(client, export_world):
    """SECURITY row 43: `=HYPERLINK(...)` comes out as `'=HYPERLINK(...)`."""
    job = export_world.export(client, export_world.b, dataset="service_account_messages", format="csv")
    rows = read_rows(export_world.download(client, job).data, "csv")
    assert "'" + FORMULA in [row["text"] for row in rows]
    assert FORMULA not in [row["text"] for row in rows]
    # JSON Lines is data, not a spreadsheet: the value is kept as it is
    job = export_world.export(client, export_world.b, dataset="service_account_messages", format="jsonl")
    assert FORMULA in [row["text"] for row in read_rows(export_world.download(client, job).data, "jsonl")]


TRICKY = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "1+1", "", None, 'say "hi"', "a,b", "two\nlines",
          "cr\rhere", "山城老火锅, 解放碑", "'quoted'", "x" * 300]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_the_databases_lines_are_what_csv_and_json_modules_would_write(app, fmt):
    """The database writes each line of an export file (RFC 4180 quoting and formula neutralisation
    in SQL for CSV, an object for JSON Lines): each tricky value comes back through Python's csv /
    json readers as it went in, a cell starting with `= + - @ TAB CR` with a leading quote."""
    import csv
    import io

    from sqlalchemy import String, literal, select

    from gateway.exports.datasets import Column, _csv_line, _export_expression, _json_line

    db = app.extensions["shijing.db"]
    with db.engine.connect() as connection:
        dialect = connection.dialect.name
        for value in TRICKY:
            columns = (Column("n", "integer", "", literal(7)), Column("text", "string", "", literal(value, String), free_text=True),
                       Column("id", "string", "", literal("ord_01kb2x", String)))
            values = [_export_expression(column, dialect, fmt) for column in columns]
            build = _csv_line if fmt == "csv" else _json_line
            line = connection.scalar(select(build(columns, values, dialect)))
            if fmt == "csv":
                cells = next(csv.reader(io.StringIO(line, newline="")))
                neutral = "'" + value if value and value[0] in "=+-@\t\r" else value
                assert cells == ["7", neutral or "", "ord_01kb2x"], (value, line)
                expected = io.StringIO()
                csv.writer(expected).writerow([7, neutral, "ord_01kb2x"])
                assert line + "\r\n" == expected.getvalue(), (value, line)
            else:
                assert json.loads(line) == {"n": 7, "text": value, "id": "ord_01kb2x"}, (value, line)


def test_followers_come_with_their_tags(client, export_world, app):
    """The fan CRM's tags travel with each follower, in CSV (a JSON cell), JSON Lines and sync; an
    open_id read in an export names the follower back in the service-account API."""
    from gateway.service_accounts import services as accounts
    from gateway.service_accounts.models import ServiceAccount

    b = export_world.b
    tags = sorted([{"id": b.ids["tag"], "name": "老顾客"}, {"id": b.ids["tag2"], "name": "附近常客"}],
                  key=lambda tag: tag["id"])  # created in the same millisecond: then by id
    job = export_world.export(client, b, dataset="followers", format="csv")
    [row] = read_rows(export_world.download(client, job).data, "csv")
    assert json.loads(row["tags"]) == tags and row["open_id"].startswith("ou_")
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        account = s.get(ServiceAccount, b.ids["service_account"])
        [follower] = accounts.resolve_followers(s, export_world.partner.id, account, [row["open_id"]]).values()
        assert follower.id == row["id"]
    job = export_world.export(client, b, dataset="followers", format="jsonl")
    [row] = read_rows(export_world.download(client, job).data, "jsonl")
    assert row["tags"] == tags
    synced = client.get(f"{export_world.base(b)}/datasets/followers/changes", headers=export_world.headers)
    assert [row["tags"] for row in synced.get_json()["data"]] == [tags]


def test_gzip(client, export_world):
    job = export_world.export(client, export_world.b, dataset="orders", format="csv", gzip=True)
    response = export_world.download(client, job)
    assert response.mimetype == "application/gzip"
    assert response.headers["Content-Disposition"].endswith(".csv.gz")
    assert response.data[:2] == b"\x1f\x8b" and job["file_size"] == len(response.data)
    assert len(read_rows(response.data, "csv", zipped=True)) == 2


def test_the_job_is_the_apps_own(client, export_world):
    """Another app the merchant authorised sees neither the job nor the file (404, like a missing one)."""
    job = export_world.export(client, export_world.a, dataset="orders")
    other = bearer(export_world.other_token)
    assert client.get(f"{export_world.base(export_world.a)}/exports/{job['id']}", headers=other).status_code == 404
    listed = client.get(f"{export_world.base(export_world.a)}/exports", headers=other).get_json()
    assert job["id"] not in json.dumps(listed)
    foreign_link = export_world.download(client, job, headers=other)
    assert foreign_link.status_code == 404 and foreign_link.mimetype == "application/problem+json"
    # the same link with a new token of the same app works: it is bound to the app, not the token
    assert export_world.download(client, job).status_code == 200


def test_a_tampered_or_misrouted_link_is_404(client, export_world):
    job = export_world.export(client, export_world.b, dataset="orders")
    url = job["download_url"]
    expires, signature = url.rsplit("/", 1)[1].split(".")
    forged = url.replace(f"{expires}.", f"{int(expires) + 3600}.")  # a longer life without the key
    assert client.get(forged, headers=export_world.headers).status_code == 404
    other_job = export_world.export(client, export_world.b, dataset="verifications")
    swapped = other_job["download_url"].rsplit("/", 1)[0] + "/" + f"{expires}.{signature}"
    assert client.get(swapped, headers=export_world.headers).status_code == 404  # signed for another job
    a_path = url.replace(export_world.b.merchant_id, export_world.a.merchant_id)
    assert client.get(a_path, headers=export_world.headers).status_code == 404
    for junk in ("x", "1.", "99999999999999.aaaa", "1." + "a" * 80):
        assert client.get(url.rsplit("/", 1)[0] + "/" + junk, headers=export_world.headers).status_code == 404


def test_an_expired_link_and_an_expired_file_are_404(client, export_world, app):
    job = export_world.export(client, export_world.b, dataset="orders")
    with time_machine.travel(utcnow() + timedelta(seconds=301), tick=False):
        expired = export_world.download(client, job)
        assert expired.status_code == 404 and expired.get_json()["code"] == "EXPORT_NOT_FOUND"
        fresh = client.get(f"{export_world.base(export_world.b)}/exports/{job['id']}", headers=export_world.headers)
        assert export_world.download(client, fresh.get_json()).status_code == 200  # a new link works
    with app.app_context():
        path = services.export_folder() / f"{job['id']}.csv"
    assert path.exists()
    with (time_machine.travel(utcnow() + timedelta(days=1, seconds=1), tick=False), app.app_context(),
          app.extensions["shijing.db"].new_session() as s):
        assert services.expire_jobs(s) >= 1
        s.commit()
    later = client.get(f"{export_world.base(export_world.b)}/exports/{job['id']}", headers=export_world.headers)
    assert later.get_json()["status"] == "expired" and later.get_json()["download_url"] is None
    assert not path.exists()
    assert export_world.download(client, fresh.get_json()).status_code == 404


def test_a_cancelled_job_leaves_no_file(client, export_world, app):
    job = export_world.export(client, export_world.b, dataset="orders")
    with app.app_context():
        path = services.export_folder() / f"{job['id']}.csv"
    assert path.exists()
    cancelled = client.post(f"{export_world.base(export_world.b)}/exports/{job['id']}/cancel",
                            headers=export_world.headers)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert not path.exists()
    assert export_world.download(client, job).status_code == 404
    again = client.post(f"{export_world.base(export_world.b)}/exports/{job['id']}/cancel", headers=export_world.headers)
    assert again.status_code == 409 and again.get_json()["code"] == "EXPORT_NOT_CANCELLABLE"


def test_a_job_cancelled_while_it_runs_stops_and_leaves_no_file(client, export_world, app, monkeypatch):
    """The partner cancels between two chunks: the worker sees it at its next progress check,
    stops, and deletes what it wrote."""
    monkeypatch.setattr(services, "CHUNK_ROWS", 1)
    monkeypatch.setattr(services, "PROGRESS_EVERY", 1)
    with app.app_context():
        database = app.extensions["shijing.db"]
        with database.new_session() as s:
            today = utcnow().date()
            job = services.create_job(s, export_world.b.merchant_id, export_world.partner.id,
                                      {"dataset": "poi_page_views", "date_to": today.isoformat(),
                                       "date_from": (today - timedelta(days=7)).isoformat()})
            s.info.pop("export_jobs")  # run below, by hand
            s.commit()
            job_id = job.id
        original = services.write_export

        def cancel_after_first_chunk(*args, on_progress, **kwargs):

            def progress(rows):
                if rows == 1:
                    response = client.post(f"{export_world.base(export_world.b)}/exports/{job_id}/cancel",
                                           headers=export_world.headers)
                    assert response.status_code == 200
                on_progress(rows)

            return original(*args, on_progress=progress, **kwargs)

        monkeypatch.setattr(services, "write_export", cancel_after_first_chunk)
        services.run_job(database.new_session, job_id)
        leftovers = [p.name for p in services.export_folder().iterdir() if p.name.startswith(job_id)]
    assert leftovers == []
    got = client.get(f"{export_world.base(export_world.b)}/exports/{job_id}", headers=export_world.headers).get_json()
    assert got["status"] == "cancelled" and got["download_url"] is None


def test_a_queued_job_cancelled_never_runs(client, export_world, app):
    with app.app_context():
        database = app.extensions["shijing.db"]
        with database.new_session() as s:
            job = services.create_job(s, export_world.b.merchant_id, export_world.partner.id,
                                      {"dataset": "orders", "date_from": "2026-01-01", "date_to": "2026-01-01"})
            s.info.pop("export_jobs")
            s.commit()
            job_id = job.id
        assert client.post(f"{export_world.base(export_world.b)}/exports/{job_id}/cancel",
                           headers=export_world.headers).status_code == 200
        services.run_job(database.new_session, job_id)
        assert not [p for p in services.export_folder().iterdir() if p.name.startswith(job_id)]


@pytest.mark.parametrize("body,code,field", [
    ({"dataset": "payments"}, "VALIDATION_ERROR", "dataset"),
    ({"dataset": "followers", "poi_id": "poi_1"}, "INVALID_FILTER", "poi_id"),
    ({"dataset": "poi_quality_tags", "status": "paid"}, "INVALID_FILTER", "status"),
    ({"date_from": "2026-02-30"}, "INVALID_DATE_RANGE", "date_from"),
    ({"date_from": "2026/01/01"}, "INVALID_DATE_RANGE", "date_from"),
    ({"date_from": "2026-01-02", "date_to": "2026-01-01"}, "INVALID_DATE_RANGE", "date_to"),
    ({"date_from": "2024-01-01", "date_to": "2026-01-01"}, "INVALID_DATE_RANGE", "date_to"),
    ({"format": "xlsx"}, "VALIDATION_ERROR", "format"),
    ({"columns": ["user_id"]}, "VALIDATION_ERROR", "columns"),
])
def test_a_bad_export_request_is_a_clear_problem(client, export_world, body, code, field):
    request = {"dataset": "orders", "date_from": "2026-01-01", "date_to": "2026-01-31", **body}
    response = client.post(f"{export_world.base(export_world.b)}/exports", json=request, headers=export_world.headers)
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert problem["code"] == code and field in json.dumps(problem["errors"]), problem


def test_progress_and_the_completed_event(client, export_world, app):
    from sqlalchemy import select

    from gateway.events.models import Event

    job = export_world.export(client, export_world.b, dataset="poi_page_views")
    assert job["rows_done"] == job["rows_estimated"] == 4 and job["started_at"] and job["finished_at"]
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        events = s.scalars(select(Event).where(Event.type == "export.completed",
                                               Event.app_id == export_world.partner.id)).all()
    data = [e.data for e in events if e.data["id"] == job["id"]]
    assert len(data) == 1 and data[0]["status"] == "completed" and data[0]["download_url"] is None
