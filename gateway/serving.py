"""The app as a long-running process holds it: a gunicorn worker, ``gateway.wsgi``, the job worker.

Such a process builds the app once and then serves for hours. What the build leaves alive (modules,
routes, SQLAlchemy's metadata and compiled statements, the schemas: ~160 k objects) lives as long as
the process, yet every full garbage collection walks all of it again. A request that keeps many
objects alive for a while sets one off: a gunicorn worker taking 500-item batch upserts ran one
every few batches, ~90 ms each on the 2-core bench machine, ~15 % of a created item's server CPU
(bench/README.md, "POI batch upsert, round 5"). ``gc.freeze()`` moves everything alive at that
point to a permanent generation that no collection scans (the CPython documentation describes it
for pre-forking servers, to keep collections off what the parent built); those objects were never
going to be freed anyway. Cycles made afterwards are collected as before.
"""

from __future__ import annotations

import gc

from gateway import create_app


def serving_app():
    """``create_app()`` for a process that will serve from it until it exits."""
    app = create_app()
    gc.collect()  # what the build dropped is freed now, not frozen with the rest
    gc.freeze()
    return app
