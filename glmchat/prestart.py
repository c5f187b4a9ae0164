"""A reply's request sent from the chat input's callback, so the model starts while the page reruns.

The callback and the rerun that follows run on the same script thread, one after the other; the started
stream waits here, in a thread-local slot, for that rerun's `take`. It never outlives the run: app.py
calls `discard` when the page is done, so a stream nobody took is closed and its spend row ended.
"""
from __future__ import annotations

import threading

_slot = threading.local()


def put(message_id: str, reply, ticket) -> None:
    """Hand over a started reply (and its spend ticket) for the user message message_id."""
    discard()
    _slot.value = (message_id, reply, ticket)


def take(message_id: str):
    """(reply, ticket) started for message_id, or None; anything else waiting is discarded."""
    value = getattr(_slot, "value", None)
    _slot.value = None
    if value is None:
        return None
    if value[0] != message_id:
        _close(value)
        return None
    return value[1], value[2]


def discard() -> None:
    value = getattr(_slot, "value", None)
    _slot.value = None
    if value is not None:
        _close(value)


def _close(value) -> None:
    _, reply, ticket = value
    reply.close()
    if ticket:
        ticket.finish(None, 0.0)
