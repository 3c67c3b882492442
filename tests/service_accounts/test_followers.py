"""The account, following and unfollowing, listing followers by open_id, counts over time."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from gateway.service_accounts.models import FollowLog, ServiceAccount
from tests.conftest import bearer
from tests.problems import assert_problem
from tests.service_accounts.conftest import PROFILE, count, events, follow, open_shop, user_post


def test_put_creates_then_replaces_the_profile(client, shop):
    assert shop.account["follower_count"] == 0 and shop.account["status"] == "active"
    replaced = client.put(shop.base, json={**PROFILE, "name": "山城老火锅（解放碑）"}, headers=bearer(shop.token))
    assert replaced.status_code == 200 and replaced.get_json()["id"] == shop.account["id"]
    assert shop.get(client).get_json()["name"] == "山城老火锅（解放碑）"


def test_a_profile_with_bad_input_stores_nothing(app, client, factory, shop):
    other = open_shop(client, factory)
    foreign_poi = "poi_01j9x6b2f0000000000000009"
    body = assert_problem(client.put(shop.base, json={**PROFILE, "poi_ids": [foreign_poi]}, headers=bearer(shop.token)),
                          422, "UNKNOWN_POI")
    assert body["errors"] == {"poi_ids": [foreign_poi]}
    assert_problem(client.put(shop.base, json={**PROFILE, "avatar_url": "http://x"}, headers=bearer(shop.token)),
                   422, "VALIDATION_ERROR")
    assert_problem(client.put(shop.base, json={**PROFILE, "status": "suspended"}, headers=bearer(shop.token)),
                   422, "VALIDATION_ERROR")
    assert shop.get(client).get_json()["name"] == PROFILE["name"]
    assert count(app, ServiceAccount) == 2 and other.account["id"] != shop.account["id"]


def test_no_account_yet_is_404(client, factory):
    from tests.service_accounts.conftest import GRANT, SA_SCOPES

    partner = factory.app_client(scopes=GRANT + ["events.read"])
    merchant = factory.merchant()
    factory.authorize(partner, merchant, GRANT)
    response = client.get(f"/v1/merchants/{merchant.id}/service-account",
                          headers=bearer(factory.token(partner, SA_SCOPES)))
    assert_problem(response, 404, "SERVICE_ACCOUNT_NOT_FOUND")


def test_followers_are_listed_by_the_apps_own_open_id(app, client, factory, shop, users):
    relation = follow(client, shop, users, "alice", "poi_page", source_id="poi_01j9x6b2f0000000000000001")
    assert relation["following"] is True and relation["blocked"] is False
    follow(client, shop, users, "bob", "live_stream")
    page = shop.get(client, "/followers").get_json()
    assert [f["open_id"] for f in page["data"]] == [shop.open_id("alice"), shop.open_id("bob")]
    assert [f["source"] for f in page["data"]] == ["poi_page", "live_stream"]
    assert page["data"][0]["source_id"] == "poi_01j9x6b2f0000000000000001"
    assert [f["open_id"] for f in shop.get(client, "/followers", source="live_stream").get_json()["data"]] == [
        shop.open_id("bob")]
    # by cursor
    first = shop.get(client, "/followers", limit=1).get_json()
    assert first["has_more"] is True
    second = shop.get(client, "/followers", limit=1, cursor=first["next_cursor"]).get_json()
    assert second["data"][0]["open_id"] == shop.open_id("bob") and second["has_more"] is False
    # another app the merchant authorised sees other open_ids for the same people
    other_app = factory.app_client(scopes=["service_account.read"])
    factory.authorize(other_app, shop.merchant, ["service_account.read"])
    seen = client.get(shop.base + "/followers", headers=bearer(factory.token(other_app, "service_account.read")))
    assert {f["open_id"] for f in seen.get_json()["data"]}.isdisjoint({shop.open_id("alice"), shop.open_id("bob")})
    # the follow events carry the open_id of the app that receives them
    followed = [e for e in events(app) if e[0] == "service_account.follower.followed" and e[1] == shop.partner.id]
    assert [e[2]["open_id"] for e in followed] == [shop.open_id("alice"), shop.open_id("bob")]
    assert shop.get(client).get_json()["follower_count"] == 2
    assert_problem(shop.get(client, "/followers", source="tv"), 400, "INVALID_FILTER")
    assert_problem(shop.get(client, "/followers", tag_id="tag_01j9x6b2f0000000000000000"), 400, "INVALID_FILTER")


def test_unfollow_then_follow_again(app, client, shop, users):
    follow(client, shop, users, "alice")
    assert user_post(client, shop, users, "alice", "follow", {"source": "video"}).status_code == 200  # no change
    assert count(app, FollowLog) == 1
    tag = shop.post(client, "/tags", {"name": "老顾客"}).get_json()
    shop.post(client, f"/tags/{tag['id']}/members", {"add": [shop.open_id("alice")]})
    left = user_post(client, shop, users, "alice", "unfollow")
    assert left.status_code == 200 and left.get_json()["following"] is False
    assert shop.get(client, "/followers").get_json()["data"] == []
    gone = shop.get(client, "/followers", status="unfollowed").get_json()["data"]
    assert gone[0]["open_id"] == shop.open_id("alice") and gone[0]["unfollowed_at"]
    assert_problem(user_post(client, shop, users, "alice", "unfollow"), 409, "NOT_FOLLOWING")
    follow(client, shop, users, "alice", "video")
    back = shop.get(client, "/followers").get_json()["data"][0]
    assert back["source"] == "video" and back["tag_ids"] == [tag["id"]]  # tags are kept
    assert [e[0].rsplit(".", 1)[1] for e in events(app)] == ["followed", "unfollowed", "followed"]


def test_follower_counts_over_time(client, shop, users):
    day = lambda d: datetime(2026, 11, d, 8, tzinfo=UTC)
    for name in ("alice", "bob", "carol"):
        users(name)  # signed in now: their tokens are valid throughout
    with time_machine.travel(day(20), tick=False):
        follow(client, shop, users, "alice")
        follow(client, shop, users, "bob")
    with time_machine.travel(day(21), tick=False):
        user_post(client, shop, users, "bob", "unfollow")
    with time_machine.travel(day(23), tick=False):
        follow(client, shop, users, "bob")
        follow(client, shop, users, "carol")
        stats = shop.get(client, "/follower-stats", **{"from": "2026-11-19", "to": "2026-11-23"}).get_json()
    assert [(d["date"], d["follows"], d["unfollows"], d["net"], d["total"]) for d in stats["data"]] == [
        ("2026-11-19", 0, 0, 0, 0), ("2026-11-20", 2, 0, 2, 2), ("2026-11-21", 0, 1, -1, 1),
        ("2026-11-22", 0, 0, 0, 1), ("2026-11-23", 2, 0, 2, 3)]
    with time_machine.travel(day(23), tick=False):
        later = shop.get(client, "/follower-stats", **{"from": "2026-11-21", "to": "2026-11-21"}).get_json()
        assert later["data"] == [{"date": "2026-11-21", "follows": 0, "unfollows": 1, "net": -1, "total": 1}]
        assert len(shop.get(client, "/follower-stats").get_json()["data"]) == 30
    assert_problem(shop.get(client, "/follower-stats", **{"from": "2026-11-23", "to": "2026-11-20"}), 400,
                   "INVALID_FILTER")
    assert_problem(shop.get(client, "/follower-stats", **{"from": "2026-01-01", "to": "2026-11-20"}), 400,
                   "INVALID_FILTER")
    assert_problem(shop.get(client, "/follower-stats", **{"from": "2026-02-30"}), 400, "INVALID_FILTER")


def test_a_suspended_account_does_not_exist_for_users(app, client, shop, users):
    follow(client, shop, users, "alice")
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        s.get(ServiceAccount, shop.account["id"]).status = "suspended"
        s.commit()
    for action in ("follow", "unfollow", "block", "messages"):
        body = {"text": "hi"} if action == "messages" else {}
        assert_problem(user_post(client, shop, users, "alice", action, body), 404, "SERVICE_ACCOUNT_NOT_FOUND")


def test_only_the_platform_app_follows(client, shop):
    response = client.post(f"/v1/platform-client/service-accounts/{shop.account['id']}/follow", json={},
                           headers=bearer(shop.token))
    assert_problem(response, 403, "INSUFFICIENT_SCOPE")


def test_another_merchants_account_is_404_for_its_partner(client, factory, shop):
    other = open_shop(client, factory)  # another partner, another merchant
    response = client.get(shop.base + "/followers", headers=bearer(other.token))
    assert_problem(response, 404, "MERCHANT_NOT_FOUND")
