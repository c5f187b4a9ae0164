"""Capacity for a shared URL: open-loop load without a browser, GLM Chat and the naive app side by side.

    bash bench/capacity.sh           # full run (~40 min): a section in docs/benchmarks.md, docs/benchmark-capacity.png
    bash bench/capacity.sh --quick   # smoke run (~6 min): bench/results/capacity-quick.md and .png

Visitors arrive at a rate (Poisson; bench/load.py speaks Streamlit's protocol for each), open a session,
take TURNS turns with THINK seconds between them and leave. For each app, scenario and simulator time to
first token, the arrival rate rises step by step until a step misses the target badly or has errors. Per
step: added time to first token (the turn's first token after sending, minus the simulator's TTFT),
stream lag (the rest of the turn beyond the simulator's own sending time), errors, server CPU per turn, the
server's memory against the visitors present, and the load generator's own CPU.

Scenarios: "new", a visitor's first chat at `/` (GLM Chat in `byok` mode: each visitor types their own key
first, so they own an empty history, as on a public URL); and "returning", a visitor who opens their own
200-message chat (GLM Chat in `shared` mode, `?c=<id>`, 30 and more saved chats in the sidebar; the naive
app: `?seed=200`).

Capacity: the highest offered turn rate (arrival rate x TURNS) of a step whose p95 added time to first
token is at most TARGET_MS with no errors (the report marks a lower step that missed: with 20-odd turns
at the lowest rates, a p95 is nearly the maximum, and one slow turn decides it). The replicas part runs
GLM Chat on PostgreSQL behind nginx (scripts/replicas.sh) with 1 and 2 processes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import procs
from bench.load import WORDS, LoadReport, Visitor, percentiles, run_load
from bench.run import _busy_cores, machine
from bench.seed import Seeder

ROOT = procs.ROOT
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs"
TARGET_MS = 300.0  # p95 added time to first token a step must meet to count towards capacity
GIVE_UP_MS = 1500.0  # a step this far past the target ends the app's climb
TURNS = 3
THINK = (2.0, 5.0)  # seconds a visitor reads before the next message
TOKEN_DELAY = 0.01  # the simulator's seconds per token (its default)
RETURNING_CHAT = 200  # messages in a returning visitor's chat
SAVED_CHATS = 30  # small saved chats in the returning visitors' sidebar
RETURNING_POOL = 60  # 200-message chats seeded for returning visitors, one per visitor present
VISITOR_KEY = "w_visitor_key"  # GLM Chat's key field (glmchat.ui.state.VISITOR_KEY)
PG_ADMIN_URL = os.environ.get("GLMCHAT_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "glmchat_bench"

FULL = {
    "ttfts": [0.0, 0.5],
    "scenarios": ["new", "returning"],
    "rates": [0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0],  # visitors per second
    "duration": 20.0,
    "replicas": [1, 2],
    "replica_rates": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0],
}
QUICK = {
    "ttfts": [0.0],
    "scenarios": ["new", "returning"],
    "rates": [0.5, 1.5],
    "duration": 8.0,
    "replicas": [1, 2],
    "replica_rates": [1.0],
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


@dataclass
class Step:
    """One arrival rate against one setup: what bench.load measured, reduced to the report's figures."""

    setup: str  # "glm" / "naive" / "glm x1" / "glm x2"
    scenario: str
    ttft: float
    rate: float  # visitors per second
    offered_tps: float  # turns per second offered: rate x TURNS
    summary: dict
    added_ms: dict  # p50/p95/p99 added time to first token
    lag_ms: dict  # p50/p95/p99 stream lag
    mem_kb_per_session: float | None
    peak_sessions: int

    @property
    def ok(self) -> bool:
        """The step met the target: p95 added time to first token within TARGET_MS, no errors."""
        p95 = self.added_ms.get("p95")
        return not self.summary["errors"] and p95 is not None and p95 <= TARGET_MS


def reduce(report: LoadReport, ttft: float, words: int = WORDS) -> tuple[dict, dict]:
    """Added time to first token and stream lag (ms percentiles) of the complete turns."""
    done = [r for r in report.results if r.complete and r.error is None and r.first_token_s is not None]
    added = [r.first_token_s - ttft for r in done]
    # The simulator's own sending time after the first token: one token interval per further word.
    lag = [r.last_token_s - r.first_token_s - (words - 1) * TOKEN_DELAY for r in done if r.last_token_s]
    return percentiles(added), percentiles(lag)


class Memory:
    """The server processes' RSS against the visitors present, sampled while a step runs."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.base = self.rss()
        self.samples: list[tuple[int, int]] = []  # (visitors present, RSS kB)

    def rss(self) -> int:
        return sum(procs.rss_kb(pid) for pid in self.pids)

    def present(self, n: int) -> None:
        self.samples.append((n, self.rss()))

    def per_session(self) -> tuple[float | None, int]:
        """(RSS growth over the step's start at its busiest sample / visitors then, that number)."""
        if not self.samples:
            return None, 0
        n, rss = max(self.samples)
        return ((rss - self.base) / n if n else None), n


class Returning:
    """GLM Chat's returning visitors: a pool of seeded 200-message chats, one per visitor present."""

    def __init__(self, seeder: Seeder, size: int):
        self.seeder = seeder
        for i in range(SAVED_CHATS):
            seeder.conversation(4, f"Saved chat {i}")
        self.pool = [seeder.conversation(RETURNING_CHAT, f"Long chat {i}") for i in range(size)]
        self.free = list(range(size))
        self.lock = threading.Lock()

    def setup(self, visitor: Visitor) -> None:
        with self.lock:
            if not self.free:  # more visitors present than chats seeded (an overloaded step): one more
                self.pool.append(self.seeder.conversation(RETURNING_CHAT, f"Long chat {len(self.pool)}"))
                self.free.append(len(self.pool) - 1)
            i = self.free.pop(0)
        cid, last = self.pool[i]
        visitor.query = f"c={cid}"

        def leave(client) -> None:  # noqa: ARG001
            self.seeder.truncate(cid, last)  # back to its 200 messages for the next visitor
            with self.lock:
                self.free.append(i)

        visitor.leave = leave


def new_visitor(visitor: Visitor) -> None:
    """GLM Chat's new visitors type their own key first (byok mode), so each owns an empty history."""
    visitor.arrive = lambda client: client.rerun(client.value(VISITOR_KEY, f"bench{visitor.number}.capacity"))


def step(
    setup_name: str, url: str, pids: list[int], scenario: str, ttft: float, rate: float, duration: float, setup
) -> Step:
    memory = Memory(pids)
    report = run_load(
        url,
        rate=rate,
        duration=duration,
        turns=TURNS,
        think=THINK,
        server_pids=pids,
        seed=int(rate * 1000) + 7,
        setup=setup,
        present=memory.present,
    )
    added, lag = reduce(report, ttft)
    per_session, peak = memory.per_session()
    result = Step(setup_name, scenario, ttft, rate, rate * TURNS, report.summary(), added, lag, per_session, peak)
    log(
        f"  {setup_name:8} {scenario:9} ttft={ttft:.1f} {rate:4.2f}/s: added p50/p95 "
        f"{added.get('p50', float('nan')):7.0f}/{added.get('p95', float('nan')):7.0f} ms, "
        f"turns {result.summary['complete']}/{result.summary['turns']}, errors {len(result.summary['errors'])}, "
        f"cpu/turn {result.summary['server_cpu_ms_per_turn']} ms, peak {peak} sessions"
    )
    return result


def climb(name, url, pids, scenario, ttft, rates, duration, setup, steps: list[Step]) -> None:
    """Rising rates until one misses the target by far or fails; the steps go into `steps` as they come."""
    for rate in rates:
        result = step(name, url, pids, scenario, ttft, rate, duration, setup)
        steps.append(result)
        p95 = result.added_ms.get("p95")
        if result.summary["errors"] or p95 is None or p95 > GIVE_UP_MS:
            break
        time.sleep(2)  # the sessions of the step close


# GLM Chat's access mode per scenario: a new visitor brings their own key (byok: their own history, an empty
# sidebar, as on a public URL); a returning one is the host with their saved chats (shared: one owner).
GLM_MODES = {"new": "byok", "returning": "shared"}


def one_process(cfg: dict, run_dir: Path, src: Path, steps: list[Step]) -> None:
    database_url = f"sqlite:///{run_dir / 'capacity.db'}"
    seeder = Seeder(database_url)
    returning = Returning(seeder, RETURNING_POOL) if "returning" in cfg["scenarios"] else None
    try:
        for ttft in cfg["ttfts"]:
            sim = procs.start_simulator(run_dir, ttft, TOKEN_DELAY, src=src)
            apps = {}
            try:
                for scenario in cfg["scenarios"]:
                    env = {"GLMCHAT_ACCESS_MODE": GLM_MODES[scenario]}
                    tag = f"-{scenario}-{ttft}"
                    apps[("glm", scenario)] = procs.start_app(
                        "glm", run_dir, sim, database_url, tag, src=src, extra_env=env
                    )
                apps[("naive", "")] = procs.start_app("naive", run_dir, sim, database_url, f"-{ttft}", src=src)
                for (_, scenario), app in apps.items():  # imports and the SDK's set-up, once per process
                    run_load(app.url, visitors=1, turns=1, setup=new_visitor if scenario == "new" else None)
                for scenario in cfg["scenarios"]:
                    for name in ("glm", "naive"):
                        app = apps[(name, scenario if name == "glm" else "")]
                        if name == "naive":
                            setup = _naive_query(scenario)
                        else:
                            setup = returning.setup if scenario == "returning" else new_visitor
                        climb(name, app.url, [app.pid], scenario, ttft, cfg["rates"], cfg["duration"], setup, steps)
            finally:
                for app in apps.values():
                    app.stop()
                procs.stop(sim.proc)
    finally:
        seeder.close()


def _naive_query(scenario: str):
    def setup(visitor: Visitor) -> None:
        if scenario == "returning":
            visitor.query = f"seed={RETURNING_CHAT}"

    return setup


def _pg_database() -> str | None:
    """A fresh PostgreSQL database for the replicas, or None (with the reason logged) when there is no server."""
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_DATABASE}")
    except psycopg.Error as exc:
        log(f"no PostgreSQL at {PG_ADMIN_URL} ({exc}): the replicas part is not run")
        return None
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DATABASE}"


def replicas(cfg: dict, run_dir: Path, steps: list[Step]) -> str | None:
    """GLM Chat behind nginx with 1, then 2 processes on PostgreSQL; the reason when it cannot run."""
    if not Path("/usr/sbin/nginx").exists():
        return "no nginx (apt-get install nginx)"
    database_url = _pg_database()
    if database_url is None:
        return f"no PostgreSQL at {PG_ADMIN_URL}"
    sim = procs.start_simulator(run_dir, 0.0, TOKEN_DELAY)
    try:
        for n in cfg["replicas"]:
            where = run_dir / f"replicas-{n}"
            port = procs.free_port()
            env = {
                **procs.app_env("glm", sim, database_url),
                "GLMCHAT_ACCESS_MODE": GLM_MODES["new"],
                "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
            }
            script = str(ROOT / "scripts" / "replicas.sh")
            subprocess.run(
                [script, "start", str(where), "--replicas", str(n), "--port", str(port)], env=env, check=True
            )
            try:
                pids = [int((where / f"replica-{i}.pid").read_text()) for i in range(1, n + 1)]
                url = f"http://127.0.0.1:{port}"
                for _ in range(2 * n):  # warm every replica (nginx spreads new sessions round-robin)
                    run_load(url, visitors=1, turns=1, setup=new_visitor)
                climb(
                    f"glm x{n}",
                    url,
                    pids,
                    "new",
                    0.0,
                    cfg["replica_rates"],
                    cfg["duration"],
                    new_visitor,
                    steps,
                )
            finally:
                subprocess.run([script, "stop", str(where)], env=env, check=False)
    finally:
        procs.stop(sim.proc)
    return None


def rerun_replicas(cfg: dict, docs: bool, stem: str) -> int:
    """The replicas part again, its steps replacing the last run's; that run's other steps and command stay."""
    res = json.loads((RESULTS / f"{stem}.json").read_text(encoding="utf-8"))
    steps = [Step(**s) for s in res["steps"] if not s["setup"].startswith("glm x")]
    run_dir = Path(tempfile.mkdtemp(prefix="glmchat-capacity-"))
    started, t0 = datetime.now(UTC), time.monotonic()
    try:
        res["replicas_skipped"] = replicas(cfg, run_dir, steps)
    finally:
        res["replicas_run"] = (
            f"again with `bash bench/capacity.sh --only-replicas` at `{machine()['git_commit'][:10]}`, "
            f"{started.strftime('%Y-%m-%d %H:%M')} → {datetime.now(UTC).strftime('%H:%M')} UTC"
        )
        res["config"]["replica_rates"] = cfg["replica_rates"]
        res["steps"] = [asdict(s) for s in steps]
        finish(res, steps, docs, stem, run_dir, t0)
    return 0


def finish(res: dict, steps: list[Step], docs: bool, stem: str, run_dir: Path, t0: float) -> None:
    """Keep the run's JSON, write its report, remove the run directory."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
    write_report(res, steps, docs, stem)
    shutil.rmtree(run_dir, ignore_errors=True)
    log(f"done in {(time.monotonic() - t0) / 60:.1f} min")


def write_report(res: dict, steps: list[Step], docs: bool, stem: str) -> None:
    from bench import capacity_report

    png = (DOCS / "benchmark-capacity.png") if docs else (RESULTS / f"{stem}.png")
    capacity_report.plot(steps, png)
    section = capacity_report.section(res, steps, png.name)
    if docs:
        capacity_report.insert(DOCS / "benchmarks.md", section)
        log(f"section written into {DOCS / 'benchmarks.md'}, plot {png}")
    else:
        (RESULTS / f"{stem}.md").write_text(section, encoding="utf-8")
        log(f"report {RESULTS / f'{stem}.md'}, plot {png}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: one TTFT, two rates, short steps")
    ap.add_argument("--no-replicas", action="store_true", help="skip the nginx + PostgreSQL part")
    ap.add_argument(
        "--only-replicas",
        action="store_true",
        help="run the nginx + PostgreSQL part again; the other steps are kept from the last run's JSON",
    )
    ap.add_argument("--report-only", action="store_true", help="write the report again from the last run's JSON")
    ap.add_argument(
        "--docs", action=argparse.BooleanOptionalAction, default=None, help="write into docs/ (default: full run)"
    )
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    docs = (not args.quick) if args.docs is None else args.docs
    stem = "capacity-quick" if args.quick else "capacity"
    if args.report_only:
        res = json.loads((RESULTS / f"{stem}.json").read_text(encoding="utf-8"))
        steps = [Step(**s) for s in res["steps"]]
        write_report(res, steps, docs, stem)
        return 0
    command = (
        "bash bench/capacity.sh" + (" --quick" if args.quick else "") + (" --no-replicas" if args.no_replicas else "")
    )
    if args.only_replicas:
        return rerun_replicas(cfg, docs, stem)
    started, t0 = datetime.now(UTC), time.monotonic()
    info = machine()
    info["busy_cores_before"] = _busy_cores()
    run_dir = Path(tempfile.mkdtemp(prefix="glmchat-capacity-"))
    src = procs.snapshot(run_dir)
    log(f"run directory {run_dir}")
    steps: list[Step] = []
    replicas_skipped = "not asked for" if args.no_replicas else None
    try:
        one_process(cfg, run_dir, src, steps)
        if not args.no_replicas:
            replicas_skipped = replicas(cfg, run_dir, steps)
    finally:
        info["busy_cores_after"] = _busy_cores()
        info["loadavg_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        res = {
            "command": command,
            "started": started.strftime("%Y-%m-%d %H:%M"),
            "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
            "wall_s": time.monotonic() - t0,
            "config": {**cfg, "turns": TURNS, "think": THINK, "target_ms": TARGET_MS, "words": WORDS},
            "machine": info,
            "replicas_skipped": replicas_skipped,
            "steps": [asdict(s) for s in steps],
        }
        finish(res, steps, docs, stem, run_dir, t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
