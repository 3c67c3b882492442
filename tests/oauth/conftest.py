"""Fixtures for the OAuth 2.0 / OpenID Connect suite: partners, a merchant and its owner."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from gateway import security
from gateway.models import metadata
from tests.oauth.flows import REDIRECT_URI, Browser, signed_in

MERCHANT_SCOPES = "merchant.read poi.read"


@pytest.fixture(scope="package", autouse=True)
def _fast_password_hashing():
    """Argon2 with its cheapest parameters while this package runs: the suite signs in hundreds
    of times, and the default cost (about 0.15 s a hash here) would dominate its run time.
    Still real Argon2 hashes and verification; verifying reads the cost from each hash."""
    original = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    security._hasher = original


@pytest.fixture
def developer(factory):
    return factory.user(developer=True)


@pytest.fixture
def partner(factory, developer):
    """A confidential service provider with the usual partner scopes."""
    return factory.app_client(developer=developer, redirect_uris=[REDIRECT_URI])


@pytest.fixture
def other_partner(factory):
    """Another developer's confidential app, registered for the same redirect URI."""
    return factory.app_client(redirect_uris=[REDIRECT_URI])


@pytest.fixture
def public_client(factory, developer):
    """A public web app (no secret: PKCE is all it has)."""
    return factory.app_client(
        developer=developer,
        client_type="public",
        kind="web_app",
        redirect_uris=[REDIRECT_URI],
        scopes=["openid", "profile", "merchant.read", "poi.read"],
    )


@pytest.fixture
def owner(factory):
    return factory.user()


@pytest.fixture
def merchant(factory, owner):
    return factory.merchant(owner)


@pytest.fixture
def browser(app, owner) -> Browser:
    """The merchant owner's browser, signed in."""
    return signed_in(app, owner)


def all_cells(app) -> list[str]:
    """Every value in every table, as text: what a database dump would show."""
    engine = app.extensions["shijing.db"].engine
    cells: list[str] = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                cells += [str(value) for value in row if value is not None]
    return cells
