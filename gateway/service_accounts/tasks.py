"""Tag and segment sends run on Huey, queued once the transaction that accepted them commits."""

from __future__ import annotations

import logging

from gateway.db import get_db
from gateway.jobs import declare_commit_queue, task

log = logging.getLogger("shijing.service_accounts")


@task(retries=3, retry_delay=10)
def run_send(send_id: str) -> None:
    from gateway.service_accounts import services

    with get_db().new_session() as s:
        services.run_send(s, send_id)
        s.commit()


def _enqueue(app, send_ids) -> None:
    jobs = app.extensions["shijing.jobs"]
    for send_id in send_ids:
        try:
            jobs.enqueue(run_send, send_id)
        except Exception:  # the queue is down: the send stays queued, visible as such
            log.exception("could not queue service-account send %s", send_id)


def init_app(app, database) -> None:
    """Queue each accepted send after its commit (``gateway.jobs.declare_commit_queue``)."""
    declare_commit_queue(app, database, "service_account_sends", _enqueue)
