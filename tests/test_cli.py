"""The ``shijing`` command: migrations, demo data scripts can read, users and apps.

Each test gets its own instance folder with an embedded SQLite database (the CLI's default), so
the session's database, PostgreSQL included, is never touched.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect

from gateway import create_app
from gateway.cli import main


@pytest.fixture
def instance(tmp_path):
    return tmp_path / "instance"


@pytest.fixture
def shijing(instance):
    env = {
        "SHIJING_INSTANCE_PATH": str(instance),
        "SHIJING_DATABASE_URL": "",
        "SHIJING_REDIS_URL": "",
        "SHIJING_ENV": "development",
        "SHIJING_LOG_LEVEL": "WARNING",
        "SHIJING_ACCESS_LOG": "0",
    }
    runner = CliRunner()

    def run(*args, expect: int = 0):
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result

    return run


def _gateway(instance):
    return create_app(
        {
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "ENV": "testing",
            "ACCESS_LOG": False,
            "JOBS_IMMEDIATE": True,
        }
    )


def test_help_lists_every_command(shijing):
    output = shijing("--help").output
    for command in ("serve", "db", "demo", "create-user", "create-app", "worker"):
        assert command in output


def test_db_upgrade_builds_the_schema(shijing, instance):
    result = shijing("db", "upgrade")
    assert "database at head" in result.output
    engine = create_engine(f"sqlite:///{instance / 'shijing.db'}")
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {
        "alembic_version",
        "users",
        "apps",
        "oauth_tokens",
        "events",
        "idempotency_records",
    } <= tables
    shijing("db", "upgrade")  # again: nothing to do, no error


def test_demo_json_is_idempotent_and_its_credentials_work(shijing, instance):
    first = json.loads(shijing("demo", "--json").output)
    text = shijing("demo").output  # the human-readable form prints the same credentials
    second = json.loads(shijing("demo", "--json").output)
    assert first == second  # same ids, same secret: scripts can run it any number of times
    assert (
        first["partner_app"]["client_secret"] in text and first["partner_app"]["client_id"] in text
    )

    partner = first["partner_app"]
    assert partner["client_id"].startswith("app_") and partner["client_secret"].startswith("sjcs_")
    assert len(first["merchants"]) == 2 and first["creator"]["id"].startswith("crt_")
    assert {"operator", "meituan-dev", "hotpot-owner", "homestay-owner", "creator"} <= set(
        first["users"]
    )
    credentials = instance / "demo-credentials.json"
    assert stat.S_IMODE(os.stat(credentials).st_mode) == 0o600

    gateway = _gateway(instance)
    try:
        client = gateway.test_client()
        issued = client.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(partner["client_id"], partner["client_secret"]),
        )
        assert issued.status_code == 200, issued.get_json()
        token = issued.get_json()["access_token"]
        for merchant in first["merchants"]:
            response = client.get(
                f"/v1/merchants/{merchant['id']}", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200 and response.get_json()["name"] == merchant["name"]
        listed = client.get(
            "/v1/authorizations", headers={"Authorization": f"Bearer {token}"}
        ).get_json()
        assert sorted(a["id"] for a in listed["data"]) == sorted(
            [m["authorization_id"] for m in first["merchants"]] + [first["creator"]["authorization_id"]]
        )
    finally:
        gateway.extensions["shijing.db"].engine.dispose()


def test_create_user_and_app(shijing, instance):
    shijing("db", "upgrade")
    user = json.loads(
        shijing(
            "create-user",
            "--username",
            "dev1",
            "--password",
            "a long password",
            "--developer",
            "--merchant",
            "Noodle Bar",
        ).output
    )
    assert user["user_id"].startswith("usr_") and user["merchant_id"].startswith("mch_")

    created = json.loads(
        shijing(
            "create-app",
            "--developer",
            "dev1",
            "--name",
            "CLI app",
            "--kind",
            "service_provider",
            "--redirect-uri",
            "https://cli.example/cb",
            "--scope",
            "merchant.read",
            "--scope",
            "apps.manage",
        ).output
    )
    assert created["client_id"].startswith("app_") and created["scopes"] == [
        "apps.manage",
        "merchant.read",
    ]

    gateway = _gateway(instance)
    try:
        issued = gateway.test_client().post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(created["client_id"], created["client_secret"]),
        )
        assert issued.status_code == 200
    finally:
        gateway.extensions["shijing.db"].engine.dispose()

    public = json.loads(
        shijing(
            "create-app",
            "--developer",
            "dev1",
            "--name",
            "Native",
            "--kind",
            "web_app",
            "--redirect-uri",
            "http://127.0.0.1:9000/cb",
            "--public",
        ).output
    )
    assert public["client_secret"] is None


def test_refusals_are_one_line_errors(shijing):
    shijing("db", "upgrade")
    shijing("create-user", "--username", "dev1", "--password", "pw-one-two-three")
    taken = shijing("create-user", "--username", "dev1", "--password", "pw-one-two-three", expect=1)
    assert "taken" in taken.output and "Traceback" not in taken.output
    bad = shijing(
        "create-app",
        "--developer",
        "dev1",
        "--name",
        "x",
        "--kind",
        "web_app",
        "--redirect-uri",
        "http://evil.example/cb",
        expect=1,
    )
    assert "redirect_uris" in bad.output and "Traceback" not in bad.output
    nobody = shijing(
        "create-app", "--developer", "ghost", "--name", "x", "--kind", "web_app", expect=1
    )
    assert "no user 'ghost'" in nobody.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _requests_served(metrics_text: str, route: str) -> float:
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("shijing_http_requests_total{") and f'route="{route}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_serve_runs_gunicorn_workers_whose_metrics_add_up(instance, tmp_path):
    """`shijing serve` (the production path): two workers answer, and /metrics counts what both
    served, whichever worker answers the scrape."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SHIJING_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(SHIJING_INSTANCE_PATH=str(instance), SHIJING_ENV="development",
               SHIJING_LOG_LEVEL="WARNING", SHIJING_ACCESS_LOG="0")
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:  # the child keeps its own descriptor
        server = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port",
             str(port), "--workers", "2"],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=sink,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()[-2000:]
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the gateway did not start within 60 s"
            time.sleep(0.2)
        before = _requests_served(requests.get(f"{base}/metrics", timeout=5).text, "/healthz")

        for _ in range(40):  # a new connection each time, so both workers take some
            assert requests.get(f"{base}/healthz", headers={"Connection": "close"},
                                timeout=5).status_code == 200

        for _ in range(3):  # whichever worker answers the scrape sees all 40
            scraped = requests.get(f"{base}/metrics", headers={"Connection": "close"}, timeout=5)
            assert _requests_served(scraped.text, "/healthz") == before + 40
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
