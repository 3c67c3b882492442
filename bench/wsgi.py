"""The WSGI application the benchmark gunicorn serves: project and baselines in one process.

    /__bench/bare/...  a separate, bare ``Flask(__name__)`` app — no middleware, no extensions:
        /hello                      jsonify(hello="world"), the baseline of every ratio
        /sqlite/merchants/<id>      + one raw sqlite3 primary-key read (reference)
        /pg/merchants/<id>          + one psycopg 3 primary-key read, no auth (G3 baseline;
                                      only when SHIJING_DATABASE_URL is PostgreSQL)
    /...               the project: ``gateway.serving.serving_app()`` (``create_app()``, heap frozen as
                       in every serving process) with every middleware on; with
                       SHIJING_BENCH_ROUTES=1 it also serves ``/__bench/merchants/<id>`` and
                       ``/__bench/sqlite/merchants/<id>`` through that stack (gateway/bench_routes.py)

Werkzeug's ``DispatcherMiddleware`` in front of both costs a few microseconds of path matching
per request, on both sides of every ratio alike. Run it with ``bench/http_ratios.py``; it is not
meant for anything else.
"""

from __future__ import annotations

import sqlite3
import threading

from flask import Flask, abort, jsonify
from sqlalchemy.engine import make_url
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from gateway import config as config_module
from gateway.serving import serving_app

BARE_PREFIX = "/__bench/bare"

_config = config_module.load()
_url = make_url(_config["DATABASE_URL"])
_local = threading.local()  # one driver connection per thread, opened lazily in each worker

bare = Flask(__name__)


@bare.get("/hello")
def hello():
    return jsonify(hello="world")


@bare.get("/sqlite/merchants/<merchant_id>")
def sqlite_merchant(merchant_id):
    connection = getattr(_local, "sqlite", None)
    if connection is None:
        if _url.get_backend_name() != "sqlite":
            abort(404)
        connection = _local.sqlite = sqlite3.connect(_url.database, check_same_thread=False)
    row = connection.execute(
        "SELECT id, name, created_at FROM merchants WHERE id = ?", (merchant_id,)
    ).fetchone()
    if row is None:
        abort(404)
    return jsonify(id=row[0], name=row[1], created_at=row[2])


@bare.get("/pg/merchants/<merchant_id>")
def pg_merchant(merchant_id):
    # A held connection per thread: with sync workers (one thread each) that is what a
    # psycopg_pool of any size hands out, without the extra dependency.
    connection = getattr(_local, "pg", None)
    if connection is None:
        if _url.get_backend_name() != "postgresql":
            abort(404)
        import psycopg

        dsn = _url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = _local.pg = psycopg.connect(dsn, autocommit=True)
    row = connection.execute(
        "SELECT id, name, created_at FROM merchants WHERE id = %s", (merchant_id,)
    ).fetchone()
    if row is None:
        abort(404)
    return jsonify(id=row[0], name=row[1], created_at=row[2].isoformat())


# built as gateway.wsgi builds it for a server (gateway.serving: the start-up heap is frozen), after
# the bare app, so the baselines run in a process with the same frozen heap
application = DispatcherMiddleware(serving_app(), {BARE_PREFIX: bare})
