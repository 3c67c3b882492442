"""The examples a partner copies must run against a real gateway on a loopback port."""

from __future__ import annotations

import os
import subprocess
import sys

from gateway.config import REPO_ROOT


def example_env(app_config, live_server) -> dict:
    """The example's ``shijing demo --json`` seeds the test database; it calls the live server."""
    env = os.environ.copy()
    env.update(
        SHIJING_INSTANCE_PATH=app_config["INSTANCE_PATH"],
        SHIJING_DATABASE_URL=app_config["DATABASE_URL"],
        SHIJING_ISSUER=live_server.url,
        SHIJING_BASE_URL=live_server.url,
        SHIJING_LOG_LEVEL="WARNING",
    )
    if app_config["REDIS_URL"]:
        env["SHIJING_REDIS_URL"] = app_config["REDIS_URL"]
    return env


def test_first_call_example_lists_authorising_merchants_and_events(app, app_config, live_server):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "first_call.py")],
        env=example_env(app_config, live_server), capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert "authorised by Chongqing Hotpot House" in result.stdout
    assert "authorised by Riverside Homestay" in result.stdout
    assert result.stdout.count("authorization.granted") == 3  # two merchants and the demo creator


def test_poi_sync_example_syncs_stores_and_prints_nearby_results(app, app_config, live_server):
    run = lambda: subprocess.run(  # noqa: E731
        [sys.executable, str(REPO_ROOT / "examples" / "poi_sync.py")],
        env=example_env(app_config, live_server), capture_output=True, text=True, timeout=300,
    )
    result = run()

    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert out.count("created=100") == 6, out  # 3 batches of stores, 3 of vouchers
    assert "the demo operator approved 600 submissions" in out
    nearby = [line for line in out.splitlines() if line.strip().endswith(("(open)", "(closed)", "(hours unknown)"))]
    assert len(nearby) >= 5 and "老火锅 150 号店" in nearby[0], out
    distances = [int(line.split("m")[0]) for line in nearby]
    assert distances == sorted(distances) and distances[0] == 0
    assert "on its page: 100 元代金券 ¥88.00" in out

    again = run()  # resending the same batches changes nothing and submits nothing
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("unchanged=100") == 6 and "approved 0 submissions" in again.stdout


def test_webhook_receiver_example_verifies_deliveries_and_recognises_repeats(app, app_config, live_server):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "webhook_receiver.py")],
        env=example_env(app_config, live_server), capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "(URL check passed)" in out
    assert "webhook.test, signature verified" in out
    assert "recognised as a repeat, processed once" in out
    assert out.count("attempt wha_") == 2 and "HTTP 200" in out
    assert "events not yet received: 0" in out and "deleted whe_" in out


def test_miniprogram_login_example_exchanges_codes_through_the_sdk(app, app_config, live_server):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "miniprogram_login.py")],
        env=example_env(app_config, live_server), capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for user in ("alice", "bob"):
        assert f"{user}: login code issued for mnp_" in out
        assert f"{user}: open_id=ou_" in out and "union_id=un_" in out
        assert f"{user}: the same code again is refused (LOGIN_CODE_INVALID)" in out
    assert "mini-program 山城美食券: 2 users signed in, each with their own open_id" in out


def test_mount_card_example_mounts_and_records_the_tap(app, app_config, live_server):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "mount_card.py")],
        env=example_env(app_config, live_server), capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "published vid_" in out and "holds video_mount (approved)" in out
    assert ": active" in out and "a second card on the same video is refused (TARGET_ALREADY_MOUNTED)" in out
    assert "the video shows the card '88 元抵 100 元代金券' of 山城美食券" in out
    assert "alice tapped it: open mnp_" in out and "at pages/voucher/detail?voucher=hotpot-voucher-100" in out
    assert "source for the order: type=video id=vid_" in out and "author_id=crt_" in out
    assert "is mounted on video vid_" in out and "unmounted mnt_" in out


def test_crm_campaign_example_tags_recent_followers_and_sends_the_voucher(app, app_config, live_server):
    run = lambda: subprocess.run(  # noqa: E731
        [sys.executable, str(REPO_ROOT / "examples" / "crm_campaign.py")],
        env=example_env(app_config, live_server), capture_output=True, text=True, timeout=120,
    )
    result = run()

    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "山城老火锅 (sva_" in out and ": 3 followers" in out
    assert "followed from a POI page in the last 7 days: 3" in out
    assert "tagged 3 new, 3 in '近 7 天 POI 新粉'" in out
    assert "a price that is not in fen is refused (TEMPLATE_DATA_INVALID), nothing sent" in out
    assert "accepted for 3 followers" in out
    assert "send completed: sent=2 refused=1" in out  # alice and bob subscribed; carol did not
    lines = out.splitlines()
    assert sum(line.endswith(": sent") for line in lines) == 2
    assert sum(line.endswith(": refused (USER_NOT_SUBSCRIBED)") for line in lines) == 1

    again = run()  # the demo tops the subscriptions up again; the tag is found, nobody is tagged twice
    assert again.returncode == 0, again.stderr[-2000:]
    assert "tagged 0 new, 3 in '近 7 天 POI 新粉'" in again.stdout and "sent=2 refused=1" in again.stdout


def test_partner_journey_example_runs_from_sync_to_reconciliation(app, app_config, live_server):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "partner_journey.py")],
        env=example_env(app_config, live_server), capture_output=True, text=True, timeout=180,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for step in range(1, 8):
        assert f"\n{step}. " in "\n" + out, out
    assert "authorised by Chongqing Hotpot House: order.read order.fulfil" in out
    assert "paid ord_" in out and "for 2 vouchers (source video of crt_" in out
    assert "5. webhook order.paid for ord_" in out and "signature verified" in out
    assert "(the same key again: same result; a new key: CERTIFICATE_ALREADY_USED)" in out
    assert "matches to the fen" in out


def test_reconcile_example_checks_a_closed_day(app, app_config, live_server):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "reconcile.py"), "2026-01-01"],
        env=example_env(app_config, live_server), capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("matches to the fen") == 2  # both demo merchants


def test_nightly_export_example_exports_and_reconciles_a_day(app, app_config, live_server, tmp_path):
    """The partner journey sells two vouchers and verifies one today; the next day (the gateway's
    clock moved on a day, so today is closed) the nightly export finds that order and that
    verification and reconciles them with the orders API and the statement."""
    from datetime import UTC, datetime, timedelta

    import time_machine

    env = example_env(app_config, live_server)
    journey = subprocess.run([sys.executable, str(REPO_ROOT / "examples" / "partner_journey.py")], env=env,
                             capture_output=True, text=True, timeout=180)
    assert journey.returncode == 0, journey.stderr[-2000:]
    today = datetime.now(UTC).date().isoformat()
    with time_machine.travel(datetime.now(UTC) + timedelta(days=1), tick=True):
        result = subprocess.run(
            [sys.executable, str(REPO_ROOT / "examples" / "nightly_export.py"), today, "--out", str(tmp_path)],
            env=env, capture_output=True, text=True, timeout=120,
        )

    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert out.count("matches the orders API") == 2 and out.count("matches to the fen") == 2  # both merchants
    # the journey's order of two ¥88 vouchers, one verified at the store
    assert f"{today}: export of 1 paid orders ¥176.00 matches the orders API; 1 verifications ¥88.00" in out, out
    files = sorted(p.name for p in tmp_path.rglob("*.jsonl.gz"))
    assert files == [f"orders_{today}.jsonl.gz"] * 2 + [f"verifications_{today}.jsonl.gz"] * 2
