"""Browser tests of the sidebar's settings panel (a fragment): changing the model reruns only the panel,
unless the chat would look different, and the change is used by the next message.
"""

from __future__ import annotations

import base64

from browser import (  # noqa: F401
    Recorder,
    app_server,
    bubbles,
    choose,
    idle,
    open_app,
    send,
    sim,  # noqa: F401 - fixture
    sim_proc,
)
from playwright.sync_api import Page, expect

from glmchat.chat.catalogue import load
from glmchat.chat.i18n import t

expect.set_options(timeout=15_000)
EN = "en"


def say(text: str) -> str:
    return "sim:say=" + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_switching_the_model_reruns_only_the_panel_and_the_next_message_uses_it(page: Page, app_server, sim):
    rec = Recorder()
    open_app(page, app_server.url, rec)
    send(page, f"ask-alpha {say('answer-alpha')}")
    expect(bubbles(page).nth(1)).to_contain_text("answer-alpha")
    idle(page)
    start = len(rec.frames)
    choose(page, t("side.model", EN), load().get("glm-4-plus").label(EN))
    assert not page.get_by_test_id("stAlert").filter(has_text=t("demo.notice", EN)).count()
    send(page, "ask-bravo sim:tokens=2")
    expect(bubbles(page).nth(3).get_by_test_id("stCaptionContainer").filter(has_text="glm-4-plus")).to_be_visible()
    # The frames between the switch and the next message's run are the switch's own.
    frames = rec.frames[start:]
    switch = frames[: next(i for i, f in enumerate(frames) if "ask-bravo" in f)]
    assert switch, "the model switch sent nothing"
    assert not [f for f in switch if "answer-alpha" in f or "ask-alpha" in f], "the chat was sent again"


def test_switching_to_the_demo_reruns_the_page_for_its_notice(page: Page, app_server, sim):
    open_app(page, app_server.url)
    notice = page.get_by_test_id("stAlert").filter(has_text=t("demo.notice", EN))
    expect(notice).to_have_count(0)
    choose(page, t("side.model", EN), load().get(load().offline_id).label(EN))
    expect(notice).to_be_visible()  # the chat beside the panel changes, so the whole page reran
