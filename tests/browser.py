"""Helpers and fixtures for the browser tests: the GLM simulator and Streamlit servers as subprocesses,
Chromium launch settings, and recorders for a page's requests, WebSocket frames and response bodies.

Imported by tests/e2e/test_browser.py, which re-exports the fixtures so pytest sees them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import CANARY_KEY, ROOT, free_port
from playwright.sync_api import Page

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"  # as scripts/test.sh checks and installs it
VISITOR_DOMAIN = "glmchat.test"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Visitors "from elsewhere": http://<name>.glmchat.test:<port> reaches a loopback server under
    # a name that is not this machine's, as a public host name through a proxy or tunnel does.
    f"--host-resolver-rules=MAP *.{VISITOR_DOMAIN} 127.0.0.1",
]
HEALTH_TIMEOUT = 60.0


# -- processes ---------------------------------------------------------------------------------------------


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-n:]
    except OSError:
        return ""


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = HEALTH_TIMEOUT) -> None:
    """Poll url until it answers 200; fail at once if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"process exited with {proc.returncode} before {url} answered; log tail:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s; log tail:\n{_tail(log)}")


@dataclass
class SimServer:
    base_url: str  # http://127.0.0.1:PORT/api/paas/v4
    root: str  # http://127.0.0.1:PORT

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.root}/stats", timeout=5) as resp:
            return json.loads(resp.read())

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.root}/reset", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200

    def wait_for(self, predicate, timeout: float) -> dict:
        """Poll /stats until predicate(stats) holds; return the last stats either way."""
        deadline = time.monotonic() + timeout
        stats = self.stats()
        while not predicate(stats) and time.monotonic() < deadline:
            time.sleep(0.05)
            stats = self.stats()
        return stats


@dataclass
class AppServer:
    url: str
    log: Path
    proc: subprocess.Popen = field(repr=False)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def request_lines(self, since: int = 0, timeout: float = 10.0, until=None) -> list[dict]:
        """The app's own request log lines (glmchat.requests) after character `since` of the log, parsed.

        Waits up to `timeout` for until(lines) to hold (the line is written as the run ends)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = request_lines(self.log_text()[since:])
            if until is None or until(lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.1)


REQUEST_LINE = re.compile(r" glmchat\.requests request (\{.*\})$", re.MULTILINE)


def request_lines(log: str) -> list[dict]:
    """The JSON of each `glmchat.requests` line (glmchat/hosting/requestlog.py: one per model request) in log text."""
    return [json.loads(m.group(1)) for m in REQUEST_LINE.finditer(log)]


def has_line(lines: list[dict], **fields) -> bool:
    """Whether one of the parsed request lines has all these field values."""
    return any(all(line.get(k) == v for k, v in fields.items()) for line in lines)


@contextmanager
def python_server(name: str, args: list[str], health: str, env: dict[str, str] | None = None):
    """`python -m <args>` on a free loopback port ("{port}" in args), logging to test-artifacts/<name>.log;
    yields its root URL once `health` answers, and stops it afterwards."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    log = ARTIFACTS / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", *(a.format(port=port) for a in args)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    try:
        root = f"http://127.0.0.1:{port}"
        wait_http(root + health, proc, log)
        yield root
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def sim_proc():
    """The GLM simulator as its own process on a free loopback port."""
    with python_server("simulator", ["glmsim.simulator", "--port", "{port}"], "/health") as root:
        yield SimServer(base_url=f"{root}/api/paas/v4", root=root)


@pytest.fixture
def sim(sim_proc):
    """The simulator process, its counters reset (overrides conftest's in-process `sim`)."""
    sim_proc.reset()
    return sim_proc


def tokens(n: int) -> str:
    """What `sim:tokens=n` replies."""
    return " ".join(f"tok{i}" for i in range(n))


def start_streamlit(name: str, env_overrides: dict[str, str], *, port: int | None = None, args: Sequence[str] = ()):
    """Generator body for the app fixtures: start `streamlit run app.py`, yield an AppServer, stop it.

    `port`: one chosen beforehand (e.g. for an OIDC redirect_uri registered first); else a free one.
    `args`: more `streamlit run` options, e.g. ("--secrets.files", path) for a secrets file of its own.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    port = port or free_port()
    log = ARTIFACTS / f"streamlit-{name}.log"
    # Every server gets a database of its own unless the test names one: never the developer's data/.
    scratch = tempfile.mkdtemp(prefix=f"glmchat-{name}-")
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "GLMCHAT_DATABASE_URL": f"sqlite:///{scratch}/glmchat.db",
        **env_overrides,
    }
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        *args,
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/_stcore/health", proc, log)
        yield AppServer(url=url, log=log, proc=proc)
    finally:
        _stop(proc)


def keyed_env(sim: SimServer) -> dict[str, str]:
    return {"ZHIPUAI_API_KEY": CANARY_KEY, "ZHIPUAI_BASE_URL": sim.base_url}


@pytest.fixture(scope="session")
def app_server(sim_proc):
    """The app with the canary key, talking to the simulator process."""
    yield from start_streamlit("keyed", keyed_env(sim_proc))


@pytest.fixture
def cold_app_server(sim_proc):
    """A fresh keyed server that no browser has visited yet (app_server may have been used already)."""
    yield from start_streamlit("cold", keyed_env(sim_proc))


@pytest.fixture(scope="module")
def offline_server():
    """The app without any key: it must fall back to the in-process offline demo.

    Blank values (not just absent ones) so a developer's .env cannot supply a key: the app loads .env
    without overriding what is set, and treats a blank key as missing.
    """
    yield from start_streamlit("offline", {"ZHIPUAI_API_KEY": "", "ZHIPUAI_BASE_URL": ""})


# -- what the browser saw ----------------------------------------------------------------------------------


@dataclass
class Recorder:
    """Every request a page made and every WebSocket frame it received; with bodies=True also the body of
    every HTTP response it got (off by default: a page load is ~100 responses, each read back over CDP)."""

    requests: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    bodies: bool = False
    responses: list[tuple[str, str]] = field(default_factory=list)  # (url, digest) of each body read
    texts: dict[str, str] = field(default_factory=dict)  # body text by digest: pages load the same scripts
    unread: list[tuple[int, str, str]] = field(default_factory=list)  # (status, url, why): no body to read

    def attach(self, page: Page) -> Page:
        page.on("request", lambda req: self.requests.append(req.url))
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        if self.bodies:
            # requestfinished: the body is complete. A WebSocket handshake is no request here at all (its
            # frames are recorded above), so every HTTP response is read.
            page.on("requestfinished", self._finished)
        return page

    def _frame(self, payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            payload = bytes(payload).decode("utf-8", errors="ignore")
        self.frames.append(payload)

    def _finished(self, request) -> None:
        response = request.response()
        if response is None:
            return
        try:
            data = response.body()
        except Exception as exc:  # noqa: BLE001 - a redirect has no body; never_read() reports the rest
            data = self._static_copy(response)
            if data is None:
                self.unread.append((response.status, response.url, str(exc).splitlines()[0][:160]))
                return
        digest = hashlib.sha256(data).hexdigest()
        # UTF-8 with replacement keeps every ASCII byte as it is, so an ASCII needle is found in any body.
        self.texts.setdefault(digest, data.decode("utf-8", errors="replace"))
        self.responses.append((response.url, digest))

    @staticmethod
    def _static_copy(response) -> bytes | None:
        """The body of a /static/ file fetched again, for when Chromium kept none (it drops a font's now and
        then: "No data found for resource"). Streamlit's /static/ names carry a hash of their content, so
        the same URL serves the same bytes; anything else stays unread."""
        if response.status != 200 or not urlsplit(response.url).path.startswith("/static/"):
            return None
        with urllib.request.urlopen(response.url, timeout=10) as got:
            return got.read()

    def never_read(self) -> list[tuple[int, str, str]]:
        """Unread responses that are not redirects and whose URL no other load read either.

        Chromium keeps no body for a file a later page took from its memory cache (the fonts, say), but the
        URL is the same file (Streamlit's /static/ and /media/ names carry a hash of the content)."""
        read = {url for url, _ in self.responses}
        return [u for u in self.unread if not 300 <= u[0] < 400 and u[1] not in read]

    def bodies_with(self, needle: str) -> list[str]:
        """The URLs of the recorded response bodies that contain needle."""
        hits = {d for d, text in self.texts.items() if needle in text}
        return [url for url, d in self.responses if d in hits]


# Everything the keyed app sent to any browser in this session; the canary test checks it all.
SESSION_RECORD = Recorder()


def open_app(page: Page, url: str, recorder: Recorder | None = None) -> Page:
    """Record the page, load the app and wait for the chat input."""
    for rec in {id(r): r for r in (recorder, SESSION_RECORD) if r is not None}.values():
        rec.attach(page)
    page.goto(url)
    page.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=30_000)
    return page


def send(page: Page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")


# A message's Markdown, not a button's label (Streamlit draws labels in Markdown containers too).
MARKDOWN = '[data-testid="stMarkdownContainer"]:not(.stMarkdownEllipsis)'


def stop_button(page: Page):
    """The Stop button above the chat input while a reply is written (Esc presses it)."""
    return page.locator(".st-key-stop-reply button")


def bubbles(page: Page, role: str | None = None):
    msgs = page.get_by_test_id("stChatMessage")
    if role == "user":
        return msgs.filter(has=page.get_by_test_id("stChatMessageAvatarUser"))
    if role == "assistant":
        return msgs.filter(has=page.get_by_test_id("stChatMessageAvatarAssistant"))
    return msgs


# In-page observer: the distinct text lengths the new assistant reply went through (notes §5.3).
STREAM_OBSERVER_JS = """
(nPrior) => {
  const T = window.__obs = {lengths: [], times: []};
  const check = () => {
    const msgs = document.querySelectorAll('[data-testid="stChatMessage"]');
    if (msgs.length < nPrior + 2) return;
    const mds = msgs[nPrior + 1].querySelectorAll('[data-testid="stMarkdownContainer"]');
    for (const md of mds) {
      const txt = md.textContent;
      if (!txt.startsWith('tok')) continue;
      if (T.lengths[T.lengths.length - 1] !== txt.length) {
        T.lengths.push(txt.length);
        T.times.push(performance.now());
      }
      return;
    }
  };
  new MutationObserver(check).observe(document.body, {childList: true, subtree: true, characterData: true});
}
"""


def foreign(urls: list[str]) -> list[str]:
    """The URLs that went anywhere but the loopback servers (data: and blob: URLs stay in the page)."""
    return [u for u in urls if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"]


# -- helpers for the saved-history browser tests (tests/e2e/test_browser_history.py) ------------------------


@contextmanager
def streamlit_app(name: str, env_overrides: dict[str, str]):
    """start_streamlit as a context manager, for tests that start, kill and restart servers themselves."""
    gen = start_streamlit(name, env_overrides)
    try:
        yield next(gen)
    finally:
        gen.close()


def keyed_app(name: str, sim: SimServer, tmp_path_factory):
    """Body of a module fixture: the keyed app on a SQLite file of its own, so its chats stay out of data/."""
    url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'glmchat.db'}"
    with streamlit_app(name, history_env(sim, url)) as server:
        yield server


def history_env(
    sim: SimServer, database_url: str, *, key: str | None = CANARY_KEY, mode: str = "personal"
) -> dict[str, str]:
    """Environment for an app that saves to database_url. key=None: no server key (visitors bring theirs).

    Every history setting is given explicitly (blank counts as unset), so neither the developer's shell
    nor a .env file can change the owner model or the database under test.
    """
    return {
        "ZHIPUAI_API_KEY": key or "",
        "ZHIPUAI_BASE_URL": sim.base_url,
        "GLMCHAT_DATABASE_URL": database_url,
        "GLMCHAT_ACCESS_MODE": mode,
        "GLMCHAT_OWNER_SECRET": "",
        "GLMCHAT_HOST_KEY_HISTORY": "",
    }


def conversation_param(page: Page) -> str | None:
    """The open conversation's id from the page URL (?c=<32 hex>), or None."""
    values = parse_qs(urlsplit(page.url).query).get("c")
    return values[0] if values else None


def reply_body(bubble):
    """The simulator's tokN reply text inside an assistant bubble."""
    return bubble.locator(MARKDOWN).filter(has_text=re.compile(r"^tok0"))


def caption(bubble, text: str):
    return bubble.get_by_test_id("stCaptionContainer").filter(has_text=text)


# -- helpers for the feature browser tests (tests/e2e/test_browser_features.py) --------------------------------


def sidebar(page: Page):
    return page.get_by_test_id("stSidebar")


def idle(page: Page, timeout: float = 15_000) -> None:
    """Wait until no script run is going on or requested (the stApp element's data-test-script-state).

    Call it after something the run drew has shown up: right after a click, the rerun may not have been
    requested yet. (The running-man status widget is no signal: it only shows after 500 ms of running.)
    """
    page.wait_for_function(
        "() => document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state') === 'notRunning'",
        timeout=timeout,
    )


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` (its shown label) in the sidebar selectbox labelled `label`; wait for the rerun."""
    from playwright.sync_api import expect

    box = sidebar(page).get_by_role("combobox", name=label)
    box.click()
    box.fill(option)  # Streamlit's selectbox filters as you type: the long model list need not scroll
    # A model's option is its name, then its marks and price (sidebar.model_label): match the name.
    named = re.compile("^" + re.escape(option) + r"(\s|$)")
    page.get_by_role("option", name=named).first.click()
    expect(box).to_have_value(named)
    idle(page)


def attach(page: Page, *files: dict) -> None:
    """Put files ({name, mimeType, buffer}) into the chat input and wait until they are uploaded."""
    from playwright.sync_api import expect

    chat = page.get_by_test_id("stChatInput")
    chat.locator("input[type=file]").set_input_files(list(files))
    expect(chat.get_by_test_id("stFileChip")).to_have_count(len(files))
    expect(chat.get_by_test_id("stFileChipIconSpinner")).to_have_count(0)
    expect(chat.get_by_test_id("stFileChipIconError")).to_have_count(0)


def hrefs(scope, selector: str = "a[href]") -> list[str]:
    """The raw href attributes of the links under a page or locator."""
    return scope.locator(selector).evaluate_all("els => els.map(a => a.getAttribute('href'))")


def chat_hrefs(page: Page) -> tuple[list[str], list[str]]:
    """(links in the chat messages, Streamlit's own heading-anchor links there: "#slug" permalinks)."""
    found = page.locator('[data-testid="stChatMessage"] a[href]').evaluate_all(
        "els => els.map(a => [a.getAttribute('href'), !!a.closest('[data-testid=stHeaderActionElements]')])"
    )
    return [h for h, anchor in found if not anchor], [h for h, anchor in found if anchor]


def context_meter(page: Page):
    """The sidebar's context-window progress bar (its text reads "Context <used> / <window> tokens (<n>%)")."""
    return sidebar(page).get_by_test_id("stProgress").filter(has_text="Context")


def meter_tokens(text: str) -> int:
    """The used-token figure of the context meter's text, e.g. "Context 4.1K / 8.2K tokens (50%)" -> 4100."""
    m = re.search(r"Context\s+([\d.]+)(K?)\s*/", text)
    assert m, f"no token count in the context meter: {text!r}"
    return round(float(m.group(1)) * (1000 if m.group(2) else 1))
