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
    "order.read", "order.fulfil", "data.export", "openid", "profile", "public.read",
]
CONSOLE_SCOPES = ["openid", "profile", "account.authorizations", "platform.review", "platform.operate",
                  "platform.client"]
MINIPROGRAM_APP_SCOPES = ["miniprogram.manage", "miniprogram.mount", "video.read", "public.read", "events.read",
                          "webhooks.manage"]
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
        scopes=CONSOLE_SCOPES, first_party=True,
    )
    if set(CONSOLE_SCOPES) - set(console.scopes):  # a console seeded before POI review existed
        console.scopes = scope_registry.parse(scope_registry.join([*console.scopes, *CONSOLE_SCOPES]))
    authorization_ids = {}
    for merchant, owner in ((hotpot, users["hotpot-owner"]), (homestay, users["homestay-owner"])):
        authorization = authorizations.grant(
            session, app_id=partner.id, subject_type="merchant", subject_id=merchant.id,
            user_id=owner.id, scopes=MERCHANT_GRANT,
        )
        authorization_ids[merchant.id] = authorization.id
    pois = _seed_pois(session, partner, {"hotpot": hotpot, "homestay": homestay}, users["operator"])
    mini_app, mini_secret = _app(
        session, stored, "miniprogram_app",
        developer_user_id=users["meituan-dev"].id, name="Meituan-style Mini-program",
        description="The partner's mini-program: vouchers and bookings of its merchants' stores.",
        kind="mini_program", redirect_uris=[f"{issuer}/demo/callback"], scopes=MINIPROGRAM_APP_SCOPES,
    )
    miniprogram = _seed_miniprogram(session, mini_app, [p.id for p in pois if p.merchant_id == hotpot.id],
                                    users["operator"])
    # the creator lets the partner list her videos and mount its mini-program on them
    creator_authorization = authorizations.grant(
        session, app_id=partner.id, subject_type="creator", subject_id=creator.id, user_id=users["creator"].id,
        scopes=["video.read", "miniprogram.mount"])
    service_accounts = _seed_service_accounts(session, partner, {"hotpot": hotpot, "homestay": homestay}, users,
                                              pois)
    session.commit()

    stored = {
        "partner_app": {"client_id": partner.id, "client_secret": partner_secret},
        "console_app": {"client_id": console.id, "client_secret": None},
        "miniprogram_app": {"client_id": mini_app.id, "client_secret": mini_secret},
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
        "miniprogram_app": {"client_id": mini_app.id, "client_secret": mini_secret, "scopes": mini_app.scopes},
        "miniprogram": {"id": miniprogram.id, "name": miniprogram.name, "live": miniprogram.live},
        "merchants": [
            {"id": hotpot.id, "name": hotpot.name, "owner": "hotpot-owner",
             "authorization_id": authorization_ids[hotpot.id]},
            {"id": homestay.id, "name": homestay.name, "owner": "homestay-owner",
             "authorization_id": authorization_ids[homestay.id]},
        ],
        "creator": {"id": creator.id, "username": "creator", "name": creator.name,
                    "authorization_id": creator_authorization.id},
        "service_accounts": service_accounts,
        "pois": [{"id": poi.id, "external_id": poi.external_id, "name": poi.name, "merchant_id": poi.merchant_id,
                  "page_url": f"{issuer}/p/{poi.id}"} for poi in pois],
    }


def _seed_miniprogram(session, app: App, poi_ids: list[str], operator: User):
    """The partner's mini-program, live (approved by the demo operator), serving the hotpot stores."""
    from gateway.miniprograms import services as miniprograms
    from gateway.miniprograms.models import MiniProgram

    existing = session.scalar(select(MiniProgram).where(MiniProgram.app_id == app.id))
    if existing is not None:
        return existing
    from gateway.miniprograms import capabilities

    miniprogram = miniprograms.register(session, app, {
        "name": "山城美食券", "description": "重庆老火锅门店的代金券与订座", "icon_url": "https://img.example/mp-icon.png",
        "category": "food_and_drink", "service_categories": ["food"], "poi_ids": poi_ids,
        "entry_paths": ["pages/index/index", "pages/voucher/detail"]})
    miniprograms.decide(session, miniprogram, operator, approve=True)
    for capability in ("video_mount", "live_mount", "poi_mount"):
        capabilities.decide(session, capabilities.apply(session, miniprogram, capability, "demo"), operator,
                            approve=True)
    return miniprogram


# --- POIs and products, live (approved by the demo operator), and one edit waiting for review ----

_WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DEMO_POIS = {
    "hotpot": [
        ("hotpot-jiefangbei", {
            "name": "重庆老火锅（解放碑店）", "category": "food",
            "attributes": {"cuisine": "hotpot", "avg_price_per_person": 10800, "private_rooms": True},
            "address": "渝中区解放碑八一路 99 号", "province": "重庆市", "city": "重庆", "district": "渝中区",
            "lat": 29.557_834, "lng": 106.577_291, "phone": "023-6868 1001",
            "opening_hours": {"timezone": "Asia/Shanghai",
                              "weekly": [{"days": _WEEK, "open": "11:00", "close": "02:00"}],
                              "special_days": [{"date": "2026-12-31", "closed": True, "note": "跨年夜包场"}]},
        }, [
            ("hotpot-voucher-100", {"type": "voucher", "title": "100 元代金券", "price": 8800, "original_price": 10000,
                                    "stock": 500, "refund_policy": "auto_refund_on_expiry",
                                    "usage_rules": {"notes": "全场通用，不与其他优惠同享", "max_per_order": 4}}),
            ("hotpot-set-2", {"type": "set_meal", "title": "双人套餐", "price": 16800, "original_price": 19800,
                              "stock": 200, "contents": [{"name": "鸳鸯锅底", "quantity": 1, "price": 5800},
                                                         {"name": "鲜毛肚", "quantity": 1, "price": 4800},
                                                         {"name": "嫩牛肉", "quantity": 1, "price": 4200}]}),
        ]),
        ("hotpot-guanyinqiao", {
            "name": "重庆老火锅（观音桥店）", "category": "food", "attributes": {"cuisine": "hotpot"},
            "address": "江北区观音桥步行街 18 号", "province": "重庆市", "city": "重庆", "district": "江北区",
            "lat": 29.575_210, "lng": 106.531_180, "phone": "023-6868 1002",
            "opening_hours": {"weekly": [{"days": _WEEK, "open": "10:30", "close": "23:30"}]},
        }, [
            ("hotpot-voucher-50", {"type": "voucher", "title": "50 元代金券", "price": 4500, "original_price": 5000,
                                   "stock": 0}),
        ]),
    ],
    "homestay": [
        ("riverside-nanbin", {
            "name": "江畔民宿（南滨路）", "category": "homestay",
            "attributes": {"max_guests": 4, "room_count": 8, "pets_allowed": True, "check_in_time": "14:00",
                           "check_out_time": "12:00"},
            "address": "南岸区南滨路 66 号", "province": "重庆市", "city": "重庆", "district": "南岸区",
            "lat": 29.548_912, "lng": 106.582_931, "phone": "023-6262 8080",
        }, [
            ("riverside-night", {"type": "reservation", "title": "江景大床房 1 晚", "price": 39800,
                                 "original_price": 45800, "stock": 8, "booking_required": True,
                                 "refund_policy": "refundable_anytime"}),
        ]),
    ],
}
# the edit that waits for review, so the demo shows a live POI with a pending change
PENDING_EDIT = ("hotpot-jiefangbei", {"name": "重庆老火锅（解放碑旗舰店）"})


DEMO_SERVICE_ACCOUNTS = {
    "hotpot": {"name": "山城老火锅", "avatar_url": "https://img.example/demo/hotpot-avatar.png",
               "description": "重庆老火锅：关注领券，新品与到店提醒"},
    "homestay": {"name": "江畔民宿", "avatar_url": "https://img.example/demo/homestay-avatar.png",
                 "description": "江景民宿：节假日房态与专属优惠"},
}
DEMO_FANS = ("alice", "bob", "carol")  # follow from a POI page; alice and bob hold a subscription
DEMO_TEMPLATE = ("新券上线提醒", [{"key": "voucher", "type": "thing", "label": "优惠券"},
                                 {"key": "price", "type": "amount", "label": "价格（分）"},
                                 {"key": "expires_on", "type": "date", "label": "有效期至"}])


def _seed_service_accounts(session, partner: App, merchants: dict, users: dict, pois: list) -> list[dict]:
    """Each demo merchant's service account (on its POI pages), followed by alice, bob and carol
    from a POI page, a tag "常客" on alice and bob, and a voucher template alice and bob subscribed
    to. What exists is left alone (follows, tags, templates); an unused subscription is topped up to one."""
    from gateway.service_accounts import services
    from gateway.service_accounts.models import FollowerTag, Subscription, Tag, Template

    seeded = []
    for key, merchant in merchants.items():
        account = services.find(session, merchant.id)
        poi_ids = [p.id for p in pois if p.merchant_id == merchant.id]
        if account is None:
            account, _ = services.put(session, merchant.id, {**DEMO_SERVICE_ACCOUNTS[key], "poi_ids": poi_ids})
        followers = {name: services.follow(session, account, users[name].id, "poi_page", poi_ids[0] if poi_ids else None)
                     for name in DEMO_FANS}
        tag = session.scalar(select(Tag).where(Tag.service_account_id == account.id, Tag.name == "常客"))
        if tag is None:
            tag = services.create_tag(session, account, "常客")
            for name in ("alice", "bob"):
                session.add(FollowerTag(tag_id=tag.id, follower_id=followers[name].id))
        template = session.scalar(select(Template).where(Template.service_account_id == account.id,
                                                         Template.title == DEMO_TEMPLATE[0]))
        if template is None:
            template = services.create_template(session, account, *DEMO_TEMPLATE)
        for name in ("alice", "bob"):
            subscription = session.scalar(select(Subscription).where(Subscription.template_id == template.id,
                                                                     Subscription.user_id == users[name].id))
            if subscription is None:
                session.add(Subscription(template_id=template.id, user_id=users[name].id, remaining=1))
            elif subscription.remaining < 1:
                subscription.remaining = 1
        session.flush()
        seeded.append({"id": account.id, "merchant_id": merchant.id, "name": account.name, "tag_id": tag.id,
                       "template_id": template.id, "followers": list(DEMO_FANS)})
    return seeded


def _approve_pending(session, subject_type: str, subject_id: str, operator: User) -> None:
    from gateway.poi import review, services

    state = services.review_states(session, subject_type, [subject_id]).get(subject_id)
    if state and state["status"] == "pending":
        review.approve(session, review.get_submission(session, state["submission_id"]), operator)


def _seed_pois(session, partner: App, merchants: dict, operator: User) -> list:
    """Create what is missing (nothing is touched on a second run): live POIs and products of the
    demo merchants, synced by the partner app and approved by the demo operator."""
    from gateway.poi import services
    from gateway.poi.models import Poi, Product

    seeded = []
    for key, entries in DEMO_POIS.items():
        caller = services.Caller(app_id=partner.id, merchant_id=merchants[key].id)
        for external_id, body, products in entries:
            poi = session.scalar(select(Poi).where(Poi.source_app_id == partner.id, Poi.external_id == external_id))
            if poi is None:
                poi, _ = services.upsert_poi(session, caller, external_id, {**body, "confirm_not_duplicate": True})
                _approve_pending(session, "poi", poi.id, operator)
                if external_id == PENDING_EDIT[0]:
                    session.flush()
                    session.refresh(poi)
                    services.update_poi(session, caller, poi, PENDING_EDIT[1])
            seeded.append(poi)
            for product_external_id, product_body in products:
                exists = session.scalar(select(Product.id).where(Product.source_app_id == partner.id,
                                                                 Product.external_id == product_external_id))
                if exists is None:
                    product, _ = services.upsert_product(session, caller, product_external_id,
                                                         {**product_body, "poi_external_ids": [external_id]})
                    _approve_pending(session, "product", product.id, operator)
                    if product_body.get("booking_required"):
                        session.flush()
                        _seed_booking_slots(session, merchants[key].id, poi.id, product.id)
    return seeded


def _seed_booking_slots(session, merchant_id: str, poi_id: str, product_id: str) -> None:
    """A week of nightly slots (14:00 check-in, two rooms each) for a product that needs booking."""
    from datetime import datetime, time, timedelta, timezone

    from gateway.orders import bookings

    today = datetime.now(timezone.utc).date()
    for day in range(1, 8):
        starts = datetime.combine(today + timedelta(days=day), time(6, 0), tzinfo=timezone.utc)  # 14:00 in Chongqing
        bookings.create_slot(session, merchant_id, poi_id, {"product_id": product_id, "starts_at": starts,
                                                            "ends_at": starts + timedelta(hours=22), "capacity": 2})
