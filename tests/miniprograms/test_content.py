"""Creators' videos and live streams: published in the platform's app, listed by authorised apps,
public with their card."""

from __future__ import annotations

from tests.conftest import bearer
from tests.miniprograms.conftest import (
    authorize_creator,
    creator_with_content,
    platform_client_token,
)
from tests.problems import assert_problem


def test_a_creator_publishes_and_goes_live_and_ends(app, client, factory):
    _, creator, token, video, live = creator_with_content(app, client, factory)
    assert video["id"].startswith("vid_") and video["creator_id"] == creator.id and video["status"] == "published"
    assert live["status"] == "scheduled" and live["started_at"] is None
    path = f"/v1/platform-client/live-streams/{live['id']}"
    started = client.post(path + "/start", headers=bearer(token)).get_json()
    assert started["status"] == "live" and started["started_at"] is not None
    assert_problem(client.post(path + "/start", headers=bearer(token)), 409, "LIVE_STREAM_NOT_SCHEDULED")
    ended = client.post(path + "/end", headers=bearer(token)).get_json()
    assert ended["status"] == "ended" and ended["ended_at"] is not None
    assert_problem(client.post(path + "/end", headers=bearer(token)), 409, "LIVE_STREAM_ENDED")


def test_only_creators_publish_and_only_their_own_streams(app, client, factory):
    _, plain_token = platform_client_token(app, factory)
    assert_problem(client.post("/v1/platform-client/videos", json={"title": "x"}, headers=bearer(plain_token)), 403,
                   "CREATOR_REQUIRED")
    _, _, _, _, live = creator_with_content(app, client, factory)
    _, _, other_token, _, _ = creator_with_content(app, client, factory)
    assert_problem(client.post(f"/v1/platform-client/live-streams/{live['id']}/start", headers=bearer(other_token)),
                   404, "LIVE_STREAM_NOT_FOUND")
    assert_problem(client.post("/v1/platform-client/videos", json={"title": ""}, headers=bearer(other_token)), 422,
                   "VALIDATION_ERROR")
    assert_problem(client.post("/v1/platform-client/live-streams", json={"title": "x", "scheduled_at": "soon"},
                               headers=bearer(other_token)), 422, "VALIDATION_ERROR")


def test_apps_the_creator_authorised_list_the_content_others_get_404(app, client, factory):
    _, creator, _, video, live = creator_with_content(app, client, factory)
    reader = factory.app_client(scopes=["video.read"], kind="web_app")
    authorize_creator(app, reader, creator, ["video.read"])
    token = factory.token(reader, "video.read")
    videos = client.get(f"/v1/creators/{creator.id}/videos", headers=bearer(token)).get_json()["data"]
    streams = client.get(f"/v1/creators/{creator.id}/live-streams", query_string={"status": "scheduled"},
                         headers=bearer(token)).get_json()["data"]
    assert [v["id"] for v in videos] == [video["id"]] and [s["id"] for s in streams] == [live["id"]]
    assert_problem(client.get(f"/v1/creators/{creator.id}/live-streams", query_string={"status": "gone"},
                              headers=bearer(token)), 400, "INVALID_FILTER")

    stranger = factory.app_client(scopes=["video.read"], kind="web_app")
    for path in (f"/v1/creators/{creator.id}/videos", f"/v1/creators/{creator.id}/live-streams"):
        assert_problem(client.get(path, headers=bearer(factory.token(stranger, "video.read"))), 404,
                       "CREATOR_NOT_FOUND")
    # authorised for something else only: still 404
    narrow = factory.app_client(scopes=["video.read", "miniprogram.mount"], kind="web_app")
    authorize_creator(app, narrow, creator, ["miniprogram.mount"])
    assert_problem(client.get(f"/v1/creators/{creator.id}/videos",
                              headers=bearer(factory.token(narrow, "video.read"))), 404, "CREATOR_NOT_FOUND")


def test_public_video_and_live_stream(app, client, factory):
    _, creator, _, video, live = creator_with_content(app, client, factory)
    token = factory.token(factory.app_client(scopes=["public.read"], kind="web_app"), "public.read")
    shown = client.get(f"/v1/videos/{video['id']}", headers=bearer(token)).get_json()
    assert shown["creator"] == {"id": creator.id, "name": creator.name} and shown["mount"] is None
    assert client.get(f"/v1/live-streams/{live['id']}", headers=bearer(token)).get_json()["status"] == "scheduled"
    assert_problem(client.get("/v1/videos/vid_nope", headers=bearer(token)), 404, "VIDEO_NOT_FOUND")
    assert_problem(client.get(f"/v1/videos/{live['id']}", headers=bearer(token)), 404, "VIDEO_NOT_FOUND")


def test_a_hidden_video_is_not_public(app, client, factory):
    from gateway.creators.models import Video

    _, _, _, video, _ = creator_with_content(app, client, factory)
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        s.get(Video, video["id"]).status = "hidden"
        s.commit()
    token = factory.token(factory.app_client(scopes=["public.read"], kind="web_app"), "public.read")
    assert_problem(client.get(f"/v1/videos/{video['id']}", headers=bearer(token)), 404, "VIDEO_NOT_FOUND")
