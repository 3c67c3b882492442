"""Benchmark-only routes, registered only when ``SHIJING_BENCH_ROUTES=1`` (never in production).

``bench/http_ratios.py`` compares project endpoints with baselines served by the *same*
gunicorn process (PERFORMANCE.md §3). The bare Flask hello lives outside this app (see
``bench/wsgi.py``); the routes here run inside it, through the full middleware stack:

- ``GET /__bench/merchants/<merchant_id>``: exactly the view behind ``GET /v1/merchants/{id}``
  (same prebuilt statement, same schema) with the authentication and authorisation decorator
  removed — the "auth off" side of the auth-overhead ratio (G4).
- ``GET /__bench/sqlite/merchants/<merchant_id>``: the same row read with the raw ``sqlite3``
  driver, one connection per thread — the cost floor for a primary-key read on SQLite.

These routes are deliberately absent from the OpenAPI document, and ``create_app`` registers
them only when the flag is on, so the route inventory test never sees them.
"""

from __future__ import annotations

import sqlite3
import threading

from flask import Blueprint, abort, jsonify

from gateway.db import get_db
from gateway.merchants import views as merchant_views

bp = Blueprint("bench", __name__, url_prefix="/__bench")

# ``require_scope`` wraps the view with functools.wraps, so ``__wrapped__`` is the undecorated
# view: same code, same statement, no token.
_merchant_view_without_auth = merchant_views.get_merchant.__wrapped__

_local = threading.local()


@bp.get("/merchants/<merchant_id>")
def merchant_without_auth(merchant_id):
    return _merchant_view_without_auth(merchant_id)


def _sqlite_connection() -> sqlite3.Connection:
    connection = getattr(_local, "sqlite", None)
    if connection is None:
        engine = get_db().engine
        if engine.dialect.name != "sqlite":
            abort(404)
        connection = sqlite3.connect(engine.url.database, check_same_thread=False)
        _local.sqlite = connection
    return connection


@bp.get("/sqlite/merchants/<merchant_id>")
def merchant_raw_sqlite(merchant_id):
    row = _sqlite_connection().execute(
        "SELECT id, name, created_at FROM merchants WHERE id = ?", (merchant_id,)
    ).fetchone()
    if row is None:
        abort(404)
    return jsonify(id=row[0], name=row[1], created_at=row[2])
