"""An export streams in constant memory: a 200,000-row job, run in a subprocess, grows the
process's peak RSS by little — and the same probe with either accidental full load of
PERFORMANCE.md §2.5 grows it by far more, so this test would catch them:

1. a client-side cursor drained with ``fetchall()`` (the whole result as Python rows), and
2. on PostgreSQL, ``Result.partitions()`` called **without a size** under ``yield_per``, which
   sends ``FETCH FORWARD ALL`` and pulls the whole result into the driver.

The probe is ``bench/export.py --rss-probe`` (the same seed as the benchmark: set-based, one
INSERT … SELECT). On SQLite the second mistake is no mistake (``partitions()`` uses the
``yield_per`` size), so it is only asserted on PostgreSQL. Peak RSS is VmHWM, reset after the
seed with ``/proc/self/clear_refs``, so the seed's own memory does not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATABASE_URL

ROOT = Path(__file__).resolve().parents[2]
ROWS = 200_000
LIMIT_MB = 40  # streaming measured ~10 MB here; a full load of 200k rows measured well over 100 MB


def _probe_database() -> str:
    """A scratch PostgreSQL database beside the suite's (the probe resets its schema), or SQLite."""
    if not DATABASE_URL:
        return ""
    import psycopg

    base, _, name = DATABASE_URL.rpartition("/")
    scratch = f"{name}_rss_probe"
    with psycopg.connect(DATABASE_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (scratch,)).fetchone():
            c.execute(f'CREATE DATABASE "{scratch}"')
    return f"{base}/{scratch}"


def _probe(mistake: str = "none") -> dict:
    url = _probe_database()
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "export.py"), "--rss-probe", "--rows", str(ROWS), "--mistake", mistake]
        + (["--database-url", url] if url else []),
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["rows"] == ROWS and result["status"] == "completed", result
    return result


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc for peak RSS")
def test_an_export_streams_in_constant_memory():
    streamed = _probe()
    assert streamed["growth_mb"] < LIMIT_MB, streamed


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc for peak RSS")
@pytest.mark.parametrize("mistake", ["fetchall", "unsized"])
def test_the_probe_catches_a_full_load(mistake):
    if mistake == "unsized" and not DATABASE_URL:
        pytest.skip("an unsized partitions() loads everything only on PostgreSQL (FETCH FORWARD ALL)")
    loaded = _probe(mistake)
    assert loaded["growth_mb"] > LIMIT_MB, loaded
