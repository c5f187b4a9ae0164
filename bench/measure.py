"""The five measurements. Each function returns plain dicts (one per repetition or session) for run.py.

Conventions: every time is in milliseconds; in-page timestamps are epoch ms (performance.timeOrigin +
performance.now()) and the simulator's /stats events are epoch seconds, so they are compared after × 1000.
A repetition that fails records "error" instead of timings and the run goes on.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import time
import traceback
from dataclasses import dataclass

from bench import browser as B
from bench import procs
from bench.seed import Seeder
from glmchat.chat.catalogue import load
from glmchat.ui.sidebar import model_label

# How each app's model select is switched for the rerun measurement: (its label, the option shown).
# GLM Chat's option is the model's name with its marks and price, as its sidebar writes it.
MODEL_SWITCH = {
    "glm": ("Model", model_label(load().get("glm-4-flash"), "en", has_key=True)),
    "naive": ("Model", "glm-4-flash"),
}
EXPECTED = {n: " ".join(f"tok{i}" for i in range(n)) for n in (40, 2000)}


@dataclass
class Ctx:
    browser: object
    sim: procs.Simulator
    seeder: Seeder
    apps: dict  # name -> procs.App
    log: callable = print
    rows: list = None  # every row as soon as it is measured, so an interrupted run keeps what it had

    def emit(self, row: dict) -> dict:
        if self.rows is None:
            self.rows = []
        self.rows.append(row)
        return row


def _rate_of(prompt: str, default_delay: float) -> float:
    """Seconds between two chunks for this prompt (sim:rate=R overrides the simulator's token delay)."""
    m = re.search(r"sim:rate=([\d.]+)", prompt)
    return 1 / float(m.group(1)) if m else default_delay


def _url(app: procs.App, conv: tuple[str, str | None] | None, n: int) -> str:
    if app.name == "naive":
        return f"{app.url}/?seed={n}"
    return f"{app.url}/?c={conv[0]}" if conv else f"{app.url}/"


def _open(ctx: Ctx, app: procs.App, url: str, n: int, timeout: float = 180.0) -> tuple[B.Tab, float, dict]:
    """A fresh context on url, waited until idle; returns (tab, load ms, page state)."""
    tab = B.new_tab(ctx.browser)
    try:
        t0 = time.time()
        tab.page.goto(url, timeout=timeout * 1000)
        s = B.wait_idle(tab, messages=1 if n else None, timeout=timeout)
        # Load = goto until the last DOM change or WebSocket message before the page went quiet.
        return tab, max(s["ws"]["last"], s["mut"]["last"]) - t0 * 1000, s
    except BaseException:
        tab.close()
        raise


def _open_many(ctx: Ctx, app: procs.App, url: str, k: int, timeout: float = 300.0) -> list[B.Tab]:
    """k fresh contexts loading url at the same time (their loads overlap), each waited until idle."""
    tabs: list[B.Tab] = []
    try:
        for _ in range(k):
            tabs.append(B.new_tab(ctx.browser))
            tabs[-1].page.goto(url, wait_until="commit", timeout=timeout * 1000)
        for tab in tabs:
            B.wait_idle(tab, timeout=timeout)
        return tabs
    except BaseException:
        for tab in tabs:
            tab.close()
        raise


def _cleanup_glm(ctx: Ctx, app: procs.App, tab: B.Tab, conv: tuple[str, str | None] | None) -> None:
    """Put the database back as it was before a GLM Chat turn (the turn saved a question and a reply)."""
    if app.name != "glm":
        return
    if conv is not None:
        ctx.seeder.truncate(*conv)
    else:
        m = re.search(r"[?&]c=([0-9a-f]{32})", tab.page.url)
        if m:
            ctx.seeder.delete(m.group(1))


def _first_token_way(ctx: Ctx, t: dict, arrived: float | None, first_chunk_at: float, interval: float) -> dict:
    """Enter -> request, and the first token's way from the simulator to the DOM, split at the page's WebSocket.

    t: the reply observer's timestamps; arrived: when the page's WebSocket had the first message holding
    tok0 (None if never); first_chunk_at: the simulator's role chunk (epoch s); tok0 follows one interval later."""
    first_sent = (first_chunk_at + interval) * 1000
    return {
        "enter_to_request": first_chunk_at * 1000 - ctx.sim.ttft * 1000 - t["enter"],
        "first_sent_to_visible": t["first"] - first_sent,
        "first_sent_to_ws": None if arrived is None else arrived - first_sent,
        "ws_to_visible": None if arrived is None else t["first"] - arrived,
    }


def turn(
    ctx: Ctx, app: procs.App, tab: B.Tab, prompt: str, final_marker: str, timeout: float, expected: str | None = None
) -> dict:
    """Send prompt, time the reply in the page (notes §5.3) and match it with the simulator's events."""
    page = tab.page
    page.evaluate(B.REPLY_OBSERVER_JS, ["tok0", final_marker])
    ctx.sim.reset()
    frames0, cpu0 = tab.frames.snapshot(), procs.cpu_seconds(app.pid)
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(prompt)
    box.press("Enter")
    page.wait_for_function(
        "() => window.__t.last !== null && window.__t.lastPaint !== null", polling=50, timeout=timeout * 1000
    )
    events = ctx.sim.wait_events(1, timeout)
    B.wait_idle(tab, timeout=timeout)
    cpu1, frames1 = procs.cpu_seconds(app.pid), tab.frames.snapshot()
    t = page.evaluate("window.__t")
    s = B.state(page)
    arrived = s["ws"]["markAt"]
    text = page.evaluate(B.REPLY_TEXT_JS, [s["messages"] - 1, "tok0"])
    if not events:
        raise RuntimeError("the simulator recorded no finished stream")
    ev = events[-1]
    delay = _rate_of(prompt, ctx.sim.token_delay)
    own = (ctx.sim.ttft + delay) * 1000  # the simulator's own time to the first content token
    return {
        "enter_to_first": t["first"] - t["enter"],
        "added_ttft": t["first"] - t["enter"] - own,
        **_first_token_way(ctx, t, arrived, ev["first_chunk_at"], delay),
        "first_paint_after_dom": t["firstPaint"] - t["first"],
        "enter_to_last": t["last"] - t["enter"],
        "last_lag": t["last"] - ev["last_chunk_at"] * 1000,
        "last_lag_paint": t["lastPaint"] - ev["last_chunk_at"] * 1000,
        "sim_send_ms": (ev["last_chunk_at"] - ev["first_chunk_at"]) * 1000,
        "chunks": ev["chunks"],
        "visible_span_ms": t["last"] - t["first"],
        "dom_updates": t["updates"],
        "ws_frames": frames1[0] - frames0[0],
        "ws_bytes": frames1[1] - frames0[1],
        "server_cpu_ms": (cpu1 - cpu0) * 1000,
        "identical": None if expected is None else (text or "").strip() == expected,
        "text_len": len(text or ""),
        "bubbles_drawn": s["messages"],
    }


def warm_up(ctx: Ctx, app: procs.App) -> None:
    tab, _, _ = _open(ctx, app, _url(app, None, 0), 0)
    try:
        turn(ctx, app, tab, "warm-up sim:tokens=5", "tok4", timeout=60)
    finally:
        _cleanup_glm(ctx, app, tab, None)
        tab.close()


def _guard(ctx: Ctx, what: str, fn) -> dict:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - one failed repetition must not end the run
        ctx.log(f"  ! {what}: {type(exc).__name__}: {str(exc)[:300]}")
        return {"error": f"{type(exc).__name__}: {str(exc)[:300]}", "trace": traceback.format_exc()[-1500:]}


# -------------------------------------------------------------------------------- 1. added TTFT


def ttft(ctx: Ctx, sizes: list[int], reps: dict[int, int], convs: dict[int, tuple]) -> list[dict]:
    out = []
    for n in sizes:
        for rep in range(reps[n]):
            for name in ("glm", "naive") if rep % 2 == 0 else ("naive", "glm"):
                app = ctx.apps[name]
                conv = convs.get(n) if n else None

                def one():
                    tab, load_ms, _ = _open(ctx, app, _url(app, conv, n), n)
                    try:
                        r = turn(
                            ctx, app, tab, f"ttft {rep} sim:tokens=40", "tok39", timeout=120, expected=EXPECTED[40]
                        )
                        r["load_ms"] = load_ms
                        return r
                    finally:
                        _cleanup_glm(ctx, app, tab, conv)
                        tab.close()

                r = {"metric": "ttft", "app": name, "n": n, "rep": rep, **_guard(ctx, f"ttft {name} n={n}", one)}
                ctx.log(
                    f"  ttft {name:5} n={n:<5} rep={rep} added={r.get('added_ttft', float('nan')):8.1f} ms"
                    f" load={r.get('load_ms', float('nan')):8.0f} ms"
                )
                out.append(ctx.emit(r))
    return out


# -------------------------------------------------------------------------------- 2. stream rendering


def stream(ctx: Ctx, rates: list[int], reps: dict[int, int], tokens: int = 2000) -> list[dict]:
    out = []
    for rate in rates:
        for rep in range(reps[rate]):
            for name in ("glm", "naive") if rep % 2 == 0 else ("naive", "glm"):
                app = ctx.apps[name]

                def one():
                    tab, _, _ = _open(ctx, app, _url(app, None, 0), 0)
                    try:
                        r = turn(
                            ctx,
                            app,
                            tab,
                            f"stream {rep} sim:tokens={tokens} sim:rate={rate}",
                            f"tok{tokens - 1}",
                            timeout=tokens / rate + 90,
                            expected=EXPECTED[tokens],
                        )
                        r["rendered_tok_s"] = tokens / (r["visible_span_ms"] / 1000) if r["visible_span_ms"] else None
                        r["sent_tok_s"] = r["chunks"] / (r["sim_send_ms"] / 1000) if r["sim_send_ms"] else None
                        return r
                    finally:
                        _cleanup_glm(ctx, app, tab, None)
                        tab.close()

                r = {
                    "metric": "stream",
                    "app": name,
                    "rate": rate,
                    "rep": rep,
                    **_guard(ctx, f"stream {name} {rate} tok/s", one),
                }
                ctx.log(
                    f"  stream {name:5} {rate:>5} tok/s rep={rep} lag={r.get('last_lag', float('nan')):8.1f} ms"
                    f" rendered={r.get('rendered_tok_s') or float('nan'):7.0f} tok/s identical={r.get('identical')}"
                )
                out.append(ctx.emit(r))
    return out


# -------------------------------------------------------------------------------- 3. rerun cost

ARM_JS = r"""() => {
  const now = () => performance.timeOrigin + performance.now();
  const S = window.__s = {t0: null, ws0: window.__ws.n, bytes0: window.__ws.bytes, mut0: window.__mut.n};
  document.addEventListener('click', () => { if (S.t0 === null) S.t0 = now(); }, true);
}"""


def rerun(
    ctx: Ctx, sizes: list[int], reps: dict[int, int], convs: dict[int, tuple], quiet_ms: float = 400
) -> list[dict]:
    """Switch the sidebar model select; settle = last WebSocket message or DOM change before a quiet period."""
    out = []
    for n in sizes:
        for rep in range(reps[n]):
            for name in ("glm", "naive") if rep % 2 == 0 else ("naive", "glm"):
                app = ctx.apps[name]
                conv = convs.get(n) if n else None

                def one():
                    tab, load_ms, _ = _open(ctx, app, _url(app, conv, n), n)
                    try:
                        page = tab.page
                        label, option = MODEL_SWITCH[name]
                        box = page.get_by_test_id("stSidebar").get_by_role("combobox", name=label, exact=True)
                        box.click()
                        box.fill(option)  # filters the list: the option is then on screen without scrolling
                        opt = page.get_by_role("option", name=option, exact=True)
                        opt.wait_for(state="visible", timeout=10_000)
                        B.wait_idle(tab, timeout=30)
                        page.evaluate(ARM_JS)
                        cpu0, frames0 = procs.cpu_seconds(app.pid), tab.frames.snapshot()
                        opt.click()
                        # Off the sidebar at once: left where the option was, the pointer rests on whatever the
                        # closed list uncovers, and a help icon there opens its tooltip ~170 ms later, a DOM
                        # change the settle time would count (GLM Chat's Web search "?" did, from 4614e35 on).
                        width, height = page.viewport_size["width"], page.viewport_size["height"]
                        page.mouse.move(width - 2, height // 2)
                        since = page.evaluate("window.__s.ws0")
                        s = B.wait_idle(tab, quiet_ms=quiet_ms, timeout=180, since_ws=since)
                        cpu1, frames1 = procs.cpu_seconds(app.pid), tab.frames.snapshot()
                        a = page.evaluate("window.__s")
                        value = box.input_value()
                        if value != option:
                            raise RuntimeError(f"the model select shows {value!r}, not {option!r}")
                        return {
                            "settle": max(s["ws"]["last"], s["mut"]["last"]) - a["t0"],
                            "last_ws": s["ws"]["last"] - a["t0"],
                            "last_dom": s["mut"]["last"] - a["t0"],
                            "ws_messages": s["ws"]["n"] - a["ws0"],
                            "ws_bytes": frames1[1] - frames0[1],
                            "dom_mutations": s["mut"]["n"] - a["mut0"],
                            "server_cpu_ms": (cpu1 - cpu0) * 1000,
                            "load_ms": load_ms,
                            "bubbles_drawn": s["messages"],
                        }
                    finally:
                        tab.close()

                r = {"metric": "rerun", "app": name, "n": n, "rep": rep, **_guard(ctx, f"rerun {name} n={n}", one)}
                ctx.log(f"  rerun {name:5} n={n:<5} rep={rep} settle={r.get('settle', float('nan')):8.1f} ms")
                out.append(ctx.emit(r))
    return out


# -------------------------------------------------------------------------------- 4. many sessions


FIRE_ENTER_AT_JS = r"""(at) => {
  const box = document.querySelector('[data-testid="stChatInputTextArea"]');
  const fire = () => box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', code: 'Enter', keyCode: 13,
                                                                     which: 13, bubbles: true, cancelable: true}));
  const wait = at - (performance.timeOrigin + performance.now());
  if (wait <= 0) fire(); else setTimeout(fire, wait);
}"""


def sessions(ctx: Ctx, counts: list[int], reps: dict[int, int], rate: int = 100) -> list[dict]:
    """K fresh contexts each send a unique prompt at the same moment (a keydown Enter scheduled in every page).

    Isolation: session k asks for 150 + k tokens and names its own marker, so its page must show its own
    marker in the user bubble and a reply ending exactly at tok{149+k}; no other session's marker may appear
    in its chat messages. (GLM Chat's sidebar lists the single owner's conversations in personal mode, so
    other sessions' titles there are expected and only counted.)
    """
    out = []
    for k_count in counts:
        for rep in range(reps[k_count]):
            for name in ("glm", "naive") if rep % 2 == 0 else ("naive", "glm"):
                app = ctx.apps[name]
                ctx.log(f"  sessions {name} K={k_count} rep={rep}: opening {k_count} contexts")
                tabs: list[B.Tab] = []
                rows: list[dict] = []
                try:
                    tabs = _open_many(ctx, app, _url(app, None, 0), k_count)
                    tag = secrets.token_hex(3)
                    markers = [f"iso{k:02d}x{tag}" for k in range(k_count)]
                    prompts = [f"{markers[k]} sim:tokens={150 + k} sim:rate={rate}" for k in range(k_count)]
                    for k, tab in enumerate(tabs):
                        tab.page.evaluate(B.REPLY_OBSERVER_JS, ["tok0", f"tok{149 + k}"])
                        tab.page.get_by_test_id("stChatInputTextArea").fill(prompts[k])
                    ctx.sim.reset()
                    cpu0, browser0 = procs.cpu_seconds(app.pid), procs.browser_cpu_seconds()
                    # Every page presses Enter at the same epoch moment (a synthetic keydown, handled by the
                    # chat input like a typed one): pressing them one by one from here took up to 19 s for 25.
                    at = time.time() * 1000 + 500 + 60 * k_count
                    for tab in tabs:
                        tab.page.evaluate(FIRE_ENTER_AT_JS, at)
                    timeout = 150 / rate + 60 + 2 * k_count
                    deadline = time.monotonic() + timeout
                    for tab in tabs:
                        left = max(1.0, deadline - time.monotonic())
                        tab.page.wait_for_function("() => window.__t.last !== null", polling=100, timeout=left * 1000)
                    # Session k's stream is the one with the k-th fewest chunks (it asked for 150 + k tokens).
                    streams = sorted(ctx.sim.wait_events(k_count, 30), key=lambda e: e["chunks"])[-k_count:]
                    for tab in tabs:
                        B.wait_idle(tab, timeout=60)
                    cpu1, browser1 = procs.cpu_seconds(app.pid), procs.browser_cpu_seconds()
                    enters = []
                    for k, tab in enumerate(tabs):
                        t = tab.page.evaluate("window.__t")
                        arrived = tab.page.evaluate("window.__ws.markAt")
                        enters.append(t["enter"])
                        chat = tab.page.evaluate("""() => Array.from(document.querySelectorAll(
                            '[data-testid="stChatMessage"]')).map(m => m.textContent)""")
                        side = tab.page.evaluate("""() => (document.querySelector('[data-testid="stSidebar"]')
                            || {textContent: ''}).textContent""")
                        reply = tab.page.evaluate(B.REPLY_TEXT_JS, [len(chat) - 1, "tok0"]) or ""
                        own = " ".join(f"tok{i}" for i in range(150 + k))
                        foreign_chat = sum(1 for j, m in enumerate(markers) if j != k and any(m in c for c in chat))
                        rows.append(
                            {
                                "metric": "sessions",
                                "app": name,
                                "k": k_count,
                                "rep": rep,
                                "session": k,
                                "added_ttft": t["first"] - t["enter"] - (ctx.sim.ttft + 1 / rate) * 1000,
                                **_first_token_way(ctx, t, arrived, streams[k]["first_chunk_at"], 1 / rate),
                                "enter_to_last": t["last"] - t["enter"],
                                "own_prompt_shown": any(prompts[k] in c for c in chat[:-1]),
                                "own_reply_exact": reply.strip() == own,
                                "foreign_in_chat": foreign_chat,
                                "foreign_in_sidebar": sum(1 for j, m in enumerate(markers) if j != k and m in side),
                            }
                        )
                    spread = max(enters) - min(enters)
                    for r in rows:
                        r["enter_spread_ms"] = spread
                        r["server_cpu_ms_per_session"] = (cpu1 - cpu0) * 1000 / k_count
                        r["browser_cpu_ms_per_session"] = (browser1 - browser0) * 1000 / k_count
                    leaks = sum(r["foreign_in_chat"] for r in rows)
                    bad = sum(1 for r in rows if not (r["own_prompt_shown"] and r["own_reply_exact"]))
                    ctx.log(
                        f"    enter spread {spread:.0f} ms; foreign markers in chat: {leaks}; "
                        f"sessions without their own exact prompt+reply: {bad}"
                    )
                except Exception as exc:  # noqa: BLE001
                    ctx.log(f"  ! sessions {name} K={k_count}: {type(exc).__name__}: {str(exc)[:300]}")
                    rows.append(
                        {
                            "metric": "sessions",
                            "app": name,
                            "k": k_count,
                            "rep": rep,
                            "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                        }
                    )
                finally:
                    for tab in tabs:
                        tab.close()
                    if name == "glm":
                        ctx.seeder.delete_unseeded()
                out += [ctx.emit(r) for r in rows]
    return out


# -------------------------------------------------------------------------------- 5. start and memory


def cold_start(ctx: Ctx, run_dir, database_url: str, reps: int, src, warmup: bool = True) -> list[dict]:
    """`streamlit run` spawned -> /_stcore/health 200 -> chat input visible in a fresh context.

    The browser is already running; the first start of each app is a discarded warm-up (OS file cache, .pyc)."""
    out = []
    for rep in range(-1 if warmup else 0, reps):
        for name in ("glm", "naive") if rep % 2 == 0 else ("naive", "glm"):
            app = None
            tab = None
            try:
                app = procs.start_app(name, run_dir, ctx.sim, database_url, tag=f"-cold{rep}", src=src)
                tab = B.new_tab(ctx.browser)
                t_goto = time.time()
                tab.page.goto(app.url, timeout=60_000)
                tab.page.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=60_000)
                visible = time.time()
                r = {
                    "metric": "cold",
                    "app": name,
                    "rep": rep,
                    "warmup": rep < 0,
                    "spawn_to_health": (app.healthy_at - app.spawned_at) * 1000,
                    "spawn_to_input": (visible - app.spawned_at) * 1000,
                    "first_page_load": (visible - t_goto) * 1000,
                }
            except Exception as exc:  # noqa: BLE001
                r = {
                    "metric": "cold",
                    "app": name,
                    "rep": rep,
                    "warmup": rep < 0,
                    "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                }
            finally:
                if tab is not None:
                    tab.close()
                if app is not None:
                    app.stop()
            ctx.log(
                f"  cold {name:5} rep={rep} spawn->input={r.get('spawn_to_input', float('nan')):7.0f} ms"
                f" spawn->health={r.get('spawn_to_health', float('nan')):6.0f} ms"
            )
            out.append(ctx.emit(r))
    return out


def memory(
    ctx: Ctx, run_dir, database_url: str, sizes: list[int], sessions_per: dict[int, int], convs: dict[int, tuple], src
) -> list[dict]:
    """Server memory per idle session: a fresh server, one warm-up session, then K more sessions held open.

    RSS is read twice: as is ("raw"), and after the server ran gc.collect() + malloc_trim(0) (bench/serve.py,
    SIGUSR1), which removes most of the noise of garbage and freed-but-kept heap. A second fresh server, which
    traces its allocations, gives the bytes Python holds after the same gc (tracemalloc): the sessions' own
    objects, without the allocator's slack that makes RSS coarse. Tracing inflates RSS, hence two servers."""
    out = []

    def settle(app) -> tuple[int, int]:
        time.sleep(1.0)
        raw = procs.rss_kb(app.pid)
        os.kill(app.pid, signal.SIGUSR1)
        time.sleep(1.0)
        return raw, procs.rss_kb(app.pid)

    def traced(app, heap_file, readings: int) -> int:
        """Signal the server and wait for its traced size (bytes), the `readings`-th line of heap_file."""
        time.sleep(1.0)
        os.kill(app.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lines = heap_file.read_text().split() if heap_file.exists() else []
            if len(lines) >= readings:
                return int(lines[readings - 1])
            time.sleep(0.1)
        raise procs.BenchError(f"no traced heap size from the server in {heap_file}")

    def held_open(name: str, n: int, k: int, heap: bool) -> dict:
        app = None
        tabs: list[B.Tab] = []
        heap_file = run_dir / f"heap-{name}-{n}.txt" if heap else None
        try:
            app = procs.start_app(
                name,
                run_dir,
                ctx.sim,
                database_url,
                tag=f"-mem{n}{'-heap' if heap else ''}",
                src=src,
                gc_hook=True,
                heap_file=heap_file,
            )
            url = _url(app, convs.get(n) if n else None, n)
            rss_start = procs.rss_kb(app.pid)
            tabs.append(_open(ctx, app, url, n)[0])
            first = traced(app, heap_file, 1) if heap else settle(app)
            for _ in range(k):
                tabs.append(_open(ctx, app, url, n)[0])
            if heap:
                last = traced(app, heap_file, 2)
                return {"heap_1_mb": first / 2**20, "heap_per_session_mb": (last - first) / 2**20 / k}
            (raw1, trim1), (raw_k, trim_k) = first, settle(app)
            return {
                "rss_start_mb": rss_start / 1024,
                "rss_1_mb": trim1 / 1024,
                "rss_k_mb": trim_k / 1024,
                "per_session_mb": (trim_k - trim1) / 1024 / k,
                "raw_rss_1_mb": raw1 / 1024,
                "raw_rss_k_mb": raw_k / 1024,
                "raw_per_session_mb": (raw_k - raw1) / 1024 / k,
            }
        finally:
            for tab in tabs:
                tab.close()
            if app is not None:
                app.stop()

    for n in sizes:
        for name in ("glm", "naive"):
            k = sessions_per[n]
            r = {"metric": "memory", "app": name, "n": n, "sessions_added": k}
            try:
                r.update(held_open(name, n, k, heap=False))
                r.update(held_open(name, n, k, heap=True))
            except Exception as exc:  # noqa: BLE001
                r = {"metric": "memory", "app": name, "n": n, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
            ctx.log(
                f"  memory {name:5} n={n:<5} per session={r.get('per_session_mb', float('nan')):6.2f} MB"
                f" (raw {r.get('raw_per_session_mb', float('nan')):6.2f} MB; traced heap "
                f"{r.get('heap_per_session_mb', float('nan')):6.2f} MB; "
                f"1 session {r.get('rss_1_mb', float('nan')):.1f} MB)"
            )
            out.append(ctx.emit(r))
    return out
