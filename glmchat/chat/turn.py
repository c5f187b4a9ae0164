"""One reply's whole life in one object, with no Streamlit in it.

A Turn reserves the request against the host's limits (and renews that lease while it streams), sends
it (from the chat input's callback, or from the page), reads the stream into its assistant message,
saves the message as it grows, finishes it (status, usage, cost, the session's totals), and writes the
request's one log line. The view only draws what `events()` yields, and tells the Turn how the page's
run ended: `stop()` for the Stop button, `detach()` for a page that went away or a newer run of it (which
may `reattach()` and draw the rest), then `close()`.

    turn = Turn(model, reserve=..., log_prompt=None)
    if (refusal := turn.reserve()) is None:
        turn.send(endpoint, request)
    turn.adopt(message, save=..., totals=...)
    for event in turn.events():       # Grew, Quiet, Retrying
        draw(event)
    turn.close()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from glmchat.chat import conversation as conv
from glmchat.chat import sources as web
from glmchat.chat.catalogue import Model
from glmchat.chat.conversation import DONE, ERROR, INCOMPLETE, STOPPED, STREAMING, Totals
from glmchat.chat.errors import ChatError, for_finish_reason
from glmchat.chat.records import Error, Message
from glmchat.chat.saving import ReplySaver
from glmchat.hosting import requestlog
from glmchat.hosting.quota import Ticket

if TYPE_CHECKING:
    from glmchat.chat.client import ChatRequest, Endpoint, Finished, ReplyStream, Retrying
    from glmchat.hosting.limits import Refusal

log = logging.getLogger("glmchat.chat")

FLUSH_EVERY = 0.05  # batch screen updates: the first token at once, then at most every 50 ms
QUIET_EVERY = 0.5  # while upstream is silent, give the page a chance to act (a Stop takes effect there)

Reserve = Callable[[], "tuple[Ticket | None, Refusal | None]"]


@dataclass(frozen=True)
class Grew:
    """The message has new text to draw. `first`: its first, so the rest of the page may follow now."""

    first: bool


@dataclass(frozen=True)
class Quiet:
    """Nothing was drawn for QUIET_EVERY seconds; `waiting`: nothing has arrived at all yet."""

    seconds: float  # since the request was sent
    waiting: bool


@dataclass
class _Record:
    """What the request log line needs, gathered before the page may go away."""

    model: str
    prompt: str | None  # only when the host turned GLMCHAT_LOG_CONTENT on
    request_id: str = field(default_factory=requestlog.new_request_id)
    began: float = field(default_factory=time.monotonic)


@dataclass
class _Outcome:
    finished: Finished | None = None
    failure: ChatError | None = None


_LOG_STATUS = {DONE: "ok", STOPPED: "stopped"}


def prompt_text(content: object) -> str:
    """A user message's text for the log: a vision message's text parts."""
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def limit_error(refusal: Refusal, own_key: bool) -> Error:
    """A reached spending limit as the message's error: which one, when it frees up, whether an own key would do."""
    return {
        "kind": "limit",
        "limit": refusal.kind,
        "scope": refusal.scope,
        "retry_after": refusal.retry_after,
        "own_key": own_key,
    }


def _nowhere(message: dict) -> None:
    """Where a reply goes without saved history."""


class Turn:
    """One request and its reply, from reservation to the log line; see the module docstring."""

    def __init__(self, model: Model, *, reserve: Reserve | None = None, log_prompt: str | None = None) -> None:
        self.model = model
        self.ticket: Ticket | None = None
        self.reply: ReplyStream | None = None
        self.message: Message | None = None
        self._reserve = reserve
        self._record = _Record(model.id, log_prompt)
        self._saver = ReplySaver(_nowhere)
        self._totals: Totals | None = None
        self._outcome = _Outcome()
        # Who reads the reply: a page run ("page"), the detached thread ("thread"), nobody between a
        # thread's hand-back and the next page's events() ("free"), or nobody ever again ("ended").
        self._reader = "page"
        self._want_back = False
        self._handover = threading.Condition()
        self._owner: int | None = None  # the thread of the run that reattached (each Streamlit run has its own)

    # -- before the reply ---------------------------------------------------------------------------------

    def reserve(self) -> Refusal | None:
        """Count the request against the host's limits (only the host's key is limited); a refusal stops it."""
        if self._reserve is None:
            return None
        self.ticket, refusal = self._reserve()
        if self.ticket:
            self._record.request_id = self.ticket.request_id
        return refusal

    def send(self, endpoint: Endpoint, request: ChatRequest) -> Turn:
        """Start the request: the reader thread reads it while the caller goes on."""
        from glmchat.chat.client import ReplyStream  # the SDK loads with the first request, not the first page

        self.reply = ReplyStream(endpoint, request).start()
        return self

    @property
    def sent(self) -> bool:
        return self.reply is not None

    def abandon(self) -> None:
        """A request sent early that no page took: close it and free its lease (no message, no log line)."""
        if self.reply is not None:
            self.reply.close()
        if self.ticket:
            self.ticket.finish(None, 0.0)

    def adopt(
        self, message: Message, *, save: Callable[[Message], None] | None = None, totals: Totals | None = None
    ) -> None:
        """The assistant message this reply fills, where it is saved, and the session totals it adds to."""
        self.message, self._saver, self._totals = message, ReplySaver(save or _nowhere), totals

    def refuse(self, error: Error) -> None:
        """Nothing is sent: the message says why, and the request ends as "refused"."""
        self.message["error"] = error
        self.message["status"] = ERROR
        self._saver.save(self.message)
        self._end(refused=True)

    # -- the reply ----------------------------------------------------------------------------------------

    def events(self, flush: float = FLUSH_EVERY, quiet: float = QUIET_EVERY) -> Iterator[Grew | Quiet | Retrying]:
        """Read the reply into the message, yielding what the page should draw; it is finished at the end.

        New text is yielded at once the first time, then at most every `flush` seconds (no per-token
        work); the message is saved at most every 0.5 s and the lease renewed meanwhile.
        """
        msg, reply = self.message, self.reply
        self._saver.save(msg)  # after the request is on its way: saving must not delay the first token
        drawn = ("", "")
        last_draw = last_touch = time.monotonic()
        while not reply.done and msg["status"] == STREAMING:  # stop() may come from another thread
            for ev in reply.poll(flush):
                if (retrying := self._apply(ev)) is not None:
                    last_touch = time.monotonic()
                    yield retrying
            now = time.monotonic()
            grown = (msg["reasoning"], msg["content"])
            if grown != drawn and (drawn == ("", "") or now - last_draw >= flush or reply.done):
                first = drawn == ("", "")
                drawn, last_draw, last_touch = grown, now, now
                yield Grew(first)
            elif now - last_touch >= quiet:
                last_touch = now
                yield Quiet(now - reply.started_at, waiting=grown == ("", ""))
            self._saver.maybe_save(msg)
            if self.ticket:
                self.ticket.beat()
        if msg["status"] == STREAMING:
            self._finish(self._totals)

    def _apply(self, ev) -> Retrying | None:
        """Fold one stream event into the message; a Retrying event is handed back for display."""
        from glmchat.chat.client import Delta, Failed, Finished, Retrying, Sources

        msg = self.message
        if msg["status"] == STOPPED:
            return None  # the page already shows it stopped: what arrives after that is not kept
        if isinstance(ev, Delta):
            msg["reasoning"] += ev.reasoning
            msg["content"] += ev.content
        elif isinstance(ev, Sources):
            msg["sources"] = web.to_record(web.parse(ev.results))  # each event holds them all
        elif isinstance(ev, Finished):
            self._outcome.finished = ev
        elif isinstance(ev, Failed):
            self._outcome.failure = ev.error
        elif isinstance(ev, Retrying):
            return ev
        return None

    def _finish(self, totals: Totals | None) -> None:
        """Set the message's final status, error and usage from how the stream ended."""
        msg, reply = self.message, self.reply
        finished, failure = self._outcome.finished, self._outcome.failure
        meta = msg["meta"]
        meta["attempts"] = reply.attempts
        if reply.first_token_at is not None and reply.started_at is not None:
            meta["ttft"] = reply.first_token_at - reply.started_at
        if finished is not None:
            msg["finish_reason"] = finished.finish_reason
            meta["usage"] = finished.usage
            if finished.usage:
                meta["cost"] = self.model.cost(
                    int(finished.usage.get("prompt_tokens") or 0),
                    int(finished.usage.get("completion_tokens") or 0),
                    conv.cached_tokens(finished.usage),  # charged at the cached price (glm-api.md §13)
                )
                meta["tps"] = conv.tokens_per_second(
                    finished.usage.get("completion_tokens"), reply.first_token_at, reply.finished_at
                )
            failure = failure or for_finish_reason(finished.finish_reason)
            if finished.finish_reason == "sensitive":
                msg["content"] = msg["reasoning"] = ""  # the API asks for the displayed text to be withdrawn
        if failure is not None:
            msg["error"] = conv.error_record(failure)
            msg["status"] = INCOMPLETE if msg["content"] else ERROR
        elif finished is not None and finished.finish_reason == "length":
            msg["status"] = INCOMPLETE
        else:
            msg["status"] = DONE
        if totals is not None:
            totals.add(meta["usage"], meta["cost"])

    # -- how the page's run ended -------------------------------------------------------------------------

    def stop(self) -> None:
        """The Stop button (or a rerun) ended the run: what arrived is kept, marked as stopped.

        Safe from another thread (the Stop button's callback runs in the next run, which Streamlit starts
        before this one has ended): the text stays as it is from here on, and the reading stops.
        """
        if self.message is not None and self.message["status"] == STREAMING:
            self.message["status"] = STOPPED
            self.message["meta"]["attempts"] = self.reply.attempts if self.reply else 0
            if self.reply is not None:
                self.reply.cancel()

    def detach(self) -> None:
        """The page's run ended without a Stop (a reload, a closed tab, a newer run of the page): the reply
        goes on being read and saved without it, until it ends or a newer run reattaches. A close() from the
        run that detached it does nothing: once a newer run has reattached, close() is that run's."""
        with self._handover:
            self._reader = "thread"  # a newer run that asked already (_want_back) gets it at once
        threading.Thread(target=self._read_detached, name="glm-reply-detached", daemon=True).start()

    def _read_detached(self) -> None:
        msg = self.message
        try:
            while not self.reply.done and msg["status"] == STREAMING:
                with self._handover:
                    if self._want_back:
                        self._reader = "free"
                        self._handover.notify_all()
                        return  # a newer run of the page reads the rest
                for ev in self.reply.poll(FLUSH_EVERY):  # short: a page asking for it back waits on this
                    self._apply(ev)
                self._saver.maybe_save(msg)
                if self.ticket:
                    self.ticket.beat()
            if msg["status"] == STREAMING:  # not stopped meanwhile
                self._finish(self._totals)
        except Exception as exc:  # noqa: BLE001 - a detached reader must end with the reply saved
            log.warning("detached reply failed: %s", type(exc).__name__)
            msg["status"] = INCOMPLETE
        self._close()

    def reattach(self, timeout: float = 3.0) -> bool:
        """A newer run of the page takes the reading back, to draw the rest as it comes.

        True once it may call events() again; False when the reply ended meanwhile (or the run that was
        reading it did not let go within `timeout`), and the saved message is what there is to draw.
        """
        with self._handover:
            self._want_back = True
            free = self._handover.wait_for(lambda: self._reader in ("free", "ended"), timeout)
            self._want_back = False
            if free and self._reader == "free":
                self._reader, self._owner = "page", threading.get_ident()
                return True
            return False

    @property
    def streaming(self) -> bool:
        """Whether the reply is still being written (by a page or the detached reader)."""
        return self.message is not None and self.message["status"] == STREAMING and self._reader != "ended"

    @property
    def ended(self) -> bool:
        return self._reader == "ended"

    def wait_ended(self, timeout: float) -> bool:
        """Wait until the Turn has ended: its message saved (the log line is written right after)."""
        with self._handover:
            return self._handover.wait_for(lambda: self._reader == "ended", timeout)

    def close(self) -> None:
        """However the run ended: the request closed, the message saved, the lease and log line written, once.
        A detached Turn closes itself when its reply ends (or leaves that to the run that reattaches)."""
        if self._reader == "page" and self._owner in (None, threading.get_ident()):
            self._close()

    def _close(self) -> None:
        if self.reply is not None:
            self.reply.close()
        self._saver.save(self.message)
        self._end()

    def _end(self, refused: bool = False) -> None:
        """Close the spend row and write the request's one log line."""
        with self._handover:
            if self._reader == "ended":
                return
            self._reader = "ended"
        try:
            self._write_end(refused)
        finally:
            with self._handover:
                self._handover.notify_all()

    def _write_end(self, refused: bool) -> None:
        msg, reply, record = self.message, self.reply, self._record
        meta, error = msg["meta"], msg.get("error") or {}
        usage = meta.get("usage") or {}
        if self.ticket:
            self.ticket.finish(usage, meta.get("cost"))
        ttft = meta.get("ttft")
        began = reply.started_at if reply and reply.started_at else record.began
        requestlog.log_request(
            requestlog.RequestRecord(
                request_id=record.request_id,
                model=record.model,
                status="refused" if refused else _LOG_STATUS.get(msg["status"], "error"),
                code=error.get("code") or error.get("limit") or error.get("kind"),
                http_status=error.get("status"),
                attempts=reply.attempts if reply else 0,
                latency_ms=None if ttft is None else round(ttft * 1000),
                duration_ms=round((time.monotonic() - began) * 1000),
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens"),
                prompt=record.prompt,
                reply=msg["content"] if record.prompt is not None else None,
            ),
            include_text=record.prompt is not None,
        )
