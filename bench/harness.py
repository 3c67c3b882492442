"""The benchmark harness every Shijing HTTP benchmark reuses (rules: ../../shared/PERFORMANCE.md §3).

What it gives a benchmark script:

- :func:`require_wrk` — wrk must be installed (``apt-get install -y wrk`` on Debian/Ubuntu,
  ``brew install wrk`` on macOS); otherwise a clear message and exit status 2.
- :func:`scratch_dir` — a private folder on tmpfs (``/dev/shm``) for the SQLite database, keys
  and logs, so page-cache eviction never turns reads into disk I/O (PERFORMANCE.md §1).
- :class:`Server` — one gunicorn process (``sync`` workers = cores by default) serving
  ``bench/wsgi.py``: the project app at ``/`` and a bare Flask app at ``/__bench/bare``, so
  project endpoints and their baselines share the process. Its PID is recorded; it is stopped
  by that PID (and its own process group) when the ``with`` block ends.
- :func:`run_wrk` — one bounded wrk run against **127.0.0.1 only**, parsed into a
  :class:`WrkResult` (rps, p50/p99, non-2xx and socket errors).
- :func:`summarise` / :func:`ratio_stats` — median and min–max over repetitions, and the median
  of per-repetition ratios (never the ratio of medians).

Everything is bounded: wrk runs for a fixed duration with a subprocess timeout on top, server
start-up and shutdown have deadlines, and nothing listens or connects beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
LUA_DIR = BENCH_DIR / "lua"
RESULTS_DIR = BENCH_DIR / "results"
HOST = "127.0.0.1"  # the only address any benchmark talks to

WRK_INSTALL_HINT = (
    "wrk is not installed. Install it with `apt-get install -y wrk` (Debian/Ubuntu, as root) "
    "or `brew install wrk` (macOS), then re-run."
)


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        sys.exit(f"error: {WRK_INSTALL_HINT}")
    return path


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def scratch_dir(prefix: str = "shijing-bench-") -> Path:
    """A new private folder on tmpfs when the machine has one (else the system temp dir)."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def nice_prefix(nice: int) -> list[str]:
    """``nice -n N`` for a benchmark process. A negative N (root only) makes the scheduler favour
    the server and wrk over other work on a shared machine; both sides of every ratio get it."""
    return ["nice", "-n", str(nice)] if nice else []


class AutogroupNice:
    """Set this session's scheduling-autogroup nice for the duration of a benchmark.

    With ``kernel.sched_autogroup_enabled=1`` the scheduler first splits the CPU between
    sessions, so ``nice`` alone only ranks processes inside this session; the autogroup's own
    nice (``/proc/self/autogroup``) is what competes with other sessions. Restored on exit.
    No-op when ``nice`` is 0 or the file is absent.
    """

    PATH = Path("/proc/self/autogroup")

    def __init__(self, nice: int) -> None:
        self.nice = nice
        self.previous: int | None = None

    def __enter__(self) -> "AutogroupNice":
        if self.nice and self.PATH.exists():
            try:
                self.previous = int(self.PATH.read_text().split("nice")[1])
                self.PATH.write_text(str(self.nice))
            except (OSError, ValueError, IndexError) as error:
                print(f"warning: could not set the autogroup nice: {error}", file=sys.stderr)
                self.previous = None
        return self

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            try:
                self.PATH.write_text(str(self.previous))
            except OSError:
                pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http(method: str, url: str, *, headers: dict | None = None, data: bytes | None = None,
         timeout: float = 10.0) -> tuple[int, bytes]:
    """One small request (set-up and sanity checks, never load)."""
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"benchmarks only talk to {HOST}: {url}")
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# --- the server ---------------------------------------------------------------------------------


class Server:
    """gunicorn serving ``bench/wsgi.py`` on 127.0.0.1, started and stopped by PID.

    ``env`` is the complete environment for the server (SHIJING_* settings included).
    ``stderr_path`` receives the workers' stderr, i.e. the app's JSON log lines (the access log);
    gunicorn's own log goes to ``<scratch>/gunicorn.log`` at warning level.
    """

    def __init__(self, env: dict, scratch: Path, *, workers: int = 2, worker_class: str = "sync",
                 threads: int = 1, stderr_path: str = os.devnull, app: str = "bench.wsgi:application",
                 start_timeout: float = 60.0, nice: int = 0) -> None:
        self.env = env
        self.scratch = scratch
        self.workers = workers
        self.worker_class = worker_class
        self.threads = threads
        self.stderr_path = stderr_path
        self.app = app
        self.start_timeout = start_timeout
        self.nice = nice
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self._stderr = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def describe(self) -> str:
        kind = self.worker_class if self.worker_class != "gthread" else f"gthread --threads {self.threads}"
        return f"gunicorn -k {kind} -w {self.workers}"

    def __enter__(self) -> "Server":
        command = nice_prefix(self.nice) + [
            sys.executable, "-m", "gunicorn",
            "--bind", f"{HOST}:{self.port}",
            "--workers", str(self.workers),
            "--worker-class", self.worker_class,
            "--threads", str(self.threads),
            "--chdir", str(REPO_ROOT),
            "--log-level", "warning",
            "--error-logfile", str(self.scratch / "gunicorn.log"),
            "--timeout", "60",
            self.app,
        ]
        # O_APPEND, so the log can be truncated between runs while the workers write to it
        self._stderr = open(self.stderr_path, "ab")
        self.process = subprocess.Popen(
            command, env=self.env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
            # its own process group (stopped as one), but the same session as this script and wrk:
            # with the kernel's autogroup scheduling, a new session would be a separate
            # scheduling group competing with wrk instead of sharing its CPU share
            stdout=self._stderr, stderr=self._stderr, process_group=0,
        )
        (self.scratch / "gunicorn.pid").write_text(str(self.process.pid))
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._fail("gunicorn exited during start-up")
            try:
                status, _ = http("GET", self.base_url + "/healthz", timeout=2)
                if status == 200:
                    # every worker imports the app lazily: touch the server a few more times
                    for _ in range(4 * self.workers):
                        http("GET", self.base_url + "/healthz", timeout=5)
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self._fail(f"gunicorn did not answer /healthz within {self.start_timeout:.0f} s")
        return self

    def _fail(self, message: str) -> None:
        log = self.scratch / "gunicorn.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        self.stop()
        raise RuntimeError(f"{message}; gunicorn log tail:\n{tail}")

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(p) for p in children.read_text().split()]
        except OSError:
            return []

    def pids(self) -> list[int]:
        """The arbiter and its workers (for :class:`CpuMeter`)."""
        return ([self.process.pid] if self.process else []) + self.worker_pids()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the arbiter stops its workers gracefully
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its own process group: only what we started
                process.wait(timeout=10)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __exit__(self, *exc) -> None:
        self.stop()


# --- CPU accounting: whose CPU did a run use? -------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def _box_ticks() -> tuple[float, float]:
    """(busy seconds excluding irq/softirq, steal seconds) summed over all CPUs."""
    try:
        parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    user, nice, system, idle, iowait, irq, softirq = parts[:7]
    steal = parts[7] if len(parts) > 7 else 0
    return (user + nice + system) / _TICK, steal / _TICK


class CpuMeter:
    """CPU used during a run by the server's processes, by wrk, and by everything else.

    ``foreign_share`` — other processes' CPU plus hypervisor steal, as a share of the box over
    the run — says how much the shared machine disturbed the measurement: near 0 is a clean run;
    0.2 means a fifth of the box went to someone else and the rps of that run are not comparable
    with a quiet one (the per-repetition ratio still cancels part of it). Linux only; elsewhere
    every figure reads 0.
    """

    def __init__(self, server_pids: list[int]) -> None:
        self.server_pids = server_pids

    def __enter__(self) -> "CpuMeter":
        import resource

        self._wall = time.monotonic()
        self._server = sum(_proc_cpu_seconds(p) for p in self.server_pids)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._children = usage.ru_utime + usage.ru_stime  # wrk, once it has been waited for
        self._busy, self._steal = _box_ticks()
        return self

    def __exit__(self, *exc) -> None:
        import resource

        wall = time.monotonic() - self._wall
        busy, steal = _box_ticks()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.server_seconds = sum(_proc_cpu_seconds(p) for p in self.server_pids) - self._server
        self.wrk_seconds = usage.ru_utime + usage.ru_stime - self._children
        ours = self.server_seconds + self.wrk_seconds
        foreign = max(0.0, (busy - self._busy) - ours) + (steal - self._steal)
        self.foreign_share = foreign / (wall * cores()) if wall > 0 else 0.0


def wait_for_quiet(max_wait: float, threshold: float = 0.15, sample: float = 1.0) -> float:
    """Before a run, wait (at most ``max_wait`` s) until other processes use less than
    ``threshold`` of the box over a ``sample``-second window. Returns the last share seen.
    Call it while the server is idle: everything busy then is someone else."""
    deadline = time.monotonic() + max_wait
    while True:
        busy0, steal0 = _box_ticks()
        time.sleep(sample)
        busy1, steal1 = _box_ticks()
        share = ((busy1 - busy0) + (steal1 - steal0)) / (sample * cores())
        if share < threshold or time.monotonic() >= deadline:
            return share


# --- wrk ----------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int = 0
    socket_errors: int = 0
    raw: str = field(default="", repr=False)

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unparsable wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"could not parse wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=_duration_ms(p50.group(1)),
        p99_ms=_duration_ms(p99.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        # read errors are counted but expected to stay 0: sync workers close each connection
        # after the response, which wrk handles as a normal reconnect
        socket_errors=sum(int(x) for x in sock.groups()) if sock else 0,
        raw=output,
    )


def run_wrk(url: str, *, duration: float, threads: int = 2, connections: int = 32,
            script: Path | None = None, env: dict | None = None, timeout_s: float = 5.0,
            nice: int = 0) -> WrkResult:
    """One wrk run (``--latency``) against a 127.0.0.1 URL, bounded in time."""
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"benchmarks only target {HOST}: {url}")
    seconds = max(1, int(round(duration)))
    command = nice_prefix(nice) + [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
               f"--timeout={max(2, int(timeout_s))}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    completed = subprocess.run(
        command, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=seconds + 30,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr or completed.stdout}")
    return parse_wrk(completed.stdout)


# --- statistics and tables ----------------------------------------------------------------------


@dataclass
class Spread:
    median: float
    low: float
    high: float

    def fmt(self, digits: int = 0) -> str:
        return f"{self.median:,.{digits}f} [{self.low:,.{digits}f}–{self.high:,.{digits}f}]".replace(",", " ")


def summarise(values: list[float]) -> Spread:
    return Spread(statistics.median(values), min(values), max(values))


def ratio_stats(numerators: list[float], denominators: list[float]) -> Spread:
    """Median and min–max of the per-repetition ratios (PERFORMANCE.md §3 rule 4)."""
    return summarise([n / d for n, d in zip(numerators, denominators, strict=True) if d])


def write_results(name: str, markdown: str, data: dict) -> Path:
    """Save ``bench/results/<timestamp>-<name>.md`` (and ``.json``); the folder is gitignored."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"{stamp}-{name}.md"
    path.write_text(markdown)
    path.with_suffix(".json").write_text(json.dumps(data, indent=2, default=_jsonable))
    return path


def _jsonable(value):
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)


def machine_summary() -> str:
    import platform

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for module in ("flask", "werkzeug", "gunicorn", "sqlalchemy", "authlib", "limits", "prometheus_client"):
        try:
            from importlib.metadata import version

            versions.append(f"{module} {version(module)}")
        except Exception:  # noqa: BLE001 - informational only
            pass
    wrk = shutil.which("wrk")
    wrk_version = ""
    if wrk:
        out = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10)
        wrk_version = (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else ""
    return (f"{cores()} cores ({cpu}), Python {platform.python_version()}, "
            + ", ".join(versions) + (f", {wrk_version.split(' Copyright')[0]}" if wrk_version else ""))
