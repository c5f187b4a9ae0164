"""Conversations and their messages, search and usage, always of one owner.

Every method takes an `owner` and filters by it: another owner's id behaves as a missing id (None / False /
[] / 0, or `ConversationNotFound` from save_message). Messages form a tree (tree.py). A message's position
`seq` on the branch shown is 1, 2, 3, … and stays contiguous (only a tail ever leaves it), so lazy loading
can ask for `messages(limit=n, before_seq=first_loaded_seq)` where `first_loaded_seq = message_count -
loaded + 1`. A message off that branch has a negative seq (`off_branch`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glmchat.store.codec import (
    CID,
    MESSAGE_VALUE_COLUMNS,
    bounded,
    clean,
    decode_message,
    encode_message,
    is_int,
    message_time,
    model_text,
    owner_key,
    settings_text,
    title_text,
    valid_cid,
)
from glmchat.store.engine import Engine, StorageError, insert_for
from glmchat.store.schema import conversations, messages_t, utc
from glmchat.store.tree import made, switch

ON = messages_t.c.seq > 0  # on the branch shown

MAX_SEARCH = 200
SNIPPET = 120
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class ConversationNotFound(StorageError):
    """The conversation does not exist for this owner (not a database failure: never queued)."""


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _snippet(text: str, needle: str) -> str:
    at = text.translate(_ASCII_LOWER).find(needle.translate(_ASCII_LOWER))
    at = max(at, 0)
    start = max(0, at - 40)
    end = min(len(text), start + SNIPPET)
    start = max(0, min(start, end - SNIPPET))
    piece = " ".join(text[start:end].split())
    return ("…" if start > 0 else "") + piece + ("…" if end < len(text) else "")


def conversation_dict(r: Any, count: int | None = None) -> dict:
    out = {
        "id": r.id,
        "title": r.title,
        "model": r.model,
        "settings": json.loads(r.settings_json),
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "pinned": r.pinned_at is not None,
        "folder_id": r.folder_id,
    }
    if count is not None:
        out["message_count"] = int(count)
    return out


class Conversations(Engine):
    """The conversation and message methods of Store."""

    @staticmethod
    def _owned(conn: Connection, owner: str, cid: str, lock: bool = False) -> bool:
        q = sa.select(conversations.c.id).where(conversations.c.id == cid, conversations.c.owner == owner)
        if lock:
            q = q.with_for_update()
        return conn.execute(q).first() is not None

    # ---------------------------------------------------------------- conversations

    def create_conversation(
        self, owner: str, title: str, model: str, settings: dict | None = None, *, cid: str | None = None
    ) -> str:
        """A new conversation's id. With `cid` (32 hex digits): insert if absent, so a replay is harmless."""
        owner, title, model = owner_key(owner), title_text(title), model_text(model)
        settings_json = settings_text(settings)
        if cid is None:
            cid = secrets.token_hex(16)
        elif not isinstance(cid, str) or not CID.fullmatch(cid):
            raise ValueError("conversation id must be 32 hex digits")
        now = self._now()
        values = {
            "id": cid,
            "owner": owner,
            "title": title,
            "model": model,
            "settings_json": settings_json,
            "created_at": now,
            "updated_at": now,
        }
        insert = insert_for(self.dialect)
        with self._tx(write=True) as conn:
            conn.execute(insert(conversations).values(**values).on_conflict_do_nothing(index_elements=["id"]))
            holder = conn.execute(sa.select(conversations.c.owner).where(conversations.c.id == cid)).scalar()
            if holder != owner:
                raise StorageError("conversation id already in use")
        return cid

    def conversation(self, owner: str, cid: str) -> dict | None:
        owner = owner_key(owner)
        if not valid_cid(cid):
            return None
        with self._tx() as conn:
            row = conn.execute(
                sa.select(conversations, self._count().label("n"), self._count(off=True).label("off")).where(
                    conversations.c.id == cid, conversations.c.owner == owner
                )
            ).first()
        return None if row is None else conversation_dict(row, row.n) | {"off_count": int(row.off)}

    @staticmethod
    def _count(off: bool = False):
        """The conversation's messages on the branch shown (off: those off it)."""
        return (
            sa.select(sa.func.count())
            .select_from(messages_t)
            .where(messages_t.c.conversation_id == conversations.c.id, messages_t.c.seq < 0 if off else ON)
            .scalar_subquery()
        )

    @staticmethod
    def _filters(
        q, owner: str, model: str | None, since: datetime | None, until: datetime | None, folder: str | None = None
    ):
        q = q.where(conversations.c.owner == owner)
        if folder is not None:
            q = q.where(conversations.c.folder_id == folder)
        if model is not None:
            q = q.where(conversations.c.model == model)
        if since is not None:
            q = q.where(conversations.c.updated_at >= utc(since))
        if until is not None:
            q = q.where(conversations.c.updated_at <= utc(until))
        return q.order_by(conversations.c.updated_at.desc(), conversations.c.id.desc())

    def list_conversations(
        self,
        owner: str,
        *,
        limit: int = 50,
        offset: int = 0,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        folder: str | None = None,
    ) -> list[dict]:
        """Pinned first (the newest pin first), then newest updated first; since/until (inclusive) filter on
        updated_at, `folder` keeps the conversations of that folder."""
        owner = owner_key(owner)
        limit, offset = bounded(limit, "limit"), bounded(offset, "offset", 10**9)
        pins = (conversations.c.pinned_at.is_(None), conversations.c.pinned_at.desc())
        q = sa.select(conversations, self._count().label("n")).order_by(*pins)
        q = self._filters(q, owner, model, since, until, folder)
        with self._tx() as conn:
            rows = conn.execute(q.limit(limit).offset(offset)).all()
        return [conversation_dict(r, r.n) for r in rows]

    def count_conversations(self, owner: str) -> int:
        with self._tx() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(conversations)
                    .where(conversations.c.owner == owner_key(owner))
                ).scalar()
            )

    def rename(self, owner: str, cid: str, title: str) -> bool:
        """Renaming does not move the conversation in the list (updated_at is left alone)."""
        owner, title = owner_key(owner), title_text(title)
        if not valid_cid(cid):
            return False
        with self._tx(write=True) as conn:
            n = conn.execute(
                conversations.update()
                .where(conversations.c.id == cid, conversations.c.owner == owner)
                .values(title=title)
            ).rowcount
        return n > 0

    def update_settings(self, owner: str, cid: str, model: str, settings: dict) -> bool:
        owner, model, settings_json = owner_key(owner), model_text(model), settings_text(settings)
        if not valid_cid(cid):
            return False
        with self._tx(write=True) as conn:
            n = conn.execute(
                conversations.update()
                .where(conversations.c.id == cid, conversations.c.owner == owner)
                .values(model=model, settings_json=settings_json)
            ).rowcount
        return n > 0

    def delete(self, owner: str, cid: str) -> bool:
        owner = owner_key(owner)
        if not valid_cid(cid):
            return False
        with self._tx(write=True) as conn:
            if not self._owned(conn, owner, cid, lock=True):
                return False
            conn.execute(messages_t.delete().where(messages_t.c.conversation_id == cid))
            conn.execute(conversations.delete().where(conversations.c.id == cid))
        return True

    # ---------------------------------------------------------------- messages

    def save_message(self, owner: str, cid: str, message: dict) -> None:
        """Insert or update by message id, keeping its position. Saving an unchanged message writes
        nothing, except that an unchanged "streaming" one refreshes updated_at (a writer's heartbeat)."""
        owner = owner_key(owner)
        row = encode_message(message)
        if not valid_cid(cid):
            raise ConversationNotFound("conversation not found")
        with self._tx(write=True) as conn:
            if not self._owned(conn, owner, cid, lock=True):
                raise ConversationNotFound("conversation not found")
            key = (messages_t.c.conversation_id == cid, messages_t.c.id == row["id"])
            cols = [messages_t.c[name] for name in MESSAGE_VALUE_COLUMNS]
            old = conn.execute(sa.select(*cols).where(*key)).first()
            now = self._now()
            if old is not None:
                if all(getattr(old, name) == row[name] for name in MESSAGE_VALUE_COLUMNS):
                    if row["status"] != "streaming":
                        return
                    conn.execute(messages_t.update().where(*key).values(updated_at=now))
                else:
                    conn.execute(
                        messages_t.update()
                        .where(*key)
                        .values(**{name: row[name] for name in MESSAGE_VALUE_COLUMNS}, updated_at=now)
                    )
            else:
                seq = self._end(conn, cid) + 1
                made = message_time(message) or now
                conn.execute(
                    messages_t.insert().values(**row, conversation_id=cid, seq=seq, created_at=made, updated_at=now)
                )
            conn.execute(conversations.update().where(conversations.c.id == cid).values(updated_at=now))

    def messages(self, owner: str, cid: str, *, limit: int | None = None, before_seq: int | None = None) -> list[dict]:
        """The branch shown, in order. With limit: its last `limit` messages (with seq < before_seq if given)."""
        owner = owner_key(owner)
        if not valid_cid(cid):
            return []
        q = (
            sa.select(messages_t)
            .join(conversations, conversations.c.id == messages_t.c.conversation_id)
            .where(conversations.c.owner == owner, messages_t.c.conversation_id == cid, ON)
        )
        if before_seq is not None:
            if not is_int(before_seq):
                raise ValueError("before_seq must be an integer")
            q = q.where(messages_t.c.seq < before_seq)
        if limit is not None:
            q = q.order_by(messages_t.c.seq.desc()).limit(bounded(limit, "limit", 10**9))
        else:
            q = q.order_by(messages_t.c.seq)
        with self._tx() as conn:
            rows = conn.execute(q).all()
        if limit is not None:
            rows.reverse()
        return [decode_message(r) for r in rows]

    def off_branch(self, owner: str, cid: str, *, parents: Collection[str | None] | None = None) -> list[dict]:
        """The messages off the branch shown, oldest first: every one, or those whose parent is in `parents`
        (None for a first question): the siblings of the messages a session holds, without what hangs below."""
        owner = owner_key(owner)
        if not valid_cid(cid):
            return []
        # The owner is checked on its own: joined, PostgreSQL may look the conversation up once per message.
        q = (
            sa.select(messages_t)
            .where(messages_t.c.conversation_id == cid, messages_t.c.seq < 0)
            .order_by(messages_t.c.created_at, messages_t.c.id)
        )
        with self._tx() as conn:
            if not self._owned(conn, owner, cid):
                return []
            if parents is None:
                return [decode_message(r) for r in conn.execute(q).all()]
            ids = sorted({p for p in parents if isinstance(p, str)})
            found = conn.execute(q.where(messages_t.c.parent.is_(None))).all() if None in parents else []
            for i in range(0, len(ids), 500):  # bounded IN lists
                found += conn.execute(q.where(messages_t.c.parent.in_(ids[i : i + 500]))).all()
        return sorted((decode_message(r) for r in found), key=made)

    @staticmethod
    def _end(conn: Connection, cid: str) -> int:
        """The seq of the branch's last message (0 for none)."""
        q = sa.select(sa.func.coalesce(sa.func.max(messages_t.c.seq), 0)).where(messages_t.c.conversation_id == cid, ON)
        return conn.execute(q).scalar()

    @staticmethod
    def _place(conn: Connection, cid: str, message_id: str) -> int | None:
        """The message's seq on the branch shown, or None when it is not on it."""
        q = sa.select(messages_t.c.seq).where(messages_t.c.conversation_id == cid, messages_t.c.id == message_id, ON)
        return conn.execute(q).scalar()

    @staticmethod
    def _leave(conn: Connection, cid: str, after: int) -> int:
        """Move the messages after seq `after` off the branch, in one statement: seq after+k becomes the k-th
        fresh negative seq (below every seq in use, so no two rows ever share one, also mid-update)."""
        low = conn.execute(
            sa.select(sa.func.coalesce(sa.func.min(messages_t.c.seq), 0)).where(messages_t.c.conversation_id == cid)
        ).scalar()
        moved = (
            messages_t.update()
            .where(messages_t.c.conversation_id == cid, messages_t.c.seq > after)
            .values(seq=min(low, 0) + after - messages_t.c.seq)
        )
        return conn.execute(moved).rowcount

    def leave_branch_after(self, owner: str, cid: str, message_id: str | None) -> int:
        """Move what follows `message_id` (everything, for None) off the branch shown; nothing is deleted.

        An edit or a new answer then takes its place. Replay-safe: a second call moves nothing."""
        owner = owner_key(owner)
        if not valid_cid(cid) or not (message_id is None or isinstance(message_id, str)):
            return 0
        with self._tx(write=True) as conn:
            if not self._owned(conn, owner, cid, lock=True):
                return 0
            after = 0 if message_id is None else self._place(conn, cid, message_id)
            if after is None:
                return 0
            n = self._leave(conn, cid, after)
            if n:
                conn.execute(conversations.update().where(conversations.c.id == cid).values(updated_at=self._now()))
        return n

    def cut_back(self, owner: str, cid: str, message_id: str) -> int:
        """Delete every message but the branch shown up to `message_id` (the benchmark's reset of a chat)."""
        owner = owner_key(owner)
        with self._tx(write=True) as conn:
            if not valid_cid(cid) or not self._owned(conn, owner, cid, lock=True):
                return 0
            seq = self._place(conn, cid, message_id)
            if seq is None:
                return 0
            gone = messages_t.delete().where(
                messages_t.c.conversation_id == cid, sa.or_(messages_t.c.seq > seq, messages_t.c.seq < 0)
            )
            return conn.execute(gone).rowcount

    def show_branch(self, owner: str, cid: str, message_id: str) -> bool:
        """Make the branch shown go through `message_id`, then on down its newest replies (tree.switch).

        False when the message is not in this owner's conversation; True (and nothing written) when it is
        on the branch shown already."""
        owner = owner_key(owner)
        if not valid_cid(cid) or not isinstance(message_id, str):
            return False
        m = messages_t
        with self._tx(write=True) as conn:
            if not self._owned(conn, owner, cid, lock=True):
                return False
            rows = conn.execute(
                sa.select(m.c.id, m.c.parent, m.c.seq, m.c.created_at).where(m.c.conversation_id == cid)
            ).all()
            path = [
                {"id": r.id, "parent": r.parent} for r in sorted((r for r in rows if r.seq > 0), key=lambda r: r.seq)
            ]
            off = [{"id": r.id, "parent": r.parent, "at": r.created_at.timestamp()} for r in rows if r.seq < 0]
            if any(p["id"] == message_id for p in path):
                return True
            if not any(o["id"] == message_id for o in off):
                return False
            change = switch(path, off, message_id)
            self._leave(conn, cid, change.keep)
            place = (
                m.update()
                .where(m.c.conversation_id == cid, m.c.id == sa.bindparam("node"))
                .values(seq=sa.bindparam("at"))
            )
            conn.execute(place, [{"node": n["id"], "at": i} for i, n in enumerate(change.chain, start=change.keep + 1)])
        return True

    # ---------------------------------------------------------------- search, usage

    def search(
        self,
        owner: str,
        text: str,
        *,
        limit: int = 50,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        folder: str | None = None,
    ) -> list[dict]:
        owner = owner_key(owner)
        if not isinstance(text, str):
            return []
        needle = clean(text.strip()[:MAX_SEARCH])
        if not needle:
            return []
        pattern = _like(needle)
        hit = (
            sa.select(messages_t.c.id)
            .where(messages_t.c.conversation_id == conversations.c.id, messages_t.c.content.ilike(pattern, escape="\\"))
            .exists()
        )
        q = self._filters(sa.select(conversations, self._count().label("n")), owner, model, since, until, folder)
        q = q.where(sa.or_(conversations.c.title.ilike(pattern, escape="\\"), hit)).limit(bounded(limit, "limit"))
        out = []
        with self._tx() as conn:
            for r in conn.execute(q).all():
                # Every branch is searched; a hit on the branch shown comes first.
                first = conn.execute(
                    sa.select(messages_t.c.id, messages_t.c.content)
                    .where(messages_t.c.conversation_id == r.id, messages_t.c.content.ilike(pattern, escape="\\"))
                    .order_by(sa.case((ON, 0), else_=1), messages_t.c.seq)
                    .limit(1)
                ).first()
                item = conversation_dict(r, r.n)
                item["snippet"] = _snippet(first.content if first is not None else r.title, needle)
                item["message_id"] = first.id if first is not None else None
                out.append(item)
        return out

    def usage(self, owner: str, since: datetime | None = None, until: datetime | None = None) -> list[dict]:
        """One row per assistant message with usage (since/until inclusive, on the message's created_at)."""
        owner = owner_key(owner)
        m, c = messages_t, conversations
        q = (
            sa.select(
                m.c.created_at,
                sa.func.coalesce(m.c.model, c.c.model).label("model"),
                c.c.id,
                c.c.title,
                m.c.prompt_tokens,
                m.c.completion_tokens,
                m.c.total_tokens,
                m.c.cost,
            )
            .join(c, c.c.id == m.c.conversation_id)
            .where(c.c.owner == owner, m.c.role == "assistant", m.c.total_tokens.is_not(None))
        )
        if since is not None:
            q = q.where(m.c.created_at >= utc(since))
        if until is not None:
            q = q.where(m.c.created_at <= utc(until))
        with self._tx() as conn:
            rows = conn.execute(q.order_by(m.c.created_at, c.c.id, m.c.seq)).all()
        return [
            {
                "day": r.created_at.date(),
                "model": r.model,
                "conversation_id": r.id,
                "title": r.title,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "total_tokens": r.total_tokens,
                "cost": r.cost,
            }
            for r in rows
        ]
