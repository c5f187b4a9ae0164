"""`Store`: one database of conversations, spending records and app metadata, composed of the engine and one
mixin per job (conversations.py, folders.py, shares.py, spend.py, exchange.py). No Streamlit here.

PostgreSQL schema isolation: `Store(url, schema="name")` sets `search_path` for every connection (tests use
one fresh schema each). `busy_timeout` (seconds) is SQLite's busy timeout and PostgreSQL's lock_timeout, so a
locked database gives StorageError instead of a hang. The schema is created and upgraded on opening.
"""

from __future__ import annotations

import sqlalchemy as sa

from glmchat.store.codec import clean
from glmchat.store.conversations import Conversations
from glmchat.store.engine import LOCK_KEY, insert_for
from glmchat.store.exchange import Exchange
from glmchat.store.folders import Folders
from glmchat.store.migrations import CURRENT_VERSION, apply_migrations
from glmchat.store.schema import app_meta, schema_version
from glmchat.store.shares import Shares
from glmchat.store.spend import Spend


class Store(Conversations, Folders, Shares, Spend, Exchange):
    """One database (SQLite file or PostgreSQL) of conversations. Thread-safe.

    Keyword options: `schema` (PostgreSQL: the schema to use, via search_path), `busy_timeout`
    (seconds; SQLite busy timeout, PostgreSQL lock_timeout), `connect_timeout` (PostgreSQL, seconds).
    """

    def __init__(
        self, url: str, *, schema: str | None = None, busy_timeout: float = 5.0, connect_timeout: int = 5
    ) -> None:
        super().__init__(url, schema=schema, busy_timeout=busy_timeout, connect_timeout=connect_timeout)
        try:
            self.migrate()
        except BaseException:
            self._engine.dispose()
            raise

    def migrate(self) -> int:
        with self._tx(write=True) as conn:
            if self.dialect == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:k, hashtext(coalesce(current_schema(), '')))"),
                    {"k": LOCK_KEY},
                )
            apply_migrations(conn)
        return CURRENT_VERSION

    def version(self) -> int:
        with self._tx() as conn:
            return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0

    # ---------------------------------------------------------------- app metadata

    def meta(self, key: str) -> str | None:
        with self._tx() as conn:
            return conn.execute(sa.select(app_meta.c.value).where(app_meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        """Store value under key, replacing any earlier one."""
        if not isinstance(key, str) or not 0 < len(key) <= 255 or not isinstance(value, str):
            raise ValueError("meta key and value must be text")
        insert = insert_for(self.dialect)
        with self._tx(write=True) as conn:
            conn.execute(
                insert(app_meta)
                .values(key=key, value=clean(value))
                .on_conflict_do_update(index_elements=["key"], set_={"value": clean(value)})
            )

    def set_meta_if_absent(self, key: str, value: str) -> str:
        """The stored value for key: `value` if this call stored it, else the earlier writer's."""
        if not isinstance(key, str) or not 0 < len(key) <= 255 or not isinstance(value, str):
            raise ValueError("meta key and value must be text")
        found = self.meta(key)
        if found is not None:
            return found
        insert = insert_for(self.dialect)
        with self._tx(write=True) as conn:
            conn.execute(
                insert(app_meta).values(key=key, value=clean(value)).on_conflict_do_nothing(index_elements=["key"])
            )
            return conn.execute(sa.select(app_meta.c.value).where(app_meta.c.key == key)).scalar_one()
