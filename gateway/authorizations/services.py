"""Recording consent, and revoking it (which kills every token issued under it)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.authorizations.models import Authorization
from gateway.clock import isoformat, utcnow
from gateway.errors import NotFound
from gateway.events.services import emit
from gateway.oauth import scopes as scope_registry
from gateway.oauth.revocation import revoke_authorization_tokens


def event_data(authorization: Authorization) -> dict:
    return {
        "id": authorization.id,
        "app_id": authorization.app_id,
        "subject_type": authorization.subject_type,
        "subject_id": authorization.subject_id,
        "scopes": list(authorization.scopes),
        "status": authorization.status,
        "created_at": isoformat(authorization.created_at),
        "updated_at": isoformat(authorization.updated_at),
        "revoked_at": isoformat(authorization.revoked_at),
    }


def _merchant_of(authorization: Authorization) -> str | None:
    return authorization.subject_id if authorization.subject_type == "merchant" else None


def grant(
    session: Session, *, app_id: str, subject_type: str, subject_id: str, user_id: str, scopes: list[str]
) -> Authorization:
    """Record consent; a later consent adds scopes to the active authorization."""
    existing = session.scalar(
        select(Authorization).where(
            Authorization.app_id == app_id,
            Authorization.subject_type == subject_type,
            Authorization.subject_id == subject_id,
            Authorization.status == "active",
        )
    )
    if existing is not None:
        merged = scope_registry.parse(scope_registry.join(set(existing.scopes) | set(scopes)))
        if merged != list(existing.scopes):
            existing.scopes = merged
            existing.updated_at = utcnow()
            session.flush()
            emit(session, "authorization.updated", app_id=app_id, merchant_id=_merchant_of(existing),
                 data=event_data(existing))
        return existing
    authorization = Authorization(
        app_id=app_id,
        subject_type=subject_type,
        subject_id=subject_id,
        granted_by_user_id=user_id,
        scopes=scope_registry.parse(scope_registry.join(scopes)),
    )
    session.add(authorization)
    session.flush()
    emit(session, "authorization.granted", app_id=app_id, merchant_id=_merchant_of(authorization),
         data=event_data(authorization))
    return authorization


def revoke(session: Session, authorization: Authorization) -> Authorization:
    if authorization.status == "revoked":
        return authorization
    now = utcnow()
    authorization.status = "revoked"
    authorization.revoked_at = now
    authorization.updated_at = now
    revoke_authorization_tokens(session, authorization.id)
    session.flush()
    emit(session, "authorization.revoked", app_id=authorization.app_id,
         merchant_id=_merchant_of(authorization), data=event_data(authorization))
    return authorization


def for_app(session: Session, app_id: str, authorization_id: str) -> Authorization:
    authorization = session.get(Authorization, authorization_id)
    if authorization is None or authorization.app_id != app_id:
        raise NotFound("No such authorization.", code="AUTHORIZATION_NOT_FOUND")
    return authorization


def subjects_of_user(session: Session, user_id: str) -> list[tuple[str, str]]:
    """Every (subject_type, subject_id) a user speaks for: themself, their merchants, their creator."""
    from gateway.accounts.services import creator_of, merchants_of

    subjects = [("user", user_id)]
    subjects += [("merchant", m.id) for m in merchants_of(session, user_id)]
    creator = creator_of(session, user_id)
    if creator is not None:
        subjects.append(("creator", creator.id))
    return subjects


def for_user(session: Session, user_id: str, authorization_id: str) -> Authorization:
    authorization = session.get(Authorization, authorization_id)
    if authorization is None or (authorization.subject_type, authorization.subject_id) not in subjects_of_user(
        session, user_id
    ):
        raise NotFound("No such authorization.", code="AUTHORIZATION_NOT_FOUND")
    return authorization


def apps_granted(session: Session, merchant_id: str, scopes) -> list[str]:
    """The apps whose active authorization by the merchant grants any of ``scopes``: the ones that
    hear of what happens in that capability of the merchant's."""
    wanted = set(scopes)
    rows = session.execute(select(Authorization.app_id, Authorization.scopes).where(
        Authorization.subject_type == "merchant", Authorization.subject_id == merchant_id,
        Authorization.status == "active")).all()
    return sorted({row.app_id for row in rows if wanted & set(row.scopes or [])})
