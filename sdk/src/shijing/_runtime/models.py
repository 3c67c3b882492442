"""Helpers the generated models call: date-times, unknown fields, JSON encoding.

Generated models are ``@dataclass(slots=True, kw_only=True)`` classes with generated
``from_json``/``to_json`` (no reflection at run time). Fields the SDK does not know yet are kept
in ``.extra`` so a newer gateway never breaks an older SDK; optional fields absent from a response
are ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from .types import OMIT

T = TypeVar("T")
_EMPTY: dict[str, Any] = {}


def parse_datetime(value: str) -> datetime:
    """ISO-8601 with ``Z`` or an offset, as an aware datetime."""
    return datetime.fromisoformat(value)


def format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def optional(convert: Callable[[Any], T], value: Any) -> T | None:
    return None if value is None else convert(value)


def extra_fields(data: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The keys of ``data`` the model does not declare (usually none: a cheap subset test)."""
    if data.keys() <= known:
        return {}
    return {k: v for k, v in data.items() if k not in known}


def to_jsonable(value: Any) -> Any:
    """Encode a request value: models via ``to_json``, date-times as ISO-8601 ``Z``."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    to_json = getattr(value, "to_json", None)
    if to_json is not None:
        return to_json()
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items() if v is not OMIT}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value
