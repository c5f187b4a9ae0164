"""Share links: a read-only snapshot of a conversation's branch shown, taken when the link is made, under a
token of 192 random bits. Anyone holding the token reads the snapshot (who may open a link at all is the
host's setting, checked by the app); only its owner lists and revokes it. A revoked token and one that never
existed read the same: None."""

from __future__ import annotations

import json
import re
import secrets

import sqlalchemy as sa

from glmchat.store.codec import MAX_EXTRA_JSON, decode_message, dumps, owner_key, valid_cid
from glmchat.store.conversations import ON
from glmchat.store.engine import Engine
from glmchat.store.schema import conversations, messages_t, shares

MAX_SHARES = 200  # per owner
TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")  # secrets.token_urlsafe(24)


def snapshot_of(message: dict) -> dict | None:
    """What a share shows of one message: its role, text, model and time; None for one with no text."""
    if not message.get("content"):
        return None  # a failed reply: its error is the owner's business
    meta = message.get("meta") if isinstance(message.get("meta"), dict) else {}
    model = meta.get("model") if message["role"] == "assistant" and isinstance(meta.get("model"), str) else None
    return {"role": message["role"], "content": message["content"], "model": model, "at": message.get("at")}


class Shares(Engine):
    """The share-link methods of Store."""

    def share(self, owner: str, cid: str) -> str | None:
        """A new link's token for a snapshot of the conversation's branch shown, as it is now; None when the
        conversation is not the owner's or the owner holds MAX_SHARES links."""
        owner = owner_key(owner)
        if not valid_cid(cid):
            return None
        token = secrets.token_urlsafe(24)
        with self._tx(write=True) as conn:
            title = conn.execute(
                sa.select(conversations.c.title).where(conversations.c.id == cid, conversations.c.owner == owner)
            ).scalar()
            held = conn.execute(sa.select(sa.func.count()).select_from(shares).where(shares.c.owner == owner))
            if title is None or held.scalar() >= MAX_SHARES:
                return None
            rows = conn.execute(
                sa.select(messages_t).where(messages_t.c.conversation_id == cid, ON).order_by(messages_t.c.seq)
            )
            shown = [s for s in (snapshot_of(decode_message(r)) for r in rows) if s is not None]
            body = dumps(shown, "snapshot", MAX_EXTRA_JSON)
            conn.execute(
                shares.insert().values(
                    id=token,
                    owner=owner,
                    conversation_id=cid,
                    title=title,
                    snapshot_json=body,
                    message_count=len(shown),
                    created_at=self._now(),
                )
            )
        return token

    def shared(self, token: object) -> dict | None:
        """The snapshot behind a token: {"title", "created_at", "messages"}, or None (revoked or never made)."""
        if not isinstance(token, str) or not TOKEN.fullmatch(token):
            return None
        with self._tx() as conn:
            row = conn.execute(
                sa.select(shares.c.title, shares.c.snapshot_json, shares.c.created_at).where(shares.c.id == token)
            ).first()
        if row is None:
            return None
        return {"title": row.title, "created_at": row.created_at, "messages": json.loads(row.snapshot_json)}

    def shares(self, owner: str) -> list[dict]:
        """The owner's links, newest first: {"token", "conversation_id", "title", "created_at", "messages"}."""
        owner = owner_key(owner)
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(
                    shares.c.id, shares.c.conversation_id, shares.c.title, shares.c.created_at, shares.c.message_count
                )
                .where(shares.c.owner == owner)
                .order_by(shares.c.created_at.desc(), shares.c.id)
            ).all()
        return [
            {
                "token": r.id,
                "conversation_id": r.conversation_id,
                "title": r.title,
                "created_at": r.created_at,
                "messages": r.message_count,
            }
            for r in rows
        ]

    def revoke(self, owner: str, token: object) -> bool:
        owner = owner_key(owner)
        if not isinstance(token, str) or not TOKEN.fullmatch(token):
            return False
        with self._tx(write=True) as conn:
            return conn.execute(shares.delete().where(shares.c.id == token, shares.c.owner == owner)).rowcount > 0
