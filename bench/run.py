"""GLM Chat vs the naive reference app, side by side in one run.

    .venv/bin/python -m bench.run            # full run (~20 min): writes docs/benchmarks.md + docs/benchmark-ttft.png
    .venv/bin/python -m bench.run --quick    # smoke run (~3 min): writes bench/results/quick.md

See bench/README.md for what each metric means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import browser as B
from bench import capacity_report, measure, procs, report
from bench.seed import Seeder

ROOT = procs.ROOT
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs"
METRICS = ("cold", "memory", "ttft", "stream", "rerun", "sessions")

FULL = {
    "ttft_sizes": [0, 100, 1000, 5000],
    "ttft_reps": {0: 7, 100: 5, 1000: 5, 5000: 3},
    # 100000 = unthrottled: the simulator sends as fast as it can (it reaches ~1,000-1,500 tok/s here).
    "stream_rates": [100, 500, 2000, 100000],
    "stream_reps": {100: 2, 500: 2, 2000: 3, 100000: 2},
    "rerun_sizes": [0, 1000, 5000],
    "rerun_reps": {0: 5, 1000: 5, 5000: 2},
    "session_counts": [1, 10, 25],
    "session_reps": {1: 3, 10: 1, 25: 1},
    "cold_reps": 5,
    "cold_warmup": True,
    "memory_sizes": [0, 5000],
    "memory_sessions": {0: 6, 5000: 8},
}
QUICK = {
    "ttft_sizes": [0, 100, 1000],
    "ttft_reps": {0: 2, 100: 1, 1000: 2},
    "stream_rates": [2000],
    "stream_reps": {2000: 1},
    "rerun_sizes": [0, 1000],
    "rerun_reps": {0: 1, 1000: 1},
    "session_counts": [4],
    "session_reps": {4: 1},
    "cold_reps": 1,
    "cold_warmup": False,
    "memory_sizes": [1000],
    "memory_sessions": {1000: 1},
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _busy_cores(seconds: float = 2.0) -> float:
    """CPU in use on the whole machine over a short window (nothing of ours is running then)."""
    m0, t0 = procs.machine_cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return (procs.machine_cpu_seconds() - m0) / (time.monotonic() - t0)


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001
        return "?"


def machine() -> dict:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    osname = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip('"')
    except OSError:
        pass

    def git(*args) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.rstrip()
        except Exception:  # noqa: BLE001
            return ""

    dirty = [
        line[3:]
        for line in git("status", "--porcelain").splitlines()
        if line[3:] and not line[3:].startswith(("bench/", "docs/benchmark"))
    ]
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total_gb": mem_kb / 1048576,
        "os": osname,
        "python": platform.python_version(),
        "streamlit": _version("streamlit"),
        "zhipuai": _version("zhipuai"),
        "playwright": _version("playwright"),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": dirty,
        "loadavg_start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short smoke run: fewer repetitions, sizes 0/100/1000")
    ap.add_argument(
        "--only", default=",".join(METRICS), help=f"comma-separated subset of {','.join(METRICS)} (default: all)"
    )
    ap.add_argument("--ttft", type=float, default=0.1, help="simulator TTFT in seconds (default 0.1)")
    ap.add_argument("--token-delay", type=float, default=0.01, help="simulator seconds per token (default 0.01)")
    ap.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write docs/benchmarks.md and docs/benchmark-ttft.png (default: on for a full run)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the run directory (logs, database, snapshot)")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="replace only the measured metrics' rows in the existing results (e.g. to redo one metric)",
    )
    ap.add_argument(
        "--in-place",
        action="store_true",
        help="run the apps from the working tree instead of a snapshot copied at the start",
    )
    args = ap.parse_args(argv)
    bad = set(args.only.split(",")) - set(METRICS)
    if bad:
        ap.error(f"unknown metric(s): {', '.join(sorted(bad))}")
    if args.docs is None:
        args.docs = not args.quick
    return args


def _terminate(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    cfg = QUICK if args.quick else FULL
    only = set(args.only.split(","))
    command = "bash bench/run.sh" + (" --quick" if args.quick else "")
    if set(METRICS) - only:
        command += f" --only {args.only}"
    started = datetime.now(UTC)
    t_start = time.monotonic()
    info = machine()
    log("measuring background CPU for 2 s ...")
    info["busy_cores_before"] = _busy_cores()
    run_dir = Path(tempfile.mkdtemp(prefix="glmchat-bench-"))
    log(f"run directory {run_dir}")
    src = ROOT if args.in_place else procs.snapshot(run_dir)
    database_url = f"sqlite:///{run_dir / 'bench.db'}"
    rows: list[dict] = []
    sim = None
    apps: dict[str, procs.App] = {}
    seeder = None
    failed = False
    try:
        seeder = Seeder(database_url)
        sim = procs.start_simulator(run_dir, args.ttft, args.token_delay, src=src)
        sizes = set()
        if "ttft" in only:
            sizes |= set(cfg["ttft_sizes"])
        if "rerun" in only:
            sizes |= set(cfg["rerun_sizes"])
        if "memory" in only:
            sizes |= set(cfg["memory_sizes"])
        convs = {}
        for n in sorted(s for s in sizes if s):
            t = time.monotonic()
            convs[n] = seeder.conversation(n, f"Seeded {n} messages")
            log(f"seeded a {n:,}-message conversation through Store in {time.monotonic() - t:.1f} s")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = B.launch(pw)
            info["chromium"] = browser.version
            ctx = measure.Ctx(browser=browser, sim=sim, seeder=seeder, apps=apps, log=log, rows=rows)
            try:
                if "cold" in only:
                    log("5. cold start")
                    measure.cold_start(ctx, run_dir, database_url, cfg["cold_reps"], src, cfg["cold_warmup"])
                if "memory" in only:
                    log("5. memory per session")
                    measure.memory(ctx, run_dir, database_url, cfg["memory_sizes"], cfg["memory_sessions"], convs, src)
                if only & {"ttft", "stream", "rerun", "sessions"}:
                    for name in ("glm", "naive"):
                        apps[name] = procs.start_app(name, run_dir, sim, database_url, src=src)
                    # One throwaway turn per app: the first run and the first request pay imports and the
                    # SDK's lazy set-up, once per process; the measurements are of the warm steady state.
                    for name in ("glm", "naive"):
                        measure.warm_up(ctx, apps[name])
                if "ttft" in only:
                    log("1. added time to first token")
                    measure.ttft(ctx, cfg["ttft_sizes"], cfg["ttft_reps"], convs)
                if "stream" in only:
                    log("2. stream rendering")
                    measure.stream(ctx, cfg["stream_rates"], cfg["stream_reps"])
                if "rerun" in only:
                    log("3. rerun cost")
                    measure.rerun(ctx, cfg["rerun_sizes"], cfg["rerun_reps"], convs)
                if "sessions" in only:
                    log("4. many sessions")
                    measure.sessions(ctx, cfg["session_counts"], cfg["session_reps"])
            finally:
                browser.close()
    except KeyboardInterrupt:
        log("interrupted: stopping the servers")
        failed = True
    except Exception:
        failed = True
        raise
    finally:
        for app in apps.values():
            app.stop()
        if sim is not None:
            procs.stop(sim.proc)
        if seeder is not None:
            seeder.close()
        info["loadavg_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        info["busy_cores_after"] = _busy_cores()
        finished = datetime.now(UTC)
        res = {
            "command": command,
            "started": started.strftime("%Y-%m-%d %H:%M"),
            "finished": finished.strftime("%Y-%m-%d %H:%M"),
            "wall_s": time.monotonic() - t_start,
            "config": {
                "quick": args.quick,
                "ttft": args.ttft,
                "token_delay": args.token_delay,
                "only": sorted(only),
                **{k: v for k, v in cfg.items()},
            },
            "machine": info,
            "rows": rows,
            "interrupted": failed,
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        stem = "quick" if args.quick else "full"
        previous = RESULTS / f"{stem}.json"
        if args.merge and previous.exists():
            old = json.loads(previous.read_text(encoding="utf-8"))
            part = {
                "command": command + " --merge",
                "started": res["started"],
                "finished": res["finished"],
                "only": sorted(only),
                "interrupted": failed,
                **{
                    k: info.get(k)
                    for k in (
                        "loadavg_start",
                        "loadavg_end",
                        "busy_cores_before",
                        "busy_cores_after",
                        "git_commit",
                        "git_dirty",
                    )
                },
            }
            old["rows"] = [r for r in old["rows"] if r["metric"] not in only] + rows
            old["merged"] = old.get("merged", []) + [part]
            res = old
        previous.write_text(json.dumps(res, indent=1, default=str), encoding="utf-8")
        if args.docs:
            DOCS.mkdir(exist_ok=True)
            md, png = DOCS / "benchmarks.md", DOCS / "benchmark-ttft.png"
        else:
            md, png = RESULTS / f"{stem}.md", RESULTS / f"{stem}-ttft.png"
        how = report.plot(res["rows"], png) if any(r["metric"] == "ttft" for r in res["rows"]) else None
        text = report.document(res, png.name if how else None, report.keep_notes(md))
        capacity = capacity_report.kept(md)  # written by bench/capacity.py, kept as it is
        md.write_text(text + ("\n" + capacity + "\n" if capacity else ""), encoding="utf-8")
        log(f"results: {RESULTS / f'{stem}.json'}; report: {md}" + (f"; plot: {png} ({how})" if how else ""))
        if args.keep or failed or any("error" in r for r in rows):
            log(f"run directory kept: {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
        log(f"done in {(time.monotonic() - t_start) / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
