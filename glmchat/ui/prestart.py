"""A reply's request sent from the chat input's callback, so the model starts while the page reruns.

The callback and the rerun that follows run on the same script thread, one after the other; the started
Turn waits here, in a thread-local slot, for that rerun's `take`. It never outlives the run: app.py
calls `discard` when the page is done, so a request nobody took is closed and its lease freed.
"""

from __future__ import annotations

import threading

from glmchat.chat.turn import Turn

_slot = threading.local()


def put(message_id: str, turn: Turn) -> None:
    """Hand over a sent Turn for the user message message_id."""
    discard()
    _slot.value = (message_id, turn)


def take(message_id: str) -> Turn | None:
    """The Turn sent for message_id, or None; anything else waiting is abandoned."""
    value = getattr(_slot, "value", None)
    _slot.value = None
    if value is None:
        return None
    if value[0] != message_id:
        value[1].abandon()
        return None
    return value[1]


def discard() -> None:
    value = getattr(_slot, "value", None)
    _slot.value = None
    if value is not None:
        value[1].abandon()
