"""Demo data a newcomer can explore at once. Seeding is idempotent: a second run changes nothing.

Client secrets are stored only as hashes, so the demo keeps the secrets it issued in
``INSTANCE_PATH/demo-credentials.json`` (mode 0600) to print them again on every run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import select

from gateway.accounts import services as accounts
from gateway.accounts.models import Creator, Merchant, User
from gateway.apps import services as apps
from gateway.apps.models import App
from gateway.authorizations import services as authorizations
from gateway.oauth import scopes as scope_registry

DEMO_PASSWORD = "shijing-demo"  # demo accounts only; printed with the rest of the demo data

PARTNER_SCOPES = [
    "apps.manage", "authorizations.read", "events.read", "webhooks.manage", "merchant.read",
    "poi.read", "poi.write", "miniprogram.manage", "miniprogram.mount", "video.read",
    "service_account.read", "service_account.crm", "service_account.message",
    "order.read", "order.fulfil", "data.export", "openid", "profile",
]
MERCHANT_GRANT = ["merchant.read", "poi.read", "poi.write", "service_account.read", "service_account.crm",
                  "service_account.message", "order.read", "order.fulfil", "data.export"]

USERS = [
    # username, display name, roles
    ("operator", "Platform Operator", {"is_operator": True}),
    ("meituan-dev", "Meituan-style Partner (developer)", {"is_developer": True}),
    ("hotpot-owner", "Chen Li, owner of Chongqing Hotpot House", {}),
    ("homestay-owner", "Wang Fang, owner of Riverside Homestay", {}),
    ("creator", "Xiao Yu (food & travel creator)", {}),
    ("alice", "Alice", {}),
    ("bob", "Bob", {}),
    ("carol", "Carol", {}),
]


def _user(session, username: str, display_name: str, roles: dict) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = accounts.create_user(session, username=username, password=DEMO_PASSWORD,
                                    display_name=display_name, **roles)
    return user


def _merchant(session, owner: User, name: str) -> Merchant:
    merchant = session.scalar(select(Merchant).where(Merchant.owner_user_id == owner.id, Merchant.name == name))
    return merchant or accounts.create_merchant(session, owner, name)


def _app(session, stored: dict, key: str, **fields) -> tuple[App, str | None]:
    app = session.get(App, stored.get(key, {}).get("client_id", "")) if stored.get(key) else None
    if app is not None and app.status == "active":
        return app, stored[key].get("client_secret")
    app, secret = apps.create_app(session, **fields)
    return app, secret


def seed(session, instance_path: str, issuer: str) -> dict:
    credentials_file = Path(instance_path) / "demo-credentials.json"
    stored = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}

    users = {name: _user(session, name, display, roles) for name, display, roles in USERS}
    hotpot = _merchant(session, users["hotpot-owner"], "Chongqing Hotpot House")
    homestay = _merchant(session, users["homestay-owner"], "Riverside Homestay")
    creator = session.scalar(select(Creator).where(Creator.user_id == users["creator"].id)) or \
        accounts.create_creator(session, users["creator"], "Xiao Yu")

    partner, partner_secret = _app(
        session, stored, "partner_app",
        developer_user_id=users["meituan-dev"].id, name="Meituan-style Partner",
        description="Service provider syncing its merchants' stores and vouchers.",
        kind="service_provider", redirect_uris=[f"{issuer}/demo/callback", "http://127.0.0.1:8765/callback"],
        scopes=PARTNER_SCOPES,
    )
    console, _ = _app(
        session, stored, "console_app",
        developer_user_id=users["operator"].id, name="Shijing Console",
        description="The platform's own console (first-party, public client).",
        kind="web_app", client_type="public", redirect_uris=["http://127.0.0.1:8766/callback"],
        scopes=["openid", "profile", "account.authorizations"], first_party=True,
    )
    authorization_ids = {}
    for merchant, owner in ((hotpot, users["hotpot-owner"]), (homestay, users["homestay-owner"])):
        authorization = authorizations.grant(
            session, app_id=partner.id, subject_type="merchant", subject_id=merchant.id,
            user_id=owner.id, scopes=MERCHANT_GRANT,
        )
        authorization_ids[merchant.id] = authorization.id
    session.commit()

    stored = {
        "partner_app": {"client_id": partner.id, "client_secret": partner_secret},
        "console_app": {"client_id": console.id, "client_secret": None},
    }
    credentials_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(stored, handle, indent=2)

    return {
        "issuer": issuer,
        "token_url": f"{issuer}/oauth2/token",
        "authorize_url": f"{issuer}/oauth2/authorize",
        "password": DEMO_PASSWORD,
        "users": {name: {"id": user.id, "username": name, "display_name": user.display_name}
                  for name, user in users.items()},
        "partner_app": {
            "client_id": partner.id,
            "client_secret": partner_secret,
            "redirect_uris": partner.redirect_uris,
            "scopes": partner.scopes,
            "client_credentials_scopes": scope_registry.client_credentials_scopes(partner.scopes),
        },
        "console_app": {"client_id": console.id, "redirect_uris": console.redirect_uris},
        "merchants": [
            {"id": hotpot.id, "name": hotpot.name, "owner": "hotpot-owner",
             "authorization_id": authorization_ids[hotpot.id]},
            {"id": homestay.id, "name": homestay.name, "owner": "homestay-owner",
             "authorization_id": authorization_ids[homestay.id]},
        ],
        "creator": {"id": creator.id, "username": "creator", "name": creator.name},
    }
