"""G1: the cross-tenant matrix, generated from the spec (SECURITY row 29, OWASP API1).

Merchant A authorised its partner app (A's app, A's authorization, A's event); merchant B
authorised another partner app. B's tokens are: the partner's client-credentials token with every
scope it may hold, a merchant-bound token from B's consent (real code flow), and B's owner's
first-party console token. For every operation of ``openapi/openapi.yaml`` with a path parameter,
each of B's tokens that holds the operation's scope asks for A's object: the answer is 404 (a 403
would confirm that the object exists) and no table changes. Every list operation answered for B
contains none of A's ids. An app merchant A never authorised gets 404 for merchant A.

The parametrization is read from the spec: a new operation is in the matrix without anyone
editing this file, and one whose path parameter has no factory of A's object below fails.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest

from gateway.demo import PARTNER_SCOPES
from tests.conftest import AppCredentials, Factory, bearer
from tests.poi.api_world import seed_store
from tests.tenants import (
    CONSOLE_REDIRECT_URI,
    REDIRECT_URI,
    Browser,
    Operation,
    client_credentials_scopes,
    export_token,
    fill_path,
    first_event_id,
    merchant_grant_scopes,
    operations,
    restore_rows,
    seed_creator_content,
    seed_export,
    seed_miniprogram,
    seed_orders,
    seed_service_account,
    seed_webhook,
    snapshot_rows,
    world_outlives_the_module,
    with_world_ids,
)

USER_SCOPES = ["openid", "profile", "account.authorizations", "platform.client"]


@dataclasses.dataclass
class Tokens:
    """Bearer tokens by kind, with the scopes each holds."""

    values: dict[str, tuple[str, frozenset]]

    def holding(self, scopes) -> dict[str, str]:
        return {kind: token for kind, (token, held) in self.values.items() if set(scopes) <= held}


@dataclasses.dataclass
class Matrix:
    a_ids: dict[str, str]  # what A owns, by kind
    b_tokens: Tokens
    unauthorised_token: str  # an app merchant A never authorised
    b_merchant_id: str
    rows: list
    b_ids: dict = dataclasses.field(default_factory=dict)


# Path parameter -> A's object. An operation whose path parameter is missing here fails below.
FACTORIES: dict[str, Callable[[dict], str]] = {
    "merchant_id": lambda a: a["merchant"],
    "app_id": lambda a: a["app"],
    "authorization_id": lambda a: a["authorization"],
    "event_id": lambda a: a["event"],
    "poi_id": lambda a: a["poi"],
    "product_id": lambda a: a["product"],
    "submission_id": lambda a: a["submission"],
    "endpoint_id": lambda a: a["webhook_endpoint"],
    "miniprogram_id": lambda a: a["miniprogram"],
    "creator_id": lambda a: a["creator"],
    "video_id": lambda a: a["video"],
    "live_stream_id": lambda a: a["live_stream"],
    "mount_id": lambda a: a["mount"],
    "delivery_id": lambda a: a["webhook_delivery"],
    "service_account_id": lambda a: a["service_account"],
    "tag_id": lambda a: a["tag"],
    "segment_id": lambda a: a["segment"],
    "template_id": lambda a: a["template"],
    "send_id": lambda a: a["send"],
    "external_id": lambda a: "store-1001",  # the external id of A's store (each app's own namespace)
    "order_id": lambda a: a["order"],
    "payment_id": lambda a: a["payment"],
    "certificate_id": lambda a: a["certificate"],
    "verification_id": lambda a: a["verification"],
    "refund_id": lambda a: a["refund"],
    "slot_id": lambda a: a["booking_slot"],
    "date": lambda a: "2026-01-01",  # any closed day: the merchant in the path is A
    "dataset": lambda a: "orders",  # a dataset names no object: the merchant in the path is A
    "export_id": lambda a: a["export"],
    "token": export_token,  # the seeded export's download link, signed for the tenant's app
}
# Scopes whose operations are platform-wide by design, with the reason (no tenant to isolate).
PLATFORM_WIDE = {
    "platform.operate": "operators watch every app's webhook endpoints; a token whose user is not an operator "
                        "gets 403 before any lookup (tests/webhooks/test_operator.py)",
    "platform.review": "operators review every merchant's submissions; a token whose user is not an operator "
                       "gets 403 before any lookup (tests/poi/test_api_review.py)",
}
# Operations that show anyone what is public by design, with the reason.
PUBLIC_BY_DESIGN = {
    "creators_get_public_video": "a published video is public (tests/miniprograms/test_content.py: hidden is 404)",
    "creators_get_public_live_stream": "a live stream is public, scheduled, live or ended",
    "datasets_get": "a dataset's schema (columns, freshness, retention) is the same for every merchant: no rows",
}
# Path parameters that name no tenant's object; allowed only on public operations (security: []).
NOT_TENANT_OWNED = {"filename": "static files of the sign-in and docs pages",
                    "provider": "the payment provider posting its signed callback (not an app's request)"}


@pytest.fixture(scope="module")
def matrix(app) -> Matrix:
    factory = Factory(app)
    scopes_cc = client_credentials_scopes(PARTNER_SCOPES)

    reviewer = factory.user(operator=True)

    def tenant(console: AppCredentials, *, live: bool):
        owner = factory.user()
        merchant = factory.merchant(owner)
        # kind mini_program: the same app also runs the tenant's mini-program (the kind only gates that)
        partner = factory.app_client(scopes=PARTNER_SCOPES, redirect_uris=[REDIRECT_URI], kind="mini_program")
        authorization_id = factory.authorize(partner, merchant, merchant_grant_scopes())
        browser = Browser(app, owner.username, factory.password)
        merchant_bound = browser.authorize(
            partner, " ".join(["openid", "profile", *merchant_grant_scopes()]), merchant_id=merchant.id
        )
        assert merchant_bound["subject_type"] == "merchant" and merchant_bound["merchant_id"] == merchant.id
        user_bound = browser.authorize(console, " ".join(USER_SCOPES), redirect_uri=CONSOLE_REDIRECT_URI)
        assert user_bound["subject_type"] == "user"
        tokens = Tokens({
            "client_credentials": (factory.token(partner), frozenset(scopes_cc)),
            "merchant_bound": (merchant_bound["access_token"], frozenset(merchant_bound["scope"].split())),
            "user_bound": (user_bound["access_token"], frozenset(user_bound["scope"].split())),
        })
        # A's store waits for review (so public reads of it are 404 too); B's is live (public lists non-empty)
        poi_id, product_id, submission_id = seed_store(app, partner, merchant.id, live=live,
                                                       operator_user_id=reviewer.id)
        ids = {"merchant": merchant.id, "owner": owner.id, "app": partner.id, "developer": partner.developer_user_id,
               "authorization": authorization_id, "event": first_event_id(app, partner.id), "poi": poi_id,
               "product": product_id, "submission": submission_id}
        # the event has a delivery, so lists of an event's deliveries are not empty
        ids["webhook_endpoint"], ids["webhook_delivery"], ids["event"] = seed_webhook(app, partner.id)
        # A's waits for review (users cannot reach it); B's is live
        ids["miniprogram"] = seed_miniprogram(app, partner.id, live=live, operator_user_id=reviewer.id)
        # the owner is a creator too, who authorised the partner; A's mount has ended (no user reaches it)
        ids.update(seed_creator_content(app, partner.id, owner.id, ids["miniprogram"], live=live,
                                        operator_user_id=reviewer.id))
        # the owner follows the merchant's service account; A's is suspended (no user reaches it)
        ids.update(seed_service_account(app, partner.id, merchant.id, owner.id, live=live))
        # the owner bought at the store: an order with a verified, a refunding and a booked certificate
        ids.update(seed_orders(app, partner.id, merchant.id, poi_id, product_id, owner.id))
        # the partner exported the merchant's orders (a completed job, its file and a link)
        ids.update(seed_export(app, partner.id, merchant.id))
        return ids, tokens

    console = factory.app_client(scopes=USER_SCOPES, kind="web_app", client_type="public",
                                 redirect_uris=[CONSOLE_REDIRECT_URI], first_party=True)
    a_ids, _ = tenant(console, live=False)
    b_ids, b_tokens = tenant(console, live=True)
    stranger = factory.app_client(scopes=PARTNER_SCOPES)
    stranger_token = factory.token(stranger)
    world_outlives_the_module(app)
    return Matrix(a_ids, b_tokens, stranger_token, b_ids["merchant"], snapshot_rows(app), b_ids)


@pytest.fixture
def world(app, matrix) -> Matrix:
    restore_rows(app, matrix.rows)
    return matrix


def _tables(app) -> dict[str, list]:
    """Every row of every table, comparable (the before/after snapshot)."""
    return {table.name: sorted(map(repr, rows)) for table, rows in snapshot_rows(app)}


def _example_body(operation: Operation):
    body = operation.definition.get("requestBody")
    if not body:
        return None, None
    media_type, content = next(iter(body["content"].items()))
    return media_type, content.get("example", {})


def _call(client, operation: Operation, path: str, token: str, ids: dict | None = None):
    media_type, body = _example_body(operation)
    if ids is not None:
        body = with_world_ids(body, ids)  # example ids in the body name the world's objects
    kwargs = {"headers": bearer(token), "buffered": True}  # a file download is read and closed
    if any(p.get("$ref", "").endswith("/VerifyIdempotencyKey") for p in operation.definition.get("parameters", [])):
        kwargs["headers"]["Idempotency-Key"] = f"matrix-{operation.operation_id}"
    if media_type == "application/json":
        kwargs["json"] = body
    elif media_type is not None:
        kwargs["data"] = body
    return client.open(path, method=operation.method.upper(), **kwargs)


def _platform_wide(operation: Operation) -> bool:
    return bool(operation.required_scopes) and set(operation.required_scopes) <= set(PLATFORM_WIDE)


WITH_PATH_PARAMETERS = [op for op in operations() if op.path_parameters]
LISTS = [op for op in operations() if op.is_list and not _platform_wide(op)]


def _b_path(world: Matrix, operation: Operation) -> str:
    """The operation's path naming B's own objects."""
    return fill_path(operation, {name: FACTORIES[name](world.b_ids) for name in operation.path_parameters})


def test_the_matrix_is_generated_from_the_spec():
    assert {op.operation_id for op in WITH_PATH_PARAMETERS} >= {
        "apps_get", "apps_update", "apps_delete", "apps_rotate_secret", "authorizations_get",
        "authorizations_disconnect", "authorizations_revoke_mine", "merchants_get", "events_get",
    }
    assert {op.operation_id for op in LISTS} >= {"apps_list", "authorizations_list", "authorizations_list_mine",
                                                 "events_list"}


@pytest.mark.parametrize("operation", WITH_PATH_PARAMETERS, ids=lambda op: op.label)
def test_a_foreign_object_is_404_and_untouched(app, world, client, operation):
    if _platform_wide(operation) or operation.operation_id in PUBLIC_BY_DESIGN:
        return  # see PLATFORM_WIDE and PUBLIC_BY_DESIGN
    unmapped = [name for name in operation.path_parameters if name not in FACTORIES]
    if unmapped:
        public = operation.definition.get("security") == []
        assert public and set(unmapped) <= set(NOT_TENANT_OWNED), (
            f"{operation.label}: path parameter(s) {unmapped} name no object of merchant A; add a factory "
            "to FACTORIES so the cross-tenant matrix covers this operation"
        )
        return
    path = fill_path(operation, {name: FACTORIES[name](world.a_ids) for name in operation.path_parameters})
    tokens = world.b_tokens.holding(operation.required_scopes)
    assert tokens, f"{operation.label}: none of B's tokens holds {operation.required_scopes}; add one to the matrix"
    for kind, token in tokens.items():
        before = _tables(app)
        response = _call(client, operation, path, token)
        assert response.status_code == 404, (kind, response.status_code, response.get_data(as_text=True)[:300])
        if operation.definition.get("security") != []:  # a public HTML page answers 404 in HTML
            assert response.mimetype == "application/problem+json"
        assert _tables(app) == before, f"{operation.label} with B's {kind} token changed the database"


@pytest.mark.parametrize(
    "operation", [op for op in WITH_PATH_PARAMETERS if "merchant_id" in op.path_parameters], ids=lambda op: op.label
)
def test_an_app_the_merchant_never_authorised_gets_404(app, world, client, operation):
    path = fill_path(operation, {name: FACTORIES[name](world.a_ids) for name in operation.path_parameters})
    before = _tables(app)
    response = _call(client, operation, path, world.unauthorised_token)
    assert response.status_code == 404, response.get_data(as_text=True)[:300]
    assert _tables(app) == before


@pytest.mark.parametrize(
    "operation", [op for op in WITH_PATH_PARAMETERS if "merchant_id" in op.path_parameters], ids=lambda op: op.label
)
def test_b_reaches_its_own_merchant(app, world, client, operation):
    """The control: the same call for B's own merchant succeeds, so the 404 above is isolation."""
    path = _b_path(world, operation)
    for kind, token in world.b_tokens.holding(operation.required_scopes).items():
        restore_rows(app, world.rows)  # each kind starts from the same world (a create is not a duplicate)
        response = _call(client, operation, path, token, world.b_ids)
        assert 200 <= response.status_code < 300, (kind, response.status_code, response.get_data(as_text=True)[:300])


@pytest.mark.parametrize("operation", LISTS, ids=lambda op: op.label)
def test_lists_never_show_a_foreign_id(app, world, client, operation):
    tokens = world.b_tokens.holding(operation.required_scopes)
    assert tokens, f"{operation.label}: none of B's tokens holds {operation.required_scopes}; add one to the matrix"
    for kind, token in tokens.items():
        response = client.get(_b_path(world, operation), query_string={"limit": 100}, headers=bearer(token))
        assert response.status_code == 200, (kind, response.get_data(as_text=True)[:300])
        page = response.get_json()
        assert page["has_more"] is False
        assert page["data"], f"{operation.label} is empty for B's {kind} token: the check would prove nothing"
        text = json.dumps(page)
        leaked = {what: value for what, value in world.a_ids.items() if value in text}
        assert not leaked, f"{operation.label} with B's {kind} token shows A's {leaked}"
