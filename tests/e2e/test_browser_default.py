"""Browser: with no access setting at all, a shared URL shows no visitor anyone else's chats or the host's key.

Visitors "from elsewhere" open http://<name>.glmchat.test:<port> (Chromium maps the name to the loopback
server, tests/browser.py): to the app they arrive as a public host name behind a proxy or tunnel would.
The machine's own user opens http://127.0.0.1:<port>.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from browser import (  # noqa: F401 - fixtures, found by pytest by name
    CANARY_KEY,
    VISITOR_DOMAIN,
    Recorder,
    bubbles,
    conversation_param,
    history_env,
    idle,
    open_app,
    send,
    sidebar,
    sim,  # noqa: F401 - fixtures and helpers shared by the browser tests
    sim_proc,
    streamlit_app,
)  # noqa: F401
from playwright.sync_api import Browser, Page, expect

from glmchat.chat.i18n import t

EN = "en"


def as_visitor(url: str, name: str) -> str:
    """The app's URL as a visitor from elsewhere types it."""
    return f"http://{name}.{VISITOR_DOMAIN}:{urlsplit(url).port}"


def visitor_page(browser: Browser, browser_context_args) -> tuple[Page, Recorder]:
    page = browser.new_context(**{**browser_context_args, "locale": "en-US"}).new_page()
    rec = Recorder()
    rec.attach(page)
    return page, rec


def type_key(page: Page, key: str) -> None:
    field = sidebar(page).get_by_role("textbox", name=t("side.key_field", EN))
    field.fill(key)
    field.press("Enter")
    idle(page)


def chat(page: Page, text: str) -> None:
    send(page, text)
    expect(bubbles(page, "assistant").last).to_contain_text("tok1", timeout=30_000)
    idle(page)


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'glmchat.db'}"


def test_two_visitors_with_their_own_keys_see_only_their_own_chats(
    browser: Browser, browser_context_args, sim, sqlite_url
):
    env = history_env(sim, sqlite_url, key=None, mode="")  # nothing configured: no key, no access mode
    with streamlit_app("default-two-visitors", env) as app:
        ann, ann_rec = visitor_page(browser, browser_context_args)
        bob, bob_rec = visitor_page(browser, browser_context_args)
        open_app(ann, as_visitor(app.url, "ann"))
        open_app(bob, as_visitor(app.url, "bob"))
        type_key(ann, "ann-own-key")
        type_key(bob, "bob-own-key")
        chat(ann, "Ann's secret plan sim:tokens=2")
        chat(bob, "Bob's travel notes sim:tokens=2")
        ann_chat = conversation_param(ann)
        assert ann_chat and conversation_param(bob) and ann_chat != conversation_param(bob)
        # Each sidebar lists their own conversation and not the other's.
        expect(sidebar(ann).get_by_text("Ann's secret plan").first).to_be_visible()  # the long title has a tooltip copy
        expect(
            sidebar(bob).get_by_text("Bob's travel notes").first
        ).to_be_visible()  # the long title has a tooltip copy
        ann.reload()
        ann.get_by_test_id("stChatInputTextArea").wait_for(timeout=30_000)
        type_key(ann, "ann-own-key")
        expect(sidebar(ann).get_by_text("Ann's secret plan").first).to_be_visible()  # the long title has a tooltip copy
        idle(ann)
        expect(sidebar(ann).get_by_text("Bob's travel notes")).to_have_count(0)
        expect(sidebar(bob).get_by_text("Ann's secret plan")).to_have_count(0)
        # Bob opening Ann's conversation by its id is told it does not exist.
        bob.goto(as_visitor(app.url, "bob") + f"/?c={ann_chat}")
        bob.get_by_test_id("stChatInputTextArea").wait_for(timeout=30_000)
        type_key(bob, "bob-own-key")
        expect(bob.get_by_text(t("history.not_found", EN))).to_be_visible()
        idle(bob)
        # ... and neither his pages nor his WebSocket frames ever carried Ann's words.
        assert not any("Ann's secret plan" in f for f in bob_rec.frames)
        assert not any("Bob's travel notes" in f for f in ann_rec.frames)
        # The History and Usage pages (same session, through the app's navigation) show only his own.
        for page_name in ("page.history", "page.usage"):
            bob.get_by_test_id("stSidebarNav").get_by_role("link", name=t(page_name, EN)).click()
            expect(bob.get_by_role("heading", name=t(page_name, EN))).to_be_visible(timeout=30_000)
            idle(bob)
            expect(bob.get_by_test_id("stMain").get_by_text("Ann's secret plan")).to_have_count(0)
        expect(bob.get_by_test_id("stMain")).not_to_contain_text("Ann")
        assert not any("Ann's secret plan" in f for f in bob_rec.frames)
        # The machine's own user sees neither visitor's chats.
        local, local_rec = visitor_page(browser, browser_context_args)
        open_app(local, app.url)
        idle(local)
        assert not any("Ann's secret plan" in f or "Bob's travel notes" in f for f in local_rec.frames)
        assert sim.stats()["requests"] == 2  # no host key exists: both went out on the visitors' own keys


def test_the_hosts_key_serves_only_the_machines_own_browser(browser: Browser, browser_context_args, sim, sqlite_url):
    # The host's key in the environment, a spending limit, no access mode.
    env = {**history_env(sim, sqlite_url, mode=""), "GLMCHAT_LIMIT_CNY_DAY": "5"}
    with streamlit_app("default-host-key", env) as app:
        eve, eve_rec = visitor_page(browser, browser_context_args)
        open_app(eve, as_visitor(app.url, "eve"))
        # From elsewhere: no host key, said so beside the key field, and the offline demo answers.
        expect(sidebar(eve).get_by_text(t("side.elsewhere", EN))).to_be_visible()
        expect(eve.get_by_text(re.compile(re.escape(t("demo.notice", EN)[:30])))).to_be_visible()
        send(eve, "spend the host's money sim:tokens=2")
        expect(bubbles(eve, "assistant").last).not_to_be_empty(timeout=30_000)
        idle(eve)
        assert sim.stats()["requests"] == 0  # the demo runs in-process: nothing reached the host's upstream
        # The machine's own user gets the host's key and the local history.
        local, _ = visitor_page(browser, browser_context_args)
        open_app(local, app.url)
        chat(local, "the host's own question sim:tokens=2")
        assert sim.stats()["requests"] == 1
        assert not any(CANARY_KEY in f for f in eve_rec.frames)
        # The host key's day totals are the host's: the visitor's Usage page does not show them.
        for page, shows in ((eve, False), (local, True)):
            page.get_by_test_id("stSidebarNav").get_by_role("link", name=t("page.usage", EN)).click()
            expect(page.get_by_role("heading", name=t("page.usage", EN))).to_be_visible(timeout=30_000)
            idle(page)
            expect(page.get_by_text(t("usage.host_today", EN))).to_have_count(1 if shows else 0)
