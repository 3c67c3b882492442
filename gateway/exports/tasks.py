"""Export jobs run on Huey, queued once the transaction that created them commits; a periodic task
deletes expired files."""

from __future__ import annotations

import logging

from gateway.db import get_db
from gateway.jobs import declare_commit_queue, periodic, task

log = logging.getLogger("shijing.exports")


@task(retries=0)
def run_export(job_id: str) -> None:
    from gateway.exports import services

    services.run_job(get_db().new_session, job_id)


@task(retries=2, retry_delay=60)
def expire_exports() -> int:
    from gateway.exports import services

    with get_db().new_session() as s:
        expired = services.expire_jobs(s)
        s.commit()
    return expired


@periodic(minute="*/10")
def expire_exports_periodically() -> None:
    expire_exports()


def _enqueue(app, job_ids) -> None:
    jobs = app.extensions["shijing.jobs"]
    for job_id in job_ids:
        try:
            jobs.enqueue(run_export, job_id)
        except Exception:  # the queue is down: the job stays queued, visible as such
            log.exception("could not queue export job %s", job_id)


def init_app(app, database) -> None:
    """Queue each export job after its commit (``gateway.jobs.declare_commit_queue``)."""
    declare_commit_queue(app, database, "export_jobs", _enqueue)
