"""Browser: the current catalogue as a user sees it (issue 16): today's models in the picker, cached tokens
in the usage line with their lower cost, a custom model id whose cost is unknown, and how each way a reply
can end is said."""

from __future__ import annotations

import io
import re

import pytest
from browser import (  # noqa: F401 - fixtures and helpers shared by the browser tests
    SimServer,
    bubbles,
    caption,
    choose,
    history_env,
    idle,
    keyed_app,
    open_app,
    reply_body,
    send,
    sidebar,
    sim,
    sim_proc,
    streamlit_app,
)
from playwright.sync_api import Page, expect

from glmchat.chat.catalogue import load
from glmchat.chat.i18n import t

__all__ = ["sim_proc"]

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def models_db(tmp_path_factory) -> str:
    """The SQLite file of the module's app (as browser.keyed_app makes it), for tests that put chats in it."""
    return f"sqlite:///{tmp_path_factory.mktemp('models') / 'glmchat.db'}"


@pytest.fixture(scope="module")
def app(sim_proc, models_db):
    with streamlit_app("models", history_env(sim_proc, models_db)) as server:
        yield server


CUSTOM = "glm-5.3"  # glm-api.md §12 lists it as unconfirmed: not in the catalogue


@pytest.fixture(scope="module")
def custom_app(tmp_path_factory):
    """The app on a simulator of its own, in this process so that it can be taught a model the catalogue
    does not list (the shared one refuses unknown ids, as the API does)."""
    from glmsim import simulator

    assert CUSTOM not in load().ids()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(simulator, "KNOWN_MODELS", simulator.KNOWN_MODELS | {CUSTOM})
        mp.setitem(simulator.MODEL_LIMITS, CUSTOM, (131072, 4096))
        server, _ = simulator.Simulator().serve("127.0.0.1", 0)
        root = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield from keyed_app("custom", SimServer(f"{root}/api/paas/v4", root), tmp_path_factory)
        finally:
            server.shutdown()


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
        ("sim:tokens=20 sim:network_error", "error.model_error", True),
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
        expect(bot.get_by_role("button", name=t("chat.retry", "en"), exact=True)).to_be_visible()
        idle(page)
    expect(bubbles(page, "assistant").last.get_by_test_id("stAlert")).to_contain_text("brand_new_reason")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_content_filter_is_named_and_what_it_stopped_is_withdrawn(page: Page, app, sim, lang):
    open_app(page, app.url)
    if lang == "zh":
        sidebar(page).get_by_text(t("side.settings", "en")[:8]).first.click()
        choose(page, t("side.language", "en"), "中文")
    send(page, "tell me sim:tokens=20 sim:rate=5 sim:sensitive")
    bot = bubbles(page, "assistant").last
    expect(reply_body(bot).first).to_contain_text("tok0")  # shown while it streamed
    expect(bot.get_by_test_id("stAlert")).to_contain_text(t("error.filtered", lang)[:20])
    expect(reply_body(bot)).to_have_count(0)  # then withdrawn, as the API asks (glm-api.md §15)
    assert "tok0" not in bot.inner_text()
    assert t("error.policy", lang)[:12] not in bot.inner_text()  # not the refusal of a question
    expect(bot.get_by_role("button", name=t("chat.retry", lang), exact=True)).to_be_visible()
    idle(page)


def test_a_full_context_window_offers_summarise_and_retry_which_does_both(page: Page, app, sim):
    open_app(page, app.url)
    send(page, "an earlier question sim:tokens=3")
    expect(reply_body(bubbles(page, "assistant").last).first).to_have_text("tok0 tok1 tok2")
    idle(page)
    before = sim.stats()["attempts"]
    send(page, "a long one sim:tokens=20 sim:context_exceeded")
    bot = bubbles(page, "assistant").last
    expect(bot.get_by_test_id("stAlert")).to_contain_text(t("error.context_full", "en")[:30])
    expect(reply_body(bot).first).to_contain_text("tok9")  # the partial answer is kept
    idle(page)
    bot.get_by_role("button", name=t("chat.summarise_retry", "en")).click()
    # The earlier exchange is summarised (its summary shown on top), then the question is asked again.
    expect(page.get_by_text(t("chat.summary", "en"))).to_be_visible()
    sim.wait_for(lambda s: s["attempts"] >= before + 3, timeout=15)
    idle(page)
    assert sim.stats()["attempts"] == before + 3  # the question, the summary, the retry
    expect(bubbles(page, "user")).to_have_count(2)  # the retry replaced the failed reply, nothing stacked
    expect(bubbles(page, "assistant")).to_have_count(2)


def test_reopened_chats_on_a_deprecated_and_a_retired_model_say_so_and_send_where_they_should(
    page: Page, app, models_db, sim
):
    """The browser side of tests/ui/test_app_models.py's two tests of a reopened chat (English only)."""
    from glmchat.store import Store

    store = Store(models_db)
    old = store.create_conversation("local", "a glm-4 chat", "glm-4", {})  # deprecated, still answered
    gone = store.create_conversation("local", "a glm-4-0520 chat", "glm-4-0520", {})  # retired
    catalogue = load()
    picker = sidebar(page).get_by_role("combobox", name=t("side.model", "en"))

    # The deprecated model: kept, said to be deprecated (with its price), and answering.
    open_app(page, f"{app.url}/?c={old}")
    glm4 = catalogue.get("glm-4")
    price = f"¥{glm4.price_in:g}/{glm4.price_out:g}"  # after its marks (🔎)
    shown = re.escape(f"GLM-4 · {t('side.deprecated', 'en')} ") + ".*" + re.escape(price)
    expect(picker).to_have_value(re.compile("^" + shown))
    send(page, "still there? sim:tokens=2")
    bot = bubbles(page, "assistant").last
    expect(reply_body(bot).first).to_have_text("tok0 tok1")
    expect(caption(bot, "tokens")).to_have_text(re.compile(r"^glm-4 · "))
    assert [a["model"] for a in sim.stats()["asked"]] == ["glm-4"]
    idle(page)

    # The retired one: said so, with the model the chat now uses, which is the one asked.
    page.goto(f"{app.url}/?c={gone}")
    page.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=30_000)
    expect(picker).to_have_value(re.compile("^" + re.escape(f"GLM-4-0520 · {t('side.retired', 'en')}")))
    default = catalogue.default
    note = t("side.retired_note", "en", old="GLM-4-0520", new=default.label("en"))
    expect(sidebar(page).get_by_test_id("stAlert").filter(has_text=note)).to_be_visible()
    send(page, "hello again sim:tokens=2")
    bot = bubbles(page, "assistant").last
    expect(reply_body(bot).first).to_have_text("tok0 tok1")
    expect(caption(bot, "tokens")).to_have_text(re.compile("^" + re.escape(f"{default.id} · ")))
    assert [a["model"] for a in sim.stats()["asked"]] == ["glm-4", default.id]  # never glm-4-0520
    idle(page)


def test_a_custom_model_id_is_answered_and_its_cost_said_unknown(page: Page, custom_app):
    open_app(page, custom_app.url)  # personal mode, from this machine: custom ids are offered
    sidebar(page).get_by_text(t("side.settings", "en")[:8]).first.click()
    field = sidebar(page).get_by_role("textbox", name=t("side.custom_model", "en"))
    field.fill(CUSTOM)
    field.press("Enter")
    idle(page)
    send(page, "hi sim:tokens=2")
    bot = bubbles(page, "assistant").last
    expect(reply_body(bot).first).to_have_text("tok0 tok1")
    line = caption(bot, "tokens")
    expect(line).to_contain_text(f"{CUSTOM} · ")
    expect(line).to_contain_text(t("usage.cost_unknown", "en"))
    assert "¥" not in line.inner_text()  # no price made up
    idle(page)


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
