"""AppTest: the current catalogue on the page (issue 16): cached tokens in the usage line and its cost, a
custom model id that says its cost is unknown, deprecated models kept for the conversations that used them."""

from __future__ import annotations

import pytest
from apptest import new_app, send

from glmchat.chat import conversation as conv
from glmchat.chat.catalogue import load
from glmchat.chat.i18n import t
from glmchat.ui import chat_view, state


def msgs(at):
    return at.session_state[state.MESSAGES]


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_cached_tokens_show_in_the_usage_line_and_cost_less(app_env, lang):
    at = new_app(model="glm-4.7", lang=lang)
    send(at, "a question asked before, and again " * 3 + "sim:tokens=4 sim:cached=9")
    reply = msgs(at)[-1]
    usage = reply["meta"]["usage"]
    assert conv.cached_tokens(usage) == 9
    line = chat_view.usage_line(reply, lang)
    assert t("usage.cached", lang, n="9") in line and line in captions(at)
    model = load().get("glm-4.7")
    assert reply["meta"]["cost"] == pytest.approx(model.cost(usage["prompt_tokens"], 4, 9))
    assert reply["meta"]["cost"] < model.cost(usage["prompt_tokens"], 4)
    assert at.session_state[state.TOTALS].cost == pytest.approx(reply["meta"]["cost"])


def test_a_reply_without_cached_tokens_says_nothing_of_them(app_env):
    at = send(new_app(model="glm-4.7"), "hi sim:tokens=2")
    assert not any("cached" in c for c in captions(at))


def test_a_custom_model_id_works_and_says_its_cost_is_unknown(app_env):
    at = new_app(params_open=True)
    at.sidebar.text_input(key=state.CUSTOM_MODEL).input("glm-4-air-250414").run()  # not in the catalogue
    send(at, "hi sim:tokens=2")
    assert app_env.requests[-1]["model"] == "glm-4-air-250414"
    reply = msgs(at)[-1]
    assert reply["status"] == "done" and reply["meta"]["cost"] is None
    assert any(t("usage.cost_unknown", "en") in c for c in captions(at))


def test_deprecated_models_are_not_offered_but_a_conversation_that_used_one_keeps_it(app_env, db_url):
    at = new_app()
    options = at.sidebar.selectbox(key=state.MODEL).options
    labels = " ".join(options)
    assert "GLM-5.1" in labels and "GLM-4.7-Flash" in labels and "GLM-4.6V" in labels
    assert "GLM-4V-Plus" not in labels
    # A conversation saved with the deprecated model reopens with it.
    from glmchat.store import Store

    store = Store(db_url)
    cid = store.create_conversation("local", "old vision chat", "glm-4v-plus-0111", {})
    reopened = new_app(query={"c": cid})
    assert reopened.sidebar.selectbox(key=state.MODEL).value == "glm-4v-plus-0111"
    assert not reopened.exception


def test_glm_5_2_offers_reasoning_effort_and_sends_the_choice_only_while_thinking(app_env):
    at = new_app(model="glm-5.2", params_open=True)
    effort = at.sidebar.selectbox(key=state.EFFORT)
    assert effort.options == [t(f"side.effort_{e}", "en") for e in ("max", "high", "medium", "low", "none")]
    send(at, "how hard do you think sim:tokens=2")
    body = app_env.requests[-1]
    assert body["reasoning_effort"] == "max" and body["thinking"] == {"type": "enabled"}  # the default
    at.sidebar.selectbox(key=state.EFFORT).set_value("low").run()
    send(at, "a little less sim:tokens=2")
    assert app_env.requests[-1]["reasoning_effort"] == "low"
    at.sidebar.toggle(key=state.THINKING).set_value(False).run()
    assert not [s for s in at.sidebar.selectbox if s.key == state.EFFORT]  # no effort without thinking
    send(at, "no thinking sim:tokens=2")
    assert "reasoning_effort" not in app_env.requests[-1] and app_env.requests[-1]["thinking"]["type"] == "disabled"


def test_a_forged_effort_or_one_on_another_model_is_never_sent(app_env):
    at = new_app(model="glm-5.2")
    at.session_state[state.EFFORT] = "ultra"  # not offered
    send(at, "forged sim:tokens=2")
    assert app_env.requests[-1]["reasoning_effort"] == "max"
    at.sidebar.selectbox(key=state.MODEL).set_value("glm-4.7").run()
    at.session_state[state.EFFORT] = "high"
    send(at, "other model sim:tokens=2")
    assert "reasoning_effort" not in app_env.requests[-1] and msgs(at)[-1]["status"] == "done"


def test_a_vision_models_answer_box_never_shows_and_reasoning_tokens_do(app_env):
    at = send(new_app(model="glm-4.6v"), "look at this closely sim:box sim:think sim:reasoning_tokens")
    reply = msgs(at)[-1]
    assert reply["content"].startswith("You asked") and "box|>" not in reply["content"]
    thinking = conv.reasoning_tokens(reply["meta"]["usage"])
    assert thinking > 0 and any(t("usage.reasoning", "en", n=f"{thinking:,}") in c for c in captions(at))


def test_the_usage_page_and_the_stored_message_carry_the_cached_cost(app_env, db_url):
    at = send(new_app(model="glm-4.7"), "a question asked before, and again " * 30 + "sim:tokens=4 sim:cached=200")
    reply = msgs(at)[-1]
    assert conv.cached_tokens(reply["meta"]["usage"]) == 200
    at.switch_page("app_pages/usage.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[t("usage.cost_total", "en")] == f"¥{reply['meta']['cost']:.4f}"
    from glmchat.store import Store

    stored = Store(db_url).messages("local", at.session_state[state.CONVERSATION])[-1]
    assert stored["meta"]["cost"] == reply["meta"]["cost"]
    assert stored["meta"]["usage"]["prompt_tokens_details"] == {"cached_tokens": 200}
