"""The processes under test: the GLM simulator and the two Streamlit apps, plus /proc readings."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A server did not start or answer; the message carries its log tail."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-n:]
    except OSError:
        return ""


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0, step: float = 0.02) -> float:
    """Poll url until it answers 200; returns time.time() at that moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"process exited with {proc.returncode} before {url} answered:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return time.time()
        except OSError:
            pass
        time.sleep(step)
    raise BenchError(f"{url} did not answer within {timeout:.0f} s:\n{tail(log)}")


def stop(proc: subprocess.Popen | None) -> None:
    """Terminate one process we started (by its own handle), then kill it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy (every process, every core), from /proc/stat."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    return (sum(parts) - parts[3] - parts[4]) / CLK_TCK  # all but idle and iowait


def browser_cpu_seconds() -> float:
    """utime + stime of every Chromium process alive now (renderers come and go with contexts)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if "chrom" not in (entry / "comm").read_text():
                continue
            total += cpu_seconds(int(entry.name))
        except OSError:  # it exited meanwhile
            continue
    return total


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


@dataclass
class Simulator:
    proc: subprocess.Popen
    root: str
    ttft: float
    token_delay: float

    @property
    def base_url(self) -> str:
        return f"{self.root}/api/paas/v4"

    def _get(self, path: str) -> dict:
        with urllib.request.urlopen(f"{self.root}{path}", timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict:
        return self._get("/stats")

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.root}/reset", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def wait_events(self, n: int, timeout: float) -> list[dict]:
        """The stream events once at least n streams have ended (or whatever there is at the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if len(stats["events"]) >= n and stats["open_streams"] == 0 or time.monotonic() > deadline:
                return stats["events"]
            time.sleep(0.05)


def start_simulator(run_dir: Path, ttft: float, token_delay: float, src: Path = ROOT) -> Simulator:
    port = free_port()
    log = run_dir / "simulator.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "glmsim.simulator",
                "--port",
                str(port),
                "--ttft",
                str(ttft),
                "--token-delay",
                str(token_delay),
            ],
            cwd=src,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    root = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{root}/health", proc, log)
    except BaseException:
        stop(proc)
        raise
    return Simulator(proc, root, ttft, token_delay)


@dataclass
class App:
    """One `streamlit run` process of GLM Chat ("glm") or the naive app ("naive")."""

    name: str
    proc: subprocess.Popen
    url: str
    log: Path
    spawned_at: float  # time.time() just before Popen
    healthy_at: float = 0.0  # time.time() when /_stcore/health first answered 200
    extra: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        stop(self.proc)


SCRIPTS = {"glm": "app.py", "naive": "bench/naive_app.py"}
# What a snapshot copies: everything either app reads at run time (no secrets, no data, no .env).
SNAPSHOT = [
    "app.py",
    "app_pages",
    "glmchat",
    "glmsim",
    ".streamlit/config.toml",
    "bench/naive_app.py",
    "bench/corpus.py",
    "bench/serve.py",
]


def snapshot(run_dir: Path) -> Path:
    """Copy the apps' sources into the run directory, so edits made to the repo during a run (other
    engineers work in the same tree) cannot change the code under test half-way through."""
    dest = run_dir / "src"
    for rel in SNAPSHOT:
        src, out = ROOT / rel, dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, out, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, out)
    return dest


def app_env(name: str, sim: Simulator, database_url: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "ZHIPUAI_API_KEY": "bench", "ZHIPUAI_BASE_URL": sim.base_url}
    if name == "naive":
        # Streamlit's default, which the naive app would have on its own: it runs from the snapshot's root and so
        # reads GLM Chat's .streamlit/config.toml, which turns the collection after every run off.
        env["STREAMLIT_RUNNER_POST_SCRIPT_GC"] = "true"
    if name == "glm":
        # Every history setting explicit (blank = unset), so neither the shell nor a .env file changes them.
        env.update(
            {
                "GLMCHAT_DATABASE_URL": database_url,
                "GLMCHAT_ACCESS_MODE": "personal",
                "GLMCHAT_OWNER_SECRET": "",
                "GLMCHAT_HOST_KEY_HISTORY": "",
                # The seeded chats are longer than the default input limit of 1,000 messages.
                "GLMCHAT_MAX_CONVERSATION_MESSAGES": "100000",
            }
        )
    return env


def start_app(
    name: str,
    run_dir: Path,
    sim: Simulator,
    database_url: str,
    tag: str = "",
    wait: bool = True,
    src: Path = ROOT,
    gc_hook: bool = False,
    heap_file: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> App:
    """`python -m streamlit run <app>`; gc_hook=True runs it through bench/serve.py (SIGUSR1: gc + trim).

    With heap_file (and gc_hook) the process traces its allocations, and each SIGUSR1 appends its traced size
    to heap_file."""
    port = free_port()
    log = run_dir / f"streamlit-{name}{tag}.log"
    launcher = [str(src / "bench" / "serve.py")] if gc_hook else ["-m", "streamlit"]
    cmd = [
        PYTHON,
        *launcher,
        "run",
        SCRIPTS[name],
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        # No file watcher: an edit elsewhere in the tree must not prompt or rerun a session mid-measurement.
        "--server.fileWatcherType",
        "none",
    ]
    with open(log, "wb") as out:
        spawned = time.time()
        env = {**app_env(name, sim, database_url), **(extra_env or {})}
        if heap_file is not None:
            env.update(PYTHONTRACEMALLOC="1", BENCH_HEAP_FILE=str(heap_file))
        proc = subprocess.Popen(cmd, cwd=src, stdout=out, stderr=subprocess.STDOUT, env=env)
    app = App(name, proc, f"http://127.0.0.1:{port}", log, spawned)
    if wait:
        try:
            app.healthy_at = wait_http(f"{app.url}/_stcore/health", proc, log)
        except BaseException:
            app.stop()
            raise
    return app
