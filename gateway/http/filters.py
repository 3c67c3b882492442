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
