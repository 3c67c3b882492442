"""List filters from the query string: an unknown value is a 400 ``INVALID_FILTER`` naming the
allowed ones, never an empty page that looks like "nothing there"."""

from __future__ import annotations

from sqlalchemy import Select

from gateway.errors import Problem


def one_of(statement: Select, column, name: str, value: str | None, allowed) -> Select:
    """``statement`` narrowed to ``column == value`` when the ``name`` filter was given."""
    if value is None:
        return statement
    if value not in allowed:
        raise Problem(f"{name} must be one of {', '.join(allowed)}.", code="INVALID_FILTER")
    return statement.where(column == value)
