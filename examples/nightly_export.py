"""A partner's nightly reconciliation from exports: yesterday's orders and verifications of each
merchant, exported as files through the SDK (created, waited for, streamed to disk), then checked
against the settlement statement of the same UTC day and the orders API, to the fen.

    ./dev serve            # in one terminal
    .venv/bin/python examples/nightly_export.py [YYYY-MM-DD] [--out DIR]    # default: yesterday (UTC)

``SHIJING_BASE_URL`` points at another gateway (default: the demo issuer). Files are written as
``DIR/<merchant>/<dataset>_<day>.jsonl.gz`` (default DIR: ./exports).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import shijing
from shijing.lib import export_to_file

sys.path.insert(0, os.path.dirname(__file__))
from demo_credentials import demo_data
from reconcile import reconcile


def rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def nightly(client: shijing.Client, merchant_id: str, day: date, out: Path) -> bool:
    """Export the day's orders (placed that day or the day before: paid ones may have been placed
    earlier) and verifications, then check them against the statement and the orders API."""
    folder = out / merchant_id
    folder.mkdir(parents=True, exist_ok=True)
    orders_file = export_to_file(client, merchant_id, "orders", (day - timedelta(days=1)).isoformat(), day.isoformat(),
                                 folder / f"orders_{day}.jsonl.gz", format="jsonl", gzip=True)
    verifications_file = export_to_file(client, merchant_id, "verifications", day.isoformat(), day.isoformat(),
                                        folder / f"verifications_{day}.jsonl.gz", format="jsonl", gzip=True)
    paid = [o for o in rows(orders_file) if o["paid_at"] and o["paid_at"][:10] == day.isoformat()]
    verified = [v for v in rows(verifications_file) if v["status"] == "verified"]
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    listed = list(client.orders.list(merchant_id, paid_from=start.isoformat(),
                                     paid_to=(start + timedelta(days=1)).isoformat()))
    same = sorted(o["id"] for o in paid) == sorted(o.id for o in listed) and \
        sum(o["total_amount"] for o in paid) == sum(o.total_amount for o in listed)
    print(f"{merchant_id} {day}: export of {len(paid)} paid orders ¥{sum(o['total_amount'] for o in paid) / 100:.2f} "
          f"{'matches the orders API' if same else 'DIFFERS FROM THE ORDERS API'}; "
          f"{len(verified)} verifications ¥{sum(v['amount'] for v in verified) / 100:.2f} "
          f"({orders_file.name}, {verifications_file.name})")
    return same and reconcile(client, merchant_id, day)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("day", nargs="?", help="YYYY-MM-DD (default: yesterday, UTC)")
    parser.add_argument("--out", default="exports", help="folder for the files")
    args = parser.parse_args()
    demo = demo_data()
    partner = demo["partner_app"]
    day = date.fromisoformat(args.day) if args.day else datetime.now(UTC).date() - timedelta(days=1)
    with shijing.Client(base_url=os.environ.get("SHIJING_BASE_URL", demo["issuer"]), client_id=partner["client_id"],
                        client_secret=partner["client_secret"], scope="data.export order.read") as client:
        results = [nightly(client, merchant["id"], day, Path(args.out)) for merchant in demo["merchants"]]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
