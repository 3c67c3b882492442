from __future__ import annotations

import contextlib

import pytest

from gateway import create_app
from tests.contract import SpecClient


@pytest.fixture
def make_app(app, app_config):
    """Build another gateway on the session's database with some settings changed."""
    built = []

    def build(**overrides):
        application = create_app({**app_config, **overrides})
        application.test_client_class = SpecClient
        built.append(application)
        return application

    yield build
    for application in built:
        with contextlib.suppress(Exception):  # some tests point Redis at nothing on purpose
            application.extensions["shijing.ratelimiter"].reset()
        application.extensions["shijing.db"].engine.dispose()
