"""Browser sessions for the login and consent pages: current user, CSRF tokens, safe redirects."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import abort, request, session as web_session
from flask.sessions import SecureCookieSessionInterface

from gateway.accounts.models import User
from gateway.db import session


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, minus the work when there is no cookie to read or write.

    Flask builds an itsdangerous signer on every request before it even looks for the cookie;
    API calls never send one, so that was ~30 µs per request for nothing (bench/README.md).
    The result is identical: an empty session, and a cookie is only signed when one is written.
    """

    def open_session(self, app, request):
        # no Cookie header at all: not even werkzeug's cookie parsing is needed
        if app.secret_key and (
            not request.environ.get("HTTP_COOKIE")
            or not request.cookies.get(self.get_cookie_name(app))
        ):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        # untouched and empty (every API call): Flask would read seven cookie settings, then
        # neither set a cookie nor add "Vary: Cookie"
        if session or session.accessed or session.modified:
            super().save_session(app, session, response)


def current_user() -> User | None:
    user_id = web_session.get("user_id")
    return session().get(User, user_id) if user_id else None


def csrf_token() -> str:
    token = web_session.get("csrf")
    if not token:
        token = web_session["csrf"] = secrets.token_urlsafe(32)
    return token


def require_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    expected = web_session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, description="The form expired or did not come from this site; reload and try again.")


def safe_next(target: str | None, default: str = "/login") -> str:
    """Only same-origin relative paths: never an open redirector (RFC 9700 §4.11)."""
    if not target or len(target) > 2000:
        return default
    if any(ord(ch) < 32 or ch == "\\" for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target
