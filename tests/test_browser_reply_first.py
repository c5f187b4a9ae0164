"""Browser tests of the reply-first run (glmchat.later): the reply's first token leaves before the history
and the sidebar are sent again, and the page never shows them missing or twice, even after a Stop.
"""
from __future__ import annotations

import base64

from playwright.sync_api import Page, expect

from glmchat.i18n import t

from browser import sim  # noqa: F401 - fixture
from browser import Recorder, app_server, bubbles, idle, open_app, send, sidebar, sim_proc  # noqa: F401

expect.set_options(timeout=15_000)

# In-page watch over every DOM change: the fewest and most chat bubbles and sidebar selectboxes seen.
WATCH_JS = """
() => {
  const W = window.__watch = {minBubbles: 1e9, maxBubbles: 0, minSelects: 1e9};
  const check = () => {
    const n = document.querySelectorAll('[data-testid="stChatMessage"]').length;
    const s = document.querySelectorAll('[data-testid="stSidebar"] [data-testid="stSelectbox"]').length;
    W.minBubbles = Math.min(W.minBubbles, n); W.maxBubbles = Math.max(W.maxBubbles, n);
    W.minSelects = Math.min(W.minSelects, s);
  };
  check();
  new MutationObserver(check).observe(document.body, {childList: true, subtree: true, characterData: true});
}
"""


def say(text: str) -> str:
    return "sim:say=" + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def chat(page: Page, words: list[str]) -> None:
    for i, word in enumerate(words):
        send(page, f"ask-{word} {say(f'answer-{word}')}")
        expect(bubbles(page).nth(2 * i + 1)).to_contain_text(f"answer-{word}")
        idle(page)


def texts(page: Page) -> list[str]:
    """The first word of each bubble's text."""
    return bubbles(page).evaluate_all(
        "els => els.map(e => (e.querySelector('[data-testid=stMarkdownContainer]')?.textContent || '')"
        ".trim().split(/\\s+/)[0])")


def test_the_reply_goes_before_the_history_and_the_page_never_loses_it(page: Page, app_server, sim):
    rec = Recorder()
    open_app(page, app_server.url, rec)
    chat(page, ["alpha", "bravo", "charlie"])
    selects = sidebar(page).get_by_test_id("stSelectbox").count()
    assert selects >= 2  # language and model at least
    page.evaluate(WATCH_JS)
    start = len(rec.frames)
    send(page, f"ask-delta {say('answer-delta')} sim:ttft=0.15")
    expect(bubbles(page).nth(7)).to_contain_text("answer-delta")
    idle(page)

    frames = rec.frames[start:]
    reply = next(i for i, f in enumerate(frames) if "answer-delta" in f and "ask-delta" not in f)
    history = next(i for i, f in enumerate(frames) if "answer-alpha" in f)
    assert reply < history, f"the first token (frame {reply}) waited for the history (frame {history})"
    watch = page.evaluate("window.__watch")
    assert watch["minBubbles"] >= 6, f"earlier messages vanished during the run: {watch}"
    assert watch["maxBubbles"] <= 8, f"messages were shown twice during the run: {watch}"
    assert watch["minSelects"] == selects, f"the sidebar lost widgets during the run: {watch}"
    assert texts(page) == ["ask-alpha", "answer-alpha", "ask-bravo", "answer-bravo", "ask-charlie",
                           "answer-charlie", "ask-delta", "answer-delta"]
    # The sidebar's widgets are the same ones, not new ones with defaults: the model is still chosen.
    assert sidebar(page).get_by_test_id("stSelectbox").count() == selects


def test_stop_before_the_first_token_keeps_the_page(page: Page, app_server, sim):
    open_app(page, app_server.url)
    chat(page, ["alpha", "bravo"])
    selects = sidebar(page).get_by_test_id("stSelectbox").count()
    page.evaluate(WATCH_JS)
    send(page, "ask-slow sim:ttft=5 sim:tokens=3")
    stop = page.get_by_test_id("stChatInputStopButton")
    stop.click()  # as soon as it shows: well before the first token, usually before the history is re-sent
    expect(stop).to_have_count(0)
    idle(page)
    page.wait_for_timeout(500)  # anything the finished run removes is gone by now
    assert texts(page)[:5] == ["ask-alpha", "answer-alpha", "ask-bravo", "answer-bravo", "ask-slow"]
    assert sidebar(page).get_by_test_id("stSelectbox").count() == selects
    watch = page.evaluate("window.__watch")
    assert watch["minBubbles"] >= 4 and watch["minSelects"] == selects, watch
    # The page still works: the next message gets its reply.
    send(page, f"ask-next {say('answer-next')}")
    expect(bubbles(page).last).to_contain_text("answer-next")


def test_the_empty_chat_hint_goes_as_soon_as_the_first_question_is_sent(page: Page, app_server, sim):
    open_app(page, app_server.url, Recorder())
    hint = page.get_by_text(t("chat.empty", "en")).or_(page.get_by_text(t("chat.empty", "zh")))
    expect(hint).to_be_visible()
    send(page, f"first {say('answer-first')} sim:ttft=3")
    expect(bubbles(page)).to_have_count(2)
    expect(hint).to_have_count(0)
    assert "answer-first" not in bubbles(page).nth(1).inner_text()  # gone while the reply still waits
    expect(bubbles(page).nth(1)).to_contain_text("answer-first")
    expect(hint).to_have_count(0)
