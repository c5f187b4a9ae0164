"""Browser end-to-end tests: the real app in Debian's Chromium, against the GLM simulator process.

Each test gets a fresh browser context (pytest-playwright's `page`), hence a fresh Streamlit session.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

from browser import (
    ARTIFACTS,
    MARKDOWN,
    SESSION_RECORD,
    STREAM_OBSERVER_JS,
    Recorder,
    app_server,
    bubbles,
    cold_app_server,
    foreign,
    has_line,
    idle,
    offline_server,
    open_app,
    send,
    sim,  # noqa: F401 - fixtures and helpers shared by the browser tests
    sim_proc,
    stop_button,
)
from conftest import CANARY_KEY
from playwright.sync_api import Page, expect

from glmchat.chat.catalogue import load
from glmchat.chat.i18n import t
from glmchat.ui.sidebar import model_label

__all__ = [
    "app_server",
    "cold_app_server",
    "offline_server",
    "sim_proc",
]  # fixtures used via pytest, imported on purpose

expect.set_options(timeout=15_000)


# -- tests -------------------------------------------------------------------------------------------------


def test_round_trip_streams_the_reply(page: Page, app_server, sim):
    open_app(page, app_server.url)
    page.evaluate(STREAM_OBSERVER_JS, 0)
    send(page, "Hello browser sim:tokens=30 sim:rate=15")  # 2 s: many 50 ms batches, even on a loaded box

    user, bot = bubbles(page).nth(0), bubbles(page).nth(1)
    expect(user.get_by_test_id("stChatMessageAvatarUser")).to_be_visible()
    expect(user.locator(MARKDOWN)).to_contain_text("Hello browser")
    expect(bot.get_by_test_id("stChatMessageAvatarAssistant")).to_be_visible()
    body = bot.locator(MARKDOWN).filter(has_text=re.compile(r"^tok0"))
    expected = " ".join(f"tok{i}" for i in range(30))
    expect(body).to_have_text(expected)

    usage = bot.get_by_test_id("stCaptionContainer").filter(has_text="first token")
    expect(usage).to_be_visible()
    expect(usage).to_contain_text("tokens")
    expect(usage).to_contain_text("30 out")

    obs = page.evaluate("window.__obs")
    assert obs["lengths"][-1] == len(expected), obs
    print(f"assistant text went through {len(obs['lengths'])} lengths: {obs['lengths']}")
    assert len(obs["lengths"]) > 3, f"the reply did not stream, text lengths seen: {obs['lengths']}"
    assert sim.stats()["attempts"] == 1
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)


def test_stop_keeps_partial_reply_and_closes_upstream(page: Page, app_server, sim):
    open_app(page, app_server.url)
    box = page.get_by_test_id("stChatInputTextArea")
    # sim:slow alone streams prose; with tokens=60 it streams tok0..tok59 at 0.2 s each.
    send(page, "long one sim:slow sim:tokens=60")
    bot = bubbles(page).nth(1)
    body = bot.locator(MARKDOWN).filter(has_text=re.compile(r"^tok0"))
    expect(body).to_contain_text("tok3")
    expect(box).to_be_enabled()  # typing goes on while a reply streams; only sending waits

    stop_button(page).click()
    expect(stop_button(page)).to_have_count(0)
    first = body.inner_text()
    time.sleep(1.0)
    second = body.inner_text()
    assert first == second, "the reply kept growing after Stop"
    assert "tok59" not in second

    stats = sim.wait_for(lambda s: s["open_streams"] == 0, timeout=2.0)
    assert stats["open_streams"] == 0, f"upstream stream still open 2 s after Stop: {stats}"
    assert stats["attempts"] == 1, stats
    expect(box).to_be_enabled()

    send(page, "next sim:tokens=3")
    msgs = bubbles(page)
    expect(msgs).to_have_count(4)
    expect(msgs.nth(3).locator(MARKDOWN).first).to_have_text("tok0 tok1 tok2")
    stopped = msgs.nth(1)
    expect(stopped.get_by_test_id("stCaptionContainer").filter(has_text=t("chat.stopped", "en"))).to_be_visible()
    kept = stopped.locator(MARKDOWN).filter(has_text=re.compile(r"^tok0")).inner_text()
    assert kept.startswith(second) and "tok59" not in kept, (second, kept)
    assert sim.stats()["attempts"] == 2

    # A double Enter sends once.
    sim.reset()
    box.fill("double enter sim:tokens=4")
    box.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(msgs).to_have_count(6)
    expect(msgs.nth(5).locator(MARKDOWN).first).to_have_text("tok0 tok1 tok2 tok3")
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    page.wait_for_timeout(500)  # room for a duplicate to show up, if there were one
    expect(bubbles(page, "user").filter(has_text="double enter")).to_have_count(1)
    expect(msgs).to_have_count(6)
    assert sim.stats()["attempts"] == 1


def test_hostile_reply_is_inert(page: Page, app_server, sim):
    rec = Recorder()
    open_app(page, app_server.url, rec)
    loaded = len(rec.requests)  # page load is checked in test_page_contacts_no_third_party
    send(page, "show me sim:html")
    bot = bubbles(page).nth(1)
    expect(bot).to_contain_text("The upgrade costs $5 per month.")  # a lone $ is not math
    expect(bot.get_by_test_id("stCaptionContainer").filter(has_text="first token")).to_be_visible()
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)

    assert page.evaluate("window.__pwned") is None
    hrefs = page.eval_on_selector_all(
        '[data-testid="stChatMessage"] a[href]', "els => els.map(a => a.getAttribute('href'))"
    )
    bad_links = [h for h in hrefs if not h.strip().lower().startswith(("http:", "https:", "mailto:"))]
    assert not bad_links, bad_links
    srcs = page.eval_on_selector_all('[data-testid="stChatMessage"] img', "els => els.map(i => i.src)")
    bad_imgs = [s for s in srcs if urlsplit(s).hostname != "127.0.0.1"]
    assert not bad_imgs, bad_imgs
    elsewhere = foreign(rec.requests[loaded:])
    assert not elsewhere, f"the reply made the page contact other hosts: {elsewhere}"

    expect(bot.get_by_text("<script>", exact=False).first).to_be_visible()
    code = bot.locator("pre code")
    expect(code).to_have_count(1)
    assert "<b>kept</b>" in code.inner_text()
    assert page.evaluate("window.__pwned") is None


def test_page_contacts_no_third_party(page: Page, app_server, sim):
    """Loading the app and chatting must not make the browser contact any other host."""
    rec = Recorder()
    open_app(page, app_server.url, rec)
    send(page, "hello sim:tokens=3")
    expect(bubbles(page).nth(1).get_by_test_id("stCaptionContainer").filter(has_text="tokens")).to_be_visible()
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    assert rec.requests, "no requests were recorded"
    elsewhere = foreign(rec.requests)
    assert not elsewhere, f"the page contacted other hosts: {elsewhere}"


def test_error_shows_message_and_retry(page: Page, app_server, sim):
    open_app(page, app_server.url)
    send(page, "sim:401")
    bot = bubbles(page).nth(1)
    alert = bot.get_by_test_id("stAlert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("The API key is invalid or expired")
    idle(page)
    # A bad key fails the same way again: no Retry (nor ↻) is offered for it.
    expect(bot.get_by_role("button", name=t("chat.retry", "en"))).to_have_count(0)
    expect(bot.get_by_role("button", name=t("chat.regenerate_short", "en"))).to_have_count(0)
    assert "Traceback" not in page.content()
    assert "Traceback" not in page.locator("body").inner_text()
    assert sim.stats()["attempts"] == 1  # an auth error is not retried behind the user's back

    send(page, "sim:500")  # a server error may pass: Retry is offered
    bot = bubbles(page).nth(3)
    expect(bot.get_by_test_id("stAlert")).to_be_visible(timeout=30_000)
    expect(bot.get_by_role("button", name=t("chat.retry", "en"))).to_be_visible()


def test_canary_key_never_reaches_browser_or_log(page: Page, app_server, sim):
    """Runs after the tests above: checks what they recorded as well as its own traffic."""
    rec = Recorder(bodies=True)  # this page's response bodies too; the earlier pages' frames via SESSION_RECORD
    since = len(app_server.log_text())
    open_app(page, app_server.url, rec)
    send(page, "canary sim:tokens=5")
    expect(bubbles(page).nth(1)).to_contain_text("tok4")
    send(page, "sim:401")
    expect(bubbles(page).nth(3).get_by_test_id("stAlert")).to_be_visible()
    page.get_by_test_id("stSidebar").get_by_text(t("side.settings", "en")).click()
    expect(page.get_by_test_id("stSidebar")).to_contain_text(t("side.key_set", "en"))
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)

    assert rec.frames, "no WebSocket frames were recorded"
    # The bodies read must include the page itself and the app's own endpoints, else the scan proves little.
    paths = {urlsplit(u).path for u, _ in rec.responses}
    assert "/" in paths and "/_stcore/host-config" in paths, sorted(paths)
    assert any(p.startswith("/media/") for p in paths), f"no /media/ body was read: {sorted(paths)}"
    assert not rec.never_read(), f"response bodies that could not be read: {rec.never_read()}"
    html = page.content()
    assert CANARY_KEY not in html
    leaks = [i for i, f in enumerate(SESSION_RECORD.frames) if CANARY_KEY in f]
    assert not leaks, f"{len(leaks)} of {len(SESSION_RECORD.frames)} WebSocket frames carry the key"
    # Also the key's distinctive middle part, in case it was cut or re-encoded.
    assert not any("SECRETcanary" in f for f in SESSION_RECORD.frames)
    for needle in (CANARY_KEY, "SECRETcanary"):
        assert not rec.bodies_with(needle), f"response bodies carry the key: {rec.bodies_with(needle)}"
    # The log holds the app's own line for each of this test's two requests, so the scan read real app output
    # (Streamlit's start banner alone would prove nothing).
    lines = app_server.request_lines(since, until=lambda ls: has_line(ls, status="error", http_status=401))
    assert has_line(lines, status="ok", completion_tokens=5), f"no request line for the reply: {lines}"
    assert has_line(lines, status="error", code="1002", http_status=401), f"no request line for the 401: {lines}"
    log = app_server.log_text()
    assert CANARY_KEY not in log and "SECRETcanary" not in log


def test_offline_demo_without_key(page: Page, offline_server):
    open_app(page, offline_server.url, Recorder())
    sidebar = page.get_by_test_id("stSidebar")
    model = sidebar.get_by_role("combobox", name=t("side.model", "en"))
    expect(model).to_have_value(model_label(load().offline, "en", has_key=False))
    expect(sidebar.get_by_role("textbox", name=t("side.key_field", "en"))).to_be_visible()  # no key configured
    notice = page.get_by_test_id("stAlert").filter(has_text="Offline demo")
    expect(notice).to_be_visible()

    send(page, "hello")
    bot = bubbles(page).nth(1)
    expect(bot.get_by_test_id("stExpander")).to_contain_text(t("chat.thinking", "en"), timeout=30_000)
    usage = bot.get_by_test_id("stCaptionContainer").filter(has_text="tokens")
    expect(usage).to_be_visible(timeout=30_000)
    expect(usage).to_contain_text("glm-offline-demo")
    assert bot.locator(MARKDOWN).last.inner_text().strip()
    page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)


def test_first_session_on_fresh_server_keeps_the_configured_model(page: Page, cold_app_server, sim):
    """The first visitor after a (re)start must get the configured model, like everyone else.

    Regression guard: while the chat page lived in a `pages/` folder next to app.py (Streamlit's legacy
    multipage folder) alongside st.navigation(), the first session on a fresh server got new element ids
    for its sidebar widgets on its second run; the model selectbox fell back to index 0, the offline demo,
    although a key was configured, and the first reply came from the in-process simulator.
    """
    default = load().default
    open_app(page, cold_app_server.url)
    model_box = page.get_by_test_id("stSidebar").get_by_role("combobox", name=t("side.model", "en"))
    expect(model_box).to_have_value(model_label(default, "en", has_key=True))
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    send(page, "first visitor sim:tokens=3")
    bot = bubbles(page).nth(1)
    expect(bot.get_by_test_id("stCaptionContainer").filter(has_text="tokens")).to_be_visible()
    expect(model_box).to_have_value(model_label(default, "en", has_key=True))
    expect(bot.get_by_test_id("stCaptionContainer").filter(has_text="tokens")).to_contain_text(default.id)
    expect(page.get_by_test_id("stAlert").filter(has_text="Offline demo")).to_have_count(0)
    assert sim.stats()["attempts"] == 1, "the reply did not come from the configured API"
