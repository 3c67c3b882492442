"""The outbox: every state change writes its event in the same transaction, and ``GET /v1/events``
replays them oldest first."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select

from gateway.apps.models import App
from gateway.authorizations.models import Authorization
from gateway.events.models import Event
from gateway.events.services import EVENT_TYPES, emit
from tests.conftest import bearer
from tests.problems import assert_problem, raw_client


def _events(db_session, **where) -> list[Event]:
    db_session.expire_all()
    statement = select(Event).order_by(Event.id)
    for name, value in where.items():
        statement = statement.where(getattr(Event, name) == value)
    return list(db_session.scalars(statement))


@pytest.fixture
def partner(factory):
    return factory.app_client()


@pytest.fixture
def token(factory, partner):
    return factory.token(partner, "apps.manage events.read authorizations.read")


def test_every_state_change_writes_its_event(client, factory, partner, token, db_session):
    merchant = factory.merchant()
    authorization_id = factory.authorize(partner, merchant, ["merchant.read"])
    factory.authorize(partner, merchant, ["merchant.read", "poi.read"])  # re-consent widens
    factory.authorize(partner, merchant, ["poi.read"])  # nothing new: no event
    client.patch(f"/v1/apps/{partner.id}", json={"description": "new"}, headers=bearer(token))
    client.post(f"/v1/apps/{partner.id}/rotate-secret", headers=bearer(token))
    client.delete(f"/v1/authorizations/{authorization_id}", headers=bearer(token))

    events = _events(db_session, app_id=partner.id)
    assert [e.type for e in events] == [
        "authorization.granted",
        "authorization.updated",
        "app.updated",
        "app.secret_rotated",
        "authorization.revoked",
    ]
    # the catalogue is covered: review decisions in tests/poi/test_api_review.py and
    # tests/miniprograms, capabilities and mounts in tests/miniprograms, webhook types in tests/webhooks,
    # service-account events in tests/service_accounts, orders, vouchers, refunds, bookings and
    # settlements in tests/orders, exports in tests/exports
    elsewhere = (".review.", "webhook", "capability.", "mount.", "service_account.", "order.", "voucher.", "refund.",
                 "booking.", "settlement.", "export.")
    assert {e.type for e in events} == {t for t in EVENT_TYPES if not any(part in t for part in elsewhere)}
    granted, updated = events[0], events[1]
    assert granted.merchant_id == merchant.id and granted.data["scopes"] == ["merchant.read"]
    assert updated.data["scopes"] == ["merchant.read", "poi.read"]
    assert events[2].merchant_id is None


def _failing_after_emit(monkeypatch, module: str):
    """Make ``module``'s emit write the event and then fail, as a crash after the write would."""

    def emit_then_fail(*args, **kwargs):
        emit(*args, **kwargs)
        raise RuntimeError("crash after the event was written")

    monkeypatch.setattr(f"{module}.emit", emit_then_fail)


def test_a_rolled_back_revocation_leaves_no_event(
    app, factory, partner, token, db_session, monkeypatch
):
    merchant = factory.merchant()
    authorization_id = factory.authorize(partner, merchant, ["merchant.read"])
    merchant_token = factory.token(partner, "merchant.read")
    _failing_after_emit(monkeypatch, "gateway.authorizations.services")

    response = raw_client(app).delete(
        f"/v1/authorizations/{authorization_id}", headers=bearer(token)
    )
    assert_problem(response, 500, "INTERNAL_ERROR")

    assert _events(db_session, type="authorization.revoked") == []
    assert db_session.get(Authorization, authorization_id).status == "active"
    # nor did the token revocation that was part of the change survive
    monkeypatch.undo()
    assert (
        app.test_client()
        .get(f"/v1/merchants/{merchant.id}", headers=bearer(merchant_token))
        .status_code
        == 200
    )


def test_a_rolled_back_app_update_leaves_no_event(app, partner, token, db_session, monkeypatch):
    _failing_after_emit(monkeypatch, "gateway.apps.services")
    response = raw_client(app).patch(
        f"/v1/apps/{partner.id}", json={"name": "Renamed"}, headers=bearer(token)
    )
    assert_problem(response, 500)
    assert _events(db_session, app_id=partner.id) == []
    assert db_session.get(App, partner.id).name != "Renamed"


def test_a_rolled_back_rotation_leaves_no_event_and_no_secret(
    app, partner, token, db_session, monkeypatch
):
    from gateway.apps.models import AppSecret

    _failing_after_emit(monkeypatch, "gateway.apps.services")
    assert_problem(
        raw_client(app).post(f"/v1/apps/{partner.id}/rotate-secret", headers=bearer(token)), 500
    )
    assert _events(db_session, app_id=partner.id) == []
    secrets = db_session.scalars(select(AppSecret).where(AppSecret.app_id == partner.id)).all()
    assert len(secrets) == 1 and secrets[0].expires_at is None


def test_unknown_event_types_are_refused_at_the_source(db_session, partner):
    with pytest.raises(ValueError):
        emit(db_session, "app.exploded", app_id=partner.id, data={})


def _seed(factory, partner, merchants):
    """Events one second apart, alternating merchants and types."""
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    app = factory.app
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        for i in range(7):
            with time_machine.travel(start + timedelta(seconds=i), tick=False):
                merchant = merchants[i % 2]
                kind = "authorization.updated" if i % 3 else "authorization.granted"
                # what the authorization services write, numbered by the authorization's id
                moment = (start + timedelta(seconds=i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                data = {"id": f"auz_seed{i}", "app_id": partner.id, "subject_type": "merchant",
                        "subject_id": merchant.id, "scopes": ["merchant.read"], "status": "active",
                        "created_at": moment, "updated_at": moment, "revoked_at": None}
                emit(s, kind, app_id=partner.id, merchant_id=merchant.id, data=data)
                s.flush()
        s.commit()


def _n(event: dict) -> int:
    return int(event["data"]["id"].removeprefix("auz_seed"))


def test_list_is_oldest_first_and_paginates(client, factory, partner, token):
    merchants = [factory.merchant(), factory.merchant()]
    _seed(factory, partner, merchants)
    seen, cursor = [], None
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/events", query_string=query, headers=bearer(token)).get_json()
        seen += page["data"]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert [_n(e) for e in seen] == list(range(7))
    assert [e["created_at"] for e in seen] == sorted(e["created_at"] for e in seen)
    assert len({e["id"] for e in seen}) == 7
    assert all(e["app_id"] == partner.id for e in seen)


def test_list_filters_by_type_and_merchant(client, factory, partner, token):
    merchants = [factory.merchant(), factory.merchant()]
    _seed(factory, partner, merchants)
    headers = bearer(token)
    granted = client.get(
        "/v1/events", query_string={"type": "authorization.granted"}, headers=headers
    ).get_json()
    assert [_n(e) for e in granted["data"]] == [0, 3, 6]
    second = client.get(
        "/v1/events", query_string={"merchant_id": merchants[1].id}, headers=headers
    ).get_json()
    assert [_n(e) for e in second["data"]] == [1, 3, 5]
    both = client.get(
        "/v1/events",
        query_string={"merchant_id": merchants[1].id, "type": "authorization.granted"},
        headers=headers,
    ).get_json()
    assert [_n(e) for e in both["data"]] == [3]
    nobody = client.get(
        "/v1/events", query_string={"merchant_id": "mch_nobody"}, headers=headers
    ).get_json()
    assert nobody["data"] == []
    assert_problem(
        client.get("/v1/events", query_string={"type": "app.exploded"}, headers=headers),
        400,
        "INVALID_FILTER",
    )


def test_get_one_event_and_never_another_apps(client, factory, partner, token):
    other = factory.app_client()
    merchant = factory.merchant()
    factory.authorize(partner, merchant, ["merchant.read"])
    factory.authorize(other, merchant, ["merchant.read"])
    mine = client.get("/v1/events", headers=bearer(token)).get_json()["data"]
    assert len(mine) == 1
    event = client.get(f"/v1/events/{mine[0]['id']}", headers=bearer(token)).get_json()
    assert event == mine[0]
    theirs = client.get(
        "/v1/events", headers=bearer(factory.token(other, "events.read"))
    ).get_json()["data"]
    assert_problem(
        client.get(f"/v1/events/{theirs[0]['id']}", headers=bearer(token)), 404, "EVENT_NOT_FOUND"
    )
    assert theirs[0]["id"] not in client.get("/v1/events", headers=bearer(token)).get_data(
        as_text=True
    )
