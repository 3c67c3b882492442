#!/usr/bin/env python
"""A tag-wide template send to 100,000 followers: recipients/s of the job, next to a raw bulk insert.

    .venv/bin/python bench/service_account_send.py --quick        # 10,000 followers, 1 repetition: smoke run
    .venv/bin/python bench/service_account_send.py                # SQLite on tmpfs, 100,000 followers, 3 repetitions
    createdb -h 127.0.0.1 sabench                                 # a scratch database: its schema public is reset
    .venv/bin/python bench/service_account_send.py --database-url postgresql://127.0.0.1:5432/sabench

Issue 6: "a tag-wide send to 100,000 followers: recipients/s next to a raw bulk insert of the same
rows".

One gateway app in this process, on a fresh database (SQLite on tmpfs, or the PostgreSQL scratch
database with its schema reset) migrated with ``upgrade_engine``, and a fresh Huey queue
(``SqliteHuey`` in the instance folder; ``RedisHuey`` with ``--redis-url``). Seeded once, not timed,
with Core ``executemany``: ``--count`` users, each following the merchant's service account and
tagged with the one tag; half of them hold a one-time subscription to the template, and every
tenth has blocked the account (so the job writes all three outcomes: sent, USER_NOT_SUBSCRIBED,
USER_BLOCKED).

Per repetition, in alternating order:

- **gateway**: ``services.create_send`` (checks, the audience COUNT, the quota) and commit — the
  commit queues the job — then a Huey consumer thread in this process runs it to the end
  (``run_send``: one INSERT … SELECT of every recipient's result, one UPDATE of the subscriptions
  used, the counts, the ``service_account.send.completed`` event). Timed from the call to the
  ``completed`` status (polled every 20 ms on a connection of its own).
- **raw**: the same ``--count`` rows (send id, follower id, user id, status, code — computed in
  Python beforehand) inserted into ``service_account_send_recipients`` with ``executemany`` on one
  raw driver connection (sqlite3 with the gateway's pragmas, or psycopg), one transaction.

The ratio is gateway recipients/s ÷ raw rows/s of the same repetition, reported as median [min–max].
After each repetition the recipients are deleted and the subscriptions restored (not timed). Every
gateway run is checked: ``--count`` recipient rows, the sent/refused split expected from the seed.
Bounded: ``--count`` ≤ 200,000 and ``--timeout`` seconds per job (the run stops with the status seen).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import machine_summary, ratio_stats, scratch_dir, summarise, write_results

SECRET_KEY = "bench-service-account-send-" + "k" * 32
CHUNK = 5000
DATA = {"voucher": "88 元火锅券", "price": 8800, "expires_on": "2026-12-31"}


def build(args, instance: Path):
    from gateway import create_app
    from gateway.migrate import upgrade_engine

    if args.database_url:
        from bench.poi_nearby import reset_postgres

        reset_postgres(args.database_url)
    instance.mkdir(parents=True, exist_ok=True)
    app = create_app({
        "ENV": "development", "INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": args.database_url or f"sqlite:///{instance / 'shijing.db'}",
        "REDIS_URL": args.redis_url, "JOBS_IMMEDIATE": False, "ACCESS_LOG": False, "LOG_LEVEL": "WARNING",
        "SERVICE_ACCOUNT_DAILY_QUOTA": "1000000000/day", "SERVICE_ACCOUNT_SEND_RATE": "1000000/second",
    })
    upgrade_engine(app.extensions["shijing.db"].engine)
    app.extensions["shijing.jobs"].huey.flush()
    return app


def seed(app, count: int) -> dict:
    """The merchant, its account, tag and template; ``count`` users following, tagged; every
    second subscribed, every tenth blocked. Returns ids and the expected split."""
    from sqlalchemy import insert

    from gateway.accounts.models import Merchant, User
    from gateway.clock import utcnow
    from gateway.ids import new_id
    from gateway.service_accounts import services
    from gateway.service_accounts.models import Follower, FollowerTag

    db = app.extensions["shijing.db"]
    now = utcnow()
    with app.app_context(), db.new_session() as s:
        owner = User(id=new_id("user"), username="owner", display_name="Owner", password_hash="x", created_at=now)
        s.add(owner)
        s.flush()
        merchant = Merchant(id=new_id("merchant"), owner_user_id=owner.id, name="Bench Hotpot", created_at=now)
        s.add(merchant)
        s.flush()
        account, _ = services.put(s, merchant.id, {"name": "山城老火锅", "avatar_url": "https://img.example/a.png",
                                                   "description": "", "poi_ids": []})
        tag = services.create_tag(s, account, "全部粉丝")
        template = services.create_template(s, account, "新券上线提醒", [
            {"key": "voucher", "type": "thing", "label": "优惠券"}, {"key": "price", "type": "amount", "label": "价格"},
            {"key": "expires_on", "type": "date", "label": "有效期至"}])
        from gateway.apps.services import create_app as register_app

        partner, _ = register_app(s, developer_user_id=owner.id, name="CRM bench", kind="service_provider",
                                  redirect_uris=["https://partner.example/cb"], scopes=["service_account.message"])
        s.commit()
        ids = {"merchant": merchant.id, "account": account.id, "tag": tag.id, "template": template.id,
               "app": partner.id}
        users, followers = [], []
        for i in range(count):
            user_id, follower_id = new_id("user"), new_id("follower")
            users.append({"id": user_id, "username": f"fan{i}", "display_name": f"Fan {i}", "password_hash": "x",
                          "is_operator": False, "is_developer": False, "created_at": now, "email": None})
            followers.append({"id": follower_id, "service_account_id": account.id, "user_id": user_id,
                              "status": "following", "source": "poi_page", "source_id": None, "followed_at": now,
                              "unfollowed_at": None, "last_message_at": None,
                              "blocked_at": now if i % 10 == 0 else None})
        for start in range(0, count, CHUNK):
            s.execute(insert(User), users[start:start + CHUNK])
            s.execute(insert(Follower), followers[start:start + CHUNK])
            s.execute(insert(FollowerTag), [{"tag_id": tag.id, "follower_id": f["id"], "created_at": now}
                                            for f in followers[start:start + CHUNK]])
        s.commit()
    subscribed = [f["user_id"] for i, f in enumerate(followers) if i % 2 == 1]
    ids["subscriptions"] = [{"id": new_id("subscription"), "template_id": template.id, "user_id": u, "remaining": 1,
                             "updated_at": now} for u in subscribed]
    ids["followers"] = followers
    blocked = sum(1 for i in range(count) if i % 10 == 0)
    ids["expected"] = {"sent": sum(1 for i in range(count) if i % 2 == 1 and i % 10 != 0), "blocked": blocked}
    return ids


def reset(app, ids: dict) -> None:
    """No recipients, every subscription back to one (not timed)."""
    from sqlalchemy import delete, insert

    from gateway.service_accounts.models import SendRecipient, Subscription

    db = app.extensions["shijing.db"]
    with db.engine.begin() as connection:
        connection.execute(delete(SendRecipient))
        connection.execute(delete(Subscription))
        for start in range(0, len(ids["subscriptions"]), CHUNK):
            connection.execute(insert(Subscription), ids["subscriptions"][start:start + CHUNK])


def gateway_side(app, ids: dict, count: int, timeout: float) -> tuple[float, dict]:
    from sqlalchemy import func, select, text

    from gateway.service_accounts import services
    from gateway.service_accounts.models import SendRecipient, ServiceAccount

    db = app.extensions["shijing.db"]
    jobs = app.extensions["shijing.jobs"]
    consumer = jobs.start_consumer_thread(workers=1, periodic=False, max_delay=0.02)
    try:
        started = time.perf_counter()
        with app.app_context(), db.new_session() as s:
            send = services.create_send(s, ids["app"], s.get(ServiceAccount, ids["account"]),
                                        {"template_id": ids["template"], "tag_id": ids["tag"], "data": DATA})
            send_id = send.id
            s.commit()  # queues the job
        status = None
        with db.engine.connect() as connection:
            while time.perf_counter() - started < timeout:
                status = connection.execute(text("SELECT status FROM service_account_sends WHERE id = :id"),
                                            {"id": send_id}).scalar()
                connection.rollback()
                if status == "completed":
                    break
                time.sleep(0.02)
        elapsed = time.perf_counter() - started
    finally:
        consumer.stop(graceful=True)
    if status != "completed":
        raise SystemExit(f"the send did not complete within {timeout} s (status {status})")
    with db.engine.connect() as connection:
        rows = dict(connection.execute(select(SendRecipient.code, func.count()).where(
            SendRecipient.send_id == send_id).group_by(SendRecipient.code)).all())
    got = {"sent": rows.get(None, 0), "blocked": rows.get("USER_BLOCKED", 0),
           "not_subscribed": rows.get("USER_NOT_SUBSCRIBED", 0)}
    assert sum(got.values()) == count, got
    assert got["sent"] == ids["expected"]["sent"] and got["blocked"] == ids["expected"]["blocked"], got
    return elapsed, got


def raw_side(app, ids: dict, count: int) -> float:
    """The same rows, executemany on one raw driver connection, one transaction."""
    from sqlalchemy import delete, insert

    from gateway.clock import utcnow
    from gateway.ids import new_id
    from gateway.service_accounts.models import Send

    send_id = new_id("send")
    db = app.extensions["shijing.db"]
    with db.engine.begin() as connection:  # the parent row (not timed)
        connection.execute(insert(Send), [{
            "id": send_id, "service_account_id": ids["account"], "app_id": ids["app"], "template_id": ids["template"],
            "data": DATA, "tag_id": ids["tag"], "segment_id": None, "status": "completed", "audience": count,
            "sent": 0, "refused": 0, "created_at": utcnow(), "finished_at": utcnow()}])
    rows = []
    for i, follower in enumerate(ids["followers"]):
        if i % 10 == 0:
            status, code = "refused", "USER_BLOCKED"
        elif i % 2 == 1:
            status, code = "sent", None
        else:
            status, code = "refused", "USER_NOT_SUBSCRIBED"
        rows.append((send_id, follower["id"], follower["user_id"], status, code))
    placeholder = "?" if db.is_sqlite else "%s"
    sql = ("INSERT INTO service_account_send_recipients (send_id, follower_id, user_id, status, code) "
           f"VALUES ({', '.join([placeholder] * 5)})")
    raw = db.engine.raw_connection()
    try:
        started = time.perf_counter()
        cursor = raw.cursor()
        cursor.executemany(sql, rows)
        raw.commit()
        elapsed = time.perf_counter() - started
        cursor.execute("DELETE FROM service_account_send_recipients WHERE send_id = " + placeholder, (send_id,))
        raw.commit()
    finally:
        raw.close()
    with db.engine.begin() as connection:
        connection.execute(delete(Send).where(Send.id == send_id))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10,000 followers, 1 repetition")
    parser.add_argument("--database-url", default="", help="PostgreSQL scratch database (schema public is reset)")
    parser.add_argument("--redis-url", default="", help="RedisHuey on this Redis (flushed)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a send may take")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.count, args.reps = 10_000, 1
    if not 1 <= args.count <= 200_000:
        parser.error("--count is 1 to 200,000")

    instance = scratch_dir("shijing-sa-send-")
    app = build(args, instance)
    print(f"seeding {args.count:,} followers …", flush=True)
    ids = seed(app, args.count)
    gateway_rates, raw_rates, splits = [], [], []
    for rep in range(args.reps):
        order = ("gateway", "raw") if rep % 2 == 0 else ("raw", "gateway")
        for side in order:
            reset(app, ids)
            if side == "gateway":
                elapsed, split = gateway_side(app, ids, args.count, args.timeout)
                gateway_rates.append(args.count / elapsed)
                splits.append(split)
            else:
                raw_rates.append(args.count / raw_side(app, ids, args.count))
        print(f"rep {rep + 1}: gateway {gateway_rates[-1]:,.0f} recipients/s, raw {raw_rates[-1]:,.0f} rows/s, "
              f"ratio {gateway_rates[-1] / raw_rates[-1]:.2f}", flush=True)
    database = "PostgreSQL" if args.database_url else "SQLite (tmpfs)"
    g, r, ratio = summarise(gateway_rates), summarise(raw_rates), ratio_stats(gateway_rates, raw_rates)
    markdown = "\n".join([
        f"## Tag-wide send to {args.count:,} followers — {database}, {args.reps} repetition(s)",
        "",
        machine_summary(),
        "",
        "| side | rows/s median [min–max] |",
        "|---|---|",
        (f"| raw executemany INSERT of the same rows, one transaction | "
         f"{r.median:,.0f} [{r.low:,.0f}–{r.high:,.0f}] |"),
        (f"| gateway send job (accept + queue + INSERT … SELECT + UPDATE + event) | "
         f"{g.median:,.0f} [{g.low:,.0f}–{g.high:,.0f}] |"),
        f"| **gateway / raw** | **{ratio.median:.2f}** [{ratio.low:.2f}–{ratio.high:.2f}] |",
        "",
        f"results per recipient (last run): {splits[-1]}",
    ])
    print(markdown)
    if not args.no_save:
        print("saved", write_results("service-account-send" + ("-pg" if args.database_url else ""), markdown, {
            "gateway_rates": gateway_rates, "raw_rates": raw_rates, "splits": splits,
            "count": args.count, "database": database}))
    app.extensions["shijing.db"].engine.dispose()


if __name__ == "__main__":
    main()
