"""Operators see the endpoints Shijing stopped sending to, across apps; nobody else does."""

from __future__ import annotations

from tests.conftest import bearer
from tests.poi.api_world import operator_token
from tests.problems import assert_problem
from tests.webhooks.conftest import PartnerReceiver, register
from tests.webhooks.receiver import Reply


def test_operators_list_disabled_endpoints_of_every_app(app, client, factory, token, receiver):
    gone, _ = register(client, token, receiver.url + "/gone")
    other_token = factory.token(factory.app_client(), "webhooks.manage")
    with PartnerReceiver() as other_receiver:
        healthy, _ = register(client, other_token, other_receiver.url + "/ok")
    receiver.add(Reply(410))
    client.post(f"/v1/webhook-endpoints/{gone['id']}/test", headers=bearer(token))
    receiver.wait_for(1)

    operator = operator_token(app, factory, scope="platform.operate")
    disabled = client.get("/v1/operator/webhook-endpoints", query_string={"status": "disabled"},
                          headers=bearer(operator)).get_json()["data"]
    assert [(e["id"], e["app_id"], e["disabled_reason"]) for e in disabled] == [
        (gone["id"], gone["app_id"], "gone")]
    every = client.get("/v1/operator/webhook-endpoints", headers=bearer(operator)).get_json()["data"]
    assert {e["id"] for e in every} == {gone["id"], healthy["id"]}
    by_app = client.get("/v1/operator/webhook-endpoints", query_string={"app_id": healthy["app_id"]},
                        headers=bearer(operator)).get_json()["data"]
    assert [e["id"] for e in by_app] == [healthy["id"]]
    assert_problem(client.get("/v1/operator/webhook-endpoints", query_string={"status": "gone"},
                              headers=bearer(operator)), 400, "INVALID_FILTER")


def test_only_operators_see_them(app, client, factory, token):
    not_operator = operator_token(app, factory, operator=False, scope="platform.operate")
    assert_problem(client.get("/v1/operator/webhook-endpoints", headers=bearer(not_operator)), 403,
                   "OPERATOR_REQUIRED")
    assert_problem(client.get("/v1/operator/webhook-endpoints", headers=bearer(token)), 403, "INSUFFICIENT_SCOPE")
