"""Capabilities, mounts and their rules, review, and the attribution of exposures and clicks."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gateway.miniprograms.models import Mount, MountEvent
from tests.conftest import bearer
from tests.miniprograms.conftest import (
    approve,
    creator_with_content,
    developer_with_app,
    grant_capabilities,
    register,
)
from tests.problems import assert_problem


def _count(db_session, model=Mount) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(model))


def _events(client, factory, app_credentials, type_: str) -> list[dict]:
    token = factory.token(app_credentials, "events.read")
    return client.get("/v1/events", query_string={"type": type_}, headers=bearer(token)).get_json()["data"]


# --- capabilities ------------------------------------------------------------------------------------


def test_capabilities_are_applied_for_decided_and_show_their_limits(client, factory, developer, operator):
    pending = register(client, developer)
    path = f"/v1/miniprograms/{pending['id']}/capabilities"
    assert_problem(client.post(path, json={"capability": "video_mount"}, headers=bearer(developer.token)), 409,
                   "MINIPROGRAM_NOT_LIVE")
    approve(client, operator, pending["id"])
    applied = client.post(path, json={"capability": "video_mount", "intro": "探店视频挂载代金券"},
                          headers=bearer(developer.token))
    assert applied.status_code == 201
    application = applied.get_json()
    assert application["status"] == "pending" and application["limits"]["max_active_mounts"] > 0
    assert application["usage"] == {"active_mounts": 0, "new_mounts_last_24h": 0}
    assert_problem(client.post(path, json={"capability": "video_mount"}, headers=bearer(developer.token)), 409,
                   "CAPABILITY_ALREADY_APPLIED")
    assert_problem(client.post(path, json={"capability": "teleport"}, headers=bearer(developer.token)), 422,
                   "VALIDATION_ERROR")

    queue = client.get("/v1/review/capabilities", query_string={"status": "pending"}, headers=bearer(operator))
    assert [a["id"] for a in queue.get_json()["data"]] == [application["id"]]
    rejected = client.post(f"/v1/review/capabilities/{application['id']}/reject", json={"reason": "介绍不清"},
                           headers=bearer(operator)).get_json()
    assert (rejected["status"], rejected["reason"]) == ("rejected", "介绍不清")
    assert_problem(client.post(f"/v1/review/capabilities/{application['id']}/approve", headers=bearer(operator)),
                   409, "CAPABILITY_APPLICATION_NOT_PENDING")
    [event] = _events(client, factory, developer.app, "capability.rejected")
    assert event["data"]["application_id"] == application["id"] and event["data"]["reason"] == "介绍不清"

    again = client.post(path, json={"capability": "video_mount"}, headers=bearer(developer.token)).get_json()
    client.post(f"/v1/review/capabilities/{again['id']}/approve", headers=bearer(operator))
    listed = client.get(path, headers=bearer(developer.token)).get_json()["data"]
    assert [(a["capability"], a["status"]) for a in listed] == [("video_mount", "rejected"),
                                                                ("video_mount", "approved")]
    assert _events(client, factory, developer.app, "capability.approved")[0]["data"]["capability"] == "video_mount"
    stranger = developer_with_app(factory)
    assert_problem(client.get(path, headers=bearer(stranger.token)), 404, "MINIPROGRAM_NOT_FOUND")


# --- mounts ------------------------------------------------------------------------------------------


def test_a_plain_card_is_active_at_once_and_shows_on_the_video(client, factory, mount_world):
    w = mount_world
    response = w.mount(client)
    assert response.status_code == 201, response.get_json()
    mount = response.get_json()
    assert mount["status"] == "active" and mount["app_id"] == w.creator_app.id and mount["activated_at"]
    assert response.headers["Location"] == f"/v1/creators/{w.creator.id}/mounts/{mount['id']}"
    public_token = factory.token(factory.app_client(scopes=["public.read"], kind="web_app"), "public.read")
    card = client.get(f"/v1/videos/{w.video['id']}", headers=bearer(public_token)).get_json()["mount"]
    assert card["mount_id"] == mount["id"] and card["miniprogram"]["name"] == w.miniprogram["name"]
    # both the placing app and the mini-program's app hear of it
    assert _events(client, factory, w.developer.app, "mount.created")[0]["data"]["id"] == mount["id"]
    assert client.get(f"/v1/creators/{w.creator.id}/mounts/{mount['id']}", headers=bearer(w.app_token)).get_json() \
        == mount
    mine = client.get(f"/v1/miniprograms/{w.miniprogram['id']}/mounts", headers=bearer(w.developer.token))
    assert [m["id"] for m in mine.get_json()["data"]] == [mount["id"]]


@pytest.mark.parametrize(("overrides", "status", "code"), [
    ({"path": "pages/admin/index"}, 422, "UNKNOWN_ENTRY_PATH"),
    ({"product_ids": ["prd_x"]}, 422, "POI_REQUIRED"),
    ({"poi_id": "poi_nope"}, 422, "UNKNOWN_POI"),
    ({"miniprogram_id": "mnp_nope"}, 404, "MINIPROGRAM_NOT_FOUND"),
    ({"target_id": "vid_nope"}, 404, "TARGET_NOT_FOUND"),
    ({"target_type": "album"}, 422, "VALIDATION_ERROR"),
    ({"title": "名" * 31}, 422, "VALIDATION_ERROR"),
    ({"query": "a=1&b"}, 422, "VALIDATION_ERROR"),
    ({"status": "active"}, 422, "VALIDATION_ERROR"),
])
def test_each_rule_has_its_code_and_nothing_is_stored(client, db_session, mount_world, overrides, status, code):
    assert_problem(mount_world.mount(client, **overrides), status, code)
    assert _count(db_session) == 0


def test_products_must_be_sold_at_the_poi(client, db_session, mount_world):
    w = mount_world
    assert_problem(w.mount(client, poi_id=w.poi_id, product_ids=["prd_nope"]), 422, "UNKNOWN_PRODUCT")
    assert _count(db_session) == 0


def test_another_creators_video_is_not_found(app, client, factory, db_session, mount_world):
    _, _, _, other_video, _ = creator_with_content(app, client, factory)
    assert_problem(mount_world.mount(client, target_id=other_video["id"]), 404, "TARGET_NOT_FOUND")
    assert _count(db_session) == 0


def test_an_app_the_creator_never_authorised_gets_404(client, factory, db_session, mount_world):
    stranger = factory.app_client(scopes=["miniprogram.mount"], kind="web_app")
    response = client.post(f"/v1/creators/{mount_world.creator.id}/mounts", json={
        "target_type": "video", "target_id": mount_world.video["id"], "miniprogram_id": mount_world.miniprogram["id"],
        "path": "pages/index/index", "title": "偷挂"}, headers=bearer(factory.token(stranger, "miniprogram.mount")))
    assert_problem(response, 404, "CREATOR_NOT_FOUND")
    assert _count(db_session) == 0


def test_a_mini_program_without_the_capability_cannot_be_mounted(client, factory, operator, db_session, mount_world):
    other = developer_with_app(factory)
    bare = approve(client, operator, register(client, other, name="没有挂载能力")["id"])
    assert_problem(mount_world.mount(client, miniprogram_id=bare["id"]), 409, "CAPABILITY_REQUIRED")
    grant_capabilities(client, other, operator, bare["id"], capabilities=("live_mount",))
    assert_problem(mount_world.mount(client, miniprogram_id=bare["id"]), 409, "CAPABILITY_REQUIRED")  # a video
    assert _count(db_session) == 0


def test_one_open_mount_per_target_and_unmount_frees_it(client, db_session, mount_world):
    w = mount_world
    first = w.mount(client).get_json()
    assert_problem(w.mount(client, title="第二张卡"), 409, "TARGET_ALREADY_MOUNTED")
    ended = client.post(f"/v1/creators/{w.creator.id}/mounts/{first['id']}/unmount", headers=bearer(w.app_token))
    assert ended.get_json()["status"] == "ended" and ended.get_json()["ended_reason"] == "unmounted"
    assert_problem(client.post(f"/v1/creators/{w.creator.id}/mounts/{first['id']}/unmount",
                               headers=bearer(w.app_token)), 409, "MOUNT_NOT_OPEN")
    assert w.mount(client, title="第二张卡").status_code == 201
    assert _count(db_session) == 2


def test_a_selling_card_waits_for_review(client, factory, mount_world):
    w = mount_world
    mount = w.mount(client, poi_id=w.poi_id, product_ids=[w.product_id, w.product_id]).get_json()
    assert mount["status"] == "pending_review" and mount["product_ids"] == [w.product_id]
    public_token = factory.token(factory.app_client(scopes=["public.read"], kind="web_app"), "public.read")
    assert client.get(f"/v1/videos/{w.video['id']}", headers=bearer(public_token)).get_json()["mount"] is None
    queue = client.get("/v1/review/mounts", query_string={"status": "pending_review"}, headers=bearer(w.operator))
    assert [m["id"] for m in queue.get_json()["data"]] == [mount["id"]]
    approved = client.post(f"/v1/review/mounts/{mount['id']}/approve", headers=bearer(w.operator)).get_json()
    assert approved["status"] == "active"
    assert client.get(f"/v1/videos/{w.video['id']}", headers=bearer(public_token)).get_json()["mount"]["mount_id"] \
        == mount["id"]
    # the POI page shows the card too
    page = client.get(f"/v1/pois/{w.poi_id}/page", headers=bearer(public_token)).get_json()
    assert [c["mount_id"] for c in page["mini_programs"]] == [mount["id"]]
    html = client.get(f"/p/{w.poi_id}").get_data(as_text=True)
    assert f'data-mount-id="{mount["id"]}"' in html and "解放碑火锅 88 元代金券" in html
    assert_problem(client.post(f"/v1/review/mounts/{mount['id']}/approve", headers=bearer(w.operator)), 409,
                   "MOUNT_NOT_PENDING")
    assert _events(client, factory, w.creator_app, "mount.approved")[0]["data"]["id"] == mount["id"]


def test_a_rejected_mount_carries_the_reason(client, factory, mount_world):
    w = mount_world
    mount = w.mount(client, poi_id=w.poi_id, product_ids=[w.product_id]).get_json()
    rejected = client.post(f"/v1/review/mounts/{mount['id']}/reject", json={"reason": "商品与视频内容不符"},
                           headers=bearer(w.operator)).get_json()
    assert (rejected["status"], rejected["reason"]) == ("rejected", "商品与视频内容不符")
    assert _events(client, factory, w.developer.app, "mount.rejected")[0]["data"]["reason"] == "商品与视频内容不符"
    assert w.mount(client).status_code == 201  # a rejected mount does not hold the video


def test_a_live_mount_ends_with_the_stream_and_nothing_mounts_after(client, factory, mount_world):
    w = mount_world
    live = w.live_stream
    client.post(f"/v1/platform-client/live-streams/{live['id']}/start", headers=bearer(w.creator_token))
    mount = w.mount(client, target_type="live_stream", target_id=live["id"]).get_json()
    assert mount["status"] == "active"
    client.post(f"/v1/platform-client/live-streams/{live['id']}/end", headers=bearer(w.creator_token))
    ended = client.get(f"/v1/creators/{w.creator.id}/mounts/{mount['id']}", headers=bearer(w.app_token)).get_json()
    assert (ended["status"], ended["ended_reason"]) == ("ended", "stream_ended")
    assert [e["data"]["id"] for e in _events(client, factory, w.creator_app, "mount.ended")] == [mount["id"]]
    assert_problem(w.mount(client, target_type="live_stream", target_id=live["id"]), 409, "LIVE_STREAM_ENDED")


def test_the_capability_limits_hold(client, monkeypatch, app, factory, db_session, mount_world):
    from gateway.miniprograms import capabilities

    monkeypatch.setitem(capabilities.LIMITS, "video_mount", {"max_active_mounts": 1, "max_new_mounts_per_day": 5})
    w = mount_world
    assert w.mount(client).status_code == 201
    other_video = client.post("/v1/platform-client/videos", json={"title": "第二条"},
                              headers=bearer(w.creator_token)).get_json()
    assert_problem(w.mount(client, target_id=other_video["id"]), 409, "MOUNT_LIMIT_REACHED")
    usage = client.get(f"/v1/miniprograms/{w.miniprogram['id']}/capabilities",
                       headers=bearer(w.developer.token)).get_json()["data"]
    video_mount = next(a for a in usage if a["capability"] == "video_mount")
    assert video_mount["usage"] == {"active_mounts": 1, "new_mounts_last_24h": 1}
    assert _count(db_session) == 1


# --- attribution -------------------------------------------------------------------------------------


def test_exposures_and_clicks_are_recorded_and_the_click_carries_the_source(app, client, factory, db_session,
                                                                          mount_world):
    from tests.miniprograms.conftest import platform_client_token

    w = mount_world
    mount = w.mount(client).get_json()
    viewer, viewer_token = platform_client_token(app, factory)
    assert client.post(f"/v1/platform-client/mounts/{mount['id']}/exposures",
                       headers=bearer(viewer_token)).status_code == 204
    click = client.post(f"/v1/platform-client/mounts/{mount['id']}/clicks", headers=bearer(viewer_token))
    assert click.status_code == 201
    launch = click.get_json()
    assert (launch["miniprogram_id"], launch["path"], launch["query"]) == (
        w.miniprogram["id"], "pages/index/index", "from=video")
    assert launch["source"] == {"type": "video", "id": w.video["id"], "author_id": w.creator.id,
                                "mount_id": mount["id"], "click_id": launch["click_id"]}
    db_session.expire_all()
    events = db_session.scalars(select(MountEvent).order_by(MountEvent.id)).all()
    assert [(e.kind, e.user_id, e.creator_id, e.miniprogram_id) for e in events] == [
        ("exposure", viewer.id, w.creator.id, w.miniprogram["id"]), ("click", viewer.id, w.creator.id,
                                                                     w.miniprogram["id"])]
    assert events[1].id == launch["click_id"]

    client.post(f"/v1/creators/{w.creator.id}/mounts/{mount['id']}/unmount", headers=bearer(w.app_token))
    assert_problem(client.post(f"/v1/platform-client/mounts/{mount['id']}/clicks", headers=bearer(viewer_token)),
                   404, "MOUNT_NOT_FOUND")
    assert _count(db_session, MountEvent) == 2
    assert_problem(client.post(f"/v1/platform-client/mounts/{mount['id']}/clicks", headers=bearer(w.app_token)),
                   403, "INSUFFICIENT_SCOPE")
