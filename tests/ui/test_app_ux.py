"""AppTest: what the chat page does around a reply (issue 15): the input stays usable during a reply and
a message sent too early goes back into it, a newer run draws the rest of the reply, refused text goes
back into the input, a failed summary is said after the input is given back, switches
survive a model without them, Retry only where it can help."""

from __future__ import annotations

from apptest import new_app, send
from conftest import CANARY_KEY

from glmchat.chat import conversation as conv
from glmchat.chat.catalogue import load
from glmchat.chat.client import ChatRequest, Endpoint
from glmchat.chat.i18n import t
from glmchat.chat.turn import Grew, Turn
from glmchat.store import Store
from glmchat.ui import state

MODEL = "glm-4.5-flash"


def msgs(at):
    return at.session_state[state.MESSAGES]


def test_a_refused_message_goes_back_into_the_input(app_env, monkeypatch):
    monkeypatch.setenv("GLMCHAT_MAX_MESSAGE_CHARS", "10")
    text = "eleven char"
    at = send(new_app(), text)
    assert msgs(at) == [] and app_env.attempts == 0
    assert at.chat_input[0].value == text  # pushed back into the box (Streamlit's set_value)
    warnings = at.get("bottom")[0].warning if at.get("bottom") else at.warning
    assert any(t("input.too_long", "en", actual=11, limit=10) in w.value for w in warnings)


def test_the_input_stays_usable_during_a_regenerated_reply(app_env):
    at = send(new_app(), "first sim:tokens=2")
    at.button(key=f"regen-{msgs(at)[-1]['id']}").click().run()
    assert not at.exception
    assert not at.chat_input[0].proto.disabled and app_env.attempts == 2
    assert len(at.session_state[state.OFF]) == 1 and msgs(at)[-1]["status"] == "done"


def test_a_message_sent_while_a_reply_streams_waits_in_the_input_and_the_reply_is_drawn_to_its_end(app_env):
    """The run streaming a reply ended without a Stop (Enter in the input started a newer run): the reply
    goes on detached, the message goes back into the input, and the newer run draws the reply's rest."""
    at = send(new_app(), "first sim:tokens=2")

    def start(at):  # what the page's run did before it was replaced: send, adopt, read a little, detach
        question = conv.user_message("long one sim:tokens=40 sim:rate=40", [])
        reply = conv.assistant_message(MODEL, {})
        msgs(at).extend([question, reply])
        turn = Turn(load().get(MODEL))
        request = ChatRequest(model=MODEL, messages=[{"role": "user", "content": question["content"]}])
        turn.send(Endpoint(CANARY_KEY, app_env.base_url), request)
        turn.adopt(reply, totals=at.session_state[state.TOTALS])
        next(e for e in turn.events() if isinstance(e, Grew))
        turn.detach()
        at.session_state[state.LIVE_TURN] = turn
        return turn, reply

    turn, reply = start(at)
    at.chat_input[0].set_value("the next one").run()
    assert not at.exception
    assert at.chat_input[0].value == "the next one"  # back in the box
    assert not at.info  # the notice beside the input went with the reply (the browser test sees it meanwhile)
    # This run reattached and drew the reply to its end: nothing was stopped, nothing else was sent.
    assert reply["status"] == "done" and reply["content"].endswith("tok39") and turn.ended
    assert msgs(at)[-1] is reply and [m["role"] for m in msgs(at)[-2:]] == ["user", "assistant"]
    assert app_env.attempts == 2


def test_a_run_that_ends_before_it_reads_a_resumed_reply_hands_it_on(app_env, monkeypatch):
    """A newer run reattaches a reply, then is itself replaced before it reads any of it: the reply must go on
    (detached again) and end saved, not hang with no reader."""
    from glmchat.ui import chat_view
    from glmchat.ui import streamlit_internals as internals

    at = send(new_app(), "first sim:tokens=2")
    question = conv.user_message("long one sim:tokens=40 sim:rate=40", [])
    reply = conv.assistant_message(MODEL, {})
    msgs(at).extend([question, reply])
    turn = Turn(load().get(MODEL))
    request = ChatRequest(model=MODEL, messages=[{"role": "user", "content": question["content"]}])
    turn.send(Endpoint(CANARY_KEY, app_env.base_url), request).adopt(reply)
    next(e for e in turn.events() if isinstance(e, Grew))
    turn.detach()
    at.session_state[state.LIVE_TURN] = turn
    real_run = chat_view.later.run
    calls = []

    def replaced_once():
        calls.append(1)
        if len(calls) == 1:
            raise internals.StopException()  # the next run took over here
        real_run()

    monkeypatch.setattr(chat_view.later, "run", replaced_once)
    at.run()
    assert calls  # the resumed path was taken
    assert turn.wait_ended(timeout=20)  # read to the end by the detached reader, and saved
    assert reply["status"] == "done" and reply["content"].endswith("tok39")


def test_a_failed_summary_is_said_on_the_run_that_gives_the_input_back(app_env, monkeypatch):
    monkeypatch.setattr("glmchat.ui.chat_view.summarise", lambda *a, **k: None)
    monkeypatch.setattr("glmchat.ui.callbacks.plan", _plan_dropping_first)
    at = send(new_app(), "one sim:tokens=2")
    send(at, "two sim:tokens=2")
    at.button(key="summarise").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [t("chat.summary_failed", "en")]
    assert not at.chat_input[0].proto.disabled
    at.run()
    assert not at.error  # said once


def _plan_dropping_first(current):
    """The real plan, but with the first message left out, so that the page offers a summary."""
    from glmchat.chat import conversation as conv

    messages = state.messages()
    plan = conv.plan_request(messages, current.system_prompt, current.budget(), state.summary())
    return conv.Plan(messages=plan.messages, dropped=[messages[0]["id"]] if messages else [], tokens=plan.tokens)


def test_web_search_survives_a_model_without_it(app_env):
    at = new_app(model="glm-4.6")
    at.sidebar.toggle(key=state.WEB_SEARCH).set_value(True).run()
    at.sidebar.selectbox(key=state.MODEL).set_value("glm-4.6v").run()  # no web search: no toggle
    assert not [w for w in at.sidebar.toggle if w.key == state.WEB_SEARCH]
    at.sidebar.selectbox(key=state.MODEL).set_value("glm-4.6").run()
    assert at.sidebar.toggle(key=state.WEB_SEARCH).value is True


def test_models_that_need_a_key_say_so_in_the_demo(no_key_env):
    at = new_app()
    box = at.sidebar.selectbox(key=state.MODEL)
    labels = {o for o in box.options}
    needs = t("side.needs_key", "en")
    assert any(label.endswith(needs) for label in labels)
    assert [label for label in labels if not label.endswith(needs)] == ["Offline demo (local simulator) 🖼💭🔎 free"]


def test_the_chat_shows_the_model_and_its_switches(app_env):
    at = new_app(model="glm-4.6")
    line = at.main.caption[0].value
    assert "GLM-4.6" in line and t("side.web_search", "en") not in line
    at.sidebar.toggle(key=state.WEB_SEARCH).set_value(True).run()
    assert t("side.web_search", "en") in at.main.caption[0].value
    at.switch_page("app_pages/usage.py").run()
    assert not any("GLM-4.6" in c.value for c in at.main.caption)  # the chat's line, on the chat only


def test_a_conversation_is_renamed_and_deleted_from_its_row_menu(app_env, db_url):
    at = send(new_app(), "first chat sim:tokens=1")
    cid = at.session_state[state.CONVERSATION]
    assert t("side.today", "en") in [c.value for c in at.sidebar.caption]
    at.menu_button(key=state.row_menu_key(cid)).click("rename").run()
    at.text_input(key=state.title_key(cid)).input("Renamed chat")
    next(b for b in at.button if b.label == t("history.save", "en")).click().run()  # the form's submit (Enter)
    assert not at.exception
    assert Store(db_url).conversation("local", cid)["title"] == "Renamed chat"
    assert at.button(key=f"conv-{cid}").label == "Renamed chat"
    assert not [w for w in at.text_input if w.key == state.title_key(cid)]  # the dialog closed

    at.menu_button(key=state.row_menu_key(cid)).click("delete").run()
    at.button(key="confirm-delete").click().run()
    assert Store(db_url).conversation("local", cid) is None and at.session_state[state.CONVERSATION] is None


def test_a_forged_row_menu_choice_does_nothing(app_env, db_url):
    at = send(new_app(), "keep me sim:tokens=1")
    cid = at.session_state[state.CONVERSATION]
    at.menu_button(key=state.row_menu_key(cid)).set_value("drop-table").run()
    assert not at.exception and Store(db_url).conversation("local", cid) is not None
    assert state.RENAME not in at.session_state and state.DELETE not in at.session_state
