"""`ResilientStore`: a Store the chat keeps working with while the database is down, unreachable, locked or
corrupt. Failed writes are queued (latest version per message id) and replayed once and in order, by the
session's next call or by the one background replay thread of the process; reads come back empty.
"""

from __future__ import annotations

import atexit
import copy
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from glmchat.store.codec import encode_message, model_text, owner_key, settings_text, title_text
from glmchat.store.conversations import ConversationNotFound
from glmchat.store.engine import StorageError, log
from glmchat.store.spend import UNAVAILABLE, Refusal, SpendLimits

if TYPE_CHECKING:
    from glmchat.store.database import Store
    from glmchat.store.exchange import ImportLimits


# --------------------------------------------------------------------------- the replay thread


class _ReplayThread(threading.Thread):
    def __init__(self, replayer: _Replayer) -> None:
        super().__init__(target=replayer._run, name="glmchat-replayer", daemon=True)
        self.replayer = replayer


class _Replayer:
    """One thread per process that keeps replaying the queued writes of every ResilientStore.

    Without it a queue was replayed only by its own session's next database call, so the last
    message of a visitor who went quiet (or closed the tab) while the database was down was never
    saved. It holds a store only while that store has writes queued.

    It stops when the interpreter exits: once the main thread has finished (the interpreter is about to
    join its other threads and close its streams) or stop() was called (at exit, by atexit). From then on it
    starts no replay and what a replay already under way logs is dropped, so it never writes to a stream
    the process has closed (pytest closes its captured ones before the interpreter exits).
    """

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._stores: set[ResilientStore] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def stopping(self) -> bool:
        return self._stop.is_set() or not threading.main_thread().is_alive()

    def watch(self, store: ResilientStore) -> None:
        with self._lock:
            self._stores.add(store)
            if (self._thread is None or not self._thread.is_alive()) and not self.stopping():
                self._thread = _ReplayThread(self)
                self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the thread and wait up to `timeout` seconds for a replay under way to end."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                stores = list(self._stores)
            done = []
            for s in stores:
                if self.stopping():
                    return
                if s.replay_pending():
                    done.append(s)
            with self._lock:
                self._stores.difference_update(s for s in done if not s.pending)
                if not self._stores:
                    self._thread = None
                    return


def _quiet_when_stopping(record: logging.LogRecord) -> bool:
    """Drop what the replay thread logs once it is stopping: the process's streams may be closed by then."""
    thread = threading.current_thread()
    return not (isinstance(thread, _ReplayThread) and thread.replayer.stopping())


REPLAYER = _Replayer()
atexit.register(REPLAYER.stop)
log.addFilter(_quiet_when_stopping)


# --------------------------------------------------------------------------- the queue


@dataclass
class _Op:
    name: str
    args: tuple
    kwargs: dict = field(default_factory=dict)

    @property
    def cid(self) -> str | None:
        if self.name in ("set_meta", "create_folder", "rename_folder", "delete_folder"):
            return None
        return self.kwargs["cid"] if self.name == "create_conversation" else self.args[1]


_BARRIERS = frozenset({"create_conversation", "delete", "leave_branch_after", "show_branch"})


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

    def __init__(
        self,
        store_factory: Callable[[], Store],
        *,
        retry_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
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
        owner_key(owner), title_text(title), model_text(model), settings_text(settings)
        cid = secrets.token_hex(16)
        self._write(_Op("create_conversation", (owner, title, model, copy.deepcopy(settings)), {"cid": cid}), cid)
        return cid

    def rename(self, owner: str, cid: str, title: str) -> bool:
        title_text(title)
        return self._write(_Op("rename", (owner, cid, title)), True)

    def update_settings(self, owner: str, cid: str, model: str, settings: dict) -> bool:
        model_text(model), settings_text(settings)
        return self._write(_Op("update_settings", (owner, cid, model, copy.deepcopy(settings))), True)

    def delete(self, owner: str, cid: str) -> bool:
        return self._write(_Op("delete", (owner, cid)), True)

    def save_message(self, owner: str, cid: str, message: dict) -> None:
        owner_key(owner)
        encode_message(message)  # a malformed message fails now, not at replay
        self._write(_Op("save_message", (owner, cid, copy.deepcopy(message))), None)

    # Share links are never queued: a link made or revoked "later" would say the wrong thing now.
    def share(self, owner: str, cid: str) -> str | None:
        return self._read("share", None, owner, cid)

    def shared(self, token: object) -> dict | None:
        return self._read("shared", None, token)

    def shares(self, owner: str) -> list[dict]:
        return self._read("shares", [], owner)

    def revoke(self, owner: str, token: object) -> bool:
        return self._read("revoke", False, owner, token)

    def folders(self, owner: str) -> list[dict]:
        return self._read("folders", [], owner)

    def create_folder(self, owner: str, name: str) -> str | None:
        fid = secrets.token_hex(16)  # chosen here, so a queued create and the moves after it agree
        return self._write(_Op("create_folder", (owner, name), {"fid": fid}), fid)

    def rename_folder(self, owner: str, fid: str, name: str) -> bool:
        return self._write(_Op("rename_folder", (owner, fid, name)), True)

    def delete_folder(self, owner: str, fid: str) -> bool:
        return self._write(_Op("delete_folder", (owner, fid)), True)

    def move(self, owner: str, cid: str, fid: str | None) -> bool:
        return self._write(_Op("move", (owner, cid, fid)), True)

    def pin(self, owner: str, cid: str, pinned: bool) -> bool:
        return self._write(_Op("pin", (owner, cid, pinned)), True)

    def leave_branch_after(self, owner: str, cid: str, message_id: str | None) -> int:
        return self._write(_Op("leave_branch_after", (owner, cid, message_id)), 0)

    def show_branch(self, owner: str, cid: str, message_id: str) -> bool:
        return self._write(_Op("show_branch", (owner, cid, message_id)), True)

    # ---------------------------------------------------------------- reads

    def conversation(self, owner: str, cid: str) -> dict | None:
        return self._read("conversation", None, owner, cid)

    def list_conversations(self, owner: str, **kwargs: Any) -> list[dict]:
        return self._read("list_conversations", [], owner, **kwargs)

    def count_conversations(self, owner: str) -> int:
        return self._read("count_conversations", 0, owner)

    def messages(self, owner: str, cid: str, **kwargs: Any) -> list[dict]:
        return self._read("messages", [], owner, cid, **kwargs)

    def off_branch(self, owner: str, cid: str, **kwargs: Any) -> list[dict]:
        return self._read("off_branch", [], owner, cid, **kwargs)

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

    def reserve_request(
        self, visitor: str, model: str, limits: SpendLimits, *, now: datetime | None = None, lease: float = 60.0
    ) -> tuple[str | None, Refusal | None]:
        down = (None, UNAVAILABLE if limits.active else None)
        return self._read("reserve_request", down, visitor, model, limits, now=now, lease=lease)

    def heartbeat_request(self, request_id: str, *, now: datetime | None = None, lease: float = 60.0) -> bool:
        return self._unqueued("heartbeat_request", False, request_id, now=now, lease=lease)

    def finish_request(self, request_id: str, tokens: int, cost: float) -> bool:
        return self._unqueued("finish_request", False, request_id, tokens, cost)

    def begin_login_attempt(
        self,
        client: str,
        wait_seconds: Callable[[int, int], float],
        window: float,
        *,
        now: datetime | None = None,
        down_wait: float = 30.0,
    ) -> tuple[float, datetime | None]:
        """As Store's; while the database is away no attempt can be counted, so none is checked."""
        return self._unqueued("begin_login_attempt", (down_wait, None), client, wait_seconds, window, now=now)

    def forgive_login_attempt(self, client: str, at: datetime) -> None:
        self._unqueued("forgive_login_attempt", None, client, at)

    def spend_today(self, *, now: datetime | None = None) -> dict:
        empty = {"requests": 0, "tokens": 0, "cost": 0.0, "streams": 0, "visitors": []}
        return self._read("spend_today", empty, now=now)

    # ---------------------------------------------------------------- export / import: no silent fallback

    def _strict(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            store = self._ready(force=True)
            if store is None:
                raise StorageError("database unavailable")
            try:
                result = getattr(store, name)(*args, **kwargs)
            except StorageError:
                self._failed()
                raise
            self.healthy = True
            return result

    def export(self, owner: str, cid: str | None = None) -> dict:
        return self._strict("export", owner, cid)

    def held(self, owner: str, data: object, limits: ImportLimits) -> tuple[int, int]:
        return self._strict("held", owner, data, limits)

    def import_export(self, owner: str, data: object, limits: ImportLimits, *, skip_held: bool = False) -> int:
        return self._strict("import_export", owner, data, limits, skip_held=skip_held)
