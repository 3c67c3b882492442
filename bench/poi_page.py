#!/usr/bin/env python
"""The public POI page (``GET /p/{poi_id}``) as a ratio to bare Flask hello in the same run.

    .venv/bin/python bench/poi_page.py --quick        # smoke run: 1 repetition x 2 s
    .venv/bin/python bench/poi_page.py                # 3 repetitions x 10 s per endpoint
    .venv/bin/python bench/poi_page.py --reps 5 --nice -10

Goal (issue 4): the public POI page serves >= 0.30x the requests/s of bare Flask hello.

Same harness and rules as ``bench/http_ratios.py`` (whose options and measurement this script
reuses; see bench/README.md): one gunicorn process (``sync`` workers = cores) serves the gateway
and the bare baseline, ``wrk -t2 -c32 --latency`` on 127.0.0.1 after a warm-up, alternating order,
per-repetition ratios reported as median [min-max].

``--page-cache-ttl S`` sets ``SHIJING_POI_PAGE_CACHE_TTL`` (default: the gateway's, 5 s): each
worker reuses a rendered page for that long (gateway/poi/web.py); 0 measures the page rendered
on every request. Requests are spread uniformly over the POIs, so with 200 POIs and two workers
a page is rendered about 200 x 2 / 5 = 80 times a second whatever the load; ``poi_page_hot``
(reference) shows one popular POI.

The data: the demo seed plus ``--pois`` (default 200) live POIs of the demo merchants, each with
opening hours, quality tags, a photo URL and 6 live products (set meals with contents, vouchers,
a reservation), one of them sold out and one off sale. Every request names a random one of those
POIs with ``?source=video&source_id=...``, so each measured request does all the page does in
production: two reads (POI, products), hours and JSON-LD composition, the template, and the
page-view INSERT committed before the response (one statement, its own transaction).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    REPO_ROOT,
    AutogroupNice,
    Server,
    machine_summary,
    scratch_dir,
    write_results,
)
from bench.http_ratios import Endpoint, measure, parse_args, render, seed, server_env  # noqa: E402

ENDPOINTS = [
    Endpoint("hello", "bare Flask hello (baseline)", "/__bench/bare/hello"),
    Endpoint("healthz", "ref: GET /healthz, full middleware stack", "/healthz", reference=True),
    Endpoint("poi_page", "GET /p/{poi_id}, a random one of --pois POIs", "/p/{mid}?source=video&source_id=vid_bench"),
    Endpoint("poi_page_hot", "GET /p/{poi_id}, one popular POI", "/p/{hot}?source=video&source_id=vid_bench",
             reference=True),
]
GOALS = [("POI page", "public POI page vs hello (rps)", "poi_page", "hello", "rps", 0.30)]
DEFAULT_POIS = 200


def seed_pages_here(count: int) -> list[str]:
    """Runs inside a subprocess whose environment is the server's: adds ``count`` page-ready POIs."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import select

    from gateway import create_app
    from gateway.accounts.models import Merchant
    from gateway.poi.models import Poi, Product, ProductPoi

    app = create_app()
    now = datetime.now(timezone.utc)
    hours = {"weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "open": "10:00", "close": "22:00"},
                        {"days": ["sat", "sun"], "open": "10:00", "close": "02:00"}],
             "special_days": [{"date": (now + timedelta(days=30)).date().isoformat(), "closed": True,
                               "note": "店休"}]}
    ids = []
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        merchants = list(s.scalars(select(Merchant.id)))
        for i in range(count):
            merchant_id = merchants[i % len(merchants)]
            poi = Poi(merchant_id=merchant_id, name=f"蜀香火锅（第{i + 1}分店）", category="food",
                      attributes={"cuisine": "hotpot", "avg_price_per_person": 9800},
                      address=f"春熙路{i + 1}号", province="四川省", city="成都市", district="锦江区",
                      lat=30.65 + i * 1e-4, lng=104.08 + i * 1e-4,
                      images=[f"https://img.example.com/poi/{i}.jpg"], phone="028-8888 6666",
                      opening_hours=hours, status="open", rating=4.6, rating_count=1234 + i,
                      quality_tags=["必吃榜", "老字号"], live=True, review_status="approved")
            s.add(poi)
            s.flush()
            contents = [{"name": "精品肥牛", "quantity": 1, "price": 4800},
                        {"name": "鸳鸯锅底", "quantity": 1, "price": 3800},
                        {"name": "时令蔬菜拼盘", "quantity": 1, "price": 1800}]
            products = [
                Product(type="set_meal", title="双人套餐", contents=contents, price=8800, original_price=12800, stock=50),
                Product(type="set_meal", title="四人套餐", contents=contents * 2, price=16800, original_price=25600,
                        stock=0),
                Product(type="voucher", title="100元代金券", price=8900, original_price=10000, stock=999,
                        valid_until=now + timedelta(days=90)),
                Product(type="voucher", title="50元代金券", price=4500, original_price=5000, stock=999),
                Product(type="voucher", title="已下架代金券", price=100, original_price=200, stock=1, status="off_sale"),
                Product(type="reservation", title="包间预订", price=0, original_price=0, stock=20,
                        booking_required=True),
            ]
            for product in products:
                product.merchant_id = merchant_id
                product.live, product.review_status = True, "approved"
                product.status = product.status or "on_sale"
                s.add(product)
            s.flush()
            s.add_all(ProductPoi(product_id=p.id, poi_id=poi.id) for p in products)
            ids.append(poi.id)
        s.commit()
    return ids


def seed_pages(env: dict, count: int) -> list[str]:
    completed = subprocess.run(
        [sys.executable, "-c", f"import json; from bench.poi_page import seed_pages_here; "
                               f"print(json.dumps(seed_pages_here({int(count)})))"],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"seeding POIs failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def page_view_count(env: dict) -> int:
    code = ("from sqlalchemy import func, select; from gateway import create_app; "
            "from gateway.poi.models import PoiPageView; app = create_app(); "
            "s = app.extensions['shijing.db'].new_session(); "
            "print(s.scalar(select(func.count()).select_from(PoiPageView)))")
    completed = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True,
                               text=True, timeout=120)
    return int(completed.stdout.strip().splitlines()[-1]) if completed.returncode == 0 else -1


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own = {"--pois": DEFAULT_POIS, "--page-cache-ttl": None}  # ours; the rest are http_ratios.py's
    for name in own:
        if name in argv:
            at = argv.index(name)
            own[name] = float(argv[at + 1])
            del argv[at:at + 2]
    pois = int(own["--pois"])
    cache_ttl = own["--page-cache-ttl"]
    if not 1 <= pois <= 5000 or (cache_ttl is not None and not 0 <= cache_ttl <= 3600):
        sys.exit("error: --pois is 1-5000, --page-cache-ttl 0-3600")
    args = parse_args(argv)
    if args.database_url and not args.database_url.startswith(("postgres://", "postgresql")):
        sys.exit("error: --database-url must be a PostgreSQL URL (the default is SQLite on tmpfs)")
    endpoints = ENDPOINTS if not args.only else [e for e in ENDPOINTS if e.key in {"hello", *args.only.split(",")}]

    scratch = scratch_dir("shijing-bench-poi-page-")
    access_log = scratch / "access.log" if args.access_log == "file" else None
    results: dict[str, list[dict]] = {e.key: [] for e in endpoints}
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    try:
        server = Server({}, scratch, workers=args.workers, nice=args.nice,
                        stderr_path=str(access_log) if access_log else os.devnull)
        env = server_env(scratch, args, server.port)
        if cache_ttl is not None:
            env["SHIJING_POI_PAGE_CACHE_TTL"] = str(cache_ttl)
        server.env = env
        seed(env)
        poi_ids = seed_pages(env, pois)
        endpoints = [e if e.key != "poi_page_hot" else Endpoint(e.key, e.label, e.path.replace("{hot}", poi_ids[0]),
                                                                reference=True) for e in endpoints]
        print(f"scratch {scratch}; seeded {len(poi_ids)} POI pages; starting {server.describe()}", file=sys.stderr)
        with AutogroupNice(args.nice), server:
            for rep in range(args.reps):
                order = endpoints if rep % 2 == 0 else list(reversed(endpoints))
                for endpoint in order:
                    row = measure(server, endpoint, poi_ids, "", "", args, access_log)
                    results[endpoint.key].append(row)
                    print(f"rep {rep + 1}/{args.reps} {endpoint.key:10s} {row['rps']:8.0f} rps  "
                          f"p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  "
                          f"server {row['server_cpu_us']:5.0f} µs/req  foreign {row['foreign_share']:4.0%}  "
                          f"errors {row['non_2xx'] + row['socket_errors']}", file=sys.stderr)
        views = page_view_count(env)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    meta = {
        "started": started, "server": f"{server.describe()} (`bench/wsgi.py`, one process)",
        "threads": args.threads, "connections": args.connections, "duration": args.duration,
        "warmup": args.warmup, "reps": args.reps,
        "database": ("PostgreSQL " + args.database_url.rsplit("@", 1)[-1]) if args.database_url
        else "SQLite file on tmpfs",
        "access_log": "file on tmpfs" if access_log else "/dev/null",
        "machine": machine_summary(), "redis": bool(args.redis_url),
        "prometheus_multiproc": args.prometheus_multiproc, "nice": args.nice, "pois": pois,
        "page_cache_ttl": cache_ttl if cache_ttl is not None else "gateway default (5 s)",
    }
    markdown = render(results, endpoints, GOALS, meta).replace("# Shijing HTTP ratios", "# Shijing POI page", 1)
    served = sum(r["requests"] for key in ("poi_page", "poi_page_hot") for r in results.get(key, []))
    markdown += f"\nPOIs: {pois}; page cache TTL: {meta['page_cache_ttl']}.\n"
    markdown += (f"\nPage views recorded: {views} rows in `poi_page_views` after the run "
                 f"({served} measured page requests, plus warm-ups and preflights).\n")
    print(markdown)
    if not args.no_save:
        path = write_results("poi-page", markdown, {"meta": meta, "results": results})
        print(f"saved {path.relative_to(REPO_ROOT)}", file=sys.stderr)
    errors = sum(r["non_2xx"] + r["socket_errors"] for rows in results.values() for r in rows)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
