"""Compact JSON text where nobody reads the text itself: the database's JSON columns, cache keys
and scans of a parsed body.

orjson writes it 5–10× faster than the standard library (a POI's four JSON columns and its
review submission's ``changes``: ~17 µs of a batch item's ~230 µs of server CPU with ``json``, ~2 µs
with orjson, bench/README.md "POI: batch upsert, round 5"). What orjson refuses, an integer
beyond 64 bits or a key that is not a string, gets the standard library's text instead, so
anything ``json.dumps`` could write still works. One difference remains: orjson writes NaN and
the infinities as ``null`` where ``json.dumps`` wrote ``NaN``, text no JSON parser takes and
PostgreSQL refuses; the API's schemas refuse them before anything is stored.

Digests (``gateway.poi.services.digest_of``) keep the standard library: their text must stay the
same from one release to the next.
"""

from __future__ import annotations

import json

import orjson


def compact(value) -> str:
    """``value`` as compact JSON text: UTF-8 characters as they are, no spaces, keys in order."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def holds_nul(value) -> bool:
    """Whether a string anywhere in ``value`` (a key or a value) holds a NUL character: its JSON
    text holds the escape ``\\u0000``. True also for a string that holds that escape as text, or
    for a value that is not JSON: a quick first look, for a caller that then checks exactly."""
    try:
        return b"\\u0000" in orjson.dumps(value)
    except TypeError:
        try:
            return "\\u0000" in json.dumps(value)
        except (TypeError, ValueError):
            return True
