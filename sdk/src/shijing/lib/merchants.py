"""Walking the merchants that authorised this app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._generated.client import Client


def authorised_merchants(client: Client, *, scope: str | None = None,
                         page_size: int = 100) -> Iterator[tuple[Any, Any]]:
    """Yield ``(authorization, merchant)`` for every merchant whose active authorization of
    this app grants ``scope`` (any scope when None), fetching pages and profiles as needed."""
    for authorization in client.authorizations.list(status="active", subject_type="merchant", limit=page_size):
        if scope is not None and scope not in authorization.scopes:
            continue
        yield authorization, client.merchants.get(authorization.subject_id)
