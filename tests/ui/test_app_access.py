"""AppTest: access modes and the gate, the host's spending limits, input limits, the request log line."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import UTC, datetime

import pytest
from apptest import enter, new_app, send, shown
from conftest import CANARY_KEY, ROOT, pg_url
from streamlit.testing.v1 import AppTest

from glmchat.chat.i18n import t
from glmchat.hosting import passwords
from glmchat.store import Store
from glmchat.ui import state

PASSWORD = "open sesame 芝麻开门"
HASH = passwords.hash_password(PASSWORD)


@pytest.fixture
def gated(app_env, monkeypatch):
    monkeypatch.setenv("GLMCHAT_ACCESS_MODE", "gate")
    monkeypatch.setenv("GLMCHAT_ACCESS_PASSWORD_HASH", HASH)
    return app_env


def test_the_gate_shows_nothing_else_and_no_page_or_query_parameter_gets_past_it(gated, db_url):
    for at in (
        new_app(),
        new_app(query={"c": "0" * 32, "api_key": "x", "model": "glm-4-plus", "gate_passed": "1"}),
        new_app(page="app_pages/history.py"),
        new_app(page="app_pages/usage.py"),
    ):
        assert not at.exception
        assert [w.key for w in at.text_input] == [state.PASSWORD]
        assert not at.chat_input and not at.sidebar.selectbox and not at.sidebar.button
        assert t("page.history", "en") not in shown(at) and t("history.search", "en") not in shown(at)
    assert gated.attempts == 0


def test_the_right_password_opens_the_app_for_this_session_only(gated, db_url):
    at = enter(new_app(), PASSWORD)
    assert at.chat_input and not [w for w in at.text_input if w.key == state.PASSWORD]
    send(at, "hello sim:tokens=2")
    assert at.session_state[state.MESSAGES][-1]["content"] == "tok0 tok1"
    assert gated.headers[-1]["authorization"] == f"Bearer {CANARY_KEY}"
    assert all(PASSWORD not in repr(at.session_state[k]) for k in at.session_state)  # not kept after the check
    assert not new_app().chat_input  # another session (a new tab, a refresh) asks again


def test_wrong_passwords_are_throttled_per_client_across_sessions(gated, db_url, caplog):
    caplog.set_level(logging.DEBUG)
    at = new_app()
    for _ in range(passwords.FREE_ATTEMPTS):
        enter(at, "wrong guess")
        assert any(t("gate.wrong", "en") in e.value for e in at.error)
    # The next attempt waits, even with the right password, and a new session does not reset it.
    enter(at, PASSWORD)
    assert not at.chat_input and any("Too many attempts" in e.value for e in at.error)
    again = enter(new_app(), PASSWORD)
    assert not again.chat_input and any("Too many attempts" in e.value for e in again.error)
    assert Store(db_url).login_failures(None, datetime(2000, 1, 1, tzinfo=UTC)) == passwords.FREE_ATTEMPTS
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "wrong guess" not in logged and PASSWORD not in logged


def test_a_broken_access_setting_refuses_to_serve(app_env, monkeypatch):
    monkeypatch.setenv("GLMCHAT_ACCESS_MODE", "gate")  # no password and no login configured
    at = new_app()
    assert not at.chat_input and "gate mode needs" in at.error[0].value
    monkeypatch.setenv("GLMCHAT_ACCESS_MODE", "personal")
    monkeypatch.setenv("GLMCHAT_LIMIT_RPM", "lots")
    at = new_app()
    assert not at.chat_input and "GLMCHAT_LIMIT_RPM" in at.error[0].value
    assert app_env.attempts == 0


def test_gate_with_own_key_allowed_uses_the_visitors_key_first(gated, monkeypatch):
    monkeypatch.setenv("GLMCHAT_ALLOW_OWN_KEY", "true")
    at = enter(new_app(params_open=True), PASSWORD)  # with the host's key in effect, the field is in the settings
    send(at, "on the host sim:tokens=1")
    at.sidebar.text_input(key=state.VISITOR_KEY).input("visitor-own-key").run()
    send(at, "on mine sim:tokens=1")
    assert [h["authorization"] for h in gated.headers] == [f"Bearer {CANARY_KEY}", "Bearer visitor-own-key"]


def test_custom_models_are_not_offered_on_the_hosts_key_outside_personal_mode(gated):
    at = enter(new_app(), PASSWORD)
    assert not [w for w in at.sidebar.text_input if w.key == state.CUSTOM_MODEL]
    at.session_state[state.CUSTOM_MODEL] = "glm-4-plus-expensive"  # a forged widget value is ignored
    send(at, "which model sim:tokens=1")
    assert gated.requests[-1]["model"] != "glm-4-plus-expensive"


# -- spending limits ---------------------------------------------------------------------------------------


def test_the_per_minute_limit_refuses_without_calling_and_holds_across_sessions(app_env, db_url, monkeypatch):
    monkeypatch.setenv("GLMCHAT_LIMIT_VISITOR_RPM", "2")
    at = new_app()
    send(at, "one sim:tokens=1")
    send(at, "two sim:tokens=1")
    send(at, "three sim:tokens=1")
    assert app_env.attempts == 2
    refused = at.session_state[state.MESSAGES][-1]
    assert refused["status"] == "error" and refused["error"]["limit"] == "rpm"
    text = " ".join(e.value for e in at.error)
    assert "per-minute limit" in text and "resets in" in text
    other = send(new_app(), "four sim:tokens=1")  # a refresh or a second tab counts against the same visitor
    assert other.session_state[state.MESSAGES][-1]["error"]["limit"] == "rpm" and app_env.attempts == 2


def test_the_daily_token_limit_counts_the_apis_own_usage(app_env, db_url, monkeypatch):
    monkeypatch.setenv("GLMCHAT_LIMIT_TOKENS_DAY", "10")
    at = send(new_app(), "a long one sim:tokens=20")
    assert at.session_state[state.MESSAGES][-1]["status"] == "done"
    today = Store(db_url).spend_today()
    usage = at.session_state[state.MESSAGES][-1]["meta"]["usage"]
    assert today["requests"] == 1 and today["tokens"] == usage["total_tokens"] and today["streams"] == 0
    send(at, "more sim:tokens=1")
    assert at.session_state[state.MESSAGES][-1]["error"]["limit"] == "tokens_day" and app_env.attempts == 1


def test_limits_do_not_apply_to_a_visitors_own_key_or_the_offline_demo(served, db_url, monkeypatch):
    monkeypatch.delenv("ZHIPUAI_API_KEY", raising=False)
    monkeypatch.setenv("ZHIPUAI_BASE_URL", served.base_url)
    monkeypatch.setenv("GLMCHAT_LIMIT_RPM", "1")
    at = new_app()
    send(at, "demo one")
    send(at, "demo two")
    assert [m.get("error") for m in at.session_state[state.MESSAGES] if m["role"] == "assistant"] == [None, None]
    at.sidebar.text_input(key=state.VISITOR_KEY).input("my-own-key").run()
    send(at, "own one sim:tokens=1")
    send(at, "own two sim:tokens=1")
    assert served.attempts == 2 and Store(db_url).spend_today()["requests"] == 0


def test_limits_fail_closed_when_the_database_is_down(app_env, monkeypatch):
    monkeypatch.setenv(
        "GLMCHAT_DATABASE_URL", pg_url(host="127.0.0.1", port=1, database="none", query={"connect_timeout": "1"})
    )  # nobody listens
    monkeypatch.setenv("GLMCHAT_LIMIT_RPM", "100")
    at = send(new_app(), "hello sim:tokens=1")
    assert at.session_state[state.MESSAGES][-1]["error"]["limit"] == "unavailable" and app_env.attempts == 0


# -- input limits --------------------------------------------------------------------------------------------


def test_message_length_counts_what_people_see_and_refuses_before_any_call(app_env, monkeypatch):
    monkeypatch.setenv("GLMCHAT_MAX_MESSAGE_CHARS", "10")
    at = send(new_app(), "你好👨‍👩‍👧🇨🇳世界和平吧呀")  # 10 characters as people count them; 15 code points
    assert len(at.session_state[state.MESSAGES]) == 2
    at = send(new_app(), "你好👨‍👩‍👧🇨🇳世界和平吧呀！")  # 11
    assert at.session_state[state.MESSAGES] == []
    assert any(t("input.too_long", "en", actual=11, limit=10) in w.value for w in at.warning)


def test_conversations_per_owner_are_capped(app_env, db_url, monkeypatch):
    monkeypatch.setenv("GLMCHAT_MAX_CONVERSATIONS", "1")
    at = send(new_app(), "first chat sim:tokens=1")
    send(at, "same chat goes on sim:tokens=1")  # adding to an existing conversation is fine
    at.sidebar.button(key="new-chat").click().run()  # New chat
    send(at, "second chat sim:tokens=1")
    assert any(t("input.too_many_conversations", "en", limit=1) in w.value for w in at.warning)
    assert len(Store(db_url).list_conversations("local")) == 1 and app_env.attempts == 2


# -- the request log -----------------------------------------------------------------------------------------


def test_one_structured_line_per_request_without_key_or_text(app_env, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="glmchat.requests")
    at = send(new_app(), "private words sim:tokens=3")
    send(at, "fails sim:policy")
    lines = [r.getMessage() for r in caplog.records if r.name == "glmchat.requests"]
    assert len(lines) == 2
    first, second = (json.loads(line.removeprefix("request ")) for line in lines)
    assert first["status"] == "ok" and first["completion_tokens"] == 3 and first["attempts"] == 1
    assert first["latency_ms"] is not None and first["duration_ms"] >= first["latency_ms"]
    assert second["status"] == "error" and second["code"] == "1301" and second["http_status"] == 400
    assert len({first["request_id"], second["request_id"]}) == 2
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert CANARY_KEY not in everything and "private words" not in everything and "tok0" not in everything
    monkeypatch.setenv("GLMCHAT_LOG_CONTENT", "true")
    caplog.clear()
    send(new_app(), "logged words sim:tokens=1")
    line = json.loads(
        next(r.getMessage() for r in caplog.records if r.name == "glmchat.requests").removeprefix("request ")
    )
    assert line["prompt"] == "logged words sim:tokens=1" and line["reply"] == "tok0"


def test_the_usage_page_shows_the_hosts_day_against_its_limits(app_env, db_url, monkeypatch):
    monkeypatch.setenv("GLMCHAT_LIMIT_TOKENS_DAY", "100000")
    at = send(new_app(), "count me sim:tokens=4")
    total = at.session_state[state.MESSAGES][-1]["meta"]["usage"]["total_tokens"]
    at.switch_page("app_pages/usage.py").run()
    assert not at.exception
    assert t("usage.host_today", "en") in [h.value for h in at.subheader]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[t("usage.tokens", "en")] == f"{total:,} / 100,000"
    assert metrics[t("usage.requests", "en")] == "1"


AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x",
    "client_id": "id",
    "client_secret": "s",
    "server_metadata_url": "https://issuer.invalid/.well-known/openid-configuration",
}


def signed_in(email: str | None, verified: object = True) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state[state.LANG] = "en"
    at.secrets["auth"] = AUTH
    user = {"is_logged_in": True, "email": email}
    if verified is not None:
        user["email_verified"] = verified
    at.user = user if email else {"is_logged_in": False}
    return at.run()


def test_gate_with_login_admits_only_the_allow_list(app_env, db_url, monkeypatch):
    monkeypatch.setenv("GLMCHAT_ACCESS_MODE", "gate")
    monkeypatch.setenv("GLMCHAT_ALLOWED_EMAILS", "ann@example.com, @corp.cn")
    out = signed_in(None)
    assert not out.chat_input and out.button(key="gate-login").label == "Sign in"
    eve = signed_in("eve@example.com")
    assert not eve.chat_input and any("eve@example.com" in w.value for w in eve.warning)
    for email in ("ann@example.com", "Li@Corp.CN"):
        at = signed_in(email)
        assert at.chat_input, email
    at = send(signed_in("li@corp.cn"), "signed in sim:tokens=2")
    assert at.session_state[state.MESSAGES][-1]["content"] == "tok0 tok1"
    assert app_env.attempts == 1
    # The signed-in user owns the chat, named by a keyed hash, never by the address itself.
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        owners = [r[0] for r in conn.execute("select owner from conversations")]
    assert len(owners) == 1 and owners[0].startswith("user:") and "corp" not in owners[0]


def test_an_unverified_email_names_nobody(app_env, db_url, monkeypatch):
    """A provider that lets people claim any address: unless it says the address is verified, the
    address neither passes the allow-list nor owns anyone's chats."""
    monkeypatch.setenv("GLMCHAT_ACCESS_MODE", "gate")
    monkeypatch.setenv("GLMCHAT_ALLOWED_EMAILS", "ann@example.com")
    for verified in (False, None, "true", 1):
        at = signed_in("ann@example.com", verified)
        assert not at.chat_input, verified
        assert any(t("gate.unverified", "en", who="ann@example.com") == w.value for w in at.warning), verified
    assert app_env.attempts == 0
    # In personal mode the sidebar says so, and the chats stay the machine's own, not "ann"'s.
    monkeypatch.setenv("GLMCHAT_ACCESS_MODE", "personal")
    at = send(signed_in("ann@example.com", False), "unverified sim:tokens=1")
    assert any(t("gate.unverified", "en", who="ann@example.com") in c.value for c in at.sidebar.caption)
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        assert [r[0] for r in conn.execute("select owner from conversations")] == ["local"]
