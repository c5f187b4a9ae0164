"""Versioned migrations: each a small named step, registered in order with @migration.

A migration's version is its place in the registration order (the first registered is version 1), and
table `schema_version` records each one applied. Each migration is frozen: it must keep creating exactly
what its version had, whatever the tables in schema.py look like later. A new one goes at the end.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glmchat.store.codec import usage_columns
from glmchat.store.engine import StorageError
from glmchat.store.schema import UTCDateTime, schema_version

Migration = Callable[[Connection], None]
MIGRATIONS: list[tuple[int, Migration]] = []  # (version, step), in order


def migration(step: Migration) -> Migration:
    """Register `step` as the next version."""
    MIGRATIONS.append((len(MIGRATIONS) + 1, step))
    return step


@migration
def m001_conversations_and_messages(conn: Connection) -> None:
    md = sa.MetaData()
    c = sa.Table(
        "conversations",
        md,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("settings_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Index("ix_conversations_owner_updated", c.c.owner, c.c.updated_at)
    m = sa.Table(
        "messages",
        md,
        sa.Column(
            "conversation_id", sa.String(64), sa.ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("reasoning", sa.Text),
        sa.Column("status", sa.Text),
        sa.Column("error_json", sa.Text),
        sa.Column("finish_reason", sa.Text),
        sa.Column("meta_json", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Index("ix_messages_conversation_seq", m.c.conversation_id, m.c.seq, unique=True)
    sa.Table(
        "app_meta",
        md,
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    md.create_all(conn)


@migration
def m002_message_usage_columns(conn: Connection) -> None:
    for column, kind in (
        ("model", "TEXT"),
        ("prompt_tokens", "BIGINT"),
        ("completion_tokens", "BIGINT"),
        ("total_tokens", "BIGINT"),
        ("cost", "DOUBLE PRECISION"),
        ("extra_json", "TEXT"),
    ):
        conn.execute(sa.text(f"ALTER TABLE messages ADD COLUMN {column} {kind}"))
    rows = conn.execute(
        sa.text(
            "SELECT conversation_id, id, meta_json FROM messages WHERE role = 'assistant' AND meta_json IS NOT NULL"
        )
    ).all()
    updates = []
    for cid, mid, meta_json in rows:
        try:
            meta = json.loads(meta_json)
        except ValueError:
            continue
        cols = usage_columns(meta)
        if any(v is not None for v in cols.values()):
            updates.append({**cols, "cid": cid, "mid": mid})
    if updates:
        conn.execute(
            sa.text(
                "UPDATE messages SET model = :model, prompt_tokens = :prompt_tokens, "
                "completion_tokens = :completion_tokens, total_tokens = :total_tokens, cost = :cost "
                "WHERE conversation_id = :cid AND id = :mid"
            ),
            updates,
        )


@migration
def m003_spend_and_login_failures(conn: Connection) -> None:
    md = sa.MetaData()
    s = sa.Table(
        "spend",
        md,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("visitor", sa.String(255), nullable=False),
        sa.Column("model", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cost", sa.Float, nullable=False, server_default="0"),
        sa.Column("active_until", sa.DateTime(timezone=True)),
    )
    sa.Index("ix_spend_started_at", s.c.started_at)
    sa.Index("ix_spend_visitor_started_at", s.c.visitor, s.c.started_at)
    # The app-wide count of running replies must not scan every row of the last three days.
    sa.Index("ix_spend_active_until", s.c.active_until)
    f = sa.Table(
        "login_failures",
        md,
        sa.Column("client", sa.String(255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Index("ix_login_failures_client_at", f.c.client, f.c.at)
    sa.Index("ix_login_failures_at", f.c.at)
    md.create_all(conn)


@migration
def m004_message_tree(conn: Connection) -> None:
    """Messages form a tree. Each names its parent (the one before it, in the chats of version 3), and an
    earlier answer kept inside a regenerated one (its "alternatives") becomes its own row beside it, off
    the branch shown: seq 1, 2, … is the branch shown, an off-branch message has a negative seq."""
    conn.execute(sa.text("ALTER TABLE messages ADD COLUMN parent VARCHAR(64)"))
    conn.execute(
        sa.text(
            "UPDATE messages SET parent = (SELECT p.id FROM messages p "
            "WHERE p.conversation_id = messages.conversation_id AND p.seq = messages.seq - 1)"
        )
    )
    m = sa.Table(
        "messages",
        sa.MetaData(),
        sa.Column("conversation_id", sa.String(64)),
        sa.Column("id", sa.String(64)),
        sa.Column("seq", sa.Integer),
        sa.Column("parent", sa.String(64)),
        sa.Column("role", sa.Text),
        sa.Column("content", sa.Text),
        sa.Column("reasoning", sa.Text),
        sa.Column("status", sa.Text),
        sa.Column("error_json", sa.Text),
        sa.Column("finish_reason", sa.Text),
        sa.Column("meta_json", sa.Text),
        sa.Column("extra_json", sa.Text),
        sa.Column("created_at", UTCDateTime),
        sa.Column("updated_at", UTCDateTime),
        sa.Column("model", sa.Text),
        sa.Column("prompt_tokens", sa.BigInteger),
        sa.Column("completion_tokens", sa.BigInteger),
        sa.Column("total_tokens", sa.BigInteger),
        sa.Column("cost", sa.Double),
    )
    holders = conn.execute(
        sa.select(m.c.conversation_id, m.c.id, m.c.parent, m.c.extra_json, m.c.created_at)
        .where(m.c.role == "assistant", m.c.extra_json.like('%"alternatives"%'))
        .order_by(m.c.conversation_id, m.c.seq)
    ).all()
    ids = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
    next_seq: dict[str, int] = {}
    for cid, mid, parent, extra_json, created in holders:
        try:
            extra = json.loads(extra_json)
        except ValueError:
            continue
        alternatives = extra.pop("alternatives", None) if isinstance(extra, dict) else None
        if not isinstance(alternatives, list):
            continue
        if cid not in next_seq:
            used = conn.execute(sa.select(sa.func.min(m.c.seq)).where(m.c.conversation_id == cid)).scalar()
            next_seq[cid] = min(used or 0, 0) - 1
        taken = set(conn.execute(sa.select(m.c.id).where(m.c.conversation_id == cid)).scalars())
        rows = []
        for i, alt in enumerate(a for a in alternatives if isinstance(a, dict)):
            alt = dict(alt)
            aid = alt.pop("id", None)
            if not isinstance(aid, str) or not ids.fullmatch(aid) or aid in taken:
                aid = secrets.token_hex(16)
            taken.add(aid)
            alt.pop("role", None)

            def text(key: str, alt: dict = alt) -> str | None:
                value = alt.pop(key, None)
                return value if isinstance(value, str) else None

            error, meta = alt.pop("error", None), alt.pop("meta", None)
            at = created - timedelta(milliseconds=len(alternatives) - i)  # before the answer that replaced it
            rows.append(
                {
                    "conversation_id": cid,
                    "id": aid,
                    "seq": next_seq[cid],
                    "parent": parent,
                    "role": "assistant",
                    "content": text("content") or "",
                    "reasoning": text("reasoning"),
                    "status": text("status") or "done",
                    "finish_reason": text("finish_reason"),
                    "error_json": json.dumps(error, ensure_ascii=False) if isinstance(error, dict) else None,
                    "meta_json": json.dumps(meta, ensure_ascii=False) if isinstance(meta, dict) else None,
                    "extra_json": json.dumps(alt, ensure_ascii=False) if alt else None,
                    "created_at": at,
                    "updated_at": at,
                    **usage_columns(meta),
                }
            )
            next_seq[cid] -= 1
        if rows:
            conn.execute(m.insert(), rows)
        conn.execute(
            m.update()
            .where(m.c.conversation_id == cid, m.c.id == mid)
            .values(extra_json=json.dumps(extra, ensure_ascii=False) if extra else None)
        )


@migration
def m005_pins_and_folders(conn: Connection) -> None:
    """A conversation may be pinned (when: the newest pin first) and kept in one of its owner's folders."""
    moment = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    conn.execute(sa.text(f"ALTER TABLE conversations ADD COLUMN pinned_at {moment}"))
    conn.execute(sa.text("ALTER TABLE conversations ADD COLUMN folder_id VARCHAR(32)"))
    md = sa.MetaData()
    f = sa.Table(
        "folders",
        md,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Index("ix_folders_owner", f.c.owner)
    md.create_all(conn)
    conn.execute(sa.text("CREATE INDEX ix_conversations_owner_folder ON conversations (owner, folder_id)"))


@migration
def m006_share_links(conn: Connection) -> None:
    """Read-only snapshots of a conversation's branch shown, each under an unguessable token."""
    md = sa.MetaData()
    s = sa.Table(
        "shares",
        md,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("snapshot_json", sa.Text, nullable=False),
        sa.Column("message_count", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Index("ix_shares_owner", s.c.owner)
    md.create_all(conn)


CURRENT_VERSION = len(MIGRATIONS)


def apply_migrations(conn: Connection, target: int = CURRENT_VERSION) -> int:
    """Bring the schema in `conn`'s transaction up to `target`; returns the version found before."""
    schema_version.create(conn, checkfirst=True)
    found = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
    if found > CURRENT_VERSION:
        raise StorageError("the database was written by a newer version of the app")
    for version, step in MIGRATIONS:
        if found < version <= target:
            step(conn)
            conn.execute(schema_version.insert().values(version=version, applied_at=datetime.now(UTC)))
    return found
