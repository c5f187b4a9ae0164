"""Pins and folders in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from test_storage import (  # noqa: E402,F401 - fixtures
    Backend,
    Switch,
    backend,
    no_background_replays,
    pg_admin,
    store,
)

from glmchat.store import ResilientStore  # noqa: E402
from glmchat.store.folders import MAX_FOLDER_NAME, MAX_FOLDERS  # noqa: E402

A, B = "local", "key:ab12cd34"


def chats(store, n: int, owner: str = A) -> list[str]:
    return [store.create_conversation(owner, f"chat {i}", "glm-4.5-flash") for i in range(n)]


def test_a_pinned_chat_is_listed_first_the_newest_pin_first(store):
    first, second, third = chats(store, 3)
    assert [c["id"] for c in store.list_conversations(A)] == [third, second, first]
    assert store.pin(A, first, True) and store.pin(A, second, True)
    listed = store.list_conversations(A)
    assert [c["id"] for c in listed] == [second, first, third]
    assert [c["pinned"] for c in listed] == [True, True, False]
    assert store.pin(A, second, False) and [c["id"] for c in store.list_conversations(A)] == [first, third, second]
    assert store.pin(B, third, True) is False and store.list_conversations(A)[0]["id"] == first  # not B's


def test_folders_hold_chats_and_deleting_one_keeps_them(store):
    work, home = chats(store, 2)
    fid = store.create_folder(A, "  工作  Work ")
    assert store.folders(A) == [{"id": fid, "name": "工作 Work", "count": 0}]
    assert store.create_folder(A, "工作 Work") == fid  # one folder per name
    assert store.move(A, work, fid) and [c["id"] for c in store.list_conversations(A, folder=fid)] == [work]
    assert store.list_conversations(A, folder=fid)[0]["folder_id"] == fid
    assert store.folders(A)[0]["count"] == 1
    assert store.rename_folder(A, fid, "Job") and store.folders(A)[0]["name"] == "Job"
    # Another owner's folder and chats behave as missing.
    theirs = store.create_folder(B, "theirs")
    assert store.move(A, home, theirs) is False and store.move(B, work, theirs) is False
    assert store.rename_folder(B, fid, "x") is False and store.delete_folder(B, fid) is False
    assert store.folders(B) == [{"id": theirs, "name": "theirs", "count": 0}]
    assert store.list_conversations(B, folder=fid) == []
    assert store.delete_folder(A, fid) and store.folders(A) == []
    assert [c["folder_id"] for c in store.list_conversations(A)] == [None, None]  # the chats stay
    assert store.move(A, work, None) and store.move(A, work, "f" * 32) is False


def test_folder_names_and_numbers_are_bounded(store):
    with pytest.raises(ValueError):
        store.create_folder(A, " \n ")
    assert len(store.folders(A)) == 0
    fid = store.create_folder(A, "x" * 500)
    assert store.folders(A)[0]["name"] == "x" * MAX_FOLDER_NAME
    for i in range(MAX_FOLDERS - 1):
        assert store.create_folder(A, f"f{i}") is not None
    assert store.create_folder(A, "one too many") is None and len(store.folders(A)) == MAX_FOLDERS
    assert store.create_folder(B, "another owner's first") is not None
    assert store.create_folder(B, "reuse", fid=fid) is None  # an id another owner holds is not taken over


def test_pins_and_moves_wait_for_the_database_and_are_replayed(backend):
    switch = Switch(backend)  # down
    r = ResilientStore(switch, retry_interval=0)
    [cid] = chats(r, 1)
    fid = r.create_folder(A, "later")
    assert r.move(A, cid, fid) and r.pin(A, cid, True) and r.pending == 4
    switch.up = True
    assert r.flush() and r.pending == 0
    [chat] = r.list_conversations(A)
    assert (chat["folder_id"], chat["pinned"]) == (fid, True) and r.folders(A)[0]["count"] == 1
