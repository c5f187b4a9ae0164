"""Browser: share links (GLMCHAT_SHARE_LINKS). A link made from a conversation's ⋯ menu shows another visitor
the snapshot and nothing else (no history, no chat input, no costs, nothing of the owner's other chats in the
page or the WebSocket); "Continue this chat" copies it into the visitor's own chats; a revoked link reads as
one that never existed. The shared page is inert under the XSS corpus, and two replicas behind nginx serve
the same link the same way.

Visitors "from elsewhere" open http://<name>.glmchat.test:<port> (tests/browser.py); in personal mode each
types their own key, and the key names their history.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
import xss_corpus as corpus
from browser import (  # noqa: F401 - fixtures, found by pytest by name
    ARTIFACTS,
    VISITOR_DOMAIN,
    Recorder,
    bubbles,
    caption,
    conversation_param,
    history_env,
    idle,
    open_app,
    send,
    sidebar,
    sim,
    sim_proc,
    streamlit_app,
)
from playwright.sync_api import Browser, Page, expect
from replicas import pg_database, replica_set
from test_browser_default import type_key, visitor_page
from test_replicas import Client
from test_security_browser import (  # noqa: F401 - the XSS checks and their fixtures (context, tab)
    Tab,
    assert_inert,
    context,
    import_file,
    imported_ids,
    keyed_sim,
    tab,
    visible,
)
from test_security_browser import open_app as open_tab

from glmchat.chat import conversation as conv
from glmchat.chat.catalogue import load
from glmchat.chat.i18n import t
from glmchat.store import Store
from glmchat.store.schema import conversations

__all__ = ["context", "keyed_sim", "pg_database", "sim_proc", "tab"]  # fixtures used via pytest

EN = "en"
LOCAL = "local"  # the owner of personal mode's own user, and of everyone in shared mode
LINK = re.compile(r"http://[^\s/]+/shared\?s=[A-Za-z0-9_-]{32}")
NOT_FOUND = t("share.not_found", EN)

expect.set_options(timeout=20_000)


# -- helpers -------------------------------------------------------------------------------------------------


def as_visitor(url: str, name: str) -> str:
    """The address as a visitor from elsewhere types it (same path and query, another host name)."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"{name}.{VISITOR_DOMAIN}:{parts.port}").geturl()


def chat(page: Page, text: str) -> str:
    """Send text, wait for the whole reply; return the conversation's id."""
    n = bubbles(page).count()
    send(page, text)
    expect(bubbles(page, "assistant").nth(n // 2)).to_contain_text("tok0 tok1", timeout=30_000)
    idle(page)
    expect(page).to_have_url(re.compile(r"[?&]c=[0-9a-f]{32}"))
    return conversation_param(page)


def open_link(page: Page, link: str) -> None:
    """Load a share link: its page shows a title (the snapshot's, or the page's own when not found)."""
    page.goto(link)
    expect(page.get_by_test_id("stMain").get_by_role("heading").first).to_be_visible(timeout=30_000)
    idle(page)


def share_from_menu(page: Page, cid: str) -> str:
    """The row's ⋯ menu, Share…: returns the link the dialog shows (the dialog stays open)."""
    sidebar(page).locator(f".st-key-w_row_{cid}").get_by_role("button").click()
    page.get_by_text(t("history.share", EN), exact=True).click()
    dialog = page.get_by_role("dialog")
    code = dialog.get_by_test_id("stCode")
    expect(code).to_contain_text("/shared?s=")
    idle(page)
    return code.inner_text().strip()


def go(page: Page, name: str) -> None:
    """A page of the app through its own navigation (the same session: a typed key stays)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=t(name, EN)).click()
    if name == "page.chat":  # the chat has no heading of its own
        expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=30_000)
    else:
        expect(page.get_by_role("heading", name=t(name, EN))).to_be_visible(timeout=30_000)
    idle(page)


def shared_title(db_url: str, token: str) -> str | None:
    """The title of the snapshot behind token, as the store reads it; None when there is none."""
    store = Store(db_url)
    try:
        found = store.shared(token)
    finally:
        store.close()
    return None if found is None else found["title"]


def main_text(page: Page) -> str:
    return page.get_by_test_id("stMain").inner_text()


def assert_not_found(page: Page) -> None:
    expect(page.get_by_test_id("stAlert").get_by_test_id("stMarkdownContainer")).to_have_text(NOT_FOUND)
    expect(bubbles(page)).to_have_count(0)
    expect(page.get_by_role("button", name=t("share.continue", EN))).to_have_count(0)


# -- 1. a link, another visitor, continue, revoke ------------------------------------------------------------


def test_a_link_opened_by_another_visitor_shows_the_snapshot_and_nothing_else_and_revoked_is_not_found(
    browser: Browser, browser_context_args, sim, tmp_path
):
    db_url = f"sqlite:///{tmp_path / 'glmchat.db'}"
    env = {**history_env(sim, db_url, key=None, mode=""), "GLMCHAT_SHARE_LINKS": "anyone"}
    private = f"Ann-private-{secrets.token_hex(4)}"
    with streamlit_app("shares-two-visitors", env) as app:
        ann, _ = visitor_page(browser, browser_context_args)
        open_app(ann, as_visitor(app.url, "ann"))
        type_key(ann, "ann-own-key")
        shared_cid = chat(ann, "Ann's shared question sim:tokens=2")
        ann.get_by_role("button", name=t("side.new_chat", EN)).first.click()
        expect(bubbles(ann)).to_have_count(0)
        idle(ann)
        private_cid = chat(ann, f"{private} sim:tokens=3")
        assert private_cid != shared_cid
        expect(sidebar(ann).locator(f".st-key-conv-{private_cid}")).to_be_visible()

        link = share_from_menu(ann, shared_cid)
        ann.screenshot(path=str(ARTIFACTS / "share-dialog.png"), full_page=True)
        assert LINK.fullmatch(link), link
        assert urlsplit(link).netloc == urlsplit(as_visitor(app.url, "ann")).netloc  # the address Ann typed
        token = link.rsplit("=", 1)[1]
        assert shared_title(db_url, token).startswith("Ann's shared question")
        ann.keyboard.press("Escape")
        expect(ann.get_by_role("dialog")).to_have_count(0)
        idle(ann)

        # Bob opens it: the snapshot, with its model and time, and nothing else.
        bob, bob_rec = visitor_page(browser, browser_context_args)
        bob_link = as_visitor(link, "bob")
        open_link(bob, bob_link)
        main = bob.get_by_test_id("stMain")
        expect(main.get_by_role("heading", name="Ann's shared question")).to_be_visible()
        expect(main.get_by_text(re.compile(r"^A read-only copy, shared \d{4}-\d\d-\d\d \d\d:\d\d\.$"))).to_be_visible()
        expect(bubbles(bob)).to_have_count(2)
        expect(bubbles(bob, "user")).to_have_count(1)
        expect(bubbles(bob, "user").first).to_contain_text("Ann's shared question")
        answer = bubbles(bob, "assistant").first
        expect(answer).to_contain_text("tok0 tok1")
        model = load().default_id
        expect(caption(answer, model)).to_have_text(re.compile(rf"^{re.escape(model)} · \d{{4}}-\d\d-\d\d \d\d:\d\d$"))
        bob.screenshot(path=str(ARTIFACTS / "shared.png"), full_page=True)
        expect(bob.get_by_test_id("stChatInput")).to_have_count(0)
        expect(sidebar(bob).locator('[class*="st-key-conv-"]')).to_have_count(0)  # no conversation list
        expect(bob.locator("body")).not_to_contain_text(private)
        expect(bob.locator("body")).not_to_contain_text("¥")
        # Without a key Bob has no history here: nothing to continue into, until he types his own key on
        # the link's page (it has no sidebar).
        expect(bob.get_by_role("button", name=t("share.continue", EN))).to_have_count(0)
        expect(bob.get_by_text(t("share.key_to_continue", EN))).to_be_visible()
        field = bob.get_by_test_id("stMain").get_by_role("textbox", name=t("side.key_field", EN))
        field.fill("bob-own-key")
        field.press("Enter")
        idle(bob)
        assert urlsplit(bob.url).path == "/shared" and f"s={token}" in bob.url, bob.url
        expect(sidebar(bob).locator('[class*="st-key-conv-"]')).to_have_count(0)
        bob.get_by_role("button", name=t("share.continue", EN)).click()
        expect(bob.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=30_000)
        idle(bob)
        expect(bubbles(bob)).to_have_count(2)
        expect(bubbles(bob, "user").first).to_contain_text("Ann's shared question")
        copy = conversation_param(bob)
        assert copy and copy != shared_cid
        mine = sidebar(bob).locator(f".st-key-conv-{copy}")
        expect(mine).to_contain_text("Ann's shared question")
        expect(sidebar(bob).locator('[class*="st-key-conv-"]')).to_have_count(1)
        assert chat(bob, "Bob goes on sim:tokens=2") == copy
        expect(bubbles(bob)).to_have_count(4)
        assert sim.stats()["requests"] == 3  # Ann's two, Bob's one: the copy needed no model request
        # Nothing of Ann's other chat reached Bob, in any page or frame.
        assert not any(private in f for f in bob_rec.frames)
        assert any("Ann's shared question" in f for f in bob_rec.frames)  # (the frames are recorded)
        # Back returns to the link and its snapshot (it used to land on /shared?c=<copy>: "not found").
        bob.go_back()
        expect(main.get_by_role("heading", name="Ann's shared question")).to_be_visible()
        idle(bob)
        assert urlsplit(bob.url).path == "/shared" and parse_qs(urlsplit(bob.url).query) == {"s": [token]}, bob.url
        expect(bob.get_by_role("button", name=t("share.continue", EN))).to_be_visible()

        # The machine's own user has saved history from the start (personal mode): the link shows none of it.
        local, local_rec = visitor_page(browser, browser_context_args)
        open_app(local, app.url)
        type_key(local, "local-own-key")
        chat(local, "Local-own-chat sim:tokens=2")
        expect(sidebar(local).locator('[class*="st-key-conv-"]')).to_have_count(1)
        open_link(local, f"{app.url}/shared?s={token}")
        expect(bubbles(local)).to_have_count(2)
        expect(local.get_by_role("button", name=t("share.continue", EN))).to_be_visible()  # who has history
        expect(sidebar(local).locator('[class*="st-key-conv-"]')).to_have_count(0)
        expect(local.locator("body")).not_to_contain_text("Local-own-chat")
        expect(local.get_by_test_id("stChatInput")).to_have_count(0)
        assert not any(private in f for f in local_rec.frames)

        # Ann revokes it on the History page.
        go(ann, "page.history")
        ann.get_by_test_id("stExpander").filter(has_text=t("share.links", EN)).locator("summary").click()
        revoke = ann.locator(f".st-key-revoke-{token} button")
        expect(revoke).to_be_visible()
        idle(ann)
        revoke.click()
        expect(revoke).to_have_count(0)
        idle(ann)
        expect(ann.get_by_text(t("share.none", EN))).to_be_visible()
        assert shared_title(db_url, token) is None

        # Bob's link now reads exactly as one that never existed.
        open_link(bob, bob_link)
        assert_not_found(bob)
        revoked = main_text(bob)
        open_link(bob, as_visitor(f"{app.url}/shared?s={secrets.token_urlsafe(24)}", "bob"))
        assert_not_found(bob)
        assert main_text(bob) == revoked
        assert "Ann's shared question" not in revoked
        # Bob's copy is his own: revoking the link did not take it away.
        engine = sa.create_engine(db_url)
        try:
            with engine.connect() as c:
                held = c.execute(sa.select(sa.func.count()).where(conversations.c.id == copy)).scalar()
        finally:
            engine.dispose()
        assert held == 1


# -- 2. the shared page under the XSS corpus ------------------------------------------------------------------


@pytest.fixture(scope="module")
def xss_db(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shares-xss") / "glmchat.db"


@pytest.fixture(scope="module")
def xss_app(keyed_sim, xss_db):
    env = {**history_env(keyed_sim, f"sqlite:///{xss_db}"), "GLMCHAT_SHARE_LINKS": "anyone"}
    with streamlit_app("shares-xss", env) as server:
        yield server


def test_the_share_page_is_inert_under_the_xss_corpus(tab: Tab, xss_app, xss_db):
    open_tab(tab, xss_app.url)
    data = corpus.hostile_export()
    import_file(tab, data)
    first, big = imported_ids(xss_db, [c["title"] for c in data["conversations"]])
    store = Store(f"sqlite:///{xss_db}")
    try:
        tokens = [store.share(LOCAL, cid) for cid in (first, big)]
    finally:
        store.close()
    assert all(tokens), tokens

    since = len(tab.rec.requests)
    open_link(tab.page, f"{xss_app.url}/shared?s={tokens[0]}")
    expect(bubbles(tab.page)).to_have_count(2)
    user, answer = bubbles(tab.page).nth(0), bubbles(tab.page).nth(1)
    expect(user).to_contain_text(corpus.IMPORT_MARK)
    expect(answer).to_contain_text(corpus.IMPORT_MARK)
    expect(answer).to_contain_text(corpus.IMPORT_NEEDLE)
    assert_inert(tab, since)
    # The payloads reached the page as text, through the same renderer as the chat (KaTeX drew the math).
    assert "<img src=x onerror=" in visible(tab.page.get_by_test_id("stMain").get_by_role("heading").first)
    assert "<script>" in visible(user)
    assert answer.locator(".katex").count() > 0

    # The other one: a hostile title (link, directive, math) over 120 KB of nested brackets.
    open_link(tab.page, f"{xss_app.url}/shared?s={tokens[1]}")
    expect(bubbles(tab.page)).to_have_count(1)
    expect(bubbles(tab.page).first).to_contain_text(corpus.BIG_IMPORT_END, timeout=90_000)
    idle(tab.page, 90_000)
    # The link is dropped to its text and the colour directive stays literal.
    assert visible(tab.page.get_by_test_id("stMain").get_by_role("heading").first).startswith("Big x :red[y]")
    assert_inert(tab, since)


# -- 3. two replicas, one link --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def share_replicas(sim_proc, pg_database):
    """Two replicas (shared mode, owner "local") behind nginx with share links on, on a fresh database."""
    with replica_set(sim_proc, pg_database, "replicas-shares", {"GLMCHAT_SHARE_LINKS": "anyone"}) as started:
        yield started


def stored_chat(database_url: str, title: str) -> str:
    """A conversation with a question and its answer, written straight into the database; its token."""
    store = Store(database_url)
    try:
        model = load().default_id
        cid = store.create_conversation(LOCAL, title, model, {})
        question = conv.user_message(f"{title} question")
        question["parent"] = None
        store.save_message(LOCAL, cid, question)
        answer = conv.assistant_message(model, {})
        answer.update(content=f"{title} answer", status=conv.DONE, finish_reason="stop", parent=question["id"])
        store.save_message(LOCAL, cid, answer)
        token = store.share(LOCAL, cid)
    finally:
        store.close()
    assert token
    return token


def test_two_replicas_serve_the_same_link(browser: Browser, browser_context_args, share_replicas):
    title = f"Replicated{secrets.token_hex(3)}"
    token = stored_chat(share_replicas.database_url, title)
    link = f"{share_replicas.proxy_url}/shared?s={token}"
    clients = [
        Client(browser, browser_context_args, name, share_replicas.proxy_url, replica=addr)
        for name, addr in zip("ab", share_replicas.addrs, strict=True)
    ]
    try:
        pages = [c.context.new_page() for c in clients]
        shown = []
        for page in pages:
            open_link(page, link)
            expect(bubbles(page)).to_have_count(2)
            expect(bubbles(page, "assistant").first).to_contain_text(f"{title} answer")
            expect(page.get_by_test_id("stMain").get_by_role("heading", name=title)).to_be_visible()
            shown.append(main_text(page))
        assert shown[0] == shown[1], shown
        for client, addr in zip(clients, share_replicas.addrs, strict=True):
            served = [h for u, h in client.seen if urlsplit(u).path == "/shared"]
            assert served and set(served) == {addr}, f"{client.agent}: /shared came from {served}, not {addr}"
            assert {h for _, h in client.seen} == {addr}, client.seen

        store = Store(share_replicas.database_url)
        try:
            assert store.revoke(LOCAL, token)
        finally:
            store.close()
        for page in pages:
            open_link(page, link)
            assert_not_found(page)
        for client, addr in zip(clients, share_replicas.addrs, strict=True):
            assert {h for _, h in client.seen} == {addr}, client.seen
    finally:
        for client in clients:
            client.context.close()
