"""Versioned migrations: each a small named step, registered in order with @migration.

A migration's version is its place in the registration order (the first registered is version 1), and
table `schema_version` records each one applied. Each migration is frozen: it must keep creating exactly
what its version had, whatever the tables in schema.py look like later. A new one goes at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glmchat.store.codec import usage_columns
from glmchat.store.engine import StorageError
from glmchat.store.schema import schema_version

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
