"""Share links in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from test_storage import Backend, backend, pg_admin, store  # noqa: E402,F401 - fixtures

from glmchat.chat import conversation as conv  # noqa: E402
from glmchat.store.shares import MAX_SHARES, TOKEN  # noqa: E402

A, B = "local", "key:ab12cd34"
CANARY = "sk-canary-never-shared"


def chat(store) -> tuple[str, list[dict]]:
    cid = store.create_conversation(A, "分享 <b>title</b>", "glm-4.5-flash", {"system_prompt": CANARY})
    q = conv.user_message("what is 量子?")
    a = dict(conv.assistant_message("glm-4.6", {}), content="an answer", status="done", parent=q["id"])
    a["meta"].update(usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}, cost=0.123)
    failed = dict(conv.assistant_message("glm-4.6", {}), status="error", error={"kind": "busy"}, parent=a["id"])
    for m in (dict(q, parent=None), a, failed):
        store.save_message(A, cid, m)
    return cid, [q, a]


def test_a_link_is_a_snapshot_of_the_branch_shown_with_texts_models_and_times_only(store):
    cid, (q, a) = chat(store)
    token = store.share(A, cid)
    assert TOKEN.fullmatch(token) and len(token) * 6 >= 128  # 192 random bits
    got = store.shared(token)
    assert got["title"] == "分享 <b>title</b>"
    assert got["messages"] == [
        {"role": "user", "content": "what is 量子?", "model": None, "at": q["at"]},
        {"role": "assistant", "content": "an answer", "model": "glm-4.6", "at": a["at"]},
    ]  # the failed reply, costs, usage, settings and ids stay out
    text = json.dumps(got, default=str)
    assert CANARY not in text and "0.123" not in text and a["id"] not in text and A not in text
    # A snapshot: what happens to the chat later does not change it.
    store.save_message(A, cid, dict(conv.user_message("later"), parent=a["id"]))
    store.rename(A, cid, "renamed")
    assert store.shared(token) == got
    assert store.delete(A, cid) and store.shared(token) == got


def test_only_the_owner_lists_and_revokes_and_a_revoked_link_reads_as_never_made(store):
    cid, _ = chat(store)
    token = store.share(A, cid)
    assert store.share(B, cid) is None  # not B's conversation
    assert [s["token"] for s in store.shares(A)] == [token] and store.shares(B) == []
    assert store.shares(A)[0]["messages"] == 2 and store.shares(A)[0]["conversation_id"] == cid
    assert store.revoke(B, token) is False and store.shared(token) is not None
    assert store.revoke(A, token) is True and store.shared(token) is None
    assert store.shared("x" * 32) is None  # never made: the same answer
    for forged in (None, "", "../etc", "x" * 33, token + "'", 7):
        assert store.shared(forged) is None and store.revoke(A, forged) is False


def test_links_per_owner_are_bounded(store, monkeypatch):
    monkeypatch.setattr("glmchat.store.shares.MAX_SHARES", 3)
    cid, _ = chat(store)
    assert all(store.share(A, cid) for _ in range(3)) and store.share(A, cid) is None
    assert MAX_SHARES >= 100
