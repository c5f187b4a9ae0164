"""Drawing that waits until a reply's first token is on screen.

The browser applies a rerun's elements in the order they are sent: here ~150 of them (the message
window, the sidebar) take it 100–250 ms, so a first token sent after them waits that long. A container
sent again at the same place keeps its old children on screen until they are replaced, so the run that
carries a reply sends the containers, then the reply, then what goes in them: the page looks the same,
and the first token does not wait for the history.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from glmchat.ui import streamlit_internals as internals

_local = threading.local()


def _queue() -> list[Callable[[], None]]:
    if not hasattr(_local, "queue"):
        _local.queue = []
    return _local.queue


def reset() -> None:
    """Forget what an interrupted run left (called when a run starts)."""
    _queue().clear()


def add(draw: Callable[[], None], first: bool = False) -> None:
    """Queue `draw`; it will run as part of the script (app.py) or page that queued it.

    A widget's id includes the script it is drawn by, so the sidebar drawn while the chat page runs
    would otherwise be new widgets with their default values.
    """
    item = internals.bound_to_this_script(draw)
    _queue().insert(0, item) if first else _queue().append(item)


def run() -> None:
    """Draw everything that was waiting, in order."""
    queue = _queue()
    while queue:
        queue.pop(0)()


def run_after_stop() -> None:
    """Draw what was waiting after the Stop button ended the run, before the browser clears the page.

    A finished run removes every element it did not send, and after a Stop the script thread can send
    none, so the waiting parts are drawn from a helper thread that carries the run's context.
    """
    queue = list(_queue())
    reset()
    if not queue:
        return

    def draw() -> None:
        for item in queue:
            item()

    internals.run_in_thread_of_this_run(draw)
