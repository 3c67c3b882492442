"""Developer apps through the API: registration, secrets shown once and stored hashed, rotation
with a grace period, deletion that kills every token, tenant isolation and mass assignment."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select

from gateway.apps.models import App, AppSecret
from gateway.authorizations.models import Authorization
from gateway.events.models import Event
from gateway.models import metadata
from tests.conftest import bearer
from tests.problems import assert_problem

BODY = {
    "name": "Hotpot Booking",
    "kind": "web_app",
    "redirect_uris": ["https://booking.example/cb"],
    "scopes": ["openid", "merchant.read"],
}


@pytest.fixture
def developer(factory):
    return factory.user(developer=True)


@pytest.fixture
def manager(factory, developer):
    """An app of ``developer`` whose client-credentials token manages the developer's apps."""
    partner = factory.app_client(developer=developer)
    return partner, factory.token(partner, "apps.manage")


def _db_dump(db_session) -> str:
    """Every value in every table, as text: what an attacker with a database dump would see."""
    db_session.expire_all()
    values = []
    for table in metadata.sorted_tables:
        for row in db_session.execute(select(table)).all():
            values += [repr(v) for v in row]
    return "\n".join(values)


def _token_response(client, client_id: str, secret: str):
    return client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )


def test_create_shows_the_secret_once_and_stores_only_its_hash(client, manager, db_session):
    _, token = manager
    response = client.post("/v1/apps", json=BODY, headers=bearer(token))
    assert response.status_code == 201
    created = response.get_json()
    assert response.headers["Location"] == f"/v1/apps/{created['id']}"
    assert created["client_id"] == created["id"] and created["id"].startswith("app_")
    secret = created["client_secret"]
    assert secret.startswith("sjcs_") and len(secret) >= 40
    assert created["status"] == "active" and created["client_type"] == "confidential"
    assert created["created_at"].endswith("Z")

    # never shown again
    fetched = client.get(f"/v1/apps/{created['id']}", headers=bearer(token))
    assert "client_secret" not in fetched.get_json() and secret not in fetched.get_data(
        as_text=True
    )
    listed = client.get("/v1/apps", headers=bearer(token))
    assert secret not in listed.get_data(as_text=True)

    # stored only as its hash, nowhere in plain text
    assert secret not in _db_dump(db_session)
    stored = db_session.scalars(select(AppSecret).where(AppSecret.app_id == created["id"])).one()
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()

    # and it works
    assert _token_response(client, created["id"], secret).status_code == 200


def test_a_public_app_has_no_secret(client, manager, db_session):
    _, token = manager
    response = client.post(
        "/v1/apps", json={**BODY, "client_type": "public"}, headers=bearer(token)
    )
    assert response.status_code == 201 and response.get_json()["client_secret"] is None
    app_id = response.get_json()["id"]
    assert db_session.scalars(select(AppSecret).where(AppSecret.app_id == app_id)).all() == []
    assert_problem(
        client.post(f"/v1/apps/{app_id}/rotate-secret", headers=bearer(token)), 422, "PUBLIC_CLIENT"
    )


INVALID = [
    ({"redirect_uris": ["http://booking.example/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://booking.example/cb#frag"]}, "redirect_uris"),
    ({"redirect_uris": ["https://*.booking.example/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["myapp:/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["/relative/cb"]}, "redirect_uris"),
    ({"scopes": ["no.such.scope"]}, "scopes"),
    ({"scopes": ["account.authorizations"]}, "scopes"),
    ({"kind": "service_provider", "client_type": "public"}, "client_type"),
    ({"redirect_uris": ["https://x.example/cb"] * 11}, "redirect_uris"),
    ({"name": "x" * 101}, "name"),
]


def test_invalid_registrations_are_422_and_create_nothing(client, manager, db_session):
    _, token = manager
    for changes, field in INVALID:
        response = client.post("/v1/apps", json={**BODY, **changes}, headers=bearer(token))
        assert response.status_code == 422, changes
        assert field in assert_problem(response, 422)["errors"], changes
    assert db_session.scalars(select(App).where(App.name == BODY["name"])).all() == []


def test_acceptable_redirect_uris(client, manager):
    _, token = manager
    for uri in (
        "http://127.0.0.1:8765/cb",
        "http://[::1]/cb",
        "com.example.app:/cb",
        "https://booking.example/cb?tenant=1",
    ):
        response = client.post(
            "/v1/apps", json={**BODY, "redirect_uris": [uri]}, headers=bearer(token)
        )
        assert response.status_code == 201, uri


def test_get_list_update(client, manager, db_session):
    partner, token = manager
    app_id = client.post("/v1/apps", json=BODY, headers=bearer(token)).get_json()["id"]
    got = client.get(f"/v1/apps/{app_id}", headers=bearer(token)).get_json()
    assert got["name"] == BODY["name"] and got["scopes"] == BODY["scopes"]
    listed = client.get("/v1/apps", headers=bearer(token)).get_json()["data"]
    assert sorted(a["id"] for a in listed) == sorted([partner.id, app_id])

    updated = client.patch(
        f"/v1/apps/{app_id}",
        json={"name": "Renamed", "scopes": ["merchant.read"]},
        headers=bearer(token),
    )
    assert updated.status_code == 200
    body = updated.get_json()
    assert body["name"] == "Renamed" and body["scopes"] == ["merchant.read"]
    assert body["updated_at"] >= body["created_at"]
    row = db_session.get(App, app_id)
    assert row.name == "Renamed" and row.scopes == ["merchant.read"]
    (event,) = db_session.scalars(select(Event).where(Event.app_id == app_id)).all()
    assert event.type == "app.updated" and event.data == {
        "app_id": app_id,
        "changed": ["name", "scopes"],
    }

    assert_problem(
        client.patch(
            f"/v1/apps/{app_id}",
            json={"redirect_uris": ["http://evil.example/cb"]},
            headers=bearer(token),
        ),
        422,
    )
    db_session.expire_all()
    assert db_session.get(App, app_id).redirect_uris == BODY["redirect_uris"]


def test_delete_kills_the_apps_tokens_at_once(client, factory, manager, db_session):
    _, token = manager
    created = client.post(
        "/v1/apps",
        json={**BODY, "kind": "service_provider", "scopes": ["merchant.read", "apps.manage"]},
        headers=bearer(token),
    ).get_json()
    doomed_token = _token_response(client, created["id"], created["client_secret"]).get_json()[
        "access_token"
    ]
    merchant = factory.merchant()
    with factory.app.app_context(), factory.app.extensions["shijing.db"].new_session() as s:
        from gateway.authorizations import services

        services.grant(
            s,
            app_id=created["id"],
            subject_type="merchant",
            subject_id=merchant.id,
            user_id=merchant.owner_user_id,
            scopes=["merchant.read"],
        )
        s.commit()
    # the token works and is cached by the gateway
    assert client.get("/v1/apps", headers=bearer(doomed_token)).status_code == 200

    assert client.delete(f"/v1/apps/{created['id']}", headers=bearer(token)).status_code == 204

    assert_problem(client.get("/v1/apps", headers=bearer(doomed_token)), 401, "INVALID_TOKEN")
    assert_problem(
        client.get(f"/v1/apps/{created['id']}", headers=bearer(token)), 404, "APP_NOT_FOUND"
    )
    assert created["id"] not in [
        a["id"] for a in client.get("/v1/apps", headers=bearer(token)).get_json()["data"]
    ]
    assert _token_response(client, created["id"], created["client_secret"]).status_code == 401
    db_session.expire_all()
    assert db_session.get(App, created["id"]).status == "deleted"
    statuses = db_session.scalars(
        select(Authorization.status).where(Authorization.app_id == created["id"])
    ).all()
    assert statuses == ["revoked"]
    assert_problem(client.delete(f"/v1/apps/{created['id']}", headers=bearer(token)), 404)


def test_rotate_secret_keeps_the_old_one_for_the_grace_period(client, manager, db_session):
    _, token = manager
    start = datetime.now(timezone.utc).replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        created = client.post("/v1/apps", json=BODY, headers=bearer(token)).get_json()
        app_id, old = created["id"], created["client_secret"]
        rotated = client.post(f"/v1/apps/{app_id}/rotate-secret", headers=bearer(token))
        assert rotated.status_code == 201
        body = rotated.get_json()
        new = body["client_secret"]
        assert body["client_id"] == app_id and new != old and new.startswith("sjcs_")
        expires = datetime.fromisoformat(body["previous_secrets_expire_at"].replace("Z", "+00:00"))
        assert expires - start == timedelta(seconds=86400)
        assert _token_response(client, app_id, old).status_code == 200
        assert _token_response(client, app_id, new).status_code == 200
        assert new not in _db_dump(db_session)
        (event,) = db_session.scalars(select(Event).where(Event.type == "app.secret_rotated")).all()
        assert event.data == {
            "app_id": app_id,
            "new_secret_hint": new[-4:],
            "old_secrets_expire_at": body["previous_secrets_expire_at"],
        }
    with time_machine.travel(start + timedelta(seconds=86399), tick=False):
        assert _token_response(client, app_id, old).status_code == 200
    with time_machine.travel(start + timedelta(seconds=86401), tick=False):
        refused = _token_response(client, app_id, old)
        assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
        assert _token_response(client, app_id, new).status_code == 200


def test_a_second_rotation_does_not_extend_an_older_secret(client, factory, manager):
    partner, _ = manager
    start = datetime.now(timezone.utc).replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        token = factory.token(partner, "apps.manage")
        created = client.post("/v1/apps", json=BODY, headers=bearer(token)).get_json()
        client.post(f"/v1/apps/{created['id']}/rotate-secret", headers=bearer(token))
    with time_machine.travel(start + timedelta(hours=12), tick=False):
        token = factory.token(partner, "apps.manage")  # access tokens live 15 minutes
        second = client.post(f"/v1/apps/{created['id']}/rotate-secret", headers=bearer(token))
    with time_machine.travel(start + timedelta(hours=24, seconds=1), tick=False):
        # the first secret expires on its own schedule, not 24 h after the second rotation
        assert _token_response(client, created["id"], created["client_secret"]).status_code == 401
        assert (
            _token_response(client, created["id"], second.get_json()["client_secret"]).status_code
            == 200
        )


def test_another_developers_app_is_404_and_untouched(client, factory, manager, db_session):
    _, token = manager
    stranger_app = factory.app_client()  # another developer
    before = db_session.get(App, stranger_app.id).name
    for method, path, kwargs in [
        ("GET", f"/v1/apps/{stranger_app.id}", {}),
        ("PATCH", f"/v1/apps/{stranger_app.id}", {"json": {"name": "pwned"}}),
        ("DELETE", f"/v1/apps/{stranger_app.id}", {}),
        ("POST", f"/v1/apps/{stranger_app.id}/rotate-secret", {}),
    ]:
        response = client.open(path, method=method, headers=bearer(token), **kwargs)
        assert_problem(response, 404, "APP_NOT_FOUND")
    db_session.expire_all()
    row = db_session.get(App, stranger_app.id)
    assert row.name == before and row.status == "active"
    assert (
        len(db_session.scalars(select(AppSecret).where(AppSecret.app_id == stranger_app.id)).all())
        == 1
    )
    assert stranger_app.id not in client.get("/v1/apps", headers=bearer(token)).get_data(
        as_text=True
    )


# --- mass assignment (SECURITY row 31, G17) -----------------------------------------------------

INJECTED = {
    "id": "app_01j9x6b2f0000000000000000",
    "status": "deleted",
    "created_at": "2020-01-01T00:00:00.000Z",
    "updated_at": "2020-01-01T00:00:00.000Z",
    "developer_user_id": "usr_01j9x6b2f0000000000000000",
    "merchant_id": "mch_01j9x6b2f0000000000000000",
    "role": "operator",
    "client_secret": "sjcs_mine",
    "client_id": "app_chosen",
    "first_party": True,
    "deleted_at": None,
    "kind": "web_app",
    "client_type": "public",
}


def _snapshot(db_session) -> list:
    db_session.expire_all()
    return [tuple(r) for r in db_session.execute(select(App.__table__)).all()] + [
        tuple(r) for r in db_session.execute(select(AppSecret.__table__)).all()
    ]


READ_ONLY = [
    "id",
    "status",
    "created_at",
    "updated_at",
    "developer_user_id",
    "merchant_id",
    "role",
    "client_secret",
    "client_id",
    "first_party",
    "deleted_at",
]


def test_post_with_a_read_only_field_is_422_and_changes_nothing(client, manager, db_session):
    _, token = manager
    before = _snapshot(db_session)
    for field in READ_ONLY:
        response = client.post(
            "/v1/apps", json={**BODY, field: INJECTED[field]}, headers=bearer(token)
        )
        assert response.status_code == 422, field
        assert assert_problem(response, 422, "VALIDATION_ERROR")["errors"] == {
            field: ["Unknown field."]
        }
    assert _snapshot(db_session) == before


def test_patch_with_a_read_only_field_is_422_and_changes_nothing(client, manager, db_session):
    partner, token = manager
    before = _snapshot(db_session)
    for field in sorted(INJECTED):
        response = client.patch(
            f"/v1/apps/{partner.id}",
            json={"name": "x", field: INJECTED[field]},
            headers=bearer(token),
        )
        assert response.status_code == 422, field
        assert assert_problem(response, 422, "VALIDATION_ERROR")["errors"] == {
            field: ["Unknown field."]
        }
    assert _snapshot(db_session) == before


def test_rotate_secret_refuses_a_chosen_secret(client, manager, db_session):
    partner, token = manager
    before = _snapshot(db_session)
    response = client.post(
        f"/v1/apps/{partner.id}/rotate-secret",
        json={"client_secret": "sjcs_mine"},
        headers=bearer(token),
    )
    assert assert_problem(response, 422)["errors"] == {"client_secret": ["Unknown field."]}
    assert _snapshot(db_session) == before
    assert (
        client.post(
            f"/v1/apps/{partner.id}/rotate-secret", json={}, headers=bearer(token)
        ).status_code
        == 201
    )


ALLOWED_SECRET_KEYS = {
    # the one-time credential, in the create and rotate responses only
    "client_secret",
    # metadata about secrets, never one: when the old ones expire, the new one's last 4 characters
    "previous_secrets_expire_at",
    "new_secret_hint",
    "old_secrets_expire_at",
}


def _keys(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", key
            yield from _keys(value, f"{path}.{key}")
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item, f"{path}[]")


def test_response_keys_never_name_secrets_hashes_or_passwords(client, factory, manager):
    partner, token = manager
    full = factory.token(partner, "apps.manage events.read authorizations.read")
    merchant = factory.merchant()
    authorization_id = factory.authorize(partner, merchant, ["merchant.read"])
    created = client.post("/v1/apps", json=BODY, headers=bearer(token))
    app_id = created.get_json()["id"]
    rotated = client.post(
        f"/v1/apps/{partner.id}/rotate-secret", headers=bearer(token)
    )  # an event for partner
    responses = {
        "create": created,
        "rotate": rotated,
        "get": client.get(f"/v1/apps/{app_id}", headers=bearer(token)),
        "list": client.get("/v1/apps", headers=bearer(token)),
        "update": client.patch(f"/v1/apps/{app_id}", json={"name": "n"}, headers=bearer(token)),
        "events": client.get("/v1/events", headers=bearer(full)),
        "authorizations": client.get("/v1/authorizations", headers=bearer(full)),
        "authorization": client.get(f"/v1/authorizations/{authorization_id}", headers=bearer(full)),
        "merchant": client.get(
            f"/v1/merchants/{merchant.id}", headers=bearer(factory.token(partner))
        ),
        "problem": client.post("/v1/apps", json={"name": ""}, headers=bearer(token)),
    }
    seen = set()
    for name, response in responses.items():
        assert response.status_code < 500, name
        for where, key in _keys(response.get_json()):
            seen.add(key)
            lowered = key.lower()
            if any(word in lowered for word in ("secret", "hash", "password")):
                assert key in ALLOWED_SECRET_KEYS, f"{name}: {where}"
                if key == "client_secret":
                    assert name in ("create", "rotate"), f"{name}: {where}"
    assert "client_secret" in seen and "new_secret_hint" in seen  # the snapshot saw what it guards
