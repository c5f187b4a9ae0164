"""AppTest: regenerate, edit and resend, copy, feedback."""

from __future__ import annotations

from functools import partial

import apptest
from apptest import send
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from glmchat.chat.i18n import t
from glmchat.store import Store
from glmchat.ui import state

new_app = partial(apptest.new_app, params_open=True)


def msgs(at):
    return at.session_state[state.MESSAGES]


def switch(at, key: str, message_id: str):
    """Click ‹ (key "branch-prev") or › ("branch-next") under a message."""
    return at.button(key=f"{key}-{message_id}").click().run()


def versions(at) -> list[str]:
    """The ‹ n / m › counts on the page."""
    return [c.value for c in at.caption if " / " in c.value and c.value.replace(" / ", "").isdigit()]


def test_regenerate_makes_a_branch_and_the_switch_goes_between_the_answers(app_env, db_url):
    at = send(new_app(), "first try sim:tokens=3")
    question, old = (dict(m) for m in msgs(at))
    at.sidebar.selectbox(key=state.MODEL).set_value("glm-4-plus").run()
    at.button(key=f"regen-{old['id']}").click().run()
    assert not at.exception
    new = msgs(at)[-1]
    assert new["id"] != old["id"] and new["meta"]["model"] == "glm-4-plus" and new["parent"] == question["id"]
    assert app_env.requests[-1]["model"] == "glm-4-plus"
    assert [m["role"] for m in app_env.requests[-1]["messages"]] == ["user"]  # the old answer is not sent
    cid = at.session_state[state.CONVERSATION]
    store = Store(db_url)
    assert [m["id"] for m in store.messages("local", cid)] == [question["id"], new["id"]]
    assert [m["id"] for m in store.off_branch("local", cid)] == [old["id"]]  # kept, beside the new one
    assert versions(at) == ["2 / 2"] and at.button(key=f"branch-next-{new['id']}").disabled
    # ‹ shows the first answer, here and after a reload (?c= reopens the branch shown).
    switch(at, "branch-prev", new["id"])
    assert [m["id"] for m in msgs(at)] == [question["id"], old["id"]] and versions(at) == ["1 / 2"]
    assert [m["id"] for m in store.messages("local", cid)] == [question["id"], old["id"]]
    again = new_app()
    again.query_params["c"] = cid
    again.run()
    assert [m["id"] for m in msgs(again)] == [question["id"], old["id"]] and versions(again) == ["1 / 2"]
    # What is sent next is the branch shown: the old answer, not the new one.
    send(at, "and then? sim:tokens=2")
    assert [m["content"] for m in app_env.requests[-1]["messages"]][1] == old["content"]
    switch(at, "branch-next", old["id"])
    assert [m["id"] for m in msgs(at)] == [question["id"], new["id"]] and versions(at) == ["2 / 2"]


def test_edit_an_earlier_message_makes_a_new_branch_and_keeps_the_old_one(app_env, db_url):
    at = send(new_app(), "question one sim:tokens=2")
    send(at, "question two sim:tokens=2")
    before = [m["id"] for m in msgs(at)]
    first = msgs(at)[0]
    # Every message has the same toolbar: an older question is edited like the newest.
    at.button(key=f"edit-{first['id']}").click().run()
    at.text_area(key=f"w_edit_{first['id']}").input("question one, edited sim:tokens=4").run()
    at.button(key=f"edit-send-{first['id']}").click().run()
    assert not at.exception
    edited = msgs(at)[0]
    assert edited["content"] == "question one, edited sim:tokens=4" and edited["id"] != first["id"]
    assert len(msgs(at)) == 2 and msgs(at)[1]["content"].split() == ["tok0", "tok1", "tok2", "tok3"]
    assert [m["content"] for m in app_env.requests[-1]["messages"]] == ["question one, edited sim:tokens=4"]
    cid = at.session_state[state.CONVERSATION]
    saved = Store(db_url).messages("local", cid)
    assert [m["content"] for m in saved] == [m["content"] for m in msgs(at)]
    assert [m["id"] for m in Store(db_url).off_branch("local", cid)] == before  # nothing was lost
    assert versions(at) == ["2 / 2"]
    switch(at, "branch-prev", edited["id"])
    assert [m["id"] for m in msgs(at)] == before and versions(at) == ["1 / 2"]


def test_a_temporary_chat_branches_too_without_saving_anything(app_env, db_url):
    at = new_app()
    at.toggle(key=state.TEMPORARY).set_value(True).run()
    send(at, "not kept sim:tokens=2")
    question, old = (dict(m) for m in msgs(at))
    at.button(key=f"regen-{old['id']}").click().run()
    new = msgs(at)[-1]
    assert versions(at) == ["2 / 2"]
    switch(at, "branch-prev", new["id"])
    assert [m["id"] for m in msgs(at)] == [question["id"], old["id"]]
    switch(at, "branch-next", old["id"])
    assert [m["id"] for m in msgs(at)] == [question["id"], new["id"]]
    assert Store(db_url).count_conversations("local") == 0


def test_asking_again_counts_against_the_conversations_limit(app_env, monkeypatch):
    monkeypatch.setenv("GLMCHAT_MAX_CONVERSATION_MESSAGES", "4")
    at = send(new_app(), "q sim:tokens=2")
    at.button(key=f"regen-{msgs(at)[-1]['id']}").click().run()  # 2 held, an answer more: 3
    assert app_env.attempts == 2 and len(at.session_state[state.OFF]) == 1
    at.button(key=f"regen-{msgs(at)[-1]['id']}").click().run()  # 3 held: a fourth could not be followed
    assert app_env.attempts == 2 and len(at.session_state[state.OFF]) == 1
    warnings = at.get("bottom")[0].warning if at.get("bottom") else at.warning
    assert t("input.conversation_full", "en", limit=4, actual=3) in [w.value for w in warnings]


def test_copy_sends_the_exact_markdown_source_once(app_env):
    at = send(new_app(), "**code** please sim:tokens=2")
    question, reply = msgs(at)
    assert not at.code  # sent only by the run a Copy click starts
    at.button(key=f"copy-{question['id']}").click().run()
    assert [c.value for c in at.code] == ["**code** please sim:tokens=2"]
    at.button(key=f"copy-{reply['id']}").click().run()
    assert [c.value for c in at.code] == [reply["content"]]
    at.run()
    assert not at.code  # once


def test_feedback_is_saved_with_the_message(app_env, db_url):
    at = send(new_app(), "rate me sim:tokens=2")
    reply = msgs(at)[-1]
    at.feedback(key=f"fb-{reply['id']}").set_value(1).run()
    assert msgs(at)[-1]["feedback"] == 1
    saved = Store(db_url).messages("local", at.session_state[state.CONVERSATION])
    assert saved[-1]["feedback"] == 1
    reopened = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    reopened.query_params["c"] = at.session_state[state.CONVERSATION]
    reopened.run()
    assert reopened.feedback(key=f"fb-{reply['id']}").value == 1


def test_builtin_preset_starts_a_chat_with_its_system_prompt(app_env):
    at = send(new_app(), "before sim:tokens=2")
    at.sidebar.selectbox(key=state.PRESET).set_value("builtin:translator").run()
    assert msgs(at) == [] and at.session_state[state.CONVERSATION] is None
    assert at.sidebar.text_area(key=state.SYSTEM).value.startswith("You are a professional Chinese–English translator")
    send(at, "你好 sim:tokens=2")
    assert app_env.requests[-1]["messages"][0]["role"] == "system"
    assert "translator" in app_env.requests[-1]["messages"][0]["content"]


def test_own_preset_is_saved_per_owner_and_offered_again(app_env, db_url):
    at = new_app()
    at.sidebar.text_area(key=state.SYSTEM).input("Answer like a pirate.").run()
    at.sidebar.text_input(key=state.PRESET_NAME).input("Pirate").run()
    at.sidebar.button(key="save-preset").click().run()
    assert not at.exception
    other = new_app()
    assert "Pirate" in other.sidebar.selectbox(key=state.PRESET).options  # AppTest lists the shown labels
    other.sidebar.selectbox(key=state.PRESET).set_value("user:Pirate").run()
    assert other.sidebar.text_area(key=state.SYSTEM).value == "Answer like a pirate."


def test_reopening_a_conversation_restores_its_model_and_parameters(app_env, db_url):
    at = new_app()
    at.sidebar.selectbox(key=state.MODEL).set_value("glm-4-air").run()
    at.sidebar.slider(key=state.TEMPERATURE).set_value(0.33).run()
    at.sidebar.text_area(key=state.SYSTEM).input("Be terse.").run()
    send(at, "remember me sim:tokens=2")
    cid = at.session_state[state.CONVERSATION]
    fresh = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    fresh.query_params["c"] = cid
    fresh.session_state[state.PARAMS_OPEN] = True
    fresh.run()
    assert fresh.sidebar.selectbox(key=state.MODEL).value == "glm-4-air"
    assert fresh.sidebar.slider(key=state.TEMPERATURE).value == 0.33
    assert fresh.sidebar.text_area(key=state.SYSTEM).value == "Be terse."
    fresh.chat_input[0].set_value("and again sim:tokens=2").run()
    body = app_env.requests[-1]
    assert body["model"] == "glm-4-air" and body["temperature"] == 0.33
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}


LONG = "word " * 1700  # ≈ 2,100 estimated tokens


def small_window_app():
    at = new_app()
    at.sidebar.selectbox(key=state.MODEL).set_value("glm-4-airx").run()  # 8K window
    at.sidebar.number_input(key=state.MAX_TOKENS).set_value(4096).run()  # leaves 4,096 for the prompt
    return at


def test_context_meter_grows_and_old_turns_are_left_out(app_env):
    at = small_window_app()
    meter = lambda: at.sidebar.get("progress")[0].proto.text  # noqa: E731
    start = meter()
    send(at, "one " + LONG + " sim:tokens=2")
    after_one = meter()
    assert start != after_one and "Context" in after_one
    send(at, "two " + LONG + " sim:tokens=2")
    send(at, "three " + LONG + " sim:tokens=2")
    sent = app_env.requests[-1]["messages"]
    assert sent[-1]["content"].startswith("three") and not any(m["content"].startswith("one") for m in sent)
    assert sent[0]["role"] == "user"
    assert any(t_.value == "(older message: no longer sent to the model)" for t_ in at.caption)
    assert at.button(key="summarise")


def test_summarise_replaces_older_messages_in_the_request(app_env, db_url):
    at = small_window_app()
    for word in ("one", "two", "three"):
        send(at, f"{word} {LONG} sim:tokens=2")
    before = app_env.attempts
    at.button(key="summarise").click().run()
    assert not at.exception and app_env.attempts == before + 1
    ask = app_env.requests[-1]["messages"][0]["content"]
    assert ask.startswith("Summarise the conversation below") and "one word" in ask
    summary = at.session_state[state.SUMMARY]
    assert summary["text"] and summary["upto"]
    send(at, "four sim:tokens=2")
    sent = app_env.requests[-1]["messages"]
    assert {"role": "system", "content": summary["text"]} in sent
    saved = Store(db_url).conversation("local", at.session_state[state.CONVERSATION])
    assert saved["settings"]["summary"] == summary


def test_prompt_too_long_offers_summarise_and_retry(app_env):
    at = send(new_app(), "first sim:tokens=2")
    at = send(at, "too long sim:toolong")
    failed = msgs(at)[-1]
    assert failed["error"]["kind"] == "prompt_too_long"
    before = app_env.attempts
    at.button(key=f"sumretry-{failed['id']}").click().run()
    assert not at.exception
    # One summary request, then the retry (which this trigger rejects again).
    assert app_env.attempts == before + 2
    assert app_env.requests[-2]["messages"][0]["content"].startswith("Summarise the conversation below")
    assert at.session_state[state.SUMMARY]["upto"] == msgs(at)[1]["id"]


def test_every_message_has_the_same_toolbar_and_copy_sends_only_when_clicked(app_env, db_url):
    at = send(new_app(), "old question sim:tokens=2")
    send(at, "new question sim:tokens=3")
    old_q, old_a, new_q, new_a = msgs(at)
    keys = {b.key for b in at.button}
    assert {f"edit-{old_q['id']}", f"edit-{new_q['id']}", f"regen-{new_a['id']}"} <= keys
    assert f"regen-{old_a['id']}" not in keys  # only the last answer is regenerated
    assert [f.key for f in at.feedback] == [f"fb-{old_a['id']}", f"fb-{new_a['id']}"]
    assert not at.code  # no message's text is sent twice unless its Copy is clicked
    at.button(key=f"copy-{old_a['id']}").click().run()
    assert [c.value for c in at.code] == [old_a["content"]]
    at.feedback(key=f"fb-{old_a['id']}").set_value(0).run()
    assert msgs(at)[1]["feedback"] == 0
    assert Store(db_url).messages("local", at.session_state[state.CONVERSATION])[1]["feedback"] == 0
