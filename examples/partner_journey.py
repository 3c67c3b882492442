"""The whole partner journey of a Meituan-style service provider, one step per line:

authorised by merchants → syncs stores and vouchers → its mini-program mounted on a creator's
video → a user buys through the mounted card → the partner's webhook receiver gets ``order.paid``
→ the partner verifies the voucher at the store → the orders reconcile with the settlement.

    SHIJING_WEBHOOK_TEST_ALLOWLIST=127.0.0.1 ./dev serve     # in one terminal
    .venv/bin/python examples/partner_journey.py

In production a webhook endpoint must be https on port 443 at a public address; this local
receiver is admitted only through that allow-list. ``SHIJING_BASE_URL`` points at another gateway.
"""

from __future__ import annotations

import os
import sys
import uuid
from datetime import UTC, datetime, timedelta

import shijing

sys.path.insert(0, os.path.dirname(__file__))
from demo_credentials import demo_data, signed_in_client
from reconcile import reconcile
from webhook_receiver import Inbox, serve

PARTNER_SCOPE = ("authorizations.read merchant.read poi.read poi.write order.read order.fulfil webhooks.manage events.read "
                 "video.read miniprogram.mount public.read")


def main() -> None:
    demo = demo_data()
    base_url = os.environ.get("SHIJING_BASE_URL", demo["issuer"])
    credentials = demo["partner_app"]
    partner = shijing.Client(base_url=base_url, client_id=credentials["client_id"],
                             client_secret=credentials["client_secret"], scope=PARTNER_SCOPE)
    merchant = demo["merchants"][0]
    store = next(p for p in demo["pois"] if p["merchant_id"] == merchant["id"])

    # 1. merchants authorised the partner (each on the consent page; the demo did it for them)
    for authorization in partner.authorizations.list(status="active", subject_type="merchant"):
        name = partner.merchants.get(authorization.subject_id).name
        print(f"1. authorised by {name}: {' '.join(s for s in authorization.scopes if s.startswith('order.'))} …")

    # 2. the partner syncs its store and vouchers by its own ids (a resend changes nothing)
    poi = partner.poi_pages.get_poi(merchant["id"], store["id"])
    synced = partner.poi_pages.batch_upsert_products(merchant["id"], items=[
        {"external_id": "hotpot-voucher-100", "type": "voucher", "title": "100 元代金券", "price": 8800,
         "original_price": 10000, "stock": 500, "refund_policy": "auto_refund_on_expiry",
         "usage_rules": {"notes": "全场通用，不与其他优惠同享", "max_per_order": 4},
         "poi_external_ids": [store["external_id"]]}])
    voucher = partner.poi_pages.get_product(merchant["id"], synced.results[0].id)
    print(f"2. synced {poi.name} and its voucher {voucher.title} ¥{voucher.price / 100:.2f} "
          f"({synced.results[0].result}, {voucher.stock} in stock)")

    # the partner's webhook receiver, registered for what the journey needs
    inbox = Inbox()
    server = serve(inbox)
    created = partner.webhooks.create_endpoint(url=f"http://127.0.0.1:{server.server_port}/hooks",
                                               event_types=["order.paid", "voucher.verified"],
                                               description="partner journey")
    inbox.verifier = shijing.webhooks.Webhook(created.secret)
    try:
        journey(demo, base_url, partner, merchant, poi, voucher, inbox)
    finally:
        partner.webhooks.delete_endpoint(created.endpoint.id)
        server.shutdown()


def journey(demo, base_url, partner, merchant, poi, voucher, inbox) -> None:
    creator, miniprogram = demo["creator"], demo["miniprogram"]

    # 3. a creator's video carries the partner's mini-program card
    with signed_in_client(base_url, demo, creator["username"], "platform.client") as creator_app:
        video = creator_app.creators.publish_video(title=f"{poi.name}探店：{voucher.title}")
    mount = partner.mounts.create(creator["id"], target_type="video", target_id=video.id,
                                  miniprogram_id=miniprogram["id"], path="pages/voucher/detail",
                                  query=f"voucher={voucher.external_id}", title="88 元抵 100 元代金券")
    print(f"3. {creator['name']} published {video.id}; the partner mounted {miniprogram['name']} on it ({mount.status})")

    # 4. a viewer taps the card and buys inside the mini-program; the simulated provider confirms
    with signed_in_client(base_url, demo, "alice", "platform.client") as alice:
        launch = alice.mounts.record_click(mount.id)
        order = alice.shopping.place_order(poi_id=poi.id, items=[{"product_id": voucher.id, "quantity": 2}],
                                           channel="mini_program", miniprogram_id=launch.miniprogram_id,
                                           click_id=launch.click_id, idempotency_key=str(uuid.uuid4()))
        payment = alice.shopping.start_payment(order.id)
        alice.shopping.simulate_payment(payment.id, outcome="succeeded")
        order = alice.shopping.get_order(order.id)
        codes = [certificate.code for certificate in order.certificates]
    print(f"4. alice tapped the card and paid {order.id}: ¥{order.total_amount / 100:.2f} for "
          f"{len(codes)} vouchers (source {order.source.type} of {order.source.author_id})")

    # 5. the partner's receiver gets order.paid, signed and verified
    inbox.wait_for(lambda box: any(e["type"] == "order.paid" and e["data"]["id"] == order.id
                                   for e in box.events.values()))
    paid = next(e for e in inbox.events.values() if e["type"] == "order.paid" and e["data"]["id"] == order.id)
    print(f"5. webhook order.paid for {paid['data']['id']} (buyer {paid['data']['buyer_open_id']}), "
          "signature verified")

    # 6. at the store alice shows one code; the partner verifies it, and a retry is safe
    key = f"store-{poi.external_id}-{order.id}-1"
    verification = partner.verifications.create(merchant["id"], idempotency_key=key, poi_id=poi.id, codes=codes[:1])
    again = partner.verifications.create(merchant["id"], idempotency_key=key, poi_id=poi.id, codes=codes[:1])
    try:
        partner.verifications.create(merchant["id"], idempotency_key=key + "-new", poi_id=poi.id, codes=codes[:1])
    except shijing.ConflictError as refused:
        used = refused.code
    print(f"6. verified …{verification.certificates[0].code_hint} at {poi.name}: {verification.id} "
          f"(the same key again: {'same result' if again.id == verification.id else 'DIFFERENT'}; "
          f"a new key: {used})")
    inbox.wait_for(lambda box: any(e["type"] == "voucher.verified" for e in box.events.values()))

    # 7. reconciliation: today's orders as the partner received them, and the last closed day's statement
    today = datetime.now(UTC).date()
    start = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    listed = list(partner.orders.list(merchant["id"], paid_from=start.isoformat(),
                                      paid_to=(start + timedelta(days=1)).isoformat()))
    assert order.id in {o.id for o in listed}
    print(f"7. today so far: {len(listed)} paid orders, ¥{sum(o.total_amount for o in listed) / 100:.2f}; "
          "today's statement is issued after midnight UTC")
    if not reconcile(partner, merchant["id"], today - timedelta(days=1)):
        sys.exit(1)


if __name__ == "__main__":
    main()
