"""Saved conversations: SQLite or PostgreSQL through SQLAlchemy Core, with versioned migrations.

No Streamlit here, and nothing of the app above it: the store imports no other glmchat module. `Store` is
the database; `ResilientStore` wraps one so the chat keeps working while the database is down (writes are
queued and replayed, reads come back empty). It also keeps what the host's API key spends (table `spend`,
one row per request, and `login_failures`), so limits hold across reruns, tabs, restarts and replicas: see
`Store.reserve_request`, which counts and asks the limits it is given to decide.

One job per module: engine (URLs, engines, transactions), schema (tables), migrations, codec (a message as
its row), conversations, spend, exchange (export, import, Markdown) with shapes (what an import may hold),
database (`Store`, composed of those) and resilient (`ResilientStore` and its replay thread).
"""

from glmchat.store.codec import MAX_COST, MAX_MODEL, MAX_TITLE, MAX_TOKENS, encode_message
from glmchat.store.conversations import SNIPPET, ConversationNotFound
from glmchat.store.database import Store
from glmchat.store.engine import DATABASE_URL_NAME, StorageError, default_url, normalise_url
from glmchat.store.exchange import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    MAX_IMPORT_MB,
    ImportLimits,
    ImportRefused,
    parse_export,
    to_markdown,
    validate_export,
)
from glmchat.store.migrations import CURRENT_VERSION
from glmchat.store.resilient import ResilientStore
from glmchat.store.shapes import MAX_CONTENT, Shapes
from glmchat.store.spend import CST, UNAVAILABLE, WINDOW, Refusal, SpendLimits, Usage, day_start

__all__ = [
    "Store",
    "ResilientStore",
    "StorageError",
    "ConversationNotFound",
    "ImportRefused",
    "default_url",
    "normalise_url",
    "DATABASE_URL_NAME",
    "CURRENT_VERSION",
    "encode_message",
    "parse_export",
    "validate_export",
    "to_markdown",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "ImportLimits",
    "Shapes",
    "MAX_IMPORT_MB",
    "MAX_TITLE",
    "MAX_MODEL",
    "MAX_CONTENT",
    "MAX_TOKENS",
    "MAX_COST",
    "SNIPPET",
    "SpendLimits",
    "Usage",
    "Refusal",
    "UNAVAILABLE",
    "WINDOW",
    "CST",
    "day_start",
]
