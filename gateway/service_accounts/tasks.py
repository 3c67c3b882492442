"""Tag and segment sends run on Huey, queued once the transaction that accepted them commits."""

from __future__ import annotations

import logging

from gateway.db import get_db
from gateway.jobs import task

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
    """Queue each accepted send after its commit (a worker must find the row; a rolled-back
    request sends nothing). In a request the queueing waits for the request's teardown: with
    immediate jobs (tests) the job then runs outside the request session's commit."""
    from flask import g, has_request_context
    from sqlalchemy import event

    @event.listens_for(database._factory, "after_commit")
    def _queue(session):
        queued = session.info.pop("service_account_sends", None)
        if not queued:
            return
        if has_request_context():
            g.setdefault("service_account_sends", []).extend(queued)
        else:
            _enqueue(app, queued)

    @app.teardown_request
    def _queue_committed(exc):
        queued = g.pop("service_account_sends", None)
        if queued:
            _enqueue(app, queued)

    @event.listens_for(database._factory, "after_rollback")
    def _forget(session):
        session.info.pop("service_account_sends", None)
