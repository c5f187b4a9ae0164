"""Browser tests of the reply-first run (glmchat.ui.later): the reply's first token leaves before the history
and the sidebar are sent again, and the page never shows them missing or twice, even after a Stop.
"""

from __future__ import annotations

import base64

from browser import (  # noqa: F401
    Recorder,
    app_server,
    bubbles,
    idle,
    open_app,
    send,
    sidebar,
    sim,  # noqa: F401 - fixture
    sim_proc,
    stop_button,
)
from playwright.sync_api import Page, expect

from glmchat.chat.i18n import t

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


# Shown by the app when it drew the rest of the page before the first token because the model kept it waiting
# (turn.QUIET_EVERY): a run the app saw as slow, which a busy machine can make of any reply.
WAITING = t("chat.waiting", "en", s="").split("…")[0]

# Whether the empty-chat hint left the page before the reply's text came: set at the first DOM change that
# removed the hint, from what the page held at that moment (the order of events, not their timing).
HINT_JS = """
([hints, answer]) => {
  const W = window.__hint = {goneBeforeAnswer: null};
  const check = () => {
    if (W.goneBeforeAnswer !== null) return;
    const text = document.body.textContent;
    if (hints.some(h => text.includes(h))) return;
    const bubbles = [...document.querySelectorAll('[data-testid="stChatMessage"]')];
    W.goneBeforeAnswer = !bubbles.some(b => b.textContent.includes(answer));
  };
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
        ".trim().split(/\\s+/)[0])"
    )


def test_the_reply_goes_before_the_history_and_the_page_never_loses_it(page: Page, app_server, sim):
    rec = Recorder()
    open_app(page, app_server.url, rec)
    chat(page, ["alpha", "bravo", "charlie"])
    selects = sidebar(page).get_by_test_id("stSelectbox").count()
    assert selects >= 1  # the model at least (the language is behind the settings control)
    page.evaluate(WATCH_JS)
    # The order is the app's for a reply it saw come promptly. When it saw the model keep it waiting, it drew
    # the history first on purpose and said so on the page (WAITING): that run is not the case in point, so
    # the question is asked again (an event the app reports, not a duration the test measures).
    asked: list[str] = []
    for word in ("delta", "echo", "foxtrot"):
        start = len(rec.frames)
        send(page, f"ask-{word} {say(f'answer-{word}')}")
        expect(bubbles(page).nth(7 + 2 * len(asked))).to_contain_text(f"answer-{word}")
        idle(page)
        asked.append(word)
        frames = rec.frames[start:]
        reply = next(i for i, f in enumerate(frames) if f"answer-{word}" in f and f"ask-{word}" not in f)
        history = next(i for i, f in enumerate(frames) if "answer-alpha" in f)
        slow = any(WAITING in f for f in frames[:reply])
        if not slow:
            break
    assert not slow, (
        f"the app saw each of {len(asked)} replies come late (it showed {WAITING!r}) and drew the "
        "history first; the reply-first order was never tried"
    )
    assert reply < history, f"the first token (frame {reply}) waited for the history (frame {history})"
    watch = page.evaluate("window.__watch")
    assert watch["minBubbles"] >= 6, f"earlier messages vanished during the run: {watch}"
    assert watch["maxBubbles"] <= 6 + 2 * len(asked), f"messages were shown twice during the run: {watch}"
    assert watch["minSelects"] == selects, f"the sidebar lost widgets during the run: {watch}"
    assert texts(page) == [
        "ask-alpha",
        "answer-alpha",
        "ask-bravo",
        "answer-bravo",
        "ask-charlie",
        "answer-charlie",
    ] + [x for w in asked for x in (f"ask-{w}", f"answer-{w}")]
    # The sidebar's widgets are the same ones, not new ones with defaults: the model is still chosen.
    assert sidebar(page).get_by_test_id("stSelectbox").count() == selects


def test_stop_before_the_first_token_keeps_the_page(page: Page, app_server, sim):
    open_app(page, app_server.url)
    chat(page, ["alpha", "bravo"])
    selects = sidebar(page).get_by_test_id("stSelectbox").count()
    page.evaluate(WATCH_JS)
    # The first token is 600 s away: the Stop comes before it however busy the machine is.
    send(page, "ask-slow sim:ttft=600 sim:tokens=3")
    stop = stop_button(page)
    stop.click()  # as soon as it shows: usually before the history is re-sent
    expect(stop).to_have_count(0)
    idle(page)
    # The app's handling of the Stop is over when the input takes text again (README: about a second after
    # the Stop); anything the finished run removes is gone by then.
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_enabled(timeout=30_000)
    idle(page)
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
    page.evaluate(HINT_JS, [[t("chat.empty", "en"), t("chat.empty", "zh")], "answer-first"])
    send(page, f"first {say('answer-first')} sim:ttft=3")
    expect(bubbles(page)).to_have_count(2)
    expect(hint).to_have_count(0)
    expect(bubbles(page).nth(1)).to_contain_text("answer-first", timeout=60_000)
    expect(hint).to_have_count(0)
    # Gone while the reply still waited: when the hint left, the page held no answer yet.
    assert page.evaluate("window.__hint.goneBeforeAnswer") is True
