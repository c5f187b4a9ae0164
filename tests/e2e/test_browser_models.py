"""Browser: the current catalogue as a user sees it (issue 16): today's models in the picker, cached tokens
in the usage line with their lower cost, and a custom model id whose cost is unknown."""

from __future__ import annotations

import io

import pytest
from browser import (  # noqa: F401 - fixtures and helpers shared by the browser tests
    bubbles,
    caption,
    choose,
    idle,
    keyed_app,
    open_app,
    reply_body,
    send,
    sidebar,
    sim,
    sim_proc,
)
from playwright.sync_api import Page, expect

from glmchat.chat.catalogue import load
from glmchat.chat.i18n import t

__all__ = ["sim_proc"]

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def app(sim_proc, tmp_path_factory):
    yield from keyed_app("models", sim_proc, tmp_path_factory)


def test_a_current_model_shows_cached_tokens_and_charges_them_less(page: Page, app, sim):
    open_app(page, app.url)
    choose(page, t("side.model", "en"), "GLM-4.7")
    send(page, "a long question asked before, and asked again " * 40 + "sim:tokens=4 sim:cached=300")
    bot = bubbles(page, "assistant").first
    expect(reply_body(bot).first).to_have_text("tok0 tok1 tok2 tok3")
    line = caption(bot, "cached")
    expect(line).to_contain_text("300 cached")
    text = line.inner_text()
    prompt = int(text.split(" in ·")[0].split("·")[-1].strip().replace(",", ""))
    shown = float(text.split("¥")[-1].split()[0])
    model = load().get("glm-4.7")
    assert shown == pytest.approx(model.cost(prompt, 4, 300), abs=0.00005)  # shown to 4 places
    assert model.cost(prompt, 4) - shown > 0.0004  # 300 tokens at 0.4 instead of 2 ¥ per million
    assert sim.stats()["attempts"] == 1
    idle(page)
    # The sidebar's picker lists today's models, the GLM-5 family first.
    box = sidebar(page).get_by_role("combobox", name=t("side.model", "en"))
    box.click()
    names = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    assert [n.split()[0] for n in names[1:4]] == ["GLM-5.2", "GLM-5.1", "GLM-5"], names
    assert not any("GLM-4V-Plus" in n for n in names)


def test_each_finish_reason_is_said_with_the_partial_text_kept(page: Page, app, sim):
    open_app(page, app.url)
    send(page, "write a lot sim:tokens=20 sim:length")
    bot = bubbles(page, "assistant").last
    expect(reply_body(bot).first).to_contain_text("tok9")
    expect(caption(bot, t("chat.truncated", "en")[:12])).to_be_visible()
    idle(page)
    bot.get_by_role("button", name=t("chat.continue", "en")).click()  # asks for the rest
    expect(bubbles(page, "user").last).to_contain_text(t("chat.continue_prompt", "en"))
    expect(caption(bubbles(page, "assistant").last, "tokens")).to_be_visible()
    idle(page)

    cases = [
        ("sim:tokens=20 sim:context_exceeded", "error.context_full", True),
        ("sim:tool_calls", "error.tool_call", False),
        ("sim:tokens=20 sim:finish=brand_new_reason", "error.odd_finish", True),
    ]
    for trigger, key, partial in cases:
        send(page, f"case {trigger}")
        bot = bubbles(page, "assistant").last
        alert = bot.get_by_test_id("stAlert")
        expect(alert).to_contain_text(t(key, "en")[:30])
        if partial:
            expect(reply_body(bot).first).to_contain_text("tok0")
        idle(page)
    expect(bubbles(page, "assistant").last.get_by_test_id("stAlert")).to_contain_text("brand_new_reason")


def test_a_vision_reply_without_box_markers_a_scaled_image_said_and_the_effort_choice(page: Page, app, sim):
    from browser import attach
    from PIL import Image

    def png(width: int, height: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (width, height), (40, 90, 200)).save(buf, "PNG")
        return buf.getvalue()

    open_app(page, app.url)
    choose(page, t("side.model", "en"), "GLM-4.6V")
    attach(page, {"name": "wide.png", "mimeType": "image/png", "buffer": png(3000, 100)})
    send(page, "what is in it sim:box sim:think sim:reasoning_tokens")
    bot = bubbles(page, "assistant").last
    expect(bot).to_contain_text("You sent 1 image: PNG 2048×68.")
    assert "begin_of_box" not in bot.inner_text() and "end_of_box" not in bot.inner_text()
    expect(caption(bot, "thinking")).to_be_visible()  # the reasoning tokens in the usage line
    user = bubbles(page, "user").last
    expect(user).to_contain_text(t("attach.note_scaled", "en", w=2048, h=68))
    idle(page)
    # GLM-5.2 offers how hard it thinks, under the settings.
    choose(page, t("side.model", "en"), "GLM-5.2")
    sidebar(page).get_by_text(t("side.settings", "en")[:8]).first.click()
    expect(sidebar(page).get_by_role("combobox", name=t("side.effort", "en"))).to_be_visible()
