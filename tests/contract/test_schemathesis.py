"""schemathesis over every operation of ``openapi/openapi.yaml``, in-process against the WSGI app.

Goal (issue #2 §4, SECURITY G2): no input gives a 500, and every response matches the contract
(status, media type, body schema, headers); invalid input is rejected with a 4xx.

- Every operation is a test item (schemathesis parametrizes over the spec), with the phases
  examples, coverage and fuzzing in positive and negative mode, a fixed seed and a bounded
  number of fuzzing examples; ``test_stateful_workflows`` chains calls along the links
  schemathesis infers (an id from a list feeds the next call).
- Checks at every response: not_a_server_error, status_code_conformance,
  content_type_conformance, response_schema_conformance, response_headers_conformance and
  negative_data_rejection (``UNSOUND`` lists the one place it is left out, with the reason).
- Each item starts from the same world, built once and put back before every item: merchant A
  authorised the partner app, whose client-credentials token holds every scope it may; a
  first-party console token (real code flow) serves the user-only operations; ``clientBasic``
  operations get the partner's secret. An item fails if none of its requests succeeded, so
  credentials that stopped working cannot pass as "all 401, all documented".
- Path parameters name real objects half of the time (merchant A, a sibling app, an
  authorization, an event), so calls reach the handlers instead of all ending in 404.
  Objects an operation may destroy (the sibling app, an authorization) are recreated after every
  call that may have changed them (``_may_have_changed_the_world``), so one example never starves
  the next.
- The form endpoints (sign-in, sign-out, consent) get a signed-in browser session and its CSRF
  token half of the time, so their success paths run too.
- PostgreSQL refuses NUL in text (a 500 if it reaches a query); ``nul_guard`` makes SQLite refuse
  it too, so both runs find such inputs.
"""
from __future__ import annotations

import base64
import copy
import dataclasses
import zlib
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import delete, event, select

from gateway.demo import PARTNER_SCOPES
from tests.conftest import Factory
from tests.contract import spec
from tests.poi.api_world import seed_store
from tests.tenants import (
    CONSOLE_REDIRECT_URI,
    REDIRECT_URI,
    Browser,
    client_credentials_scopes,
    first_event_id,
    merchant_grant_scopes,
    operations,
    restore_rows,
    seed_miniprogram,
    seed_service_account,
    snapshot_rows,
    world_outlives_the_module,
    with_world_ids,
)

SEED = 20261122
MAX_EXAMPLES = 40
STATEFUL_SCENARIOS = 20

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # no example database: every run replays exactly what the seed generates
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True},
        },
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "operations": [
            {
                # RFC 6749 §4.1.2.1: once client and redirect URI are valid, a bad request goes
                # back to the client as a redirect with `error`; a visitor who is not signed in
                # is sent to the sign-in page (302/303) before the request is looked at.
                "include-operation-id": ["oauth_authorize_page", "oauth_authorize"],
                "checks": {"negative_data_rejection": {"expected-statuses": ["302", "303", "4XX"]}},
            },
        ],
    }
)

schema = schemathesis.openapi.from_dict(copy.deepcopy(spec()), config=CONFIG)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]

BROWSER_OPERATIONS = {"accounts_login_page", "accounts_login", "accounts_logout", "oauth_authorize_page",
                      "oauth_authorize"}
TOKEN_BODY_OPERATIONS = {"oauth_revoke", "oauth_introspect"}
WEBHOOK_URL_OPERATIONS = {"webhooks_create_endpoint", "webhooks_update_endpoint"}
CC_SCOPES = set(client_credentials_scopes(PARTNER_SCOPES))
CONSOLE_SCOPES = "openid profile account.authorizations platform.review platform.operate platform.client"


def test_every_operation_is_collected():
    """schemathesis parametrizes over the same operations the spec lists: none filtered out."""
    labels = {op.label for op in operations()}
    collected = {result.ok().label for result in schema.get_all_operations()}
    assert collected == labels


@dataclass
class World:
    flask_app: object
    factory: object
    owner: object
    merchant_a: object
    merchant_v: object
    developer: object
    partner: object
    console: object
    partner_token: str
    console_token: str
    event_id: str
    poi_id: str = ""
    product_id: str = ""
    submission_id: str = ""
    browser_cookie: str = ""
    csrf_token: str = ""
    victim_app_id: str = ""
    victim_authorization_id: str = ""
    receiver_url: str = ""  # a local partner receiver that answers the webhook URL challenge
    endpoint_id: str = ""
    delivery_id: str = ""
    miniprogram_id: str = ""
    creator_id: str = ""
    live_stream_id: str = ""
    video_id: str = ""  # carries the active mount
    spare_video_id: str = ""  # carries none: where a new mount can go
    mount_id: str = ""  # active
    pending_mount_id: str = ""  # waiting for review
    application_id: str = ""  # pending
    service_account: dict = dataclasses.field(default_factory=dict)  # merchant A's, by kind
    # orders: the owner (the console token's user) buys at merchant A's store
    spa_product_id: str = ""  # live, needs booking
    pending_order_id: str = ""  # unpaid
    payment_id: str = ""  # pending, of the unpaid order
    paid_order_id: str = ""  # paid, with a certificate still to use
    code: str = ""  # of that certificate
    certificate_id: str = ""  # a paid spa certificate still to use, not booked
    booked_certificate_id: str = ""  # a paid spa certificate with a booking
    slot_id: str = ""  # open, three hours ahead, for the spa product
    verification_id: str = ""  # revocable
    refund_id: str = ""  # pending
    # exports: a completed export of merchant A's orders by the partner, and its download token
    export: dict = dataclasses.field(default_factory=dict)
    successes: int = 0
    disturbed: bool = False  # the harness itself removed something (without_miniprogram)

    def replenish(self) -> None:
        """(Re)create the objects an operation may destroy: a sibling app and an authorization."""
        from gateway.apps.models import App
        from gateway.authorizations.models import Authorization

        with self.flask_app.app_context(), self.flask_app.extensions["shijing.db"].new_session() as s:
            app = s.get(App, self.victim_app_id) if self.victim_app_id else None
            authorization = s.get(Authorization, self.victim_authorization_id) if self.victim_authorization_id else None
            app_alive = app is not None and app.status == "active"
            authorization_alive = authorization is not None and authorization.status == "active"
        if not app_alive:
            self.victim_app_id = self.factory.app_client(developer=self.developer, redirect_uris=[REDIRECT_URI]).id
        if not authorization_alive:
            self.victim_authorization_id = self.factory.authorize(self.partner, self.merchant_v, ["merchant.read"])
        self._replenish_webhook()
        self._replenish_miniprogram()
        self._replenish_creator()
        self._replenish_service_account()
        self._replenish_orders()
        self._replenish_export()

    def _replenish_export(self) -> None:
        from gateway.exports.models import ExportJob
        from tests.tenants import export_token, seed_export

        with self.flask_app.app_context(), self.flask_app.extensions["shijing.db"].new_session() as s:
            job = s.get(ExportJob, self.export["export"]) if self.export else None
            alive = job is not None and job.status == "completed"
        if not alive:
            self.export = seed_export(self.flask_app, self.partner.id, self.merchant_a.id)
        export_token(self.export)  # its file back, if a cancel deleted it

    def export_values(self, operation_id: str) -> dict:
        """A range and dataset that fit every filter: random days are mostly an invalid range."""
        if operation_id == "exports_create":
            return {"dataset": "orders", "date_from": "2026-11-01", "date_to": "2026-11-07"}
        if operation_id == "datasets_get_stats":
            return {"date_from": "2026-11-01", "date_to": "2026-11-07"}
        return {}

    def _replenish_service_account(self) -> None:
        """Merchant A's service account, followed by its owner (the console's user), who wrote an
        hour ago and holds subscriptions to its template; a tag on them, a segment, a finished send."""
        from datetime import timedelta

        from gateway.clock import utcnow
        from gateway.service_accounts import services
        from gateway.service_accounts.models import (
            Follower,
            Segment,
            Send,
            ServiceAccount,
            Subscription,
            Tag,
        )

        ids = self.service_account
        with self.flask_app.app_context(), self.flask_app.extensions["shijing.db"].new_session() as s:
            account = s.get(ServiceAccount, ids["service_account"]) if ids else None
            if account is None:
                s.close()
                self.service_account = seed_service_account(self.flask_app, self.partner.id, self.merchant_a.id,
                                                            self.owner.id, live=True)
                return
            follower = s.scalar(select(Follower).where(Follower.service_account_id == account.id,
                                                                Follower.user_id == self.owner.id))
            follower.status, follower.blocked_at = "following", None
            follower.last_message_at = utcnow() - timedelta(hours=1)
            subscription = s.scalar(select(Subscription).where(
                Subscription.template_id == ids["template"], Subscription.user_id == self.owner.id))
            subscription.remaining = 5
            if s.get(Tag, ids["tag"]) is None:
                ids["tag"] = services.create_tag(s, account, f"tag {utcnow().timestamp()}").id
                services.batch_tag(s, self.partner.id, account, s.get(Tag, ids["tag"]), [ids["open_id"]], [])
            assert s.get(Segment, ids["segment"]) is not None and s.get(Send, ids["send"]) is not None
            s.commit()

    def service_account_values(self) -> dict:
        ids = self.service_account
        return {"open_id": ids["open_id"], "template_id": ids["template"], "tag_id": ids["tag"],
                "tag_ids": [ids["tag"]], "add": [ids["open_id"]], "remove": []}

    def _replenish_orders(self) -> None:
        """Orders of the owner at merchant A's store in every state an operation acts on."""
        from datetime import timedelta

        from gateway.clock import utcnow
        from gateway.orders import bookings, fulfilment, refunds
        from gateway.orders import services as orders
        from gateway.orders.models import (
            BookingSlot,
            Certificate,
            Order,
            Payment,
            Refund,
            Verification,
        )
        from gateway.poi import review
        from gateway.poi import services as poi
        from tests.poi.api_world import voucher

        with self.flask_app.app_context(), self.flask_app.extensions["shijing.db"].new_session() as s:
            if not self.spa_product_id:
                caller = poi.Caller(app_id=self.partner.id, merchant_id=self.merchant_a.id)
                spa, _ = poi.upsert_product(s, caller, "spa-4001", voucher(
                    title="足疗 90 分钟", booking_required=True, poi_external_ids=["store-1001"]))
                state = poi.review_states(s, "product", [spa.id])[spa.id]
                review.approve(s, review.get_submission(s, state["submission_id"]), s.get(type(self.owner), self.owner.id))
                self.spa_product_id = spa.id
                s.commit()

            def paid(product_id: str, quantity: int = 1) -> Order:
                order = orders.place_order(s, self.owner.id, {"poi_id": self.poi_id, "channel": "poi_page", "items": [
                    {"product_id": product_id, "quantity": quantity}]})
                s.flush()
                payment, _ = orders.start_payment(s, order)
                s.flush()
                orders.apply_callback(s, {"payment_id": payment.id, "status": "succeeded", "amount": payment.amount,
                                          "provider_transaction_id": "world"})
                s.flush()
                return order

            def certificates(order_id: str) -> list:
                return s.scalars(select(Certificate).where(Certificate.order_id == order_id,
                                                           Certificate.status == "available")).all()

            payment = s.get(Payment, self.payment_id) if self.payment_id else None
            if payment is None or payment.status != "pending" or s.get(Order, payment.order_id).status != "pending_payment":
                order = orders.place_order(s, self.owner.id, {"poi_id": self.poi_id, "channel": "poi_page", "items": [
                    {"product_id": self.product_id, "quantity": 1}]})
                s.flush()
                self.pending_order_id, self.payment_id = order.id, orders.start_payment(s, order)[0].id
            if not self.paid_order_id or len(certificates(self.paid_order_id)) < 2:
                self.paid_order_id = paid(self.product_id, 3).id
            self.code = orders._code_box().open(certificates(self.paid_order_id)[0].code_sealed)
            slot = s.get(BookingSlot, self.slot_id) if self.slot_id else None
            if slot is None or slot.status != "open" or slot.booked >= slot.capacity - 2:
                now = utcnow()
                self.slot_id = bookings.create_slot(s, self.merchant_a.id, self.poi_id, {
                    "product_id": self.spa_product_id, "starts_at": now + timedelta(hours=3),
                    "ends_at": now + timedelta(hours=4), "capacity": 50}).id
                s.flush()
            certificate = s.get(Certificate, self.certificate_id) if self.certificate_id else None
            if certificate is None or certificate.status != "available" or certificate.slot_id:
                self.certificate_id = certificates(paid(self.spa_product_id).id)[0].id
            booked = s.get(Certificate, self.booked_certificate_id) if self.booked_certificate_id else None
            if booked is None or booked.status != "available" or not booked.slot_id:
                booked = certificates(paid(self.spa_product_id).id)[0]
                bookings.book(s, booked, self.slot_id)
                self.booked_certificate_id = booked.id
            verification = s.get(Verification, self.verification_id) if self.verification_id else None
            if verification is None or verification.status != "verified":
                order = paid(self.product_id)
                code = orders._code_box().open(certificates(order.id)[0].code_sealed)
                self.verification_id = fulfilment.verify(s, self.merchant_a.id, self.partner.id, {
                    "poi_id": self.poi_id, "codes": [code]})["id"]
            refund = s.get(Refund, self.refund_id) if self.refund_id else None
            if refund is None or refund.status != "pending":
                order = paid(self.product_id)
                self.refund_id = refunds.request_refund(s, order, {"reason": "world"}).id
            s.commit()

    def order_values(self, operation_id: str) -> dict:
        """Request bodies naming the world's own objects (for about half of the generated ones)."""
        from datetime import timedelta

        from gateway.clock import isoformat, utcnow

        if operation_id == "shopping_place_order":
            return {"poi_id": self.poi_id, "items": [{"product_id": self.product_id, "quantity": 1}]}
        if operation_id in ("verifications_create", "verifications_preview"):
            return {"poi_id": self.poi_id, "codes": [self.code]}
        if operation_id == "shopping_book_slot":
            return {"slot_id": self.slot_id}
        if operation_id == "booking_slots_create":
            return {"product_id": self.spa_product_id, "starts_at": isoformat(utcnow() + timedelta(hours=5)),
                    "ends_at": isoformat(utcnow() + timedelta(hours=6))}
        return {}

    def _replenish_creator(self) -> None:
        """The owner as a creator who authorised the partner: a scheduled live stream, an active
        mount on a video, one waiting for review, a spare video; the partner's mini-program holds
        video_mount and has a pending poi_mount application (live_mount is left to apply for)."""
        from gateway.accounts import services as accounts
        from gateway.accounts.models import Creator
        from gateway.authorizations import services as authorizations
        from gateway.clock import utcnow
        from gateway.creators import services as creators
        from gateway.creators.models import LiveStream, Video
        from gateway.ids import new_id
        from gateway.miniprograms import capabilities
        from gateway.miniprograms.models import CapabilityApplication, MiniProgram, Mount

        with self.flask_app.app_context(), self.flask_app.extensions["shijing.db"].new_session() as s:
            owner = s.get(type(self.owner), self.owner.id)
            creator = s.scalar(select(Creator).where(Creator.user_id == owner.id))
            if creator is None:
                creator = accounts.create_creator(s, owner, "World creator")
                authorizations.grant(s, app_id=self.partner.id, subject_type="creator", subject_id=creator.id,
                                     user_id=owner.id, scopes=["video.read", "miniprogram.mount"])
            self.creator_id = creator.id
            stream = s.get(LiveStream, self.live_stream_id) if self.live_stream_id else None
            if stream is None or stream.status != "scheduled":
                self.live_stream_id = creators.create_live_stream(s, creator, "直播", None).id
            miniprogram = s.get(MiniProgram, self.miniprogram_id)
            s.execute(delete(CapabilityApplication).where(
                CapabilityApplication.miniprogram_id == miniprogram.id, CapabilityApplication.capability == "live_mount"))
            if not capabilities.holds(s, miniprogram.id, "video_mount"):
                capabilities.decide(s, capabilities.apply(s, miniprogram, "video_mount", ""), owner, approve=True)
            application = s.get(CapabilityApplication, self.application_id) if self.application_id else None
            if application is None or application.status != "pending":
                s.execute(delete(CapabilityApplication).where(
                    CapabilityApplication.miniprogram_id == miniprogram.id,
                    CapabilityApplication.capability == "poi_mount"))
                self.application_id = capabilities.apply(s, miniprogram, "poi_mount", "").id

            def mount_on_new_video(status: str) -> tuple[str, str]:
                video = creators.create_video(s, creator, "视频")
                mount = Mount(id=new_id("mount"), app_id=self.partner.id, creator_id=creator.id,
                              miniprogram_id=miniprogram.id, target_type="video", target_id=video.id,
                              path="pages/index/index", query="", title="卡片", product_ids=[], status=status,
                              created_at=utcnow(), activated_at=utcnow() if status == "active" else None)
                s.add(mount)
                return video.id, mount.id

            active = s.get(Mount, self.mount_id) if self.mount_id else None
            if active is None or active.status != "active":
                self.video_id, self.mount_id = mount_on_new_video("active")
            pending = s.get(Mount, self.pending_mount_id) if self.pending_mount_id else None
            if pending is None or pending.status != "pending_review":
                _, self.pending_mount_id = mount_on_new_video("pending_review")
            spare = s.get(Video, self.spare_video_id) if self.spare_video_id else None
            if spare is None or s.scalar(select(Mount.id).where(Mount.target_id == spare.id,
                                                                Mount.status.in_(("active", "pending_review")))):
                self.spare_video_id = creators.create_video(s, creator, "空视频").id
            s.commit()

    def mount_values(self) -> dict[str, str]:
        return {"target_type": "video", "target_id": self.spare_video_id, "miniprogram_id": self.miniprogram_id,
                "path": "pages/index/index"}

    def _replenish_miniprogram(self) -> None:
        """The partner's live mini-program, with an edit waiting for review (so both the login
        and the review operations have something to act on)."""
        from gateway.miniprograms import services
        from gateway.miniprograms.models import MiniProgram

        with self.flask_app.app_context(), self.flask_app.extensions["shijing.db"].new_session() as s:
            miniprogram = s.scalar(select(MiniProgram).where(MiniProgram.app_id == self.partner.id))
            if miniprogram is None:
                s.close()
                self.miniprogram_id = seed_miniprogram(self.flask_app, self.partner.id, live=True,
                                                       operator_user_id=self.owner.id)
                return self._replenish_miniprogram()
            self.miniprogram_id = miniprogram.id
            if not miniprogram.live:
                services.decide(s, miniprogram, s.get(type(self.owner), self.owner.id), approve=True)
            if miniprogram.review_status != "pending":
                services.edit(s, miniprogram, {"description": f"edit {miniprogram.updated_at.timestamp()}"})
            s.commit()

    def without_miniprogram(self) -> None:
        """Before a registration: the partner's app has none (one per app)."""
        from gateway.miniprograms.models import (
            CapabilityApplication,
            LoginCode,
            MiniProgram,
            Mount,
            MountEvent,
        )

        with self.flask_app.app_context(), self.flask_app.extensions["shijing.db"].new_session() as s:
            mine = select(Mount.id).where(Mount.miniprogram_id == self.miniprogram_id)
            s.execute(delete(MountEvent).where(MountEvent.mount_id.in_(mine)))
            for model in (Mount, CapabilityApplication, LoginCode):
                s.execute(delete(model).where(model.miniprogram_id == self.miniprogram_id))
            s.execute(delete(MiniProgram).where(MiniProgram.app_id == self.partner.id))
            s.commit()
        self.disturbed = True

    def fresh_login_code(self) -> str:
        from gateway.miniprograms import services

        with self.flask_app.app_context(), self.flask_app.extensions["shijing.db"].new_session() as s:
            code, _ = services.issue_login_code(s, self.miniprogram_id, self.owner.id)
            s.commit()
            return code

    def _replenish_webhook(self) -> None:
        """An enabled endpoint at the local receiver, and a finished delivery to it."""
        from gateway.webhooks import services
        from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint

        with self.flask_app.app_context(), self.flask_app.extensions["shijing.db"].new_session() as s:
            endpoint = s.get(WebhookEndpoint, self.endpoint_id) if self.endpoint_id else None
            if endpoint is None or endpoint.status == "deleted":
                endpoint, _ = services.create_endpoint(s, self.partner.id, url=self.receiver_url + "/hooks",
                                                       event_types=["*"], verify=False)
                self.endpoint_id, self.delivery_id = endpoint.id, ""
            elif endpoint.status == "disabled":
                services.update_endpoint(s, endpoint, {"status": "enabled"})
            if endpoint.url != self.receiver_url + "/hooks":
                endpoint.url = self.receiver_url + "/hooks"
            delivery = s.get(WebhookDelivery, self.delivery_id) if self.delivery_id else None
            s.commit()
            if delivery is None or delivery.endpoint_id != endpoint.id:
                self.delivery_id = services.send_test(s, endpoint).id
                s.commit()  # delivered inline (immediate jobs): a finished delivery to redeliver

    def payment_amount(self) -> int:
        from gateway.orders.models import Payment

        with self.flask_app.app_context(), self.flask_app.extensions["shijing.db"].new_session() as s:
            return s.get(Payment, self.payment_id).amount

    def fresh_token(self) -> str:
        return self.factory.token(self.partner, "merchant.read")

    def query_values(self) -> dict[str, str]:
        return {"client_id": self.partner.id, "redirect_uri": REDIRECT_URI}

    def form_values(self) -> dict[str, str]:
        return {"merchant_id": self.merchant_a.id, "decision": "allow", "next": "/login", "return_to": "/login"}

    def path_values_for(self, operation_id: str) -> dict[str, str]:
        values = self.path_values()
        if operation_id.startswith("review_"):
            values["mount_id"] = self.pending_mount_id  # operators decide mounts waiting for review
        if operation_id in ("shopping_cancel_order", "shopping_start_payment"):
            values["order_id"] = self.pending_order_id
        if operation_id == "shopping_cancel_booking":
            values["certificate_id"] = self.booked_certificate_id
        return values

    def path_values(self) -> dict[str, str]:
        return {
            "merchant_id": self.merchant_a.id,
            "app_id": self.victim_app_id,
            "authorization_id": self.victim_authorization_id,
            "event_id": self.event_id,
            "filename": "site.css",
            "poi_id": self.poi_id,
            "product_id": self.product_id,
            "submission_id": self.submission_id,
            "external_id": "store-1001",
            "endpoint_id": self.endpoint_id,
            "miniprogram_id": self.miniprogram_id,
            "creator_id": self.creator_id,
            "video_id": self.video_id,
            "live_stream_id": self.live_stream_id,
            "mount_id": self.mount_id,
            "application_id": self.application_id,
            "delivery_id": self.delivery_id,
            "service_account_id": self.service_account["service_account"],
            "tag_id": self.service_account["tag"],
            "segment_id": self.service_account["segment"],
            "template_id": self.service_account["template"],
            "send_id": self.service_account["send"],
            "order_id": self.paid_order_id,
            "payment_id": self.payment_id,
            "certificate_id": self.certificate_id,
            "verification_id": self.verification_id,
            "refund_id": self.refund_id,
            "slot_id": self.slot_id,
            "date": "2026-01-01",
            "provider": "simulated",
            "dataset": "orders",
            "export_id": self.export["export"],
            "token": self.export["export_token"],
        }

    def body_values(self) -> dict[str, str]:
        return {"url": self.receiver_url + "/hooks"}


class ProviderSigning:
    """The simulated payment provider in front of the gateway: it signs each callback body it
    forwards with its secret (Standard Webhooks), as the real provider would sign what it sends."""

    def __init__(self, flask_app) -> None:
        self.flask_app = flask_app

    def __call__(self, environ, start_response):
        import io
        import time as clock

        from gateway.orders.payments import SimulatedProvider
        from gateway.webhooks.signing import signature

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        secret = SimulatedProvider(self.flask_app.config["SECRET_KEY"]).secret
        now = int(clock.time())
        environ.update({"wsgi.input": io.BytesIO(body), "HTTP_WEBHOOK_ID": "msg_schemathesis",
                        "HTTP_WEBHOOK_TIMESTAMP": str(now),
                        "HTTP_WEBHOOK_SIGNATURE": signature(secret, "msg_schemathesis", now, body)})
        return self.flask_app(environ, start_response)


def _refuse_nul(conn, cursor, statement, parameters, context, executemany):
    """PostgreSQL refuses NUL in text; SQLite stores it. Refuse it here too, so the SQLite run finds
    the inputs that would be a 500 on PostgreSQL."""
    rows = parameters if executemany else [parameters]
    for row in rows:
        values = row.values() if isinstance(row, dict) else row
        if any(isinstance(v, str) and "\x00" in v for v in values):
            raise ValueError("NUL in a query parameter (PostgreSQL refuses it)")


@pytest.fixture
def nul_guard(app):
    engine = app.extensions["shijing.db"].engine
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    yield
    event.remove(engine, "before_cursor_execute", _refuse_nul)


@pytest.fixture(scope="module")
def webhook_receiver():
    from tests.webhooks.conftest import PartnerReceiver

    with PartnerReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def world_template(app, webhook_receiver):
    """Built once (argon2 hashes, a code flow, a sign-in); its rows are put back before each test."""
    factory = Factory(app)
    owner = factory.user(operator=True)  # also the operator who reviews through the console
    merchant_a = factory.merchant(owner)
    merchant_v = factory.merchant(owner)
    developer = factory.user(developer=True)
    # kind mini_program: the partner also runs its mini-program (the kind only gates registering one)
    partner = factory.app_client(scopes=PARTNER_SCOPES, developer=developer, redirect_uris=[REDIRECT_URI],
                                 kind="mini_program")
    factory.authorize(partner, merchant_a, merchant_grant_scopes())
    console = factory.app_client(
        scopes=CONSOLE_SCOPES.split(), kind="web_app", client_type="public",
        redirect_uris=[CONSOLE_REDIRECT_URI], first_party=True, developer=developer,
    )
    browser = Browser(app, owner.username, factory.password)  # merchant A's owner, signed in
    console_token = browser.authorize(console, CONSOLE_SCOPES, redirect_uri=CONSOLE_REDIRECT_URI)["access_token"]
    w = World(app, factory, owner, merchant_a, merchant_v, developer, partner, console,
              factory.token(partner), console_token, first_event_id(app, partner.id),
              browser_cookie=browser.session_cookie, csrf_token=browser.csrf_token,
              receiver_url=webhook_receiver.url)
    # merchant A's live store (with an edit pending review) and voucher: the spec examples' objects
    w.poi_id, w.product_id, w.submission_id = seed_store(app, partner, merchant_a.id, live=True,
                                                         operator_user_id=owner.id)
    w.replenish()
    world_outlives_the_module(app)
    return w, snapshot_rows(app)


@pytest.fixture
def world(app, world_template, nul_guard) -> World:
    template, rows = world_template
    restore_rows(app, rows)
    w = dataclasses.replace(template, service_account=dict(template.service_account), export=dict(template.export))
    yield w
    # not vacuous: the credentials and real ids got this operation past 401/403/404 at least once
    assert w.successes, "no generated request succeeded: the world no longer fits this operation"


def _coin(*parts: object) -> bool:
    """A deterministic coin flip (``hash()`` is salted per process)."""
    return zlib.crc32(repr(parts).encode()) % 2 == 0


def _negative(case, location: ParameterLocation) -> bool:
    meta = case.meta
    return meta is not None and meta.is_negative_at(location)


def _auth_headers(case, world: World) -> dict[str, str]:
    operation = case.operation.definition.raw
    security = operation.get("security", [])
    schemes = {name for requirement in security for name in requirement}
    if "clientBasic" in schemes:
        raw = f"{world.partner.id}:{world.partner.secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    scopes = {s for requirement in security for s in requirement.get("oauth2", [])}
    if not scopes:
        return {}
    token = world.partner_token if scopes <= CC_SCOPES else world.console_token
    return {"Authorization": f"Bearer {token}"}


# Checks left out where they are unsound, with the reason (nothing else is excluded).
UNSOUND = {
    # A browser page: an unusable `next` is replaced by a safe default, never refused (the same
    # sign-in form is the right answer for a person); its only constraint is that maxLength.
    "accounts_login_page": {negative_data_rejection},
    # A batch answers 200 with `result: error` for an invalid item (each item all-or-nothing, the
    # others go through): an invalid item is reported in the body, not by the status.
    "batchUpsertPois": {negative_data_rejection},
    "batchUpsertProducts": {negative_data_rejection},
    # The public page never refuses a link: an unknown `source` is recorded as `direct`.
    "poi_public_page": {negative_data_rejection},
}


# Operations that commit something on purpose when they refuse a request: OAuth and the browser
# forms (a replayed code or refresh token revokes its grant; sign-in failures are remembered) and
# an order found past its payment window (expired in a session of its own, then a 409).
COMMITS_WHEN_REFUSING = BROWSER_OPERATIONS | TOKEN_BODY_OPERATIONS | {
    "oauth_token", "shopping_cancel_order", "shopping_start_payment", "shopping_simulate_payment",
    "payments_callback",
}


def _may_have_changed_the_world(case, response, operation_id: str) -> bool:
    """Whether the world needs a look before the next example (``World.replenish`` costs more
    than most calls: a dozen statements in seven sessions, over half of this module's time). A
    read changes nothing, and neither does a refused call: ``create_app``'s unit of work rolls
    back every response of 400 or more — except where a refusal commits on purpose. Anything
    that slipped past this would show up as later examples ending in 404, never as a false
    failure."""
    if case.method.upper() in ("GET", "HEAD"):
        return False
    return response.status_code < 400 or operation_id in COMMITS_WHEN_REFUSING


def _checks(case) -> list:
    excluded = UNSOUND.get(case.operation.definition.raw["operationId"], set())
    return [check for check in CHECKS if check not in excluded]


def _substitute(container, values: dict, key: tuple) -> None:
    """Replace generated values by real ones, for about half of the generated inputs."""
    if not isinstance(container, dict):
        return
    for name in list(container):
        if name in values and _coin(key, name, container[name]):
            container[name] = values[name]


@schema.parametrize()
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_conforms(case, world):
    label = case.operation.label
    operation_id = case.operation.definition.raw["operationId"]
    if not _negative(case, ParameterLocation.PATH):
        _substitute(case.path_parameters, world.path_values_for(operation_id), (label, "path"))
    cookies = {}
    if operation_id in BROWSER_OPERATIONS and _coin(label, case.query, case.body):
        # half of the form posts come from a signed-in browser, with its CSRF token
        cookies = {"shijing_session": world.browser_cookie}
        if not _negative(case, ParameterLocation.QUERY):
            _substitute(case.query, world.query_values(), (label, "query"))
        if not _negative(case, ParameterLocation.BODY) and isinstance(case.body, dict):
            if "csrf_token" in case.body:
                case.body["csrf_token"] = world.csrf_token
            _substitute(case.body, world.form_values(), (label, "body"))
            if "password" in case.body and _coin(label, "credentials", case.body):
                case.body.update(username=world.owner.username, password=world.factory.password)
    elif (
        operation_id in TOKEN_BODY_OPERATIONS and not _negative(case, ParameterLocation.BODY)
        and isinstance(case.body, dict) and "token" in case.body and _coin(label, "token", case.body)
    ):
        case.body["token"] = world.fresh_token()  # a live token of the partner, not the one in use
    elif (
        operation_id == "mini_programs_exchange_login_code" and not _negative(case, ParameterLocation.BODY)
        and isinstance(case.body, dict) and "code" in case.body and _coin(label, "code", case.body)
    ):
        case.body["code"] = world.fresh_login_code()  # a live code of the partner's mini-program
    elif (
        operation_id == "mounts_create" and not _negative(case, ParameterLocation.BODY)
        and isinstance(case.body, dict) and _coin(label, "mount", case.body)
    ):
        case.body.update(world.mount_values())  # a spare video of the creator, the live mini-program
    elif (
        operation_id.startswith("service_accounts_") and not _negative(case, ParameterLocation.BODY)
        and isinstance(case.body, dict)
    ):
        # the spec examples' ids name merchant A's objects; half of the generated ones do too
        case.body = with_world_ids(case.body, world.service_account)
        _substitute(case.body, world.service_account_values(), (label, "body"))
    elif (
        world.order_values(operation_id) and not _negative(case, ParameterLocation.BODY)
        and isinstance(case.body, dict) and _coin(label, "order", case.body)
    ):
        case.body.update(world.order_values(operation_id))
    elif (
        operation_id == "exports_create" and not _negative(case, ParameterLocation.BODY)
        and isinstance(case.body, dict) and _coin(label, "export", case.body)
    ):
        case.body.update(world.export_values(operation_id))
    elif (
        operation_id == "datasets_get_stats" and not _negative(case, ParameterLocation.QUERY)
        and isinstance(case.query, dict) and _coin(label, "stats", case.query)
    ):
        case.query.update(world.export_values(operation_id))
    elif (
        operation_id == "payments_callback" and not _negative(case, ParameterLocation.BODY)
        and isinstance(case.body, dict) and _coin(label, "callback", case.body)
    ):
        case.body.update(payment_id=world.payment_id, amount=world.payment_amount())
    elif (
        operation_id in WEBHOOK_URL_OPERATIONS and not _negative(case, ParameterLocation.BODY)
        and isinstance(case.body, dict)
    ):
        # half of the URLs are the local receiver's, which answers the challenge (any other URL
        # is refused by the policy: no DNS in tests, no address but loopback allow-listed)
        _substitute(case.body, world.body_values(), (label, "body"))

    if operation_id == "mini_programs_register" and _coin(label, "register", case.body):
        world.without_miniprogram()  # one per app: half of the registrations find the app without one
    # buffered: the WSGI iterable is read and closed (a static file would stay open otherwise)
    target = world.flask_app
    if (operation_id == "payments_callback" and not _negative(case, ParameterLocation.HEADER)
            and _coin(label, "signed", case.body)):
        target = ProviderSigning(world.flask_app)  # the provider signs what it sends
    response = case.call_and_validate(
        app=target, headers=_auth_headers(case, world), cookies=cookies, checks=_checks(case),
        buffered=True,
    )

    if response.status_code < 400 and case.method.upper() == case.operation.method.upper():
        world.successes += 1
    if world.disturbed or _may_have_changed_the_world(case, response, operation_id):
        world.replenish()
        world.disturbed = False


def test_stateful_workflows(app, world_template, nul_guard):
    """The stateful phase: chains of calls along the links schemathesis infers from the spec
    (an id from a list or a created app feeds the next call), the same checks at every step."""
    template, rows = world_template

    class Workflow(schema.as_state_machine()):
        def setup(self):
            restore_rows(app, rows)  # every scenario starts from the same world
            self.world = dataclasses.replace(template, service_account=dict(template.service_account))

        def get_call_kwargs(self, case):
            return {"app": app, "headers": _auth_headers(case, self.world), "buffered": True}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=_checks(case), transport_kwargs=kwargs)

    Workflow.run(settings=settings(
        max_examples=STATEFUL_SCENARIOS, stateful_step_count=5, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(HealthCheck),
    ))
