"""Where the page's time goes between Enter and the first token: Chromium's own trace of its main thread.

    .venv/bin/python -m bench.pagetrace [--reps 6] [--ttft 0] [--out bench/results/pagetrace.md]

For GLM Chat and the naive app, an empty chat in a fresh context, the simulator's first token at once: the
page is traced (Chromium's `devtools.timeline` category, what DevTools' Performance panel records) from just
before Enter until the reply has ended, with a performance mark at Enter (keydown) and one when `tok0` is in
the DOM. Between the two marks the renderer's main thread was either idle (waiting for the server) or busy
in tasks; the busy time is split by what the trace says it was doing (exclusive time of each event): script
(WebSocket messages, React, timers, microtasks), style and layout, paint and compositing, garbage
collection, and the tasks' own rest. The apps alternate; figures are medians over the repetitions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench import browser as B
from bench import procs
from bench.measure import Ctx, _cleanup_glm, _open, _url
from bench.run import machine
from bench.seed import Seeder

MARKS_JS = r"""() => {
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !performance.getEntriesByName('glm-enter').length) performance.mark('glm-enter');
  }, true);
  const seen = () => [...document.querySelectorAll('[data-testid="stChatMessage"]')]
    .some((m) => m.textContent.includes('tok0'));
  new MutationObserver((_, obs) => {
    if (performance.getEntriesByName('glm-enter').length && seen()) { performance.mark('glm-first'); obs.disconnect(); }
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""
CATEGORIES = ["devtools.timeline", "blink.user_timing", "toplevel", "disabled-by-default-devtools.timeline"]
GROUPS = {  # trace event name -> what the main thread was doing (exclusive time); anything else is "script"
    "UpdateLayoutTree": "style and layout",
    "Layout": "style and layout",
    "RecalculateStyles": "style and layout",
    "HitTest": "style and layout",
    "ParseAuthorStyleSheet": "style and layout",
    "Paint": "paint and compositing",
    "PrePaint": "paint and compositing",
    "Layerize": "paint and compositing",
    "UpdateLayer": "paint and compositing",
    "Commit": "paint and compositing",
    "CompositeLayers": "paint and compositing",
    "PaintImage": "paint and compositing",
    "MinorGC": "garbage collection",
    "MajorGC": "garbage collection",
    "V8.GC_SCAVENGER": "garbage collection",
    "BlinkGC.AtomicPhase": "garbage collection",
    "RunTask": "tasks' own rest",
    "ThreadControllerImpl::RunTask": "tasks' own rest",
}
ORDER = ["script", "style and layout", "paint and compositing", "garbage collection", "tasks' own rest"]


def _mark(events: list[dict], name: str) -> dict:
    found = [e for e in events if e.get("name") == name and "user_timing" in e.get("cat", "")]
    if not found:
        raise procs.BenchError(f"no {name} mark in the trace")
    return found[0]


def split(events: list[dict]) -> dict:
    """The main thread's time between the marks: busy by group, idle, and WebSocket messages handled."""
    enter, first = _mark(events, "glm-enter"), _mark(events, "glm-first")
    where = (enter["pid"], enter["tid"])
    t0, t1 = enter["ts"], first["ts"]
    # The renderer's network side marks each WebSocket message it hands to the page.
    messages = sum(
        1 for e in events if e.get("name") == "WebSocketReceive" and e.get("pid") == enter["pid"] and t0 <= e["ts"] < t1
    )
    spans = sorted(
        (
            (e["ts"], e["ts"] + e.get("dur", 0), e["name"])
            for e in events
            if (e.get("pid"), e.get("tid")) == where and e.get("ph") == "X" and e.get("dur")
        ),
        key=lambda s: (s[0], -s[1]),
    )
    exclusive: Counter = Counter()
    busy = 0.0
    stack: list[list] = []  # [end, name, time left to itself]

    def close(until: float) -> None:
        while stack and stack[-1][0] <= until:
            end, name, own = stack.pop()
            exclusive[GROUPS.get(name, "script")] += own

    for start, end, name in spans:
        close(start)
        a, b = max(start, t0), min(end, t1)
        inside = max(0.0, b - a)
        if stack:
            stack[-1][2] -= inside  # the parent's own time excludes this child's
        else:
            busy += inside  # a top-level task
        stack.append([end, name, inside])
    close(float("inf"))
    window = (t1 - t0) / 1000
    return {
        "window_ms": window,
        "busy_ms": busy / 1000,
        "idle_ms": window - busy / 1000,
        "messages": messages,
        **{f"{g}_ms": exclusive[g] / 1000 for g in ORDER},
    }


def one(ctx: Ctx, app: procs.App, rep: int) -> dict:
    browser = ctx.browser
    tab, _, _ = _open(ctx, app, _url(app, None, 0), 0)
    try:
        tab.page.evaluate(MARKS_JS)
        browser.start_tracing(page=tab.page, categories=CATEGORIES)
        box = tab.page.get_by_test_id("stChatInputTextArea")
        box.fill(f"trace {rep} sim:tokens=40")
        box.press("Enter")
        tab.page.wait_for_function(
            "() => performance.getEntriesByName('glm-first').length > 0", polling=50, timeout=60_000
        )
        time.sleep(0.5)  # the reply ends (40 tokens at 100 tok/s)
        trace = json.loads(browser.stop_tracing())
        B.wait_idle(tab, timeout=60)
        return split(trace["traceEvents"] if isinstance(trace, dict) else trace)
    finally:
        _cleanup_glm(ctx, app, tab, None)
        tab.close()


def report(rows: dict[str, list[dict]], args, commit: str) -> str:
    keys = ["window_ms", "idle_ms", "busy_ms", *[f"{g}_ms" for g in ORDER], "messages"]
    heads = ["Enter → tok0 visible", "main thread idle", "main thread busy", *ORDER, "WebSocket messages received"]
    lines = [
        "# The page's main thread between Enter and the first token",
        "",
        f"`.venv/bin/python -m bench.pagetrace --reps {args.reps} --ttft {args.ttft:g}` at `{commit}`, "
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; empty chat, simulator TTFT {args.ttft * 1000:.0f} "
        "ms, 10 ms per token. Medians over the repetitions, ms (messages: a count). Busy = the main thread's "
        "tasks inside the window; its parts are the exclusive time of the trace's events, so they add up to it.",
        "",
        "| | " + " | ".join(rows) + " |",
        "|---|" + "---|" * len(rows),
    ]
    for key, head in zip(keys, heads, strict=True):
        cells = [statistics.median(r[key] for r in rs) if rs else float("nan") for rs in rows.values()]
        lines.append(f"| {head} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    lines += ["", f"Repetitions that ran: {', '.join(f'{k} {len(v)}' for k, v in rows.items())}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pagetrace", description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--ttft", type=float, default=0.0)
    ap.add_argument("--out", type=Path, default=procs.ROOT / "bench" / "results" / "pagetrace.md")
    args = ap.parse_args(argv)
    run_dir = Path(tempfile.mkdtemp(prefix="glmchat-pagetrace-"))
    src = procs.snapshot(run_dir)
    database_url = f"sqlite:///{run_dir / 'trace.db'}"
    seeder = Seeder(database_url)
    sim = procs.start_simulator(run_dir, args.ttft, 0.01, src=src)
    apps = {name: procs.start_app(name, run_dir, sim, database_url, src=src) for name in ("glm", "naive")}
    rows: dict[str, list[dict]] = {"GLM Chat": [], "naive app": []}
    try:
        with sync_playwright() as pw:
            browser = B.launch(pw)
            ctx = Ctx(browser, sim, seeder, apps)
            for name in ("glm", "naive"):  # warm-up: imports, the SDK's set-up, the browser's caches
                one(ctx, apps[name], -1)
            for rep in range(args.reps):
                for name in ("glm", "naive") if rep % 2 == 0 else ("naive", "glm"):
                    row = one(ctx, apps[name], rep)
                    rows["GLM Chat" if name == "glm" else "naive app"].append(row)
                    print(f"{name} rep {rep}: {row}", flush=True)
            browser.close()
    finally:
        for app in apps.values():
            app.stop()
        procs.stop(sim.proc)
        seeder.close()
    args.out.write_text(report(rows, args, machine()["git_commit"][:10]), encoding="utf-8")
    print(f"report {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
