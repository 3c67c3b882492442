"""Developer apps: registration, updates, deletion, client-secret rotation with a grace period."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.apps.models import App, AppSecret
from gateway.authorizations.models import Authorization
from gateway.clock import isoformat, utcnow
from gateway.errors import NotFound, ValidationFailed
from gateway.events.services import emit
from gateway.oauth import scopes as scope_registry
from gateway.oauth.models import Token
from gateway.security import hash_credential, new_credential, same

SECRET_PREFIX = "sjcs_"
_LOOPBACK_HOSTS = {"127.0.0.1", "[::1]", "::1", "localhost"}


def validate_redirect_uri(uri: str) -> str | None:
    """Why ``uri`` may not be registered (RFC 9700 §2.1, §4.1.3), or None if it may."""
    if len(uri) > 2000:
        return "is too long"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in uri):
        # urlsplit silently drops tabs and newlines; in a Location header they break the response
        return "must not contain spaces or control characters"
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        return "must not contain a fragment"
    if "*" in uri:
        return "must not contain wildcards"
    if not parts.scheme:
        return "must be an absolute URI"
    if parts.scheme == "https":
        if not parts.hostname:
            return "must name a host"
        return None
    if parts.scheme == "http":
        if parts.hostname in _LOOPBACK_HOSTS:
            return None  # native apps on loopback (RFC 8252 §7.3)
        return "must use https (http only for loopback)"
    # private-use scheme for native apps: reverse domain name, e.g. com.example.app:/cb
    if "." in parts.scheme and parts.scheme.islower():
        return None
    return "must use https, loopback http or a reverse-domain private scheme"


def _check(kind: str, client_type: str, redirect_uris: list[str], requested_scopes: list[str]) -> None:
    errors: dict[str, list[str]] = {}
    for index, uri in enumerate(redirect_uris):
        problem = validate_redirect_uri(uri)
        if problem:
            errors.setdefault("redirect_uris", []).append(f"[{index}] {uri!r} {problem}")
    unknown = [s for s in requested_scopes if s not in scope_registry.SCOPES]
    first_party_only = [s for s in requested_scopes if s in scope_registry.SCOPES and scope_registry.SCOPES[s].first_party]
    if unknown:
        errors.setdefault("scopes", []).append(f"unknown scopes: {', '.join(unknown)}")
    if first_party_only:
        errors.setdefault("scopes", []).append(f"reserved for the platform: {', '.join(first_party_only)}")
    if client_type == "public" and kind == "service_provider":
        errors.setdefault("client_type", []).append("a service provider must be confidential")
    if errors:
        raise ValidationFailed("The app registration is invalid; see errors.", errors=errors)


def issue_secret(session: Session, app: App) -> str:
    secret = new_credential(SECRET_PREFIX)
    session.add(AppSecret(app_id=app.id, secret_hash=hash_credential(secret), hint=secret[-4:]))
    return secret


def create_app(
    session: Session,
    *,
    developer_user_id: str,
    name: str,
    kind: str,
    redirect_uris: list[str],
    scopes: list[str],
    description: str = "",
    client_type: str = "confidential",
    first_party: bool = False,
) -> tuple[App, str | None]:
    """Register an app; returns it and its client secret (shown once; None for public apps)."""
    if not first_party:
        _check(kind, client_type, redirect_uris, scopes)
    app = App(
        developer_user_id=developer_user_id,
        name=name,
        description=description,
        kind=kind,
        client_type=client_type,
        redirect_uris=list(redirect_uris),
        scopes=scope_registry.parse(scope_registry.join(scopes)),
        first_party=first_party,
    )
    session.add(app)
    session.flush()
    secret = issue_secret(session, app) if client_type == "confidential" else None
    session.flush()
    return app, secret


def get_app(session: Session, developer_user_id: str, app_id: str) -> App:
    app = session.get(App, app_id)
    if app is None or app.status != "active" or app.developer_user_id != developer_user_id:
        raise NotFound("No such app.", code="APP_NOT_FOUND")
    return app


def list_apps_statement(developer_user_id: str):
    return select(App).where(App.developer_user_id == developer_user_id, App.status == "active")


def update_app(session: Session, app: App, changes: dict) -> App:
    _check(
        app.kind,
        app.client_type,
        changes.get("redirect_uris", app.redirect_uris),
        changes.get("scopes", app.scopes),
    )
    for field in ("name", "description", "redirect_uris"):
        if field in changes:
            setattr(app, field, changes[field])
    if "scopes" in changes:
        app.scopes = scope_registry.parse(scope_registry.join(changes["scopes"]))
    app.updated_at = utcnow()
    session.flush()
    emit(session, "app.updated", app_id=app.id, data={"app_id": app.id, "changed": sorted(changes)})
    return app


def delete_app(session: Session, app: App) -> None:
    """Soft-delete: the id is never reused; every token and authorization dies with it."""
    now = utcnow()
    app.status = "deleted"
    app.deleted_at = now
    session.execute(update(Token).where(Token.app_id == app.id, Token.revoked_at.is_(None)).values(revoked_at=now))
    session.execute(
        update(Authorization)
        .where(Authorization.app_id == app.id, Authorization.status == "active")
        .values(status="revoked", revoked_at=now, updated_at=now)
    )
    session.execute(update(AppSecret).where(AppSecret.app_id == app.id).values(expires_at=now))
    session.info.setdefault("invalidate_tokens", True)


def rotate_secret(session: Session, app: App, grace_seconds: int) -> tuple[str, AppSecret | None]:
    """Issue a new secret; live older ones expire after the grace period (both work meanwhile)."""
    if app.client_type != "confidential":
        raise ValidationFailed("A public app has no client secret.", code="PUBLIC_CLIENT")
    now = utcnow()
    until = now + timedelta(seconds=grace_seconds)
    live = session.scalars(
        select(AppSecret).where(
            AppSecret.app_id == app.id, (AppSecret.expires_at.is_(None)) | (AppSecret.expires_at > until)
        )
    ).all()
    for old in live:
        old.expires_at = until
    secret = issue_secret(session, app)
    session.flush()
    emit(
        session,
        "app.secret_rotated",
        app_id=app.id,
        data={"app_id": app.id, "new_secret_hint": secret[-4:], "old_secrets_expire_at": isoformat(until)},
    )
    return secret, until


def check_secret(session: Session, app_id: str, presented: str) -> bool:
    digest = hash_credential(presented)
    now = utcnow()
    hashes = session.scalars(
        select(AppSecret.secret_hash).where(
            AppSecret.app_id == app_id, (AppSecret.expires_at.is_(None)) | (AppSecret.expires_at > now)
        )
    ).all()
    ok = False
    for stored in hashes:  # compare against every live secret, in constant time each
        ok |= same(stored, digest)
    return ok
