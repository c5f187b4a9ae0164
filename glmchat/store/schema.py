"""The tables as the current version has them, and the UTC date-time column type they use.

The migrations (migrations.py) create them; each migration keeps its own frozen copy of what it made.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

MAX_OWNER = 255  # an owner, visitor or client key


def utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC in and out. PostgreSQL: timestamptz; SQLite: ISO text in UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return utc(value)


_md = sa.MetaData()
schema_version = sa.Table(
    "schema_version",
    _md,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)
conversations = sa.Table(
    "conversations",
    _md,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(MAX_OWNER), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("settings_json", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # version 5
    sa.Column("pinned_at", UTCDateTime),  # None: not pinned
    sa.Column("folder_id", sa.String(32)),  # one of the owner's folders, or None
)
messages_t = sa.Table(
    "messages",
    _md,
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
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # version 2
    sa.Column("model", sa.Text),
    sa.Column("prompt_tokens", sa.BigInteger),
    sa.Column("completion_tokens", sa.BigInteger),
    sa.Column("total_tokens", sa.BigInteger),
    sa.Column("cost", sa.Double),
    sa.Column("extra_json", sa.Text),
    # version 4: the tree (tree.py). seq 1, 2, … is the branch shown; off it, seq < 0.
    sa.Column("parent", sa.String(64)),
)
app_meta = sa.Table(
    "app_meta",
    _md,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
# version 3
spend = sa.Table(
    "spend",
    _md,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("visitor", sa.String(MAX_OWNER), nullable=False),
    sa.Column("model", sa.Text),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("tokens", sa.BigInteger, nullable=False, default=0),
    sa.Column("cost", sa.Float, nullable=False, default=0.0),
    sa.Column("active_until", UTCDateTime),  # a lease: the reply counts as streaming while it is ahead
)
login_failures_t = sa.Table(
    "login_failures",
    _md,
    sa.Column("client", sa.String(MAX_OWNER), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)
# version 5
folders = sa.Table(
    "folders",
    _md,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(MAX_OWNER), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)
# version 6
shares = sa.Table(
    "shares",
    _md,
    sa.Column("id", sa.String(64), primary_key=True),  # the link's token (shares.py)
    sa.Column("owner", sa.String(MAX_OWNER), nullable=False),
    sa.Column("conversation_id", sa.String(64), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("snapshot_json", sa.Text, nullable=False),
    sa.Column("message_count", sa.Integer, nullable=False),  # listed without reading the snapshot
    sa.Column("created_at", UTCDateTime, nullable=False),
)
