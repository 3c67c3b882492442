"""``Idempotency-Key`` with Stripe's semantics (SECURITY row 39, G15)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests
import time_machine
from sqlalchemy import func, select

from gateway.apps.models import App, AppSecret
from gateway.http.models import IdempotencyRecord
from tests.conftest import bearer
from tests.problems import assert_problem, raw_client

BODY = {
    "name": "Hotpot Booking",
    "kind": "web_app",
    "redirect_uris": ["https://booking.example/cb"],
    "scopes": ["merchant.read"],
}


@pytest.fixture
def partner(factory):
    return factory.app_client()


@pytest.fixture
def token(factory, partner):
    return factory.token(partner, "apps.manage")


def _headers(token: str, key: str | None = None) -> dict:
    headers = bearer(token)
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def _count(db_session, model=App, *where) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(model).where(*where))


def _apps_named(db_session, name: str) -> int:
    return _count(db_session, App, App.name == name)


def test_same_key_and_body_replays_the_first_response_byte_for_byte(client, token, db_session):
    first = client.post("/v1/apps", json=BODY, headers=_headers(token, "key-1"))
    assert first.status_code == 201
    assert "Idempotency-Replayed" not in first.headers
    # the same JSON in another key order and spacing is the same request
    reordered = (
        '{"scopes": ["merchant.read"], "kind": "web_app",  '
        '"redirect_uris": ["https://booking.example/cb"], "name": "Hotpot Booking"}'
    )
    for second in (
        client.post("/v1/apps", json=BODY, headers=_headers(token, "key-1")),
        client.post(
            "/v1/apps",
            data=reordered,
            content_type="application/json",
            headers=_headers(token, "key-1"),
        ),
    ):
        assert second.status_code == 201
        assert second.get_data() == first.get_data()
        assert second.headers["Location"] == first.headers["Location"]
        assert second.headers["Content-Type"] == first.headers["Content-Type"]
        assert second.headers["Idempotency-Replayed"] == "true"
        assert second.headers["Idempotency-Key"] == "key-1"
    assert first.headers["Idempotency-Key"] == "key-1"
    assert _apps_named(db_session, "Hotpot Booking") == 1


def test_without_a_key_every_post_creates(client, token, db_session):
    for _ in range(2):
        assert client.post("/v1/apps", json=BODY, headers=_headers(token)).status_code == 201
    assert _apps_named(db_session, "Hotpot Booking") == 2


def test_same_key_with_another_body_is_422(client, token, db_session):
    assert client.post("/v1/apps", json=BODY, headers=_headers(token, "key-2")).status_code == 201
    response = client.post(
        "/v1/apps", json={**BODY, "name": "Other"}, headers=_headers(token, "key-2")
    )
    assert_problem(response, 422, "IDEMPOTENCY_KEY_REUSED")
    # another endpoint is another request too
    app_id = client.get("/v1/apps", headers=_headers(token)).get_json()["data"][0]["id"]
    response = client.post(f"/v1/apps/{app_id}/rotate-secret", headers=_headers(token, "key-2"))
    assert_problem(response, 422, "IDEMPOTENCY_KEY_REUSED")
    assert _apps_named(db_session, "Other") == 0
    assert _apps_named(db_session, "Hotpot Booking") == 1


def test_a_failed_validation_stores_nothing(client, token, db_session):
    response = client.post(
        "/v1/apps", json={**BODY, "kind": "spaceship"}, headers=_headers(token, "key-3")
    )
    assert_problem(response, 422, "VALIDATION_ERROR")
    assert _count(db_session, IdempotencyRecord) == 0
    # the corrected request with the same key goes through
    assert client.post("/v1/apps", json=BODY, headers=_headers(token, "key-3")).status_code == 201
    assert _apps_named(db_session, "Hotpot Booking") == 1


def test_a_refused_request_stores_nothing(make_app, factory, partner, db_session):
    # a 429 from the quota: a retry after the quota resets must not replay the 429
    app = make_app(QUOTA_APP_CREATIONS="1/day")
    client = app.test_client()
    token = factory.token(partner, "apps.manage")
    assert client.post("/v1/apps", json=BODY, headers=_headers(token, "a")).status_code == 201
    assert_problem(
        client.post("/v1/apps", json=BODY, headers=_headers(token, "b")), 429, "QUOTA_EXCEEDED"
    )
    assert _count(db_session, IdempotencyRecord, IdempotencyRecord.scope_key.endswith(":b")) == 0


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_bad_keys_are_400(client, token, db_session, key):
    response = client.post("/v1/apps", json=BODY, headers=_headers(token, key))
    assert_problem(response, 400, "INVALID_IDEMPOTENCY_KEY")
    assert _apps_named(db_session, "Hotpot Booking") == 0


def test_a_255_character_key_is_accepted(client, token):
    assert client.post("/v1/apps", json=BODY, headers=_headers(token, "k" * 255)).status_code == 201


def test_keys_are_scoped_per_app(client, factory, db_session):
    developer = factory.user(developer=True)
    first, second = factory.app_client(developer=developer), factory.app_client(developer=developer)
    one = client.post(
        "/v1/apps", json=BODY, headers=_headers(factory.token(first, "apps.manage"), "shared")
    )
    two = client.post(
        "/v1/apps", json=BODY, headers=_headers(factory.token(second, "apps.manage"), "shared")
    )
    assert one.status_code == two.status_code == 201
    assert "Idempotency-Replayed" not in two.headers
    assert one.get_json()["id"] != two.get_json()["id"]
    assert _apps_named(db_session, "Hotpot Booking") == 2


def test_a_key_older_than_24_hours_is_processed_anew(client, factory, partner, db_session):
    start = datetime.now(timezone.utc)
    with time_machine.travel(start, tick=True):
        first = client.post(
            "/v1/apps", json=BODY, headers=_headers(factory.token(partner, "apps.manage"), "old")
        )
    with time_machine.travel(start + timedelta(hours=23), tick=True):
        replay = client.post(
            "/v1/apps", json=BODY, headers=_headers(factory.token(partner, "apps.manage"), "old")
        )
        assert replay.headers.get("Idempotency-Replayed") == "true"
    with time_machine.travel(start + timedelta(hours=24, seconds=1), tick=True):
        again = client.post(
            "/v1/apps", json=BODY, headers=_headers(factory.token(partner, "apps.manage"), "old")
        )
    assert first.status_code == again.status_code == 201
    assert "Idempotency-Replayed" not in again.headers
    assert again.get_json()["id"] != first.get_json()["id"]
    assert _apps_named(db_session, "Hotpot Booking") == 2


class WorkerCrash(BaseException):
    """The process dies mid-request: nothing below the view gets to clean up."""


def test_a_claim_left_by_a_crashed_worker_is_taken_over(
    app, client, factory, partner, db_session, monkeypatch
):
    from gateway.apps import services
    from gateway.http.idempotency import STALE_CLAIM_SECONDS

    real_create = services.create_app

    def crash(*args, **kwargs):
        raise WorkerCrash()

    start = datetime.now(timezone.utc)
    with time_machine.travel(start, tick=False):
        token = factory.token(partner, "apps.manage")
        monkeypatch.setattr(services, "create_app", crash)
        with pytest.raises(WorkerCrash):
            client.post("/v1/apps", json=BODY, headers=_headers(token, "crash"))
        monkeypatch.setattr(services, "create_app", real_create)
        (state,) = db_session.scalars(select(IdempotencyRecord.state)).all()
        assert state == "processing"
        # while the claim may still belong to a live worker, a retry is told to wait
        assert_problem(
            client.post("/v1/apps", json=BODY, headers=_headers(token, "crash")),
            409,
            "IDEMPOTENCY_KEY_IN_USE",
        )
    with time_machine.travel(start + timedelta(seconds=STALE_CLAIM_SECONDS + 1), tick=False):
        # ... and once it is stale, the retry takes it over (with a different body it would be 422)
        assert_problem(
            client.post(
                "/v1/apps", json={**BODY, "name": "Other"}, headers=_headers(token, "crash")
            ),
            422,
            "IDEMPOTENCY_KEY_REUSED",
        )
        retried = client.post("/v1/apps", json=BODY, headers=_headers(token, "crash"))
        assert retried.status_code == 201
        replay = client.post("/v1/apps", json=BODY, headers=_headers(token, "crash"))
        assert replay.get_data() == retried.get_data()
    assert _apps_named(db_session, "Hotpot Booking") == 1


def test_a_stale_claim_inserted_directly_is_taken_over(app, client, token, db_session):
    # the same crash, written the way a dead worker leaves it: a 'processing' row, no response
    first = client.post("/v1/apps", json=BODY, headers=_headers(token, "direct"))
    assert first.status_code == 201
    record = db_session.scalars(select(IdempotencyRecord)).one()
    scope_key, fingerprint = record.scope_key, record.request_fingerprint
    db_session.delete(record)
    db_session.add(
        IdempotencyRecord(
            scope_key=scope_key.replace(":direct", ":direct-2"),
            request_fingerprint=fingerprint,
            state="processing",
            created_at=datetime.now(timezone.utc) - timedelta(minutes=5),
        )
    )
    db_session.commit()
    retried = client.post("/v1/apps", json=BODY, headers=_headers(token, "direct-2"))
    assert retried.status_code == 201 and "Idempotency-Replayed" not in retried.headers
    db_session.expire_all()
    (state,) = db_session.scalars(select(IdempotencyRecord.state)).all()
    assert state == "done"


def test_a_5xx_is_stored_and_replayed(app, token, db_session, monkeypatch):
    from gateway.apps import services

    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "create_app", failing)
    http = raw_client(app)  # 500 is deliberately not in the contract
    first = http.post("/v1/apps", json=BODY, headers=_headers(token, "five"))
    assert_problem(first, 500, "INTERNAL_ERROR")
    second = http.post("/v1/apps", json=BODY, headers=_headers(token, "five"))
    assert second.status_code == 500
    assert second.get_data() == first.get_data()  # the same body, the first request id included
    assert second.headers["Idempotency-Replayed"] == "true"
    assert len(calls) == 1
    assert _apps_named(db_session, "Hotpot Booking") == 0


def test_rotate_secret_replay_returns_the_same_secret_once_issued(
    client, factory, partner, db_session
):
    token = factory.token(partner, "apps.manage")
    first = client.post(f"/v1/apps/{partner.id}/rotate-secret", headers=_headers(token, "rot"))
    second = client.post(f"/v1/apps/{partner.id}/rotate-secret", headers=_headers(token, "rot"))
    assert first.status_code == second.status_code == 201
    assert first.get_data() == second.get_data()
    assert _count(db_session, AppSecret, AppSecret.app_id == partner.id) == 2  # the original + one


def test_concurrent_duplicates_one_201_one_409(live_server, token, db_session, monkeypatch):
    from gateway.apps import services

    real_create = services.create_app
    entered, release = threading.Event(), threading.Event()

    def slow_create(*args, **kwargs):
        entered.set()
        assert release.wait(10)
        return real_create(*args, **kwargs)

    monkeypatch.setattr(services, "create_app", slow_create)
    results: dict[str, requests.Response] = {}

    def post(name: str) -> None:
        results[name] = requests.post(
            f"{live_server.url}/v1/apps", json=BODY, headers=_headers(token, "race"), timeout=20
        )

    first = threading.Thread(target=post, args=("first",))
    first.start()
    assert entered.wait(10), "the first request never reached the service"
    second = threading.Thread(target=post, args=("second",))
    second.start()
    second.join(15)
    release.set()
    first.join(15)

    assert results["first"].status_code == 201
    assert results["second"].status_code == 409
    assert results["second"].headers["Content-Type"] == "application/problem+json"
    assert results["second"].json()["code"] == "IDEMPOTENCY_KEY_IN_USE"
    assert _apps_named(db_session, "Hotpot Booking") == 1
    # once the first finished, the duplicate is a replay
    replay = requests.post(
        f"{live_server.url}/v1/apps", json=BODY, headers=_headers(token, "race"), timeout=10
    )
    assert replay.status_code == 201 and replay.content == results["first"].content


def test_stored_responses_never_hold_a_client_secret_in_clear(client, factory, db_session):
    """The replay must return the secret the first response carried, yet the table holds it sealed."""
    from gateway.http.models import IdempotencyRecord

    partner = factory.app_client()
    token = factory.token(partner, "apps.manage")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "rotate-once"}

    first = client.post(f"/v1/apps/{partner.id}/rotate-secret", headers=headers)
    replay = client.post(f"/v1/apps/{partner.id}/rotate-secret", headers=headers)

    secret = first.get_json()["client_secret"]
    assert replay.get_json()["client_secret"] == secret
    stored = db_session.scalars(select(IdempotencyRecord)).all()
    assert len(stored) == 1
    assert secret.encode() not in stored[0].response_body
    assert b"client_secret" not in stored[0].response_body


def test_authlib_never_logs_issued_tokens_even_at_debug(app, client, factory, caplog):
    """Authlib's grant loggers print whole token dicts at DEBUG; create_app keeps them at INFO or above."""
    import logging

    from tests.oauth.flows import code_flow

    partner = factory.app_client()
    with caplog.at_level(logging.DEBUG):
        tokens = code_flow(app, partner, factory.user(), scope="openid profile")
    assert tokens["access_token"] not in caplog.text
    assert tokens["refresh_token"] not in caplog.text
    assert logging.getLogger("authlib").getEffectiveLevel() >= logging.INFO
