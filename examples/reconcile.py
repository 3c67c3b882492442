"""A partner's nightly reconciliation: yesterday's settlement statement against the orders and
refunds it lists for the same UTC day, to the fen.

    ./dev serve            # in one terminal
    .venv/bin/python examples/reconcile.py [YYYY-MM-DD]     # default: yesterday (UTC)

``SHIJING_BASE_URL`` points at another gateway (default: the demo issuer).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime, timedelta

import shijing

sys.path.insert(0, os.path.dirname(__file__))
from demo_credentials import demo_data


def reconcile(client: shijing.Client, merchant_id: str, day: date) -> bool:
    """Print the day's statement and whether the day's orders and refunds add up to it."""
    statement = client.orders.get_settlement(merchant_id, day.isoformat())
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    window = {"paid_from": start.isoformat(), "paid_to": (start + timedelta(days=1)).isoformat()}
    orders = list(client.orders.list(merchant_id, **window))
    refunds = list(client.orders.list_refunds(merchant_id, status="refunded", refunded_from=window["paid_from"],
                                              refunded_to=window["paid_to"]))
    gross = sum(o.total_amount for o in orders)
    refunded = sum(r.amount for r in refunds)
    platform = sum(o.platform_commission for o in orders) - sum(r.platform_commission_returned for r in refunds)
    creator = sum(o.creator_commission for o in orders) - sum(r.creator_commission_returned for r in refunds)
    net = gross - refunded - platform - creator
    ok = (statement.gross_amount, statement.refund_amount, statement.platform_commission,
          statement.creator_commission, statement.net_amount, statement.order_count, statement.refund_count) == (
        gross, refunded, platform, creator, net, len(orders), len(refunds))
    print(f"{day}: {len(orders)} orders ¥{gross / 100:.2f}, {len(refunds)} refunds ¥{refunded / 100:.2f}, "
          f"commissions ¥{platform / 100:.2f} + ¥{creator / 100:.2f}, net ¥{net / 100:.2f} — "
          f"statement {statement.id} net ¥{statement.net_amount / 100:.2f}: {'matches to the fen' if ok else 'MISMATCH'}")
    return ok


def main() -> None:
    demo = demo_data()
    partner = demo["partner_app"]
    day = date.fromisoformat(sys.argv[1]) if len(sys.argv) > 1 else datetime.now(UTC).date() - timedelta(days=1)
    with shijing.Client(base_url=os.environ.get("SHIJING_BASE_URL", demo["issuer"]), client_id=partner["client_id"],
                        client_secret=partner["client_secret"], scope="order.read") as client:
        results = [reconcile(client, merchant["id"], day) for merchant in demo["merchants"]]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
