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


CUSTOM = "glm-5.3"  # §12 lists it as unconfirmed: not in the catalogue


@pytest.fixture
def custom_model(app_env, monkeypatch):
    """The simulator, taught a model the catalogue does not list (it refuses unknown ids as the API does)."""
    from glmsim import simulator

    assert CUSTOM not in load().ids()
    monkeypatch.setattr(simulator, "KNOWN_MODELS", simulator.KNOWN_MODELS | {CUSTOM})
    monkeypatch.setitem(simulator.MODEL_LIMITS, CUSTOM, (131072, 4096))
    return app_env


def send_on_custom_model(lang: str = "en"):
    at = new_app(params_open=True, lang=lang)
    at.sidebar.text_input(key=state.CUSTOM_MODEL).input(CUSTOM).run()
    return send(at, "hi sim:tokens=2")


def test_a_custom_model_id_works_and_says_its_cost_is_unknown(custom_model):
    at = send_on_custom_model()
    assert custom_model.requests[-1]["model"] == CUSTOM
    reply = msgs(at)[-1]
    assert reply["status"] == "done" and reply["meta"]["cost"] is None
    assert any(t("usage.cost_unknown", "en") in c for c in captions(at))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_usage_page_says_its_cost_leaves_out_the_replies_of_unknown_cost(custom_model, lang):
    at = send_on_custom_model(lang)
    send(at, "again sim:tokens=2")
    at.switch_page("app_pages/usage.py").run()
    assert not at.exception
    assert t("usage.unknown_left_out", lang, n=2) in captions(at)
    assert {m.label: m.value for m in at.metric}[t("usage.cost_total", lang)] == "¥0.0000"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_reopened_chat_on_a_deprecated_model_goes_on_with_it_and_says_so(app_env, db_url, lang):
    from glmchat.store import Store

    cid = Store(db_url).create_conversation("local", "old vision chat", "glm-4v-plus-0111", {})
    at = new_app(query={"c": cid}, lang=lang)
    picker = at.sidebar.selectbox(key=state.MODEL)
    shown_label = picker.options[picker.index]
    assert picker.value == "glm-4v-plus-0111"
    assert t("side.deprecated", lang) in shown_label and "¥4/4" in shown_label  # and its known price
    send(at, "still there? sim:tokens=2")
    assert app_env.requests[-1]["model"] == "glm-4v-plus-0111"
    reply = msgs(at)[-1]
    assert reply["meta"]["cost"] == pytest.approx(
        load().get("glm-4v-plus-0111").cost(reply["meta"]["usage"]["prompt_tokens"], 2)
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_reopened_chat_on_a_retired_model_says_which_model_it_now_uses(app_env, db_url, lang):
    from glmchat.store import Store

    cid = Store(db_url).create_conversation("local", "an old chat", "glm-4-0520", {})
    at = new_app(query={"c": cid}, lang=lang)
    picker = at.sidebar.selectbox(key=state.MODEL)
    assert picker.value == "glm-4-0520" and t("side.retired", lang) in picker.options[picker.index]
    default = load().default
    note = t("side.retired_note", lang, old="GLM-4-0520", new=default.label(lang))
    assert note in [w.value for w in at.sidebar.warning]
    send(at, "hello again sim:tokens=2")
    assert app_env.requests[-1]["model"] == default.id and msgs(at)[-1]["status"] == "done"


def test_in_gate_mode_a_chat_on_a_legacy_model_reopens_with_it_not_the_default(app_env, db_url, monkeypatch):
    """The custom-id field is not offered on the host's key in gate mode: a legacy id of §12 that the
    catalogue did not list fell back there to the default model without a word."""
    from apptest import enter

    from glmchat.hosting import passwords
    from glmchat.store import Store

    monkeypatch.setenv("GLMCHAT_ACCESS_MODE", "gate")
    monkeypatch.setenv("GLMCHAT_ACCESS_PASSWORD_HASH", passwords.hash_password("open sesame"))
    monkeypatch.setenv("GLMCHAT_HOST_KEY_HISTORY", "shared")
    cid = Store(db_url).create_conversation("host", "a glm-4 chat", "glm-4", {})
    at = enter(new_app(), "open sesame")
    at.query_params["c"] = cid
    at.run()
    assert at.sidebar.selectbox(key=state.MODEL).value == "glm-4"
    send(at, "go on sim:tokens=2")
    assert app_env.requests[-1]["model"] == "glm-4" and msgs(at)[-1]["meta"]["cost"] is not None


def test_deprecated_models_are_not_offered_but_a_conversation_that_used_one_keeps_it(app_env, db_url):
    at = new_app()
    options = at.sidebar.selectbox(key=state.MODEL).options
    labels = " ".join(options)
    assert "GLM-5.1" in labels and "GLM-4.7-Flash" in labels and "GLM-4.6V" in labels
    assert "GLM-4V-Plus" not in labels and t("side.deprecated", "en") not in labels
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
    assert not [c for c in captions(at) if "unknown" in c]  # every cost here is known
    from glmchat.store import Store

    stored = Store(db_url).messages("local", at.session_state[state.CONVERSATION])[-1]
    assert stored["meta"]["cost"] == reply["meta"]["cost"]
    assert stored["meta"]["usage"]["prompt_tokens_details"] == {"cached_tokens": 200}
