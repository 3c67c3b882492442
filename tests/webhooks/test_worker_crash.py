"""A worker killed in the middle of a delivery loses nothing: the claimed delivery's lease runs
out and the next worker sends it again, with the same ``webhook-id`` (SECURITY goal G14)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from gateway import create_app
from tests.conftest import REDIS_URL
from tests.webhooks.conftest import PartnerReceiver, headers_of
from tests.webhooks.receiver import Reply
from tests.webhooks.test_retries import _endpoint, _send_test, _wait_until_finished

TIMEOUT, LEASE = 3.0, 4.0


def _worker(env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker", "--workers", "1"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.timeout(90)
def test_killing_the_worker_mid_delivery_still_delivers(app, app_config, tmp_path, factory):
    settings = {
        "ENV": "testing", "DATABASE_URL": app_config["DATABASE_URL"], "REDIS_URL": REDIS_URL,
        "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": app.config["SECRET_KEY"], "LOG_LEVEL": "WARNING",
        "WEBHOOK_TEST_ALLOWLIST": "127.0.0.1", "WEBHOOK_TIMEOUT": str(TIMEOUT), "WEBHOOK_LEASE": str(LEASE),
        "WEBHOOK_SWEEP_GRACE": "0",
    }
    env = {**os.environ, **{f"SHIJING_{name}": value for name, value in settings.items()}}
    producer = create_app({**app_config, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": app.config["SECRET_KEY"],
                           "JOBS_IMMEDIATE": False, "WEBHOOK_TIMEOUT": TIMEOUT, "WEBHOOK_LEASE": LEASE})
    producer.extensions["shijing.jobs"].huey.flush()
    partner = factory.app_client()
    # the first attempt hangs (the worker dies while waiting); the next one is answered
    with PartnerReceiver([Reply(200, delay=30)], default=Reply(200)) as receiver, \
            open(tmp_path / "workers.log", "wb") as log:
        endpoint_id = _endpoint(producer, partner.id, receiver.url + "/hooks")
        first_worker = _worker(env, log)
        workers = [first_worker]
        try:
            delivery_id = _send_test(producer, endpoint_id)
            [first] = receiver.wait_for(1, timeout=30)
            first_worker.kill()  # SIGKILL: no cleanup, the delivery stays claimed
            first_worker.wait(timeout=10)
            # the claim was made just before the request arrived; wait for its lease to run out
            time.sleep(max(0.0, first.arrived_at + LEASE + 0.5 - time.monotonic()))
            workers.append(_worker(env, log))  # its start-up sweep finds the abandoned delivery
            try:
                first, second = receiver.wait_for(2, timeout=30)
            except AssertionError:
                log.flush()
                raise AssertionError((tmp_path / "workers.log").read_text()[-3000:]) from None
            delivery = _wait_until_finished(producer, delivery_id, timeout=20)
        finally:
            for worker in workers:
                worker.kill()
                worker.wait(timeout=10)
    assert headers_of(first)["webhook-id"] == headers_of(second)["webhook-id"] == delivery.event_id
    assert first.body == second.body
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)  # the killed attempt was never recorded
    producer.extensions["shijing.jobs"].huey.flush()
    producer.extensions["shijing.db"].engine.dispose()
