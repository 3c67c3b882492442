"""Cursor pagination, the same on every list: ``limit`` (1–100), ``cursor`` → ``next_cursor``, ``has_more``.

Lists are ordered by id, and ids sort by creation time, so a cursor is simply the last id seen,
wrapped so clients treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
import re

from flask import request
from sqlalchemy import Select

from gateway.errors import Problem

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_CURSOR = re.compile(r"v1:[a-z]{3}_[0-9a-z]{26}")


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raw = ""
    # only what encode_cursor wrote: "v1:" and an id (no NUL, which PostgreSQL refuses, and not
    # "djE6", an empty position)
    if not _CURSOR.fullmatch(raw):
        raise Problem("The cursor is not one this API returned.", code="INVALID_CURSOR")
    return raw[3:]


def page_params(decode=decode_cursor) -> tuple[int, str | None]:
    """``limit`` and the position ``cursor`` names (``decode`` reads a list's own cursor kind)."""
    raw_limit = request.args.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        # ASCII digits only: str.isdigit() also accepts "٣" and "²", which int() reads or rejects
        if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise Problem(
                f"limit must be an integer from 1 to {MAX_LIMIT}.", code="INVALID_LIMIT"
            )
        limit = int(raw_limit)
    cursor = request.args.get("cursor")
    return limit, (decode(cursor) if cursor else None)


def paginate(session, statement: Select, id_column, dump=None, *, dump_page=None) -> dict:
    """Run ``statement`` (already filtered to the caller's rows) one page at a time. ``dump`` turns
    each row into its dict; ``dump_page`` turns the page's rows at once instead, so what they share
    (items, tags, app-scoped ids) takes one query per page rather than one per row."""
    limit, after = page_params()
    if after is not None:
        statement = statement.where(id_column > after)
    rows = session.scalars(statement.order_by(id_column).limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    return {
        "data": dump_page(rows) if dump_page is not None else [dump(row) for row in rows],
        "has_more": has_more,
        "next_cursor": encode_cursor(rows[-1].id) if has_more else None,
    }
