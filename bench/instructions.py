#!/usr/bin/env python
"""Instructions per request of the endpoints http_ratios.py measures, counted by callgrind.

    .venv/bin/python bench/instructions.py                        # hello, healthz, merchant GETs
    .venv/bin/python bench/instructions.py --only healthz --without _finish,_gateway_headers
    .venv/bin/python bench/instructions.py --only poi_nearby_empty   # GET /v1/pois/nearby, nothing near

A count of executed instructions (valgrind's ``Ir``) does not move with the load on the box, so
on a shared machine it shows what an edit to the request path saves where ``rps`` ratios move by
±0.1 from one run to the next. It counts the server's in-process work only (the WSGI app of
``bench/wsgi.py`` called with a prebuilt environ, as ``profile_inprocess.py`` does): not the
kernel, gunicorn or wrk, and not cache misses — the HTTP ratios remain the goals' measure.

Each endpoint is one child process under ``valgrind --tool=callgrind --instr-atstart=no``: it
sets the app up uninstrumented, warms the endpoint up, and only then is instrumentation switched
on (``callgrind_control -i on``) for ``--calls`` requests. ``--without`` drops request hooks by
function name (``_finish``, ``_gateway_headers``, ``resolve_bearer_token``…) to price them.
Output: instructions per request and the ratio to bare Flask hello's. Bounded: ``--calls`` ≤
5 000, a deadline per child.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_ENDPOINTS = "hello,healthz,merchant_noauth,merchant_auth,ref_stack_sqlite,ref_bare_sqlite"


def child(endpoint: str, calls: int, without: list[str], signals: Path) -> None:
    """Runs under valgrind: set up, warm up, wait for instrumentation, make ``calls`` requests."""
    from flask import Flask

    from bench.profile_inprocess import InProcess

    with InProcess() as bench:
        from bench.wsgi import application

        app = application
        while not isinstance(app, Flask):
            app = app.app  # through the dispatcher to the gateway's Flask app
        for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
            for key in hooks:
                hooks[key] = [hook for hook in hooks[key] if hook.__name__ not in without]
        environ = bench.environs[endpoint]
        for _ in range(200):
            bench.call(environ)
        (signals / "ready").touch()
        _wait_for(signals / "go")
        for _ in range(calls):
            bench.call(environ)
        (signals / "done").touch()
        _wait_for(signals / "stop")


def _wait_for(path: Path, deadline: float = 600.0) -> None:
    ends = time.monotonic() + deadline
    while not path.exists():
        if time.monotonic() > ends:
            raise TimeoutError(f"no {path.name} signal")
        time.sleep(0.05)


def count(endpoint: str, calls: int, without: list[str], timeout: float) -> int:
    """Instructions per request of ``endpoint`` (one valgrind child)."""
    with tempfile.TemporaryDirectory(prefix="shijing-callgrind-") as folder:
        signals = Path(folder)
        out = signals / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                   sys.executable, __file__, "--child", endpoint, "--calls", str(calls),
                   "--without", ",".join(without), "--signals", str(signals)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            for signal, then in (("ready", "on"), ("done", "off")):
                ends = time.monotonic() + timeout
                while not (signals / signal).exists():
                    if process.poll() is not None or time.monotonic() > ends:
                        raise RuntimeError(f"{endpoint}: the child stopped before '{signal}':\n"
                                           f"{process.stderr.read()[-2000:] if process.poll() is not None else ''}")
                    time.sleep(0.1)
                subprocess.run(["callgrind_control", "-i", then, str(process.pid)], check=True,
                               stdout=subprocess.DEVNULL, timeout=60)
                (signals / ("go" if then == "on" else "stop")).touch()
            process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
        totals = re.search(r"^totals:\s+(\d+)", out.read_text(), re.MULTILINE)
        if totals is None:
            raise RuntimeError(f"{endpoint}: no totals in the callgrind output")
        return int(totals.group(1)) // calls


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=DEFAULT_ENDPOINTS, help="comma-separated endpoint keys")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--without", default="", help="request hooks to drop, by function name")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per child and phase")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--signals", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    without = [name for name in args.without.split(",") if name]
    if not 1 <= args.calls <= 5000:
        parser.error("bounded runs only: 1-5000 calls")
    if args.child:
        child(args.child, args.calls, without, Path(args.signals))
        return 0
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        sys.exit("needs valgrind (apt-get install -y valgrind)")
    endpoints = args.only.split(",")
    if "hello" not in endpoints:
        endpoints.insert(0, "hello")
    results = {endpoint: count(endpoint, args.calls, without, args.timeout) for endpoint in endpoints}
    print(f"instructions per request (callgrind Ir, {args.calls} calls each"
          + (f", without {', '.join(without)}" if without else "") + ")\n")
    print("| endpoint | instructions per request | ÷ hello | extra over hello |")
    print("|---|---|---|---|")
    hello = results["hello"]
    for endpoint, instructions in results.items():
        print(f"| {endpoint} | {instructions:,} | {instructions / hello:.2f} | {instructions - hello:+,} |")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")  # the same dict layouts from run to run
    raise SystemExit(main())
