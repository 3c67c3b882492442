"""Function-level authorization, generated from the spec (SECURITY rows 22, 30; OWASP API5).

For every operation of ``openapi/openapi.yaml`` whose security names an OAuth scope, tokens of
every kind the platform issues, each holding every scope its kind can hold EXCEPT the one the
operation needs, are refused with 403 ``insufficient_scope`` (RFC 6750 §3.1): the
``WWW-Authenticate`` challenge and the problem body name the missing scope, and no table changes.

The kinds: a partner's client-credentials token; a merchant-bound token from the code flow (the
merchant's consent); a user-bound token of the first-party console. Path parameters name the
caller's own objects, so only the missing scope can explain the refusal.
"""

from __future__ import annotations

import dataclasses

import pytest

from gateway.demo import PARTNER_SCOPES
from gateway.oauth import scopes as scope_registry
from tests.conftest import Factory, bearer
from tests.poi.api_world import seed_store
from tests.tenants import (
    CONSOLE_REDIRECT_URI,
    REDIRECT_URI,
    Browser,
    Operation,
    client_credentials_scopes,
    fill_path,
    first_event_id,
    merchant_grant_scopes,
    operations,
    restore_rows,
    seed_webhook,
    snapshot_rows,
    world_outlives_the_module,
)

USER_SCOPES = ["openid", "profile", "account.authorizations"]
MERCHANT_CONSENT = ["openid", "profile", *merchant_grant_scopes()]
PROTECTED = [op for op in operations() if op.required_scopes]
KINDS = ("client_credentials", "merchant_bound", "user_bound")


def _all_but(scopes: list[str], missing: str) -> list[str]:
    return [s for s in scopes if s != missing]


@dataclasses.dataclass
class World:
    ids: dict[str, str]
    tokens: dict[tuple[str, str], str]  # (kind, missing scope) -> token
    rows: list


@pytest.fixture(scope="module")
def world_template(app) -> World:
    factory = Factory(app)
    owner = factory.user()
    merchant = factory.merchant(owner)
    partner = factory.app_client(scopes=PARTNER_SCOPES, redirect_uris=[REDIRECT_URI])
    authorization_id = factory.authorize(partner, merchant, merchant_grant_scopes())
    console = factory.app_client(scopes=USER_SCOPES, kind="web_app", client_type="public",
                                 redirect_uris=[CONSOLE_REDIRECT_URI], first_party=True)
    browser = Browser(app, owner.username, factory.password)
    tokens: dict[tuple[str, str], str] = {}
    for missing in sorted({op.required_scopes[0] for op in PROTECTED}):
        cc = _all_but(client_credentials_scopes(PARTNER_SCOPES), missing)
        tokens["client_credentials", missing] = factory.token(partner, " ".join(cc))
        granted = browser.authorize(partner, " ".join(_all_but(MERCHANT_CONSENT, missing)), merchant_id=merchant.id)
        assert granted["subject_type"] == "merchant"
        tokens["merchant_bound", missing] = granted["access_token"]
        granted = browser.authorize(console, " ".join(_all_but(USER_SCOPES, missing)),
                                    redirect_uri=CONSOLE_REDIRECT_URI)
        assert granted["subject_type"] == "user"
        tokens["user_bound", missing] = granted["access_token"]
    poi_id, product_id, submission_id = seed_store(app, partner, merchant.id, live=False)
    ids = {"merchant_id": merchant.id, "app_id": partner.id, "authorization_id": authorization_id,
           "event_id": first_event_id(app, partner.id), "filename": "site.css", "poi_id": poi_id,
           "product_id": product_id, "submission_id": submission_id, "external_id": "store-1001"}
    ids["endpoint_id"], ids["delivery_id"], _ = seed_webhook(app, partner.id)
    # 403 comes before any lookup: ids of objects that need not exist
    ids.update(miniprogram_id="mnp_01j9x6b2f0000000000000000", creator_id="crt_01j9x6b2f0000000000000000",
               video_id="vid_01j9x6b2f0000000000000000", live_stream_id="liv_01j9x6b2f0000000000000000",
               mount_id="mnt_01j9x6b2f0000000000000000", application_id="cap_01j9x6b2f0000000000000000",
               service_account_id="sva_01j9x6b2f0000000000000000", tag_id="tag_01j9x6b2f0000000000000000",
               segment_id="seg_01j9x6b2f0000000000000000", template_id="tpl_01j9x6b2f0000000000000000",
               send_id="snd_01j9x6b2f0000000000000000",
               order_id="ord_01j9x6b2f0000000000000000", payment_id="pay_01j9x6b2f0000000000000000",
               certificate_id="cer_01j9x6b2f0000000000000000", verification_id="vrf_01j9x6b2f0000000000000000",
               refund_id="rfd_01j9x6b2f0000000000000000", slot_id="slt_01j9x6b2f0000000000000000",
               date="2026-01-01", dataset="orders", export_id="exp_01j9x6b2f0000000000000000",
               token="1796121741.wU3Lx94j9WjFSSxfdmLM-QU_zfwW2QOzg-tNJMll8WA")
    world_outlives_the_module(app)
    return World(ids, tokens, snapshot_rows(app))


@pytest.fixture
def world(app, world_template) -> World:
    restore_rows(app, world_template.rows)
    return world_template


def _tables(app) -> dict[str, list]:
    return {table.name: sorted(map(repr, rows)) for table, rows in snapshot_rows(app)}


def _call(client, operation: Operation, path: str, token: str):
    kwargs = {"headers": bearer(token)}
    body = operation.definition.get("requestBody")
    if body:
        media_type, content = next(iter(body["content"].items()))
        kwargs["json" if media_type == "application/json" else "data"] = content.get("example", {})
    return client.open(path, method=operation.method.upper(), **kwargs)


def test_every_protected_operation_is_in_the_matrix():
    assert len(PROTECTED) >= 15
    for op in PROTECTED:
        assert len(op.required_scopes) == 1, f"{op.label}: one scope per operation keeps the matrix exact"
        assert op.required_scopes[0] in scope_registry.SCOPES, f"{op.label}: {op.required_scopes} not registered"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("operation", PROTECTED, ids=lambda op: op.label)
def test_every_scope_but_the_required_one_is_403(app, world, client, operation, kind):
    missing = operation.required_scopes[0]
    token = world.tokens[kind, missing]
    path = fill_path(operation, world.ids)
    before = _tables(app)

    response = _call(client, operation, path, token)

    assert response.status_code == 403, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "INSUFFICIENT_SCOPE"
    assert problem["required_scope"] == missing
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ") and 'error="insufficient_scope"' in challenge
    assert f'scope="{missing}"' in challenge
    assert _tables(app) == before
