"""The sign-in page: login and logout for the consent flow."""

from __future__ import annotations

import time

from flask import Blueprint, redirect, render_template, request, session as web_session

from gateway.accounts import services
from gateway.accounts.web import csrf_token, current_user, require_csrf, safe_next
from gateway.db import session

bp = Blueprint("accounts", __name__)


@bp.get("/login")
def login_page():
    """Show the sign-in page."""
    # reauth: an app asked for a fresh sign-in (prompt=login, max_age), so the form is shown even
    # to someone signed in
    user = None if request.args.get("reauth") else current_user()
    return render_template(
        "login.html", csrf_token=csrf_token(), next=safe_next(request.args.get("next"), ""), error=None,
        user=user,
    )


@bp.post("/login")
def login():
    """Sign in with username and password."""
    require_csrf()
    username = request.form.get("username", "")[:64]
    password = request.form.get("password", "")[:256]
    target = safe_next(request.form.get("next"), "/login")
    user = services.authenticate(session(), username, password) if username and password else None
    if user is None:
        page = render_template(
            "login.html", csrf_token=csrf_token(), next=target, error="Wrong username or password.", user=None
        )
        return page, 401
    # a new session on sign-in: nothing from before (a planted id) survives
    web_session.clear()
    web_session["user_id"] = user.id
    web_session["auth_time"] = int(time.time())
    csrf_token()
    return redirect(target, code=303)


@bp.post("/logout")
def logout():
    """Sign out."""
    require_csrf()
    web_session.clear()
    return redirect(safe_next(request.form.get("return_to")), code=303)
