"""Conversations as a tree: the pure rules (glmchat/store/tree.py), the store's branches on SQLite and
PostgreSQL, and the migration of a database the release before the tree wrote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_storage import LIMITS, Backend, backend, pg_admin, store  # noqa: E402,F401 - fixtures

from glmchat.chat import conversation as conv  # noqa: E402
from glmchat.store import tree  # noqa: E402
from glmchat.store.migrations import apply_migrations  # noqa: E402

A, B = "local", "key:ab12cd34"
V3 = Path(__file__).resolve().parents[1] / "fixtures" / "glmchat_v3.db"  # tests/fixtures/make_v3_db.py


def m(mid: str, parent: str | None, at: float, role: str = "user") -> dict:
    return {"id": mid, "role": role, "content": mid, "parent": parent, "at": at}


# --------------------------------------------------------------------------- the rules


def test_siblings_are_numbered_oldest_first_and_only_where_there_are_some():
    path = [m("q1", None, 1), m("a1b", "q1", 5, "assistant"), m("q2", "a1b", 6)]
    off = [m("a1a", "q1", 2, "assistant"), m("a1c", "q1", 7, "assistant"), m("q2x", "a1a", 3)]
    got = tree.siblings(path, off)
    assert set(got) == {"a1b"}
    assert got["a1b"] == tree.Siblings(2, ("a1a", "a1b", "a1c"))
    assert (got["a1b"].previous, got["a1b"].next) == ("a1a", "a1c")
    first = tree.siblings([m("q1b", None, 9)], [m("q1", None, 1)])["q1b"]
    assert (first.position, first.previous, first.next) == (2, "q1", None)


def test_a_switch_brings_back_the_branch_and_goes_on_down_its_newest_replies():
    path = [m("q1", None, 1), m("a1", "q1", 2, "assistant"), m("q2b", "a1", 9), m("a2b", "q2b", 10, "assistant")]
    off = [
        m("q2", "a1", 3),
        m("a2", "q2", 4, "assistant"),
        m("a2-again", "q2", 6, "assistant"),
        m("q3", "a2", 5),
    ]
    change = tree.switch(path, off, "q2")
    assert change.keep == 2 and [x["id"] for x in change.chain] == ["q2", "a2-again"]  # the newest answer
    new_path, new_off = tree.apply(path, off, change)
    assert [x["id"] for x in new_path] == ["q1", "a1", "q2", "a2-again"]
    assert [x["id"] for x in new_off] == ["a2", "q3", "q2b", "a2b"]  # oldest first, nothing lost
    # Deeper: a message under an off-branch one brings its whole chain up to the path.
    change = tree.switch(path, off, "q3")
    assert [x["id"] for x in change.chain] == ["q2", "a2", "q3"]


def test_a_switch_refuses_what_is_not_a_branch():
    path = [m("q1", None, 1)]
    with pytest.raises(KeyError):
        tree.switch(path, [], "q1")  # on the path already (or a forged id)
    with pytest.raises(ValueError):
        tree.switch(path, [m("x", "y", 1), m("y", "x", 2)], "x")  # a loop
    with pytest.raises(ValueError):
        tree.switch(path, [m("x", "nowhere", 1)], "x")


def test_branching_off_keeps_the_tail():
    path = [m("q1", None, 1), m("a1", "q1", 2, "assistant")]
    kept, off = tree.branch_off(path, [m("old", None, 0)], 1)
    assert [x["id"] for x in kept] == ["q1"] and [x["id"] for x in off] == ["old", "a1"]
    assert tree.parent_of(kept) == "q1" and tree.parent_of([]) is None


# --------------------------------------------------------------------------- the store, both databases


def chat(store, owner: str = A) -> tuple[str, list[dict]]:
    """q1 a1 q2 a2, each the child of the one before."""
    cid = store.create_conversation(owner, "t", "glm-4.5-flash")
    out: list[dict] = []
    for i, role in enumerate(("user", "assistant", "user", "assistant")):
        if role == "user":
            msg = conv.user_message(f"m{i}")
        else:
            msg = dict(conv.assistant_message("x", {}), content=f"m{i}", status="done")
        msg["parent"] = out[-1]["id"] if out else None
        store.save_message(owner, cid, msg)
        out.append(msg)
    return cid, out


def test_regenerate_edit_and_switch_keep_every_branch(store):
    cid, (q1, a1, q2, a2) = chat(store)
    # Regenerate: a2 leaves the branch, a new answer takes its place.
    assert store.leave_branch_after(A, cid, q2["id"]) == 1
    again = dict(conv.assistant_message("x", {}), content="again", status="done", parent=q2["id"])
    store.save_message(A, cid, again)
    assert store.messages(A, cid) == [q1, a1, q2, again] and store.off_branch(A, cid) == [a2]
    # Edit q2: it and everything after it leave; the edited question hangs from a1 too.
    assert store.leave_branch_after(A, cid, a1["id"]) == 2
    edited = dict(conv.user_message("edited"), parent=a1["id"])
    store.save_message(A, cid, edited)
    assert store.messages(A, cid) == [q1, a1, edited]
    assert [x["id"] for x in store.off_branch(A, cid)] == [q2["id"], a2["id"], again["id"]]
    # Back to the old question: its newest answer comes with it.
    assert store.show_branch(A, cid, q2["id"]) is True
    assert store.messages(A, cid) == [q1, a1, q2, again]
    assert store.conversation(A, cid)["message_count"] == 4
    # The old answer, then the edit again; nothing was lost on the way.
    assert store.show_branch(A, cid, a2["id"]) and store.messages(A, cid) == [q1, a1, q2, a2]
    assert store.show_branch(A, cid, edited["id"]) and store.messages(A, cid) == [q1, a1, edited]
    assert len(store.off_branch(A, cid)) == 3
    assert store.show_branch(A, cid, edited["id"]) is True  # shown already: nothing changes
    assert store.show_branch(A, cid, "no-such-id") is False and store.show_branch(B, cid, q2["id"]) is False


def test_off_branch_can_load_only_the_siblings_of_given_messages(store):
    """A session holds the newest part of the branch shown: it loads the siblings of those messages only."""
    cid, (q1, a1, q2, a2) = chat(store)
    store.leave_branch_after(A, cid, q2["id"])  # a2 is asked again
    again = dict(conv.assistant_message("x", {}), content="again", status="done", parent=q2["id"])
    store.save_message(A, cid, again)
    store.leave_branch_after(A, cid, None)  # the first question edited: the whole chat leaves
    first = dict(conv.user_message("edited first"), parent=None)
    store.save_message(A, cid, first)
    found = store.conversation(A, cid)
    assert (found["message_count"], found["off_count"]) == (1, 5)
    assert [m["id"] for m in store.off_branch(A, cid, parents={None})] == [q1["id"]]
    assert [m["id"] for m in store.off_branch(A, cid, parents={q2["id"]})] == [a2["id"], again["id"]]
    assert [m["id"] for m in store.off_branch(A, cid, parents={None, q2["id"], "f" * 32})] == [
        q1["id"],
        a2["id"],
        again["id"],
    ]
    assert store.off_branch(A, cid, parents=set()) == []
    assert store.off_branch(B, cid, parents={None}) == []  # another owner's
    every = store.off_branch(A, cid)
    assert len(every) == 5 and every == sorted(every, key=tree.made)


def test_search_finds_every_branch_and_usage_counts_each_reply_once(store):
    cid, (q1, a1, q2, a2) = chat(store)
    a2["meta"]["usage"] = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    a2["content"] = "the hidden needle"
    store.save_message(A, cid, a2)
    store.leave_branch_after(A, cid, q2["id"])
    again = dict(conv.assistant_message("x", {}), content="another", status="done", parent=q2["id"])
    again["meta"]["usage"] = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    store.save_message(A, cid, again)
    [hit] = store.search(A, "NEEDLE")
    assert hit["id"] == cid and hit["message_id"] == a2["id"] and "needle" in hit["snippet"]
    assert store.show_branch(A, cid, hit["message_id"]) and store.messages(A, cid)[-1]["id"] == a2["id"]
    assert sorted(r["total_tokens"] for r in store.usage(A)) == [8, 12]
    # A hit on the branch shown comes before one off it.
    assert store.show_branch(A, cid, again["id"])
    on = dict(conv.user_message("needle here too"), parent=again["id"])
    store.save_message(A, cid, on)
    assert store.search(A, "needle")[0]["message_id"] == on["id"]


def test_export_and_import_keep_the_tree(store):
    cid, (q1, a1, q2, a2) = chat(store)
    store.leave_branch_after(A, cid, a1["id"])
    edited = dict(conv.user_message("edited"), parent=a1["id"])
    store.save_message(A, cid, edited)
    [out] = json.loads(json.dumps(store.export(A), default=str))["conversations"]
    assert [x["id"] for x in out["messages"]] == [q1["id"], a1["id"], edited["id"]]
    assert [x["id"] for x in out["branches"]] == [q2["id"], a2["id"]]
    assert store.import_export(B, {"format": "glmchat-export", "version": 1, "conversations": [out]}, LIMITS) == 1
    [mine] = store.list_conversations(B)
    assert store.messages(B, mine["id"]) == store.messages(A, cid)
    assert store.off_branch(B, mine["id"]) == store.off_branch(A, cid)
    assert store.show_branch(B, mine["id"], q2["id"]) and store.messages(B, mine["id"])[-1]["id"] == a2["id"]


@pytest.mark.parametrize(
    "branch, why",
    [
        ({"parent": "nowhere"}, "hangs from no message"),
        ({"id": "loop", "parent": "loop2"}, "hangs from no message"),
        ({"alternatives": []}, "alternatives belong"),
    ],
)
def test_an_import_refuses_a_branch_that_hangs_from_nothing(store, branch, why):
    cid, _ = chat(store)
    [out] = json.loads(json.dumps(store.export(A), default=str))["conversations"]
    loose = {"id": "loose", "role": "user", "content": "x", "parent": None} | branch
    out["branches"] = [loose, {"id": "loop2", "role": "user", "content": "y", "parent": "loop"}]
    with pytest.raises(ValueError, match=why):
        store.import_export(B, {"format": "glmchat-export", "version": 1, "conversations": [out]}, LIMITS)
    assert store.count_conversations(B) == 0


# --------------------------------------------------------------------------- the migration


def v3_database(backend: Backend) -> None:
    """The database the release before the tree wrote: the file itself, or its rows in PostgreSQL."""
    if backend.name == "sqlite":
        shutil.copy(V3, backend.path)
        return
    source = sa.create_engine(f"sqlite:///{V3}")
    with source.connect() as old, backend.engine().begin() as new:
        apply_migrations(new, target=3)
        md = sa.MetaData()
        for table in ("conversations", "messages", "app_meta"):
            t = sa.Table(table, md, autoload_with=old)
            rows = [dict(r._mapping) for r in old.execute(sa.select(t))]
            if rows:
                new.execute(sa.text(_insert(table, rows[0])), rows)
    source.dispose()


def _insert(table: str, row: dict) -> str:
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"


def test_a_database_of_the_release_before_the_tree_migrates_with_nothing_lost(backend):
    v3_database(backend)
    s = backend.open()
    assert s.version() == 6
    cid = "c" * 32
    path = s.messages(A, cid)
    assert [x["id"] for x in path] == ["q1", "a1", "q2", "a2"]
    assert [x["parent"] for x in path] == [None, "q1", "a1", "q2"]
    assert "alternatives" not in path[1] and path[1]["content"] == "第三个回答 third"
    # The two earlier answers are a1's siblings now, oldest first, with their text, model and usage.
    earlier = s.off_branch(A, cid)
    assert [x["id"] for x in earlier] == ["a1-old", "a1-mid"]
    assert [x["content"] for x in earlier] == ["第一个回答", "second answer"]
    assert all(x["parent"] == "q1" and x["status"] == "done" for x in earlier)
    assert [x["meta"]["usage"]["total_tokens"] for x in earlier] == [30, 40]
    assert earlier[-1]["at"] < path[1]["at"]  # made before the answer that replaced them
    siblings = tree.siblings(path, earlier)["a1"]
    assert siblings.ids == ("a1-old", "a1-mid", "a1") and siblings.position == 3
    # The Usage page counts every branch's replies once: the earlier answers were not counted before.
    assert sorted(r["total_tokens"] for r in s.usage(A)) == [30, 40, 50, 110]
    # They can be shown again, and the other owner's chat is as it was.
    assert s.show_branch(A, cid, "a1-old") and [x["id"] for x in s.messages(A, cid)] == ["q1", "a1-old"]
    assert [x["id"] for x in s.messages(B, "d" * 32)] == ["u1", "r1"] and s.off_branch(B, "d" * 32) == []
    assert s.migrate() == 6  # once only
