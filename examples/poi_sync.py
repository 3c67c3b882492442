"""A service provider syncs a merchant's stores and vouchers into Shijing, then looks around one.

    ./dev serve            # in one terminal
    .venv/bin/python examples/poi_sync.py

1. The partner app (client credentials) upserts 300 stores of the demo hotpot chain in batches of
   100, then a voucher per store, each batch answering per item (created / updated / unchanged /
   error). Run it twice: the second run answers ``unchanged`` for everything and submits nothing.
2. New POIs and products wait for operator review; nothing is public before that. In production a
   Shijing operator reviews them in the console. Here the demo operator does it through the API:
   the script plays the operator's browser in the authorization-code flow (sign-in, consent,
   PKCE) of the first-party console app, then approves this sync's submissions.
3. The public nearby search around one synced store, nearest first.

``SHIJING_BASE_URL`` points at another gateway (default: the demo issuer).
"""

from __future__ import annotations

import os
import sys

import shijing

sys.path.insert(0, os.path.dirname(__file__))
from demo_credentials import demo_data, signed_in_client  # noqa: E402

STORES = 300
BATCH = 100
CENTRE = (29.5630, 106.5516)  # Chongqing (GCJ-02)
DISTRICTS = ["渝中区", "江北区", "南岸区", "沙坪坝区", "九龙坡区", "渝北区"]


def stores() -> list[dict]:
    """The partner's own store list: a grid around the city centre, about 250 m apart."""
    out = []
    for i in range(STORES):
        row, col = divmod(i, 20)
        out.append({
            "external_id": f"sync-store-{i:04d}",
            "name": f"老火锅 {i:03d} 号店",
            "category": "food",
            "attributes": {"cuisine": "hotpot", "avg_price_per_person": 8000 + (i % 7) * 1000},
            "address": f"{DISTRICTS[i % len(DISTRICTS)]}示例路 {i + 1} 号",
            "province": "重庆市", "city": "重庆", "district": DISTRICTS[i % len(DISTRICTS)],
            "lat": round(CENTRE[0] + (row - 7) * 0.00225, 6),
            "lng": round(CENTRE[1] + (col - 10) * 0.0026, 6),
            "coord_system": "gcj02",
            "phone": f"023-6000 {i:04d}",
            "opening_hours": {"timezone": "Asia/Shanghai",
                              "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                          "open": "11:00", "close": "02:00"}]},
        })
    return out


def vouchers() -> list[dict]:
    return [{
        "external_id": f"sync-voucher-{i:04d}",
        "type": "voucher",
        "title": "100 元代金券",
        "price": 8800,
        "original_price": 10000,
        "stock": 200,
        "refund_policy": "auto_refund_on_expiry",
        "usage_rules": {"notes": "全场通用", "max_per_order": 4},
        "poi_external_ids": [f"sync-store-{i:04d}"],
    } for i in range(STORES)]


def sync(label: str, batch_upsert, merchant_id: str, items: list[dict]) -> dict[str, str]:
    """Batches of BATCH items; returns external id -> id of every stored item."""
    ids = {}
    for start in range(0, len(items), BATCH):
        result = batch_upsert(merchant_id, items=items[start:start + BATCH])
        s = result.summary
        print(f"{label} {start + 1:>3}–{start + len(result.results):<3} created={s.created} updated={s.updated} "
              f"unchanged={s.unchanged} error={s.error}")
        for item in result.results:
            if item.error is not None:
                print(f"  {item.external_id}: {item.error.code} {item.error.detail}")
            else:
                ids[item.external_id] = item.id
    return ids


def main() -> None:
    demo = demo_data()
    base_url = os.environ.get("SHIJING_BASE_URL", demo["issuer"])
    partner = demo["partner_app"]
    merchant = demo["merchants"][0]
    client = shijing.Client(base_url=base_url, client_id=partner["client_id"], client_secret=partner["client_secret"],
                            scope="poi.read poi.write public.read")

    with client:
        print(f"syncing {STORES} stores and vouchers of {merchant['name']} ({merchant['id']})")
        store_ids = sync("stores  ", client.poi_pages.batch_upsert_pois, merchant["id"], stores())
        product_ids = sync("vouchers", client.poi_pages.batch_upsert_products, merchant["id"], vouchers())

        waiting = set(store_ids.values()) | set(product_ids.values())
        with signed_in_client(base_url, demo, "operator", "platform.review") as operator:
            approved = 0
            for submission in operator.review.list_review_submissions(status="pending", merchant_id=merchant["id"],
                                                                      limit=100):
                if submission.subject_id in waiting:
                    operator.review.approve_review_submission(submission.id)
                    approved += 1
        print(f"the demo operator approved {approved} submissions")

        here = stores()[150]
        found = client.poi_pages.search_nearby_pois(lat=here["lat"], lng=here["lng"], radius=600, limit=10)
        print(f"nearby {here['name']} ({here['lat']}, {here['lng']}), within 600 m:")
        for poi in found.data:
            state = {True: "open", False: "closed", None: "hours unknown"}[poi.open_now]
            print(f"  {poi.distance_m:>4} m  {poi.name}  {poi.address}  ({state})")
        page = client.poi_pages.get_poi_page(found.data[0].id)
        for product in page.products:
            print(f"  on its page: {product.title} ¥{product.price / 100:.2f} (was ¥{product.original_price / 100:.2f})")


if __name__ == "__main__":
    main()
