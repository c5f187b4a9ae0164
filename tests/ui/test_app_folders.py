"""AppTest: pinning a conversation, folders from the row menu, the sidebar's and the History page's folder
choice, and folder management on the History page."""

from __future__ import annotations

from functools import partial

import apptest
from apptest import send

from glmchat.chat.i18n import t
from glmchat.store import Store
from glmchat.ui import state

new_app = partial(apptest.new_app, params_open=True)


def chats(at) -> list[str]:
    """The sidebar's conversation ids, top to bottom."""
    return [b.key.removeprefix("conv-") for b in at.sidebar.button if b.key and b.key.startswith("conv-")]


def two_chats() -> tuple:
    at = send(new_app(), "first chat sim:tokens=1")
    first = at.session_state[state.CONVERSATION]
    at.sidebar.button(key="new-chat").click().run()
    send(at, "second chat sim:tokens=1")
    return at, first, at.session_state[state.CONVERSATION]


def test_a_pinned_chat_stays_on_top_under_pinned_and_can_be_unpinned(app_env, db_url):
    at, first, second = two_chats()
    assert chats(at)[:2] == [second, first]
    at.menu_button(key=state.row_menu_key(first)).click("pin").run()
    assert chats(at)[:2] == [first, second]
    assert Store(db_url).list_conversations("local")[0]["pinned"]
    captions = [c.value for c in at.sidebar.caption]
    assert captions.index(t("side.pinned", "en")) < captions.index(t("side.today", "en"))
    assert at.menu_button(key=state.row_menu_key(first)).proto.options[0] == t("history.unpin", "en")  # not "Pin"
    send(at, "the second chat moves up when it is updated, but not above a pin sim:tokens=1")
    assert chats(at)[:2] == [first, second]
    at.menu_button(key=state.row_menu_key(first)).click("unpin").run()
    assert chats(at)[:2] == [second, first] and t("side.pinned", "en") not in [c.value for c in at.sidebar.caption]


def test_a_chat_moves_into_a_new_folder_and_the_sidebar_shows_the_folder_together(app_env, db_url):
    at, first, second = two_chats()
    at.menu_button(key=state.row_menu_key(first)).click("move").run()
    at.text_input(key=state.NEW_FOLDER).input("工作 work").run()
    at.button(key="move-go").click().run()
    assert not at.exception
    [folder] = Store(db_url).folders("local")
    assert folder["name"] == "工作 work" and folder["count"] == 1
    assert not [w for w in at.text_input if w.key == state.NEW_FOLDER]  # the dialog closed
    at.sidebar.selectbox(key=state.SIDE_FOLDER).set_value(folder["id"]).run()
    assert chats(at) == [first]
    # The second one joins it through the dialog's list of folders.
    at.sidebar.selectbox(key=state.SIDE_FOLDER).set_value("").run()
    at.menu_button(key=state.row_menu_key(second)).click("move").run()
    at.selectbox(key=state.MOVE_TO).set_value(folder["id"]).run()
    at.button(key="move-go").click().run()
    at.sidebar.selectbox(key=state.SIDE_FOLDER).set_value(folder["id"]).run()
    assert chats(at) == [second, first]


def test_the_history_page_creates_renames_filters_by_and_deletes_folders(app_env, db_url):
    at, first, second = two_chats()
    at.switch_page("app_pages/history.py").run()
    at.text_input(key=state.NEW_FOLDER).input("Projects").run()
    at.button(key="folder-create").click().run()
    [folder] = Store(db_url).folders("local")
    fid = folder["id"]
    Store(db_url).move("local", second, fid)
    at.text_input(key=state.folder_name_key(fid)).input("项目").run()
    at.button(key=f"folder-save-{fid}").click().run()
    assert Store(db_url).folders("local")[0]["name"] == "项目"
    at.selectbox(key=state.FOLDER_FILTER).set_value(fid).run()
    assert [b.key for b in at.button if b.key and b.key.startswith("open-")] == [f"open-{second}"]
    assert any("📁 项目" in c.value for c in at.caption)
    at.button(key=f"folder-delete-{fid}").click().run()
    assert Store(db_url).folders("local") == []
    assert Store(db_url).conversation("local", second) is not None  # the chat stays
    for lang in ("zh", "en"):
        assert t("folder.delete_note", lang) and t("folder.title", lang)
