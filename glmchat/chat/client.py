"""The GLM client wrapper: one streamed reply through the zhipuai SDK, read in a background thread.

The script thread polls `ReplyStream.poll()` so it can draw batched updates and notice a Stop
even while upstream is silent; the reader thread never touches Streamlit.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import queue
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import certifi
import httpx
import zhipuai

from glmchat.chat import errors
from glmchat.chat.errors import ChatError, Kind

log = logging.getLogger("glmchat.client")

# A chat page must answer within ~30 s: connect fast, and give up on a silent server after 25 s.
TIMEOUT = httpx.Timeout(25.0, connect=5.0)
# Our own retries (the SDK's are off): they skip pointless cases such as 1113 and are shown to the user.
MAX_ATTEMPTS = 3
BACKOFF = (1.0, 2.0)


@functools.cache  # CA certificates only: no key, no user data
def _tls() -> ssl.SSLContext:
    """One TLS context for the process: building it loads the CA bundle (~35 ms per reply otherwise)."""
    return ssl.create_default_context(cafile=certifi.where())


OFFLINE_KEY = "offline-demo"  # the in-process simulator accepts any non-blank key
OFFLINE_BASE_URL = "http://glm-simulator.invalid/api/paas/v4"


@dataclass(frozen=True)
class Endpoint:
    """How to reach the API: a key, an optional base URL, or the in-process simulator."""

    api_key: str = field(repr=False)
    base_url: str | None = None
    transport: httpx.BaseTransport | None = field(default=None, repr=False)
    timeout: httpx.Timeout = field(default_factory=lambda: TIMEOUT)

    @classmethod
    def offline(cls) -> Endpoint:
        from glmsim.simulator import Simulator  # only the demo needs it

        # Streams at a believable pace so the demo shows what streaming looks like.
        return cls(OFFLINE_KEY, OFFLINE_BASE_URL, Simulator(ttft=0.25, token_delay=0.02).transport())

    def client(self) -> tuple[zhipuai.ZhipuAI, httpx.Client]:
        http = httpx.Client(timeout=self.timeout, transport=self.transport, verify=_tls())
        sdk = zhipuai.ZhipuAI(
            api_key=self.api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout, http_client=http
        )
        return sdk, http


# The built-in web search tool as sent (glm-api.md §7); result_sequence is left to the API default ("after").
WEB_SEARCH_TOOL = {"enable": True, "search_engine": "search_std", "search_result": True, "count": 5}
MAX_SOURCES = 50  # the API's own maximum count; anything beyond is dropped


@dataclass
class ChatRequest:
    model: str
    messages: list[dict]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    thinking: bool | None = None  # None: the model takes no thinking parameter
    reasoning_effort: str | None = None  # GLM-5.2 (glm-api.md §12 note 1), through extra_body
    web_search: bool = False  # GLM's built-in web search tool; results arrive as a Sources event

    def sdk_kwargs(self) -> dict:
        # temperature and top_p go through extra_body: the SDK clamps 0 and 1 in its arguments.
        extra: dict = {}
        if self.temperature is not None:
            extra["temperature"] = self.temperature
            if self.temperature == 0:
                extra["do_sample"] = False  # 0 means greedy decoding
        if self.top_p is not None:
            extra["top_p"] = self.top_p
        if self.reasoning_effort is not None:
            extra["reasoning_effort"] = self.reasoning_effort
        kwargs: dict = {
            "model": self.model,
            # The SDK rewrites image data URIs inside the caller's dicts: give it a copy.
            "messages": copy.deepcopy(self.messages),
            "stream": True,
            "request_id": uuid.uuid4().hex,
        }
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        if self.thinking is not None:
            kwargs["thinking"] = {"type": "enabled" if self.thinking else "disabled"}
        if self.web_search:
            kwargs["tools"] = [{"type": "web_search", "web_search": dict(WEB_SEARCH_TOOL)}]
        if extra:
            kwargs["extra_body"] = extra
        return kwargs


# Events the reader thread hands to the script thread.
@dataclass
class Retrying:
    attempt: int
    wait: float
    error: ChatError


@dataclass
class Delta:
    reasoning: str = ""
    content: str = ""


@dataclass
class Finished:
    finish_reason: str | None
    usage: dict | None


@dataclass
class Failed:
    error: ChatError


@dataclass
class Sources:
    """Web search results as the API sent them (raw dicts, unvalidated: see glmchat.chat.sources.parse).

    Each Sources event carries every result received so far: replace, do not append.
    """

    results: list[dict]


Event = Retrying | Delta | Finished | Failed | Sources


class ThinkSplitter:
    """Routes a leading `<think>…</think>` in content (GLM-Z1, GLM-4.5V) to reasoning, across chunk borders."""

    OPEN, CLOSE = "<think>", "</think>"
    DROP = ("<|begin_of_box|>", "<|end_of_box|>")  # GLM-4.5V answer-box markers

    def __init__(self) -> None:
        self._buf = ""
        self._mode = "start"  # start → thinking → answer, or start → answer
        self._trim = False  # drop the newlines that follow </think>, even when they come in a later chunk

    def feed(self, text: str, final: bool = False) -> Delta:
        self._buf += text
        out = Delta()
        if self._mode == "start":
            head = self._buf.lstrip()
            if head.startswith(self.OPEN):
                self._buf = head[len(self.OPEN) :]
                self._mode = "thinking"
            elif self.OPEN.startswith(head) and not final:
                return out  # too little to tell yet
            else:
                self._mode = "answer"
        if self._mode == "thinking":
            i = self._buf.find(self.CLOSE)
            if i < 0:
                keep = 0 if final else _partial_suffix(self._buf, (self.CLOSE,))
                out.reasoning, self._buf = self._buf[: len(self._buf) - keep], self._buf[len(self._buf) - keep :]
                return out
            out.reasoning, self._buf = self._buf[:i], self._buf[i + len(self.CLOSE) :]
            self._mode, self._trim = "answer", True
        if self._trim:
            self._buf = self._buf.lstrip("\n")
            self._trim = not self._buf
        keep = 0 if final else _partial_suffix(self._buf, self.DROP)
        out.content, self._buf = self._buf[: len(self._buf) - keep], self._buf[len(self._buf) - keep :]
        for marker in self.DROP:
            out.content = out.content.replace(marker, "")
        return out


def _partial_suffix(buf: str, tags: tuple[str, ...]) -> int:
    """Length of the longest suffix of buf that could be the start of one of tags."""
    for n in range(min(len(buf), max(map(len, tags)) - 1), 0, -1):
        if any(t.startswith(buf[-n:]) for t in tags):
            return n
    return 0


def _field(obj: object, name: str) -> object:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _search_items(value: object) -> list[dict]:
    """The dict items of a chunk's top-level web_search field (the SDK keeps unknown fields as plain data)."""
    if not isinstance(value, (list, tuple)):
        return []
    items = []
    for item in value:
        if not isinstance(item, dict):
            dump = getattr(item, "model_dump", None)
            item = dump() if dump else None
        if isinstance(item, dict):
            items.append(item)
    return items


def _usage_dict(usage: object) -> dict | None:
    if usage is None:
        return None
    if isinstance(usage, dict):
        return usage
    dump = getattr(usage, "model_dump", None)
    return dump() if dump else None


def _abort(response: httpx.Response | None) -> None:
    """Close an open response from another thread, waking a reader blocked in recv()."""
    if response is None:
        return
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)  # close() alone would not wake a blocked recv()
        except OSError:
            pass
    try:
        response.close()
    except Exception:  # noqa: BLE001 - closing a half-read response may complain; it is closed either way
        pass


class ReplyStream:
    """One streamed completion, with retries, read by a daemon thread into a queue."""

    _END = object()

    def __init__(
        self,
        endpoint: Endpoint,
        request: ChatRequest,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        backoff: tuple[float, ...] = BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._endpoint = endpoint
        self._request = request
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._clock = clock
        self._queue: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._response: httpx.Response | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="glm-reply", daemon=True)
        self.attempts = 0
        self.started_at: float | None = None
        self.first_token_at: float | None = None
        self.finished_at: float | None = None
        self.done = False

    # --- script-thread side ---
    def start(self) -> ReplyStream:
        self.started_at = self._clock()
        self._thread.start()
        return self

    def poll(self, timeout: float) -> list[Event]:
        """Events that arrived, waiting up to `timeout` for the first; [] when none."""
        out: list[Event] = []
        try:
            item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            while True:
                if item is self._END:
                    self.done = True
                    break
                out.append(item)
                item = self._queue.get_nowait()
        except queue.Empty:
            pass
        return out

    def cancel(self) -> None:
        """Stop reading and close the upstream connection, without waiting for the reader (any thread)."""
        self._cancel.set()
        with self._lock:
            response = self._response
        _abort(response)

    def close(self) -> None:
        """Stop reading and close the upstream connection (idempotent)."""
        self.cancel()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)

    def __enter__(self) -> ReplyStream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reader-thread side ---
    def _put(self, event: Event) -> None:
        self._queue.put(event)

    def _run(self) -> None:
        sdk, http = self._endpoint.client()
        try:
            self._attempts(sdk)
        except Exception as exc:  # noqa: BLE001 - the reader thread must never die silently
            if not self._cancel.is_set():
                log.warning("reply failed: %s", type(exc).__name__)
                self._put(Failed(errors.classify(exc)))
        finally:
            http.close()
            self.finished_at = self._clock()
            self._queue.put(self._END)

    def _attempts(self, sdk: zhipuai.ZhipuAI) -> None:
        for attempt in range(1, self._max_attempts + 1):
            if self._cancel.is_set():
                return
            self.attempts = attempt
            try:
                stream = sdk.chat.completions.create(**self._request.sdk_kwargs())
            except Exception as exc:  # noqa: BLE001 - classified below, never shown raw
                err = errors.classify(exc)
                log.info("attempt %d failed: kind=%s status=%s code=%s", attempt, err.kind.value, err.status, err.code)
                if err.retryable and attempt < self._max_attempts:
                    wait = self._backoff[min(attempt - 1, len(self._backoff) - 1)]
                    self._put(Retrying(attempt, wait, err))
                    if self._cancel.wait(wait):
                        return
                    continue
                self._put(Failed(err))
                return
            self._read(stream)
            return

    def _read(self, stream: object) -> None:
        response: httpx.Response = stream.response  # type: ignore[attr-defined]
        with self._lock:
            self._response = response
        if self._cancel.is_set():
            _abort(response)
            return
        try:
            if "text/event-stream" not in response.headers.get("content-type", ""):
                self._put(Failed(self._non_stream_error(response)))
                return
            self._read_chunks(stream)
        except Exception as exc:  # noqa: BLE001 - SDK, httpx and json errors escape iteration raw
            if not self._cancel.is_set():
                err = errors.classify(exc)
                log.info("stream failed: kind=%s code=%s", err.kind.value, err.code)
                self._put(Failed(err))
        finally:
            response.close()

    def _non_stream_error(self, response: httpx.Response) -> ChatError:
        # A 200 whose body is an error object (or anything but SSE) instead of a stream.
        try:
            body = json.loads(response.read())
        except (ValueError, httpx.HTTPError):
            return ChatError(Kind.MALFORMED, response.status_code)
        return errors.from_body(body, response.status_code)

    def _read_chunks(self, stream: object) -> None:
        splitter = ThinkSplitter()
        finish_reason: str | None = None
        usage: dict | None = None
        sources: list[dict] = []
        for chunk in stream:  # type: ignore[attr-defined]
            if self._cancel.is_set():
                return
            if isinstance(chunk, str):  # the SDK yields raw text for a non-JSON payload
                raise json.JSONDecodeError("chunk is not JSON", chunk, 0)
            usage = _usage_dict(_field(chunk, "usage")) or usage
            # Search results come on the first or the last chunk (result_sequence): look at every one.
            fresh = [item for item in _search_items(_field(chunk, "web_search"))[:MAX_SOURCES] if item not in sources]
            fresh = fresh[: MAX_SOURCES - len(sources)]
            if fresh:
                sources += fresh
                self._put(Sources(list(sources)))
            for choice in _field(chunk, "choices") or ():
                delta = _field(choice, "delta")
                reasoning = _field(delta, "reasoning_content") or ""
                split = splitter.feed(_field(delta, "content") or "")
                event = Delta(reasoning=str(reasoning) + split.reasoning, content=split.content)
                if event.reasoning or event.content:
                    if self.first_token_at is None:
                        self.first_token_at = self._clock()
                    self._put(event)
                finish_reason = _field(choice, "finish_reason") or finish_reason
        tail = splitter.feed("", final=True)
        if tail.reasoning or tail.content:
            self._put(tail)
        self._put(Finished(finish_reason, usage))
