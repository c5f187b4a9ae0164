"""Browser: what a user of the best chat apps expects around the chat (issue 15).

One Stop for every kind of reply (Esc presses it) with the input usable meanwhile and only sending
waiting, the stopped mark at once, refused text kept in the input, dark mode from the browser's
preference, the demo taking images. At the desktop size and at a phone's 390×844.
"""

from __future__ import annotations

import io
import re

import pytest
from browser import (  # noqa: F401 - fixtures and helpers shared by the browser tests
    ARTIFACTS,
    MARKDOWN,
    attach,
    bubbles,
    caption,
    history_env,
    idle,
    keyed_app,
    offline_server,
    open_app,
    reply_body,
    send,
    sidebar,
    sim,
    sim_proc,
    stop_button,
    streamlit_app,
)
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from glmchat.chat.i18n import t

__all__ = ["sim_proc", "offline_server"]  # fixtures used via pytest, imported on purpose

EN = "en"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def app(sim_proc, tmp_path_factory):
    yield from keyed_app("ux", sim_proc, tmp_path_factory)


@pytest.fixture(params=["desktop", "phone"])
def viewport(request, page: Page) -> Page:
    page.set_viewport_size(PHONE if request.param == "phone" else DESKTOP)
    return page


def stopped_mark(bubble):
    return bubble.get_by_test_id("stCaptionContainer").filter(has_text=t("chat.stopped", EN))


def test_esc_stops_a_reply_and_its_mark_and_actions_show_at_once(viewport: Page, app, sim):
    page = viewport
    open_app(page, app.url)
    send(page, "long one sim:slow sim:tokens=60")
    bot = bubbles(page, "assistant").first
    expect(reply_body(bot).first).to_contain_text("tok3")
    expect(stop_button(page)).to_be_visible()
    box = page.get_by_test_id("stChatInputTextArea")
    box.press_sequentially("a draft")  # typing goes on while the reply streams

    page.keyboard.press("Escape")  # from inside the input, too
    # The mark and the reply's actions within a second, with no other click.
    expect(stopped_mark(bot)).to_be_visible(timeout=1_000)
    expect(bot.locator('[class*="st-key-regen-"]')).to_have_count(1, timeout=1_000)
    expect(stop_button(page)).to_have_count(0)
    assert "tok59" not in reply_body(bot).first.inner_text()
    stats = sim.wait_for(lambda s: s["open_streams"] == 0, timeout=2.0)
    assert stats["open_streams"] == 0, stats
    expect(box).to_have_value("a draft")


def test_text_typed_while_a_reply_streams_is_kept_and_only_sending_waits(viewport: Page, app, sim):
    page = viewport
    open_app(page, app.url)
    send(page, "long one sim:tokens=25 sim:rate=8")
    bot = bubbles(page, "assistant").first
    expect(reply_body(bot).first).to_contain_text("tok2")
    box = page.get_by_test_id("stChatInputTextArea")
    box.press_sequentially("the next question")
    box.press("Enter")  # too early: it stays in the box, and the reply goes on
    notice = page.get_by_test_id("stBottom").get_by_test_id("stAlert")
    expect(notice).to_contain_text(t("chat.held_back", EN)[:24])
    expect(box).to_have_value("the next question")
    expect(reply_body(bot).first).to_contain_text("tok24", timeout=20_000)  # not cut by the rerun
    expect(caption(bot, "25 out")).to_be_visible()
    assert not stopped_mark(bot).count()
    expect(notice).to_have_count(0)  # gone with the reply
    assert sim.stats()["attempts"] == 1
    box.press("Enter")  # now it goes
    expect(bubbles(page, "user")).to_have_count(2)
    expect(box).to_have_value("")
    assert sim.wait_for(lambda s: s["attempts"] == 2, timeout=5.0)["attempts"] == 2


def test_a_regenerated_reply_has_stop_and_the_input_stays_usable(viewport: Page, app, sim):
    page = viewport
    open_app(page, app.url)
    send(page, "first sim:tokens=3")
    bot = bubbles(page, "assistant").first
    expect(caption(bot, "3 out")).to_be_visible()
    idle(page)
    # The question asks for a slow reply now: regenerate sends it again.
    sim.reset()
    page.locator('[class*="st-key-edit-"]').first.get_by_role("button").click()
    box = page.locator('[class*="st-key-w_edit_"] textarea')
    box.fill("second sim:slow sim:tokens=60")
    page.get_by_role("button", name=t("chat.edit_send", EN)).click()  # an edit-and-resend is a reply too
    expect(stop_button(page)).to_be_visible()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_enabled()
    stop_button(page).click()
    expect(stopped_mark(bot)).to_be_visible(timeout=2_000)
    idle(page)

    page.locator('[class*="st-key-regen-"]').get_by_role("button").click()
    expect(stop_button(page)).to_be_visible()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_enabled()
    expect(reply_body(bubbles(page, "assistant").first).first).to_contain_text("tok2")
    stop_button(page).click()
    expect(stopped_mark(bubbles(page, "assistant").first)).to_be_visible(timeout=2_000)
    idle(page)
    expect(stop_button(page)).to_have_count(0)
    assert sim.wait_for(lambda s: s["open_streams"] == 0, timeout=2.0)["open_streams"] == 0


def test_a_refused_long_message_stays_in_the_input(viewport: Page, app, sim):
    page = viewport
    open_app(page, app.url)
    text = "长" * 21_000
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")
    warning = page.get_by_test_id("stBottom").get_by_test_id("stAlert")
    expect(warning).to_contain_text("20,000")
    expect(warning).to_be_in_viewport()  # beside the input, not at the top of the chat
    expect(box).to_have_value(text)  # to be shortened there, not typed again
    assert sim.stats()["attempts"] == 0
    expect(bubbles(page)).to_have_count(0)
    box.fill("short now sim:tokens=2")
    box.press("Enter")
    expect(reply_body(bubbles(page, "assistant").first).first).to_have_text("tok0 tok1")


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_the_theme_follows_the_browser(browser: Browser, app, scheme):
    context = browser.new_context(color_scheme=scheme, viewport=DESKTOP)
    try:
        page = open_app(context.new_page(), app.url)
        send(page, "hello sim:tokens=2")
        expect(reply_body(bubbles(page, "assistant").first).first).to_have_text("tok0 tok1")
        rgb = page.get_by_test_id("stApp").evaluate("e => getComputedStyle(e).backgroundColor")
        r, g, b = (int(v) for v in re.findall(r"\d+", rgb)[:3])
        light = (0.299 * r + 0.587 * g + 0.114 * b) / 255
        assert (light < 0.25) if scheme == "dark" else (light > 0.9), (scheme, rgb)
        text = bubbles(page, "assistant").first.locator(MARKDOWN).first
        fg = text.evaluate("e => getComputedStyle(e).color")
        r, g, b = (int(v) for v in re.findall(r"\d+", fg)[:3])
        assert abs((0.299 * r + 0.587 * g + 0.114 * b) / 255 - light) > 0.5, (rgb, fg)  # readable
        page.screenshot(path=str(ARTIFACTS / f"theme-{scheme}.png"))
    finally:
        context.close()


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def test_the_offline_demo_takes_an_image_and_marks_models_that_need_a_key(page: Page, offline_server):
    open_app(page, offline_server.url)
    attach(page, {"name": "red.png", "mimeType": "image/png", "buffer": png(64, 48)})
    send(page, "what is this?")
    bot = bubbles(page, "assistant").first
    # The simulator reads the image it was sent: a PNG goes as a PNG.
    expect(bot).to_contain_text("You sent 1 image: PNG 64×48.")
    idle(page)
    sidebar(page).get_by_role("combobox", name=t("side.model", EN)).click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    labels = options.all_inner_texts()  # those the list drew: it draws only what is in view
    assert len(labels) >= 3 and any("demo" in label.lower() for label in labels), labels
    needs = t("side.needs_key", EN).strip(" ·")
    assert not any(needs in label for label in labels if "demo" in label.lower()), labels
    assert all(needs in label for label in labels if "demo" not in label.lower()), labels


MAIN = '[data-testid="stAppScrollToBottomContainer"], [data-testid="stMain"]'


def scroll_top(page: Page) -> int:
    return page.evaluate(f"() => document.querySelector('{MAIN}').scrollTop")


def scroll_up(page: Page) -> None:
    """Scroll the chat to its top with the mouse wheel, as a reader does (Streamlit then stops following)."""
    box = page.locator(MAIN).first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 200)
    for _ in range(10):
        page.mouse.wheel(0, -2000)
    page.wait_for_function(f"() => document.querySelector('{MAIN}').scrollTop === 0")


def test_the_view_follows_what_is_sent_and_jumps_to_the_newest(viewport: Page, app, sim):
    page = viewport
    open_app(page, app.url)
    for i in range(4):  # a page taller than the window
        send(page, f"q{i} sim:slow sim:tokens=40 sim:rate=400")
        expect(reply_body(bubbles(page, "assistant").nth(i)).first).to_contain_text("tok39")
        idle(page)
    scroll_up(page)
    jump = page.get_by_test_id("glmchatJumpToNewest")
    expect(jump).to_be_visible()  # the newest message is out of view
    assert jump.get_attribute("aria-label") == "Jump to the newest message"
    jump.click()
    expect(jump).to_be_hidden()
    expect(bubbles(page, "assistant").last).to_be_in_viewport()
    # The header (model line, New chat) stays in view at the bottom of a long chat.
    assert scroll_top(page) > 0
    expect(page.locator(".st-key-new-chat-top button")).to_be_in_viewport()
    expect(page.locator("main").get_by_text("GLM-4.5-Flash").first).to_be_in_viewport()

    scroll_up(page)
    expect(jump).to_be_visible()
    send(page, "scrolled up sim:tokens=60 sim:rate=20")  # sent while reading an older part
    question = bubbles(page, "user").last
    expect(question).to_contain_text("scrolled up")
    expect(question).to_be_in_viewport()
    expect(reply_body(bubbles(page, "assistant").last).first).to_contain_text("tok50")
    expect(reply_body(bubbles(page, "assistant").last).first).to_be_in_viewport()  # it followed the reply
    assert scroll_top(page) > 0


def test_focus_goes_where_the_user_types_next(page: Page, app, sim):
    open_app(page, app.url)
    send(page, "focus me sim:tokens=2")
    expect(reply_body(bubbles(page, "assistant").first).first).to_have_text("tok0 tok1")
    idle(page)
    page.locator('[class*="st-key-edit-"]').first.get_by_role("button").click()
    expect(page.locator('[class*="st-key-w_edit_"] textarea')).to_be_focused()
    page.get_by_role("button", name=t("history.cancel", EN)).click()
    idle(page)
    page.locator(".st-key-new-chat button").click()
    expect(bubbles(page)).to_have_count(0)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_focused()
    page.keyboard.press("Control+k")  # search
    expect(page.locator(".st-key-w_search input")).to_be_focused()


def test_on_a_phone_the_drawer_closes_after_a_choice_and_the_chat_has_a_header(page: Page, app, sim):
    page.set_viewport_size(PHONE)
    open_app(page, app.url)
    send(page, "phone chat sim:tokens=2")
    expect(reply_body(bubbles(page, "assistant").first).first).to_have_text("tok0 tok1")
    idle(page)
    line = page.locator("main").get_by_text("GLM-4.5-Flash").first
    expect(line).to_be_in_viewport()  # the model, where a phone can see it
    expect(page.locator(".st-key-new-chat-top button")).to_be_in_viewport()
    page.locator(".st-key-new-chat-top button").click()
    expect(bubbles(page)).to_have_count(0)
    idle(page)
    page.get_by_test_id("stExpandSidebarButton").click()
    side = page.get_by_test_id("stSidebar")
    conv = side.locator('[class*="st-key-conv-"] button').first
    expect(conv).to_be_in_viewport()
    conv.click()
    expect(bubbles(page)).to_have_count(2)
    expect(conv).not_to_be_in_viewport()  # the drawer closed
    header = page.locator(".st-key-chat-header")
    expect(header.locator("strong")).to_contain_text("phone chat")  # the header names the conversation
    expect(header).to_be_in_viewport()
    page.screenshot(path=str(ARTIFACTS / "phone-chat.png"))


# A row's font size and height, read from the page as it is now, not through a handle: a rerun may replace
# the row meanwhile (a replaced one measures nothing).
ROW_SIZE = """label => {
  for (const b of document.querySelectorAll('[data-testid="stSidebar"] [class*="st-key-conv-"] button')) {
    const h = Math.round(b.getBoundingClientRect().height);
    if (b.textContent.includes(label) && h) return [getComputedStyle(b.querySelector('p') || b).fontSize, h];
  }
}"""


def test_chinese_and_english_titles_in_the_list_are_the_same_size(page: Page, app, sim):
    open_app(page, app.url)
    for text in ("English title here sim:tokens=1", "中文标题在这里 sim:tokens=1"):
        page.locator(".st-key-new-chat button").click()
        idle(page)
        send(page, text)
        expect(caption(bubbles(page, "assistant").first, "tokens")).to_be_visible()
        idle(page)
    rows = sidebar(page).locator('[class*="st-key-conv-"] button')
    sizes = {}
    for label in ("English title", "中文标题"):
        expect(rows.filter(has_text=label).first).to_be_visible()
        sizes[label] = page.evaluate(ROW_SIZE, label)
    assert None not in sizes.values() and sizes["English title"] == sizes["中文标题"], sizes


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_model_and_web_search_are_in_view_with_a_full_list_of_chats(browser: Browser, sim, tmp_path, size):
    from browser import streamlit_app

    from glmchat.store import Store

    url = f"sqlite:///{tmp_path / 'many.db'}"
    store = Store(url)
    for i in range(30):
        store.create_conversation("local", f"conversation number {i}", "glm-4.5-flash", {})
    with streamlit_app("ux-many", history_env(sim, url)) as server:
        page = browser.new_page(viewport=size, locale="en-US")
        open_app(page, server.url)
        if size is PHONE:
            page.get_by_test_id("stExpandSidebarButton").click()
        side = sidebar(page)
        expect(side.locator('[class*="st-key-conv-"] button')).to_have_count(30)
        expect(side.get_by_role("combobox", name=t("side.model", EN))).to_be_in_viewport()
        expect(side.get_by_text(t("side.web_search", EN)).first).to_be_in_viewport()
        expect(side.locator('[class*="st-key-conv-"] button').nth(29)).not_to_be_in_viewport()  # a long list
        page.close()


def test_the_header_stays_while_a_reply_waits_for_its_first_token(viewport: Page, app, sim):
    page = viewport
    open_app(page, app.url)
    send(page, "first sim:tokens=2")
    expect(reply_body(bubbles(page, "assistant").first).first).to_have_text("tok0 tok1")
    idle(page)
    header = page.locator(".st-key-chat-header")
    send(page, "a slow start sim:ttft=3 sim:tokens=2")
    expect(stop_button(page)).to_be_visible()  # the reply is on its way, its first token is not
    for _ in range(10):  # it is drawn after the first token on this run; until then it keeps what it showed
        expect(header.locator(".st-key-new-chat-top button")).to_be_visible(timeout=1)
        expect(header.get_by_text("GLM-4.5-Flash")).to_be_visible(timeout=1)
        page.wait_for_timeout(150)
    assert not reply_body(bubbles(page, "assistant").nth(1)).count()  # still waiting: the check was in time
    expect(reply_body(bubbles(page, "assistant").nth(1)).first).to_have_text("tok0 tok1")
    expect(header.locator(".st-key-new-chat-top button")).to_be_visible()
