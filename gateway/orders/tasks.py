"""The order rules that run on the clock: unpaid orders expire, undecided refunds are approved,
expired certificates of auto-refund products are refunded, yesterday's statements are issued."""

from __future__ import annotations

from datetime import timedelta

from gateway.clock import utcnow
from gateway.db import get_db
from gateway.jobs import periodic, task
from gateway.orders import refunds, services, settlement


@task(retries=3, retry_delay=30)
def enforce_deadlines() -> dict:
    with get_db().new_session() as s:
        expired = services.expire_unpaid(s)
        s.commit()
        approved = refunds.approve_overdue(s)
        s.commit()
        auto = refunds.refund_expired(s)
        s.commit()
    return {"orders_expired": expired, "refunds_approved": approved, "expired_certificates_refunded": auto}


@periodic(minute="*")
def enforce_deadlines_periodically() -> None:
    enforce_deadlines()


@task(retries=3, retry_delay=60)
def issue_statements(day_iso: str | None = None) -> int:
    from datetime import date

    day = date.fromisoformat(day_iso) if day_iso else (utcnow() - timedelta(days=1)).date()
    with get_db().new_session() as s:
        issued = settlement.issue_for(s, day)
        s.commit()
    return issued


@periodic(hour="0", minute="10")
def issue_statements_periodically() -> None:
    issue_statements()
