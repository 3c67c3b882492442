"""Tag and segment sends: checked when accepted, run as a job, one result per recipient (sent, or
refused with its code), each sent recipient using one subscription."""

from __future__ import annotations

import limits

from gateway.service_accounts.models import Send, SendRecipient, Subscription
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


def _setup(client, shop, users, names=("alice", "bob", "carol", "dave")):
    for name in names:
        follow(client, shop, users, name)
    tag = shop.post(client, "/tags", {"name": "火锅"}).get_json()
    shop.post(client, f"/tags/{tag['id']}/members", {"add": [shop.open_id(n) for n in names[:3]]})
    template = shop.post(client, "/templates", {"title": "新券上线提醒", "fields": VOUCHER_FIELDS}).get_json()
    return tag, template


def test_a_tag_send_runs_as_a_job_with_per_recipient_results(app, client, shop, users):
    tag, template = _setup(client, shop, users)
    for name in ("alice", "bob"):
        user_post(client, shop, users, name, f"templates/{template['id']}/subscribe")
    user_post(client, shop, users, "alice", f"templates/{template['id']}/subscribe")  # alice: two
    user_post(client, shop, users, "bob", "block")
    # dave is subscribed but not tagged: not a recipient
    user_post(client, shop, users, "dave", f"templates/{template['id']}/subscribe")
    accepted = shop.post(client, "/sends", {"template_id": template["id"], "tag_id": tag["id"], "data": VOUCHER_DATA})
    assert accepted.status_code == 202, accepted.get_json()
    send = accepted.get_json()
    assert send["status"] == "queued" and send["audience"] == 3
    assert accepted.headers["Location"].endswith(f"/service-account/sends/{send['id']}")
    done = shop.get(client, f"/sends/{send['id']}").get_json()  # jobs run inline in tests
    assert (done["status"], done["sent"], done["refused"]) == ("completed", 1, 2) and done["finished_at"]
    results = {r["open_id"]: (r["status"], r["code"])
               for r in shop.get(client, f"/sends/{send['id']}/recipients").get_json()["data"]}
    assert results == {shop.open_id("alice"): ("sent", None), shop.open_id("bob"): ("refused", "USER_BLOCKED"),
                       shop.open_id("carol"): ("refused", "USER_NOT_SUBSCRIBED")}
    refused = shop.get(client, f"/sends/{send['id']}/recipients", status="refused").get_json()["data"]
    assert {r["code"] for r in refused} == {"USER_BLOCKED", "USER_NOT_SUBSCRIBED"}
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        remaining = {sub.user_id: sub.remaining for sub in s.query(Subscription)}
    assert remaining[shop.fans["alice"][0].id] == 1  # one of two used
    assert remaining[shop.fans["bob"][0].id] == 1 and remaining[shop.fans["dave"][0].id] == 1  # untouched
    completed = [e for e in events(app) if e[0] == "service_account.send.completed"]
    assert completed[0][2]["sent"] == 1 and completed[0][1] == shop.partner.id


def test_a_segment_send(client, shop, users):
    tag, template = _setup(client, shop, users)
    segment = shop.post(client, "/segments", {"name": "火锅粉", "tag_ids": [tag["id"]]}).get_json()
    user_post(client, shop, users, "carol", f"templates/{template['id']}/subscribe")
    send = shop.post(client, "/sends", {"template_id": template["id"], "segment_id": segment["id"],
                                        "data": VOUCHER_DATA}).get_json()
    done = shop.get(client, f"/sends/{send['id']}").get_json()
    assert (done["audience"], done["sent"], done["refused"]) == (3, 1, 2) and done["segment_id"] == segment["id"]


def test_a_refused_send_queues_nothing(app, client, factory, shop, users, monkeypatch):
    tag, template = _setup(client, shop, users)
    other = open_shop(client, factory, shop.partner)
    other_tag = other.post(client, "/tags", {"name": "别家"}).get_json()
    other_template = other.post(client, "/templates", {"title": "别家", "fields": VOUCHER_FIELDS}).get_json()
    cases = [
        ({"template_id": template["id"], "tag_id": other_tag["id"], "data": VOUCHER_DATA}, 422, "UNKNOWN_TAG"),
        ({"template_id": other_template["id"], "tag_id": tag["id"], "data": VOUCHER_DATA}, 422, "UNKNOWN_TEMPLATE"),
        ({"template_id": template["id"], "segment_id": "seg_01j9x6b2f0000000000000000", "data": VOUCHER_DATA}, 422,
         "UNKNOWN_SEGMENT"),
        ({"template_id": template["id"], "tag_id": tag["id"], "data": {**VOUCHER_DATA, "price": "8800"}}, 422,
         "TEMPLATE_DATA_INVALID"),
        ({"template_id": template["id"], "data": VOUCHER_DATA}, 422, "VALIDATION_ERROR"),
        ({"template_id": template["id"], "tag_id": tag["id"], "segment_id": "seg_x", "data": VOUCHER_DATA}, 422,
         "VALIDATION_ERROR"),
    ]
    for body, status, code in cases:
        assert_problem(shop.post(client, "/sends", body), status, code)
    limiter = app.extensions["shijing.ratelimiter"]
    monkeypatch.setitem(limiter.quotas, "service_account_recipients", limits.parse("2/day"))
    body = assert_problem(shop.post(client, "/sends", {"template_id": template["id"], "tag_id": tag["id"],
                                                       "data": VOUCHER_DATA}), 429, "QUOTA_EXCEEDED")
    assert body["quota"] == "service_account_recipients"
    assert count(app, Send) == 0 and count(app, SendRecipient) == 0
    assert not [e for e in events(app) if e[0] == "service_account.send.completed"]
    # the refused send used none of the quota: a smaller one still fits
    small = shop.post(client, "/tags", {"name": "小"}).get_json()
    shop.post(client, f"/tags/{small['id']}/members", {"add": [shop.open_id("alice"), shop.open_id("bob")]})
    assert shop.post(client, "/sends", {"template_id": template["id"], "tag_id": small["id"],
                                        "data": VOUCHER_DATA}).status_code == 202


def test_another_merchants_send_is_not_found(client, factory, shop, users):
    tag, template = _setup(client, shop, users)
    send = shop.post(client, "/sends", {"template_id": template["id"], "tag_id": tag["id"],
                                        "data": VOUCHER_DATA}).get_json()
    other = open_shop(client, factory, shop.partner)
    assert_problem(other.get(client, f"/sends/{send['id']}"), 404, "SEND_NOT_FOUND")
    assert_problem(other.get(client, f"/sends/{send['id']}/recipients"), 404, "SEND_NOT_FOUND")
