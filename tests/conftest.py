"""Shared fixtures: one migrated database per test session (SQLite, or PostgreSQL when
``SHIJING_DATABASE_URL`` is set), Redis when ``SHIJING_REDIS_URL`` is set, tables emptied after
every test, factories for users, merchants, apps and tokens, and a live gateway on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

from gateway import create_app
from gateway.models import metadata
from tests.contract import SpecClient

DATABASE_URL = os.environ.get("SHIJING_DATABASE_URL", "")
REDIS_URL = os.environ.get("SHIJING_REDIS_URL", "")


def _reset_postgres(url: str) -> None:
    from gateway.config import normalise_database_url
    from gateway.db import make_engine

    engine = make_engine(normalise_database_url(url))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _reset_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def base_config(tmp_path_factory) -> dict:
    instance = tmp_path_factory.mktemp("instance")
    return {
        "ENV": "testing",
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": DATABASE_URL or f"sqlite:///{instance / 'test.db'}",
        "REDIS_URL": REDIS_URL,
        "ISSUER": "http://127.0.0.1",
        "ACCESS_LOG": False,
        "LOG_LEVEL": "WARNING",
        "JOBS_IMMEDIATE": True,
        "EXPORT_SYNC_SETTLE": 0,  # incremental sync sees rows at once (tests/exports checks the delay)
        "RATELIMIT_APP": "100000/minute",
        "RATELIMIT_MERCHANT": "100000/minute",
        "RATELIMIT_IP": "100000/minute",
        "QUOTA_APP_CREATIONS": "1000/day",
        "QUOTA_SECRET_ROTATIONS": "1000/day",
        # local receivers (tests/webhooks/receiver.py) listen on loopback ports
        "WEBHOOK_TEST_ALLOWLIST": "127.0.0.1,localhost",
    }


@pytest.fixture(scope="session")
def app_config(tmp_path_factory) -> dict:
    return base_config(tmp_path_factory)


@pytest.fixture(scope="session")
def app(app_config):
    if DATABASE_URL:
        _reset_postgres(DATABASE_URL)
    if REDIS_URL:
        _reset_redis(REDIS_URL)
    application = create_app(app_config)
    application.test_client_class = SpecClient
    from gateway.migrate import upgrade_engine

    upgrade_engine(application.extensions["shijing.db"].engine)
    yield application
    application.extensions["shijing.db"].engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request):
    yield
    if "app" not in request.fixturenames:
        return
    application = request.getfixturevalue("app")
    engine = application.extensions["shijing.db"].engine
    _check_event_catalogue(application)
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    application.extensions["shijing.ratelimiter"].reset()
    application.extensions["shijing.token_cache"].invalidate_all(broadcast=False)


def _check_event_catalogue(application) -> None:
    """Every event any test wrote, exactly as a webhook would carry it, must match its type's
    schema in the spec's ``webhooks`` catalogue: the catalogue cannot drift from what is sent."""
    from gateway.events.models import Event
    from gateway.webhooks.delivery import envelope
    from tests.contract import schema_validator, spec

    with application.app_context(), application.extensions["shijing.db"].new_session() as s:
        for event in s.query(Event).limit(1000):
            entry = spec()["webhooks"].get(event.type)
            assert entry is not None, f"event type {event.type} is not in the spec's webhooks catalogue"
            schema = entry["post"]["requestBody"]["content"]["application/json"]["schema"]
            body = json.loads(envelope(event))
            errors = list(schema_validator(schema).iter_errors(body))
            assert not errors, f"{event.type} event breaks its catalogue schema: {errors[0].message}"


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db_session(app):
    with app.app_context():
        session = app.extensions["shijing.db"].new_session()
        yield session
        session.close()


# --- factories ----------------------------------------------------------------------------------


@dataclass
class AppCredentials:
    id: str
    secret: str | None
    developer_user_id: str

    @property
    def basic(self) -> tuple[str, str]:
        return (self.id, self.secret)


class Factory:
    """Builds accounts, apps and tokens through the services (the same code the API runs)."""

    password = "correct horse battery staple"

    def __init__(self, app) -> None:
        self.app = app
        self._count = 0

    def _name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}-{secrets.token_hex(3)}"

    def _session(self):
        return self.app.extensions["shijing.db"].new_session()

    def user(self, *, developer: bool = False, operator: bool = False, username: str | None = None):
        from gateway.accounts import services

        with self.app.app_context(), self._session() as s:
            user = services.create_user(s, username=username or self._name("user"), password=self.password,
                                        is_developer=developer, is_operator=operator)
            s.commit()
            return user

    def merchant(self, owner=None, name: str | None = None):
        from gateway.accounts import services

        owner = owner or self.user()
        with self.app.app_context(), self._session() as s:
            merchant = services.create_merchant(s, owner, name or self._name("Merchant "))
            s.commit()
            return merchant

    def creator(self, user=None):
        from gateway.accounts import services

        user = user or self.user()
        with self.app.app_context(), self._session() as s:
            creator = services.create_creator(s, user, self._name("Creator "))
            s.commit()
            return creator

    def app_client(self, *, scopes=None, redirect_uris=None, kind="service_provider", client_type="confidential",
                   developer=None, first_party=False) -> AppCredentials:
        from gateway.apps import services
        from gateway.demo import PARTNER_SCOPES

        developer = developer or self.user(developer=True)
        with self.app.app_context(), self._session() as s:
            created, secret = services.create_app(
                s, developer_user_id=developer.id, name=self._name("App "), kind=kind,
                redirect_uris=redirect_uris or ["https://partner.example/cb"],
                scopes=scopes if scopes is not None else PARTNER_SCOPES, client_type=client_type,
                first_party=first_party,
            )
            s.commit()
            return AppCredentials(created.id, secret, developer.id)

    def authorize(self, app: AppCredentials, merchant, scopes) -> str:
        """Record a merchant's consent to ``app`` (what the consent page does)."""
        from gateway.authorizations import services

        with self.app.app_context(), self._session() as s:
            authorization = services.grant(s, app_id=app.id, subject_type="merchant", subject_id=merchant.id,
                                           user_id=merchant.owner_user_id, scopes=list(scopes))
            s.commit()
            return authorization.id

    def token(self, app: AppCredentials, scope: str | None = None) -> str:
        """A client-credentials access token for ``app``."""
        data = {"grant_type": "client_credentials"}
        if scope is not None:
            data["scope"] = scope
        response = self.app.test_client().post("/oauth2/token", data=data, auth=app.basic)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["access_token"]


@pytest.fixture
def factory(app) -> Factory:
    return Factory(app)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


# --- a real gateway on a loopback port ----------------------------------------------------------


class LiveServer:
    def __init__(self, app) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture
def live_server(app):
    with LiveServer(app) as server:
        yield server
