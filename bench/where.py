"""Where a turn's server CPU goes: py-spy samples of each app under the capacity run's visitors, one at a time.

    .venv/bin/python -m bench.where [--visitors 12] [--ttft 0] [--out bench/results/where.md]

For GLM Chat and the naive app, new and returning visitors as in bench/capacity.py (a new visitor types
their key in byok mode; a returning one opens a 200-message chat with 30 saved chats), it starts the
simulator and the app, warms the app up, then samples the server with py-spy (`record --format raw
--threads --nonblocking`: the process is never paused) while visitors come one after another, each
opening a session and taking 3 turns. With one visitor at a time nothing queues, so the samples are the
work itself. Each sample is put in three buckets: its thread (the script thread, the event loop that sends
the messages, GLM Chat's reply thread that reads the SDK's stream, others), the part of the script it was
in (the outermost app function on its stack, below glmchat.ui.later's hand-over, or a line of the naive
app), and the library at its leaf (protobuf, Streamlit, the database, the SDK and HTTP, the app's own code,
Python's modules by name). Figures are ms of CPU per turn, the session openings included, as in the
capacity report; at 250 Hz one sample stands for 4 ms.
"""

from __future__ import annotations

import argparse
import collections
import linecache
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs
from bench.capacity import GLM_MODES, TOKEN_DELAY, TURNS, Returning, _naive_query, new_visitor
from bench.load import run_load
from bench.run import machine
from bench.seed import Seeder

RATE = 250  # samples per second
PY_SPY = Path(sys.executable).with_name("py-spy")
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")
# An app function that only hands over to another: the part is what it calls.
WRAPPERS = ("glmchat/ui/later.py", "glmchat/ui/streamlit_internals.py")
LIBRARIES = [  # (what a leaf frame's path contains, the library it is counted under), first match wins
    ("google/protobuf", "protobuf"),
    ("streamlit/proto", "protobuf"),
    ("/sqlalchemy/", "database"),
    ("sqlite3", "database"),
    ("/psycopg", "database"),
    ("/zhipuai/", "SDK and HTTP"),
    ("/httpx/", "SDK and HTTP"),
    ("/httpcore/", "SDK and HTTP"),
    ("/h11/", "SDK and HTTP"),
    ("/pydantic", "SDK and HTTP"),
    ("/tornado/", "server (tornado, asyncio)"),
    ("/asyncio/", "server (tornado, asyncio)"),
    ("/streamlit/", "Streamlit"),
    ("/glmchat/", "app"),
    ("app_pages/", "app"),
    ("app.py", "app"),
    ("naive_app.py", "app"),
    ("/markdown", "app"),
]


@dataclass
class Profile:
    """Samples of one app and scenario, counted per bucket."""

    name: str
    turns: int
    samples: int = 0
    threads: collections.Counter = field(default_factory=collections.Counter)
    parts: collections.Counter = field(default_factory=collections.Counter)
    libraries: collections.Counter = field(default_factory=collections.Counter)

    def ms(self, count: int) -> float:
        """Samples to ms of CPU per turn."""
        return count * 1000 / RATE / self.turns


THREAD = re.compile(r"^thread \([0-9a-fx]+\): ?(?P<name>.*)$")
THREADS = {  # thread name -> what it does
    "ScriptRunner.scriptThread": "script thread",
    "MainThread": "event loop",  # tornado's: it sends every session's messages
    "glm-reply": "reply thread",  # GLM Chat's: the SDK's request and its stream
}


def frames(line: str) -> tuple[str, list[tuple[str, str, int]], int] | None:
    """A raw py-spy line ("thread (id): name;func (file:line);... count") as (thread, frames from the root, count)."""
    stack, _, count = line.rstrip().rpartition(" ")
    if not stack or not count.isdigit():
        return None
    first, *rest = stack.split(";")
    thread = m["name"].strip() if (m := THREAD.match(first)) else ""
    out = [(m["func"], m["file"], int(m["line"])) for text in rest if (m := FRAME.match(text))]
    return THREADS.get(thread, "other threads"), out, int(count)


def _is_app(file: str) -> bool:
    return any(p in file for p in ("/glmchat/", "app_pages/", "naive_app.py")) and not any(w in file for w in WRAPPERS)


def part_of(stack: list[tuple[str, str, int]]) -> str:
    """The outermost app function (or the naive app's line) on a script-thread stack, below the last hand-over
    (work that glmchat.ui.later runs after the first token is counted as itself, not as the reply's stream)."""
    handed = max((i for i, (_, file, _) in enumerate(stack) if any(w in file for w in WRAPPERS)), default=-1)
    for func, file, line in stack[handed + 1 :]:
        if not _is_app(file):
            continue
        if func == "<module>":  # a page's top level: its line says what it was doing
            if "app_pages/" in file:
                continue  # a GLM Chat page hands over to glmchat functions; the next frame names the part
            source = linecache.getline(file, line).strip()
            return f"{Path(file).name}:{line} `{source[:60]}`"
        return f"{Path(file).stem}.{func.rpartition('.')[2]}"
    if handed < 0 and any(f.endswith("app.py") and func == "<module>" for func, f, _ in stack):
        return "app.py (page setup)"
    return "Streamlit's run machinery (before / after the script)"


def library_of(stack: list[tuple[str, str, int]]) -> str:
    file = stack[-1][1] if stack else ""
    for mark, name in LIBRARIES:
        if mark in file:
            return name
    return f"Python: {Path(file).stem}" if file else "Python"


def read(path: Path, profile: Profile) -> None:
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parsed = frames(line)
        if parsed is None:
            continue
        thread, stack, count = parsed
        profile.samples += count
        profile.threads[thread] += count
        if thread == "script thread":
            profile.parts[part_of(stack)] += count
        profile.libraries[library_of(stack)] += count


def sample(name: str, pid: int, url: str, visitors: int, setup, out_dir: Path) -> Profile:
    """py-spy on the server while `visitors` visitors come one after another, each taking TURNS turns."""
    raw = out_dir / f"{name.replace(' ', '-')}.txt"
    spy = subprocess.Popen(
        [str(PY_SPY), "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw", "--threads"]
        + ["--nonblocking", "--full-filenames", "--output", str(raw)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # py-spy attaches
    turns = 0
    try:
        for _ in range(visitors):
            report = run_load(url, visitors=1, turns=TURNS, think=(0.3, 0.3), setup=setup)
            summary = report.summary()
            if summary["errors"] or summary["complete"] != TURNS:
                raise procs.BenchError(f"{name}: a visitor failed: {summary['errors'][:1]}")
            turns += summary["complete"]
    finally:
        spy.send_signal(signal.SIGINT)
        _, err = spy.communicate(timeout=30)
    if not raw.exists():
        raise procs.BenchError(f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")
    profile = Profile(name, turns)
    read(raw, profile)
    return profile


def table(p: Profile, counter: collections.Counter, top: int = 12) -> list[str]:
    rows = counter.most_common()
    shown, rest = rows[:top], sum(c for _, c in rows[top:])
    lines = [f"| {what} | {p.ms(c):.1f} |" for what, c in shown]
    if rest:
        lines.append(f"| (the rest) | {p.ms(rest):.1f} |")
    return lines


def report(profiles: list[Profile], ttft: float, visitors: int, commit: str) -> str:
    lines = [
        "# Where a turn's server CPU goes",
        "",
        f"`.venv/bin/python -m bench.where --visitors {visitors} --ttft {ttft:g}` at `{commit}`, "
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC. ms of CPU per turn (session openings "
        f"included: {visitors} visitors one after another, {TURNS} turns each), py-spy at {RATE} Hz.",
        "",
        "| app, visitor | sampled CPU per turn (ms) | script thread | event loop | reply thread | other threads |",
        "|---|---|---|---|---|---|",
    ]
    for p in profiles:
        t = p.threads
        lines.append(
            f"| {p.name} | {p.ms(p.samples):.1f} | {p.ms(t['script thread']):.1f} | "
            f"{p.ms(t['event loop']):.1f} | {p.ms(t['reply thread']):.1f} | {p.ms(t['other threads']):.1f} |"
        )
    for p in profiles:
        lines += ["", f"## {p.name}", "", "| library at the sample's leaf (all threads) | ms per turn |", "|---|---|"]
        lines += table(p, p.libraries)
        lines += ["", "| part of the script (script thread) | ms per turn |", "|---|---|"]
        lines += table(p, p.parts)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.where", description=__doc__.splitlines()[0])
    ap.add_argument("--visitors", type=int, default=12, help="visitors per app and scenario (3 turns each)")
    ap.add_argument("--ttft", type=float, default=0.0, help="the simulator's time to first token (s)")
    ap.add_argument("--out", type=Path, default=procs.ROOT / "bench" / "results" / "where.md")
    args = ap.parse_args(argv)
    if not PY_SPY.exists():
        raise SystemExit(f"no {PY_SPY}: .venv/bin/pip install -r bench/requirements.txt")
    run_dir = Path(tempfile.mkdtemp(prefix="glmchat-where-"))
    src = procs.snapshot(run_dir)
    database_url = f"sqlite:///{run_dir / 'where.db'}"
    seeder = Seeder(database_url)
    returning = Returning(seeder, 1)  # the capacity run's: 30 saved chats and a 200-message chat

    cases = [
        ("GLM Chat, new", "glm", "new", new_visitor),
        ("naive app, new", "naive", "new", None),
        ("GLM Chat, returning", "glm", "returning", returning.setup),
        ("naive app, returning", "naive", "returning", _naive_query("returning")),
    ]
    sim = procs.start_simulator(run_dir, args.ttft, TOKEN_DELAY, src=src)
    profiles = []
    try:
        for label, name, scenario, setup in cases:
            env = {"GLMCHAT_ACCESS_MODE": GLM_MODES[scenario]} if name == "glm" else None
            app = procs.start_app(name, run_dir, sim, database_url, f"-{scenario}", src=src, extra_env=env)
            try:
                for _ in range(2):  # imports and the SDK's set-up, once per process
                    run_load(app.url, visitors=1, turns=1, setup=setup)
                profiles.append(sample(label, app.pid, app.url, args.visitors, setup, run_dir))
                print(f"{label}: {profiles[-1].ms(profiles[-1].samples):.1f} ms per turn", flush=True)
            finally:
                app.stop()
    finally:
        procs.stop(sim.proc)
        seeder.close()
    args.out.write_text(report(profiles, args.ttft, args.visitors, machine()["git_commit"][:10]), encoding="utf-8")
    print(f"report {args.out} (raw samples in {run_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
