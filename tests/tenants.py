"""Tenants for the contract suites (schemathesis, cross-tenant matrix, function-level authz).

Everything here goes through the gateway's own code: accounts, apps and authorizations through
the services, client-credentials tokens through ``POST /oauth2/token``, and user- or
merchant-bound tokens through the real authorization-code flow (sign-in page, consent page with
its CSRF token, PKCE S256, code exchange). Nothing writes a token row by hand.

The operations come from ``openapi/openapi.yaml``, so a new operation is covered (or makes a
test fail) without anyone editing these suites.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.oauth import scopes as scope_registry
from tests.conftest import AppCredentials
from tests.contract import spec
from tests.oauth import flows

HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
REDIRECT_URI = "https://partner.example/cb"
CONSOLE_REDIRECT_URI = "http://127.0.0.1:8766/callback"


# --- the spec's operations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    definition: dict = field(repr=False, compare=False, hash=False)
    path_parameters: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def required_scopes(self) -> tuple[str, ...]:
        """The OAuth scopes of the operation's ``oauth2`` security requirement (empty if public)."""
        scopes: list[str] = []
        for requirement in self.definition.get("security", spec().get("security", [])):
            scopes += requirement.get("oauth2", [])
        return tuple(scopes)

    @property
    def is_list(self) -> bool:
        return "x-sdk-pagination" in self.definition


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        target = spec()
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations() -> list[Operation]:
    found = []
    for path, item in spec()["paths"].items():
        shared = [_resolve(p) for p in item.get("parameters", [])]
        for method in HTTP_METHODS:
            if method not in item:
                continue
            definition = item[method]
            parameters = shared + [_resolve(p) for p in definition.get("parameters", [])]
            names = tuple(p["name"] for p in parameters if p["in"] == "path")
            found.append(Operation(method, path, definition["operationId"], definition, names))
    return found


def fill_path(operation: Operation, values: dict[str, str]) -> str:
    path = operation.path
    for name in operation.path_parameters:
        path = path.replace("{" + name + "}", values[name])
    return path


# --- the real authorization-code flow ------------------------------------------------------------


class Browser:
    """A person's browser: signs in once through the sign-in page, then consents as often as asked
    (the flow itself is ``tests.oauth.flows``, shared with the OAuth suite)."""

    def __init__(self, flask_app, username: str, password: str) -> None:
        self.flask_app = flask_app
        self._browser = flows.Browser(flask_app)
        signed_in = self._browser.sign_in(username, password, next_url="/login")
        assert signed_in.status_code == 303, signed_in.status_code
        self.client = self._browser.http
        self.csrf_token = self._browser.session_csrf()

    @property
    def session_cookie(self) -> str:
        return self.client.get_cookie("shijing_session").value

    def authorize(self, client: AppCredentials, scope: str, *, redirect_uri: str = REDIRECT_URI,
                  merchant_id: str | None = None) -> dict:
        """Consent to ``scope`` for ``client`` (choosing ``merchant_id`` on the merchant picker),
        exchange the code with PKCE S256 and return the token response."""
        request = flows.AuthorizationRequest(client, scope=scope, redirect_uri=redirect_uri)
        code = self._browser.authorize(request, merchant_id=merchant_id)
        response = flows.exchange(self.flask_app.test_client(), code)
        assert response.status_code == 200, response.get_json()
        return response.get_json()


# --- scopes and objects ------------------------------------------------------------------------


def client_credentials_scopes(client_scopes) -> list[str]:
    return scope_registry.client_credentials_scopes(client_scopes)


def merchant_grant_scopes() -> list[str]:
    """Every scope a merchant can grant (the consent page offers exactly these)."""
    return [s.name for s in scope_registry.SCOPES.values() if "merchant" in s.subjects and not s.first_party
            and "user" not in s.subjects]


def seed_webhook(flask_app, app_id: str) -> tuple[str, str, str]:
    """A webhook endpoint of the app (at a closed loopback port), and a test event with one
    delivery to it: (endpoint id, delivery id, event id)."""
    from gateway.webhooks import services

    with flask_app.app_context(), flask_app.extensions["shijing.db"].new_session() as s:
        endpoint, _ = services.create_endpoint(s, app_id, url="http://127.0.0.1:9/hooks", event_types=["*"],
                                               verify=False)
        delivery = services.send_test(s, endpoint)
        s.commit()
        return endpoint.id, delivery.id, delivery.event_id


def seed_miniprogram(flask_app, app_id: str, *, live: bool, operator_user_id: str | None = None) -> str:
    """The mini-program of ``app_id`` (an app of kind mini_program); approved when ``live``."""
    from gateway.accounts.models import User
    from gateway.apps.models import App
    from gateway.miniprograms import services

    with flask_app.app_context(), flask_app.extensions["shijing.db"].new_session() as s:
        miniprogram = services.register(s, s.get(App, app_id), {
            "name": "山城美食券", "icon_url": "https://img.example/mp-icon.png", "category": "food_and_drink",
            "entry_paths": ["pages/index/index"]})
        if live:
            services.decide(s, miniprogram, s.get(User, operator_user_id), approve=True)
        s.commit()
        return miniprogram.id


def seed_creator_content(flask_app, app_id: str, owner_user_id: str, miniprogram_id: str, *, live: bool,
                         operator_user_id: str) -> dict:
    """The owner's creator profile, authorising ``app_id`` to list and mount; a video and a live
    stream; when ``live`` (the mini-program is live) its video_mount capability and an active
    mount on the video, otherwise an ended mount (no user reaches it). Returns their ids."""
    from gateway.accounts import services as accounts
    from gateway.accounts.models import User
    from gateway.authorizations import services as authorizations
    from gateway.clock import utcnow
    from gateway.creators import services as creators
    from gateway.ids import new_id
    from gateway.miniprograms import capabilities
    from gateway.miniprograms.models import MiniProgram, Mount

    with flask_app.app_context(), flask_app.extensions["shijing.db"].new_session() as s:
        owner = s.get(User, owner_user_id)
        creator = accounts.create_creator(s, owner, f"Creator of {owner.username}")
        authorizations.grant(s, app_id=app_id, subject_type="creator", subject_id=creator.id, user_id=owner.id,
                             scopes=["video.read", "miniprogram.mount"])
        video = creators.create_video(s, creator, "探店视频")
        stream = creators.create_live_stream(s, creator, "火锅直播", None)
        ids = {"creator": creator.id, "video": video.id, "live_stream": stream.id}
        now = utcnow()
        mount = Mount(id=new_id("mount"), app_id=app_id, creator_id=creator.id, miniprogram_id=miniprogram_id,
                      target_type="video", target_id=video.id, path="pages/index/index", query="", title="卡片",
                      product_ids=[], created_at=now, activated_at=now)
        if live:
            miniprogram = s.get(MiniProgram, miniprogram_id)
            application = capabilities.apply(s, miniprogram, "video_mount", "")
            capabilities.decide(s, application, s.get(User, operator_user_id), approve=True)
            ids["application"] = application.id
            mount.status = "active"
        else:
            mount.status, mount.ended_reason, mount.ended_at = "ended", "unmounted", now
        s.add(mount)
        s.commit()
        ids["mount"] = mount.id
        return ids


# The spec's example ids (request bodies name them) -> the world's kind of object.
EXAMPLE_IDS = {
    "tag_01j9x6b2f0000000000000000": "tag",
    "seg_01j9x6b2f0000000000000000": "segment",
    "tpl_01j9x6b2f0000000000000000": "template",
    "ou_3k7xq2m5n8p4r6t9v2w5y8z3b6c9d2f5": "open_id",
    "poi_01j9x6b2f0000000000000001": "poi",
    "prd_01j9x6b2f0000000000000001": "product",
    "5203118476294821": "certificate_code",
}


def with_world_ids(body, ids: dict):
    """``body`` (a spec example) with its example ids replaced by the world's own objects (``ids``
    by kind), so an example request names real objects."""
    if isinstance(body, dict):
        return {key: with_world_ids(value, ids) for key, value in body.items()}
    if isinstance(body, list):
        return [with_world_ids(value, ids) for value in body]
    if isinstance(body, str) and body in EXAMPLE_IDS and EXAMPLE_IDS[body] in ids:
        return ids[EXAMPLE_IDS[body]]
    return body


def seed_service_account(flask_app, app_id: str, merchant_id: str, follower_user_id: str, *, live: bool) -> dict:
    """The merchant's service account (active when ``live``, else suspended: no user reaches it),
    followed by ``follower_user_id`` from a POI page, who wrote an hour ago (the reply window is
    open) and holds subscriptions to its template; a tag on the follower (``tag``) and another
    (``tag2``) defining a segment; a finished tag send. Returns their ids, and the follower's
    open_id for ``app_id`` (``open_id``)."""
    from datetime import timedelta

    from sqlalchemy import select

    from gateway.clock import utcnow
    from gateway.service_accounts import services
    from gateway.service_accounts.models import Follower, Send, Subscription

    with flask_app.app_context(), flask_app.extensions["shijing.db"].new_session() as s:
        account, _ = services.put(s, merchant_id, {"name": "山城老火锅", "avatar_url": "https://img.example/sa.png",
                                                   "description": "关注领券", "poi_ids": []})
        follower = services.follow(s, account, follower_user_id, "poi_page", None)
        services.receive_message(s, account, follower_user_id, "今晚还有位子吗？")
        s.get(Follower, follower.id).last_message_at = utcnow() - timedelta(hours=1)
        tag = services.create_tag(s, account, "老顾客")
        tag2 = services.create_tag(s, account, "附近常客")
        template = services.create_template(s, account, "新券上线提醒", [
            {"key": "voucher", "type": "thing", "label": "优惠券"}, {"key": "price", "type": "amount", "label": "价格"},
            {"key": "expires_on", "type": "date", "label": "有效期至"}])
        open_id = services.open_ids_for(s, app_id, [follower_user_id])[follower_user_id]
        services.batch_tag(s, app_id, account, tag, [open_id], [])
        services.batch_tag(s, app_id, account, tag2, [open_id], [])
        segment = services.create_segment(s, account, {"name": "常客", "tag_ids": [tag2.id]})
        s.add(Subscription(template_id=template.id, user_id=follower_user_id, remaining=1))
        s.flush()
        send = Send(service_account_id=account.id, app_id=app_id, template_id=template.id,
                             data={"voucher": "88 元火锅券", "price": 8800, "expires_on": "2026-12-31"},
                             tag_id=tag.id, status="queued", audience=1, sent=0, refused=0, created_at=utcnow())
        s.add(send)
        s.flush()
        services.run_send(s, send.id)
        s.get(Subscription, s.scalar(select(Subscription.id).where(
            Subscription.template_id == template.id))).remaining = 5
        if not live:
            account.status = "suspended"
        s.commit()
        return {"service_account": account.id, "tag": tag.id, "tag2": tag2.id, "segment": segment.id,
                "template": template.id, "send": send.id, "open_id": open_id}


def seed_orders(flask_app, app_id: str, merchant_id: str, poi_id: str, product_id: str, buyer_user_id: str) -> dict:
    """A paid order of three certificates bought by ``buyer_user_id`` at the POI (one verified, one
    waiting for a refund, one booked into a slot), its payment, and a pending order. Rows are
    written with the services' own code helpers, since A's store is not live (no user can buy
    there through the API). Returns their ids."""
    from datetime import timedelta

    from gateway.clock import utcnow
    from gateway.ids import new_id
    from gateway.orders import services as orders
    from gateway.orders.models import (
        BookingSlot,
        Certificate,
        Order,
        OrderItem,
        Payment,
        Refund,
        Verification,
    )
    from gateway.poi.models import Product

    with flask_app.app_context(), flask_app.extensions["shijing.db"].new_session() as s:
        now = utcnow()
        s.get(Product, product_id).booking_required = True  # so its POI publishes booking slots
        order = Order(id=new_id("order"), merchant_id=merchant_id, poi_id=poi_id, user_id=buyer_user_id,
                      channel="poi_page", status="refunding", total_amount=3 * 8800, platform_commission=528,
                      created_at=now, expires_at=now + timedelta(minutes=15), paid_at=now, updated_at=now)
        unpaid = Order(id=new_id("order"), merchant_id=merchant_id, poi_id=poi_id, user_id=buyer_user_id,
                       channel="poi_page", status="pending_payment", total_amount=8800, created_at=now,
                       expires_at=now + timedelta(days=365), updated_at=now)
        s.add_all([order, unpaid])
        s.flush()
        item = OrderItem(id=new_id("order_item"), order_id=order.id, position=0, product_id=product_id,
                         product_type="voucher", title="100 元代金券", unit_price=8800, quantity=3, amount=26400)
        s.add_all([item, OrderItem(id=new_id("order_item"), order_id=unpaid.id, position=0, product_id=product_id,
                                   product_type="voucher", title="100 元代金券", unit_price=8800, quantity=1,
                                   amount=8800)])
        s.add_all([Payment(id=new_id("payment"), order_id=order.id, provider="simulated", amount=26400,
                           status="succeeded", created_at=now, completed_at=now),
                   Payment(id=(payment_id := new_id("payment")), order_id=unpaid.id, provider="simulated",
                           amount=8800, status="pending", created_at=now)])
        slot = BookingSlot(id=new_id("booking_slot"), merchant_id=merchant_id, poi_id=poi_id, product_id=product_id,
                           starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=1), capacity=5,
                           booked=1, status="open", created_at=now)
        s.add(slot)
        s.flush()
        certificates, codes = [], []
        for _ in range(3):
            code = orders._new_code()
            codes.append(code)
            certificates.append(Certificate(
                id=new_id("certificate"), order_id=order.id, order_item_id=item.id, merchant_id=merchant_id,
                product_id=product_id, amount=8800, code_hash=orders.code_hash(code),
                code_sealed=orders._code_box().seal(code), code_hint=code[-4:], status="available", valid_from=now,
                valid_until=now + timedelta(days=180), created_at=now))
        used, pending, booked = certificates
        verification = Verification(id=new_id("verification"), merchant_id=merchant_id, poi_id=poi_id, app_id=app_id,
                                    certificate_ids=[used.id], amount=8800, verified_at=now,
                                    revocable_until=now + timedelta(days=365))
        refund = Refund(id=new_id("refund"), order_id=order.id, merchant_id=merchant_id, certificate_ids=[pending.id],
                        amount=8800, reason="计划有变", requested_at=now, decide_by=now + timedelta(days=365))
        used.status, used.verification_id, used.used_at, used.used_poi_id = "used", verification.id, now, poi_id
        pending.status, pending.refund_id = "refund_pending", refund.id
        booked.slot_id, booked.booked_at = slot.id, now
        s.add_all([*certificates, verification, refund])
        s.commit()
        return {"order": order.id, "unpaid_order": unpaid.id, "payment": payment_id, "certificate": booked.id,
                "verification": verification.id, "refund": refund.id, "booking_slot": slot.id,
                "certificate_code": codes[2]}


def first_event_id(flask_app, app_id: str) -> str:
    from sqlalchemy import select

    from gateway.events.models import Event

    with flask_app.app_context(), flask_app.extensions["shijing.db"].new_session() as s:
        event_id = s.scalar(select(Event.id).where(Event.app_id == app_id).order_by(Event.id))
    assert event_id is not None
    return event_id


# --- snapshots: build a world once, put it back before every test -------------------------------
#
# The suite empties every table after each test (tests/conftest.py). Building a world costs
# several argon2 hashes and a code flow, so the contract suites build it once per module, keep
# the rows, and re-insert them before each test: the same users, merchants, apps, grants and
# (hashed) tokens, so the tokens and the signed browser cookie work again.


def world_outlives_the_module(flask_app, hours: int = 6) -> None:
    """Give what a module-scoped world made with a lifetime — access tokens (15 minutes) and
    unpaid orders' payment windows (ORDER_PAYMENT_TTL, 15 minutes) — ``hours`` to live. The
    world is built once and every test of the module reuses it; on a loaded machine (CI runs two
    suites side by side) a long module can outrun 15 minutes, and each later request would be a
    401 or an ``ORDER_EXPIRED`` that tells nothing about the operation under test."""
    from datetime import timedelta

    from sqlalchemy import update

    from gateway.clock import utcnow
    from gateway.oauth.models import Token
    from gateway.orders.models import Order

    later = utcnow() + timedelta(hours=hours)
    with flask_app.extensions["shijing.db"].engine.begin() as connection:
        connection.execute(update(Token).values(access_expires_at=later))
        connection.execute(update(Order).where(Order.status == "pending_payment").values(expires_at=later))


def snapshot_rows(flask_app) -> list[tuple[object, list[dict]]]:
    from gateway.models import metadata

    engine = flask_app.extensions["shijing.db"].engine
    with engine.connect() as connection:
        return [(table, [dict(row._mapping) for row in connection.execute(table.select())])
                for table in metadata.sorted_tables]


def restore_rows(flask_app, rows: list[tuple[object, list[dict]]]) -> None:
    engine = flask_app.extensions["shijing.db"].engine
    with engine.begin() as connection:
        for table, _ in reversed(rows):
            connection.execute(table.delete())
        for table, values in rows:
            if values:
                connection.execute(table.insert(), values)
    flask_app.extensions["shijing.token_cache"].invalidate_all(broadcast=False)


_EXPORT_FILES: dict[str, tuple[str, bytes]] = {}  # seeded job id -> its file, to put back after a cancel


def seed_export(flask_app, app_id: str, merchant_id: str) -> dict:
    """A completed export of the merchant's orders of today for ``app_id``, written by the job
    itself, and a download token for it that lasts a day (``export_token``). Returns their ids."""
    from gateway.clock import utcnow
    from gateway.exports import services
    from gateway.exports.models import ExportJob

    today = utcnow().date().isoformat()
    with flask_app.app_context():
        database = flask_app.extensions["shijing.db"]
        with database.new_session() as s:
            job = services.create_job(s, merchant_id, app_id, {"dataset": "orders", "format": "csv",
                                                               "date_from": today, "date_to": today})
            s.info.pop("export_jobs", None)  # run here, not queued
            s.commit()
            job_id = job.id
        services.run_job(database.new_session, job_id)
        with database.new_session() as s:
            job = s.get(ExportJob, job_id)
            assert job.status == "completed", job.status
            path = services.file_path(job)
            token, _ = services.download_token(job, ttl=86400)
    _EXPORT_FILES[job_id] = (str(path), path.read_bytes())
    return {"export": job_id, "export_token": token}


def export_token(ids: dict) -> str:
    """The seeded export's download token, its file put back first (a cancel in an earlier test
    deletes it; the rows come back with ``restore_rows``, the file with this)."""
    from pathlib import Path

    path, content = _EXPORT_FILES[ids["export"]]
    if not Path(path).exists():
        Path(path).write_bytes(content)
    return ids["export_token"]
