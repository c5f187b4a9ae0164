"""Saving a conversation while it happens: the user's message first, the reply as it streams."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from glmchat.chat.conversation import STREAMING

SAVE_EVERY = 0.5  # a streaming reply is written at most this often, never per token
HEARTBEAT = 5.0  # …and at least this often while it streams, so readers can tell it is alive
STALE_AFTER = timedelta(seconds=15)  # a "streaming" reply not written for this long was interrupted
TITLE_CHARS = 40


def title_for(text: str) -> str:
    """A conversation title from its first message: the first non-empty line, clipped."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def is_interrupted(message: dict, updated_at: datetime | None, now: datetime | None = None) -> bool:
    """A saved reply still marked streaming whose writer has gone silent (server killed, tab closed)."""
    if message.get("status") != STREAMING or updated_at is None:
        return False
    return (now or datetime.now(UTC)) - updated_at > STALE_AFTER


class ReplySaver:
    """Writes one streaming reply: throttled while it grows, always at the end."""

    def __init__(self, save: Callable[[dict], None], clock: Callable[[], float] = time.monotonic) -> None:
        self._save = save
        self._clock = clock
        self._last: float | None = None
        self._saved: tuple | None = None

    def maybe_save(self, message: dict) -> bool:
        now = self._clock()
        changed = self._saved != _fingerprint(message)
        due = self._last is None or (changed and now - self._last >= SAVE_EVERY) or now - self._last >= HEARTBEAT
        if due:
            self.save(message)
        return due

    def save(self, message: dict) -> None:
        self._save(message)
        self._last = self._clock()
        self._saved = _fingerprint(message)


def _fingerprint(message: dict) -> tuple:
    return (len(message.get("content", "")), len(message.get("reasoning", "")), message.get("status"))
