"""AppTest: the chat page end to end against the loopback simulator."""

from __future__ import annotations

import json
import logging
import time
from functools import partial

import apptest
import pytest
from apptest import send
from conftest import CANARY_KEY
from streamlit.testing.v1 import AppTest

from glmchat.chat.i18n import t
from glmchat.chat.render import safe_markdown
from glmchat.ui import callbacks, state

new_app = partial(apptest.new_app, params_open=True)


def bubbles(at: AppTest):
    return [(m.name, " ".join(md.value for md in m.markdown)) for m in at.chat_message]


def assistant(at: AppTest, i: int = -1):
    return [m for m in at.chat_message if m.name == "assistant"][i]


def test_send_message_streams_reply_with_usage(app_env):
    at = send(new_app(), "Hello there sim:tokens=20")
    (u_name, u_text), (a_name, a_text) = bubbles(at)
    assert u_name == "user" and "Hello there" in u_text
    assert a_name == "assistant" and a_text.split() == [f"tok{i}" for i in range(20)]
    caption = " ".join(c.value for c in assistant(at).caption)
    usage = app_env.requests and at.session_state[state.MESSAGES][-1]["meta"]["usage"]
    assert usage["completion_tokens"] == 20
    assert f"{usage['prompt_tokens']} in · 20 out · {usage['total_tokens']} tokens" in caption
    assert "first token" in caption and "¥0.0000" in caption  # glm-4.5-flash is free
    # The sidebar totals are drawn after the reply, not one turn behind.
    assert any("1 request ·" in c.value and "20 out" in c.value for c in at.sidebar.caption)


def test_history_is_sent_and_rerun_does_not_resend(app_env):
    at = send(new_app(), "first sim:tokens=3")
    send(at, "second sim:tokens=3")
    at.run()
    assert app_env.attempts == 2
    sent = app_env.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"].split() == ["tok0", "tok1", "tok2"]
    assert len(at.session_state[state.MESSAGES]) == 4


def test_model_switch_uses_the_model_and_its_defaults(app_env):
    at = new_app()
    at.sidebar.selectbox(key=state.MODEL).set_value("glm-4-plus").run()
    assert at.sidebar.slider(key=state.TEMPERATURE).value == pytest.approx(0.75)
    send(at, "hi sim:tokens=2")
    body = app_env.requests[-1]
    assert body["model"] == "glm-4-plus" and body["temperature"] == pytest.approx(0.75)
    assert body.get("thinking") is None  # GLM-4-Plus takes no thinking parameter
    assert "glm-4-plus" in " ".join(c.value for c in assistant(at).caption)


def test_parameters_keep_their_values_while_their_expander_is_closed(app_env):
    at = new_app()
    at.sidebar.slider(key=state.TEMPERATURE).set_value(0.42).run()
    at.sidebar.text_area(key=state.SYSTEM).input("Stay brief.").run()
    at.session_state[state.PARAMS_OPEN] = False
    at.run()
    assert not at.sidebar.slider and not at.sidebar.text_area  # closed: its widgets are not drawn at all
    at.run()  # a second run without them: Streamlit would forget an undrawn widget's value here
    send(at, "hi sim:tokens=2")
    body = app_env.requests[-1]
    assert body["temperature"] == pytest.approx(0.42)
    assert body["messages"][0] == {"role": "system", "content": "Stay brief."}
    at.session_state[state.PARAMS_OPEN] = True
    at.run()
    assert at.sidebar.slider(key=state.TEMPERATURE).value == pytest.approx(0.42)


def test_custom_model_id_is_sent(app_env):
    at = new_app()
    at.sidebar.text_input(key=state.CUSTOM_MODEL).input("glm-4.7").run()
    send(at, "hi sim:tokens=2")
    assert app_env.requests[-1]["model"] == "glm-4.7"


def test_system_prompt_goes_first_and_parameters_are_sent_as_chosen(app_env):
    at = new_app()
    at.sidebar.text_area(key=state.SYSTEM).input("你是一个简洁的助手").run()
    at.sidebar.slider(key=state.TEMPERATURE).set_value(1.0).run()
    at.sidebar.slider(key=state.TOP_P).set_value(1.0).run()
    at.sidebar.number_input(key=state.MAX_TOKENS).set_value(777).run()
    at.sidebar.toggle(key=state.THINKING).set_value(False).run()
    send(at, "hello sim:tokens=2")
    body = app_env.requests[-1]
    assert body["messages"][0] == {"role": "system", "content": "你是一个简洁的助手"}
    assert body["messages"][1]["role"] == "user"
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (1.0, 1.0, 777)
    assert body["thinking"] == {"type": "disabled"}


def test_thinking_is_shown_apart_and_never_sent_back(app_env):
    at = send(new_app(), "why is the sky blue sim:think")
    exp = assistant(at).expander
    assert exp and exp[0].label == "Thinking" and exp[0].markdown[0].value.strip()
    reasoning = at.session_state[state.MESSAGES][-1]["reasoning"]
    assert reasoning and reasoning not in assistant(at).markdown[-1].value
    send(at, "and then? sim:tokens=2")
    assert all(reasoning not in str(m.get("content")) for m in app_env.requests[-1]["messages"])


def test_z1_think_tags_become_the_thinking_section(app_env):
    at = new_app()
    at.sidebar.selectbox(key=state.MODEL).set_value("glm-z1-flash").run()
    send(at, "prove it sim:z1")
    msg = at.session_state[state.MESSAGES][-1]
    assert msg["reasoning"] and "<think>" not in msg["content"] and msg["content"].strip()


def test_stop_keeps_the_partial_marked_stopped_and_closes_upstream(app_env):
    at = new_app()
    # AppTest's timeout stops the run with request_stop(), the same request the Stop button sends.
    with pytest.raises(RuntimeError, match="timed out"):
        at.chat_input[0].set_value("long answer sim:slow").run(timeout=1.5)
    msg = at.session_state[state.MESSAGES][-1]
    assert msg["status"] == "stopped" and msg["content"].split()[:2], msg
    deadline = time.monotonic() + 3
    while app_env.open_streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app_env.open_streams == 0 and app_env.attempts == 1
    # The timed-out run never refreshed AppTest's tree, so clear the submitted value it would resend.
    at.chat_input[0].set_value(None).run()
    assert not at.exception and app_env.attempts == 1
    assert t("chat.stopped", "en") in [c.value for c in assistant(at).caption]
    assert bubbles(at) == [
        ("user", safe_markdown("long answer sim:slow")),
        ("assistant", safe_markdown(msg["content"])),
    ]


ERROR_CASES = [
    ("sim:401", "auth"),
    ("sim:balance", "no_balance"),
    ("sim:account", "account"),
    ("sim:busy", "busy"),
    ("sim:policy", "policy"),
    ("sim:unknown-model", "unknown_model"),
    ("sim:badparam", "bad_param"),
    ("sim:toolong", "prompt_too_long"),
    ("sim:500", "server"),
    ("sim:502", "server"),
    ("sim:error200", "bad_param"),
    ("sim:streamerror", "policy"),
    ("sim:malformed", "malformed"),
    ("sim:cut", "cut"),
    ("sim:nodone", "cut"),
    ("sim:network_error", "model_error"),
    ("sim:sensitive", "filtered"),
    ("sim:context_exceeded", "context_full"),
    ("sim:tool_calls", "tool_call"),
    ("sim:finish=abort_reason", "odd_finish"),
]


@pytest.mark.parametrize("trigger,kind", ERROR_CASES)
def test_each_error_shows_its_message_and_keeps_the_users_message(app_env, trigger, kind, monkeypatch):
    monkeypatch.setattr("glmchat.chat.client.BACKOFF", (0.01, 0.01))
    at = send(new_app(lang="zh"), f"请回答 {trigger}")
    assert bubbles(at)[0] == ("user", safe_markdown(f"请回答 {trigger}"))
    errors = assistant(at).error
    assert len(errors) == 1 and errors[0].value.startswith(t(f"error.{kind}", "zh"))
    assert "Traceback" not in errors[0].value and "Error code" not in errors[0].value
    reply_id = at.session_state[state.MESSAGES][-1]["id"]
    keys = {b.key for b in at.button}
    # Retry where a second try can help; none for a bad key or account, and never a second ↻ beside it.
    assert (f"retry-{reply_id}" in keys) == (kind not in {"auth", "no_balance", "account"}), keys
    assert f"regen-{reply_id}" not in keys
    msgs = at.session_state[state.MESSAGES]
    assert msgs[0]["content"] == f"请回答 {trigger}" and msgs[-1]["error"]["kind"] == kind


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_finish_reason_keeps_the_partial_text_and_offers_what_helps(app_env, lang):
    at = send(new_app(lang=lang), "long enough reply sim:tokens=20 sim:context_exceeded")
    reply = at.session_state[state.MESSAGES][-1]
    assert reply["status"] == "incomplete" and reply["content"].startswith("tok0")  # the partial text is kept
    assert assistant(at).error[0].value.startswith(t("error.context_full", lang))
    assert f"sumretry-{reply['id']}" in {b.key for b in at.button}  # summarise and retry, as after a 1261

    send(at, "odd sim:tokens=20 sim:finish=brand_new_reason")
    reply = at.session_state[state.MESSAGES][-1]
    assert reply["content"].startswith("tok0")
    assert (reply["error"]["kind"], reply["error"]["code"]) == ("odd_finish", "brand_new_reason")
    shown = assistant(at).error[0].value
    assert shown.startswith(t("error.odd_finish", lang)) and "brand" in shown  # named, as it came

    send(at, "again sim:tokens=20 sim:network_error")
    reply = at.session_state[state.MESSAGES][-1]
    assert reply["status"] == "incomplete" and reply["content"].startswith("tok0")
    assert assistant(at).error[0].value.startswith(t("error.model_error", lang))
    assert f"retry-{reply['id']}" in {b.key for b in at.button}  # inference failed upstream: a retry may work

    send(at, "call something sim:tool_calls")
    reply = at.session_state[state.MESSAGES][-1]
    assert reply["status"] == "error" and reply["content"] == ""
    assert assistant(at).error[0].value.startswith(t("error.tool_call", lang))  # said, not a blank bubble


def test_a_truncated_answer_offers_continue_which_asks_for_the_rest(app_env):
    at = send(new_app(), "write a lot sim:tokens=20 sim:length")
    reply = at.session_state[state.MESSAGES][-1]
    assert reply["status"] == "incomplete" and reply["finish_reason"] == "length"
    assert any(t("chat.truncated", "en") in c.value for c in assistant(at).caption)
    at.button(key=f"continue-{reply['id']}").click().run()
    assert not at.exception
    msgs = at.session_state[state.MESSAGES]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    assert msgs[2]["content"] == t("chat.continue_prompt", "en") and msgs[3]["status"] == "done"
    sent = app_env.requests[-1]["messages"]
    assert sent[-2]["content"] == reply["content"] and sent[-1]["content"] == t("chat.continue_prompt", "en")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sensitive_finish_withdraws_the_displayed_text(app_env, lang):
    at = send(new_app(lang=lang), "tell me sim:think sim:sensitive")
    msg = at.session_state[state.MESSAGES][-1]
    assert msg["content"] == "" and msg["reasoning"] == ""
    assert not assistant(at).markdown and not assistant(at).expander
    # The platform's content filter, said as such: not the "rephrase your question" of a 1301 refusal.
    shown = assistant(at).error[0].value
    assert shown.startswith(t("error.filtered", lang)) and t("error.policy", lang) not in shown
    assert f"retry-{msg['id']}" in {b.key for b in at.button}


def test_retry_resends_the_same_conversation(app_env, monkeypatch):
    monkeypatch.setattr("glmchat.chat.client.BACKOFF", (0.01, 0.01))
    at = send(new_app(), "flaky question sim:busy")
    assert app_env.attempts == 3
    msg_id = at.session_state[state.MESSAGES][-1]["id"]
    at.button(key=f"retry-{msg_id}").click().run()
    assert not at.exception and app_env.attempts == 6
    msgs = at.session_state[state.MESSAGES]
    assert [m["role"] for m in msgs] == ["user", "assistant"]  # the failed reply was replaced, not stacked
    assert [m["content"] for m in app_env.requests[-1]["messages"]] == ["flaky question sim:busy"]


def test_new_chat_clears_the_conversation(app_env):
    at = send(new_app(), "hi sim:tokens=2")
    at.sidebar.button(key="new-chat").click().run()
    assert not at.chat_message and at.session_state[state.MESSAGES] == []


def test_canary_key_is_in_no_element_state_or_log(app_env, caplog):
    caplog.set_level(logging.DEBUG)
    at = new_app()
    send(at, "hello sim:tokens=5")
    send(at, "again sim:401")
    at.sidebar.selectbox(key=state.MODEL).set_value("glm-4-plus").run()
    for node in at.main, at.sidebar:
        assert CANARY_KEY not in repr(node)
    # Every value, keyless widgets included (AppTest exposes no public iterator over those).
    raw = at._session_state._state
    values = [raw[k] for k in raw._keys() if k in raw]
    assert len(values) > 10
    for value in values:
        assert CANARY_KEY not in repr(value)
    # The app's own line for each request is among the records checked (not merely some record or other).
    requests = [
        json.loads(r.getMessage().removeprefix("request ")) for r in caplog.records if r.name == "glmchat.requests"
    ]
    assert [(r["status"], r["completion_tokens"], r["code"], r["http_status"]) for r in requests] == [
        ("ok", 5, None, None),
        ("error", None, "1002", 401),
    ], requests
    for rec in caplog.records:
        assert CANARY_KEY not in rec.getMessage()
    # A host-configured key hides the visitor key field.
    assert state.VISITOR_KEY not in [w.key for w in at.sidebar.text_input]


def test_two_sessions_never_see_each_others_messages(app_env):
    a, b = new_app(), new_app()
    send(a, "secret of session A sim:tokens=2")
    send(b, "question of session B sim:tokens=2")
    a.run()
    assert "session B" not in repr(a.main) and "session A" not in repr(b.main)
    assert [m["content"] for m in b.session_state[state.MESSAGES] if m["role"] == "user"] == [
        "question of session B sim:tokens=2"
    ]


def test_no_key_runs_the_offline_demo(no_key_env):
    at = new_app()
    assert at.sidebar.selectbox(key=state.MODEL).value == "glm-offline-demo"
    assert any(t("demo.notice", "en")[:20] in i.value for i in at.info)
    send(at, "Show me what you can do")
    msg = at.session_state[state.MESSAGES][-1]
    assert msg["status"] == "done" and msg["content"].strip() and msg["reasoning"].strip()
    assert msg["meta"]["usage"]["completion_tokens"] > 0


def test_entering_a_key_switches_to_the_default_model(no_key_env):
    at = new_app()
    at.sidebar.text_input(key=state.VISITOR_KEY).input("my-own-key").run()
    assert at.sidebar.selectbox(key=state.MODEL).value == "glm-4.5-flash"
    assert not at.info or all(t("demo.notice", "en")[:20] not in i.value for i in at.info)


def test_real_model_without_key_says_so_without_a_request(no_key_env):
    at = new_app()
    at.sidebar.selectbox(key=state.MODEL).set_value("glm-4-plus").run()
    send(at, "hello")
    assert assistant(at).error[0].value.startswith(t("error.no_key", "en"))


def test_language_follows_choice(app_env):
    at = new_app(lang="zh")
    assert at.chat_input[0].placeholder == t("chat.placeholder", "zh")
    at.sidebar.selectbox(key=state.LANG).set_value("en").run()
    assert at.chat_input[0].placeholder == t("chat.placeholder", "en")


def test_a_new_message_is_sent_from_the_chat_inputs_callback_before_the_page_reruns(app_env, monkeypatch):
    """The model's wait overlaps the rerun: the request leaves before the page runs; the sidebar follows the reply."""
    from glmchat.chat import client
    from glmchat.ui import chat_view, sidebar

    order = []
    real_draw, real_start, real_stream = sidebar.draw, client.ReplyStream.start, chat_view.stream_reply
    monkeypatch.setattr(sidebar, "draw", lambda *a, **k: (order.append("sidebar"), real_draw(*a, **k))[1])
    monkeypatch.setattr(client.ReplyStream, "start", lambda self: (order.append("request"), real_start(self))[1])
    monkeypatch.setattr(chat_view, "stream_reply", lambda *a, **k: (order.append("page"), real_stream(*a, **k))[1])
    at = new_app()
    order.clear()
    at.chat_input[0].set_value("early sim:tokens=3").run()
    assert not at.exception
    assert order == ["request", "page", "sidebar"]
    assert at.session_state[state.MESSAGES][-1]["content"] == "tok0 tok1 tok2" and app_env.attempts == 1
    # A message with a file still goes the ordinary way: the page checks and reads its files, then sends it.
    order.clear()
    box = at.chat_input[0]
    box.upload("notes.txt", b"hello")
    box.set_value("with a file sim:tokens=2").run()
    assert not at.exception and order == ["page", "request", "sidebar"] and app_env.attempts == 2


def test_a_message_whose_callback_never_ran_is_sent_once(app_env, monkeypatch):
    """A page reconnecting after a server restart sends a chat input value no callback sees (missed_submit)."""
    real, calls = callbacks.submit_prompt, []

    def callback_lost_once(start: bool = True) -> None:
        calls.append(start)
        if len(calls) > 1:  # the first call is the on_submit callback Streamlit never ran
            real(start)

    from glmchat.chat import client

    started, real_start = [], client.ReplyStream.start
    monkeypatch.setattr(client.ReplyStream, "start", lambda self: (started.append(1), real_start(self))[1])
    monkeypatch.setattr(callbacks, "submit_prompt", callback_lost_once)
    at = new_app()
    send(at, "after a restart sim:tokens=3")
    assert at.session_state[state.MESSAGES][-1]["content"] == "tok0 tok1 tok2"
    # One request: one started before the page's rerun would be dropped by it and sent again.
    assert len(started) == 1 and app_env.attempts == 1
    assert len(calls) == 2
