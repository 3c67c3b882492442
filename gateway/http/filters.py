"""List filters from the query string: an unknown value is a 400 ``INVALID_FILTER`` naming the
allowed ones, never an empty page that looks like "nothing there"."""

from __future__ import annotations

from flask import request
from sqlalchemy import Select

from gateway.errors import Problem


def text_arg(name: str, max_length: int, *, min_length: int = 1) -> str | None:
    """The ``name`` query parameter, within the spec's lengths; NUL is refused on every database
    alike (PostgreSQL cannot hold it: it would be a 500 there)."""
    value = request.args.get(name)
    if value is not None and (len(value) < min_length or len(value) > max_length or "\x00" in value):
        raise Problem(f"{name} must be {min_length} to {max_length} characters.", code="INVALID_FILTER")
    return value


def one_of(statement: Select, column, name: str, value: str | None, allowed) -> Select:
    """``statement`` narrowed to ``column == value`` when the ``name`` filter was given."""
    if value is None:
        return statement
    if value not in allowed:
        raise Problem(f"{name} must be one of {', '.join(allowed)}.", code="INVALID_FILTER")
    return statement.where(column == value)


def time_arg(name: str):
    """The ``name`` query parameter as an aware UTC datetime (ISO-8601 with ``Z`` or an offset)."""
    from datetime import datetime, timezone

    value = request.args.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if len(value) <= 40 else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Problem(f"{name} must be an ISO-8601 time with a time zone, e.g. 2026-11-30T00:00:00Z.",
                      code="INVALID_FILTER")
    return moment.astimezone(timezone.utc)
