"""Operator review: operators only, one decision per submission, an event per decision."""

from __future__ import annotations

import pytest

from tests.conftest import bearer
from tests.poi.api_world import cheap_password_hashing, build, operator_token, store, voucher  # noqa: F401 (autouse)
from tests.problems import assert_problem


@pytest.fixture
def world(app, factory):
    return build(app, factory)


def test_a_non_operator_with_the_scope_is_403(app, client, world, factory):
    person = operator_token(app, factory, operator=False)  # consented to platform.review, not an operator
    poi = client.put(f"{world.base()}/pois/external/store-1001", json=store(), headers=world.headers).get_json()

    for response in (
        client.get("/v1/review/submissions", headers=bearer(person)),
        client.get(f"/v1/review/submissions/{poi['review']['submission_id']}", headers=bearer(person)),
        client.post(f"/v1/review/submissions/{poi['review']['submission_id']}/approve", headers=bearer(person)),
    ):
        assert_problem(response, 403, "OPERATOR_REQUIRED")
    assert client.get(f"{world.base()}/pois/{poi['id']}", headers=world.headers).get_json()["live"] is False


def test_a_partner_token_cannot_review(client, world):
    response = client.get("/v1/review/submissions", headers=world.headers)
    assert_problem(response, 403, "INSUFFICIENT_SCOPE")


def test_the_queue_lists_pending_submissions_by_filter(client, world):
    poi = client.put(f"{world.base()}/pois/external/store-1001", json=store(), headers=world.headers).get_json()
    client.put(f"{world.base()}/products/external/v-1", json=voucher(poi_ids=[poi["id"]]), headers=world.headers)

    queue = client.get("/v1/review/submissions", query_string={"status": "pending", "subject_type": "poi"},
                       headers=bearer(world.operator)).get_json()

    assert [(s["subject_type"], s["subject_id"]) for s in queue["data"]] == [("poi", poi["id"])]
    assert queue["data"][0]["app_id"] == world.partner.id
    assert queue["data"][0]["changes"]["name"] == "山城老火锅（解放碑店）"
    by_merchant = client.get("/v1/review/submissions", query_string={"merchant_id": world.merchants[1].id},
                             headers=bearer(world.operator)).get_json()
    assert by_merchant["data"] == []


def test_each_decision_is_an_event_for_the_submitting_app(client, world):
    poi = client.put(f"{world.base()}/pois/external/store-1001", json=store(), headers=world.headers).get_json()
    world.approve(client, poi["review"]["submission_id"])
    edit = client.patch(f"{world.base()}/pois/{poi['id']}", json={"name": "改名"}, headers=world.headers).get_json()
    client.post(f"/v1/review/submissions/{edit['review']['submission_id']}/reject", json={"reason": "名称不规范"},
                headers=bearer(world.operator))
    product = client.put(f"{world.base()}/products/external/v-1", json=voucher(poi_ids=[poi["id"]]),
                         headers=world.headers).get_json()
    world.approve(client, product["review"]["submission_id"])

    events = [e for e in client.get("/v1/events", headers=world.headers).get_json()["data"]
              if e["type"].endswith((".approved", ".rejected"))]

    assert [e["type"] for e in events] == ["poi.review.approved", "poi.review.rejected", "product.review.approved"]
    rejected = events[1]
    assert rejected["merchant_id"] == world.merchants[0].id
    assert rejected["data"]["reason"] == "名称不规范" and rejected["data"]["changes"] == {"name": "改名"}
    assert rejected["data"]["live"] is True and rejected["data"]["subject_id"] == poi["id"]
    assert events[2]["data"]["subject_type"] == "product"


def test_deciding_twice_is_409(client, world):
    poi = client.put(f"{world.base()}/pois/external/store-1001", json=store(), headers=world.headers).get_json()
    submission_id = poi["review"]["submission_id"]
    world.approve(client, submission_id)
    again = client.post(f"/v1/review/submissions/{submission_id}/reject", json={"reason": "x"},
                        headers=bearer(world.operator))
    assert_problem(again, 409, "SUBMISSION_NOT_PENDING")


def test_unknown_submission_is_404_and_reject_needs_a_reason(client, world):
    missing = client.post("/v1/review/submissions/rvw_nothing/approve", headers=bearer(world.operator))
    assert_problem(missing, 404, "SUBMISSION_NOT_FOUND")
    poi = client.put(f"{world.base()}/pois/external/store-1001", json=store(), headers=world.headers).get_json()
    no_reason = client.post(f"/v1/review/submissions/{poi['review']['submission_id']}/reject", json={},
                            headers=bearer(world.operator))
    assert_problem(no_reason, 422, "VALIDATION_ERROR")
