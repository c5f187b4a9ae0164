"""Fault soak (issue 6): 20 browser sessions chat at once for ~90 s against the simulator with random
faults, and the PostgreSQL server restarts in the middle.

Two of the sessions are visitors who leave: their last message goes in while the database is down.
Afterwards: no page ever showed an exception or a traceback, every message sent and every reply is in
the database as the page showed it, the canary key is in no page, frame or log, and the server's memory
is back near where it started.

The measured figures go to test-artifacts/fault-soak.md (git-ignored) on every run, so a test run leaves the
checkout clean. Updating the tracked docs/fault-soak.md is a deliberate step: run the soak with
GLMCHAT_WRITE_DOCS=1, e.g. `GLMCHAT_WRITE_DOCS=1 bash scripts/test.sh tests/e2e/test_fault_soak.py -q -s`, and the
report is copied there too.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import shutil
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
import streamlit
from browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, history_env, sim_proc, streamlit_app
from conftest import CANARY_KEY, ROOT
from pgcluster import PgCluster
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from glmchat.chat.i18n import t
from glmchat.ui import state

__all__ = ["sim_proc"]  # a fixture used via pytest, imported on purpose

SEED = 6  # issue 6: the same faults in the same order on every run
SESSIONS = 20
LOAD_SECONDS = 90.0  # sessions start no new message after this
RESTART_AT = 45.0  # seconds into the load: the database restarts in the middle
DOWN_FOR = 3.0  # seconds the database stays stopped
OPEN_AT_ONCE = 5  # page loads in flight at a time (3 MB of JavaScript each, 2 cores)
OPEN_TIMEOUT = 120_000  # ms for one page to load; 2 s when the box is quiet, a minute or more when it is not
REPLY_TIMEOUT = 75_000  # ms; a sim:stall reply alone takes the app's 25 s read timeout
POLL = 250  # ms between in-page checks: raf polling in 20 pages would eat the cores
WATCH_EVERY = 500  # ms between scans for forbidden text (an error box stays until the next run)
SETTLE = 5.0  # seconds between closing the pages and the final memory reading
# The server's RSS may end this far above its level with the 20 pages open and no message sent yet.
# It cannot fall back to that level: the first replies import what the pages did not need yet, closed
# sessions live on for Streamlit's disconnectedSessionTTL (120 s), and CPython keeps freed arenas.
# Measured: +0 to +18 MB over 80-150 messages (the start itself moves between ~105 and ~195 MB with what
# the first page loads happen to import). Since the post-run collection went (runner.postScriptGC off),
# cycles wait for Python's own collector: on 2026-12-07 the release before (1c8c8cd) ended +28 and +33 MB
# over 163-187 messages, the next one +31 to +41 MB over 149-195 (five runs), so 40 MB sat inside the
# noise. A leak of ~0.3 MB per message still exceeds the bound (about +50 MB over 170 messages).
RSS_BOUND_MB = 50
REPORT = ARTIFACTS / "fault-soak.md"  # every run (git-ignored)
DOC = ROOT / "docs" / "fault-soak.md"  # only with GLMCHAT_WRITE_DOCS=1 (see the module docstring)

# fault -> (share of messages, trigger text, expected end on the page, requests one attempt makes)
FAULTS: dict[str, tuple[float, str, str, int]] = {
    "none": (0.40, "", "ok", 1),
    "slow": (0.10, "sim:slow", "ok", 1),  # 5 tokens per second
    "busy-once": (0.10, "sim:busy-once", "ok", 2),  # 429 1302, retried by the app
    "500-once": (0.10, "sim:500-once", "ok", 2),
    "cut": (0.10, "sim:cut", "error", 1),  # 5 tokens, then the connection drops
    "busy": (0.06, "sim:busy", "error", 3),  # 429 1305 on every attempt
    "500": (0.07, "sim:500", "error", 3),
    "502": (0.07, "sim:502", "error", 3),  # an HTML gateway page
    "stall": (0.0, "sim:stall", "error", 1),  # 5 tokens, then silence until the read timeout
}
STALL_SESSIONS = (0, 1)  # their first message stalls: a timeout ends by ~30 s, well inside the load
# Visitors who leave: they stop chatting shortly before the restart, send one last (fault-free) message
# while the database is down, read the reply and do nothing more. Their writes must still be saved.
# The restart waits until they are idle, and the database stays down until their last replies have ended.
LEAVERS = (18, 19)
LEAVE_EARLY = 10.0  # seconds before the restart they start no new message (a slow reply takes ~4 s)
LEAVER_WAIT = 30.0  # seconds the database stays down at most waiting for their last replies
# The others chat on past LOAD_SECONDS until one of their messages went in this long after the database
# was back: the app leaves a failed database alone for 5 s (ResilientStore's retry_interval), and only a
# later save replays what was queued. So on a slow machine too, only the leavers end on queued writes.
AFTER_OUTAGE = 6.0
DB_DOWN_TEXT = t("history.db_down", "en")

# Runs in every page before Streamlit: remembers anything that must never be on screen, even briefly,
# counts the retry notices shown, and notes whether the database-down warning was seen.
WATCH_JS = """
(([dbDown, retrying]) => {
  const W = window.__soak = {bad: {}, retries: 0, dbDown: false};
  let notice = null;
  const scan = () => {
    if (!document.body) return;
    const exc = document.querySelector('[data-testid="stException"]');
    if (exc && !W.bad.stException) W.bad.stException = exc.textContent.slice(0, 300);
    const text = document.body.textContent || '';
    for (const word of ['Traceback', 'Exception']) {
      const i = text.indexOf(word);
      if (i >= 0 && !W.bad[word]) W.bad[word] = text.slice(Math.max(0, i - 150), i + 150);
    }
    if (text.includes(dbDown)) W.dbDown = true;
    const info = [...document.querySelectorAll('[data-testid="stAlertContentInfo"]')]
      .map(e => e.textContent).find(s => s.includes(retrying));
    if (info && info !== notice) W.retries++;
    notice = info || null;
  };
  setInterval(scan, %d);
})(%s);
"""

# The last turn is over: the script is idle, the input usable, and its question and one answer shown last.
TURN_DONE_JS = """
([marker, gone]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (gone && document.querySelector('.st-key-retry-' + gone)) return false;
  const box = document.querySelector('[data-testid="stChatInputTextArea"]');
  if (!box || box.disabled) return false;
  // The page draws only the newest messages: the turn is done when its question is the last one shown
  // and exactly one answer follows it.
  const bubbles = [...document.querySelectorAll('[data-testid="stChatMessage"]')];
  const isUser = b => !!b.querySelector('[data-testid="stChatMessageAvatarUser"]');
  const last = bubbles.map(isUser).lastIndexOf(true);
  return last >= 0 && bubbles[last].textContent.includes(marker)
    && bubbles.length === last + 2 && !isUser(bubbles[last + 1]);
}
"""

# Every bubble as the page shows it: role, its message text, whether it shows an error, its Retry key.
BUBBLES_JS = """
() => [...document.querySelectorAll('[data-testid="stChatMessage"]')].map(b => {
  const user = !!b.querySelector('[data-testid="stChatMessageAvatarUser"]');
  const body = [...b.querySelectorAll('[data-testid="stMarkdownContainer"]')]
    .find(m => !m.closest('[data-testid="stAlert"], [data-testid="stCaptionContainer"], button'));
  const retry = b.querySelector('[class*="st-key-retry-"]');
  const key = retry ? (retry.className.match(/st-key-retry-(\\S+)/) || [])[1] : null;
  return {role: user ? 'user' : 'assistant', text: body ? body.textContent.trim() : '',
          error: !!b.querySelector('[data-testid="stAlertContentError"]'), retry: key};
})
"""


def tokens(n: int) -> str:
    return " ".join(f"tok{i}" for i in range(n))


def _in_own_loop(coro):
    """asyncio.run on a thread of its own: the sync Playwright of earlier browser tests in this process
    leaves an event loop on the main thread, and asyncio.run refuses to nest."""
    result: dict = {}

    def run() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread
            result["error"] = exc

    thread = threading.Thread(target=run, name="fault-soak")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def norm(text: str) -> str:
    return " ".join(text.split())


def rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    """A process's resident set (VmRSS) or its peak so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field_name} for pid {pid}")


@dataclass
class Turn:
    fault: str
    text: str
    expected: str  # the reply's full content when it ends ok
    outcome: str = ""  # "ok", "error" or what else the page showed
    retry_clicked: bool = False
    started: float = 0.0  # time.monotonic() at Enter, and when the reply (or its retry) ended
    ended: float = 0.0


@dataclass
class Session:
    sid: int
    rng: random.Random
    page: Page | None = None
    context: BrowserContext | None = None
    turns: list[Turn] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    canary_frames: int = 0
    page_errors: list[str] = field(default_factory=list)
    bubbles: list[dict] = field(default_factory=list)
    watch: dict = field(default_factory=dict)
    html_has_canary: bool = False
    warning_at_end: bool = False  # the "database unavailable" warning still on the page after the load
    cid: str | None = None
    idle: asyncio.Event = field(default_factory=asyncio.Event)  # a leaver has stopped chatting
    left: threading.Event = field(default_factory=threading.Event)  # a leaver's last reply has ended

    def next_turn(self, fault: str | None = None) -> Turn:
        n = len(self.turns)
        if fault is None and n == 0 and self.sid in STALL_SESSIONS:
            fault = "stall"
        elif fault is None:
            names = [k for k in FAULTS if FAULTS[k][0] > 0]
            fault = self.rng.choices(names, weights=[FAULTS[k][0] for k in names])[0]
        count = 20 if fault == "slow" else self.rng.randint(20, 50)
        pace = "" if fault == "slow" else f" sim:rate={self.rng.randint(15, 40)}"
        text = f"soak s{self.sid:02d} m{n:02d} {fault} sim:tokens={count}{pace} {FAULTS[fault][1]}".strip()
        return Turn(fault, text, tokens(count))


@dataclass
class Outage:
    """When the database was stopped and when it accepted connections again (time.monotonic())."""

    down: asyncio.Event = field(default_factory=asyncio.Event)
    back: asyncio.Event = field(default_factory=asyncio.Event)
    began: float = 0.0
    ended: float = 0.0

    def saved_after(self, session: Session) -> bool:
        """Whether the session's last message went in well after the database was back."""
        return self.back.is_set() and bool(session.turns) and session.turns[-1].started >= self.ended + AFTER_OUTAGE


@dataclass
class Soak:
    sessions: list[Session]
    outage: Outage
    rss_cold: float = 0.0
    rss_start: float = 0.0
    rss_peak: float = 0.0
    rss_end: float = 0.0
    restart_s: float = 0.0
    restart_at_s: float = 0.0
    open_s: float = 0.0
    load_s: float = 0.0


def _frame_checker(session: Session):
    def check(payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            payload = bytes(payload).decode("utf-8", errors="ignore")
        if CANARY_KEY in payload:
            session.canary_frames += 1

    return check


async def _open(browser: Browser, url: str, session: Session, gate: asyncio.Semaphore) -> None:
    async with gate:
        session.context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        session.context.set_default_timeout(REPLY_TIMEOUT)  # a busy box can leave a page unresponsive for long
        watch = WATCH_JS % (WATCH_EVERY, json.dumps([DB_DOWN_TEXT, "retrying in"]))
        await session.context.add_init_script(watch)
        page = session.page = await session.context.new_page()
        page.on("websocket", lambda ws: ws.on("framereceived", _frame_checker(session)))
        page.on("pageerror", lambda err: session.page_errors.append(str(err)[:200]))
        await page.goto(url, timeout=OPEN_TIMEOUT)
        await page.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=OPEN_TIMEOUT)


async def _wait_turn(page: Page, turn: Turn, gone: str | None = None) -> None:
    marker = " ".join(turn.text.split()[:3])  # "soak sNN mNN": unique to this turn
    await page.wait_for_function(TURN_DONE_JS, arg=[marker, gone], polling=POLL, timeout=REPLY_TIMEOUT)


async def _last_reply(page: Page) -> dict:
    return (await page.evaluate(BUBBLES_JS))[-1]


def _outcome(reply: dict, turn: Turn) -> str:
    if reply["error"]:
        return "error"
    if norm(reply["text"]) == turn.expected:
        return "ok"
    return f"other: {reply['text'][:60]!r}"


async def _turn(session: Session, turn: Turn, deadline: float) -> None:
    """Send one message, wait for its reply to end, and press Retry on about half of the errors."""
    page = session.page
    session.turns.append(turn)
    turn.started = time.monotonic()
    box = page.get_by_test_id("stChatInputTextArea")
    await box.fill(turn.text)
    await box.press("Enter")
    await _wait_turn(page, turn)
    reply = await _last_reply(page)
    turn.outcome = _outcome(reply, turn)
    if reply["retry"] and time.monotonic() < deadline and session.rng.random() < 0.5:
        turn.retry_clicked = True
        await page.locator(f".st-key-retry-{reply['retry']} button").click()
        await _wait_turn(page, turn, gone=reply["retry"])
        turn.outcome = _outcome(await _last_reply(page), turn)
    turn.ended = time.monotonic()


async def _drive(session: Session, start: float, outage: Outage) -> None:
    """One visitor: chat with pauses until the load ends, or (a leaver) until the outage, then leave."""
    deadline = start + LOAD_SECONDS
    leaver = session.sid in LEAVERS
    stop_at = start + RESTART_AT - LEAVE_EARLY if leaver else deadline
    try:
        while True:
            if time.monotonic() >= stop_at:
                if leaver or outage.saved_after(session):
                    break
                await outage.back.wait()
                await asyncio.sleep(max(0.0, outage.ended + AFTER_OUTAGE - time.monotonic()))
            await _turn(session, session.next_turn(), deadline)
            await asyncio.sleep(session.rng.uniform(0.2, 1.5))
        if leaver:
            session.idle.set()
            await outage.down.wait()
            await _turn(session, session.next_turn("none"), deadline)
            session.left.set()  # the run is over: every save of this reply has been attempted
    except Exception as exc:  # noqa: BLE001 - recorded with a screenshot; the test fails on it below
        session.idle.set()  # nobody waits for a visitor who is gone
        session.left.set()
        session.problems.append(
            f"s{session.sid:02d}: stopped at turn {len(session.turns)}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        )
        try:
            await session.page.screenshot(path=str(ARTIFACTS / f"fault-soak-s{session.sid:02d}.png"), full_page=True)
        except Exception:  # noqa: BLE001 - a page that cannot be photographed is already reported
            pass


async def _collect(session: Session) -> None:
    page = session.page
    session.bubbles = await page.evaluate(BUBBLES_JS)
    session.watch = await page.evaluate("window.__soak")
    session.html_has_canary = CANARY_KEY in await page.content()
    session.warning_at_end = await page.get_by_text(DB_DOWN_TEXT).count() > 0
    values = parse_qs(urlsplit(page.url).query).get("c")
    session.cid = values[0] if values else None
    if session.watch["bad"]:
        await page.screenshot(path=str(ARTIFACTS / f"fault-soak-s{session.sid:02d}-bad.png"), full_page=True)
    if session.warning_at_end:  # the outage is long over: whatever it still warns about is unsaved
        await page.screenshot(path=str(ARTIFACTS / f"fault-soak-s{session.sid:02d}-unsaved.png"), full_page=True)


async def _run(url: str, pid: int, pg: PgCluster) -> Soak:
    soak = Soak([Session(i, random.Random(SEED * 1000 + i)) for i in range(SESSIONS)], Outage())
    soak.rss_cold = rss_mb(pid)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            began = time.monotonic()
            gate = asyncio.Semaphore(OPEN_AT_ONCE)
            await asyncio.gather(*(_open(browser, url, s, gate) for s in soak.sessions))
            soak.open_s = time.monotonic() - began
            soak.rss_start = soak.rss_peak = rss_mb(pid)

            start = time.monotonic()
            outage = soak.outage
            drivers = asyncio.gather(*(_drive(s, start, outage) for s in soak.sessions))
            loop = asyncio.get_running_loop()

            leavers = [s for s in soak.sessions if s.sid in LEAVERS]

            def hold_down() -> None:
                began = time.monotonic()
                loop.call_soon_threadsafe(outage.down.set)
                for s in leavers:
                    s.left.wait(LEAVER_WAIT)
                time.sleep(max(0.0, DOWN_FOR - (time.monotonic() - began)))

            async def restart() -> None:
                await asyncio.sleep(RESTART_AT)
                await asyncio.gather(*(s.idle.wait() for s in leavers))
                outage.began = time.monotonic()
                soak.restart_at_s = outage.began - start
                soak.restart_s = await asyncio.to_thread(pg.restart, hold_down)
                outage.ended = time.monotonic()
                outage.back.set()

            async def sample() -> None:
                while not drivers.done():
                    soak.rss_peak = max(soak.rss_peak, rss_mb(pid))
                    await asyncio.sleep(0.5)

            await asyncio.gather(drivers, restart(), sample())
            soak.load_s = time.monotonic() - start
            await asyncio.gather(*(_collect(s) for s in soak.sessions))
            for s in soak.sessions:
                await s.context.close()
        finally:
            await browser.close()
    await asyncio.sleep(SETTLE)
    soak.rss_end = rss_mb(pid)
    soak.rss_peak = max(soak.rss_peak, rss_mb(pid, "VmHWM"))
    return soak


# -- checks -------------------------------------------------------------------------------------------------


def _db_rows(url: str) -> dict[str, list[dict]]:
    """Every saved message, by conversation, in order."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT conversation_id, seq, role, content, status, error_json, meta_json "
            "FROM messages ORDER BY conversation_id, seq"
        ).fetchall()
    by_cid: dict[str, list[dict]] = {}
    for cid, seq, role, content, status, error_json, meta_json in rows:
        by_cid.setdefault(cid, []).append(
            {
                "seq": seq,
                "role": role,
                "content": content,
                "status": status,
                "error": json.loads(error_json or "null"),
                "meta": json.loads(meta_json or "null"),
            }
        )
    return by_cid


def _tail(text: str) -> str:
    """A long reply, shortened to its length and its end (where a lost or cut tail shows)."""
    return f"{len(text)} chars ...{text[-40:]!r}"


def _check_session(s: Session, saved: list[dict]) -> list[str]:
    """The page and the database agree on every message and every reply of this session."""
    tag = f"s{s.sid:02d}"
    problems = [f"{tag}: the page showed {kind}: {snippet!r}" for kind, snippet in s.watch["bad"].items()]
    if s.html_has_canary or s.canary_frames:
        problems.append(f"{tag}: the canary key reached the page ({s.canary_frames} frames)")
    for turn in s.turns:
        if turn.outcome != FAULTS[turn.fault][2]:
            problems.append(
                f"{tag}: {turn.fault} reply ended {turn.outcome!r}, expected {FAULTS[turn.fault][2]!r} ({turn.text!r})"
            )
    if s.cid is None:
        return problems + [f"{tag}: no conversation id in the page URL"]
    # The page draws the newest messages only (state.WINDOW_FIRST at first): it must show their tail.
    page_users = [norm(b["text"]) for b in s.bubbles if b["role"] == "user"]
    sent = [norm(x.text) for x in s.turns]
    if len(page_users) < min(len(sent), state.WINDOW_FIRST // 2) or page_users != sent[len(sent) - len(page_users) :]:
        problems.append(f"{tag}: the page shows user messages {page_users} for {[x.text for x in s.turns]}")
    users = [r["content"] for r in saved if r["role"] == "user"]
    missing = [x.text for x in s.turns if x.text not in users]
    if missing:
        shown = " (the page still says the database is unavailable)" if s.warning_at_end else ""
        problems.append(f"{tag}: user messages not in the database: {missing}{shown}")
    elif users != [x.text for x in s.turns]:
        problems.append(f"{tag}: user messages saved as {users}, sent as {[x.text for x in s.turns]}")
    shown = saved[len(saved) - len(s.bubbles) :]
    if [r["role"] for r in shown] != [b["role"] for b in s.bubbles]:
        problems.append(f"{tag}: saved roles {[r['role'] for r in shown]} vs page {[b['role'] for b in s.bubbles]}")
        return problems
    for row, bubble in zip(shown, s.bubbles, strict=False):
        if row["role"] != "assistant":
            continue
        if bubble["error"]:
            ok = row["status"] in ("error", "incomplete") and row["error"] is not None
        else:
            ok = row["status"] == "done" and row["error"] is None
        if not ok or norm(row["content"]) != norm(bubble["text"]):
            problems.append(
                f"{tag}: reply seq {row['seq']} saved as status={row['status']} "
                f"content={_tail(row['content'])}; the page shows error={bubble['error']} "
                f"text={_tail(bubble['text'])}"
            )
    return problems


def _write_report(
    soak: Soak, stats: dict, saved: dict[str, list[dict]], log_counts: Counter, problems: list[str]
) -> None:
    turns = [x for s in soak.sessions for x in s.turns]
    faults = Counter(x.fault for x in turns)
    outcomes = Counter(x.outcome if x.outcome in ("ok", "error") else "other" for x in turns)
    clicks = sum(x.retry_clicked for x in turns)
    auto_retries = stats["attempts"] - len(turns) - clicks  # every request beyond the first of each reply
    down_from, down_to = soak.outage.began, soak.outage.ended
    sent_down = sum(down_from <= x.started <= down_to for x in turns)
    in_flight = sum(x.started < down_to and x.ended > down_from for x in turns)
    leavers = ", ".join(
        f"s{s.sid:02d} +{s.turns[-1].started - down_from:.1f} s" for s in soak.sessions if s.sid in LEAVERS and s.turns
    )
    shown = sum(s.watch.get("retries", 0) for s in soak.sessions)
    down_seen = sum(bool(s.watch.get("dbDown")) for s in soak.sessions)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    if subprocess.run(
        ["git", "diff", "--quiet", "HEAD", "--", "app.py", "app_pages", "glmchat", "glmsim"], cwd=ROOT
    ).returncode:
        commit += " with uncommitted changes to the app"
    fault_rows = "\n".join(
        f"| {name} | `{FAULTS[name][1] or '-'}` | {faults.get(name, 0)} | {FAULTS[name][2]} |" for name in FAULTS
    )
    verdict = "PASS" if not problems else f"FAIL ({len(problems)} problems)"
    listing = "\n".join(f"- {p}" for p in problems[:40]) or "- none"
    ARTIFACTS.mkdir(exist_ok=True)
    REPORT.write_text(
        f"""# Fault soak: 20 sessions, random faults, a database restart

Written by `tests/e2e/test_fault_soak.py` to `test-artifacts/fault-soak.md` on every run, and copied here only on
request (`GLMCHAT_WRITE_DOCS=1 bash scripts/test.sh tests/e2e/test_fault_soak.py -q -s`);
this copy is from {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}.
**Machine:** 2 noisy vCPUs shared by Chromium (20 pages), the Streamlit server, the simulator, PostgreSQL
and other unrelated jobs; Python {platform.python_version()}, Streamlit {streamlit.__version__}. Durations
are ±30 %; counts are exact.

**Set-up:** one `streamlit run app.py` (personal mode, the host key) on a throwaway PostgreSQL
(`tests/pgcluster.py`), the GLM simulator as its own process, one Chromium with {SESSIONS} contexts driven
concurrently (async Playwright). Each session sends messages with `sim:tokens=N` replies (N = 20-50 at
15-40 tokens/s) and a fault picked by `random.Random({SEED} * 1000 + session)`; an error ends with a Retry
button, pressed for about half of them. New messages stop after {LOAD_SECONDS:.0f} s, but not before each
session has sent one at least {AFTER_OUTAGE:.0f} s after the database was back. The database was
stopped (`pg_ctl stop -m fast`) {soak.restart_at_s:.1f} s into the load and kept down at least {DOWN_FOR:.0f} s.
Sessions {", ".join(f"s{i:02d}" for i in LEAVERS)} are visitors who leave: they stop chatting
{LEAVE_EARLY:.0f} s before the restart, send one last fault-free message while the database is down, read
the reply and do nothing more (their pages stay open until the end); the database comes back only after
their replies have ended.

## Result: {verdict}

| measure | value |
|---|---:|
| sessions | {SESSIONS} |
| opening the {SESSIONS} pages | {soak.open_s:.1f} s |
| load (first message to last reply ended) | {soak.load_s:.1f} s |
| messages sent | {len(turns)} |
| replies ended ok / with an error / other | {outcomes["ok"]} / {outcomes["error"]} / {outcomes["other"]} |
| Retry button presses | {clicks} |
| simulator chat requests | {stats["attempts"]} |
| automatic retries by the app (requests beyond the first of each reply) | {auto_retries} |
| retry notices seen on the pages (sampled every {WATCH_EVERY} ms, so some are missed) | {shown} |
| database restart: stop request to accepting again | {soak.restart_s:.1f} s |
| messages sent / replies under way while the database was down | {sent_down} / {in_flight} |
| leavers' last message sent after the stop request (database back after {down_to - down_from:.1f} s) | {leavers} |
| sessions that showed the "database unavailable" warning | {down_seen} |
| app log: storage warnings (writes that failed and were queued or reads that fell back) | {log_counts["storage"]} |
| app log: lines with "Traceback" | {log_counts["Traceback"]} |
| JavaScript errors in the pages | {sum(len(s.page_errors) for s in soak.sessions)} |
| server RSS: no session yet / {SESSIONS} pages open (start) / peak / {SETTLE:.0f} s after closing | \
{soak.rss_cold:.0f} / {soak.rss_start:.0f} / {soak.rss_peak:.0f} / {soak.rss_end:.0f} MB |
| RSS end - start (bound {RSS_BOUND_MB} MB) | {soak.rss_end - soak.rss_start:+.0f} MB |
| conversations / messages in the database | {len(saved)} / {sum(len(r) for r in saved.values())} |

Faults injected (per message; a Retry press repeats the same fault):

| fault | trigger | messages | expected end |
|---|---|---:|---|
{fault_rows}

Checks: no page ever showed `stException`, "Traceback" or "Exception" (each page looked every
{WATCH_EVERY} ms); each reply ended as its fault predicts; every message sent (the leavers' too) is in the
`messages` table, in order; every reply is saved as the page shows it (complete with its full content, or
an error with its partial content); the canary key is in no page, WebSocket frame or log; the server
logged no traceback and noticed the outage; the simulator saw exactly the requests the faults imply; RSS
ends within {RSS_BOUND_MB} MB of the start (closed sessions stay in memory for Streamlit's 120 s
`disconnectedSessionTTL`, and CPython keeps freed memory, so RSS cannot return exactly to the start).

Problems found:

{listing}
""",
        encoding="utf-8",
    )


def _publish() -> None:
    """The deliberate step: the tracked docs/fault-soak.md is replaced only when GLMCHAT_WRITE_DOCS=1."""
    if os.environ.get("GLMCHAT_WRITE_DOCS") == "1":
        shutil.copyfile(REPORT, DOC)


@pytest.fixture
def pg():
    cluster = PgCluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.timeout(420)
def test_fault_soak(sim_proc, pg):
    sim_proc.reset()
    # No file watcher: an edit in the checkout during the soak would make Streamlit re-import the app
    # under 20 running sessions, which is a development feature, not what is being tested here.
    env = {**history_env(sim_proc, pg.url), "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    with streamlit_app("soak", env) as app:
        soak = _in_own_loop(_run(app.url, app.proc.pid, pg))
        server_alive = app.proc.poll() is None
        app_log = app.log_text()
    stats = sim_proc.stats()
    saved = _db_rows(pg.url)

    problems = [p for s in soak.sessions for p in s.problems]
    if not server_alive:
        problems.append("the Streamlit server exited during the soak")
    by_cid = {s.cid: s for s in soak.sessions if s.cid}
    if len(by_cid) != SESSIONS:
        problems.append(f"{len(by_cid)} distinct conversations in the page URLs, expected {SESSIONS}")
    for s in soak.sessions:
        problems += _check_session(s, saved.get(s.cid, []))
    strays = sorted(set(saved) - set(by_cid))
    if strays:
        problems.append(f"conversations in the database that no page shows: {strays}")
    turns = [x for s in soak.sessions for x in s.turns]
    expected = sum(FAULTS[x.fault][3] * (2 if x.retry_clicked else 1) for x in turns)
    if stats["attempts"] != expected:
        problems.append(f"the simulator saw {stats['attempts']} chat requests; the faults imply {expected}")
    for name, text in (
        ("streamlit", app_log),
        ("simulator", (ARTIFACTS / "simulator.log").read_text()),
        ("postgres", pg.log_text()),
    ):
        if CANARY_KEY in text:
            problems.append(f"the canary key is in the {name} log")
    if soak.rss_end > soak.rss_start + RSS_BOUND_MB:
        problems.append(
            f"server RSS ended at {soak.rss_end:.0f} MB, start {soak.rss_start:.0f} MB (bound +{RSS_BOUND_MB} MB)"
        )
    log_counts = Counter({"storage": app_log.count(" glmchat.store "), "Traceback": app_log.count("Traceback")})
    if log_counts["Traceback"]:
        problems.append(f"the server logged {log_counts['Traceback']} tracebacks (see {app.log})")
    if not log_counts["storage"]:
        problems.append("no storage failure in the server log: the restart met no database work (not tested)")
    _write_report(soak, stats, saved, log_counts, problems)
    _publish()
    print(REPORT.read_text(encoding="utf-8"))

    assert len(turns) >= SESSIONS * 3, f"only {len(turns)} messages were sent: the load did not run"
    assert not problems, "\n".join(problems)
