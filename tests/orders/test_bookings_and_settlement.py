"""Booking slots with a capacity, and the daily settlement statement that matches the orders."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from gateway.clock import utcnow
from tests.conftest import bearer
from tests.orders.conftest import new_buyer
from tests.poi.api_world import voucher
from tests.problems import assert_problem


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def spa(client, shop) -> dict:
    return shop.product(client, "spa-4001", voucher(title="足疗 90 分钟", booking_required=True,
                                                   usage_rules={"appointment_hours_ahead": 2}))


def new_slot(client, shop, product, hours=3, capacity=2, **overrides):
    body = {"product_id": product["id"], "starts_at": iso(utcnow() + timedelta(hours=hours)),
            "ends_at": iso(utcnow() + timedelta(hours=hours + 1)), "capacity": capacity, **overrides}
    return client.post(f"{shop.base}/pois/{shop.poi['id']}/booking-slots", json=body, headers=shop.partner)


def book(client, token, certificate_id, slot_id):
    return client.put(f"/v1/platform-client/certificates/{certificate_id}/booking", json={"slot_id": slot_id},
                      headers=bearer(token))


def test_slots_are_for_products_that_need_booking(client, shop, spa):
    assert_problem(new_slot(client, shop, shop.voucher), 409, "BOOKING_NOT_REQUIRED")
    assert_problem(new_slot(client, shop, spa, hours=-3), 422, "SLOT_IN_PAST")
    assert_problem(new_slot(client, shop, spa, ends_at=iso(utcnow() + timedelta(hours=2))), 422, "VALIDATION_ERROR")
    assert_problem(new_slot(client, shop, spa, capacity=0), 422, "VALIDATION_ERROR")
    created = new_slot(client, shop, spa)
    assert created.status_code == 201 and created.get_json()["remaining"] == 2
    listed = client.get(f"{shop.base}/pois/{shop.poi['id']}/booking-slots?product_id={spa['id']}",
                        headers=shop.partner).get_json()["data"]
    assert [s["id"] for s in listed] == [created.get_json()["id"]]
    other = shop.world.base(1)
    assert_problem(client.patch(f"{other}/booking-slots/{listed[0]['id']}", json={"capacity": 5},
                                headers=shop.partner), 404, "SLOT_NOT_FOUND")


def test_capacity_is_never_exceeded_and_places_come_back(app, client, factory, shop, spa):
    slot = new_slot(client, shop, spa, capacity=1).get_json()
    first = shop.buy(client, product=spa)
    booked = book(client, shop.buyer_token, first["certificates"][0]["id"], slot["id"])
    assert booked.status_code == 200, booked.get_json()
    assert booked.get_json()["booking"]["slot_id"] == slot["id"]
    _, other_token = new_buyer(app, factory)
    second = shop.buy(client, product=spa, token=other_token)
    assert_problem(book(client, other_token, second["certificates"][0]["id"], slot["id"]), 409, "SLOT_FULL")
    assert_problem(client.patch(f"{shop.base}/booking-slots/{slot['id']}", json={"capacity": 0},
                                headers=shop.partner), 409, "CAPACITY_BELOW_BOOKED")
    # moving the first booking frees the place
    later = new_slot(client, shop, spa, hours=5, capacity=1).get_json()
    assert book(client, shop.buyer_token, first["certificates"][0]["id"], later["id"]).status_code == 200
    assert book(client, other_token, second["certificates"][0]["id"], slot["id"]).status_code == 200
    cancelled = client.delete(f"/v1/platform-client/certificates/{second['certificates'][0]['id']}/booking",
                              headers=bearer(other_token))
    assert cancelled.status_code == 200 and cancelled.get_json()["booking"] is None
    slots = client.get(f"/v1/platform-client/pois/{shop.poi['id']}/booking-slots", headers=bearer(other_token))
    assert {s["id"]: s["remaining"] for s in slots.get_json()["data"]} == {slot["id"]: 1, later["id"]: 0}
    assert_problem(client.delete(f"/v1/platform-client/certificates/{second['certificates'][0]['id']}/booking",
                                 headers=bearer(other_token)), 409, "NO_BOOKING")
    assert [e["type"] for e in shop.events(client, "booking.created")].count("booking.created") == 3
    assert len(shop.events(client, "booking.cancelled")) == 1


def test_booking_rules(app, client, factory, shop, spa):
    order = shop.buy(client, product=spa)
    certificate = order["certificates"][0]["id"]
    too_soon = new_slot(client, shop, spa, hours=1).get_json()
    assert_problem(book(client, shop.buyer_token, certificate, too_soon["id"]), 409, "BOOKING_TOO_LATE")
    closed = new_slot(client, shop, spa).get_json()
    client.patch(f"{shop.base}/booking-slots/{closed['id']}", json={"status": "closed"}, headers=shop.partner)
    assert_problem(book(client, shop.buyer_token, certificate, closed["id"]), 404, "SLOT_NOT_FOUND")
    plain = shop.buy(client)
    open_slot = new_slot(client, shop, spa).get_json()
    assert_problem(book(client, shop.buyer_token, plain["certificates"][0]["id"], open_slot["id"]), 409,
                   "BOOKING_NOT_REQUIRED")
    _, stranger = new_buyer(app, factory)
    assert_problem(book(client, stranger, certificate, open_slot["id"]), 404, "CERTIFICATE_NOT_FOUND")


# --- settlement --------------------------------------------------------------------------------------


def test_a_days_statement_matches_its_orders_to_the_fen(app, client, factory, shop, mount_click):
    day = utcnow().date()
    plain = shop.buy(client, quantity=3)
    creator_token, click_id = mount_click
    attributed = shop.buy(client, quantity=2, product=shop.set_meal, token=creator_token, click_id=click_id)
    assert attributed["source"]["author_id"] and attributed["source"]["type"] == "video"
    refund = client.post(f"/v1/platform-client/orders/{plain['id']}/refunds",
                         json={"reason": "少去一位", "certificate_ids": [plain["certificates"][0]["id"]]},
                         headers=bearer(shop.buyer_token)).get_json()
    client.post(f"{shop.base}/refunds/{refund['id']}/approve", headers=shop.partner)
    shop.place(client)  # unpaid: not in the statement

    assert_problem(client.get(f"{shop.base}/settlements/{day.isoformat()}", headers=shop.partner), 409,
                   "SETTLEMENT_NOT_READY")
    with time_machine.travel(utcnow() + timedelta(days=1), tick=True):
        token = shop.world.factory.token(shop.world.partner)
        start, end = f"{day.isoformat()}T00:00:00Z", f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z"
        statement = client.get(f"{shop.base}/settlements/{day.isoformat()}", headers=bearer(token)).get_json()
        orders = client.get(f"{shop.base}/orders?paid_from={start}&paid_to={end}", headers=bearer(token)).get_json()
        refunds = client.get(f"{shop.base}/refunds?status=refunded&refunded_from={start}&refunded_to={end}",
                             headers=bearer(token)).get_json()
        again = client.get(f"{shop.base}/settlements/{day.isoformat()}", headers=bearer(token)).get_json()
    gross = sum(o["total_amount"] for o in orders["data"])
    refunded = sum(r["amount"] for r in refunds["data"])
    platform = sum(o["platform_commission"] for o in orders["data"]) - sum(
        r["platform_commission_returned"] for r in refunds["data"])
    creator = sum(o["creator_commission"] for o in orders["data"]) - sum(
        r["creator_commission_returned"] for r in refunds["data"])
    assert (statement["gross_amount"], statement["refund_amount"]) == (gross, refunded) == (3 * 8800 + 2 * 19800, 8800)
    assert statement["platform_commission"] == platform and statement["creator_commission"] == creator
    assert creator == 2 * 19800 * 500 // 10000 > 0
    assert statement["net_amount"] == gross - refunded - platform - creator
    assert (statement["order_count"], statement["refund_count"]) == (2, 1)
    assert again == statement  # issued once, never recomputed
    assert [e["data"]["id"] for e in shop.events(client, "settlement.ready")] == [statement["id"]]


def test_statement_dates_are_checked(client, shop):
    assert_problem(client.get(f"{shop.base}/settlements/2026-02-30", headers=shop.partner), 400, "INVALID_DATE")
    assert_problem(client.get(f"{shop.base}/settlements/yesterday", headers=shop.partner), 400, "INVALID_DATE")
    quiet = client.get(f"{shop.base}/settlements/2026-01-01", headers=shop.partner)
    assert quiet.status_code == 200 and quiet.get_json()["net_amount"] == 0
    other = shop.world.factory.app_client(scopes=["order.read"])
    response = client.get(f"{shop.base}/settlements/2026-01-01", headers=bearer(shop.world.factory.token(other)))
    assert_problem(response, 404, "MERCHANT_NOT_FOUND")


@pytest.fixture
def mount_click(app, client, factory, shop):
    """A creator's video carrying a mounted card of a mini-program that serves the shop's POI, and
    a tap on it by a user (who then buys): (that user's token, the click id)."""
    from gateway.accounts.models import User
    from tests.miniprograms.conftest import (
        approve,
        authorize_creator,
        creator_with_content,
        developer_with_app,
        grant_capabilities,
        register,
    )
    from tests.poi.api_world import operator_token

    # the partner's own developer runs the mini-program: the merchant authorised the partner
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        partner_developer = s.get(User, shop.world.partner.developer_user_id)
    developer = developer_with_app(factory, partner_developer)
    operator = operator_token(app, factory)
    miniprogram = approve(client, operator, register(client, developer, poi_ids=[shop.poi["id"]])["id"])
    grant_capabilities(client, developer, operator, miniprogram["id"])
    _, creator, _, video, _ = creator_with_content(app, client, factory)
    creator_app = factory.app_client(scopes=["miniprogram.mount", "video.read"], kind="web_app")
    authorize_creator(app, creator_app, creator, ["miniprogram.mount", "video.read"])
    mounted = client.post(f"/v1/creators/{creator.id}/mounts", headers=bearer(factory.token(creator_app)), json={
        "target_type": "video", "target_id": video["id"], "miniprogram_id": miniprogram["id"],
        "path": "pages/index/index", "title": "火锅套餐"})
    assert mounted.status_code == 201, mounted.get_json()
    _, viewer = new_buyer(app, factory)
    click = client.post(f"/v1/platform-client/mounts/{mounted.get_json()['id']}/clicks", headers=bearer(viewer))
    assert click.status_code == 201, click.get_json()
    return viewer, click.get_json()["click_id"]
