"""Fan CRM: tags (a cap of 100), batch tag/untag (1,000 a call, all or nothing), tag members,
segments by tags and follow time; another merchant's tag or follower is never found."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from gateway.service_accounts.models import FollowerTag, Segment, Tag
from gateway.service_accounts.services import TAG_CAP
from tests.conftest import bearer
from tests.problems import assert_problem
from tests.service_accounts.conftest import count, follow, open_shop


def test_tags_create_rename_delete(app, client, shop):
    tag = shop.post(client, "/tags", {"name": "火锅爱好者"})
    assert tag.status_code == 201
    tag = tag.get_json()
    assert tag["member_count"] == 0 and tag["name"] == "火锅爱好者"
    assert_problem(shop.post(client, "/tags", {"name": "火锅爱好者"}), 409, "TAG_NAME_TAKEN")
    other = shop.post(client, "/tags", {"name": "老顾客"}).get_json()
    renamed = client.patch(f"{shop.base}/tags/{tag['id']}", json={"name": "辣味党"}, headers=bearer(shop.token))
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "辣味党"
    assert_problem(client.patch(f"{shop.base}/tags/{tag['id']}", json={"name": "老顾客"}, headers=bearer(shop.token)),
                   409, "TAG_NAME_TAKEN")
    assert_problem(shop.post(client, "/tags", {"name": "x" * 31}), 422, "VALIDATION_ERROR")
    assert_problem(shop.post(client, "/tags", {"name": ""}), 422, "VALIDATION_ERROR")
    assert [t["name"] for t in shop.get(client, "/tags").get_json()["data"]] == ["辣味党", "老顾客"]
    assert client.delete(f"{shop.base}/tags/{other['id']}", headers=bearer(shop.token)).status_code == 204
    assert_problem(client.delete(f"{shop.base}/tags/{other['id']}", headers=bearer(shop.token)), 404, "TAG_NOT_FOUND")
    assert count(app, Tag) == 1


def test_create_tag_is_idempotent_with_a_key(app, client, shop):
    first = shop.post(client, "/tags", {"name": "老顾客"}, **{"Idempotency-Key": "k1"})
    again = shop.post(client, "/tags", {"name": "老顾客"}, **{"Idempotency-Key": "k1"})
    assert again.headers["Idempotency-Replayed"] == "true" and again.get_json() == first.get_json()
    assert count(app, Tag) == 1


def test_at_most_100_tags(app, client, shop):
    for i in range(TAG_CAP):
        assert shop.post(client, "/tags", {"name": f"tag {i}"}).status_code == 201
    assert TAG_CAP == 100
    assert_problem(shop.post(client, "/tags", {"name": "one more"}), 409, "TAG_LIMIT_REACHED")
    assert count(app, Tag) == TAG_CAP


def test_batch_tag_and_untag(app, client, shop, users):
    for name in ("alice", "bob", "carol"):
        follow(client, shop, users, name)
    tag = shop.post(client, "/tags", {"name": "老顾客"}).get_json()
    members = f"/tags/{tag['id']}/members"
    result = shop.post(client, members, {"add": [shop.open_id("alice"), shop.open_id("bob"), shop.open_id("alice")]})
    assert result.status_code == 200
    assert result.get_json() == {"tag_id": tag["id"], "added": 2, "removed": 0, "member_count": 2}
    again = shop.post(client, members, {"add": [shop.open_id("bob"), shop.open_id("carol")],
                                        "remove": [shop.open_id("alice")]}).get_json()
    assert again == {"tag_id": tag["id"], "added": 1, "removed": 1, "member_count": 2}
    listed = shop.get(client, members).get_json()["data"]
    assert [m["open_id"] for m in listed] == [shop.open_id("bob"), shop.open_id("carol")]
    assert all(m["tag_ids"] == [tag["id"]] for m in listed)
    assert [f["open_id"] for f in shop.get(client, "/followers", tag_id=tag["id"]).get_json()["data"]] == [
        shop.open_id("bob"), shop.open_id("carol")]


def test_a_batch_is_all_or_nothing(app, client, factory, shop, users):
    follow(client, shop, users, "alice")
    other = open_shop(client, factory, shop.partner)  # another merchant of the same partner
    follow(client, other, users, "mallory")
    tag = shop.post(client, "/tags", {"name": "老顾客"}).get_json()
    members = f"/tags/{tag['id']}/members"
    foreign = other.open_id("mallory")  # the same app, another merchant's follower
    body = assert_problem(shop.post(client, members, {"add": [shop.open_id("alice"), foreign]}), 422,
                          "UNKNOWN_FOLLOWER")
    assert body["errors"] == {"add": [foreign]}
    made_up = "ou_" + "a" * 32
    assert_problem(shop.post(client, members, {"remove": [made_up]}), 422, "UNKNOWN_FOLLOWER")
    too_many = [f"ou_{i:032d}" for i in range(600)]
    assert_problem(shop.post(client, members, {"add": too_many, "remove": [f"ou_x{i}" for i in range(401)]}), 422,
                   "BATCH_TOO_LARGE")
    assert_problem(shop.post(client, members, {"add": too_many * 2}), 422, "VALIDATION_ERROR")  # > 1,000
    assert_problem(shop.post(client, members, {"add": [shop.open_id("alice")], "remove": [shop.open_id("alice")]}),
                   422, "VALIDATION_ERROR")
    assert count(app, FollowerTag) == 0
    # another merchant's tag is not found under this merchant
    other_tag = other.post(client, "/tags", {"name": "别家"}).get_json()
    assert_problem(shop.post(client, f"/tags/{other_tag['id']}/members", {"add": [shop.open_id("alice")]}), 404,
                   "TAG_NOT_FOUND")
    assert_problem(client.patch(f"{shop.base}/tags/{other_tag['id']}", json={"name": "x"}, headers=bearer(shop.token)),
                   404, "TAG_NOT_FOUND")
    assert_problem(client.delete(f"{shop.base}/tags/{other_tag['id']}", headers=bearer(shop.token)), 404,
                   "TAG_NOT_FOUND")
    assert count(app, FollowerTag) == 0 and count(app, Tag) == 2


def test_segments_by_tags_and_follow_time(app, client, factory, shop, users):
    for name in ("alice", "bob", "carol"):
        users(name)
    with time_machine.travel(datetime(2026, 11, 10, tzinfo=UTC), tick=False):
        follow(client, shop, users, "alice")
    with time_machine.travel(datetime(2026, 11, 20, tzinfo=UTC), tick=False):
        follow(client, shop, users, "bob")
        follow(client, shop, users, "carol")
    hotpot = shop.post(client, "/tags", {"name": "火锅"}).get_json()
    regular = shop.post(client, "/tags", {"name": "常客"}).get_json()
    shop.post(client, f"/tags/{hotpot['id']}/members", {"add": [shop.open_id(n) for n in ("alice", "bob", "carol")]})
    shop.post(client, f"/tags/{regular['id']}/members", {"add": [shop.open_id("alice"), shop.open_id("bob")]})
    segment = shop.post(client, "/segments", {"name": "新的火锅常客", "tag_ids": [hotpot["id"], regular["id"]],
                                              "followed_after": "2026-11-15T00:00:00Z"})
    assert segment.status_code == 201 and segment.get_json()["member_count"] == 1
    members = shop.get(client, f"/segments/{segment.get_json()['id']}/members").get_json()["data"]
    assert [m["open_id"] for m in members] == [shop.open_id("bob")]
    assert shop.get(client, "/segments").get_json()["data"][0]["id"] == segment.get_json()["id"]
    # a tag defining a segment cannot go
    assert_problem(client.delete(f"{shop.base}/tags/{regular['id']}", headers=bearer(shop.token)), 409, "TAG_IN_USE")
    # bad input: another merchant's tag, an empty set, an inverted range
    other = open_shop(client, factory, shop.partner)
    other_tag = other.post(client, "/tags", {"name": "别家"}).get_json()
    assert_problem(shop.post(client, "/segments", {"name": "x", "tag_ids": [other_tag["id"]]}), 422, "UNKNOWN_TAG")
    assert_problem(shop.post(client, "/segments", {"name": "x", "tag_ids": []}), 422, "VALIDATION_ERROR")
    assert_problem(shop.post(client, "/segments", {"name": "x", "tag_ids": [hotpot["id"]],
                                                   "followed_after": "2026-11-20T00:00:00Z",
                                                   "followed_before": "2026-11-10T00:00:00Z"}), 422, "VALIDATION_ERROR")
    assert count(app, Segment) == 1
    other_segment = other.post(client, "/segments", {"name": "别家", "tag_ids": [other_tag["id"]]}).get_json()
    assert_problem(shop.get(client, f"/segments/{other_segment['id']}/members"), 404, "SEGMENT_NOT_FOUND")
