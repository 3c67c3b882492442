"""Messages: users write (forwarded as events and listed by cursor); the merchant replies
free-form only within 48 hours, otherwise with a template the user subscribed to (one subscribe,
one send), typed fields checked; blocked users get nothing; rate limit and daily quota. Every
refusal has its code, and then nothing is stored or sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import limits
import pytest
import time_machine

from gateway.events.models import Event
from gateway.service_accounts.models import Message, Subscription
from tests.conftest import bearer
from tests.problems import assert_problem
from tests.service_accounts.conftest import (
    VOUCHER_DATA,
    VOUCHER_FIELDS,
    count,
    events,
    follow,
    open_shop,
    user_post,
)

NOW = datetime(2026, 11, 22, 8, tzinfo=UTC)


def _template(client, shop) -> dict:
    response = shop.post(client, "/templates", {"title": "新券上线提醒", "fields": VOUCHER_FIELDS})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _reply(client, shop, name: str, text: str = "您好，今晚 7 点还有空位。"):
    return shop.post(client, "/messages", {"open_id": shop.open_id(name), "type": "text", "text": text})


def _template_message(client, shop, name: str, template_id: str, data=None):
    return shop.post(client, "/messages", {"open_id": shop.open_id(name), "type": "template",
                                           "template_id": template_id, "data": data or VOUCHER_DATA})


def _nothing_more(app, before: tuple):
    assert (count(app, Message), count(app, Event)) == before


def test_an_inbound_message_is_forwarded_and_opens_the_window(app, client, shop, users):
    users("alice")
    with time_machine.travel(NOW, tick=False):
        follow(client, shop, users, "alice")
        written = user_post(client, shop, users, "alice", "messages", {"text": "今晚还有位子吗？"})
        assert written.status_code == 201 and written.get_json()["text"] == "今晚还有位子吗？"
    received = [e for e in events(app) if e[0] == "service_account.message.received"]
    assert len(received) == 1 and received[0][1] == shop.partner.id
    assert received[0][2]["open_id"] == shop.open_id("alice") and received[0][2]["direction"] == "inbound"
    page = shop.get(client, "/messages", direction="inbound").get_json()
    assert [m["text"] for m in page["data"]] == ["今晚还有位子吗？"]
    assert shop.get(client, "/followers").get_json()["data"][0]["last_message_at"] == "2026-11-22T08:00:00.000Z"
    with time_machine.travel(NOW + timedelta(hours=47, minutes=59), tick=False):
        reply = _reply(client, shop, "alice")
        assert reply.status_code == 201, reply.get_json()
        assert reply.get_json()["direction"] == "outbound" and reply.get_json()["open_id"] == shop.open_id("alice")
    assert [m["direction"] for m in shop.get(client, "/messages").get_json()["data"]] == ["inbound", "outbound"]


def test_a_free_form_message_outside_the_window_is_refused(app, client, shop, users):
    users("alice"), users("bob")
    with time_machine.travel(NOW, tick=False):
        follow(client, shop, users, "alice")
        follow(client, shop, users, "bob")
        user_post(client, shop, users, "alice", "messages", {"text": "在吗"})
    before = (count(app, Message), count(app, Event))
    with time_machine.travel(NOW + timedelta(hours=48, seconds=1), tick=False):
        assert_problem(_reply(client, shop, "alice"), 409, "OUTSIDE_REPLY_WINDOW")
    assert_problem(_reply(client, shop, "bob"), 409, "OUTSIDE_REPLY_WINDOW")  # never wrote
    _nothing_more(app, before)
    # writing again opens it again
    user_post(client, shop, users, "alice", "messages", {"text": "还在吗"})
    assert _reply(client, shop, "alice").status_code == 201


def test_a_template_message_needs_a_subscription_each_time(app, client, shop, users):
    follow(client, shop, users, "alice")
    template = _template(client, shop)
    before = (count(app, Message), count(app, Event))
    assert_problem(_template_message(client, shop, "alice", template["id"]), 409, "USER_NOT_SUBSCRIBED")
    _nothing_more(app, before)
    subscribed = user_post(client, shop, users, "alice", f"templates/{template['id']}/subscribe")
    assert subscribed.status_code == 200 and subscribed.get_json()["remaining"] == 1
    sent = _template_message(client, shop, "alice", template["id"])
    assert sent.status_code == 201 and sent.get_json()["data"] == VOUCHER_DATA
    # one subscribe, one send
    before = (count(app, Message), count(app, Event))
    assert_problem(_template_message(client, shop, "alice", template["id"]), 409, "USER_NOT_SUBSCRIBED")
    _nothing_more(app, before)


@pytest.mark.parametrize("data,field", [
    ({**VOUCHER_DATA, "price": "88 元"}, "price"),
    ({**VOUCHER_DATA, "price": -1}, "price"),
    ({**VOUCHER_DATA, "price": True}, "price"),
    ({**VOUCHER_DATA, "voucher": "x" * 21}, "voucher"),
    ({**VOUCHER_DATA, "expires_on": "2026-02-30"}, "expires_on"),
    ({**VOUCHER_DATA, "expires_on": 20261231}, "expires_on"),
    ({"voucher": "券", "price": 1}, "expires_on"),
    ({**VOUCHER_DATA, "extra": "x"}, "extra"),
])
def test_template_fields_are_checked_against_their_types(app, client, shop, users, data, field):
    follow(client, shop, users, "alice")
    template = _template(client, shop)
    user_post(client, shop, users, "alice", f"templates/{template['id']}/subscribe")
    before = (count(app, Message), count(app, Event))
    body = assert_problem(_template_message(client, shop, "alice", template["id"], data), 422,
                          "TEMPLATE_DATA_INVALID")
    assert list(body["errors"]) == [field]
    _nothing_more(app, before)
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        assert s.query(Subscription).one().remaining == 1  # not used


def test_bad_message_shapes_and_templates(app, client, factory, shop, users):
    follow(client, shop, users, "alice")
    user_post(client, shop, users, "alice", "messages", {"text": "在吗"})
    oid = shop.open_id("alice")
    for body in ({"open_id": oid, "type": "text"}, {"open_id": oid, "type": "text", "text": "a", "data": {}},
                 {"open_id": oid, "type": "template", "text": "a"}, {"open_id": oid, "type": "voice", "text": "a"}):
        assert_problem(shop.post(client, "/messages", body), 422, "VALIDATION_ERROR")
    assert_problem(shop.post(client, "/templates", {"title": "t", "fields": [{"key": "A", "type": "thing",
                                                                              "label": "x"}]}), 422, "VALIDATION_ERROR")
    assert_problem(shop.post(client, "/templates", {"title": "t", "fields": [{"key": "a", "type": "money",
                                                                              "label": "x"}]}), 422, "VALIDATION_ERROR")
    assert_problem(shop.post(client, "/templates", {"title": "t", "fields": [
        {"key": "a", "type": "thing", "label": "x"}, {"key": "a", "type": "date", "label": "y"}]}), 422,
        "VALIDATION_ERROR")
    other = open_shop(client, factory, shop.partner)
    foreign = _template(client, other)
    assert_problem(_template_message(client, shop, "alice", foreign["id"]), 422, "UNKNOWN_TEMPLATE")
    # subscribing to another merchant's template through this account is not found
    assert_problem(user_post(client, shop, users, "alice", f"templates/{foreign['id']}/subscribe"), 404,
                   "TEMPLATE_NOT_FOUND")
    assert count(app, Message) == 1  # only alice's own


def test_another_merchants_follower_is_not_found(app, client, factory, shop, users):
    other = open_shop(client, factory, shop.partner)  # same app, another merchant
    follow(client, other, users, "mallory")
    user_post(client, other, users, "mallory", "messages", {"text": "在吗"})
    before = (count(app, Message), count(app, Event))
    response = shop.post(client, "/messages", {"open_id": other.open_id("mallory"), "type": "text", "text": "hi"})
    assert_problem(response, 404, "FOLLOWER_NOT_FOUND")
    _nothing_more(app, before)


def test_a_blocked_user_gets_nothing_until_they_follow_again(app, client, shop, users):
    follow(client, shop, users, "alice")
    user_post(client, shop, users, "alice", "messages", {"text": "在吗"})
    template = _template(client, shop)
    user_post(client, shop, users, "alice", f"templates/{template['id']}/subscribe")
    blocked = user_post(client, shop, users, "alice", "block")
    assert blocked.status_code == 200 and blocked.get_json()["blocked"] is True
    before = (count(app, Message), count(app, Event))
    assert_problem(_reply(client, shop, "alice"), 409, "USER_BLOCKED")
    assert_problem(_template_message(client, shop, "alice", template["id"]), 409, "USER_BLOCKED")
    _nothing_more(app, before)
    assert shop.get(client, "/followers").get_json()["data"][0]["blocked"] is True
    follow(client, shop, users, "alice")
    assert _reply(client, shop, "alice").status_code == 201


def test_user_side_rules(client, shop, users):
    assert_problem(user_post(client, shop, users, "zoe", "messages", {"text": "hi"}), 409, "NOT_FOLLOWING")
    assert_problem(user_post(client, shop, users, "zoe", "block"), 409, "NOT_FOLLOWING")
    assert_problem(user_post(client, shop, users, "zoe", "messages", {"text": ""}), 422, "VALIDATION_ERROR")
    assert_problem(user_post(client, shop, users, "zoe", "follow", {"source": "tv"}), 422, "VALIDATION_ERROR")


def test_the_daily_quota_and_the_send_rate(app, client, shop, users, monkeypatch):
    limiter = app.extensions["shijing.ratelimiter"]
    monkeypatch.setitem(limiter.quotas, "service_account_recipients", limits.parse("2/day"))
    follow(client, shop, users, "alice")
    user_post(client, shop, users, "alice", "messages", {"text": "在吗"})
    assert _reply(client, shop, "alice").status_code == 201
    assert _reply(client, shop, "alice").status_code == 201
    before = (count(app, Message), count(app, Event))
    body = assert_problem(_reply(client, shop, "alice"), 429, "QUOTA_EXCEEDED")
    assert body["quota"] == "service_account_recipients"
    _nothing_more(app, before)
    # another merchant has its own quota
    monkeypatch.setitem(limiter.quotas, "service_account_recipients", limits.parse("1000/day"))
    monkeypatch.setitem(limiter.policies, "service_account_send", limits.parse("1/minute"))
    limiter.reset()
    assert _reply(client, shop, "alice").status_code == 201
    assert_problem(_reply(client, shop, "alice"), 429, "RATE_LIMITED")
    _nothing_more(app, (before[0] + 1, before[1]))


def test_one_app_cannot_message_for_a_merchant_that_did_not_grant_it(client, factory, shop, users):
    follow(client, shop, users, "alice")
    reader = factory.app_client(scopes=["service_account.read", "service_account.message"])
    factory.authorize(reader, shop.merchant, ["service_account.read"])  # no message scope granted
    response = client.post(f"{shop.base}/messages", json={"open_id": shop.open_id("alice"), "type": "text",
                                                          "text": "hi"},
                           headers=bearer(factory.token(reader, "service_account.message")))
    assert_problem(response, 404, "MERCHANT_NOT_FOUND")
