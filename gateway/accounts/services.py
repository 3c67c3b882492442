"""Users, merchants and creators; password sign-in."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.accounts.models import Creator, Merchant, User
from gateway.errors import Conflict, Forbidden
from gateway.security import DUMMY_PASSWORD_HASH, hash_password, verify_password


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    display_name: str | None = None,
    email: str | None = None,
    is_operator: bool = False,
    is_developer: bool = False,
) -> User:
    if session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"The username '{username}' is taken.", code="USERNAME_TAKEN")
    user = User(
        username=username,
        display_name=display_name or username,
        email=email,
        password_hash=hash_password(password),
        is_operator=is_operator,
        is_developer=is_developer,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = None
    if "\x00" not in username:  # no username holds one, and PostgreSQL refuses it in a query (a 500)
        user = session.scalar(select(User).where(User.username == username))
    if user is None:
        verify_password(DUMMY_PASSWORD_HASH, password)  # same cost as a real check
        return None
    return user if verify_password(user.password_hash, password) else None


def create_merchant(session: Session, owner: User, name: str) -> Merchant:
    merchant = Merchant(owner_user_id=owner.id, name=name)
    session.add(merchant)
    session.flush()
    return merchant


def create_creator(session: Session, user: User, name: str) -> Creator:
    creator = Creator(user_id=user.id, name=name)
    session.add(creator)
    session.flush()
    return creator


def merchants_of(session: Session, user_id: str) -> list[Merchant]:
    return list(
        session.scalars(select(Merchant).where(Merchant.owner_user_id == user_id).order_by(Merchant.id))
    )


def creator_of(session: Session, user_id: str) -> Creator | None:
    return session.scalar(select(Creator).where(Creator.user_id == user_id))


def require_operator(session: Session, token, doing: str) -> User:
    """The token's person must be a platform operator: a first-party scope alone is not enough.
    ``doing`` completes "Only platform operators …" in the refusal."""
    user = session.get(User, token.user_id) if token.user_id else None
    if user is None or not user.is_operator:
        raise Forbidden(f"Only platform operators {doing}.", code="OPERATOR_REQUIRED")
    return user
