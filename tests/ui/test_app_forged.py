"""AppTest: widget values a visitor could forge over the WebSocket are checked against what was offered.

AppTest writes session state directly, as a forged `rerun_script` message can: the widgets never offered
these values. AppTest itself cannot hold a selectbox value outside the options (its element tree fails to
index it), so forged models and presets are sent through Streamlit's own protocol in tests/e2e/test_attacks.py.
"""

from __future__ import annotations

import pytest
from apptest import new_app, send

from glmchat.chat.catalogue import load
from glmchat.chat.i18n import t
from glmchat.hosting import offered, passwords
from glmchat.ui import state

PASSWORD = "let me in"
HASH = passwords.hash_password(PASSWORD)


@pytest.fixture
def gated_with_limits(app_env, monkeypatch):
    monkeypatch.setenv("GLMCHAT_ACCESS_MODE", "gate")
    monkeypatch.setenv("GLMCHAT_ACCESS_PASSWORD_HASH", HASH)
    monkeypatch.setenv("GLMCHAT_LIMIT_CNY_DAY", "1")
    at = new_app()
    at.text_input(key=state.PASSWORD).input(PASSWORD)
    at.button[0].click().run()
    assert at.chat_input
    return app_env, at


def test_forged_parameters_fall_back_to_the_models_defaults(gated_with_limits):
    sim, at = gated_with_limits
    at.session_state[state.MODEL] = "glm-4-plus"
    model = load().get("glm-4-plus")
    for key, value in (
        (state.TEMPERATURE, 7.5),
        (state.TOP_P, 0.0),
        (state.MAX_TOKENS, 10**9),
        (state.SYSTEM, "x" * (offered.SYSTEM_CHARS + 1)),
    ):
        at.session_state[key] = value
    send(at, "forged parameters sim:tokens=1")
    sent = sim.requests[-1]
    assert sent["model"] == "glm-4-plus"
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (
        model.temperature,
        model.top_p,
        model.max_output,
    )
    assert all(m["role"] != "system" for m in sent["messages"])  # the over-long system prompt is not used
    # Values the widgets do offer go out exactly.
    for key, value in ((state.TEMPERATURE, 0.2), (state.TOP_P, 0.5), (state.MAX_TOKENS, 100)):
        at.session_state[key] = value
    send(at, "fair parameters sim:tokens=1")
    assert (sim.requests[-1]["temperature"], sim.requests[-1]["top_p"], sim.requests[-1]["max_tokens"]) == (
        0.2,
        0.5,
        100,
    )


def test_a_custom_model_without_a_price_is_refused_where_limits_count_yuan(app_env, db_url, monkeypatch):
    # shared mode offers the custom model field on the host's key; a ¥ limit could not count its cost.
    monkeypatch.setenv("GLMCHAT_ACCESS_MODE", "shared")
    monkeypatch.setenv("GLMCHAT_LIMIT_CNY_DAY", "1")
    at = new_app(params_open=True)  # the field is in the settings
    at.sidebar.text_input(key=state.CUSTOM_MODEL).input("glm-5.3").run()  # not in the catalogue
    send(at, "unpriced sim:tokens=1")
    assert app_env.attempts == 0
    refused = at.session_state[state.MESSAGES][-1]
    assert refused["status"] == "error" and refused["error"]["limit"] == "unpriced"
    assert any(t("limit.unpriced", "en") in e.value for e in at.error)


def test_a_custom_model_id_that_is_not_one_is_ignored(app_env):
    at = new_app()
    at.session_state[state.MODEL] = "glm-4-plus"
    for forged in ("glm 4\nInjected: x", "-rf", "glm-4\u202e"):
        at.session_state[state.CUSTOM_MODEL] = forged
        send(at, "custom sim:tokens=1")
        assert app_env.requests[-1]["model"] == "glm-4-plus"


def test_an_edit_longer_than_the_limit_is_refused_and_nothing_is_sent(app_env, monkeypatch):
    monkeypatch.setenv("GLMCHAT_MAX_MESSAGE_CHARS", "50")
    at = send(new_app(), "short question sim:tokens=1")
    question = at.session_state[state.MESSAGES][0]
    at.session_state[state.EDITING] = question["id"]
    at.run()
    at.session_state[f"w_edit_{question['id']}"] = "y" * 51
    at.button(key=f"edit-send-{question['id']}").click().run()
    assert app_env.attempts == 1
    assert at.session_state[state.MESSAGES][0]["content"] == "short question sim:tokens=1"
    assert any(t("input.too_long", "en", limit=50, actual=51) in w.value for w in at.warning)
