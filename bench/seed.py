"""Seed GLM Chat conversations straight into its database through glmchat.store.Store (owner "local")."""

from __future__ import annotations

from bench import corpus
from glmchat.chat import conversation as conv
from glmchat.store import Store

OWNER = "local"  # personal mode: the single owner
MODEL = "glm-4.5-flash"  # GLM Chat's default model (the catalogue's `default`)
PARAMS = {"temperature": 0.6, "top_p": 0.95, "max_tokens": 98304, "thinking": True, "web_search": False}


def message(i: int) -> dict:
    """Message i as GLM Chat keeps it: user_message() / a finished assistant_message() with usage."""
    role, content = corpus.text(i)
    if role == "user":
        return conv.user_message(content)
    m = conv.assistant_message(MODEL, PARAMS)
    tokens = 24
    m.update(content=content, reasoning="", status=conv.DONE, finish_reason="stop")
    m["meta"].update(
        usage={"prompt_tokens": tokens * i, "completion_tokens": tokens, "total_tokens": tokens * (i + 1)},
        ttft=0.3,
        tps=80.0,
        cost=0.0,
    )
    return m


class Seeder:
    def __init__(self, database_url: str):
        self.store = Store(database_url)
        self.seeded: set[str] = set()

    def conversation(self, n: int, title: str) -> tuple[str, str | None]:
        """A new conversation with n messages: (its id, the last seeded message id or None)."""
        settings = {**PARAMS, "system_prompt": "", "preset": None, "summary": None}
        cid = self.store.create_conversation(OWNER, title, MODEL, settings)
        last = None
        for i in range(n):
            m = message(i)
            self.store.save_message(OWNER, cid, m)
            last = m["id"]
        self.seeded.add(cid)
        return cid, last

    def truncate(self, cid: str, last_id: str | None) -> None:
        """Drop what a benchmark turn added after the seeded messages (or the whole chat if nothing was seeded)."""
        if last_id is None:
            self.store.delete(OWNER, cid)
        else:
            self.store.cut_back(OWNER, cid, last_id)

    def delete(self, cid: str) -> None:
        self.store.delete(OWNER, cid)

    def delete_unseeded(self) -> int:
        """Delete every conversation a benchmark turn created (the sidebar lists the newest 30)."""
        gone = 0
        for item in self.store.list_conversations(OWNER, limit=1000):
            if item["id"] not in self.seeded:
                gone += self.store.delete(OWNER, item["id"])
        return gone

    def count(self, cid: str) -> int:
        found = self.store.conversation(OWNER, cid)
        return -1 if found is None else found["message_count"]

    def close(self) -> None:
        self.store.close()
