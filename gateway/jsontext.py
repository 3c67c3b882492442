"""JSON text made by orjson: the database's JSON columns, digests, cache keys, scans of a body.

orjson writes it 5–10× faster than the standard library: a created POI of a batch upsert went
from ~1.01 M to ~0.79 M instructions of server work (its four JSON columns, its review
submission's ``changes``, the NUL look at the body, the hours cache key; bench/README.md "POI
batch upsert, round 5"). What orjson refuses, an integer beyond 64 bits or a key that is not a
string, gets the standard library's text instead, so anything ``json.dumps`` could write still
works. One difference remains: orjson writes NaN and the infinities as ``null``, where
``json.dumps`` wrote ``NaN``, which is not JSON and which PostgreSQL refuses; the API's schemas
refuse them before anything is stored.
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


def canonical(value, default=None) -> str:
    """The text a content digest is taken over (``gateway.poi.services.digest_of``): keys sorted,
    no spaces, characters as they are, ``default`` for what JSON has no type for (datetimes
    included). Digests are stored and compared with the next resend, so this is the text
    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default)``
    wrote before orjson, byte for byte, with one exception: a float below 1e-4 or from 1e16 up
    is written as exactly but in another form (``1e-7``, ``0.00009``, where json wrote ``1e-07``,
    ``9e-05``). No POI or product field holds one in practice; an item that does reads as
    ``updated`` once, on its first resend after the change."""
    try:
        return orjson.dumps(value, default=default,
                            option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME).decode()
    except TypeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default)


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
