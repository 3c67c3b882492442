"""bench/wsgi.py plus the reference route of the nearby benchmark, in the same gunicorn process.

    /__bench/bare/poi/nearby?lat=..&lng=..   bare Flask (no middleware, no auth) running the best
        raw index query (bench/poi_queries.py BEST) with the raw driver, one connection per thread,
        answering the same fields as GET /v1/pois/nearby (first image, distance in metres)

Everything else is bench/wsgi.py unchanged: the project app at ``/``, bare hello at
``/__bench/bare/hello``. Served by ``bench/poi_nearby.py`` only.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading

from flask import abort, jsonify, request

from bench import poi_queries
from bench import wsgi as base

_local = threading.local()
_url = base._url
_dialect = "postgresql" if _url.get_backend_name() == "postgresql" else "sqlite"
_method = poi_queries.BY_KEY[poi_queries.BEST[_dialect]]


def _connection():
    connection = getattr(_local, "connection", None)
    if connection is None:
        if _dialect == "sqlite":
            connection = sqlite3.connect(_url.database, check_same_thread=False)
        else:
            import psycopg

            dsn = _url.set(drivername="postgresql").render_as_string(hide_password=False)
            connection = psycopg.connect(dsn, autocommit=True)
        _local.connection = connection
    return connection


@base.bare.get("/poi/nearby")
def poi_nearby():
    try:
        lat, lng = float(request.args["lat"]), float(request.args["lng"])
    except (KeyError, ValueError):
        abort(400)
    rows = _connection().execute(_method.sql, poi_queries.params(_method, lat, lng, 3000.0)).fetchall()
    data = []
    for poi_id, name, category, address, city, district, p_lat, p_lng, rating, rating_count, status, images, \
            _hours, d2 in rows:
        if isinstance(images, str):
            images = json.loads(images)
        data.append({"id": poi_id, "name": name, "category": category, "address": address, "city": city,
                     "district": district, "lat": p_lat, "lng": p_lng, "rating": rating,
                     "rating_count": rating_count, "status": status, "images": images[:1],
                     "distance_m": round(math.sqrt(d2))})
    return jsonify(data=data)


application = base.application
