"""Browser end-to-end tests of chat features: image upload, web search sources, regenerate and edit,
the context meter, and copy. The same features are covered under AppTest in tests/ui/test_app_attachments.py
and tests/ui/test_app_actions.py; here they run in Debian's Chromium against a real `streamlit run` process
and the GLM simulator process.

One app server for the module, on its own SQLite file; each test gets a fresh browser context, hence a
fresh Streamlit session and a new conversation.
"""

from __future__ import annotations

import io
import re
from urllib.parse import urlsplit

import pytest
from browser import (  # noqa: F401 - fixtures and helpers shared by the browser tests
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    MARKDOWN,
    Recorder,
    attach,
    bubbles,
    caption,
    chat_hrefs,
    choose,
    context_meter,
    foreign,
    history_env,
    hrefs,
    idle,
    keyed_app,
    meter_tokens,
    open_app,
    reply_body,
    send,
    sidebar,
    sim,
    sim_proc,
    streamlit_app,
    tokens,
)
from PIL import Image
from playwright.sync_api import Page, expect

from glmchat.chat.i18n import t

__all__ = ["sim_proc"]  # a fixture used via pytest, imported on purpose

EN = "en"
VISION = "GLM-4.5V (vision, thinking)"
SMALL_WINDOW = "GLM-4-AirX"  # 8K context window, 4K max output

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def app(sim_proc, tmp_path_factory):
    yield from keyed_app("features", sim_proc, tmp_path_factory)


def png(w: int = 64, h: int = 48, color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def dialogs(page: Page) -> list[str]:
    """Record (and dismiss) every alert/confirm/prompt the page opens."""
    seen: list[str] = []

    def on_dialog(dialog) -> None:
        seen.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return seen


# -- 1. image upload -----------------------------------------------------------------------------------------


def test_image_upload_shows_a_thumbnail_and_sends_one_request(page: Page, app, sim):
    rec = Recorder()
    open_app(page, app.url, rec)
    choose(page, t("side.model", EN), VISION)
    expect(context_meter(page)).to_contain_text("/ 65.5K tokens")  # the model change has been run
    before = sim.stats()["requests"]

    attach(page, {"name": "red.png", "mimeType": "image/png", "buffer": png()})
    send(page, "what colour is this? sim:tokens=5")

    user = bubbles(page, "user")
    expect(user).to_have_count(1)
    expect(user.first.locator(MARKDOWN)).to_have_text("what colour is this? sim:tokens=5")
    thumb = user.first.get_by_test_id("stImage").locator("img")
    expect(thumb).to_have_count(1)
    expect(user.first.get_by_test_id("stImageCaption")).to_have_text("red.png")
    bot = bubbles(page, "assistant")
    expect(reply_body(bot.first)).to_have_text(tokens(5))
    expect(caption(bot.first, "tokens")).to_contain_text("5 out")
    idle(page)

    # The thumbnail is the uploaded picture, served by the app itself, and it loaded.
    src = urlsplit(thumb.evaluate("img => img.src"))
    assert src.scheme == "http" and src.netloc == urlsplit(app.url).netloc, src.geturl()
    assert src.path.startswith("/media/"), src.geturl()
    size = thumb.evaluate("img => img.complete ? [img.naturalWidth, img.naturalHeight] : null")
    assert size == [64, 48], f"thumbnail did not load as the 64x48 upload: {size}"
    assert any(urlsplit(u).path.startswith("/media/") for u in rec.requests), "the thumbnail was never fetched"

    stats = sim.stats()
    assert stats["requests"] == before + 1, f"not one upstream request: {before} -> {stats['requests']}"
    assert stats["attempts"] == 1, stats
    assert not foreign(rec.requests), foreign(rec.requests)
    page.screenshot(path=str(ARTIFACTS / "image.png"), full_page=True)


# -- 2. web search and its sources ---------------------------------------------------------------------------

CITATION = re.compile(r"^\[\d+\]$")
NEXT_ELEMENT = (
    "xpath=ancestor::*[@data-testid='stElementContainer'][1]/following-sibling::*[@data-testid='stElementContainer'][1]"
)


def check_chat_links(page: Page) -> list[str]:
    """Every link in the chat goes to an http(s) URL, apart from Streamlit's "#slug" heading permalinks."""
    links, anchors = chat_hrefs(page)
    assert links and all(h.lower().startswith(("https://", "http://")) for h in links), links
    assert all(re.fullmatch(r"#[\w-]+", h) for h in anchors), anchors
    return links


def test_web_search_shows_safe_numbered_sources(page: Page, app, sim):
    rec = Recorder()
    open_app(page, app.url, rec)
    alerts = dialogs(page)
    loaded = len(rec.requests)
    toggle = sidebar(page).get_by_role("switch", name=t("side.web_search", EN))
    sidebar(page).get_by_text(t("side.web_search", EN), exact=True).click()
    expect(toggle).to_be_checked()
    idle(page)

    send(page, "latest GLM news")
    bot = bubbles(page, "assistant").first
    expect(caption(bot, t("chat.sources", EN, n=5))).to_be_visible()
    expect(caption(bot, "tokens")).to_be_visible()
    idle(page)

    # Numbered citations in the answer: links whose text is [n], to the sources' https pages.
    links = bot.locator("a[href]")
    cites = [
        (a.inner_text().strip(), a.get_attribute("href")) for a in links.all() if CITATION.match(a.inner_text().strip())
    ]
    assert len(cites) >= 2, f"no numbered citation links in the answer: {hrefs(bot)}"
    for text, href in cites:
        assert re.fullmatch(r"https://[a-z]+\d\.example/article-\d", href), (text, href)

    # The Sources (5) list: five links, https on *.example hosts, opening in a new tab.
    listing = caption(bot, t("chat.sources", EN, n=5)).locator(NEXT_ELEMENT)  # the list drawn after it
    expect(listing.locator("ol")).to_have_count(1)
    expect(listing.locator("li")).to_have_count(5)
    items = listing.locator("a[href]")
    expect(items).to_have_count(5)
    for a in items.all():
        href = a.get_attribute("href")
        parts = urlsplit(href)
        assert parts.scheme == "https" and parts.hostname.endswith(".example"), href
        assert a.get_attribute("target") == "_blank", a.evaluate("a => a.outerHTML")
    assert len({urlsplit(a.get_attribute("href")).hostname for a in items.all()}) == 5
    check_chat_links(page)

    # Hostile sources: no live javascript:/data: link anywhere, nothing runs, nothing loads from elsewhere.
    send(page, "news sim:sources-hostile")
    bot = bubbles(page, "assistant").nth(1)
    expect(caption(bot, "tokens")).to_be_visible()
    expect(bot).to_contain_text("Hostile sources for testing")
    idle(page)
    everywhere = hrefs(page)
    safe = ("http:", "https:", "mailto:", "/", "#", "?")  # the sidebar's page links are relative
    bad = [h for h in everywhere if not h.strip().lower().startswith(safe)]
    assert not bad, f"live non-http links on the page: {bad}"
    assert not any(re.match(r"\s*(javascript|data|vbscript):", h, re.I) for h in everywhere), everywhere
    check_chat_links(page)
    assert "https://normal5.example/article-5" in check_chat_links(page)  # the one good source still links
    assert bot.locator("img").count() == 0, "the <img onerror> title became an element"
    assert page.evaluate("window.__pwned") is None
    assert not alerts, alerts
    elsewhere = foreign(rec.requests[loaded:])
    assert not elsewhere, f"the page contacted other hosts: {elsewhere}"
    page.screenshot(path=str(ARTIFACTS / "web-search.png"), full_page=True)


# -- 3. regenerate, then edit and resend: branches -----------------------------------------------------------


def key_of(locator, prefix: str) -> str:
    """The Streamlit key from a keyed element's st-key-<key> class."""
    m = re.search(rf"\bst-key-({re.escape(prefix)}\S+)", locator.get_attribute("class") or "")
    assert m, locator.get_attribute("class")
    return m.group(1)


def switch(bubble, direction: str) -> None:
    """Click ‹ ("prev") or › ("next") in a bubble's toolbar."""
    bubble.locator(f'[class*="st-key-branch-{direction}-"]').get_by_role("button").click()


def test_regenerate_and_edit_make_branches_the_switch_goes_between_them_and_a_reload_keeps_one(page: Page, app, sim):
    open_app(page, app.url)
    send(page, "first try sim:tokens=3")
    bot, user = bubbles(page, "assistant"), bubbles(page, "user")
    expect(reply_body(bot.first)).to_have_text(tokens(3))
    regen = page.locator('[class*="st-key-regen-"]')
    expect(regen).to_have_count(1)
    old_key = key_of(regen, "regen-")
    idle(page)

    regen.get_by_role("button").click()  # Streamlit also keeps a hidden copy of the button
    expect(caption(bot.first, "2 / 2")).to_be_visible()  # drawn with the new answer's toolbar
    idle(page)
    expect(bot).to_have_count(1)
    expect(regen).not_to_have_class(re.compile(rf"\bst-key-{re.escape(old_key)}\b"))  # a new answer
    expect(reply_body(bot.first).first).to_have_text(tokens(3))
    expect(caption(bot.first, "tokens")).to_be_visible()
    assert sim.stats()["attempts"] == 2
    switch(bot.first, "prev")  # back to the first answer: no request
    expect(caption(bot.first, "1 / 2")).to_be_visible()
    expect(regen).to_have_class(re.compile(rf"\bst-key-{re.escape(old_key)}\b"))
    idle(page)

    page.locator('[class*="st-key-edit-"]').first.get_by_role("button").click()
    box = page.locator('[class*="st-key-w_edit_"] textarea')
    expect(box).to_have_value("first try sim:tokens=3")
    box.fill("edited sim:tokens=4")
    page.get_by_role("button", name=t("chat.edit_send", EN)).click()

    # Until the run is over, the edit form's elements may linger (stale) beside the new ones.
    expect(caption(bot.first, "4 out")).to_be_visible()
    idle(page)
    expect(user).to_have_count(1)
    expect(user.first.locator(MARKDOWN).first).to_have_text("edited sim:tokens=4")
    expect(caption(user.first, "2 / 2")).to_be_visible()  # the edit beside the question it replaced
    expect(bot).to_have_count(1)
    expect(reply_body(bot.first)).to_have_text(tokens(4))
    expect(page.locator('[class*="st-key-w_edit_"]')).to_have_count(0)
    assert sim.stats()["attempts"] == 3

    switch(user.first, "prev")  # the first question, with its answers
    expect(user.first.locator(MARKDOWN).first).to_have_text("first try sim:tokens=3")
    expect(caption(user.first, "1 / 2")).to_be_visible()
    expect(reply_body(bot.first).first).to_have_text(tokens(3))
    expect(bot.first.locator('[class*="st-key-branch-"]')).to_have_count(2)  # its answers' ‹ ›
    idle(page)
    page.screenshot(path=str(ARTIFACTS / "branches.png"), full_page=True)
    # A reload (the URL keeps ?c=) opens the branch shown.
    page.reload()
    expect(user.first.locator(MARKDOWN).first).to_have_text("first try sim:tokens=3")
    expect(caption(user.first, "1 / 2")).to_be_visible()
    expect(caption(bubbles(page, "assistant").first, " / 2")).to_be_visible()
    assert sim.stats()["attempts"] == 3  # switching and reloading asked nothing


# -- 4. the context meter ------------------------------------------------------------------------------------

LONG = "word " * 1600  # 8,000 characters: 1,600 tokens as the (simulated) API counts, 2,000 by the app's estimate


def test_context_meter_grows_and_old_turns_are_left_out(page: Page, app, sim):
    open_app(page, app.url)
    choose(page, t("side.model", EN), SMALL_WINDOW)
    meter = context_meter(page)
    expect(meter).to_contain_text("/ 8.2K tokens")  # the model change has been run
    sidebar(page).get_by_test_id("stExpander").filter(has_text=t("side.settings", EN)).locator("summary").click()
    max_tokens = sidebar(page).get_by_role("spinbutton", name=t("side.max_tokens", EN))
    max_tokens.fill("4096")
    max_tokens.press("Enter")
    expect(max_tokens).to_have_value("4096")
    idle(page)

    dropped = page.get_by_test_id("stCaptionContainer").filter(has_text=t("chat.not_sent", EN))
    texts = [meter.inner_text()]
    for n, word in enumerate(("one", "two", "three"), start=1):
        send(page, f"{word} {LONG} sim:tokens=2")
        expect(reply_body(bubbles(page, "assistant").nth(n - 1))).to_have_text(tokens(2))
        if n < 3:  # the third turn pushes older ones out: the meter may read the same as before
            expect(meter).not_to_have_text(texts[-1])
        idle(page)
        texts.append(meter.inner_text())
        if n < 3:
            expect(dropped).to_have_count(0)
            # Redrawn after the reply: the API's count of this turn (prompt + answer) is what the next
            # request starts from, so the meter shows it, not the estimate from before the reply.
            usage = caption(bubbles(page, "assistant").nth(n - 1), "tokens").inner_text()
            total = int(re.search(r"(\d+) tokens", usage).group(1))
            assert abs(meter_tokens(texts[-1]) - total) <= 50, f"meter one turn behind: {texts[-1]!r} vs {usage!r}"
    print("context meter:", texts)
    seen = [meter_tokens(text) for text in texts]
    assert seen[0] < seen[1] < seen[2], f"the meter did not grow with each long message: {texts}"
    assert seen[1] >= 1600 and seen[2] >= 3200, texts  # the API's own count: 1,600 tokens a message
    assert seen[3] <= 8192 - 4096, f"the meter counts more than the request may send: {texts}"

    expect(dropped.first).to_be_visible()
    summarise = page.locator(".st-key-summarise button")
    expect(summarise).to_have_text(re.compile(r"Summarise the \d+ older messages and keep them as context"))
    n = int(re.search(r"\d+", summarise.inner_text()).group())
    expect(dropped).to_have_count(n)
    expect(
        sidebar(page).get_by_test_id("stCaptionContainer").filter(has_text=t("side.context_trimmed", EN, n=n))
    ).to_be_visible()
    assert sim.stats()["attempts"] == 3
    summarise.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "context.png"), full_page=True)


def test_context_meter_counts_the_reply_just_streamed(page: Page, app, sim):
    """After a long answer the meter includes it: the next request carries it (regression: the meter was
    drawn before the reply and stayed one turn behind until the next rerun)."""
    open_app(page, app.url)
    meter = context_meter(page)
    before = meter.inner_text()
    send(page, "a long answer please sim:tokens=800")
    bot = bubbles(page, "assistant").first
    expect(caption(bot, "800 out")).to_be_visible()
    idle(page)
    usage = caption(bot, "800 out").inner_text()
    total = int(re.search(r"(\d+) tokens", usage).group(1))
    shown = meter_tokens(meter.inner_text())
    assert abs(shown - total) <= 50, f"meter {meter.inner_text()!r} (was {before!r}) vs reply usage {usage!r}"


# -- 5. copy -------------------------------------------------------------------------------------------------


def copied(page: Page, bubble) -> str:
    """Click the bubble's Copy once: a ✓ shows, the source box stays hidden; the clipboard's text."""
    page.evaluate("navigator.clipboard.writeText('')")
    bubble.locator('[class*="st-key-copy-"]').get_by_role("button").click()
    expect(page.get_by_test_id("glmchatCopied")).to_have_text("✓ Copied")
    expect(bubble.locator('[class*="st-key-copysrc-"]')).to_be_hidden()
    text = page.evaluate("navigator.clipboard.readText()")
    expect(page.get_by_test_id("glmchatCopied")).to_have_count(0, timeout=3_000)
    return text


def test_copy_takes_one_click_and_copies_the_exact_markdown(page: Page, app, sim):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_app(page, app.url)
    question = "**bold** and `code` sim:tokens=3"
    send(page, question)
    bot = bubbles(page, "assistant").first
    expect(reply_body(bot)).to_have_text(tokens(3))
    expect(caption(bot, "tokens")).to_be_visible()
    idle(page)

    assert copied(page, bot) == tokens(3)
    # The user's message: its Markdown source, not the rendered text.
    user = bubbles(page, "user").first
    expect(user.locator("strong")).to_have_text("bold")
    idle(page)
    assert copied(page, user) == question
