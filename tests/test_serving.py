"""A process that serves the app (``gateway.wsgi``, ``shijing serve``'s workers, the job worker)
freezes the heap the app was built with: full garbage collections skip it (gateway/serving.py)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json, weakref
import gateway.wsgi

class Cycle:
    pass

def scanned(obj):
    return any(o is obj for o in gc.get_objects())

late = Cycle()
late.self = late  # garbage only a collection can free
gone = weakref.ref(late)
del late
gc.collect()
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "app_scanned": scanned(gateway.wsgi.app),
    "url_map_scanned": scanned(gateway.wsgi.app.url_map),
    "late_cycle_collected": gone() is None,
    "enabled": gc.isenabled(),
}))
"""


def test_the_wsgi_entry_point_freezes_the_built_app_and_still_collects_later_cycles(tmp_path):
    env = {"SHIJING_INSTANCE_PATH": str(tmp_path / "instance"), "SHIJING_DATABASE_URL": "", "SHIJING_REDIS_URL": "",
           "SHIJING_ENV": "development", "SHIJING_LOG_LEVEL": "WARNING", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    # the app and what it holds are in the permanent generation, which no collection scans
    assert seen["app_scanned"] is False and seen["url_map_scanned"] is False
    assert seen["frozen"] > 10_000
    # the collector is still on for everything made afterwards
    assert seen["enabled"] is True and seen["late_cycle_collected"] is True
