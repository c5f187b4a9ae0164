"""AppTest: saved conversations, the sidebar list, the History and Usage pages, owners and faults."""

from __future__ import annotations

import base64
import json
import sqlite3

import pytest
from apptest import enter, new_app, send
from conftest import ROOT, free_port, pg_url
from streamlit.testing.v1 import AppTest

from glmchat.chat import conversation as conv
from glmchat.chat.i18n import t
from glmchat.hosting import passwords
from glmchat.hosting.inputs import InputLimits
from glmchat.store import Store
from glmchat.ui import state


def db(url: str) -> Store:
    return Store(url)


def contents(at: AppTest) -> list[str]:
    return [m["content"] for m in at.session_state[state.MESSAGES]]


def test_messages_are_saved_and_reopen_from_the_url(app_env, db_url):
    at = send(new_app(), "量子计算是什么？ sim:tokens=5")
    cid = at.query_params["c"][0] if isinstance(at.query_params["c"], list) else at.query_params["c"]
    assert len(cid) == 32  # 128 random bits, hex
    saved = db(db_url).messages("local", cid)
    assert [m["role"] for m in saved] == ["user", "assistant"]
    assert saved[1]["status"] == "done" and saved[1]["meta"]["usage"]["completion_tokens"] == 5
    assert db(db_url).conversation("local", cid)["title"] == "量子计算是什么？ sim:tokens=5"
    # A reload is a new session with ?c=<id>.
    again = new_app(query={"c": cid})
    assert contents(again) == [m["content"] for m in saved]
    assert len(again.chat_message) == 2


def test_the_user_message_is_saved_before_the_call_and_a_failed_reply_too(app_env, db_url, monkeypatch):
    monkeypatch.setattr("glmchat.chat.client.BACKOFF", (0.01, 0.01))
    at = send(new_app(), "will fail sim:balance")
    cid = at.session_state[state.CONVERSATION]
    saved = db(db_url).messages("local", cid)
    assert saved[0]["content"] == "will fail sim:balance"
    assert saved[1]["status"] == "error" and saved[1]["error"]["code"] == "1113"


def test_retry_puts_the_new_reply_beside_the_failed_one_in_storage(app_env, db_url, monkeypatch):
    monkeypatch.setattr("glmchat.chat.client.BACKOFF", (0.01, 0.01))
    at = send(new_app(), "flaky sim:busy-once")
    # busy-once is retried automatically and succeeds; force a visible failure instead:
    at = send(at, "now fails sim:policy")
    cid = at.session_state[state.CONVERSATION]
    failed_id = at.session_state[state.MESSAGES][-1]["id"]
    at.button(key=f"retry-{failed_id}").click().run()
    saved = db(db_url).messages("local", cid)
    assert [m["role"] for m in saved] == ["user", "assistant", "user", "assistant"]
    assert failed_id not in [m["id"] for m in saved]
    assert [m["id"] for m in db(db_url).off_branch("local", cid)] == [failed_id]  # kept, off the branch shown


def test_stop_keeps_the_partial_in_storage(app_env, db_url):
    at = new_app()
    with pytest.raises(RuntimeError, match="timed out"):
        at.chat_input[0].set_value("long sim:slow").run(timeout=1.5)
    cid = at.session_state[state.CONVERSATION]
    reply = db(db_url).messages("local", cid)[-1]
    assert reply["status"] == "stopped" and reply["content"].strip()


def test_sidebar_lists_switches_renames_and_deletes(app_env, db_url):
    at = send(new_app(), "first chat sim:tokens=2")
    first = at.session_state[state.CONVERSATION]
    at.sidebar.button(key="new-chat").click().run()  # New chat
    send(at, "second chat sim:tokens=2")
    second = at.session_state[state.CONVERSATION]
    labels = [b.label for b in at.sidebar.button if b.key and b.key.startswith("conv-")]
    assert labels[:2] == ["second chat sim\\:tokens=2", "first chat sim\\:tokens=2"]  # newest first
    at.sidebar.button(key=f"conv-{first}").click().run()
    assert contents(at)[0] == "first chat sim:tokens=2"
    at.menu_button(key=state.row_menu_key(first)).click("rename").run()  # its row's ⋯ menu
    at.text_input(key=state.title_key(first)).input("Renamed <b>x</b>")
    next(b for b in at.button if b.label == t("history.save", "en")).click().run()
    assert db(db_url).conversation("local", first)["title"] == "Renamed <b>x</b>"
    at.menu_button(key=state.row_menu_key(first)).click("delete").run()
    assert db(db_url).conversation("local", first) is not None  # not before confirming
    at.button(key="confirm-delete").click().run()
    assert db(db_url).conversation("local", first) is None
    assert db(db_url).conversation("local", second) is not None
    assert at.session_state[state.MESSAGES] == []


def test_byok_visitors_use_their_own_keys_and_never_see_each_other(served, db_url, monkeypatch):
    monkeypatch.setenv("ZHIPUAI_API_KEY", "host-key-never-used")  # byok: the host's key is ignored
    monkeypatch.setenv("ZHIPUAI_BASE_URL", served.base_url)
    monkeypatch.setenv("GLMCHAT_ACCESS_MODE", "byok")
    alice = new_app()
    alice.sidebar.text_input(key=state.VISITOR_KEY).input("alice-key").run()
    send(alice, "alice secret plan sim:tokens=2")
    alice_cid = alice.session_state[state.CONVERSATION]
    bob = new_app()
    bob.sidebar.text_input(key=state.VISITOR_KEY).input("bob-key").run()
    send(bob, "bob question sim:tokens=2")
    assert [h["authorization"] for h in served.headers] == ["Bearer alice-key", "Bearer bob-key"]
    assert "alice" not in repr(bob.sidebar)
    # Bob opening Alice's id gets "not found" and nothing of hers.
    bob.query_params["c"] = alice_cid
    bob.session_state[state.LOADED] = None
    bob.run()
    assert any(t("history.not_found", "en") in w.value for w in bob.warning)
    assert "alice" not in repr(bob.main) and "alice" not in repr(bob.sidebar)
    # The key is never stored: only a keyed hash identifies the owner.
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        dump = " ".join(str(r) for r in conn.execute("select owner, title from conversations"))
    assert "alice-key" not in dump and "bob-key" not in dump and "key:" in dump


def test_byok_without_a_visitor_key_offers_only_the_demo(served, db_url, monkeypatch):
    monkeypatch.setenv("ZHIPUAI_API_KEY", "host-key-never-used")
    monkeypatch.setenv("ZHIPUAI_BASE_URL", served.base_url)
    monkeypatch.setenv("GLMCHAT_ACCESS_MODE", "byok")
    at = new_app()
    assert at.sidebar.selectbox(key=state.MODEL).value == "glm-offline-demo"
    at.sidebar.selectbox(key=state.MODEL).set_value("glm-4.5-flash").run()
    send(at, "hello sim:tokens=2")
    assert at.session_state[state.MESSAGES][-1]["error"]["kind"] == "no_key"
    assert served.attempts == 0


def test_gate_host_key_without_login_saves_nothing_unless_allowed(app_env, db_url, monkeypatch):
    monkeypatch.setenv("GLMCHAT_ACCESS_MODE", "gate")
    monkeypatch.setenv("GLMCHAT_ACCESS_PASSWORD_HASH", passwords.hash_password("open sesame"))
    at = enter(new_app(), "open sesame")
    at = send(at, "not kept sim:tokens=2")
    assert at.session_state[state.CONVERSATION] is None
    assert any(t("history.off", "en") in c.value for c in at.sidebar.caption)
    assert db(db_url).list_conversations("host") == []
    # "true": each visitor their own history, which without a login lasts as long as the browser session.
    monkeypatch.setenv("GLMCHAT_HOST_KEY_HISTORY", "true")
    one = send(enter(new_app(), "open sesame"), "kept for one sim:tokens=2")
    other = send(enter(new_app(), "open sesame"), "kept for another sim:tokens=2")
    assert db(db_url).list_conversations("host") == []
    for at, mine, theirs in ((one, "kept for one", "kept for another"), (other, "kept for another", "kept for one")):
        shown = repr(at.sidebar)
        assert mine in shown and theirs not in shown
    cid = one.session_state[state.CONVERSATION]
    intruder = enter(new_app(), "open sesame")
    intruder.query_params["c"] = cid
    intruder.run()
    assert any(t("history.not_found", "en") in w.value for w in intruder.warning)
    # "shared": the host named one history for all of them.
    monkeypatch.setenv("GLMCHAT_HOST_KEY_HISTORY", "shared")
    send(enter(new_app(), "open sesame"), "kept for all sim:tokens=2")
    assert len(db(db_url).list_conversations("host")) == 1
    assert "kept for all" in repr(enter(new_app(), "open sesame").sidebar)


def test_history_page_finds_a_chinese_word_and_opens_the_chat(app_env, db_url):
    at = send(new_app(), "请解释量子纠缠 sim:tokens=2")
    cid = at.session_state[state.CONVERSATION]
    at.sidebar.button(key="new-chat").click().run()
    send(at, "unrelated english chat sim:tokens=2")
    at.switch_page("app_pages/history.py").run()
    at.text_input(key=state.SEARCH).input("量子").run()
    assert not at.exception
    assert at.button(key=f"open-{cid}")
    assert len([b for b in at.button if b.key and b.key.startswith("open-")]) == 1
    at.button(key=f"open-{cid}").click().run()
    assert contents(at)[0] == "请解释量子纠缠 sim:tokens=2"


def test_history_search_finds_an_edited_question_and_opens_its_branch(app_env, db_url):
    at = send(new_app(), "zebra question sim:tokens=2")
    cid = at.session_state[state.CONVERSATION]
    old = at.session_state[state.MESSAGES][0]
    at.button(key=f"edit-{old['id']}").click().run()
    at.text_area(key=f"w_edit_{old['id']}").input("another question sim:tokens=2").run()
    at.button(key=f"edit-send-{old['id']}").click().run()
    at.sidebar.button(key="new-chat").click().run()
    at.switch_page("app_pages/history.py").run()
    at.text_input(key=state.SEARCH).input("zebra").run()
    assert "zebra" in " ".join(c.value for c in at.caption)  # the snippet is from the branch off screen
    at.button(key=f"open-{cid}").click().run()
    assert not at.exception
    assert contents(at) == ["zebra question sim:tokens=2", "tok0 tok1"]  # the branch that holds it
    assert [m["id"] for m in db(db_url).messages("local", cid)][0] == old["id"]


def test_export_then_import_gives_the_same_messages(app_env, db_url):
    send(new_app(), "export me <script>x</script> sim:tokens=3")
    store = db(db_url)
    data = store.export("local")
    assert store.import_export("local", json.loads(json.dumps(data, default=str)), InputLimits()) == 1
    convs = store.list_conversations("local")
    assert len(convs) == 2
    a, b = (store.messages("local", c["id"]) for c in convs)
    strip = lambda ms: [(m["role"], m["content"], m.get("reasoning")) for m in ms]  # noqa: E731
    assert strip(a) == strip(b)


def test_usage_page_totals_equal_the_stored_messages(app_env, db_url):
    at = send(new_app(), "one sim:tokens=7")
    send(at, "two sim:tokens=11")
    rows = db(db_url).usage("local")
    assert sum(r["completion_tokens"] for r in rows) == 18
    at.switch_page("app_pages/usage.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Requests"] == "2"
    assert metrics["Output tokens"] == "18"
    assert metrics["Input tokens"] == f"{sum(r['prompt_tokens'] for r in rows):,}"


def test_database_down_keeps_the_chat_working_with_a_warning(app_env, monkeypatch):
    monkeypatch.setenv("GLMCHAT_DATABASE_URL", pg_url(host="127.0.0.1", port=free_port()))  # nobody listens
    at = send(new_app(), "still works sim:tokens=4")
    assert contents(at)[1].split() == ["tok0", "tok1", "tok2", "tok3"]
    assert any(t("history.db_down", "en")[:30] in w.value for w in at.warning)
    assert at.session_state[state.STORE].pending > 0


def seed(db_url: str, n: int) -> str:
    """A conversation of n messages in the database (one transaction, through the importer)."""
    messages = []
    for i in range(n):
        if i % 2 == 0:
            messages.append({"id": f"{i:032x}", "role": "user", "content": f"question {i}"})
        else:
            messages.append(
                {
                    "id": f"{i:032x}",
                    "role": "assistant",
                    "content": f"answer {i}",
                    "reasoning": "",
                    "status": "done",
                    "error": None,
                    "finish_reason": "stop",
                    "meta": {
                        "model": "glm-4.5-flash",
                        "params": {},
                        "usage": None,
                        "ttft": None,
                        "tps": None,
                        "cost": None,
                        "attempts": 1,
                    },
                }
            )
    store = db(db_url)
    # Longer than the chat's default limit allows: as if the host had lowered it since.
    store.import_export(
        "local",
        {
            "format": "glmchat-export",
            "version": 1,
            "conversations": [
                {"id": "x" * 32, "title": "long chat", "model": "glm-4.5-flash", "settings": {}, "messages": messages}
            ],
        },
        InputLimits(conversation_messages=n),
    )
    return store.list_conversations("local")[0]["id"]


def branched_chat(store: Store) -> tuple[str, dict]:
    """300 messages on the branch shown; answer 11 was asked again twice (the first one has a follow-up
    exchange below it) and answer 291 once: five messages off the branch."""
    cid = store.create_conversation("local", "branched", "glm-4.5-flash")
    path: list[dict] = []
    made: dict[str, dict] = {}

    def add(name: str, parent: dict | None = None, keep: bool = True) -> dict:
        message = conv.user_message(name) if name.startswith("q") else conv.assistant_message("glm-4.5-flash", {})
        message.update(content=name, parent=(parent or (path[-1] if path else {})).get("id"))
        if message["role"] == "assistant":
            message.update(status=conv.DONE, finish_reason="stop")
        store.save_message("local", cid, message)
        made[name] = message
        if keep:
            path.append(message)
        return message

    for i in range(11):
        add(f"q{i}" if i % 2 == 0 else f"a{i}")
    add("a11 first")
    add("q12 under the first")
    add("a13 under the first")
    del path[11:]
    for version in ("a11 second", "a11 third"):
        store.leave_branch_after("local", cid, made["q10"]["id"])
        add(version, made["q10"])
    for i in range(12, 291):
        add(f"q{i}" if i % 2 == 0 else f"a{i}")
    add("a291 first")
    store.leave_branch_after("local", cid, made["q290"]["id"])
    add("a291 second", made["q290"])
    for i in range(292, 300):
        add(f"q{i}" if i % 2 == 0 else f"a{i}")
    assert len(store.messages("local", cid)) == 300 and len(store.off_branch("local", cid)) == 5
    return cid, made


def test_a_long_branched_chat_loads_only_the_versions_of_the_messages_it_holds(app_env, db_url, monkeypatch):
    cid, made = branched_chat(db(db_url))
    at = new_app(query={"c": cid})
    assert len(at.session_state[state.MESSAGES]) == state.LOAD_LIMIT
    # Of the five messages off the branch only the late answer's first version is held: it is a sibling.
    assert [m["content"] for m in at.session_state[state.OFF]] == ["a291 first"]
    assert at.session_state[state.OFF_UNLOADED] == 4
    for _ in range(-(-(300 - state.WINDOW_FIRST) // state.WINDOW_STEP)):
        at.button(key="show-earlier").click().run()
    assert not at.exception and len(at.chat_message) == 300
    # The early answer's versions came with it; what hangs below its first version stays in storage.
    assert sorted(m["content"] for m in at.session_state[state.OFF]) == ["a11 first", "a11 second", "a291 first"]
    assert at.session_state[state.OFF_UNLOADED] == 2
    at.button(key=f"branch-prev-{made['a11 third']['id']}").click().run()
    at.button(key=f"branch-prev-{made['a11 second']['id']}").click().run()
    assert not at.exception
    assert contents(at)[10:] == ["q10", "a11 first", "q12 under the first", "a13 under the first"]
    # Every branch counts against the conversation's limit, loaded or not: 300 + 5 held, 2 more would be 307.
    monkeypatch.setenv("GLMCHAT_MAX_CONVERSATION_MESSAGES", "306")
    again = new_app(query={"c": cid})
    send(again, "one more sim:tokens=2")
    assert app_env.attempts == 0
    assert any(t("input.conversation_full", "en", limit=306) in w.value for w in again.warning)


def test_a_long_conversation_draws_only_its_newest_messages_and_loads_older_on_demand(app_env, db_url, monkeypatch):
    cid = seed(db_url, 1200)
    at = new_app(query={"c": cid})
    assert len(at.chat_message) == state.WINDOW_FIRST
    assert len(at.session_state[state.MESSAGES]) == state.LOAD_LIMIT  # the rest stays in storage
    assert at.chat_message[-1].markdown[0].value == "answer 1199"
    assert at.button(key="show-earlier").label == f"Show earlier messages ({1200 - state.WINDOW_FIRST} more)"
    at.button(key="show-earlier").click().run()
    assert len(at.chat_message) == state.WINDOW_FIRST + state.WINDOW_STEP
    for _ in range(-(-(1200 - state.WINDOW_FIRST - state.WINDOW_STEP) // state.WINDOW_STEP)):
        at.button(key="show-earlier").click().run()
    assert not at.exception
    assert len(at.chat_message) == 1200 and not [b for b in at.button if b.key == "show-earlier"]
    contents = [m["content"] for m in at.session_state[state.MESSAGES]]
    assert contents == [f"question {i}" if i % 2 == 0 else f"answer {i}" for i in range(1200)]
    # Past the conversation length limit (1,000 by default) nothing more is sent, with a clear message.
    send(at, "one more sim:tokens=2")
    assert len(at.session_state[state.MESSAGES]) == 1200 and app_env.attempts == 0
    assert any(t("input.conversation_full", "en", limit=1000) in w.value for w in at.warning)
    # Under a higher limit sending works at the end of a long chat, and the window moves with it.
    monkeypatch.setenv("GLMCHAT_MAX_CONVERSATION_MESSAGES", "2000")
    send(at, "new one sim:tokens=2")
    assert at.session_state[state.MESSAGES][-1]["content"] == "tok0 tok1"


def test_login_is_offered_when_oidc_is_configured(app_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state[state.LANG] = "en"
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x",
        "client_id": "id",
        "client_secret": "s",
        "server_metadata_url": "https://issuer.invalid/.well-known/openid-configuration",
    }
    at.run()
    assert not at.exception
    assert at.sidebar.button(key="login").label == "Sign in"
    plain = new_app()
    assert not [b for b in plain.sidebar.button if b.key == "login"]


def test_a_stored_conversation_with_odd_fields_still_opens(app_env, db_url):
    """An import refuses these fields (tests/store/test_import.py); rows already stored, by an older version,
    may hold them, and the page must cope."""
    odd = [
        {
            "id": "a" * 32,
            "role": "user",
            "content": "look",
            "attachments": [
                {
                    "kind": "image",
                    "name": "x.svg",
                    "mime": "image/svg+xml",
                    "size": 9,
                    "data": base64.b64encode(b"<svg></svg>").decode(),
                }
            ],
        },
        {"id": "b" * 32, "role": "assistant", "content": "no meta at all", "status": "done"},
        {"id": "c" * 32, "role": "user", "content": "again"},
        {
            "id": "d" * 32,
            "role": "assistant",
            "content": "",
            "status": "error",
            "error": {"kind": "nope", "code": "[x](data:,y)"},
            "meta": {"model": "m", "usage": {"prompt_tokens": 1}, "ttft": "fast", "tps": "x", "cost": "free"},
        },
    ]
    store = db(db_url)
    with pytest.raises(ValueError, match="ttft"):
        store.import_export(
            "local",
            {
                "format": "glmchat-export",
                "version": 1,
                "conversations": [
                    {"id": "x" * 32, "title": "odd", "model": "glm-4.5-flash", "settings": {}, "messages": odd}
                ],
            },
            InputLimits(),
        )
    cid = store.create_conversation("local", "odd", "glm-4.5-flash", {})
    for m in odd:
        store.save_message("local", cid, m)
    at = new_app(query={"c": cid})
    assert not at.exception, [e.value for e in at.exception]
    assert [m.markdown[0].value for m in at.chat_message if m.markdown][1] == "no meta at all"
    assert any(t("error.unknown", "en") in e.value for e in at.error)


def test_a_page_that_stops_early_on_a_sessions_first_run_still_gets_its_sidebar(app_env, monkeypatch):
    """The first run draws the page before the sidebar; a page's st.stop() must not leave it out."""
    monkeypatch.setenv(
        "GLMCHAT_DATABASE_URL", pg_url(host="127.0.0.1", port=1, database="none", query={"connect_timeout": "1"})
    )  # nobody listens
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state[state.LANG] = "en"
    at.switch_page("app_pages/history.py").run()
    assert not at.exception
    assert any(t("history.db_down", "en") in w.value for w in at.warning)  # the page stopped there
    assert at.sidebar.selectbox(key=state.MODEL).value and at.sidebar.button(key="new-chat")


def temporary_mark(at: AppTest) -> bool:
    """The badge above the chat (st.badge is Markdown)."""
    return any(t("chat.temporary_on", "en") in m.value for m in at.main.markdown)


def test_a_temporary_chat_is_marked_never_saved_and_gone_on_refresh(app_env, db_url):
    store = db(db_url)
    at = new_app()
    at.toggle(key=state.TEMPORARY).set_value(True).run()
    assert temporary_mark(at)
    at = send(at, "a temporary secret sim:tokens=5")
    at = send(at, "and a second one sim:tokens=5")
    assert [m["role"] for m in at.session_state[state.MESSAGES]] == ["user", "assistant"] * 2
    assert "c" not in at.query_params and at.session_state[state.CONVERSATION] is None
    assert store.list_conversations("local") == [] and store.search("local", "temporary secret") == []
    # Another page and back: still temporary (Streamlit forgets an undrawn widget's value; the setting stays).
    at.switch_page("app_pages/history.py").run()
    at.switch_page("app_pages/chat.py").run()
    assert at.toggle(key=state.TEMPORARY).value is True and temporary_mark(at)
    at = send(at, "a third sim:tokens=5")
    assert store.list_conversations("local") == []
    # A refresh is a new session: nothing of it is left, and the new chat is an ordinary one.
    again = new_app()
    assert again.session_state[state.MESSAGES] == [] and again.toggle(key=state.TEMPORARY).value is False
    # Turning it off starts a new chat, which is saved.
    at.toggle(key=state.TEMPORARY).set_value(False).run()
    assert at.session_state[state.MESSAGES] == [] and not temporary_mark(at)
    at = send(at, "a kept question sim:tokens=5")
    assert [c["title"] for c in store.list_conversations("local")] == ["a kept question sim:tokens=5"]


def test_opening_a_saved_chat_ends_a_temporary_one(app_env, db_url):
    at = send(new_app(), "saved first sim:tokens=5")
    cid = at.session_state[state.CONVERSATION]
    at.toggle(key=state.TEMPORARY).set_value(True).run()
    assert at.session_state[state.MESSAGES] == [] and at.session_state[state.CONVERSATION] is None
    at = send(at, "not kept sim:tokens=5")
    at.sidebar.button(key=f"conv-{cid}").click().run()
    assert at.toggle(key=state.TEMPORARY).value is False
    assert [m["content"] for m in at.session_state[state.MESSAGES]][0] == "saved first sim:tokens=5"
    assert len(db(db_url).list_conversations("local")) == 1
