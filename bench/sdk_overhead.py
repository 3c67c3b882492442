"""What the Python SDK costs on top of ``requests``: per call, and at import.

    .venv/bin/python bench/sdk_overhead.py            # canned adapter + loopback gateway + import
    .venv/bin/python bench/sdk_overhead.py --quick    # fewer calls (a smoke run)
    .venv/bin/python bench/sdk_overhead.py --no-server

Three measurements, each side by side with the same work done by a raw ``requests.Session``:

1. **Canned adapter** (the precise one): both sides mount the same ``requests`` adapter, which
   answers ``GET /v1/merchants/{id}`` with the same canned JSON bytes, so the difference is only
   client-side work. Raw: ``session.get(url, headers=bearer, timeout=...)``, status check,
   ``.json()``. SDK: ``client.merchants.get(id)`` — URL building, auth header, retry bookkeeping,
   error mapping, JSON into the ``Merchant`` dataclass (date-time parsed).
2. **Loopback gateway**: the same call against the real gateway (gunicorn, one sync worker, demo
   data on SQLite, via ``bench/harness.py``) on 127.0.0.1; the server's time dominates, so this
   shows the overhead in proportion.
3. **Import**: ``python -X importtime -c "import shijing"`` against ``"import requests"``, median of
   fresh processes; the SDK imports requests, so "extra" is, within each ``import shijing`` run,
   the SDK's cumulative time minus that of the ``requests`` it imported (immune to the noise
   between processes). Bytecode is compiled first, as an installed package has it.

Calls are timed in many short alternating batches (raw, SDK, raw, SDK…) so drift hits both sides
alike. The overhead is the SDK's extra **client CPU time** per call (``time.process_time``, median
over batches): what the SDK adds is CPU work in the caller, and CPU time is not inflated by other
processes on a busy machine the way wall-clock time is (wall-clock medians are printed too).
Import figures: the fastest of several fresh processes.
Targets (issue 3): ≤ 30 µs or ≤ 10 % per call above raw; ≤ 20 ms extra import.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))

MERCHANT = {"id": "mch_01j9x6b2f0000000000000000", "name": "Chongqing Hotpot House",
            "created_at": "2026-11-22T08:00:00.000Z"}
TOKEN = "sjat_2YotnFZFEjr1zCsicMWpAA2YotnFZFEjr1zCsicMWp"
PER_CALL_TARGET_US = 30.0
PER_CALL_TARGET_RATIO = 0.10
IMPORT_TARGET_MS = 20.0


def timed_batches(raw_call, sdk_call, calls: int, repeats: int) -> dict[str, list[float]]:
    """Per-call µs of each side in every batch, alternating sides: wall clock, and this process's
    CPU time (``time.process_time``), which other processes on a busy machine do not inflate."""
    for _ in range(max(50, calls // 20)):  # warm-up: pools, caches, lazy imports
        raw_call()
        sdk_call()
    runs: dict[str, list[float]] = {"raw_wall": [], "sdk_wall": [], "raw_cpu": [], "sdk_cpu": []}
    for _ in range(repeats):
        for side, call in (("raw", raw_call), ("sdk", sdk_call)):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                call()
            runs[f"{side}_cpu"].append((time.process_time() - cpu) / calls * 1e6)
            runs[f"{side}_wall"].append((time.perf_counter() - wall) / calls * 1e6)
    return runs


def report(name: str, runs: dict[str, list[float]], base: str) -> dict:
    """Overhead = the SDK's extra client CPU per call (median over batches); wall-clock medians
    beside it (the loopback ones include the server, which the client's CPU time does not)."""
    med = {k: statistics.median(v) for k, v in runs.items()}
    over = med["sdk_cpu"] - med["raw_cpu"]
    ratio = over / med[base]  # in proportion to what the raw call takes
    ok = over <= PER_CALL_TARGET_US or ratio <= PER_CALL_TARGET_RATIO
    print(f"{name:<18} client CPU: raw {med['raw_cpu']:7.1f} µs, sdk {med['sdk_cpu']:7.1f} µs -> overhead "
          f"{over:+6.1f} µs ({ratio:+.1%} of the raw call)   {'OK' if ok else 'ABOVE TARGET'}\n"
          f"{'':<18} wall clock: raw {med['raw_wall']:7.1f} µs, sdk {med['sdk_wall']:7.1f} µs "
          f"({med['sdk_wall'] - med['raw_wall']:+.1f} µs; noisy on a loaded machine)")
    return {"overhead_us": over, "overhead_ratio": ratio, "ok": ok, **{f"{k}_us": v for k, v in med.items()},
            "runs": runs}


def canned(calls: int, repeats: int) -> dict:
    import shijing
    from shijing.testing import MockAdapter

    body = json.dumps(MERCHANT).encode()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), "X-Request-Id": "req_1"}
    adapter = MockAdapter(lambda request: (200, headers, body))
    adapter.calls = _Discard()  # keep memory flat over many calls
    base = "http://canned.test"
    url = f"{base}/v1/merchants/{MERCHANT['id']}"

    raw_session = requests.Session()
    raw_session.mount(base, adapter)
    bearer = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}

    def raw_call():
        response = raw_session.get(url, headers=bearer, timeout=(5.0, 60.0))
        if response.status_code >= 400:
            raise RuntimeError(response.status_code)
        return response.json()

    sdk_session = requests.Session()
    sdk_session.mount(base, adapter)
    client = shijing.Client(base_url=base, access_token=TOKEN, session=sdk_session)

    def sdk_call():
        return client.merchants.get(MERCHANT["id"])

    assert sdk_call().name == raw_call()["name"]
    return report("canned adapter", timed_batches(raw_call, sdk_call, calls, repeats), "raw_cpu")


class _Discard(list):
    def append(self, item) -> None:
        pass


def loopback(calls: int, repeats: int) -> dict | None:
    import shijing

    from bench.harness import Server, scratch_dir

    scratch = scratch_dir("shijing-sdk-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIJING_")}
    env.update({"SHIJING_ENV": "development", "SHIJING_INSTANCE_PATH": str(scratch / "instance"),
                "SHIJING_ACCESS_LOG": "0", "SHIJING_LOG_LEVEL": "WARNING", "PYTHONDONTWRITEBYTECODE": "1",
                "SHIJING_RATELIMIT_APP": "1000000000/minute", "SHIJING_RATELIMIT_MERCHANT": "1000000000/minute",
                "SHIJING_RATELIMIT_IP": "1000000000/minute"})
    server = Server(env, scratch, workers=1)
    env["SHIJING_ISSUER"] = server.base_url
    seeded = subprocess.run([sys.executable, "-m", "gateway.cli", "demo", "--json"], env=env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    if seeded.returncode != 0:
        print("loopback skipped: shijing demo failed\n" + seeded.stderr[-2000:])
        return None
    demo = json.loads(seeded.stdout[seeded.stdout.index("{"):])
    partner, merchant = demo["partner_app"], demo["merchants"][0]["id"]
    with server:
        client = shijing.Client(base_url=server.base_url, client_id=partner["client_id"],
                                client_secret=partner["client_secret"], scope="merchant.read")
        token = client.auth.token()  # both sides use this token; the SDK keeps it cached
        raw_session = requests.Session()
        url = f"{server.base_url}/v1/merchants/{merchant}"
        bearer = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

        def raw_call():
            response = raw_session.get(url, headers=bearer, timeout=(5.0, 60.0))
            if response.status_code >= 400:
                raise RuntimeError(response.status_code)
            return response.json()

        def sdk_call():
            return client.merchants.get(merchant)

        assert sdk_call().id == raw_call()["id"] == merchant
        return report("loopback gateway", timed_batches(raw_call, sdk_call, calls, repeats), "raw_wall")


def import_times(module: str) -> dict[str, float]:
    """Cumulative ms of every module imported by ``python -X importtime -c "import <module>"``."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                            capture_output=True, text=True, timeout=60, check=True)
    out: dict[str, float] = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)$", line)
        if match:
            out.setdefault(match.group(2), int(match.group(1)) / 1000)
    return out


def imports(runs: int) -> dict:
    # an installed package has its bytecode (pip compiles it; requests' is there): give the SDK
    # checkout the same, even under PYTHONDONTWRITEBYTECODE
    import compileall

    import shijing

    compileall.compile_dir(str(Path(shijing.__file__).parent), quiet=1, force=False)
    baseline, sdk, inside = [], [], []
    for _ in range(runs):  # alternate, like the calls
        baseline.append(import_times("requests")["requests"])
        times = import_times("shijing")
        sdk.append(times["shijing"])
        # in the same process: what importing shijing took beyond the requests it imports
        inside.append(times["shijing"] - times["requests"])
    base, full, extra = min(baseline), min(sdk), min(inside)
    ok = extra <= IMPORT_TARGET_MS
    print(f"{'import':<18} requests {base:7.1f} ms   shijing {full:7.1f} ms   extra {extra:+6.1f} ms"
          f"   {'OK' if ok else 'ABOVE TARGET'}   [extra = shijing minus the requests it imports, same process;"
          f" medians: requests {statistics.median(baseline):.1f}, shijing {statistics.median(sdk):.1f},"
          f" extra {statistics.median(inside):.1f} ms]")
    return {"requests_ms": base, "shijing_ms": full, "extra_ms": extra, "extra_runs": inside, "ok": ok,
            "requests_runs": baseline, "shijing_runs": sdk}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few calls: a smoke run, not a measurement")
    parser.add_argument("--no-server", action="store_true", help="skip the loopback gateway")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    calls, repeats, server_calls, import_runs = (200, 3, 100, 2) if args.quick else (1000, 30, 200, 15)
    print(f"python {sys.version.split()[0]}, requests {requests.__version__}, {os.cpu_count()} cpu, "
          f"load {os.getloadavg()[0]:.1f}; per call: medians of {repeats} alternating batches of {calls}")
    results = {"canned": canned(calls, repeats)}
    if not args.no_server:
        results["loopback"] = loopback(server_calls, repeats)
    results["import"] = imports(import_runs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
