"""Revoking tokens: one token, a grant family, or everything behind an authorization.

Each function only marks rows; ``session.info["invalidate_tokens"]`` asks the unit of work to
drop cached lookups once the transaction commits (see ``gateway.create_app``).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from gateway.clock import utcnow
from gateway.oauth.models import Token


def _revoke(session: Session, *conditions) -> int:
    result = session.execute(
        update(Token).where(Token.revoked_at.is_(None), *conditions).values(revoked_at=utcnow())
    )
    session.info["invalidate_tokens"] = True
    return result.rowcount


def revoke_token_row(session: Session, token_id: str) -> int:
    return _revoke(session, Token.id == token_id)


def revoke_grant(session: Session, grant_id: str) -> int:
    return _revoke(session, Token.grant_id == grant_id)


def revoke_authorization_tokens(session: Session, authorization_id: str) -> int:
    return _revoke(session, Token.authorization_id == authorization_id)
