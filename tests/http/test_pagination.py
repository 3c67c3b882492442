"""Cursor pagination, the same on every list: ``limit`` 1–100, an opaque ``cursor`` →
``next_cursor``, and ``has_more``."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import bearer
from tests.problems import assert_problem

LISTS = ["/v1/apps", "/v1/events", "/v1/authorizations"]


@pytest.fixture
def token(factory):
    return factory.token(factory.app_client(), "apps.manage events.read authorizations.read")


BAD_LIMITS = ["0", "101", "abc", str(10**6), "-1", "1.5", "", " 5", "\u0663", "\u00b2"]
BAD_CURSORS = [
    "garbage",
    "!!!!",
    "djE6",
    base64.urlsafe_b64encode(b"v2:app_1").decode(),
    "\u00e9",
    "x" * 199,
    base64.urlsafe_b64encode(b"v1:" + b"a" * 100).decode(),
    base64.urlsafe_b64encode(b"v1:app_\x00").decode(),
]


@pytest.mark.parametrize("path", LISTS)
def test_bad_limits_are_400(client, token, path):
    for limit in BAD_LIMITS:
        response = client.get(path, query_string={"limit": limit}, headers=bearer(token))
        assert response.status_code == 400, f"limit={limit!r}"
        assert_problem(response, 400, "INVALID_LIMIT")


@pytest.mark.parametrize("path", LISTS)
def test_garbage_cursors_are_400(client, token, path):
    for cursor in BAD_CURSORS:
        response = client.get(path, query_string={"cursor": cursor}, headers=bearer(token))
        assert response.status_code == 400, f"cursor={cursor!r}"
        assert_problem(response, 400, "INVALID_CURSOR")


def test_limit_bounds_are_accepted(client, token):
    for limit in ("1", "100"):
        assert (
            client.get("/v1/apps", query_string={"limit": limit}, headers=bearer(token)).status_code
            == 200
        )


def test_walking_pages_returns_every_item_once_in_id_order(client, factory):
    developer = factory.user(developer=True)
    caller = factory.app_client(developer=developer)
    token = factory.token(caller, "apps.manage")
    body = {"kind": "web_app", "redirect_uris": ["https://walk.example/cb"]}
    created = [
        client.post(
            "/v1/apps", json={**body, "name": f"walk {i}"}, headers=bearer(token)
        ).get_json()["id"]
        for i in range(11)
    ]
    expected = sorted(created + [caller.id])

    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/apps", query_string=query, headers=bearer(token)).get_json()
        pages += 1
        assert len(page["data"]) <= 5
        seen += [item["id"] for item in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        assert page["next_cursor"] and len(page["data"]) == 5
        cursor = page["next_cursor"]
    assert pages == 3
    assert seen == expected  # every item exactly once, in id (= creation) order


def test_a_page_that_ends_exactly_at_the_last_item_has_no_more(client, factory):
    partner = factory.app_client()
    token = factory.token(partner, "apps.manage")
    page = client.get("/v1/apps", query_string={"limit": 1}, headers=bearer(token)).get_json()
    assert [a["id"] for a in page["data"]] == [partner.id]
    assert page["has_more"] is False and page["next_cursor"] is None


def test_default_page_size_is_20(client, factory):
    from gateway.events.services import emit

    partner = factory.app_client()
    with factory.app.app_context(), factory.app.extensions["shijing.db"].new_session() as s:
        for i in range(25):
            emit(
                s,
                "app.updated",
                app_id=partner.id,
                data={"app_id": partner.id, "changed": [str(i)]},
            )
        s.commit()
    page = client.get(
        "/v1/events", headers=bearer(factory.token(partner, "events.read"))
    ).get_json()
    assert len(page["data"]) == 20 and page["has_more"] is True


def test_a_cursor_from_one_list_does_not_leak_another_apps_items(client, factory):
    # a cursor is only a position: it never widens what the caller may see
    mine, theirs = factory.app_client(), factory.app_client()
    mine_token, theirs_token = (
        factory.token(mine, "apps.manage"),
        factory.token(theirs, "apps.manage"),
    )
    before_both = "app_" + "0" * 26
    cursor = base64.urlsafe_b64encode(f"v1:{before_both}".encode()).decode().rstrip("=")
    page = client.get(
        "/v1/apps", query_string={"cursor": cursor}, headers=bearer(mine_token)
    ).get_json()
    assert [a["id"] for a in page["data"]] == [mine.id]
    page = client.get(
        "/v1/apps", query_string={"cursor": cursor}, headers=bearer(theirs_token)
    ).get_json()
    assert [a["id"] for a in page["data"]] == [theirs.id]
