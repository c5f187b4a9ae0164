"""The database connection: URLs, the SQLite and PostgreSQL engines, and the transaction every query runs in.

`Engine` is the base of `Store`: it opens the engine and offers `_tx` (a transaction that turns any
database failure into a `StorageError` with a short safe message) and `_now` (a strictly increasing clock).
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

# Every module of the store logs here (one name: its failures are counted in the server log by it).
log = logging.getLogger("glmchat.store")

ROOT = Path(__file__).resolve().parents[2]
DATABASE_URL_NAME = (
    "GLMCHAT_DATABASE_URL"  # the setting (secret or environment); glmchat.hosting.config reads it by this
)
LOCK_KEY = 0x676C6D  # "glm": first half of every advisory lock key (migration, import, spend, login)
_SCHEMA = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class StorageError(Exception):
    """Any database failure, with a short safe message (no SQL, no data)."""


# --------------------------------------------------------------------------- URLs


def normalise_url(url: str) -> str:
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def default_url() -> str:
    """GLMCHAT_DATABASE_URL if set (blank counts as unset), else a SQLite file in <repo>/data/."""
    env = (os.environ.get(DATABASE_URL_NAME) or "").strip()
    if env:
        return env
    data = ROOT / "data"
    data.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data / 'glmchat.db'}"


# --------------------------------------------------------------------------- dialects and errors


def _driver_errors() -> tuple[type[BaseException], ...]:
    """The database drivers' own errors. psycopg loads with the first PostgreSQL engine, not the first page."""
    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error, psycopg.Error) if psycopg else (sqlite3.Error,)


def insert_for(dialect: str):
    """The dialect's INSERT, which has ON CONFLICT; PostgreSQL's is imported only where it is used."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert
    return sqlite_insert


def safe_message(exc: BaseException) -> str:
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


# --------------------------------------------------------------------------- the engine


class Engine:
    """One database (SQLite file or PostgreSQL) and the transactions on it. Thread-safe.

    Keyword options: `schema` (PostgreSQL: the schema to use, via search_path), `busy_timeout`
    (seconds; SQLite busy timeout, PostgreSQL lock_timeout), `connect_timeout` (PostgreSQL, seconds).
    """

    def __init__(
        self, url: str, *, schema: str | None = None, busy_timeout: float = 5.0, connect_timeout: int = 5
    ) -> None:
        self._clock_lock = threading.Lock()
        # SQLite lets one writer in at a time, and its busy handler polls with sleeps of up to 100 ms;
        # this process's writers queue on a lock instead, which hands over at once (10 sessions sending
        # together waited seconds in BEGIN IMMEDIATE). Other processes still meet the busy timeout.
        self._write_lock = threading.Lock()
        self._busy_timeout = busy_timeout
        self._last = datetime.min.replace(tzinfo=UTC)
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
        return sa.create_engine(
            u, pool_pre_ping=True, connect_args={"connect_timeout": connect_timeout, "options": " ".join(options)}
        )

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
            log.warning("storage: %s", safe_message(exc))
            raise StorageError(safe_message(exc)) from None
        finally:
            if queued:
                self._write_lock.release()

    def _now(self) -> datetime:
        """UTC now, strictly increasing within this process (so "newest first" has no ties)."""
        with self._clock_lock:
            now = datetime.now(UTC)
            if now <= self._last:
                now = self._last + timedelta(microseconds=1)
            self._last = now
            return now

    def close(self) -> None:
        self._engine.dispose()
