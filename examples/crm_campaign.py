"""Fan CRM: tag the followers who came from a POI page this week and tell them about a new voucher.

The partner acts for the hotpot merchant (its client-credentials token; the merchant granted the
service_account scopes): it lists the service account's followers by cursor, tags those who
followed from a POI page in the last 7 days (one batch call, up to 1,000 open_ids), and sends
them the voucher template they subscribed to, as a background job with a result per recipient.
A follower without a subscription is refused by the platform (USER_NOT_SUBSCRIBED), not messaged.

    ./dev serve            # in one terminal
    .venv/bin/python examples/crm_campaign.py

``SHIJING_BASE_URL`` points at another gateway (default: the demo issuer).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta

import shijing

sys.path.insert(0, os.path.dirname(__file__))
from demo_credentials import demo_data

TAG_NAME = "近 7 天 POI 新粉"
VOUCHER = {"voucher": "88 元抵 100 元代金券", "price": 8800, "expires_on": "2026-12-31"}


def main() -> None:
    demo = demo_data()
    base_url = os.environ.get("SHIJING_BASE_URL", demo["issuer"])
    partner = demo["partner_app"]
    merchant = demo["merchants"][0]
    crm = shijing.Client(base_url=base_url, client_id=partner["client_id"], client_secret=partner["client_secret"],
                         scope="service_account.read service_account.crm service_account.message")
    m = merchant["id"]

    account = crm.service_accounts.get(m)
    print(f"{account.name} ({account.id}): {account.follower_count} followers")

    # 1. who followed from a POI page in the last 7 days (every page, by cursor)
    since = datetime.now(UTC) - timedelta(days=7)
    recent = [f.open_id for f in crm.service_accounts.list_followers(m, source="poi_page", limit=100)
              if f.followed_at >= since]
    print(f"followed from a POI page in the last 7 days: {len(recent)}")

    # 2. tag them (the tag is created once; a second run finds it)
    tag = next((t for t in crm.service_accounts.list_tags(m) if t.name == TAG_NAME), None)
    if tag is None:
        tag = crm.service_accounts.create_tag(m, name=TAG_NAME)
    for start in range(0, len(recent), 1000):
        result = crm.service_accounts.batch_tag(m, tag.id, add=recent[start:start + 1000])
        print(f"tagged {result.added} new, {result.member_count} in {TAG_NAME!r}")

    # 3. the voucher template, its typed fields checked before anything is sent
    template = next(t for t in crm.service_accounts.list_templates(m) if t.title == "新券上线提醒")
    try:
        crm.service_accounts.create_send(m, template_id=template.id, tag_id=tag.id, data={**VOUCHER, "price": "88 元"})
    except shijing.UnprocessableEntityError as refused:
        print(f"a price that is not in fen is refused ({refused.code}), nothing sent")

    # 4. one send to the tag, run as a job
    send = crm.service_accounts.create_send(m, template_id=template.id, tag_id=tag.id, data=VOUCHER)
    print(f"send {send.id} accepted for {send.audience} followers")
    for _ in range(100):
        send = crm.service_accounts.get_send(m, send.id)
        if send.status == "completed":
            break
        time.sleep(0.1)
    print(f"send {send.status}: sent={send.sent} refused={send.refused}")
    for recipient in crm.service_accounts.list_send_recipients(m, send.id):
        print(f"  {recipient.open_id}: {recipient.status}{' (' + recipient.code + ')' if recipient.code else ''}")
    crm.close()


if __name__ == "__main__":
    main()
