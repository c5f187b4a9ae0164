"""One request's row in the host's spending counters: kept alive while it streams, closed with its usage."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

HEARTBEAT = 20.0  # seconds between lease renewals; the lease itself lasts 60 s (store.Store.reserve_request)


class Ticket:
    """Returned by a successful reservation; `finish` must be called once, however the reply ends."""

    def __init__(self, store, request_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._store, self.request_id, self._clock = store, request_id, clock
        self._last = clock()
        self._done = False
        self._lock = threading.Lock()  # a detached reply finishes on another thread

    def beat(self) -> None:
        """Renew the lease now and then, so a long reply keeps counting as a running stream."""
        if not self._done and self._clock() - self._last >= HEARTBEAT:
            self._last = self._clock()
            self._store.heartbeat_request(self.request_id)

    def finish(self, usage: dict | None, cost: float | None) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        usage = usage or {}
        tokens = int(usage.get("total_tokens") or 0) or int(usage.get("prompt_tokens") or 0) + int(
            usage.get("completion_tokens") or 0
        )
        self._store.finish_request(self.request_id, tokens, float(cost or 0.0))
