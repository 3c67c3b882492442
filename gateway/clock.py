"""The one source of "now" (UTC), so tests can move time and every timestamp agrees."""

from datetime import datetime, timezone


def utcnow() -> datetime:
    now = datetime.now(timezone.utc)
    # Millisecond precision: what we store is what we print and what a cursor compares.
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def isoformat(moment: datetime | None) -> str | None:
    """UTC ISO-8601 with millisecond precision and a ``Z`` suffix."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
