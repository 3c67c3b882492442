"""Housekeeping tasks: expired codes, tokens and idempotency records are deleted."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, delete, or_

from gateway.clock import utcnow
from gateway.db import get_db
from gateway.http.models import IdempotencyRecord
from gateway.jobs import periodic, task
from gateway.miniprograms.models import LoginCode
from gateway.oauth.models import AuthorizationCode, Token


@task(retries=3, retry_delay=30)
def purge_expired() -> dict:
    config = current_app.config["SHIJING"]
    now = utcnow()
    # keep a day of history so a late code replay can still find and revoke its grant
    grace = timedelta(days=1)
    with get_db().new_session() as s:
        codes = s.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at < now - grace))
        tokens = s.execute(
            delete(Token).where(
                and_(
                    Token.access_expires_at < now - grace,
                    or_(Token.refresh_expires_at.is_(None), Token.refresh_expires_at < now - grace),
                )
            )
        )
        login_codes = s.execute(delete(LoginCode).where(LoginCode.expires_at < now - grace))
        keys = s.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.created_at < now - timedelta(seconds=config["IDEMPOTENCY_TTL"])
            )
        )
        s.commit()
    return {"codes": codes.rowcount, "tokens": tokens.rowcount, "idempotency_records": keys.rowcount,
            "miniprogram_login_codes": login_codes.rowcount}


@periodic(minute="*/15")
def purge_expired_periodically() -> None:
    purge_expired()  # no result kept: Huey would store one per run, forever
