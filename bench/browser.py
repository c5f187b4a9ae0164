"""Chromium, fresh contexts, and the in-page instruments (notes §5.3 and §7.2).

Every timestamp taken in the page is epoch milliseconds (performance.timeOrigin + performance.now()),
so it compares directly with the simulator's /stats epoch seconds (× 1000).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}

# Installed before any page script: timestamps and sizes of every WebSocket message the page handles,
# and of every DOM mutation (childList, text and attributes) anywhere in the document. While W.mark is set
# (by the reply observer), the first message whose bytes contain it is timed too (W.markAt): when the first
# token reached the page, as against when it became visible.
INIT_JS = r"""(() => {
  const now = () => performance.timeOrigin + performance.now();
  const W = window.__ws = {n: 0, bytes: 0, last: 0, mark: null, markAt: null};
  const text = new TextDecoder();
  const M = window.__mut = {n: 0, last: 0};
  const Orig = window.WebSocket;
  window.WebSocket = class extends Orig {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', (e) => {
        W.n++; W.last = now();
        const d = e.data;
        if (W.mark !== null && W.markAt === null && d && d.byteLength !== undefined
            && text.decode(d).includes(W.mark)) W.markAt = W.last;
        W.bytes += d && d.byteLength !== undefined ? d.byteLength
          : (d && d.size !== undefined ? d.size : String(d).length);
      });
    }
  };
  new MutationObserver((records) => { M.n += records.length; M.last = now(); })
    .observe(document, {childList: true, subtree: true, characterData: true, attributes: true});
})();"""

# The reply observer (notes §5.3): Enter, first token visible, last token visible, and the next paint of each.
# args: [firstMarker, finalMarker]. The reply is the LAST chat message once it contains firstMarker: GLM Chat
# draws a window of the newest messages, so the new bubble's index is not "earlier messages + 1" there.
REPLY_OBSERVER_JS = r"""([firstMarker, finalMarker]) => {
  const now = () => performance.timeOrigin + performance.now();
  const T = window.__t = {enter: null, first: null, last: null, firstPaint: null, lastPaint: null,
                          updates: 0, lastLen: -1};
  window.__ws.mark = firstMarker; window.__ws.markAt = null;
  document.addEventListener('keydown', (e) => { if (e.key === 'Enter' && T.enter === null) T.enter = now(); }, true);
  let bubble = null;
  const check = () => {
    if (T.enter === null || T.last !== null) return;
    if (!bubble || !bubble.isConnected) {
      const msgs = document.querySelectorAll('[data-testid="stChatMessage"]');
      const lastMsg = msgs[msgs.length - 1];
      if (!lastMsg || !lastMsg.textContent.includes(firstMarker)) return;
      bubble = lastMsg;
    }
    const txt = bubble.textContent;
    const t = now();
    if (txt.length !== T.lastLen) { T.updates++; T.lastLen = txt.length; }
    if (T.first === null) { T.first = t; requestAnimationFrame(() => { T.firstPaint = now(); }); }
    if (txt.includes(finalMarker)) { T.last = t; requestAnimationFrame(() => { T.lastPaint = now(); }); }
  };
  new MutationObserver(check).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""

# The text of the reply: the Markdown container of chat message `index` whose text starts with `prefix`.
REPLY_TEXT_JS = r"""([index, prefix]) => {
  const msg = document.querySelectorAll('[data-testid="stChatMessage"]')[index];
  if (!msg) return null;
  for (const md of msg.querySelectorAll('[data-testid="stMarkdownContainer"]')) {
    if (md.textContent.startsWith(prefix)) return md.textContent;
  }
  return null;
}"""

STATE_JS = r"""() => ({now: performance.timeOrigin + performance.now(), ws: window.__ws, mut: window.__mut,
  state: (document.querySelector('[data-testid="stApp"]') || {dataset: {}}).dataset.testScriptState || null,
  messages: document.querySelectorAll('[data-testid="stChatMessage"]').length,
  input: !!document.querySelector('[data-testid="stChatInputTextArea"]')})"""


def launch(pw) -> Browser:
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@dataclass
class Frames:
    """WebSocket frames the browser's network stack received (CDP events, recorded in Python)."""

    n: int = 0
    bytes: int = 0

    def on_frame(self, payload) -> None:
        self.n += 1
        self.bytes += len(payload)

    def snapshot(self) -> tuple[int, int]:
        return self.n, self.bytes


@dataclass
class Tab:
    context: BrowserContext
    page: Page
    frames: Frames

    def close(self) -> None:
        try:
            self.context.close()
        except Exception:  # noqa: BLE001 - the browser may already be gone
            pass


def new_tab(browser: Browser) -> Tab:
    """A fresh context (so a fresh Streamlit session, no HTTP cache) with the instruments installed."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(INIT_JS)
    page = context.new_page()
    frames = Frames()
    page.on("websocket", lambda ws: ws.on("framereceived", frames.on_frame))
    return Tab(context, page, frames)


def state(page: Page) -> dict:
    return page.evaluate(STATE_JS)


def wait_idle(
    tab: Tab, *, quiet_ms: float = 400, timeout: float = 120.0, messages: int | None = None, since_ws: int | None = None
) -> dict:
    """Wait until the page has handled every WebSocket frame the network received, nothing arrived or
    changed in the DOM for quiet_ms, the script is not running and (optionally) `messages` chat bubbles
    are on the page and more than `since_ws` WebSocket messages were handled. Returns the last state."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = state(tab.page)  # evaluate also pumps Playwright's event queue, so frames.n is current
        except Exception:  # noqa: BLE001 - the document is still being replaced (a load just committed)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        last = max(s["ws"]["last"], s["mut"]["last"])
        ok = (
            s["ws"]["n"] >= tab.frames.n
            and s["now"] - last >= quiet_ms
            and s["state"] == "notRunning"
            and s["input"]
            and (messages is None or s["messages"] >= messages)
            and (since_ws is None or s["ws"]["n"] > since_ws)
        )
        if ok:
            return s
        if time.monotonic() > deadline:
            raise TimeoutError(f"page not idle after {timeout:.0f} s: {s}, network frames {tab.frames.n}")
        time.sleep(0.1)
