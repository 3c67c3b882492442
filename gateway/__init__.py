"""Shijing gateway: ``create_app`` is the one place where blueprints and extensions are wired."""

from __future__ import annotations

import os
import secrets
import types
from pathlib import Path

from flask import Flask, Response
from flask_cors import CORS
from sqlalchemy import event
from werkzeug.routing import BaseConverter

from gateway import config as config_module
from gateway.http.responses import GatewayResponse


def _secret_key(config: dict) -> str:
    if config["SECRET_KEY"]:
        return config["SECRET_KEY"]
    if config_module.is_production(config):
        raise RuntimeError("SHIJING_SECRET_KEY must be set in production")
    path = Path(config["INSTANCE_PATH"]) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


class PathSegment(BaseConverter):
    """The default ``<name>`` converter, minus NUL: no id holds one, and PostgreSQL refuses it in
    a query (a 500), so such a path matches no route and is a plain 404."""

    regex = r"[^/\x00]+"
    # Never matches "/", so it is one path segment. Said explicitly because werkzeug infers
    # part_isolating=False from any "/" in the regex (here inside the negated class): every rule
    # with a <param> then became a whole-remaining-path regex, and /v1/merchants/<id> was found
    # by trying 41 of them in turn (~30 µs a request, bench/README.md) instead of a tree walk.
    part_isolating = True


class Gateway(Flask):
    """Flask, minus one repeated check per hook call, answering with ``GatewayResponse``.

    Flask passes every before/after/teardown hook and the view through ``ensure_sync`` on every
    request, which asks ``inspect.iscoroutinefunction`` each time (5 Python calls per hook, 8+
    hooks a request). A plain function's answer never changes, so it is remembered; coroutine
    functions and other callables still take Flask's path. Same behaviour; ~50 Python calls
    fewer per request (bench/README.md). ``ensure_sync`` is Flask's documented override point.
    """

    response_class = GatewayResponse

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._plain_functions: set = set()

    def ensure_sync(self, func):
        if type(func) is not types.FunctionType:
            return super().ensure_sync(func)
        if func in self._plain_functions:
            return func
        result = super().ensure_sync(func)
        if result is func:
            self._plain_functions.add(func)
        return result


def create_app(overrides: dict | None = None) -> Flask:
    config = config_module.load(overrides)
    production = config_module.is_production(config)
    if production and (config["ISSUER"].startswith("http://") or config["ALLOW_INSECURE_TRANSPORT"]):
        raise RuntimeError("production needs an https SHIJING_ISSUER")
    if production and os.environ.get("AUTHLIB_INSECURE_TRANSPORT"):
        # Authlib would then accept OAuth requests over plain http (SECURITY row 36)
        raise RuntimeError("AUTHLIB_INSECURE_TRANSPORT must not be set in production")
    if config["ISSUER"].startswith("http://") and not production:
        # Authlib refuses plain http unless told; allowed only outside production (OWASP API8)
        os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

    app = Gateway(__name__, static_folder=None, instance_path=config["INSTANCE_PATH"])
    app.url_map.converters["default"] = PathSegment
    app.config["SHIJING"] = config
    app.config["TESTING"] = config["ENV"] == "testing"
    app.config["SECRET_KEY"] = _secret_key(config)
    app.config["MAX_CONTENT_LENGTH"] = config["MAX_CONTENT_LENGTH"]
    app.config["SESSION_COOKIE_NAME"] = "shijing_session"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = config["ISSUER"].startswith("https://")
    from gateway.accounts.web import CookieSessionInterface

    app.session_interface = CookieSessionInterface()  # skips the signer when no cookie is sent
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False

    import gateway.maintenance
    import gateway.service_accounts.tasks
    import gateway.orders.tasks
    import gateway.exports.tasks
    import gateway.webhooks.delivery
    from gateway import models  # noqa: F401  (every table on the metadata)
    from gateway.db import Database
    from gateway.errors import register_error_handlers
    from gateway.http import auth, headers, observability, ratelimit
    from gateway.jobs import Jobs
    from gateway.oauth.keys import load_or_create_signing_key
    from gateway.oauth.server import build_server
    from gateway.oauth.tokens import TokenCache
    from gateway.webhooks.services import Webhooks

    observability.configure_logging(config["LOG_LEVEL"])
    database = Database()
    database.init_app(app)
    token_cache = TokenCache(config["TOKEN_CACHE_TTL"], config["REDIS_URL"])
    app.extensions["shijing.token_cache"] = token_cache

    @event.listens_for(database._factory, "after_commit")
    def _invalidate_tokens(session):
        if session.info.pop("invalidate_tokens", False):
            token_cache.invalidate_all()

    app.extensions["shijing.signing_key"] = load_or_create_signing_key(config["INSTANCE_PATH"])
    app.extensions["shijing.oauth_server"] = build_server(app)
    app.extensions["shijing.jobs"] = Jobs(app)
    app.extensions["shijing.webhooks"] = Webhooks(app)
    gateway.webhooks.delivery.init_app(app, database)
    gateway.service_accounts.tasks.init_app(app, database)
    gateway.exports.tasks.init_app(app, database)

    # Order matters: request id first, then the token, then the rate limits that key on it.
    observability.init_app(app)
    app.before_request(auth.resolve_bearer_token)
    ratelimit.init_app(app)
    headers.init_app(app, production)
    register_error_handlers(app)

    origins = [o.strip() for o in config["CORS_ORIGINS"].split(",") if o.strip()]
    if origins:
        # only the JSON API; the authorization endpoint never answers cross-origin (SECURITY row 12)
        CORS(app, resources={r"/v1/*": {"origins": origins}}, expose_headers=[
            "X-Request-Id", "RateLimit", "RateLimit-Policy", "Retry-After", "Idempotency-Key"])

    from gateway.accounts.views import bp as accounts_bp
    from gateway.apps.views import bp as apps_bp
    from gateway.authorizations.views import bp as authorizations_bp
    from gateway.events.views import bp as events_bp
    from gateway.merchants.views import bp as merchants_bp
    from gateway.oauth.views import bp as oauth_bp
    from gateway.platform.views import bp as platform_bp
    from gateway.poi.views import partner_bp as poi_partner_bp
    from gateway.poi.views import public_bp as poi_public_bp
    from gateway.poi.views import review_bp as poi_review_bp
    from gateway.poi.web import bp as poi_web_bp
    from gateway.creators.views import bp as creators_bp
    from gateway.miniprograms.mount_views import bp as mounts_bp
    from gateway.miniprograms.views import bp as miniprograms_bp
    from gateway.service_accounts.views import bp as service_accounts_bp
    from gateway.orders.client_views import bp as orders_client_bp
    from gateway.orders.views import bp as orders_bp
    from gateway.webhooks.views import bp as webhooks_bp
    from gateway.exports.views import bp as exports_bp

    for blueprint in (platform_bp, accounts_bp, oauth_bp, apps_bp, authorizations_bp, merchants_bp, events_bp,
                      poi_partner_bp, poi_review_bp, poi_public_bp, poi_web_bp, webhooks_bp,
                      miniprograms_bp, creators_bp, mounts_bp, service_accounts_bp, orders_bp, orders_client_bp,
                      exports_bp):
        app.register_blueprint(blueprint)

    if config["BENCH_ROUTES"]:
        from gateway.bench_routes import bp as bench_bp

        app.register_blueprint(bench_bp)

    @app.after_request
    def _unit_of_work(response: Response) -> Response:
        # One transaction per request: the change, its events and its idempotency record commit
        # together, or (on any error) not at all.
        s = database.session
        if s.registry.has():
            if response.status_code < 400:
                s().commit()
            else:
                s().rollback()
        return response

    return app
