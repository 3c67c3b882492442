"""bench/sdk_overhead.py keeps running (a smoke run; the figures themselves are in the report)."""

from __future__ import annotations

import json
import subprocess
import sys

from gateway.config import REPO_ROOT


def test_sdk_overhead_bench_smoke(tmp_path):
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "sdk_overhead.py"), "--quick", "--no-server", "--json", str(out)],
        capture_output=True, text=True, timeout=180, check=False, cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["canned"]["raw_cpu_us"] > 0 and figures["canned"]["sdk_cpu_us"] > 0
    assert "overhead_us" in figures["canned"]
    assert figures["import"]["requests_ms"] > 0 and "extra_ms" in figures["import"]
