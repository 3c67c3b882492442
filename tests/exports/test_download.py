"""Downloads over a real socket (the ``live_server`` fixture): HTTP Range and resume, the SDK's
``wait_for_export`` and streaming ``download_export`` (resuming after a dropped connection), and
the ``shijing-export`` command."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import requests
import shijing
import time_machine
from shijing.lib import download_export, export_to_file, wait_for_export
from shijing.lib.export_cli import main as export_cli

from gateway.clock import utcnow
from tests.exports.conftest import read_rows


def _week() -> tuple[str, str]:
    today = utcnow().date()
    return (today - timedelta(days=7)).isoformat(), today.isoformat()


def test_range_requests_resume_a_download(client, export_world, live_server):
    job = export_world.export(client, export_world.b, dataset="poi_page_views")
    url = live_server.url + job["download_url"]
    full = requests.get(url, headers=export_world.headers, timeout=10)
    assert full.status_code == 200 and full.headers["Accept-Ranges"] == "bytes" and full.headers["ETag"]
    assert full.headers["Cache-Control"] == "private, no-store"
    tail = requests.get(url, headers={**export_world.headers, "Range": "bytes=100-", "If-Range": full.headers["ETag"]},
                        timeout=10)
    assert tail.status_code == 206 and tail.content == full.content[100:]
    assert tail.headers["Content-Range"] == f"bytes 100-{len(full.content) - 1}/{len(full.content)}"
    stale = requests.get(url, headers={**export_world.headers, "Range": "bytes=100-", "If-Range": '"other"'},
                         timeout=10)
    assert stale.status_code == 200 and stale.content == full.content  # another file: all of it again
    no_token = requests.get(url, timeout=10)
    assert no_token.status_code == 401


class DroppingSession(requests.Session):
    """Drops the first download after its first chunk, as a flaky network would."""

    def __init__(self) -> None:
        super().__init__()
        self.ranges: list[str | None] = []
        self.dropped = False

    def request(self, method, url, *args, **kwargs):
        response = super().request(method, url, *args, **kwargs)
        if "/download/" not in url:
            return response
        self.ranges.append((kwargs.get("headers") or {}).get("Range"))
        if not self.dropped:
            self.dropped = True
            chunks = response.iter_content

            def iter_content(size=1, decode_unicode=False):
                iterator = chunks(size)
                yield next(iterator)
                raise requests.exceptions.ChunkedEncodingError("connection dropped")

            response.iter_content = iter_content
        return response


def test_the_sdk_waits_then_streams_and_resumes(export_world, live_server, tmp_path):
    session = DroppingSession()
    client = shijing.Client(base_url=live_server.url, client_id=export_world.partner.id,
                            client_secret=export_world.partner.secret, session=session)
    date_from, date_to = _week()
    job = client.exports.create(export_world.b.merchant_id, dataset="poi_page_views", date_from=date_from,
                                date_to=date_to, format="jsonl")
    seen = []
    done = wait_for_export(client, export_world.b.merchant_id, job.id, progress=seen.append)
    assert done.status == "completed" and done.download_url and seen[-1].rows_done == 4
    progress = []
    path = download_export(client, export_world.b.merchant_id, job.id, tmp_path / "views.jsonl",
                           progress=lambda got, total: progress.append((got, total)), chunk_size=64)
    assert session.ranges[0] is None and session.ranges[1].startswith("bytes=64-")  # resumed, not restarted
    assert len(read_rows(path.read_bytes(), "jsonl")) == 4
    assert path.stat().st_size == done.file_size and progress[-1] == (done.file_size, done.file_size)
    assert not (tmp_path / "views.jsonl.part").exists()


def test_export_to_file_with_a_progress_bar(export_world, live_server, tmp_path, capsys):
    client = shijing.Client(base_url=live_server.url, client_id=export_world.partner.id,
                            client_secret=export_world.partner.secret)
    date_from, date_to = _week()
    path = export_to_file(client, export_world.b.merchant_id, "orders", date_from, date_to, tmp_path / "o.csv.gz",
                          gzip=True, filters={"status": "refunding"}, progress=True)
    assert len(read_rows(path.read_bytes(), "csv", zipped=True)) == 1
    assert "100.0%" in capsys.readouterr().err


def test_the_export_command(export_world, live_server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHIJING_CLIENT_ID", export_world.partner.id)
    monkeypatch.setenv("SHIJING_CLIENT_SECRET", export_world.partner.secret)
    date_from, date_to = _week()
    output = tmp_path / "verifications.csv"
    code = export_cli(["--merchant", export_world.b.merchant_id, "--dataset", "verifications", "--from", date_from,
                       "--to", date_to, "-o", str(output), "--base-url", live_server.url])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.strip() == str(output) and "export exp_" in captured.err
    assert len(read_rows(output.read_bytes(), "csv")) == 1
    bad = export_cli(["--merchant", export_world.b.merchant_id, "--dataset", "followers", "--filter", "poi_id=x",
                      "--from", date_from, "--base-url", live_server.url, "--quiet", "-o", str(tmp_path / "f.csv")])
    assert bad == 1 and "cannot be filtered by poi_id" in capsys.readouterr().err


def test_the_sdk_readmes_mirror_sync_keeps_a_mirror_equal(client, export_world, live_server, app):
    """sdk/README.md's ``sync``: run twice, with an order cancelled in between, the mirror equals
    the dataset and the second run fetched only what changed."""
    from gateway.orders import services as orders
    from gateway.orders.models import Order

    readme = (Path(shijing.__file__).resolve().parents[2] / "README.md").read_text()
    source = readme.split("def sync(", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec("def sync(" + source, namespace)  # noqa: S102 -- the README's own code, as a partner would paste it
    sync = namespace["sync"]
    partner = shijing.Client(base_url=live_server.url, client_id=export_world.partner.id,
                             client_secret=export_world.partner.secret)
    b = export_world.b
    mirror: dict = {}
    cursor = sync(partner, b.merchant_id, "orders", mirror, None)
    assert set(mirror) == {b.ids["order"], b.ids["unpaid_order"]} and cursor
    with time_machine.travel(utcnow() + timedelta(seconds=1), tick=True):
        with app.app_context(), app.extensions["shijing.db"].new_session() as s:
            orders.cancel_by_user(s, s.get(Order, b.ids["unpaid_order"]))
            s.commit()
        seen: dict = {}
        cursor = sync(partner, b.merchant_id, "orders", seen, cursor)
        current = client.get(f"{export_world.base(b)}/datasets/orders/changes", headers=export_world.headers)
    assert set(seen) == {b.ids["unpaid_order"]} and seen[b.ids["unpaid_order"]]["status"] == "cancelled"
    mirror.update(seen)
    assert mirror == {row["id"]: row for row in current.get_json()["data"]}
