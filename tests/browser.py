"""Helpers and fixtures for the browser tests: the GLM simulator and Streamlit servers as subprocesses,
Chromium launch settings, and recorders for a page's requests and WebSocket frames.

Imported by tests/test_browser.py, which re-exports the fixtures so pytest sees them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from conftest import CANARY_KEY, ROOT, free_port

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
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
    base_url: str   # http://127.0.0.1:PORT/api/paas/v4
    root: str       # http://127.0.0.1:PORT

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


@pytest.fixture(scope="session")
def sim_proc():
    """The GLM simulator as its own process on a free loopback port."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    log = ARTIFACTS / "simulator.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "glmchat.simulator", "--port", str(port)], cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        root = f"http://127.0.0.1:{port}"
        wait_http(f"{root}/health", proc, log)
        yield SimServer(base_url=f"{root}/api/paas/v4", root=root)
    finally:
        _stop(proc)


def start_streamlit(name: str, env_overrides: dict[str, str]):
    """Generator body for the app fixtures: start `streamlit run app.py`, yield an AppServer, stop it."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    log = ARTIFACTS / f"streamlit-{name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **env_overrides}
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
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
    """Every request a page made and every WebSocket frame it received."""
    requests: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> Page:
        page.on("request", lambda req: self.requests.append(req.url))
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        return page

    def _frame(self, payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            payload = bytes(payload).decode("utf-8", errors="ignore")
        self.frames.append(payload)


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
