"""``shijing-export``: export one dataset of a merchant to a file, with a progress bar.

    shijing-export --merchant mch_… --dataset orders --from 2026-11-22 --to 2026-11-22 \\
        --format csv --gzip --filter poi_id=poi_… -o orders.csv.gz

Credentials as for the client: ``SHIJING_BASE_URL``, ``SHIJING_CLIENT_ID`` and
``SHIJING_CLIENT_SECRET`` (an app the merchant authorised with ``data.export``), or ``--token``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from typing import TYPE_CHECKING

from .._runtime import errors
from .exports import ExportFailed, export_to_file


def _parser() -> argparse.ArgumentParser:
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    parser = argparse.ArgumentParser(prog="shijing-export", description="Export a dataset of a merchant to a file.")
    parser.add_argument("--merchant", required=True, help="the merchant's id (mch_…)")
    parser.add_argument("--dataset", required=True, help="e.g. orders, verifications, poi_page_views")
    parser.add_argument("--from", dest="date_from", default=yesterday, help="first UTC day, YYYY-MM-DD")
    parser.add_argument("--to", dest="date_to", default=None, help="last UTC day, included (default: --from)")
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    parser.add_argument("--gzip", action="store_true", help="gzip the file")
    parser.add_argument("--filter", action="append", default=[], metavar="NAME=VALUE",
                        help="a filter of the dataset (repeatable): poi_id, mount_id, product_id, source, status")
    parser.add_argument("-o", "--output", help="the file to write (default: DATASET_FROM_TO.FORMAT[.gz])")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--token", default=None, help="an access token instead of client credentials")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the job")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


if TYPE_CHECKING:
    from .._generated.client import Client


def main(argv: list[str] | None = None, *, client: Client | None = None) -> int:
    from .._generated.client import Client as ClientClass

    args = _parser().parse_args(argv)
    date_to = args.date_to or args.date_from
    filters = {}
    for item in args.filter:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"shijing-export: --filter takes NAME=VALUE, not {item!r}", file=sys.stderr)
            return 2
        filters[name] = value
    output = args.output or f"{args.dataset}_{args.date_from}_{date_to}.{args.format}" + (".gz" if args.gzip else "")
    if client is None:
        client = ClientClass(base_url=args.base_url, access_token=args.token, scope="data.export")
    try:
        path = export_to_file(client, args.merchant, args.dataset, args.date_from, date_to, output,
                              format=args.format, gzip=args.gzip, filters=filters, progress=not args.quiet,
                              timeout=args.timeout)
    except (ExportFailed, errors.ShijingError, TimeoutError) as exc:
        print(f"shijing-export: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
