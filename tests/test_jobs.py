"""Background work on Huey: the same task code inline (immediate mode), on the embedded SQLite
queue consumed by an in-process thread, and on Redis when ``SHIJING_REDIS_URL`` is set; and the
housekeeping task itself."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from huey import RedisHuey, SqliteHuey
from sqlalchemy import select

from gateway import create_app
from gateway.http.models import IdempotencyRecord
from gateway.maintenance import purge_expired
from gateway.oauth.models import AuthorizationCode, Token
from gateway.security import hash_credential
from tests.conftest import REDIS_URL, bearer
from tests.problems import code_flow_token


def _stale_record(app) -> str:
    """An idempotency record two days old: what ``purge_expired`` must delete."""
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        record = IdempotencyRecord(
            scope_key=f"app_x:-:{secrets.token_hex(4)}",
            request_fingerprint="f" * 64,
            created_at=datetime.now(timezone.utc) - timedelta(days=2),
        )
        s.add(record)
        s.commit()
        return record.id


def _exists(app, record_id: str) -> bool:
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        return s.get(IdempotencyRecord, record_id) is not None


def test_immediate_mode_runs_the_task_inline(app):
    jobs = app.extensions["shijing.jobs"]
    assert jobs.huey.immediate
    record_id = _stale_record(app)
    result = jobs.enqueue(purge_expired)
    assert result.get() == {"codes": 0, "tokens": 0, "idempotency_records": 1, "miniprogram_login_codes": 0}
    assert not _exists(app, record_id)


def _queued_app(app_config, tmp_path, redis_url: str):
    # its own instance folder (and so its own SQLite queue), the session's database
    return create_app(
        {
            **app_config,
            "INSTANCE_PATH": str(tmp_path),
            "JOBS_IMMEDIATE": False,
            "REDIS_URL": redis_url,
        }
    )


def _run_through_a_consumer(queued) -> dict:
    jobs = queued.extensions["shijing.jobs"]
    result = jobs.enqueue(purge_expired)
    consumer = jobs.start_consumer_thread(workers=1, periodic=False, max_delay=0.2)
    try:
        return result.get(blocking=True, timeout=15)
    finally:
        consumer.stop(graceful=True)
        queued.extensions["shijing.db"].engine.dispose()


def test_the_embedded_queue_is_consumed_in_process(app, app_config, tmp_path):
    queued = _queued_app(app_config, tmp_path, "")
    assert isinstance(queued.extensions["shijing.jobs"].huey, SqliteHuey)
    assert (tmp_path / "jobs.sqlite3").exists()
    record_id = _stale_record(app)
    assert _run_through_a_consumer(queued)["idempotency_records"] == 1
    assert not _exists(app, record_id)


@pytest.mark.skipif(not REDIS_URL, reason="SHIJING_REDIS_URL is not set")
def test_redis_workers_run_the_same_task(app, app_config, tmp_path):
    queued = _queued_app(app_config, tmp_path, REDIS_URL)
    huey = queued.extensions["shijing.jobs"].huey
    assert isinstance(huey, RedisHuey) and not huey.immediate
    huey.flush()
    record_id = _stale_record(app)
    assert _run_through_a_consumer(queued)["idempotency_records"] == 1
    assert not _exists(app, record_id)
    assert not (tmp_path / "jobs.sqlite3").exists()  # Redis carries the queue


def test_purge_expired_deletes_expired_rows_and_keeps_live_ones(app, client, factory, db_session):
    owner = factory.user()
    merchant = factory.merchant(owner)
    partner = factory.app_client()
    authorization_id = factory.authorize(partner, merchant, ["merchant.read"])

    def add_code(expires_at) -> str:
        with app.app_context(), app.extensions["shijing.db"].new_session() as s:
            code = AuthorizationCode(
                code_hash=hash_credential(secrets.token_urlsafe(32)),
                app_id=partner.id,
                user_id=owner.id,
                authorization_id=authorization_id,
                redirect_uri="https://partner.example/cb",
                scope="merchant.read",
                auth_time=0,
                expires_at=expires_at,
            )
            s.add(code)
            s.commit()
            return code.id

    def idempotent_post(key: str) -> None:
        response = client.post(
            "/v1/apps",
            json={"name": key, "kind": "web_app"},
            headers={**bearer(factory.token(partner, "apps.manage")), "Idempotency-Key": key},
        )
        assert response.status_code == 201

    start = datetime.now(timezone.utc)
    with time_machine.travel(start, tick=True):
        old_code = add_code(start + timedelta(seconds=60))
        old_token = factory.token(partner, "merchant.read")
        # a user grant: its access token expires, its refresh token lives on
        refreshable = code_flow_token(
            app, partner, owner.username, factory.password, "merchant.read", merchant_id=merchant.id
        )
        idempotent_post("old")
    later = start + timedelta(days=2)
    with time_machine.travel(later, tick=True):
        live_code = add_code(later + timedelta(seconds=60))
        live_token = factory.token(partner, "merchant.read")
        idempotent_post("new")
        outcome = app.extensions["shijing.jobs"].enqueue(purge_expired).get()
        # the purge took nothing that still works
        assert (
            client.get(f"/v1/merchants/{merchant.id}", headers=bearer(live_token)).status_code
            == 200
        )

    db_session.expire_all()
    codes = set(db_session.scalars(select(AuthorizationCode.id)))
    assert live_code in codes and old_code not in codes
    token_hashes = set(db_session.scalars(select(Token.access_token_hash)))
    assert hash_credential(live_token) in token_hashes
    assert hash_credential(old_token) not in token_hashes
    assert hash_credential(refreshable["access_token"]) in token_hashes
    keys = [k.rsplit(":", 1)[-1] for k in db_session.scalars(select(IdempotencyRecord.scope_key))]
    assert keys == ["new"]
    assert outcome["tokens"] >= 1 and outcome["idempotency_records"] == 1
    # the code flow's own code (used, expired) went too
    assert outcome["codes"] == 2
