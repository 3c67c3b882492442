"""Mini-program login: the platform's client issues a one-time code, the mini-program's backend
exchanges it for the user's app-scoped ids (code2session)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import time_machine

from tests.conftest import bearer
from tests.miniprograms.conftest import approve, developer_with_app, platform_client_token, register
from tests.problems import assert_problem, raw_client


def _code(client, user_token: str, miniprogram_id: str) -> str:
    response = client.post(f"/v1/platform-client/miniprograms/{miniprogram_id}/login-codes",
                           headers=bearer(user_token))
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["miniprogram_id"] == miniprogram_id and 0 < body["expires_in"] <= 300
    return body["code"]


def _exchange(client, app_token: str, code: str):
    return client.post("/v1/miniprogram-sessions", json={"code": code}, headers=bearer(app_token))


def test_a_code_becomes_the_users_app_scoped_ids_once(app, client, factory, developer, live):
    user, user_token = platform_client_token(app, factory)
    code = _code(client, user_token, live["id"])
    response = _exchange(client, developer.token, code)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    session = response.get_json()
    assert session["miniprogram_id"] == live["id"]
    assert session["open_id"].startswith("ou_") and session["union_id"].startswith("un_")
    assert len(session["session_key"]) >= 32 and session["expires_in"] > 0
    assert user.id not in response.get_data(as_text=True)  # never the internal user id

    # the same code again: refused, whoever asks
    assert_problem(_exchange(client, developer.token, code), 400, "LOGIN_CODE_INVALID")
    # a second login of the same user: the same ids, a new session key
    again = _exchange(client, developer.token, _code(client, user_token, live["id"])).get_json()
    assert (again["open_id"], again["union_id"]) == (session["open_id"], session["union_id"])
    assert again["session_key"] != session["session_key"]


def test_open_id_is_per_app_and_union_id_per_developer(app, client, factory, developer, operator, live):
    _, user_token = platform_client_token(app, factory)
    sibling = developer_with_app(factory, user=developer.user)  # the same developer's other mini-program
    sibling_live = approve(client, operator, register(client, sibling, name="山城订座")["id"])
    stranger = developer_with_app(factory)  # another developer
    stranger_live = approve(client, operator, register(client, stranger, name="别家小程序")["id"])

    mine = _exchange(client, developer.token, _code(client, user_token, live["id"])).get_json()
    sibling_ids = _exchange(client, sibling.token, _code(client, user_token, sibling_live["id"])).get_json()
    foreign = _exchange(client, stranger.token, _code(client, user_token, stranger_live["id"])).get_json()
    assert mine["open_id"] != sibling_ids["open_id"] != foreign["open_id"] != mine["open_id"]
    assert mine["union_id"] == sibling_ids["union_id"] != foreign["union_id"]

    _, other_token = platform_client_token(app, factory)
    other_user = _exchange(client, developer.token, _code(client, other_token, live["id"])).get_json()
    assert other_user["open_id"] != mine["open_id"] and other_user["union_id"] != mine["union_id"]


def test_open_id_matches_what_openid_connect_says_for_the_app(app, client, factory, developer, live):
    from gateway.oauth import identity

    user, user_token = platform_client_token(app, factory)
    session = _exchange(client, developer.token, _code(client, user_token, live["id"])).get_json()
    with app.app_context():
        assert session["open_id"] == identity.open_id(developer.app.id, user.id)


def test_another_apps_code_is_refused_and_stays_usable(app, client, factory, developer, live):
    _, user_token = platform_client_token(app, factory)
    code = _code(client, user_token, live["id"])
    thief = developer_with_app(factory)
    assert_problem(_exchange(client, thief.token, code), 400, "LOGIN_CODE_INVALID")
    assert _exchange(client, developer.token, code).status_code == 200


def test_an_expired_or_made_up_code_is_refused(app, client, factory, developer, live):
    _, user_token = platform_client_token(app, factory)
    code = _code(client, user_token, live["id"])
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(seconds=301)):
        assert_problem(_exchange(client, developer.token, code), 400, "LOGIN_CODE_INVALID")
    assert_problem(_exchange(client, developer.token, "made-up"), 400, "LOGIN_CODE_INVALID")
    assert_problem(client.post("/v1/miniprogram-sessions", json={}, headers=bearer(developer.token)), 422,
                   "VALIDATION_ERROR")
    assert_problem(client.post("/v1/miniprogram-sessions", json={"code": "x" * 201}, headers=bearer(developer.token)),
                   422, "VALIDATION_ERROR")


def test_two_racing_exchanges_of_one_code_give_one_session(app, client, factory, developer, live):
    _, user_token = platform_client_token(app, factory)
    code = _code(client, user_token, live["id"])
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def exchange() -> None:
        barrier.wait()
        statuses.append(raw_client(app).post("/v1/miniprogram-sessions", json={"code": code},
                                             headers=bearer(developer.token)).status_code)

    threads = [threading.Thread(target=exchange) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [200, 400]


def test_only_live_mini_programs_exist_for_users(app, client, factory, developer, operator):
    _, user_token = platform_client_token(app, factory)
    pending = register(client, developer)
    assert_problem(client.post(f"/v1/platform-client/miniprograms/{pending['id']}/login-codes",
                               headers=bearer(user_token)), 404, "MINIPROGRAM_NOT_FOUND")
    assert_problem(client.post("/v1/platform-client/miniprograms/mnp_nope/login-codes", headers=bearer(user_token)),
                   404, "MINIPROGRAM_NOT_FOUND")
    # a live mini-program with an edit waiting for review is still live
    approve(client, operator, pending["id"])
    client.patch(f"/v1/miniprograms/{pending['id']}", json={"name": "改名"}, headers=bearer(developer.token))
    assert client.post(f"/v1/platform-client/miniprograms/{pending['id']}/login-codes",
                       headers=bearer(user_token)).status_code == 201


def test_login_codes_are_for_the_platforms_own_client_only(client, developer, live):
    # a developer's token cannot mint login codes for anyone
    assert_problem(client.post(f"/v1/platform-client/miniprograms/{live['id']}/login-codes",
                               headers=bearer(developer.token)), 403, "INSUFFICIENT_SCOPE")
