"""Browser end-to-end tests of saved history: reload, stop, kill, two visitors, two processes, History page.

Every test starts its own `streamlit run` process(es) on its own database: a SQLite file in a tmp dir, or
(test 5) a fresh PostgreSQL schema that is dropped afterwards. The GLM simulator process is shared.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import time

import pytest
import sqlalchemy as sa
from browser import (  # noqa: F401 - fixtures and helpers shared by the browser tests
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    MARKDOWN,
    Recorder,
    bubbles,
    caption,
    conversation_param,
    history_env,
    open_app,
    reply_body,
    send,
    sim,
    sim_proc,
    stop_button,
    streamlit_app,
    tokens,
)
from conftest import PG_URL, pg_url
from playwright.sync_api import Browser, Page, expect

from glmchat.chat.i18n import t
from glmchat.chat.saving import is_interrupted
from glmchat.store import Store

__all__ = ["sim_proc"]  # a fixture used via pytest, imported on purpose

CID = re.compile(r"[0-9a-f]{32}")
LOCAL = "local"  # the single owner of personal mode
EN = "en"

expect.set_options(timeout=15_000)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'history.db'}"


@pytest.fixture
def personal_app(sim, sqlite_url, request):
    """A fresh personal-mode app (owner "local") with the server key, on its own SQLite file."""
    with streamlit_app(f"history-{request.node.name}", history_env(sim, sqlite_url)) as app:
        yield app


def store_messages(url: str, cid: str, owner: str = LOCAL, **store_kwargs) -> list[dict]:
    store = Store(url, **store_kwargs)
    try:
        return store.messages(owner, cid)
    finally:
        store.close()


def new_reply(page: Page, n_prior: int = 0):
    """The assistant bubble of the reply to the message just sent after n_prior bubbles."""
    return bubbles(page).nth(n_prior + 1)


def wait_for_cid(page: Page) -> str:
    deadline = time.monotonic() + 10
    while (cid := conversation_param(page)) is None and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert cid is not None and CID.fullmatch(cid), f"no ?c=<id> in the URL: {page.url}"
    return cid


# -- 1. reload while the reply streams ---------------------------------------------------------------------


def test_reload_mid_stream_shows_the_saved_reply_growing(page: Page, personal_app, sim, sqlite_url):
    open_app(page, personal_app.url)
    send(page, "reload me sim:tokens=80 sim:rate=10")
    expect(reply_body(new_reply(page))).to_contain_text("tok10")
    cid = wait_for_cid(page)

    page.reload()
    page.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=30_000)
    assert conversation_param(page) == cid, page.url
    user = bubbles(page, "user")
    expect(user).to_have_count(1)
    expect(user.first.locator(MARKDOWN)).to_contain_text("reload me")
    bot = bubbles(page, "assistant")
    expect(bot).to_have_count(1)
    body = reply_body(bot.first)
    expect(body).to_contain_text(tokens(6))  # the saved partial, at once
    try:
        expect(body).to_contain_text("tok40")  # …still growing after the reload
    except AssertionError as exc:
        saved = store_messages(sqlite_url, cid)[-1]
        marks = bot.first.get_by_test_id("stCaptionContainer").all_inner_texts()
        raise AssertionError(
            f"the reply stopped growing after the reload: saved status={saved['status']!r}, saved text ends "
            f"{saved['content'][-12:]!r}, captions {marks}, simulator open streams "
            f"{sim.stats()['open_streams']}"
        ) from exc
    expect(body).to_have_text(tokens(80), timeout=20_000)
    expect(caption(bot.first, "tokens")).to_contain_text("80 out")  # final rerun: the usage line
    expect(caption(bot.first, t("chat.stopped", EN))).to_have_count(0)
    expect(caption(bot.first, t("chat.incomplete", EN))).to_have_count(0)

    saved = store_messages(sqlite_url, cid)
    assert [m["role"] for m in saved] == ["user", "assistant"], saved
    assert saved[1]["status"] == "done" and saved[1]["content"] == tokens(80), saved[1]


# -- 2. stop, then reload ----------------------------------------------------------------------------------


def test_stopped_reply_survives_a_reload(page: Page, personal_app, sqlite_url):
    open_app(page, personal_app.url)
    send(page, "stop me sim:slow sim:tokens=60")
    body = reply_body(new_reply(page))
    expect(body).to_contain_text("tok3")
    stop_button(page).click()
    expect(stop_button(page)).to_have_count(0)
    page.wait_for_timeout(1500)  # a reload within 1 s of Stop counts as a reload (streamlit_internals.page_closed)
    shown = body.inner_text()
    assert "tok59" not in shown
    cid = wait_for_cid(page)

    page.reload()
    page.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=30_000)
    assert conversation_param(page) == cid, page.url
    expect(bubbles(page, "user")).to_have_count(1)
    expect(bubbles(page, "user").first).to_contain_text("stop me")
    bot = bubbles(page, "assistant")
    expect(bot).to_have_count(1)
    expect(caption(bot.first, t("chat.stopped", EN))).to_be_visible()
    kept = reply_body(bot.first).inner_text()
    assert kept.startswith(shown) and "tok59" not in kept, (shown, kept)
    page.wait_for_timeout(1500)  # a stopped reply is not followed: it must not change
    assert reply_body(bot.first).inner_text() == kept

    saved = store_messages(sqlite_url, cid)
    assert [m["role"] for m in saved] == ["user", "assistant"], saved
    assert saved[1]["status"] == "stopped" and saved[1]["content"].strip() == kept, saved[1]


# -- 3. two visitors with their own keys (byok mode) ------------------------------------------------------

LEAK_OBSERVER_JS = """
(forbidden) => {
  const seen = window.__leaks = [];
  const check = () => {
    const text = document.documentElement ? document.documentElement.textContent : '';
    for (const word of forbidden) if (text.includes(word) && !seen.includes(word)) seen.push(word);
  };
  const start = () => {
    new MutationObserver(check).observe(document, {childList: true, subtree: true, characterData: true});
    check();
  };
  if (document.documentElement) start(); else document.addEventListener('DOMContentLoaded', start);
}
"""


def visitor_context(browser: Browser, browser_context_args: dict, forbidden: list[str]):
    """A fresh context whose every page records whether any forbidden text ever appears in it."""
    context = browser.new_context(**browser_context_args)
    context.add_init_script(f"({LEAK_OBSERVER_JS})({forbidden!r})".replace("'", '"'))
    return context


def enter_key(page: Page, key: str) -> None:
    sidebar = page.get_by_test_id("stSidebar")
    field = sidebar.get_by_role("textbox", name=t("side.key_field", EN))
    field.fill(key)
    field.press("Enter")
    # With a key the visitor has an owner: "History is not saved for this visit." goes away.
    expect(sidebar.get_by_text(t("history.off", EN))).to_have_count(0)


def test_two_visitors_never_see_each_other(browser: Browser, browser_context_args, sim, sqlite_url):
    tag = secrets.token_hex(3)
    a_word, b_word = f"Apricot{tag}", f"Blueberry{tag}"
    a_key, b_key = f"visitor-a-{tag}.KEYA", f"visitor-b-{tag}.KEYB"
    env = history_env(sim, sqlite_url, key=None, mode="byok")
    with streamlit_app("history-two-visitors", env) as app:
        ctx_a = visitor_context(browser, browser_context_args, [b_word, b_key])
        ctx_b = visitor_context(browser, browser_context_args, [a_word, a_key])
        rec_a, rec_b = Recorder(), Recorder()
        try:
            page_a, page_b = ctx_a.new_page(), ctx_b.new_page()
            open_app(page_a, app.url, rec_a)
            open_app(page_b, app.url, rec_b)
            enter_key(page_a, a_key)
            enter_key(page_b, b_key)

            send(page_a, f"{a_word} first visitor sim:tokens=3")
            expect(caption(new_reply(page_a), "tokens")).to_be_visible()
            cid_a = wait_for_cid(page_a)
            send(page_b, f"{b_word} second visitor sim:tokens=3")
            expect(caption(new_reply(page_b), "tokens")).to_be_visible()
            cid_b = wait_for_cid(page_b)
            assert cid_a != cid_b
            # A runs again after B's conversation exists: its sidebar list is drawn anew.
            send(page_a, f"{a_word} again sim:tokens=2")
            expect(caption(new_reply(page_a, 2), "tokens")).to_be_visible()

            for page, own, other in ((page_a, cid_a, cid_b), (page_b, cid_b, cid_a)):
                sidebar = page.get_by_test_id("stSidebar")
                expect(sidebar.locator(f".st-key-conv-{own}")).to_have_count(1)
                expect(sidebar.locator(f".st-key-conv-{other}")).to_have_count(0)
                expect(sidebar.locator("[class*='st-key-conv-']")).to_have_count(1)
            expect(page_a.get_by_test_id("stSidebar").locator(f".st-key-conv-{cid_a}")).to_contain_text(a_word)
            expect(page_b.get_by_test_id("stSidebar").locator(f".st-key-conv-{cid_b}")).to_contain_text(b_word)

            # B opens A's conversation by its URL (a new page: a new session, so B gives the key again).
            page_b2 = ctx_b.new_page()
            open_app(page_b2, f"{app.url}/?c={cid_a}", rec_b)
            enter_key(page_b2, b_key)
            expect(page_b2.get_by_test_id("stAlert").filter(has_text=t("history.not_found", EN))).to_be_visible()
            expect(bubbles(page_b2)).to_have_count(0)
            expect(page_b2.get_by_test_id("stSidebar").locator(f".st-key-conv-{cid_b}")).to_have_count(1)
            expect(page_b2.get_by_test_id("stSidebar").locator(f".st-key-conv-{cid_a}")).to_have_count(0)
            assert conversation_param(page_b2) != cid_a, page_b2.url
            page_b2.screenshot(path=str(ARTIFACTS / "two-visitors.png"), full_page=True)

            for page, other in ((page_a, b_word), (page_b, a_word), (page_b2, a_word)):
                assert other not in page.locator("body").inner_text()
                assert page.evaluate("window.__leaks") == [], f"{page.url} showed {page.evaluate('window.__leaks')}"
            assert rec_a.frames and rec_b.frames
            assert not [f for f in rec_a.frames if b_word in f or b_key in f], "A's session received B's data"
            assert not [f for f in rec_b.frames if a_word in f or a_key in f], "B's sessions received A's data"
        finally:
            ctx_a.close()
            ctx_b.close()


# -- 4. the server is killed while a reply streams ---------------------------------------------------------


def test_killed_server_leaves_an_incomplete_reply(browser: Browser, browser_context_args, sim, sqlite_url):
    env = history_env(sim, sqlite_url)
    with streamlit_app("history-killed", env) as first:
        context = browser.new_context(**browser_context_args)
        try:
            page = context.new_page()
            open_app(page, first.url)
            send(page, "kill the server sim:tokens=200 sim:rate=20")
            expect(reply_body(new_reply(page))).to_contain_text("tok20")
            cid = wait_for_cid(page)
            # Saves are throttled (0.5 s, ~10 tokens here): kill once tok0…tok10 are surely in the database.
            deadline = time.monotonic() + 10
            while "tok10 " not in store_messages(sqlite_url, cid)[-1]["content"] and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(first.proc.pid, signal.SIGKILL)
            first.proc.wait(10)
        finally:
            context.close()
    killed_at = time.monotonic()

    saved = store_messages(sqlite_url, cid)
    assert [m["role"] for m in saved] == ["user", "assistant"], saved
    partial = saved[1]["content"]
    assert saved[1]["status"] == "streaming" and partial.startswith(tokens(11)) and "tok199" not in partial, saved[1]

    with streamlit_app("history-restarted", env) as second:
        context = browser.new_context(**browser_context_args)
        try:
            page = context.new_page()
            open_app(page, f"{second.url}/?c={cid}")
            expect(bubbles(page, "user")).to_have_count(1)
            expect(bubbles(page, "user").first).to_contain_text("kill the server")
            bot = bubbles(page, "assistant")
            expect(bot).to_have_count(1)
            body = reply_body(bot.first)
            expect(body).to_contain_text(tokens(11))
            incomplete = caption(bot.first, t("chat.incomplete", EN))
            expect(incomplete).to_be_visible(timeout=25_000)
            waited = time.monotonic() - killed_at
            expect(body).to_have_text(partial.strip())  # what was saved before the kill, not a token more
            expect(caption(bot.first, t("chat.stopped", EN))).to_have_count(0)
            expect(caption(bot.first, "tokens")).to_have_count(0)  # no usage: the reply never finished
            page.wait_for_timeout(1500)  # the follower has stopped: nothing changes any more
            expect(incomplete).to_be_visible()
            expect(body).to_have_text(partial.strip())
            print(f"marked incomplete {waited:.1f} s after the kill")
        finally:
            context.close()

    store = Store(sqlite_url)
    try:
        conversation = store.conversation(LOCAL, cid)
        saved = store.messages(LOCAL, cid)
    finally:
        store.close()
    assert [m["role"] for m in saved] == ["user", "assistant"] and saved[1]["content"] == partial
    # Stored as it was left ("streaming"); readers tell it was interrupted from its age.
    assert is_interrupted(saved[1], conversation["updated_at"]), (saved[1]["status"], conversation["updated_at"])


# -- 5. two app processes on one PostgreSQL database ---------------------------------------------------------


@pytest.fixture
def pg_schema():
    """A fresh PostgreSQL schema, dropped afterwards; yields (app URL selecting it, schema name)."""
    admin = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3}, isolation_level="AUTOCOMMIT")
    schema = "t_browser_" + secrets.token_hex(5)
    try:
        with admin.connect() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is unreachable at {PG_URL} ({type(exc).__name__}); this test never skips", pytrace=False
        )
    try:
        yield pg_url(query={"options": f"-c search_path={schema}"}), schema
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


def test_two_processes_share_one_postgresql_database(browser: Browser, browser_context_args, sim, pg_schema):
    url, schema = pg_schema
    env = history_env(sim, url)
    with streamlit_app("history-pg-a", env) as app_a, streamlit_app("history-pg-b", env) as app_b:
        ctx_a = browser.new_context(**browser_context_args)
        ctx_b = browser.new_context(**browser_context_args)
        try:
            page_b = ctx_b.new_page()
            open_app(page_b, app_b.url)  # B is up and has drawn its (empty) list before A writes
            expect(page_b.get_by_test_id("stSidebar").locator("[class*='st-key-conv-']")).to_have_count(0)

            page_a = ctx_a.new_page()
            open_app(page_a, app_a.url)
            send(page_a, f"shared {schema} sim:tokens=5")
            expect(caption(new_reply(page_a), "tokens")).to_contain_text("5 out")
            cid = wait_for_cid(page_a)

            page_b.reload()
            page_b.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=30_000)
            item = page_b.get_by_test_id("stSidebar").locator(f".st-key-conv-{cid}")
            expect(item).to_have_count(1)
            expect(item).to_contain_text(f"shared {schema}"[:20])  # the row shows the title cut to its width

            page_b.goto(f"{app_b.url}/?c={cid}")
            page_b.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=30_000)
            expect(bubbles(page_b)).to_have_count(2)
            expect(bubbles(page_b, "user").first).to_contain_text(f"shared {schema} sim:tokens=5")
            expect(reply_body(bubbles(page_b, "assistant").first)).to_have_text(tokens(5))
            expect(caption(bubbles(page_b, "assistant").first, "tokens")).to_contain_text("5 out")
            assert conversation_param(page_b) == cid
        finally:
            ctx_a.close()
            ctx_b.close()

    saved = store_messages(PG_URL, cid, schema=schema)
    assert [(m["role"], m["content"]) for m in saved] == [
        ("user", f"shared {schema} sim:tokens=5"),
        ("assistant", tokens(5)),
    ], saved


# -- 6. the History page: search in Chinese, open ------------------------------------------------------------


def test_history_page_search_and_open(page: Page, personal_app):
    open_app(page, personal_app.url)
    send(page, "请解释量子纠缠 sim:tokens=3")
    expect(caption(new_reply(page), "tokens")).to_be_visible()
    quantum = wait_for_cid(page)
    page.get_by_test_id("stSidebar").get_by_role("button", name=t("side.new_chat", EN)).click()
    expect(bubbles(page)).to_have_count(0)
    send(page, "Explain photosynthesis briefly sim:tokens=3")
    expect(caption(new_reply(page), "tokens")).to_be_visible()
    english = wait_for_cid(page)
    assert english != quantum

    page.get_by_test_id("stSidebarNav").get_by_role("link", name=t("page.history", EN)).click()
    search = page.get_by_role("textbox", name=t("history.search", EN))
    expect(search).to_be_visible()
    expect(page.locator("[class*='st-key-open-']")).to_have_count(2)  # both chats listed before searching
    search.fill("量子")
    search.press("Enter")
    expect(page.get_by_text(t("history.count", EN, n=1), exact=True)).to_be_visible()
    opens = page.locator("[class*='st-key-open-']")
    expect(opens).to_have_count(1)
    expect(page.locator(f".st-key-open-{quantum}")).to_have_count(1)
    expect(page.get_by_role("main")).to_contain_text("请解释量子纠缠")
    expect(page.get_by_role("main")).not_to_contain_text("photosynthesis")
    page.screenshot(path=str(ARTIFACTS / "history.png"), full_page=True)

    opens.first.get_by_role("button").click()
    page.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=30_000)
    expect(bubbles(page)).to_have_count(2)
    expect(bubbles(page, "user").first).to_contain_text("请解释量子纠缠")
    expect(reply_body(bubbles(page, "assistant").first)).to_have_text(tokens(3))
    expect(page.get_by_role("main")).not_to_contain_text("photosynthesis")
    assert conversation_param(page) == quantum, page.url
    expect(page.get_by_test_id("stSidebar").locator(f".st-key-conv-{quantum}")).to_have_count(1)
