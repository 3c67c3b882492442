"""SDK tests drive the real gateway: in-process through ``shijing.testing.FlaskAdapter`` mounted
on the client's ``requests.Session`` (every response also passes the gateway's contract check),
or over a real socket through the ``live_server`` fixture."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import shijing
from shijing.testing import FlaskAdapter
from sqlalchemy import func, select

GATEWAY = "http://gateway.test"
PARTNER_REDIRECT = "https://partner.example/cb"
CONSOLE_REDIRECT = "http://127.0.0.1:8766/callback"
ISSUER = "http://127.0.0.1"  # tests.conftest.base_config


class FakeClock:
    """Wall-clock seconds that move only when told; ``sleep`` records and advances."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


class RecordingAdapter(FlaskAdapter):
    """The real gateway in-process, remembering (method, path, status) and the request headers,
    with optional faults: ``faults`` is a list consumed one per request, each None (pass),
    ``"connect"`` (refused before anything is sent), ``"read-timeout"`` (the gateway handled
    the request, the answer is lost) or an int status returned after the gateway handled it."""

    def __init__(self, app) -> None:
        super().__init__(app)
        self.log: list[tuple[str, str, int]] = []
        self.sent: list[requests.PreparedRequest] = []
        self.responses: list[requests.Response] = []
        self.faults: list[Any] = []
        self._guard = threading.Lock()

    def send(self, request, **kwargs):
        with self._guard:
            fault = self.faults.pop(0) if self.faults else None
            self.sent.append(request)
        path = urlsplit(request.url).path
        if fault == "connect":
            from urllib3.exceptions import MaxRetryError, NewConnectionError

            reason = NewConnectionError(None, "Connection refused")
            raise requests.ConnectionError(MaxRetryError(None, path, reason), request=request)
        response = super().send(request, **kwargs)
        with self._guard:
            self.log.append((request.method, path, response.status_code))
            self.responses.append(response)
        if fault == "read-timeout":
            raise requests.ReadTimeout("read timed out (injected)", request=request)
        if isinstance(fault, int):
            from shijing.testing import build_response

            return build_response(request, fault, {"Content-Type": "application/problem+json"},
                                  b'{"code":"INJECTED","status":%d,"detail":"injected"}' % fault, self)
        return response

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for m, p, _ in self.log if m == method and p.startswith(path_prefix))


@dataclass
class World:
    """A partner app authorised by two merchants, and clients for it (built on demand)."""

    app: Any
    factory: Any
    adapter: RecordingAdapter
    extras: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def partner(self):
        from gateway.demo import PARTNER_SCOPES

        developer = self.factory.user(developer=True)
        return self.factory.app_client(scopes=PARTNER_SCOPES, developer=developer,
                                       redirect_uris=[PARTNER_REDIRECT])

    @cached_property
    def merchant_owner(self):
        return self.factory.user()

    @cached_property
    def merchants(self):
        from gateway.demo import MERCHANT_GRANT

        first = self.factory.merchant(self.merchant_owner)
        second = self.factory.merchant(self.merchant_owner)
        self.authorization_ids = [self.factory.authorize(self.partner, m, MERCHANT_GRANT) for m in (first, second)]
        return [first, second]

    @cached_property
    def receiver(self):
        """A partner's webhook receiver on 127.0.0.1 that answers the URL challenge."""
        from tests.webhooks.conftest import PartnerReceiver

        return PartnerReceiver().start()

    def session(self) -> requests.Session:
        session = requests.Session()
        session.mount(GATEWAY, self.adapter)
        return session

    def client(self, **overrides) -> shijing.Client:
        settings = {"base_url": GATEWAY, "client_id": self.partner.id, "client_secret": self.partner.secret,
                    "session": self.session(), "retry": shijing.RetryPolicy(2, sleep=lambda s: None)}
        settings.update(overrides)
        return shijing.Client(**settings)

    def token_count(self, app_id: str | None = None, grant_type: str = "client_credentials") -> int:
        from gateway.oauth.models import Token

        with self.app.app_context(), self.app.extensions["shijing.db"].new_session() as s:
            return s.scalar(select(func.count()).select_from(Token).where(
                Token.app_id == (app_id or self.partner.id), Token.grant_type == grant_type))

    def consent(self, authorization_url: str, user, *, merchant_id: str | None = None,
                decision: str = "allow") -> str:
        """The browser's part of the code flow: sign in, allow; return the redirect URL."""
        browser = self.app.test_client()
        page = browser.get("/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        signed_in = browser.post("/login", data={"csrf_token": csrf, "username": user.username,
                                                 "password": self.factory.password, "next": "/"})
        assert signed_in.status_code == 303
        parts = urlsplit(authorization_url)
        target = f"{parts.path}?{parts.query}"
        page = browser.get(target)
        assert page.status_code == 200, page.get_data(as_text=True)[:500]
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
        form = {"csrf_token": csrf, "decision": decision}
        if merchant_id:
            form["merchant_id"] = merchant_id
        answer = browser.post(target, data=form)
        assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
        return answer.headers["Location"]

    def user_client(self, app_credentials, scope: str, user=None, *, redirect_uri: str = PARTNER_REDIRECT,
                    public: bool = False, store=None, **overrides) -> tuple[shijing.Client, shijing.AuthCodePKCE]:
        """A client holding a user's consent to ``app_credentials`` (authorization code + PKCE)."""
        user = user or self.factory.user()
        auth = shijing.AuthCodePKCE(app_credentials.id, redirect_uri=redirect_uri, scope=scope,
                                    client_secret=None if public else app_credentials.secret,
                                    store=store, issuer=ISSUER)
        client = self.client(auth=auth, client_id=None, client_secret=None, **overrides)
        request = auth.start(nonce="n-0S6_WzA2Mj")
        auth.handle_redirect(self.consent(request.url, user))
        return client, auth


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    """Argon2 at its defaults costs ~0.5 s per password here; these tests are about the SDK."""
    from argon2 import PasswordHasher

    import gateway.security

    monkeypatch.setattr(gateway.security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def adapter(app) -> RecordingAdapter:
    return RecordingAdapter(app)


@pytest.fixture
def world(app, factory, adapter) -> World:
    built = World(app, factory, adapter)
    yield built
    if "receiver" in vars(built):
        built.receiver.close()


@pytest.fixture
def clock() -> FakeClock:
    import time

    return FakeClock(time.time())


def make_client(world: World, **overrides) -> shijing.Client:
    return world.client(**overrides)


Recorder = Callable[[str, requests.Response], None]
