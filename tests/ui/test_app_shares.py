"""AppTest: share links. Made from a row's menu, listed and revoked on the History page, opened by another
owner (the snapshot and nothing else), continued as a chat of one's own; the host's setting decides."""

from __future__ import annotations

from functools import partial

import apptest
import pytest
from apptest import send
from streamlit.testing.v1 import AppTest

from glmchat.chat import conversation as conv
from glmchat.chat.i18n import t
from glmchat.hosting import passwords
from glmchat.store import Store
from glmchat.ui import state

new_app = partial(apptest.new_app, params_open=True)


@pytest.fixture
def sharing(app_env, monkeypatch):
    monkeypatch.setenv("GLMCHAT_SHARE_LINKS", "admitted")
    return app_env


def shared_chat(db_url) -> tuple[AppTest, str, str]:
    """A chat with a question and its answer, and a link to it made from the row's menu."""
    at = send(new_app(), "share me 量子 sim:tokens=2")
    cid = at.session_state[state.CONVERSATION]
    at.menu_button(key=state.row_menu_key(cid)).click("share").run()
    assert not at.exception
    [link] = Store(db_url).shares("local")
    assert any(link["token"] in c.value and "/shared?s=" in c.value for c in at.code)  # the dialog shows it
    return at, cid, link["token"]


def open_link(token: str, lang: str = "en") -> AppTest:
    """Another session (in these tests the same machine's owner: the page shows a snapshot whoever asks)."""
    return apptest.new_app(lang=lang, query={"s": token}, page="app_pages/shared.py")


def texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_a_link_shows_the_snapshot_and_nothing_else_and_revoking_it_makes_it_not_found(sharing, db_url):
    owner, cid, token = shared_chat(db_url)
    send(owner, "added after the link sim:tokens=1")
    other = open_link(token)
    assert not other.exception
    assert "share me 量子 sim\\:tokens=2" in " ".join(texts(other)) and "tok0 tok1" in " ".join(texts(other))
    assert "added after" not in " ".join(texts(other))  # a snapshot, as it was
    assert not other.sidebar.button and not other.chat_input  # no history, no way to write here
    assert "¥" not in " ".join(c.value for c in other.caption)  # no costs
    # The owner lists it on the History page and revokes it: the link then reads as never made.
    owner.switch_page("app_pages/history.py").run()
    owner.button(key=f"revoke-{token}").click().run()
    assert Store(db_url).shares("local") == []
    for gone in (token, "x" * 32):
        page = open_link(gone)
        assert [w.value for w in page.warning] == [t("share.not_found", "en")]
        assert not texts(page) or all("量子" not in x for x in texts(page))


def test_continue_this_chat_makes_a_copy_of_ones_own(sharing, db_url):
    _, cid, token = shared_chat(db_url)
    other = open_link(token, "zh")
    other.button(key="continue-shared").click().run()
    assert not other.exception
    mine = other.session_state[state.CONVERSATION]
    assert mine != cid
    copied = Store(db_url).messages("local", mine)
    assert [m["content"] for m in copied] == ["share me 量子 sim:tokens=2", "tok0 tok1"]
    assert [m["parent"] for m in copied] == [None, copied[0]["id"]]
    assert Store(db_url).messages("local", cid)[0]["id"] != copied[0]["id"]  # the original is not touched


def test_without_the_hosts_setting_there_is_no_share_action_and_no_shared_page(app_env, db_url):
    at = send(new_app(), "private sim:tokens=1")
    cid = at.session_state[state.CONVERSATION]
    assert "share" not in [o for o in at.menu_button(key=state.row_menu_key(cid)).proto.options]
    assert t("history.share", "en") not in at.menu_button(key=state.row_menu_key(cid)).proto.options
    token = Store(db_url).share("local", cid)  # even a link made while sharing was on
    page = open_link(token)
    assert "private" not in " ".join(texts(page))  # the page does not exist: the chat opens instead


def a_link(db_url) -> str:
    store = Store(db_url)
    cid = store.create_conversation("local", "gated chat", "glm-4.5-flash")
    store.save_message("local", cid, dict(conv.user_message("behind the gate 秘密"), parent=None))
    return store.share("local", cid)


@pytest.fixture
def gate(app_env, monkeypatch):
    monkeypatch.setenv("GLMCHAT_ACCESS_MODE", "gate")
    monkeypatch.setenv("GLMCHAT_ACCESS_PASSWORD_HASH", passwords.hash_password("let me in"))
    return monkeypatch


def test_with_links_for_anyone_a_visitor_before_the_gate_sees_the_snapshot_and_nothing_more(gate, db_url):
    gate.setenv("GLMCHAT_SHARE_LINKS", "anyone")
    token = a_link(db_url)
    for page in ("app_pages/shared.py", "app_pages/chat.py", "app_pages/history.py"):
        at = apptest.new_app(query={"s": token}, page=page)
        assert not at.exception
        assert "behind the gate 秘密" in " ".join(texts(at))
        assert not at.text_input and not at.chat_input and not at.sidebar.button  # no gate form, no chat
        assert not [b for b in at.button if b.key == "continue-shared"]  # continuing needs the gate passed
    at = apptest.new_app(query={"s": "x" * 32})
    assert [w.value for w in at.warning] == [t("share.not_found", "en")] and not at.chat_input
    at = apptest.new_app()  # no link: the gate, as before
    assert at.text_input(key=state.PASSWORD) and not at.chat_input


def test_with_links_for_admitted_visitors_the_gate_comes_first(gate, db_url):
    gate.setenv("GLMCHAT_SHARE_LINKS", "admitted")
    token = a_link(db_url)
    at = apptest.new_app(query={"s": token}, page="app_pages/shared.py")
    assert "behind the gate" not in " ".join(texts(at)) and at.text_input(key=state.PASSWORD)
    at.text_input(key=state.PASSWORD).input("let me in")
    at.button[0].click().run()
    assert "behind the gate 秘密" in " ".join(texts(at))


def test_the_link_page_without_its_token_shows_the_link_this_session_opened_and_only_that(sharing, db_url):
    """Back from a continued chat lands on Streamlit's own entries of the page switch (/shared, /shared?c=…)."""
    owner, _, token = shared_chat(db_url)
    page = open_link(token)
    page.query_params.clear()
    page.query_params["c"] = "f" * 32
    page.run()
    assert not page.exception and "tok0 tok1" in " ".join(texts(page))
    assert dict(page.query_params) == {"s": token}  # the address says which link it is again
    # A session that never opened the link gets nothing from an address without a token.
    bare = apptest.new_app(page="app_pages/shared.py")
    assert [w.value for w in bare.warning] == [t("share.not_found", "en")]
    # Revoked: the remembered link is gone like any other.
    assert Store(db_url).revoke("local", token)
    page.query_params.clear()
    page.run()
    assert [w.value for w in page.warning] == [t("share.not_found", "en")] and "tok0" not in " ".join(texts(page))
