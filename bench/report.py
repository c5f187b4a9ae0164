"""Turn a results dict (see run.py) into the Markdown report and the TTFT plot."""

from __future__ import annotations

import math
import re
from pathlib import Path

NOTES_START, NOTES_END = "<!-- notes:start -->", "<!-- notes:end -->"


# ------------------------------------------------------------------------------------------------ numbers


def values(rows: list[dict], key: str, **where) -> list[float]:
    out = []
    for r in rows:
        if "error" in r or any(r.get(k) != v for k, v in where.items()):
            continue
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
    return out


def pct(xs: list[float], q: float) -> float | None:
    """Percentile by linear interpolation between order statistics (numpy's default)."""
    if not xs:
        return None
    s = sorted(xs)
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def p50(xs):
    return pct(xs, 0.5)


def p95(xs):
    return pct(xs, 0.95)


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(v: float | None, unit: str = "", digits: int | None = None) -> str:
    if v is None:
        return "–"
    if digits is None:
        digits = 0 if abs(v) >= 100 else 1
    return f"{v:,.{digits}f}{unit}"


def fratio(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}×"


def errors(rows: list[dict], **where) -> int:
    return sum(1 for r in rows if "error" in r and all(r.get(k) == v for k, v in where.items()))


def count(rows: list[dict], **where) -> int:
    return sum(1 for r in rows if "error" not in r and all(r.get(k) == v for k, v in where.items()))


# ------------------------------------------------------------------------------------------------ tables


def _table(header: list[str], body: list[list[str]]) -> str:
    aligns = ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(aligns) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _reps(rows, **where) -> str:
    n, e = count(rows, **where), errors(rows, **where)
    return f"{n}" + (f" (+{e} failed)" if e else "")


def ttft_tables(rows: list[dict]) -> str:
    rows = [r for r in rows if r["metric"] == "ttft"]
    sizes = sorted({r["n"] for r in rows})
    main, detail = [], []
    for n in sizes:
        g, v = values(rows, "added_ttft", app="glm", n=n), values(rows, "added_ttft", app="naive", n=n)
        main.append(
            [
                f"{n:,}",
                fmt(p50(g), " ms"),
                fmt(p95(g), " ms"),
                fmt(p50(v), " ms"),
                fmt(p95(v), " ms"),
                fratio(ratio(p50(g), p50(v))),
                f"{_reps(rows, app='glm', n=n)} / {_reps(rows, app='naive', n=n)}",
            ]
        )
        cells = [f"{n:,}"]
        for key, unit, digits in (
            ("enter_to_request", " ms", None),
            ("first_sent_to_visible", " ms", None),
            ("ws_to_visible", " ms", None),
            ("load_ms", " ms", 0),
            ("bubbles_drawn", "", 0),
            ("server_cpu_ms", " ms", 0),
            ("ws_bytes", "", 0),
            ("last_lag", " ms", None),
        ):
            a, b = p50(values(rows, key, app="glm", n=n)), p50(values(rows, key, app="naive", n=n))
            if key == "ws_bytes":
                cells.append(f"{fmt(a and a / 1024, ' KB')} / {fmt(b and b / 1024, ' KB')}")
            else:
                cells.append(f"{fmt(a, unit, digits)} / {fmt(b, unit, digits)}")
        detail.append(cells)
    return (
        _table(
            [
                "earlier messages",
                "GLM Chat p50",
                "GLM Chat p95",
                "naive p50",
                "naive p95",
                "ratio p50 (GLM/naive)",
                "reps GLM / naive",
            ],
            main,
        )
        + "\n\nWhere the time goes (medians, GLM Chat / naive):\n\n"
        + _table(
            [
                "earlier messages",
                "Enter → request at simulator",
                "first token sent → visible",
                "of which: in the page (WebSocket message → visible)",
                "page load (open chat)",
                "bubbles drawn",
                "server CPU per turn",
                "WS bytes per turn",
                "last token sent → visible",
            ],
            detail,
        )
    )


def stream_table(rows: list[dict]) -> str:
    rows = [r for r in rows if r["metric"] == "stream"]
    body = []
    for rate in sorted({r["rate"] for r in rows}):
        cells = [
            "unthrottled" if rate >= 100000 else f"{rate:,}",
            fmt(p50(values(rows, "sent_tok_s", rate=rate)), "", 0),
        ]
        g, v = (
            p50(values(rows, "last_lag", app="glm", rate=rate)),
            p50(values(rows, "last_lag", app="naive", rate=rate)),
        )
        cells += [
            fmt(g, " ms"),
            fmt(p95(values(rows, "last_lag", app="glm", rate=rate)), " ms"),
            fmt(v, " ms"),
            fratio(ratio(g, v)),
        ]
        cells.append(
            " / ".join(fmt(p50(values(rows, "rendered_tok_s", app=a, rate=rate)), "", 0) for a in ("glm", "naive"))
        )
        ident = []
        for a in ("glm", "naive"):
            ok = sum(1 for r in rows if r["app"] == a and r["rate"] == rate and r.get("identical") is True)
            ident.append(f"{ok}/{sum(1 for r in rows if r['app'] == a and r['rate'] == rate)}")
        cells.append(" / ".join(ident))
        for key, scale, unit in (
            ("dom_updates", 1, ""),
            ("ws_frames", 1, ""),
            ("ws_bytes", 1 / 1048576, " MB"),
            ("server_cpu_ms", 1, " ms"),
        ):
            pair = []
            for a in ("glm", "naive"):
                x = p50(values(rows, key, app=a, rate=rate))
                pair.append(fmt(None if x is None else x * scale, unit, 2 if unit == " MB" else 0))
            cells.append(" / ".join(pair))
        body.append(cells)
    return _table(
        [
            "model rate (tok/s)",
            "sent (tok/s)",
            "lag GLM p50",
            "lag GLM p95",
            "lag naive p50",
            "lag ratio",
            "rendered tok/s GLM / naive",
            "identical text GLM / naive",
            "DOM updates GLM / naive",
            "WS frames GLM / naive",
            "WS bytes GLM / naive",
            "server CPU GLM / naive",
        ],
        body,
    )


def rerun_table(rows: list[dict]) -> str:
    rows = [r for r in rows if r["metric"] == "rerun"]
    body = []
    for n in sorted({r["n"] for r in rows}):
        g, v = values(rows, "settle", app="glm", n=n), values(rows, "settle", app="naive", n=n)
        cells = [
            f"{n:,}",
            fmt(p50(g), " ms"),
            fmt(p95(g), " ms"),
            fmt(p50(v), " ms"),
            fmt(p95(v), " ms"),
            fratio(ratio(p50(g), p50(v))),
        ]
        for key, scale, unit in (
            ("last_ws", 1, " ms"),
            ("ws_messages", 1, ""),
            ("ws_bytes", 1 / 1024, " KB"),
            ("server_cpu_ms", 1, " ms"),
        ):
            pair = []
            for a in ("glm", "naive"):
                x = p50(values(rows, key, app=a, n=n))
                pair.append(fmt(None if x is None else x * scale, unit, 0))
            cells.append(" / ".join(pair))
        cells.append(f"{_reps(rows, app='glm', n=n)} / {_reps(rows, app='naive', n=n)}")
        body.append(cells)
    return _table(
        [
            "earlier messages",
            "settle GLM p50",
            "settle GLM p95",
            "settle naive p50",
            "settle naive p95",
            "ratio p50",
            "click → last WS msg GLM / naive",
            "WS messages GLM / naive",
            "WS bytes GLM / naive",
            "server CPU GLM / naive",
            "reps GLM / naive",
        ],
        body,
    )


def sessions_table(rows: list[dict]) -> str:
    rows = [r for r in rows if r["metric"] == "sessions"]
    body = []
    for k in sorted({r["k"] for r in rows}):
        g, v = values(rows, "added_ttft", app="glm", k=k), values(rows, "added_ttft", app="naive", k=k)
        cells = [
            str(k),
            fmt(p50(g), " ms"),
            fmt(p95(g), " ms"),
            fmt(p50(v), " ms"),
            fmt(p95(v), " ms"),
            fratio(ratio(p95(g), p95(v))),
        ]
        for a in ("glm", "naive"):
            ok = [r for r in rows if r["app"] == a and r["k"] == k and "error" not in r]
            leaks = sum(r["foreign_in_chat"] for r in ok)
            exact = sum(1 for r in ok if r["own_prompt_shown"] and r["own_reply_exact"])
            cells.append(
                f"{leaks} / {exact} of {len(ok)}"
                + (f" ({errors(rows, app=a, k=k)} failed)" if errors(rows, app=a, k=k) else "")
            )
        side = sum(r.get("foreign_in_sidebar", 0) for r in rows if r["app"] == "glm" and r["k"] == k)
        cells.append(str(side))
        cells.append(
            " / ".join(fmt(p50(values(rows, "enter_spread_ms", app=a, k=k)), " ms", 0) for a in ("glm", "naive"))
        )
        for key in (
            "enter_to_request",
            "first_sent_to_ws",
            "ws_to_visible",
            "server_cpu_ms_per_session",
            "browser_cpu_ms_per_session",
        ):
            cells.append(" / ".join(fmt(p50(values(rows, key, app=a, k=k)), " ms", 0) for a in ("glm", "naive")))
        body.append(cells)
    return _table(
        [
            "sessions",
            "added TTFT GLM p50",
            "GLM p95",
            "naive p50",
            "naive p95",
            "ratio p95",
            "GLM: foreign data seen / exact own prompt+reply",
            "naive: same",
            "GLM sidebar: other sessions' titles (by design, see below)",
            "Enter spread GLM / naive",
            "Enter → request p50 GLM / naive",
            "first token sent → in the page's WebSocket p50 GLM / naive",
            "WebSocket message → visible p50 GLM / naive",
            "server CPU per session GLM / naive",
            "browser CPU per session GLM / naive",
        ],
        body,
    )


def start_tables(rows: list[dict]) -> str:
    cold = [r for r in rows if r["metric"] == "cold" and not r.get("warmup")]
    body = []
    for key, what in (
        ("spawn_to_health", "`streamlit run` → /_stcore/health 200"),
        ("spawn_to_input", "`streamlit run` → chat input visible"),
        ("first_page_load", "first page load (goto → chat input visible)"),
    ):
        g, v = values(cold, key, app="glm"), values(cold, key, app="naive")
        body.append(
            [
                what,
                fmt(p50(g), " ms", 0),
                fmt(p95(g), " ms", 0),
                fmt(p50(v), " ms", 0),
                fmt(p95(v), " ms", 0),
                fratio(ratio(p50(g), p50(v))),
            ]
        )
    out = _table(
        [
            "cold start (reps " + f"{count(cold, app='glm')} / {count(cold, app='naive')})",
            "GLM p50",
            "GLM p95",
            "naive p50",
            "naive p95",
            "ratio p50",
        ],
        body,
    )
    mem = [r for r in rows if r["metric"] == "memory"]
    body = []
    for n in sorted({r["n"] for r in mem}):
        cells = [f"{n:,}"]
        for key in ("rss_1_mb", "per_session_mb", "raw_per_session_mb", "heap_per_session_mb"):
            pair = [
                fmt(p50(values(mem, key, app=a, n=n)), " MB", 1 if key == "rss_1_mb" else 2) for a in ("glm", "naive")
            ]
            cells.append(" / ".join(pair))
        cells.append(
            fratio(
                ratio(
                    p50(values(mem, "per_session_mb", app="glm", n=n)),
                    p50(values(mem, "per_session_mb", app="naive", n=n)),
                )
            )
        )
        cells.append(
            " / ".join(str(int(p50(values(mem, "sessions_added", app=a, n=n)) or 0)) for a in ("glm", "naive"))
        )
        body.append(cells)
    out += "\n\n" + _table(
        [
            "earlier messages",
            "server RSS with 1 session GLM / naive",
            "RSS per added idle session GLM / naive",
            "same without gc + trim (raw)",
            "Python heap per added idle session (tracemalloc) GLM / naive",
            "ratio (RSS)",
            "sessions added GLM / naive",
        ],
        body,
    )
    return out


# ------------------------------------------------------------------------------------------------ targets


def targets(rows: list[dict]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for each target of the issue that this run measured."""
    out = []

    def add(name, measured, ok):
        out.append((name, measured, "–" if ok is None else ("met" if ok else "**not met**")))

    t = [r for r in rows if r["metric"] == "ttft"]
    sizes = {r["n"] for r in t}
    g0 = p50(values(t, "added_ttft", app="glm", n=0))
    if g0 is not None:
        add("added TTFT p50 ≤ 50 ms, empty chat", fmt(g0, " ms"), g0 <= 50)
    big = max(sizes) if sizes else None
    if big and g0:
        gb = p50(values(t, "added_ttft", app="glm", n=big))
        if gb is not None:
            add(
                f"added TTFT p50 at {big:,} messages ≤ 1.5× empty chat" + ("" if big == 5000 else " (5,000 not run)"),
                f"{fmt(gb, ' ms')} = {fratio(ratio(gb, g0))} empty" if g0 > 0 else fmt(gb, " ms"),
                gb <= 1.5 * g0 if g0 > 0 else None,
            )
    for n in (1000, 5000):
        r = ratio(p50(values(t, "added_ttft", app="glm", n=n)), p50(values(t, "added_ttft", app="naive", n=n)))
        if r is not None:
            add(f"added TTFT ≤ 0.3× naive at {n:,} messages", fratio(r), r <= 0.3)
    rr = [r for r in rows if r["metric"] == "rerun"]
    for n in (1000, 5000):
        r = ratio(p50(values(rr, "settle", app="glm", n=n)), p50(values(rr, "settle", app="naive", n=n)))
        if r is not None:
            add(f"rerun cost (settle) ≤ 0.3× naive at {n:,} messages", fratio(r), r <= 0.3)
    s1000 = p50(values(rr, "settle", app="glm", n=1000))
    if s1000 is not None:
        add("sidebar interaction settles ≤ 150 ms at 1,000 messages", fmt(s1000, " ms"), s1000 <= 150)
    st = [r for r in rows if r["metric"] == "stream" and r["rate"] == 2000 and r["app"] == "glm"]
    if st:
        lag = p50(values(st, "last_lag", app="glm", rate=2000))
        same = all(r.get("identical") is True for r in st)
        sent = p50(values([r for r in rows if r["metric"] == "stream"], "sent_tok_s", rate=2000))
        add(
            "stream at 2,000 tok/s: last-token lag ≤ 100 ms and identical text",
            f"lag p50 {fmt(lag, ' ms')}, identical {sum(1 for r in st if r.get('identical') is True)}/{len(st)}"
            f" (the simulator reached {fmt(sent, ' tok/s', 0)})",
            lag is not None and lag <= 100 and same,
        )
    ss = [r for r in rows if r["metric"] == "sessions" and r["app"] == "glm"]
    if ss:
        kmax = max(r["k"] for r in ss)
        p = p95(values(ss, "added_ttft", app="glm", k=kmax))
        add(
            f"{kmax} sessions: p95 added TTFT ≤ 300 ms" + ("" if kmax == 25 else " (25 not run)"),
            fmt(p, " ms"),
            None if p is None else p <= 300,
        )
    allsess = [r for r in rows if r["metric"] == "sessions" and "error" not in r]
    if allsess:
        leaks = sum(r["foreign_in_chat"] for r in allsess if r["app"] == "glm")
        wrong = sum(1 for r in allsess if r["app"] == "glm" and not (r["own_prompt_shown"] and r["own_reply_exact"]))
        add(
            "no session sees another's data (GLM Chat, chat area)",
            f"{leaks} foreign markers, {wrong} wrong replies",
            leaks == 0 and wrong == 0,
        )
    cold = [r for r in rows if r["metric"] == "cold" and not r.get("warmup")]
    r = ratio(p50(values(cold, "spawn_to_input", app="glm")), p50(values(cold, "spawn_to_input", app="naive")))
    if r is not None:
        add("cold start (spawn → chat input) within 1.1× naive", fratio(r), r <= 1.1)
    mem = [r for r in rows if r["metric"] == "memory"]
    if mem:
        nmax = max(r["n"] for r in mem)
        v = p50(values(mem, "per_session_mb", app="glm", n=nmax))
        if v is not None:
            heap = p50(values(mem, "heap_per_session_mb", app="glm", n=nmax))
            add(
                f"RSS per idle session ≤ 0.5 MB at {nmax:,} messages" + ("" if nmax == 5000 else " (5,000 not run)"),
                fmt(v, " MB", 2) + ("" if heap is None else f" (Python heap: {fmt(heap, ' MB', 2)})"),
                v <= 0.5,
            )
    return out


# ------------------------------------------------------------------------------------------------ plot


def plot(rows: list[dict], path: Path) -> str:
    """Added TTFT (p50, with the p95 as a thin marker) against conversation length, both apps."""
    t = [r for r in rows if r["metric"] == "ttft"]
    sizes = sorted({r["n"] for r in t})
    if not sizes:
        return "no TTFT rows"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _plot_pillow(t, sizes, path)
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    xs = list(range(len(sizes)))
    for app, label, color in (("glm", "GLM Chat", "#3c6df0"), ("naive", "naive reference", "#d9534f")):
        med = [p50(values(t, "added_ttft", app=app, n=n)) for n in sizes]
        hi = [p95(values(t, "added_ttft", app=app, n=n)) for n in sizes]
        pts = [(x, m, h) for x, m, h in zip(xs, med, hi, strict=False) if m is not None]
        ax.plot([p[0] for p in pts], [max(p[1], 1) for p in pts], "o-", color=color, label=f"{label} p50")
        ax.plot([p[0] for p in pts], [max(p[2], 1) for p in pts], "_", color=color, markersize=14, label=f"{label} p95")
        for x, m, _ in pts:
            ax.annotate(f"{m:,.0f}", (x, max(m, 1)), textcoords="offset points", xytext=(6, 6), fontsize=8, color=color)
    ax.axhline(50, color="gray", linestyle=":", linewidth=1)
    ax.text(xs[-1], 50, " target 50 ms", va="bottom", ha="right", fontsize=8, color="gray")
    ax.set_yscale("log")
    ax.set_xticks(xs, [f"{n:,}" for n in sizes])
    ax.set_xlabel("earlier messages in the conversation")
    ax.set_ylabel("added time to first token (ms, log scale)")
    ax.set_title("Enter → first reply token visible, minus the simulator's own TTFT")
    ax.grid(True, which="both", axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return f"matplotlib {matplotlib.__version__}"


def _plot_pillow(t: list[dict], sizes: list[int], path: Path) -> str:
    """A plain fallback chart when matplotlib is not installed (Pillow ships with the app)."""
    from PIL import Image, ImageDraw

    w, h, left, bottom, top = 760, 440, 70, 60, 30
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    allv = [v for n in sizes for a in ("glm", "naive") for v in [p50(values(t, "added_ttft", app=a, n=n))] if v]
    vmax = max(allv + [50]) * 1.5
    vmin = max(1.0, min(allv + [50]) / 2)

    def y(v):
        v = max(v, vmin)
        return top + (h - top - bottom) * (
            1 - (math.log10(v) - math.log10(vmin)) / (math.log10(vmax) - math.log10(vmin))
        )

    def x(i):
        return left + (w - left - 40) * (i + 0.5) / len(sizes)

    d.line([(left, top), (left, h - bottom), (w - 20, h - bottom)], fill="black")
    for i, n in enumerate(sizes):
        d.text((x(i) - 15, h - bottom + 8), f"{n:,}", fill="black")
    d.line([(left, y(50)), (w - 20, y(50))], fill="gray")
    d.text((left + 4, y(50) - 12), "50 ms target", fill="gray")
    for a, color in (("glm", (60, 109, 240)), ("naive", (217, 83, 79))):
        pts = [(x(i), y(m)) for i, n in enumerate(sizes) for m in [p50(values(t, "added_ttft", app=a, n=n))] if m]
        if len(pts) > 1:
            d.line(pts, fill=color, width=2)
        for px, py in pts:
            d.ellipse([px - 4, py - 4, px + 4, py + 4], fill=color)
    d.text((left, 8), "added TTFT p50 (ms, log) vs earlier messages: blue GLM Chat, red naive", fill="black")
    img.save(path)
    return "Pillow"


# ------------------------------------------------------------------------------------------------ document


def marked(path: Path, start: str, end: str) -> str | None:
    """The text between two markers of an existing report; None when the file or the markers are missing."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(re.escape(start) + r"(.*?)" + re.escape(end), text, re.S)
    return m.group(1) if m else None


def keep_notes(path: Path) -> str | None:
    """The hand-written section of an existing report, kept across regenerations."""
    notes = marked(path, NOTES_START, NOTES_END)
    return notes.strip("\n") if notes is not None else None


def document(res: dict, plot_name: str | None, notes: str | None) -> str:
    m, rows = res["machine"], res["rows"]
    cfg = res["config"]
    lines = [
        "# GLM Chat performance benchmark",
        "",
        f"Produced by **`{res['command']}`** ({'quick smoke run' if cfg['quick'] else 'full run'}), "
        f"{res['started']} → {res['finished']} UTC, wall time {res['wall_s'] / 60:.1f} min. "
        "Regenerate with the same command; the section between the `notes` markers is kept."
        + (" Interrupted before the end." if res.get("interrupted") else ""),
        "",
    ]
    for part in res.get("merged", []):
        lines += [
            f"Rows of **{', '.join(part['only'])}** replaced by a later `{part['command']}`, "
            f"{part['started']} → {part['finished']} UTC (load average {part['loadavg_start']} / "
            f"{part['loadavg_end']}; busy outside the benchmark {part['busy_cores_before']:.2f} / "
            f"{part['busy_cores_after']:.2f} cores)" + (", interrupted" if part.get("interrupted") else "") + ".",
            "",
        ]
    lines += [
        "## Machine and software",
        "",
        f"- {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total_gb']:.1f} GiB RAM, {m['os']}; "
        f"load average at start / end {m['loadavg_start']} / {m['loadavg_end']}",
        f"- CPU busy outside the benchmark, sampled for 2 s before / after the run: "
        f"{m['busy_cores_before']:.2f} / {m['busy_cores_after']:.2f} cores (everything shares {m['nproc']} cores: "
        "browser, both Streamlit servers, the simulator and other people's jobs)",
        f"- Python {m['python']}, streamlit {m['streamlit']}, zhipuai {m['zhipuai']}, playwright {m['playwright']}, "
        f"Chromium {m.get('chromium', '?')} (headless, /usr/bin/chromium)",
        f"- GLM Chat at commit `{m['git_commit'][:10]}`"
        + (f", with uncommitted changes in: {', '.join(m['git_dirty'])}" if m["git_dirty"] else ", clean tree")
        + "; both apps ran from a snapshot copied at the start of the run",
        f"- Simulator: TTFT {cfg['ttft'] * 1000:.0f} ms, {1 / cfg['token_delay']:.0f} tok/s unless a prompt says "
        "otherwise (`sim:rate=R`); loopback HTTP with TCP_NODELAY",
        "",
    ]
    if notes:
        lines += [NOTES_START, notes, NOTES_END, ""]
    else:
        lines += [NOTES_START, "## Observations", "", "_(written by hand after a run)_", NOTES_END, ""]
    lines += [
        "## Targets from the issue",
        "",
        _table(["target", "measured (GLM Chat)", "verdict"], [list(x) for x in targets(rows)]),
        "",
        "## 1. Added time to first token",
        "",
        "Enter (keydown, in the page) → first reply token in the DOM (MutationObserver), minus the simulator's "
        f"own time to the first content token, which is its configured TTFT ({cfg['ttft'] * 1000:.0f} ms) plus "
        f"one token interval ({cfg['token_delay'] * 1000:.0f} ms: the first SSE chunk carries only the role). "
        "Reply: 40 tokens (`sim:tokens=40`). GLM Chat opens a conversation seeded into its SQLite database "
        "(`?c=<id>`; N=0 is a new chat at `/`); the naive app gets the same texts through `?seed=N`.",
        "",
    ]
    if plot_name:
        lines += [f"![added TTFT vs conversation length]({plot_name})", ""]
    lines += [
        ttft_tables(rows),
        "",
        "- *Enter → request at simulator*: the first SSE chunk's send time minus the configured TTFT, minus "
        "Enter: the server-side rerun until the HTTP request is made (plus the browser sending the "
        "WebSocket message).",
        "- *first token sent → visible*: simulator sent the first content chunk → it was in the DOM: "
        "the app's forwarding plus the browser's processing of everything queued before it. *Of which in "
        "the page*: from the page's WebSocket handler receiving the first message whose bytes contain "
        "`tok0` to `tok0` in the DOM (the rest is the server's, and the loopback's).",
        "- *page load*: goto → the page is quiet (no WebSocket message or DOM change for 400 ms), fresh "
        "context (no HTTP cache).",
        "",
        "## 2. Stream rendering (2,000-token reply, empty chat)",
        "",
        "*lag* = last token in the DOM − the simulator's `last_chunk_at` (its final write, `data: [DONE]`, "
        "which follows the last content token by one interval and the usage chunk). *rendered tok/s* = "
        "2,000 / (last visible − first visible). *identical* = the reply's Markdown container text equals "
        "`tok0 tok1 … tok1999`. *sent* = what the simulator really achieved.",
        "",
        stream_table(rows),
        "",
        "## 3. Rerun cost (switch the sidebar model select)",
        "",
        "Click on the new option (in-page `click` timestamp) → the last WebSocket message or DOM mutation "
        "before 400 ms of quiet (init-script WebSocket subclass + MutationObserver, notes §7.2); also "
        "requires every frame the network received to be handled by the page and the script to be idle.",
        "",
        rerun_table(rows),
        "",
        "## 4. Many sessions streaming at once",
        "",
        "K fresh contexts on a new chat, loaded together; every prompt is filled first, then each page "
        "dispatches a keydown Enter on its chat input at one common epoch moment (the *Enter spread* is "
        "how far apart the pages really handled it). Session k asks for 150+k tokens at 100 tok/s with a "
        "unique marker. "
        "Added TTFT as in §1 (TTFT + 10 ms subtracted), from each session's own Enter; *Enter → request* "
        "as in §1 (session k's stream is the one with the k-th fewest chunks). The first token's way from the "
        "simulator to the screen is split where it reaches the page: *first token sent → in the page's "
        "WebSocket* (the server's part: the app's script thread and event loop, with the loopback) and "
        "*WebSocket message → visible* (the browser's part: everything queued before it). *Server CPU* "
        "is the Streamlit process's, *browser CPU* that of every Chromium process "
        "(all pages, the GPU and browser processes), over the turn, divided by K.",
        "",
        sessions_table(rows),
        "",
        "Isolation check: each page must show its own prompt and a reply that ends exactly at its own "
        "`tok{149+k}` (a reply delivered to the wrong session would have the wrong length), and no other "
        "session's marker anywhere in its chat messages. GLM Chat runs in personal mode (one owner, "
        "`local`), so its sidebar lists every conversation of that owner, including the other sessions' "
        "new chats; that column counts them and is by design, not a leak.",
        "",
        "## 5. Cold start and memory",
        "",
        start_tables(rows),
        "",
        "Cold start: a new `streamlit run` process per repetition (the first start of each app is a discarded "
        "warm-up, so the OS file cache and `.pyc` files are warm); the browser is already running; each "
        "page load is a fresh context (3 MB of uncompressed JavaScript, no HTTP cache).",
        "",
        "Memory: a fresh server per app and size (started through `bench/serve.py`: `streamlit run` plus a "
        "SIGUSR1 handler that runs `gc.collect()` and `malloc_trim(0)`); VmRSS from `/proc/<pid>/status` after "
        "one warm-up session, then after K more sessions held open (idle, fully loaded), difference divided "
        "by K; read once as is (*raw*) and once after gc + trim (the main figure). Caveats: RSS is coarse "
        "(allocator arenas, Python never returns freed memory to the OS), includes Streamlit's per-session "
        "message cache, and GLM Chat loads only the newest 200 messages of a conversation into a session "
        "(state.LOAD_LIMIT). *Python heap*: the same steps on a second fresh server started with "
        "`PYTHONTRACEMALLOC=1`; after the same gc, the handler reports tracemalloc's current traced size, "
        "the bytes Python objects hold, without the allocator's slack (tracing inflates RSS, hence a "
        "separate server). The target's verdict stays on RSS.",
        "",
        "## Failed repetitions",
        "",
    ]
    failed = [r for r in rows if "error" in r]
    if failed:
        lines += [
            f"- {r['metric']} {r['app']} "
            + " ".join(f"{k}={r[k]}" for k in ("n", "rate", "k", "rep") if k in r)
            + f": {r['error']}"
            for r in failed
        ]
    else:
        lines.append("None.")
    lines.append("")
    return "\n".join(lines)
