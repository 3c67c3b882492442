"""Stats for dashboards (GROUP BY day or hour, zero-filled, filtered) and incremental sync by an
opaque cursor over a dataset's time-sortable ids; both only ever over the merchant's own rows."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
import time_machine

from gateway.clock import utcnow


def _stats(client, world, tenant, **query):
    return client.get(f"{world.base(tenant)}/stats", query_string=query, headers=world.headers)


def test_page_views_by_day_are_zero_filled_and_the_tenants_own(client, export_world):
    today = utcnow().date()
    response = _stats(client, export_world, export_world.b, metric="page_views",
                      date_from=(today - timedelta(days=3)).isoformat(), date_to=today.isoformat())
    assert response.status_code == 200
    series = response.get_json()
    assert [p["at"][:10] for p in series["points"]] == [(today - timedelta(days=d)).isoformat() for d in (3, 2, 1, 0)]
    # the seed: views now, 1 h, 25 h and 49 h ago (B's only: A has the same, and must not count)
    assert series["total"] == 4 and series["freshness_seconds"] == 0
    assert sum(p["value"] for p in series["points"]) == 4


def test_by_hour_with_filters(client, export_world):
    today = utcnow().date().isoformat()
    searched = _stats(client, export_world, export_world.b, metric="page_views", granularity="hour",
                      date_from=today, date_to=today, source="search").get_json()
    assert len(searched["points"]) == 24
    assert searched["total"] <= 2 and searched["filters"] == {"source": "search"}
    clicks = _stats(client, export_world, export_world.b, metric="mount_clicks", date_from=today, date_to=today,
                    poi_id=export_world.b.ids["poi"]).get_json()
    assert clicks["total"] == 1
    exposures = _stats(client, export_world, export_world.b, metric="mount_exposures", date_from=today, date_to=today,
                       mount_id=export_world.b.ids["mount"]).get_json()
    assert exposures["total"] == 2
    foreign_poi = _stats(client, export_world, export_world.b, metric="page_views", date_from=today, date_to=today,
                         poi_id=export_world.a.ids["poi"]).get_json()
    assert foreign_poi["total"] == 0  # a filter never widens past the merchant


def test_amounts_and_defaults(client, export_world):
    paid = _stats(client, export_world, export_world.b, metric="paid_amount").get_json()
    assert len(paid["points"]) == 7 and paid["total"] == 3 * 8800  # the paid order; the unpaid one is not counted
    orders = _stats(client, export_world, export_world.b).get_json()
    assert orders["metric"] == "orders" and orders["total"] == 2
    verified = _stats(client, export_world, export_world.b, metric="verified_amount").get_json()
    assert verified["total"] == 8800
    assert _stats(client, export_world, export_world.b, metric="new_followers").get_json()["total"] == 1


@pytest.mark.parametrize("query,status,code", [
    ({"metric": "revenue"}, 400, "INVALID_FILTER"),
    ({"granularity": "minute"}, 400, "INVALID_FILTER"),
    ({"metric": "new_followers", "poi_id": "poi_1"}, 400, "INVALID_FILTER"),
    ({"metric": "page_views", "mount_id": "mnt_1"}, 400, "INVALID_FILTER"),
    ({"date_from": "2026-01-10", "date_to": "2026-01-01"}, 422, "INVALID_DATE_RANGE"),
    ({"date_from": "2026-01-01", "date_to": "2026-01-08", "granularity": "hour"}, 422, "INVALID_DATE_RANGE"),
    ({"date_from": "yesterday"}, 422, "INVALID_DATE_RANGE"),
    ({"poi_id": "x" * 65}, 400, "INVALID_FILTER"),
])
def test_bad_stats_queries_are_clear_problems(client, export_world, query, status, code):
    response = _stats(client, export_world, export_world.b, **query)
    assert response.status_code == status and response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == code


def _changes(client, world, tenant, dataset="orders", **query):
    return client.get(f"{world.base(tenant)}/datasets/{dataset}/changes", query_string=query, headers=world.headers)


def test_incremental_sync_returns_each_new_row_once(client, export_world, app):
    from gateway.ids import new_id
    from gateway.orders.models import Order

    first = _changes(client, export_world, export_world.b).get_json()
    assert {row["id"] for row in first["data"]} == {export_world.b.ids["order"], export_world.b.ids["unpaid_order"]}
    assert first["has_more"] is False and first["next_cursor"]
    again = _changes(client, export_world, export_world.b, cursor=first["next_cursor"]).get_json()
    assert again["data"] == [] and again["next_cursor"] == first["next_cursor"]  # nothing new: same place
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        now = utcnow()
        order = Order(id=new_id("order"), merchant_id=export_world.b.merchant_id, poi_id=export_world.b.ids["poi"],
                      user_id=export_world.b.ids["owner"], channel="poi_page", status="pending_payment",
                      total_amount=100, created_at=now, expires_at=now + timedelta(minutes=15), updated_at=now)
        s.add(order)
        s.commit()
        new_order = order.id
    after = _changes(client, export_world, export_world.b, cursor=first["next_cursor"]).get_json()
    assert [row["id"] for row in after["data"]] == [new_order]
    assert after["data"][0]["buyer_open_id"].startswith("ou_")
    # page by page
    page = _changes(client, export_world, export_world.b, limit=1).get_json()
    assert len(page["data"]) == 1 and page["has_more"] is True


def test_sync_leaves_the_youngest_rows_for_the_next_call(client, export_world, app, monkeypatch):
    """A row younger than EXPORT_SYNC_SETTLE waits: an open transaction could still commit an
    older id that a cursor past it would skip."""
    monkeypatch.setitem(app.config["SHIJING"], "EXPORT_SYNC_SETTLE", 5)
    assert _changes(client, export_world, export_world.b).get_json()["data"] == []  # all seeded just now
    with time_machine.travel(utcnow() + timedelta(seconds=6), tick=False):
        settled = _changes(client, export_world, export_world.b).get_json()
    assert len(settled["data"]) == 2


def test_sync_is_the_tenants_own_and_checks_its_input(client, export_world):
    for dataset in ("poi_page_views", "mount_events", "orders", "verifications", "followers",
                    "service_account_messages"):
        text = _changes(client, export_world, export_world.b, dataset, limit=100).get_data(as_text=True)
        assert not [v for v in export_world.a.ids.values() if isinstance(v, str) and v and v in text], dataset
    assert _changes(client, export_world, export_world.b, cursor="junk").get_json()["code"] == "INVALID_CURSOR"
    for forged, status in (("c1:99999999999999999:ord_01j9x6b2f00000000000000000", 400),  # past year 9999
                           ("c1:9999999999999999:ord_01j9x6b2f00000000000000000", 200),  # 2286: nothing after
                           ("c1:1:ord_01j9x6b2f", 400)):
        cursor = base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")
        response = _changes(client, export_world, export_world.b, cursor=cursor)
        assert response.status_code == status, (forged, response.get_json())
        assert response.get_json()["data"] == [] if status == 200 else response.get_json()["code"] == "INVALID_CURSOR"
    # a cursor is its dataset's own: another dataset's (of either kind) is refused, not misread
    cursor_of = {name: _changes(client, export_world, export_world.b, name).get_json()["next_cursor"]
                 for name in ("orders", "followers", "poi_page_views", "mount_events")}
    for dataset, cursor in (("poi_page_views", cursor_of["orders"]), ("orders", cursor_of["poi_page_views"]),
                            ("followers", cursor_of["orders"]), ("poi_page_views", cursor_of["mount_events"])):
        wrong = _changes(client, export_world, export_world.b, dataset, cursor=cursor)
        assert wrong.status_code == 400 and wrong.get_json()["code"] == "INVALID_CURSOR"


def _mirror(client, world, tenant, dataset: str, mirror: dict, cursor: str | None) -> str | None:
    """What a partner's mirror does: page through the changes and upsert each row by its id."""
    while True:
        page = _changes(client, world, tenant, dataset, limit=1, **({"cursor": cursor} if cursor else {})).get_json()
        mirror.update({row["id"]: row for row in page["data"]})
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return cursor


def _dataset_now(client, world, tenant, dataset: str) -> dict:
    return {row["id"]: row for row in _changes(client, world, tenant, dataset, limit=100).get_json()["data"]}


def test_changed_rows_come_again_so_a_mirror_stays_equal(client, export_world, app):
    """An order cancelled, a follower tagged and untagged, a POI's quality tags recomputed: each
    row comes again after its change; a mirror upserting by id equals the dataset, and a sync
    with nothing changed returns nothing."""
    from sqlalchemy import update

    from gateway.orders import services as orders
    from gateway.orders.models import Order
    from gateway.poi.models import Poi
    from gateway.service_accounts import services as accounts
    from gateway.service_accounts.models import ServiceAccount, Tag

    b = export_world.b
    datasets = ("orders", "followers", "poi_quality_tags")
    mirrors = {name: {} for name in datasets}
    cursors = {name: _mirror(client, export_world, b, name, mirrors[name], None) for name in datasets}
    assert mirrors["orders"][b.ids["unpaid_order"]]["status"] == "pending_payment"
    with time_machine.travel(utcnow() + timedelta(seconds=1), tick=True):
        with app.app_context(), app.extensions["shijing.db"].new_session() as s:
            orders.cancel_by_user(s, s.get(Order, b.ids["unpaid_order"]))
            account = s.get(ServiceAccount, b.ids["service_account"])
            partner = export_world.partner.id
            [(follower_id, follower)] = _dataset_now(client, export_world, b, "followers").items()
            open_id = follower["open_id"]
            new_tag = accounts.create_tag(s, account, "新客")
            accounts.batch_tag(s, partner, account, new_tag, [open_id], [])
            accounts.batch_tag(s, partner, account, s.get(Tag, b.ids["tag"]), [], [open_id])
            s.execute(update(Poi).where(Poi.id == b.ids["poi"]).values(quality_tags=["hygiene_a"], updated_at=utcnow()))
            s.commit()
        changed = {}
        for name in datasets:
            before = dict(mirrors[name])
            cursors[name] = _mirror(client, export_world, b, name, mirrors[name], cursors[name])
            changed[name] = {key for key, row in mirrors[name].items() if before.get(key) != row}
            assert mirrors[name] == _dataset_now(client, export_world, b, name), name
            again = _changes(client, export_world, b, name, cursor=cursors[name]).get_json()
            assert again["data"] == [] and again["next_cursor"] == cursors[name], name
    assert changed == {"orders": {b.ids["unpaid_order"]}, "followers": {follower_id},
                       "poi_quality_tags": {b.ids["poi"]}}
    assert mirrors["orders"][b.ids["unpaid_order"]]["status"] == "cancelled"
    assert [tag["name"] for tag in mirrors["followers"][follower_id]["tags"]] == ["附近常客", "新客"]
    assert mirrors["poi_quality_tags"][b.ids["poi"]]["quality_tags"] == ["hygiene_a"]
    assert _changes(client, export_world, export_world.b, "payments").status_code == 404
