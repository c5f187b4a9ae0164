"""Saved conversations: SQLite or PostgreSQL through SQLAlchemy Core, with versioned migrations.

No Streamlit here. `Store` is the database; `ResilientStore` wraps one so the chat keeps working while
the database is down (writes are queued and replayed, reads come back empty).

It also keeps what the host's API key spends (table `spend`, one row per request, and `login_failures`),
so limits hold across reruns, tabs, restarts and replicas: see `Store.reserve_request`.

Notes for callers:
- Every conversation method takes an `owner` and filters by it: another owner's id behaves as a
  missing id (None / False / [] / 0, or `ConversationNotFound` from save_message).
- A message's position `seq` is 1, 2, 3, … within its conversation and stays contiguous (only the
  tail is ever deleted), so lazy loading can ask for `messages(limit=n, before_seq=first_loaded_seq)`
  where `first_loaded_seq = message_count - loaded + 1`.
- Text columns cannot hold NUL or lone surrogates in PostgreSQL; both backends replace them with
  U+FFFD in content, reasoning, titles, status and finish_reason (JSON columns keep them exactly).
- PostgreSQL schema isolation: `Store(url, schema="name")` sets `search_path` for every connection
  (tests use one fresh schema each). `busy_timeout` (seconds) is SQLite's busy timeout and
  PostgreSQL's lock_timeout, so a locked database gives StorageError instead of a hang.
"""
from __future__ import annotations

import base64
import binascii
import copy
import json
import logging
import math
import os
import re
import secrets
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from glmchat.i18n import STRINGS
from glmchat.limits import UNAVAILABLE, WINDOW, Limits, Refusal, Usage, day_start
from glmchat.offered import SYSTEM_CHARS, TEMPERATURE, TOP_P  # what the sidebar's widgets offer

if TYPE_CHECKING:
    from glmchat.inputs import InputLimits


def _driver_errors() -> tuple[type[BaseException], ...]:
    """The database drivers' own errors. psycopg loads with the first PostgreSQL engine, not the first page."""
    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error, psycopg.Error) if psycopg else (sqlite3.Error,)


def _insert(dialect: str):
    """The dialect's INSERT, which has ON CONFLICT; PostgreSQL's is imported only where it is used."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
        return insert
    return sqlite_insert

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
URL_ENV = "GLMCHAT_DATABASE_URL"
CURRENT_VERSION = 3
EXPORT_FORMAT = "glmchat-export"
EXPORT_VERSION = 1

MAX_TITLE = 200
MAX_MODEL = 200
MAX_OWNER = 255
MAX_SEARCH = 200
MAX_LIST = 1000
SNIPPET = 120
MAX_CONTENT = 1_000_000
MAX_JSON = 1_000_000          # settings, meta and error of one message, serialised
# A message's other keys hold its attachments: up to 10 files, each a re-encoded image of up to 5 MB
# (attachments.API_IMAGE_MAX_BYTES) or a 10 MB document, as base64 (4/3 larger), plus extracted text.
MAX_EXTRA_JSON = 160_000_000
MAX_TOKENS = 10**9            # tokens of one message or request: far beyond any model's context window
MAX_COST = 10**6              # ¥ of one message
MAX_IMPORT_MB = 20            # an export file (the History page's uploader limit, checked again on the server)
SPEND_KEEP = timedelta(days=3)       # spend rows and login failures older than this are pruned
PRUNE_EVERY = timedelta(hours=1)     # by reserve_request, at most this often per Store
TOP_VISITORS = 20

_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_CID = re.compile(r"[0-9a-f]{32}")
_SCHEMA = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_LOCK_KEY = 0x676C6D  # "glm": first half of the migration advisory lock key
_ABSENT = "\u0000absent"  # extra_json entry listing core keys the saved dict did not have
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

USER_KEYS = ("id", "role", "content")
ASSISTANT_KEYS = ("id", "role", "content", "reasoning", "status", "error", "finish_reason", "meta")
_CORE = {"user": USER_KEYS, "assistant": ASSISTANT_KEYS}


class StorageError(Exception):
    """Any database failure, with a short safe message (no SQL, no data)."""


class ConversationNotFound(StorageError):
    """The conversation does not exist for this owner (not a database failure: never queued)."""


class ImportRefused(ValueError):
    """An export file refused for a reason the page puts in words itself, in either language: `key` is an
    i18n key and `values` fill it in (the chat's input limits, the file's size, its nesting). Nothing is
    written."""

    def __init__(self, key: str, reason: str, **values: int) -> None:
        super().__init__(reason)
        self.key, self.values = key, values


# --------------------------------------------------------------------------- URLs


def normalise_url(url: str) -> str:
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def default_url() -> str:
    """GLMCHAT_DATABASE_URL if set (blank counts as unset), else a SQLite file in <repo>/data/."""
    env = (os.environ.get(URL_ENV) or "").strip()
    if env:
        return env
    data = ROOT / "data"
    data.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data / 'glmchat.db'}"


# --------------------------------------------------------------------------- types and tables


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC in and out. PostgreSQL: timestamptz; SQLite: ISO text in UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = _utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return _utc(value)


_md = sa.MetaData()
schema_version = sa.Table(
    "schema_version", _md,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)
conversations = sa.Table(
    "conversations", _md,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(MAX_OWNER), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("settings_json", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
messages_t = sa.Table(
    "messages", _md,
    sa.Column("conversation_id", sa.String(64), sa.ForeignKey("conversations.id", ondelete="CASCADE"),
              primary_key=True),
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
)
app_meta = sa.Table(
    "app_meta", _md,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
# version 3
spend = sa.Table(
    "spend", _md,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("visitor", sa.String(MAX_OWNER), nullable=False),
    sa.Column("model", sa.Text),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("tokens", sa.BigInteger, nullable=False, default=0),
    sa.Column("cost", sa.Float, nullable=False, default=0.0),
    sa.Column("active_until", UTCDateTime),  # a lease: the reply counts as streaming while it is ahead
)
login_failures_t = sa.Table(
    "login_failures", _md,
    sa.Column("client", sa.String(MAX_OWNER), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

# --------------------------------------------------------------------------- migrations
# Each migration is frozen: it must keep creating exactly what its version had, whatever the
# tables above look like later.


def _migration_1(conn: Connection) -> None:
    md = sa.MetaData()
    c = sa.Table(
        "conversations", md,
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
        "messages", md,
        sa.Column("conversation_id", sa.String(64), sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  primary_key=True),
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
        "app_meta", md,
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    md.create_all(conn)


def _migration_2(conn: Connection) -> None:
    for column, kind in (("model", "TEXT"), ("prompt_tokens", "BIGINT"), ("completion_tokens", "BIGINT"),
                         ("total_tokens", "BIGINT"), ("cost", "DOUBLE PRECISION"), ("extra_json", "TEXT")):
        conn.execute(sa.text(f"ALTER TABLE messages ADD COLUMN {column} {kind}"))
    rows = conn.execute(sa.text(
        "SELECT conversation_id, id, meta_json FROM messages "
        "WHERE role = 'assistant' AND meta_json IS NOT NULL")).all()
    updates = []
    for cid, mid, meta_json in rows:
        try:
            meta = json.loads(meta_json)
        except ValueError:
            continue
        cols = _usage_columns(meta)
        if any(v is not None for v in cols.values()):
            updates.append({**cols, "cid": cid, "mid": mid})
    if updates:
        conn.execute(sa.text(
            "UPDATE messages SET model = :model, prompt_tokens = :prompt_tokens, "
            "completion_tokens = :completion_tokens, total_tokens = :total_tokens, cost = :cost "
            "WHERE conversation_id = :cid AND id = :mid"), updates)


def _migration_3(conn: Connection) -> None:
    md = sa.MetaData()
    s = sa.Table(
        "spend", md,
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
        "login_failures", md,
        sa.Column("client", sa.String(255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Index("ix_login_failures_client_at", f.c.client, f.c.at)
    sa.Index("ix_login_failures_at", f.c.at)
    md.create_all(conn)


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [(1, _migration_1), (2, _migration_2),
                                                              (3, _migration_3)]


def _apply_migrations(conn: Connection, target: int = CURRENT_VERSION) -> int:
    """Bring the schema in `conn`'s transaction up to `target`; returns the version found before."""
    schema_version.create(conn, checkfirst=True)
    found = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
    if found > CURRENT_VERSION:
        raise StorageError("the database was written by a newer version of the app")
    for version, migration in MIGRATIONS:
        if found < version <= target:
            migration(conn)
            conn.execute(schema_version.insert().values(version=version, applied_at=datetime.now(timezone.utc)))
    return found


# --------------------------------------------------------------------------- message encoding


def _clean(text: str) -> str:
    """Text a database column can hold: no NUL, no lone surrogates (both become U+FFFD)."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _dumps(value: object, what: str, limit: int = MAX_JSON) -> str:
    try:
        out = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        raise ValueError(f"{what} is not plain JSON") from None
    try:
        out.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: keep them exactly, as \\u escapes
        out = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    if len(out) > limit:
        raise ValueError(f"{what} is too large")
    return out


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text, object_pairs_hook=_interned_keys)


def _interned_keys(pairs: list) -> dict:
    # A session holds up to LOAD_LIMIT messages, each with its own copies of the same few meta keys.
    return {sys.intern(k): _shared(v) if k == "model" else v for k, v in pairs}


def _shared(value: str | None) -> str | None:
    """One string object for a value many loaded rows repeat (a role, a status, a model id)."""
    return sys.intern(value) if isinstance(value, str) else value


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _usage_columns(meta: object) -> dict:
    """The v2 usage columns of one assistant message, from its meta dict."""
    cols = {"model": None, "prompt_tokens": None, "completion_tokens": None, "total_tokens": None, "cost": None}
    if not isinstance(meta, dict):
        return cols
    if isinstance(meta.get("model"), str):
        cols["model"] = _clean(meta["model"])
    usage = meta.get("usage")
    if isinstance(usage, dict):
        def tokens(name: str) -> int | None:
            v = usage.get(name)
            return v if _is_int(v) and 0 <= v <= MAX_TOKENS else None
        prompt, completion, total = tokens("prompt_tokens"), tokens("completion_tokens"), tokens("total_tokens")
        cols["prompt_tokens"] = prompt or 0
        cols["completion_tokens"] = completion or 0
        cols["total_tokens"] = total if total is not None else (prompt or 0) + (completion or 0)
    cost = meta.get("cost")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool) and 0 <= cost <= MAX_COST:
        cols["cost"] = float(cost)
    return cols


def _opt_str(message: dict, key: str) -> str | None:
    v = message.get(key)
    if v is not None and not isinstance(v, str):
        raise ValueError(f"{key} must be text or null")
    return None if v is None else _clean(v)


def encode_message(message: object) -> dict:
    """A message dict as column values (raises ValueError for a malformed one)."""
    if not isinstance(message, dict):
        raise ValueError("a message must be an object")
    mid, role, content = message.get("id"), message.get("role"), message.get("content")
    if not isinstance(mid, str) or not _ID.fullmatch(mid):
        raise ValueError("message id must be 1-64 letters, digits or _.:-")
    if role not in _CORE:
        raise ValueError("role must be user or assistant")
    if not isinstance(content, str):
        raise ValueError("content must be text")
    row: dict[str, Any] = {"id": mid, "role": role, "content": _clean(content), "reasoning": None,
                           "status": None, "error_json": None, "finish_reason": None, "meta_json": None,
                           "extra_json": None, **_usage_columns(None)}
    core = _CORE[role]
    if role == "assistant":
        row["reasoning"] = _opt_str(message, "reasoning")
        row["status"] = _opt_str(message, "status")
        row["finish_reason"] = _opt_str(message, "finish_reason")
        error, meta = message.get("error"), message.get("meta")
        if error is not None and not isinstance(error, dict):
            raise ValueError("error must be an object or null")
        if meta is not None and not isinstance(meta, dict):
            raise ValueError("meta must be an object or null")
        if "error" in message:
            row["error_json"] = _dumps(error, "error")
        if "meta" in message:
            row["meta_json"] = _dumps(meta, "meta")
            row.update(_usage_columns(meta))
    extra = {k: v for k, v in message.items() if k not in core}
    if any(not isinstance(k, str) or k == _ABSENT for k in extra):
        raise ValueError("message keys must be text")
    absent = [k for k in core if k not in message]
    if absent:
        extra[_ABSENT] = absent
    if extra:
        row["extra_json"] = _dumps(extra, "extra keys", MAX_EXTRA_JSON)
    return row


def _decode_message(r: Any) -> dict:
    extra = json.loads(r.extra_json) if r.extra_json else {}
    absent = set(extra.pop(_ABSENT, ()))
    message: dict[str, Any] = {"id": r.id, "role": _shared(r.role), "content": r.content}
    if r.role == "assistant":
        for key, value in (("reasoning", r.reasoning), ("status", _shared(r.status)), ("error", _loads(r.error_json)),
                           ("finish_reason", _shared(r.finish_reason)), ("meta", _loads(r.meta_json))):
            if key not in absent:
                message[key] = value
    message.update(extra)
    return message


_MESSAGE_VALUE_COLUMNS = ("role", "content", "reasoning", "status", "error_json", "finish_reason", "meta_json",
                          "model", "prompt_tokens", "completion_tokens", "total_tokens", "cost", "extra_json")


# --------------------------------------------------------------------------- helpers


def _owner(owner: object, what: str = "owner") -> str:
    if not isinstance(owner, str) or not owner or len(owner) > MAX_OWNER or owner != _clean(owner):
        raise ValueError(f"{what} must be a non-empty string of at most 255 characters")
    return owner


def _seconds(value: object, name: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 10**6:
        raise ValueError(f"{name} must be a positive number of seconds")
    return timedelta(seconds=value)


def _valid_cid(cid: object) -> bool:
    return isinstance(cid, str) and bool(_ID.fullmatch(cid))


def _title(title: object) -> str:
    if not isinstance(title, str):
        raise ValueError("title must be text")
    return _clean(title)[:MAX_TITLE]


def _model(model: object) -> str:
    if not isinstance(model, str) or len(model) > MAX_MODEL:
        raise ValueError("model must be text of at most 200 characters")
    return _clean(model)


def _settings(settings: object) -> str:
    if settings is None:
        return "{}"
    if not isinstance(settings, dict):
        raise ValueError("settings must be an object")
    return _dumps(settings, "settings")


def _limit(value: object, name: str, maximum: int = MAX_LIST) -> int:
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer")
    return min(value, maximum)


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


def _conversation_dict(r: Any, count: int | None = None) -> dict:
    out = {"id": r.id, "title": r.title, "model": r.model, "settings": json.loads(r.settings_json),
           "created_at": r.created_at, "updated_at": r.updated_at}
    if count is not None:
        out["message_count"] = int(count)
    return out


def _safe_message(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).lower()
    name = type(getattr(exc, "orig", None) or exc).__name__
    if "locked" in text or "busy" in text or "lock timeout" in text or "lock_timeout" in text:
        return f"database is busy (locked) ({name})"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return f"database file is corrupt or not a database ({name})"
    if isinstance(exc, sa.exc.IntegrityError):
        return f"conflicting write ({name})"
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)) or "connect" in text:
        return f"database unavailable ({name})"
    return f"database error ({name})"


def _parse_time(value: object, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError(f"{what} must be an ISO date-time")
    try:
        return _utc(datetime.fromisoformat(value))
    except (ValueError, OverflowError):  # OverflowError: 9999-12-31T23:59-23:00 is past the last UTC date
        raise ValueError(f"{what} must be an ISO date-time") from None


# --------------------------------------------------------------------------- the store


def _wal(cur: sqlite3.Cursor, busy_timeout: float) -> None:
    """Switch to WAL. Switching a new file needs it to itself, and SQLite answers "locked" at once there,
    without its busy handler (two processes opening a new database failed 4 times in 15), so wait here."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Store:
    """One database (SQLite file or PostgreSQL) of conversations. Thread-safe.

    Keyword options: `schema` (PostgreSQL: the schema to use, via search_path), `busy_timeout`
    (seconds; SQLite busy timeout, PostgreSQL lock_timeout), `connect_timeout` (PostgreSQL, seconds).
    """

    def __init__(self, url: str, *, schema: str | None = None, busy_timeout: float = 5.0,
                 connect_timeout: int = 5) -> None:
        self._clock_lock = threading.Lock()
        # SQLite lets one writer in at a time, and its busy handler polls with sleeps of up to 100 ms;
        # this process's writers queue on a lock instead, which hands over at once (10 sessions sending
        # together waited seconds in BEGIN IMMEDIATE). Other processes still meet the busy timeout.
        self._write_lock = threading.Lock()
        self._busy_timeout = busy_timeout
        self._last = datetime.min.replace(tzinfo=timezone.utc)
        self._pruned_at: datetime | None = None
        try:
            u = make_url(normalise_url(url))
        except Exception:  # noqa: BLE001 - the URL may hold a password: never echo it
            raise StorageError("invalid database URL") from None
        backend = u.get_backend_name()
        if backend == "sqlite":
            self._engine = self._sqlite_engine(u, busy_timeout)
        elif backend == "postgresql":
            if u.get_driver_name() != "psycopg":
                u = u.set(drivername="postgresql+psycopg")
            self._engine = self._pg_engine(u, schema, busy_timeout, connect_timeout)
        else:
            raise StorageError("unsupported database (use sqlite:// or postgresql://)")
        self.dialect = backend
        try:
            self.migrate()
        except BaseException:
            self._engine.dispose()
            raise

    @staticmethod
    def _sqlite_engine(u: sa.URL, busy_timeout: float) -> sa.Engine:
        memory = u.database in (None, "", ":memory:") or u.query.get("mode") == "memory"
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": busy_timeout}}
        if memory:
            kwargs["poolclass"] = StaticPool
        engine = sa.create_engine(u, **kwargs)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # transactions are begun below, as BEGIN or BEGIN IMMEDIATE
            cur = dbapi_conn.cursor()
            try:
                cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
                if not memory:
                    _wal(cur, busy_timeout)
                cur.execute("PRAGMA foreign_keys = ON")
                cur.execute("PRAGMA synchronous = NORMAL")
            finally:
                cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("glmchat_write") else "BEGIN")

        return engine

    @staticmethod
    def _pg_engine(u: sa.URL, schema: str | None, busy_timeout: float, connect_timeout: int) -> sa.Engine:
        options = [u.query["options"]] if isinstance(u.query.get("options"), str) else []
        u = u.difference_update_query(["options"])
        if schema is not None:
            if not _SCHEMA.fullmatch(schema):
                raise StorageError("invalid schema name")
            options.append(f"-c search_path={schema}")
        options.append(f"-c lock_timeout={int(busy_timeout * 1000)}")
        return sa.create_engine(u, pool_pre_ping=True,
                                connect_args={"connect_timeout": connect_timeout, "options": " ".join(options)})

    # ---------------------------------------------------------------- plumbing

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[Connection]:
        queued = write and self.dialect == "sqlite"
        if queued and not self._write_lock.acquire(timeout=self._busy_timeout):
            log.warning("storage: database is busy (locked)")
            raise StorageError("database is busy (locked)")
        try:
            with self._engine.connect() as conn:
                if queued:
                    conn.execution_options(glmchat_write=True)
                with conn.begin():
                    yield conn
        except (SQLAlchemyError, *_driver_errors(), OSError) as exc:
            log.warning("storage: %s", _safe_message(exc))
            raise StorageError(_safe_message(exc)) from None
        finally:
            if queued:
                self._write_lock.release()

    def _now(self) -> datetime:
        """UTC now, strictly increasing within this process (so "newest first" has no ties)."""
        with self._clock_lock:
            now = datetime.now(timezone.utc)
            if now <= self._last:
                now = self._last + timedelta(microseconds=1)
            self._last = now
            return now

    @staticmethod
    def _owned(conn: Connection, owner: str, cid: str, lock: bool = False) -> bool:
        q = sa.select(conversations.c.id).where(conversations.c.id == cid, conversations.c.owner == owner)
        if lock:
            q = q.with_for_update()
        return conn.execute(q).first() is not None

    def migrate(self) -> int:
        with self._tx(write=True) as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k, hashtext(coalesce(current_schema(), '')))"),
                             {"k": _LOCK_KEY})
            _apply_migrations(conn)
        return CURRENT_VERSION

    def version(self) -> int:
        with self._tx() as conn:
            return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0

    def close(self) -> None:
        self._engine.dispose()

    # ---------------------------------------------------------------- conversations

    def create_conversation(self, owner: str, title: str, model: str, settings: dict | None = None, *,
                            cid: str | None = None) -> str:
        """A new conversation's id. With `cid` (32 hex digits): insert if absent, so a replay is harmless."""
        owner, title, model, settings_json = _owner(owner), _title(title), _model(model), _settings(settings)
        if cid is None:
            cid = secrets.token_hex(16)
        elif not isinstance(cid, str) or not _CID.fullmatch(cid):
            raise ValueError("conversation id must be 32 hex digits")
        now = self._now()
        values = {"id": cid, "owner": owner, "title": title, "model": model, "settings_json": settings_json,
                  "created_at": now, "updated_at": now}
        insert = _insert(self.dialect)
        with self._tx(write=True) as conn:
            conn.execute(insert(conversations).values(**values).on_conflict_do_nothing(index_elements=["id"]))
            holder = conn.execute(sa.select(conversations.c.owner).where(conversations.c.id == cid)).scalar()
            if holder != owner:
                raise StorageError("conversation id already in use")
        return cid

    def conversation(self, owner: str, cid: str) -> dict | None:
        owner = _owner(owner)
        if not _valid_cid(cid):
            return None
        with self._tx() as conn:
            row = conn.execute(sa.select(conversations, self._count().label("n"))
                               .where(conversations.c.id == cid, conversations.c.owner == owner)).first()
        return None if row is None else _conversation_dict(row, row.n)

    @staticmethod
    def _count():
        return (sa.select(sa.func.count()).select_from(messages_t)
                .where(messages_t.c.conversation_id == conversations.c.id).scalar_subquery())

    @staticmethod
    def _filters(q, owner: str, model: str | None, since: datetime | None, until: datetime | None):
        q = q.where(conversations.c.owner == owner)
        if model is not None:
            q = q.where(conversations.c.model == model)
        if since is not None:
            q = q.where(conversations.c.updated_at >= _utc(since))
        if until is not None:
            q = q.where(conversations.c.updated_at <= _utc(until))
        return q.order_by(conversations.c.updated_at.desc(), conversations.c.id.desc())

    def list_conversations(self, owner: str, *, limit: int = 50, offset: int = 0, model: str | None = None,
                           since: datetime | None = None, until: datetime | None = None) -> list[dict]:
        """Newest updated first; since/until (inclusive) filter on updated_at."""
        owner = _owner(owner)
        limit, offset = _limit(limit, "limit"), _limit(offset, "offset", 10**9)
        q = self._filters(sa.select(conversations, self._count().label("n")), owner, model, since, until)
        with self._tx() as conn:
            rows = conn.execute(q.limit(limit).offset(offset)).all()
        return [_conversation_dict(r, r.n) for r in rows]

    def count_conversations(self, owner: str) -> int:
        with self._tx() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(conversations)
                                    .where(conversations.c.owner == _owner(owner))).scalar())

    def rename(self, owner: str, cid: str, title: str) -> bool:
        """Renaming does not move the conversation in the list (updated_at is left alone)."""
        owner, title = _owner(owner), _title(title)
        if not _valid_cid(cid):
            return False
        with self._tx(write=True) as conn:
            n = conn.execute(conversations.update()
                             .where(conversations.c.id == cid, conversations.c.owner == owner)
                             .values(title=title)).rowcount
        return n > 0

    def update_settings(self, owner: str, cid: str, model: str, settings: dict) -> bool:
        owner, model, settings_json = _owner(owner), _model(model), _settings(settings)
        if not _valid_cid(cid):
            return False
        with self._tx(write=True) as conn:
            n = conn.execute(conversations.update()
                             .where(conversations.c.id == cid, conversations.c.owner == owner)
                             .values(model=model, settings_json=settings_json)).rowcount
        return n > 0

    def delete(self, owner: str, cid: str) -> bool:
        owner = _owner(owner)
        if not _valid_cid(cid):
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
        owner = _owner(owner)
        row = encode_message(message)
        if not _valid_cid(cid):
            raise ConversationNotFound("conversation not found")
        with self._tx(write=True) as conn:
            if not self._owned(conn, owner, cid, lock=True):
                raise ConversationNotFound("conversation not found")
            key = (messages_t.c.conversation_id == cid, messages_t.c.id == row["id"])
            cols = [messages_t.c[name] for name in _MESSAGE_VALUE_COLUMNS]
            old = conn.execute(sa.select(*cols).where(*key)).first()
            now = self._now()
            if old is not None:
                if all(getattr(old, name) == row[name] for name in _MESSAGE_VALUE_COLUMNS):
                    if row["status"] != "streaming":
                        return
                    conn.execute(messages_t.update().where(*key).values(updated_at=now))
                else:
                    conn.execute(messages_t.update().where(*key).values(
                        **{name: row[name] for name in _MESSAGE_VALUE_COLUMNS}, updated_at=now))
            else:
                seq = conn.execute(sa.select(sa.func.coalesce(sa.func.max(messages_t.c.seq), 0))
                                   .where(messages_t.c.conversation_id == cid)).scalar() + 1
                conn.execute(messages_t.insert().values(**row, conversation_id=cid, seq=seq,
                                                        created_at=now, updated_at=now))
            conn.execute(conversations.update().where(conversations.c.id == cid).values(updated_at=now))

    def messages(self, owner: str, cid: str, *, limit: int | None = None, before_seq: int | None = None) -> list[dict]:
        """In order. With limit: the last `limit` messages (those with seq < before_seq if given)."""
        owner = _owner(owner)
        if not _valid_cid(cid):
            return []
        q = (sa.select(messages_t).join(conversations, conversations.c.id == messages_t.c.conversation_id)
             .where(conversations.c.owner == owner, messages_t.c.conversation_id == cid))
        if before_seq is not None:
            if not _is_int(before_seq):
                raise ValueError("before_seq must be an integer")
            q = q.where(messages_t.c.seq < before_seq)
        if limit is not None:
            q = q.order_by(messages_t.c.seq.desc()).limit(_limit(limit, "limit", 10**9))
        else:
            q = q.order_by(messages_t.c.seq)
        with self._tx() as conn:
            rows = conn.execute(q).all()
        if limit is not None:
            rows.reverse()
        return [_decode_message(r) for r in rows]

    def delete_messages_after(self, owner: str, cid: str, message_id: str) -> int:
        owner = _owner(owner)
        if not _valid_cid(cid) or not isinstance(message_id, str):
            return 0
        with self._tx(write=True) as conn:
            if not self._owned(conn, owner, cid, lock=True):
                return 0
            seq = conn.execute(sa.select(messages_t.c.seq).where(
                messages_t.c.conversation_id == cid, messages_t.c.id == message_id)).scalar()
            if seq is None:
                return 0
            n = conn.execute(messages_t.delete().where(messages_t.c.conversation_id == cid,
                                                       messages_t.c.seq > seq)).rowcount
            if n:
                conn.execute(conversations.update().where(conversations.c.id == cid).values(updated_at=self._now()))
        return n

    # ---------------------------------------------------------------- search, usage

    def search(self, owner: str, text: str, *, limit: int = 50, model: str | None = None,
               since: datetime | None = None, until: datetime | None = None) -> list[dict]:
        owner = _owner(owner)
        if not isinstance(text, str):
            return []
        needle = _clean(text.strip()[:MAX_SEARCH])
        if not needle:
            return []
        pattern = _like(needle)
        hit = (sa.select(messages_t.c.id).where(messages_t.c.conversation_id == conversations.c.id,
                                                messages_t.c.content.ilike(pattern, escape="\\")).exists())
        q = self._filters(sa.select(conversations, self._count().label("n")), owner, model, since, until)
        q = q.where(sa.or_(conversations.c.title.ilike(pattern, escape="\\"), hit)).limit(_limit(limit, "limit"))
        out = []
        with self._tx() as conn:
            for r in conn.execute(q).all():
                first = conn.execute(
                    sa.select(messages_t.c.content)
                    .where(messages_t.c.conversation_id == r.id, messages_t.c.content.ilike(pattern, escape="\\"))
                    .order_by(messages_t.c.seq).limit(1)).scalar()
                item = _conversation_dict(r, r.n)
                item["snippet"] = _snippet(first if first is not None else r.title, needle)
                out.append(item)
        return out

    def usage(self, owner: str, since: datetime | None = None, until: datetime | None = None) -> list[dict]:
        """One row per assistant message with usage (since/until inclusive, on the message's created_at)."""
        owner = _owner(owner)
        m, c = messages_t, conversations
        q = (sa.select(m.c.created_at, sa.func.coalesce(m.c.model, c.c.model).label("model"), c.c.id, c.c.title,
                       m.c.prompt_tokens, m.c.completion_tokens, m.c.total_tokens, m.c.cost)
             .join(c, c.c.id == m.c.conversation_id)
             .where(c.c.owner == owner, m.c.role == "assistant", m.c.total_tokens.is_not(None)))
        if since is not None:
            q = q.where(m.c.created_at >= _utc(since))
        if until is not None:
            q = q.where(m.c.created_at <= _utc(until))
        with self._tx() as conn:
            rows = conn.execute(q.order_by(m.c.created_at, c.c.id, m.c.seq)).all()
        return [{"day": r.created_at.date(), "model": r.model, "conversation_id": r.id, "title": r.title,
                 "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
                 "total_tokens": r.total_tokens, "cost": r.cost} for r in rows]

    # ---------------------------------------------------------------- export / import

    def export(self, owner: str, cid: str | None = None) -> dict:
        """All of the owner's conversations (oldest first), or one; a missing/foreign cid exports none."""
        owner = _owner(owner)
        out = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION,
               "exported_at": datetime.now(timezone.utc).isoformat(), "conversations": []}
        if cid is not None and not _valid_cid(cid):
            return out
        cq = sa.select(conversations).where(conversations.c.owner == owner)
        mq = (sa.select(messages_t).join(conversations, conversations.c.id == messages_t.c.conversation_id)
              .where(conversations.c.owner == owner))
        if cid is not None:
            cq, mq = cq.where(conversations.c.id == cid), mq.where(messages_t.c.conversation_id == cid)
        with self._tx() as conn:
            convs = conn.execute(cq.order_by(conversations.c.created_at, conversations.c.id)).all()
            by_conv: dict[str, list[dict]] = {}
            for r in conn.execute(mq.order_by(messages_t.c.conversation_id, messages_t.c.seq)):
                by_conv.setdefault(r.conversation_id, []).append(_decode_message(r))
        for r in convs:
            item = _conversation_dict(r)
            item["created_at"], item["updated_at"] = r.created_at.isoformat(), r.updated_at.isoformat()
            item["messages"] = by_conv.get(r.id, [])
            out["conversations"].append(item)
        return out

    def import_export(self, owner: str, data: object, limits: InputLimits) -> int:
        """Check everything, then write it all in one transaction under new conversation ids.

        `limits` are the chat's (glmchat.inputs.InputLimits with the host's settings): an import may not
        bring the owner above limits.conversations conversations in all, nor a conversation above
        limits.conversation_messages messages, nor a message above limits.attachments files (ImportRefused).
        """
        owner = _owner(owner)
        plan = validate_export(data, limits)
        now = self._now()
        conv_rows, message_rows = [], []
        for conv in plan:
            cid = secrets.token_hex(16)
            created = conv["created_at"] or now
            updated = conv["updated_at"] or created
            conv_rows.append({"id": cid, "owner": owner, "title": conv["title"], "model": conv["model"],
                              "settings_json": conv["settings_json"], "created_at": created, "updated_at": updated})
            message_rows += [{**row, "conversation_id": cid, "seq": i, "created_at": updated, "updated_at": updated}
                             for i, row in enumerate(conv["messages"], start=1)]
        if not conv_rows:
            return 0
        with self._tx(write=True) as conn:
            if self.dialect == "postgresql":
                # Two imports of one owner count and write in turn (SQLite's BEGIN IMMEDIATE already does this).
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k, hashtext('import:' || "
                                     "coalesce(current_schema(), '') || ':' || :owner))"),
                             {"k": _LOCK_KEY, "owner": owner})
            existing = int(conn.execute(sa.select(sa.func.count()).select_from(conversations)
                                        .where(conversations.c.owner == owner)).scalar())
            if existing + len(plan) > limits.conversations:
                raise ImportRefused("history.import_conversations",
                                    f"more than {limits.conversations:,} conversations in all",
                                    existing=existing, n=len(plan), limit=limits.conversations)
            conn.execute(conversations.insert(), conv_rows)
            if message_rows:
                conn.execute(messages_t.insert(), message_rows)
        return len(plan)

    # ---------------------------------------------------------------- app metadata

    def meta(self, key: str) -> str | None:
        with self._tx() as conn:
            return conn.execute(sa.select(app_meta.c.value).where(app_meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        """Store value under key, replacing any earlier one."""
        if not isinstance(key, str) or not 0 < len(key) <= 255 or not isinstance(value, str):
            raise ValueError("meta key and value must be text")
        insert = _insert(self.dialect)
        with self._tx(write=True) as conn:
            conn.execute(insert(app_meta).values(key=key, value=_clean(value))
                         .on_conflict_do_update(index_elements=["key"], set_={"value": _clean(value)}))

    def set_meta_if_absent(self, key: str, value: str) -> str:
        """The stored value for key: `value` if this call stored it, else the earlier writer's."""
        if not isinstance(key, str) or not 0 < len(key) <= 255 or not isinstance(value, str):
            raise ValueError("meta key and value must be text")
        found = self.meta(key)
        if found is not None:
            return found
        insert = _insert(self.dialect)
        with self._tx(write=True) as conn:
            conn.execute(insert(app_meta).values(key=key, value=_clean(value))
                         .on_conflict_do_nothing(index_elements=["key"]))
            return conn.execute(sa.select(app_meta.c.value).where(app_meta.c.key == key)).scalar_one()

    # ---------------------------------------------------------------- spending limits

    def _when(self, now: datetime | None) -> datetime:
        return self._now() if now is None else _utc(now)

    def _due_for_prune(self, now: datetime) -> bool:
        with self._clock_lock:
            if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
                return False
            self._pruned_at = now
            return True

    @staticmethod
    def _usage(conn: Connection, limits: Limits, scope: str, visitor: str, now: datetime) -> Usage:
        """What `scope` has used, counting only what one of its configured limits needs."""
        lim = limits.scope(scope)
        mine = [spend.c.visitor == visitor] if scope == "visitor" else []
        recent, tokens, cost, streams = (), 0, 0.0, 0
        if lim.rpm is not None:
            recent = tuple(conn.execute(
                sa.select(spend.c.started_at)
                .where(*mine, spend.c.started_at > now - timedelta(seconds=WINDOW))
                .order_by(spend.c.started_at)).scalars())
        if lim.tokens_day is not None or lim.cny_day is not None:
            tokens, cost = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(spend.c.tokens), 0),
                          sa.func.coalesce(sa.func.sum(spend.c.cost), 0.0))
                .where(*mine, spend.c.started_at >= day_start(now))).one()
        if lim.streams is not None:
            streams = conn.execute(sa.select(sa.func.count()).select_from(spend)
                                   .where(*mine, spend.c.active_until > now)).scalar()
        return Usage(recent=recent, tokens=int(tokens), cost=float(cost), streams=int(streams))

    def reserve_request(self, visitor: str, model: str, limits: Limits, *, now: datetime | None = None,
                        lease: float = 60.0) -> tuple[str | None, Refusal | None]:
        """Count a request against `limits` and, if none is reached, record it as started and streaming
        for `lease` seconds: (request id, None); else (None, the first limit reached). Race-free across
        threads, processes and replicas: the count and the insert share one serialised transaction."""
        visitor, model, lease_for = _owner(visitor, "visitor"), _model(model), _seconds(lease, "lease")
        now = self._when(now)
        rid = secrets.token_hex(16)
        with self._tx(write=True) as conn:
            if limits.active:
                if self.dialect == "postgresql":
                    # SQLite's BEGIN IMMEDIATE already excludes other writers; PostgreSQL needs a lock,
                    # per schema like the migration's, under a different second half.
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k, hashtext('spend:' || "
                                         "coalesce(current_schema(), '')))"), {"k": _LOCK_KEY})
                refusal = limits.check(self._usage(conn, limits, "visitor", visitor, now),
                                       self._usage(conn, limits, "app", visitor, now), now)
                if refusal is not None:
                    return None, refusal
            if self._due_for_prune(now):
                self._prune(conn, now - SPEND_KEEP)
            conn.execute(spend.insert().values(id=rid, visitor=visitor, model=model, started_at=now,
                                               tokens=0, cost=0.0, active_until=now + lease_for))
        return rid, None

    def heartbeat_request(self, request_id: str, *, now: datetime | None = None, lease: float = 60.0) -> bool:
        """Extend a running request's lease to now + lease; False if it is unknown or finished."""
        lease_for = _seconds(lease, "lease")
        if not isinstance(request_id, str) or not _CID.fullmatch(request_id):
            return False
        now = self._when(now)
        with self._tx(write=True) as conn:
            n = conn.execute(spend.update().where(spend.c.id == request_id, spend.c.active_until.is_not(None))
                             .values(active_until=now + lease_for)).rowcount
        return n > 0

    def finish_request(self, request_id: str, tokens: int, cost: float) -> bool:
        """Record the API's own counts for a request and end its lease; False if the id is unknown.
        Setting (not adding) the counts makes a repeated call harmless."""
        if not _is_int(tokens) or not 0 <= tokens <= MAX_TOKENS:
            raise ValueError("tokens must be a non-negative integer")
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not 0 <= cost < math.inf:
            raise ValueError("cost must be a non-negative number")
        if not isinstance(request_id, str) or not _CID.fullmatch(request_id):
            return False
        with self._tx(write=True) as conn:
            n = conn.execute(spend.update().where(spend.c.id == request_id)
                             .values(tokens=tokens, cost=float(cost), active_until=None)).rowcount
        return n > 0

    def spend_today(self, *, now: datetime | None = None) -> dict:
        """Today's (CST) requests, tokens and cost, the replies streaming now, and the top visitors by cost."""
        now = self._when(now)
        today = spend.c.started_at >= day_start(now)
        cost = sa.func.coalesce(sa.func.sum(spend.c.cost), 0.0)
        tokens = sa.func.coalesce(sa.func.sum(spend.c.tokens), 0)
        with self._tx() as conn:
            requests, total_tokens, total_cost = conn.execute(
                sa.select(sa.func.count(), tokens, cost).select_from(spend).where(today)).one()
            streams = conn.execute(sa.select(sa.func.count()).select_from(spend)
                                   .where(spend.c.active_until > now)).scalar()
            top = conn.execute(
                sa.select(spend.c.visitor, sa.func.count().label("n"), tokens.label("t"), cost.label("c"))
                .where(today).group_by(spend.c.visitor)
                .order_by(sa.desc("c"), sa.desc("t"), sa.desc("n"), spend.c.visitor).limit(TOP_VISITORS)).all()
        return {"requests": int(requests), "tokens": int(total_tokens), "cost": float(total_cost),
                "streams": int(streams),
                "visitors": [{"visitor": v, "requests": int(n), "tokens": int(t), "cost": float(c)}
                             for v, n, t, c in top]}

    @staticmethod
    def _failures(conn: Connection, client: str | None, since: datetime) -> int:
        q = sa.select(sa.func.count()).select_from(login_failures_t).where(login_failures_t.c.at >= _utc(since))
        if client is not None:
            q = q.where(login_failures_t.c.client == _owner(client, "client"))
        return int(conn.execute(q).scalar())

    def begin_login_attempt(self, client: str, wait_seconds: Callable[[int, int], float], window: float, *,
                            now: datetime | None = None) -> tuple[float, datetime | None]:
        """Check the throttle and count this attempt as a failure in one serialised step.

        wait_seconds(client failures, app-wide failures) -> seconds, over the last `window` seconds. Locked
        while the latest failure (this client's, or anyone's once many have failed) is younger than its
        wait: (that wait, None). Otherwise the attempt is recorded before the password is checked, so
        parallel guesses see each other: (0, its time), for forgive_login_attempt when it was right.
        """
        client, now = _owner(client, "client"), self._when(now)
        with self._tx(write=True) as conn:
            if self.dialect == "postgresql":  # SQLite's BEGIN IMMEDIATE already excludes other writers
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k, hashtext('login:' || "
                                     "coalesce(current_schema(), '')))"), {"k": _LOCK_KEY})
            since = now - timedelta(seconds=window)
            for who, wait in ((client, wait_seconds(self._failures(conn, client, since), 0)),
                              (None, wait_seconds(0, self._failures(conn, None, since)))):
                if wait and self._failures(conn, who, now - timedelta(seconds=wait)):
                    return wait, None
            conn.execute(login_failures_t.insert().values(client=client, at=now))
        return 0.0, now

    def forgive_login_attempt(self, client: str, at: datetime) -> None:
        """Remove an attempt begin_login_attempt counted, once its password turned out right."""
        with self._tx(write=True) as conn:
            conn.execute(login_failures_t.delete().where(login_failures_t.c.client == _owner(client, "client"),
                                                         login_failures_t.c.at == _utc(at)))

    def login_failures(self, client: str | None, since: datetime) -> int:
        """Failed logins at or after `since`: one client's, or everyone's (client None)."""
        with self._tx() as conn:
            return self._failures(conn, client, since)

    @staticmethod
    def _prune(conn: Connection, before: datetime) -> int:
        n = conn.execute(spend.delete().where(spend.c.started_at < before)).rowcount
        return n + conn.execute(login_failures_t.delete().where(login_failures_t.c.at < before)).rowcount

    def prune_spend(self, before: datetime) -> int:
        """Delete spend rows started, and login failures, before `before`; returns how many."""
        with self._tx(write=True) as conn:
            return self._prune(conn, _utc(before))


# --------------------------------------------------------------------------- export files


def parse_export(raw: bytes) -> object:
    """An uploaded export file as JSON: ValueError for one that is too big, not UTF-8 JSON or nested too deeply.

    The page checks the upload's size before reading it; this holds any other caller to the same limit.
    """
    if len(raw) > MAX_IMPORT_MB * 1024 * 1024:
        raise ImportRefused("history.import_too_big", "the file is too big", size=len(raw), limit=MAX_IMPORT_MB)
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as some editors write, is fine
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text") from None
    try:
        return json.loads(text)
    except RecursionError:
        # The parser recurses once per level: "[[[[…" must be a refusal, not an uncaught error.
        raise ImportRefused("history.import_too_deep", "the file is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg}, line {exc.lineno})") from None
    except ValueError:  # an integer of thousands of digits
        raise ValueError("not JSON that can be read") from None


def validate_export(data: object, limits: InputLimits) -> list[dict]:
    """An export checked from top to bottom, as rows ready to insert (ValueError with a short reason).

    Whatever the chat page reads must have the shape the app writes, so that every imported conversation
    opens (see _checked_message); keys this version does not read are dropped. `limits` are the chat's:
    limits.conversations bounds the file here, and the owner's total when it is written.
    """
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ValueError("not a GLM Chat export")
    version = data.get("version")
    if not _is_int(version) or version != EXPORT_VERSION:
        raise ValueError("unsupported export version")
    convs = data.get("conversations")
    if not isinstance(convs, list):
        raise ValueError("conversations must be a list")
    if len(convs) > limits.conversations:
        raise ImportRefused("history.import_file_conversations", f"more than {limits.conversations:,} conversations",
                            n=len(convs), limit=limits.conversations)
    now = datetime.now(timezone.utc)
    plan = []
    for i, conv in enumerate(convs, start=1):
        where = f"conversation {i}"
        if not isinstance(conv, dict):
            raise ValueError(f"{where}: not an object")
        msgs = conv.get("messages", [])
        if not isinstance(msgs, list):
            raise ValueError(f"{where}: messages must be a list")
        if len(msgs) > limits.conversation_messages:
            raise ImportRefused("history.import_messages",
                                f"{where}: more than {limits.conversation_messages:,} messages",
                                n=i, actual=len(msgs), limit=limits.conversation_messages)
        try:
            title, model = _title(conv.get("title")), _model(conv.get("model"))
            settings_json = _settings(_checked_settings(conv.get("settings")))
            created = _import_time(conv.get("created_at"), "created_at", now)
            updated = _import_time(conv.get("updated_at"), "updated_at", now)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        rows, seen = [], set()
        for j, message in enumerate(msgs, start=1):
            files = message.get("attachments") if isinstance(message, dict) and message.get("role") == "user" else None
            if isinstance(files, list) and len(files) > limits.attachments:
                raise ImportRefused("history.import_files",
                                    f"{where}, message {j}: more than {limits.attachments} files",
                                    n=i, m=j, actual=len(files), limit=limits.attachments)
            try:
                row = encode_message(_checked_message(message))
            except ValueError as exc:
                raise ValueError(f"{where}, message {j}: {exc}") from None
            if row["id"] in seen:
                raise ValueError(f"{where}, message {j}: duplicate message id")
            seen.add(row["id"])
            rows.append(row)
        plan.append({"title": title, "model": model, "settings_json": settings_json, "created_at": created,
                     "updated_at": updated, "messages": rows})
    return plan


_EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)


def _import_time(value: object, what: str, now: datetime) -> datetime | None:
    when = _parse_time(value, what)
    if when is not None and when < _EARLIEST:
        raise ValueError(f"{what} is before 2000")  # and year 1 cannot be shown in a timezone west of UTC
    # A date after the import (another machine's clock) would keep the conversation first in every list.
    return None if when is None else min(when, now)


# What the chat reads of an imported conversation, in the shapes the app writes them (glmchat.conversation,
# chat_view, sources, state): a wrong shape is refused with its path ("meta.cost must be …"), a key this
# version does not read is dropped (nothing unchecked is stored, and a newer version's export still imports).
# A key is required where the page reads it without a default (a reply's status, an attachment's data…).

MAX_WORD = 64                 # kinds, statuses, finish reasons, limit names, scopes, citation keys
MAX_CODE = 200                # an error code
MAX_SECONDS = 10**6           # a reply's time to its first token, a limit's wait
MAX_RATE = 10**9              # tokens per second
MAX_ATTEMPTS = 1000
MAX_ALTERNATIVES = 1000       # earlier answers kept under one reply (one per Regenerate)
MAX_FILE_NAME = 255           # the app keeps 100 characters
MAX_NESTING = 6               # levels in the API's own further usage counts (prompt_tokens_details…)
_STATUSES = frozenset({"streaming", "done", "stopped", "incomplete", "error"})
_FILE_KINDS = frozenset({"image", "text", "extract"})
_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}")

Check = Callable[[Any, str], Any]


def _at(what: str, key: object) -> str:
    return f"{what}.{key}" if what else str(key)


def _text(value: object, what: str, limit: int, *, null: bool = False, empty: bool = True) -> str | None:
    if value is None and null:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text" + (" or null" if null else ""))
    if len(value) > limit:
        raise ValueError(f"{what} is too long (at most {limit:,} characters)")
    if not value and not empty:
        raise ValueError(f"{what} is empty")
    # As in the text columns: a lone surrogate cannot go out to the page (a widget raised on one).
    return _clean(value)


def _whole(value: object, what: str, low: int, high: int, *, null: bool = False) -> int | None:
    if value is None and null:
        return None
    if not _is_int(value) or not low <= value <= high:
        raise ValueError(f"{what} must be a whole number from {low:,} to {high:,}")
    return value


def _figure(value: object, what: str, low: float, high: float) -> int | float | None:
    """A number (not a bool) from low to high, or null; NaN and the infinities are outside every range."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{what} must be a number from {low:,} to {high:,}")
    return value


def _flag(value: object, what: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{what} must be true, false or null")
    return value


def _object(value: object, what: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object")
    return value


def _list(value: object, what: str, limit: int) -> list:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list")
    if len(value) > limit:
        raise ValueError(f"{what} has more than {limit:,} items")
    return value


def _fields(record: dict, checks: dict[str, Check], what: str, required: tuple[str, ...] = ()) -> dict:
    """The record's known keys, each checked, in the record's order; other keys are dropped."""
    for key in required:
        if key not in record:
            raise ValueError(f"{_at(what, key)} is missing")
    return {k: checks[k](v, _at(what, k)) for k, v in record.items() if k in checks}


def _plain(value: object, what: str, depth: int = MAX_NESTING) -> object:
    """JSON of at most `depth` levels with finite numbers, kept as it is."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{what} must be a finite number")
        return value
    if depth > 0 and isinstance(value, list):
        return [_plain(v, what, depth - 1) for v in value]
    if depth > 0 and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {_clean(k): _plain(v, _at(what, k), depth - 1) for k, v in value.items()}
    raise ValueError(f"{what} is not plain JSON of at most {MAX_NESTING} levels")


def _word(value: object, what: str) -> str | None:
    return _text(value, what, MAX_WORD, null=True)


def _message_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError(f"{what} must be 1-64 letters, digits or _.:-")
    return value


def _base64(value: object, what: str) -> str:
    from glmchat.attachments import MAX_IMAGE_BYTES_IN
    if not isinstance(value, str):
        raise ValueError(f"{what} must be base64 text")
    try:
        size = len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):  # ValueError: not ASCII
        raise ValueError(f"{what} is not valid base64") from None
    if size > MAX_IMAGE_BYTES_IN:
        raise ValueError(f"{what} is too large")
    return value


def _mime(value: object, what: str) -> str:
    if not isinstance(value, str) or not _MIME.fullmatch(value):
        raise ValueError(f"{what} must be a media type such as image/png")
    return value


def _file_kind(value: object, what: str) -> str:
    if not isinstance(value, str) or value not in _FILE_KINDS:  # a list is not hashable
        raise ValueError(f"{what} must be image, text or extract")
    return value


def _status(value: object, what: str) -> str:
    if not isinstance(value, str) or value not in _STATUSES:
        raise ValueError(f"{what} must be one of {', '.join(sorted(_STATUSES))}")
    # Nothing is writing an imported reply: "streaming" would make the page follow it.
    return "incomplete" if value == "streaming" else value


def _feedback(value: object, what: str) -> int | None:
    if value is not None and (not _is_int(value) or value not in (0, 1)):
        raise ValueError(f"{what} must be 0, 1 or null")  # the thumbs widget takes nothing else
    return value


def _attachment_refusal(value: object, what: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.startswith("attach.") or value not in STRINGS):
        raise ValueError(f"{what} must name an attachment refusal")  # the page shows it by this i18n key
    return value


def _checked_attachment(value: object, what: str) -> dict:
    from glmchat.attachments import API_IMAGE_MAX_SIDE, MAX_IMAGE_BYTES_IN
    checks: dict[str, Check] = {
        "name": lambda v, w: _text(v, w, MAX_FILE_NAME, empty=False),
        "kind": _file_kind,
        "size": lambda v, w: _whole(v, w, 0, MAX_IMAGE_BYTES_IN),
        "mime": _mime,
        "data": _base64,
        "text": lambda v, w: _text(v, w, MAX_CONTENT, null=True),
        "width": lambda v, w: _whole(v, w, 0, API_IMAGE_MAX_SIDE),
        "height": lambda v, w: _whole(v, w, 0, API_IMAGE_MAX_SIDE),
        "tokens": lambda v, w: _whole(v, w, 0, MAX_TOKENS),
    }
    return _fields(_object(value, what), checks, what, ("name", "kind", "size", "mime", "data"))


def _checked_attachments(value: object, what: str) -> list[dict]:
    # Their number is held to the chat's limit before this (ImportRefused, in validate_export).
    return [_checked_attachment(v, f"{what}[{k}]") for k, v in enumerate(_list(value, what, 10**4))]


def _checked_source(value: object, what: str) -> dict:
    from glmchat.sources import LINK_MAX, TITLE_MAX
    checks: dict[str, Check] = {
        "n": lambda v, w: _whole(v, w, 0, 10**6),
        "title": lambda v, w: _text(v, w, TITLE_MAX),
        "site": lambda v, w: _text(v, w, MAX_FILE_NAME),
        "link": lambda v, w: _text(v, w, LINK_MAX, null=True),
        "refer": _word,
    }
    return _fields(_object(value, what), checks, what)


def _checked_sources(value: object, what: str) -> list[dict]:
    from glmchat.sources import SOURCES_MAX
    return [_checked_source(v, f"{what}[{k}]") for k, v in enumerate(_list(value, what, SOURCES_MAX))]


def _checked_error(value: object, what: str) -> dict | None:
    if value is None:
        return None
    checks: dict[str, Check] = {
        "kind": lambda v, w: _text(v, w, MAX_WORD),
        "status": lambda v, w: _whole(v, w, 0, 999, null=True),
        "code": lambda v, w: _text(v, w, MAX_CODE, null=True),
        "limit": _word,
        "scope": _word,
        "retry_after": lambda v, w: _figure(v, w, 0, MAX_SECONDS),
        "own_key": _flag,
        "key": _attachment_refusal,
    }
    error = _fields(_object(value, what), checks, what, ("kind",))
    if error["kind"] == "limit" and f"limit.{error.get('limit')}" not in STRINGS:
        raise ValueError(f"{_at(what, 'limit')} must name one of the host's limits")  # shown by this i18n key
    return error


def _checked_usage(value: object, what: str) -> dict | None:
    if value is None:
        return None
    out = {}
    for k, v in _object(value, what).items():
        if k in ("prompt_tokens", "completion_tokens", "total_tokens"):
            out[k] = _whole(v, _at(what, k), 0, MAX_TOKENS, null=True)
        else:  # the API's own further counts (prompt_tokens_details…), as it sent them
            out[_text(k, what + " keys", MAX_WORD)] = _plain(v, _at(what, k))
    return out


# A reply's parameters, and the same within a conversation's remembered settings.
_PARAM_CHECKS: dict[str, Check] = {
    "temperature": lambda v, w: _figure(v, w, *TEMPERATURE),
    "top_p": lambda v, w: _figure(v, w, *TOP_P),
    "max_tokens": lambda v, w: _whole(v, w, 1, MAX_TOKENS, null=True),
    "thinking": _flag,
    "web_search": _flag,
}


def _checked_params(value: object, what: str) -> dict:
    return _fields(_object(value, what), _PARAM_CHECKS, what)


def _checked_meta(value: object, what: str) -> dict:
    checks: dict[str, Check] = {
        "model": lambda v, w: _text(v, w, MAX_MODEL, null=True),
        "params": _checked_params,
        "usage": _checked_usage,
        "ttft": lambda v, w: _figure(v, w, 0, MAX_SECONDS),
        "tps": lambda v, w: _figure(v, w, 0, MAX_RATE),
        "cost": lambda v, w: _figure(v, w, 0, MAX_COST),
        "attempts": lambda v, w: _whole(v, w, 0, MAX_ATTEMPTS, null=True),
    }
    return _fields(_object(value, what), checks, what)  # never null: the page reads meta.get(…)


def _checked_alternatives(value: object, what: str) -> list[dict]:
    return [_checked_message(v, f"{what}[{k}]", alternative=True)
            for k, v in enumerate(_list(value, what, MAX_ALTERNATIVES))]


_CONTENT: Check = lambda v, w: _text(v, w, MAX_CONTENT)  # noqa: E731
_USER_CHECKS: dict[str, Check] = {"id": _message_id, "role": lambda v, w: v, "content": _CONTENT,
                                  "attachments": _checked_attachments}
_REPLY_CHECKS: dict[str, Check] = {
    "id": _message_id, "role": lambda v, w: v, "content": _CONTENT,
    "reasoning": lambda v, w: _text(v, w, MAX_CONTENT, null=True),
    "status": _status, "error": _checked_error, "finish_reason": _word, "meta": _checked_meta,
    "alternatives": _checked_alternatives, "sources": _checked_sources, "feedback": _feedback,
}
_ALTERNATIVE_CHECKS = {k: v for k, v in _REPLY_CHECKS.items() if k != "alternatives"}


def _checked_message(message: object, what: str = "", *, alternative: bool = False) -> dict:
    """A message as the app writes it (conversation.user_message / assistant_message and what the chat adds).

    An alternative (an earlier answer kept by Regenerate) is a reply without alternatives of its own; the
    page reads only its content and meta, so its id, role and status may be missing.
    """
    if not isinstance(message, dict):
        raise ValueError(f"{what or 'a message'} must be an object")
    role = message.get("role", "assistant" if alternative else None)
    if role != "assistant" and (alternative or role != "user"):
        raise ValueError(f"{_at(what, 'role')} must be " + ("assistant" if alternative else "user or assistant"))
    if alternative:
        if "alternatives" in message:
            raise ValueError(f"{_at(what, 'alternatives')} cannot be nested")
        return _fields(message, _ALTERNATIVE_CHECKS, what)
    if role == "user":
        return _fields(message, _USER_CHECKS, what, ("id", "content"))
    return _fields(message, _REPLY_CHECKS, what, ("id", "content", "status"))


def _checked_summary(value: object, what: str) -> dict | None:
    if value is None:
        return None
    checks: dict[str, Check] = {"text": _CONTENT, "upto": lambda v, w: None if v is None else _message_id(v, w)}
    return _fields(_object(value, what), checks, what, ("text",))


def _checked_settings(value: object) -> dict:
    """A conversation's remembered sidebar settings (state.Settings.conversation_settings)."""
    if value is None:
        return {}
    checks: dict[str, Check] = {
        **_PARAM_CHECKS,
        "system_prompt": lambda v, w: _text(v, w, SYSTEM_CHARS, null=True),
        "preset": lambda v, w: _text(v, w, MAX_TITLE, null=True),
        "summary": _checked_summary,
    }
    settings = _fields(_object(value, "settings"), checks, "settings")
    for key in ("temperature", "top_p"):
        if _is_int(settings.get(key)):
            settings[key] = float(settings[key])  # the sliders hold floats
    return settings


# --------------------------------------------------------------------------- Markdown


def to_markdown(conversation: dict) -> str:
    """One exported conversation as Markdown. Message text is kept verbatim (code blocks included)."""
    title = " ".join(str(conversation.get("title") or "").split()) or "Untitled"
    parts = [f"# {title}"]
    for m in conversation.get("messages", []):
        if m.get("role") == "user":
            parts.append("**User**")
        else:
            meta = m.get("meta") if isinstance(m.get("meta"), dict) else {}
            parts.append(f"**GLM ({meta.get('model') or conversation.get('model') or '?'})**")
        parts.append(m.get("content") or "")
        status = m.get("status")
        if m.get("role") == "assistant" and status not in (None, "done"):
            parts.append(f"_({status})_")
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------- resilient wrapper


class _Replayer:
    """One thread per process that keeps replaying the queued writes of every ResilientStore.

    Without it a queue was replayed only by its own session's next database call, so the last
    message of a visitor who went quiet (or closed the tab) while the database was down was never
    saved. It holds a store only while that store has writes queued.
    """

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._stores: set[ResilientStore] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, store: ResilientStore) -> None:
        with self._lock:
            self._stores.add(store)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="glmchat-replayer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                stores = list(self._stores)
            done = [s for s in stores if s.replay_pending()]
            with self._lock:
                self._stores.difference_update(s for s in done if not s.pending)
                if not self._stores:
                    self._thread = None
                    return


REPLAYER = _Replayer()


@dataclass
class _Op:
    name: str
    args: tuple
    kwargs: dict = field(default_factory=dict)

    @property
    def cid(self) -> str | None:
        if self.name == "set_meta":
            return None
        return self.kwargs["cid"] if self.name == "create_conversation" else self.args[1]


_BARRIERS = frozenset({"create_conversation", "delete", "delete_messages_after"})


class ResilientStore:
    """Wraps a Store so the chat keeps working when the database is down: writes that fail are kept
    (latest version per message id) and replayed on the next call; reads that fail return None/[] and
    set `healthy = False`.

    After a failure the database is left alone for `retry_interval` seconds (writes queue at once,
    reads come back empty), so a hanging server cannot stall every rerun; flush() always tries.
    export, import_export raise StorageError while the database is unreachable; set_meta_if_absent
    returns None then (never a value that might not be the stored one).

    Spending records are never queued (a limit must be checked against the database, now): while it is
    down, reserve_request refuses with kind "unavailable" if any limit is set (fail closed) and returns
    (None, None) if none is; heartbeat, finish and login failures are dropped (logged, without data)
    and the spend reads return zeros.
    """

    def __init__(self, store_factory: Callable[[], Store], *, retry_interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._factory = store_factory
        self._store: Store | None = None
        self._queue: list[_Op] = []
        self._lock = threading.RLock()
        self._retry_interval = retry_interval
        self._clock = clock
        self._next_try = float("-inf")
        self.healthy = True

    @property
    def pending(self) -> int:
        return len(self._queue)

    # ---------------------------------------------------------------- plumbing

    def _failed(self) -> None:
        self.healthy = False
        self._next_try = self._clock() + self._retry_interval

    def _open(self, force: bool = False) -> Store | None:
        if not force and self._clock() < self._next_try:
            return None
        if self._store is None:
            try:
                self._store = self._factory()
            except Exception as exc:  # noqa: BLE001 - any failure to open means "down" here
                log.warning("storage: cannot open the database (%s)", type(exc).__name__)
                self._failed()
                return None
        return self._store

    def _replay(self, store: Store) -> bool:
        while self._queue:
            op = self._queue[0]
            try:
                getattr(store, op.name)(*op.args, **op.kwargs)
            except ConversationNotFound:
                log.warning("storage: dropped a queued %s (conversation gone)", op.name)
            except StorageError:
                self._failed()
                return False
            except Exception as exc:  # noqa: BLE001 - a write that can never succeed must not block the rest
                log.error("storage: dropped a queued %s (%s)", op.name, type(exc).__name__)
            self._queue.pop(0)
        return True

    def _ready(self, force: bool = False) -> Store | None:
        store = self._open(force)
        if store is None or (self._queue and not self._replay(store)):
            return None
        return store

    def _read(self, name: str, default: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            store = self._ready()
            if store is None:
                self.healthy = False
                return default
            try:
                result = getattr(store, name)(*args, **kwargs)
            except StorageError:
                self._failed()
                return default
            self.healthy = True
            return result

    def _write(self, op: _Op, queued_result: Any) -> Any:
        with self._lock:
            store = self._ready()
            if store is not None:
                try:
                    result = getattr(store, op.name)(*op.args, **op.kwargs)
                except ConversationNotFound:
                    raise
                except StorageError:
                    self._failed()
                else:
                    self.healthy = True
                    return result
            self._enqueue(op)
            self.healthy = False
            return queued_result

    def _enqueue(self, op: _Op) -> None:
        try:
            self._add(op)
        finally:
            REPLAYER.watch(self)  # after the queue has it: the replayer lets go only of empty queues

    def _add(self, op: _Op) -> None:
        if op.name == "save_message":
            owner, cid, message = op.args
            for i in range(len(self._queue) - 1, -1, -1):
                other = self._queue[i]
                if other.cid != cid:
                    continue
                if other.name == "save_message" and other.args[0] == owner and other.args[2]["id"] == message["id"]:
                    self._queue[i] = op  # latest version, in the first version's place (keeps the order)
                    return
                if other.name in _BARRIERS:
                    break
        self._queue.append(op)

    def replay_pending(self) -> bool:
        """The background replayer's turn: replay queued writes if the retry interval allows; True when none remain.

        It never waits for the session's own calls: a busy lock just means "later".
        """
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if not self._queue:
                return True
            if self._ready() is None:
                return False
            self.healthy = True
            return True
        finally:
            self._lock.release()

    def flush(self) -> bool:
        """Replay pending writes in order (trying now, whatever the retry interval); True when none remain."""
        with self._lock:
            if not self._queue:
                return True
            ok = self._ready(force=True) is not None
            if ok:
                self.healthy = True
            return ok

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    # ---------------------------------------------------------------- writes

    def create_conversation(self, owner: str, title: str, model: str, settings: dict | None = None) -> str:
        _owner(owner), _title(title), _model(model), _settings(settings)
        cid = secrets.token_hex(16)
        self._write(_Op("create_conversation", (owner, title, model, copy.deepcopy(settings)), {"cid": cid}), cid)
        return cid

    def rename(self, owner: str, cid: str, title: str) -> bool:
        _title(title)
        return self._write(_Op("rename", (owner, cid, title)), True)

    def update_settings(self, owner: str, cid: str, model: str, settings: dict) -> bool:
        _model(model), _settings(settings)
        return self._write(_Op("update_settings", (owner, cid, model, copy.deepcopy(settings))), True)

    def delete(self, owner: str, cid: str) -> bool:
        return self._write(_Op("delete", (owner, cid)), True)

    def save_message(self, owner: str, cid: str, message: dict) -> None:
        _owner(owner)
        encode_message(message)  # a malformed message fails now, not at replay
        self._write(_Op("save_message", (owner, cid, copy.deepcopy(message))), None)

    def delete_messages_after(self, owner: str, cid: str, message_id: str) -> int:
        return self._write(_Op("delete_messages_after", (owner, cid, message_id)), 0)

    # ---------------------------------------------------------------- reads

    def conversation(self, owner: str, cid: str) -> dict | None:
        return self._read("conversation", None, owner, cid)

    def list_conversations(self, owner: str, **kwargs: Any) -> list[dict]:
        return self._read("list_conversations", [], owner, **kwargs)

    def count_conversations(self, owner: str) -> int:
        return self._read("count_conversations", 0, owner)

    def messages(self, owner: str, cid: str, **kwargs: Any) -> list[dict]:
        return self._read("messages", [], owner, cid, **kwargs)

    def search(self, owner: str, text: str, **kwargs: Any) -> list[dict]:
        return self._read("search", [], owner, text, **kwargs)

    def usage(self, owner: str, since: datetime | None = None, until: datetime | None = None) -> list[dict]:
        return self._read("usage", [], owner, since, until)

    def meta(self, key: str) -> str | None:
        return self._read("meta", None, key)

    def set_meta(self, key: str, value: str) -> None:
        self._write(_Op("set_meta", (key, value)), None)

    def set_meta_if_absent(self, key: str, value: str) -> str | None:
        return self._read("set_meta_if_absent", None, key, value)

    # ---------------------------------------------------------------- spending: never queued

    def _unqueued(self, name: str, default: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            result = self._read(name, default, *args, **kwargs)
            if not self.healthy:
                log.warning("storage: %s not recorded (database unavailable)", name)
            return result

    def reserve_request(self, visitor: str, model: str, limits: Limits, *, now: datetime | None = None,
                        lease: float = 60.0) -> tuple[str | None, Refusal | None]:
        down = (None, UNAVAILABLE if limits.active else None)
        return self._read("reserve_request", down, visitor, model, limits, now=now, lease=lease)

    def heartbeat_request(self, request_id: str, *, now: datetime | None = None, lease: float = 60.0) -> bool:
        return self._unqueued("heartbeat_request", False, request_id, now=now, lease=lease)

    def finish_request(self, request_id: str, tokens: int, cost: float) -> bool:
        return self._unqueued("finish_request", False, request_id, tokens, cost)

    def begin_login_attempt(self, client: str, wait_seconds: Callable[[int, int], float], window: float, *,
                            now: datetime | None = None, down_wait: float = 30.0) -> tuple[float, datetime | None]:
        """As Store's; while the database is away no attempt can be counted, so none is checked."""
        return self._unqueued("begin_login_attempt", (down_wait, None), client, wait_seconds, window, now=now)

    def forgive_login_attempt(self, client: str, at: datetime) -> None:
        self._unqueued("forgive_login_attempt", None, client, at)

    def spend_today(self, *, now: datetime | None = None) -> dict:
        empty = {"requests": 0, "tokens": 0, "cost": 0.0, "streams": 0, "visitors": []}
        return self._read("spend_today", empty, now=now)

    # ---------------------------------------------------------------- export / import: no silent fallback

    def _strict(self, name: str, *args: Any) -> Any:
        with self._lock:
            store = self._ready(force=True)
            if store is None:
                raise StorageError("database unavailable")
            try:
                result = getattr(store, name)(*args)
            except StorageError:
                self._failed()
                raise
            self.healthy = True
            return result

    def export(self, owner: str, cid: str | None = None) -> dict:
        return self._strict("export", owner, cid)

    def import_export(self, owner: str, data: object, limits: InputLimits) -> int:
        return self._strict("import_export", owner, data, limits)
