"""Background work on Huey: Redis-backed workers in production, the same tasks in-process locally.

Every capability registers its tasks here at import time (``@task()``); ``init_app`` binds them
to a Huey instance: ``RedisHuey`` when ``SHIJING_REDIS_URL`` is set (run ``shijing worker``),
otherwise ``SqliteHuey`` in the instance folder, consumed by a thread that ``shijing serve``
starts in-process. ``SHIJING_JOBS_IMMEDIATE`` runs tasks inline (Huey's immediate mode).
"""

from __future__ import annotations

import logging
from pathlib import Path

from huey import RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer

log = logging.getLogger("shijing.jobs")

_REGISTRY: list[tuple[str, object, dict]] = []
_PERIODIC: list[tuple[str, object, dict]] = []


def task(**options):
    """Declare a background task; ``options`` are Huey's (``retries``, ``retry_delay``…)."""

    def decorator(fn):
        _REGISTRY.append((f"{fn.__module__}.{fn.__name__}", fn, options))
        return fn

    return decorator


def periodic(**schedule):
    """Declare a periodic task with a Huey ``crontab`` schedule (``minute="*/5"``…)."""

    def decorator(fn):
        _PERIODIC.append((f"{fn.__module__}.{fn.__name__}", fn, schedule))
        return fn

    return decorator


_AFTER_COMMIT = "shijing.after_commit"  # app.extensions: session.info key -> enqueue(app, items)
_COMMITTED = "shijing_committed_jobs"  # g: (key, items) committed during the request, not yet queued


def declare_commit_queue(app, database, key: str, enqueue) -> None:
    """Declare a queue of jobs that wait for their transaction: what a transaction listed in
    ``session.info[key]`` is queued once it commits, by ``enqueue(app, items)``; a rollback
    forgets it (a worker must find the row, and a rolled-back request queues nothing). In a
    request the queueing waits for the request's teardown, so with immediate jobs (tests) the
    job runs after the request's commit, not inside it. One teardown serves every kind registered here (one ``g`` lookup a request)."""
    from flask import g, has_request_context
    from sqlalchemy import event

    kinds = app.extensions.get(_AFTER_COMMIT)
    if kinds is None:
        kinds = app.extensions[_AFTER_COMMIT] = {}

        @app.teardown_request
        def _queue_committed(exc):
            committed = g._get_current_object().pop(_COMMITTED, None)  # see gateway.db.reader
            for kind, items in committed or ():
                kinds[kind](app, items)

    kinds[key] = enqueue

    @event.listens_for(database._factory, "after_commit")
    def _queue(session):
        items = session.info.pop(key, None)
        if not items:
            return
        if has_request_context():
            g.setdefault(_COMMITTED, []).append((key, items))
        else:
            enqueue(app, items)

    @event.listens_for(database._factory, "after_rollback")
    def _forget(session):
        session.info.pop(key, None)


class Jobs:
    def __init__(self, app) -> None:
        config = app.config["SHIJING"]
        self.app = app
        immediate = bool(config["JOBS_IMMEDIATE"])
        if config["REDIS_URL"]:
            self.huey = RedisHuey("shijing", url=config["REDIS_URL"], immediate=immediate)
        else:
            path = Path(config["INSTANCE_PATH"]) / "jobs.sqlite3"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.huey = SqliteHuey("shijing", filename=str(path), immediate=immediate)
        self.tasks = {}
        for name, fn, options in _REGISTRY:
            self.tasks[name] = self.huey.task(name=name, context=False, **options)(self._in_app(fn))
        for name, fn, schedule in _PERIODIC:
            self.tasks[name] = self.huey.periodic_task(crontab(**schedule), name=name)(
                self._in_app(fn)
            )

    def _in_app(self, fn):
        app = self.app

        def run(*args, **kwargs):
            with app.app_context():
                return fn(*args, **kwargs)

        run.__name__ = fn.__name__
        return run

    def enqueue(self, fn, *args, **kwargs):
        """Queue ``fn`` (a function declared with ``@task``); returns Huey's result handle."""
        return self.tasks[f"{fn.__module__}.{fn.__name__}"](*args, **kwargs)

    def schedule(self, fn, *args, delay: float, **kwargs):
        """Queue ``fn`` to run ``delay`` seconds from now."""
        return self.tasks[f"{fn.__module__}.{fn.__name__}"].schedule(args, kwargs, delay=delay)

    def consumer(self, workers: int = 2):
        # max_delay: an idle SQLite queue is polled at most this far apart (Huey's default, 10 s,
        # would let a webhook wait that long); Redis blocks on the queue instead of polling
        return self.huey.create_consumer(workers=workers, worker_type="thread", periodic=True, max_delay=1.0)

    def start_consumer_thread(self, workers: int = 1, *, periodic: bool = True, max_delay: float = 1.0):
        """Consume from threads of this process (the dev server's embedded queue, tests).

        ``Consumer.run`` sets signal handlers, which only the main thread may do, so a consumer
        started from another thread runs its workers and scheduler without them. Returns the
        consumer; ``consumer.stop(graceful=True)`` ends it.
        """
        consumer = _ThreadConsumer(self.huey, workers=workers, worker_type="thread", periodic=periodic,
                                   max_delay=max_delay)
        consumer.start()
        return consumer


class _ThreadConsumer(Consumer):
    def _set_signal_handlers(self):
        pass  # not the main thread: the process's own signal handling stays in charge
