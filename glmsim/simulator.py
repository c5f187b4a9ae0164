"""A faithful local stand-in for the ZhipuAI GLM v4 chat-completions API.

It follows the wire contract in ``shared/glm-api.md`` (status codes, string business codes, SSE framing,
usage only on the last chunk, ``data: [DONE]``) so that the real ``zhipuai`` SDK can talk to it in two ways:

* in-process: ``httpx.Client(transport=Simulator().transport())`` passed as the SDK's ``http_client``;
* over loopback HTTP: ``Simulator().serve()`` or ``python -m glmsim.simulator --port 8765``.

Routes: ``POST <any prefix>/chat/completions``; the files API under any prefix (glm-api.md §18, see
``glmsim.files``): ``POST /files``, ``GET /files?purpose=&limit=&after=&order=``, ``GET /files/{id}``,
``GET /files/{id}/content``, ``DELETE /files/{id}``; ``GET /stats``, ``POST /reset``, ``GET /health``;
anything else is a 404 with a JSON error body.

Scenario triggers are written anywhere in the LAST user message (text parts of a content array are joined):

=======================  ==================================================================================
trigger                  behaviour
=======================  ==================================================================================
``sim:401``              401, code "1002" (invalid token)
``sim:balance``          429, code "1113" (account in arrears)
``sim:account``          429, code "1112" (account locked)
``sim:busy``             429, code "1305" (overloaded) on every attempt
``sim:busy-once``        429, code "1302" on the first attempt for that exact message text, then normal
``sim:policy``           400, code "1301" (unsafe content)
``sim:badparam``         400, code "1214"
``sim:toolong``          400, code "1261" (prompt too long)
``sim:unknown-model``    400, code "1211"
``sim:500``              500, ``{"error":{"code":"500","message":"Internal Error"}}`` on every attempt
``sim:500-once``         500 on the first attempt for that message text, then normal
``sim:502``              502 with an HTML gateway page (text/html)
``sim:hang``             no response headers: until the read timeout in-process (then ``httpx.ReadTimeout``);
                         the server sleeps (at most 120 s) and then closes the connection
``sim:stall``            5 content chunks, then silence (read timeout in-process; bounded sleep on the server);
                         a non-stream request gets half its JSON body, then silence
``sim:cut``              5 content chunks, then the connection drops (``httpx.RemoteProtocolError``);
                         a non-stream request gets half its JSON body, then the drop
``sim:nodone``           stream only: all content, then a clean end without finish_reason, usage or [DONE]
``sim:streamerror``      stream only: 5 content chunks, then ``data: {"error":{"code":"1301",...}}``, then end
``sim:malformed``        stream only: 5 content chunks, then ``data: {not json``, then end
``sim:error200``         HTTP 200 with a JSON ``{"error":{"code":"1214",...}}`` body (stream and non-stream)
``sim:sensitive``        about half the reply, then finish_reason "sensitive" (+usage)
``sim:length``           about half the reply, then finish_reason "length" (+usage)
``sim:network_error``    about half the reply, then finish_reason "network_error" (+usage)
``sim:context_exceeded`` about half the reply, then finish_reason "model_context_window_exceeded" (+usage)
``sim:finish=NAME``      about half the reply, then finish_reason NAME ([a-z_]{1,40}: known to the API or not)
``sim:tool_calls``       no content: one function call (glm-api.md §14's shape), finish_reason "tool_calls"
``sim:nousage``          a normal reply whose final chunk (or body) carries no usage
``sim:box``              the answer inside GLM-4.5V's ``<|begin_of_box|>…<|end_of_box|>``, markers split over chunks
``sim:reasoning_tokens``  usage.completion_tokens_details.reasoning_tokens = the reasoning pieces sent
``sim:cached=N``         a cache hit: usage.prompt_tokens_details.cached_tokens = N (at most prompt_tokens)
``sim:html``             hostile Markdown/HTML (script, onerror, javascript:/data: links, remote image,
                         raw anchor, a fenced ``<b>kept</b>``, a lone ``$5``) for testing sanitising
``sim:think``            reasoning_content deltas even for models that do not think
``sim:z1``               reasoning inside content as ``<think>...</think>`` (the GLM-Z1 style)
``sim:echo``             a ```json fence with the request's model, stream, temperature, top_p, do_sample,
                         max_tokens, thinking and message roles
``sim:tokens=N``         exactly N content pieces ``tok0 tok1 ... tok{N-1}``, no reasoning
``sim:rate=R``           R pieces per second for this request (overrides token_delay)
``sim:ttft=S``           S seconds before the first chunk (overrides ttft)
``sim:slow``             60 pieces at 0.2 s each
``sim:sources-before``   with web search on: the results come on the first chunk, whatever ``result_sequence``
``sim:sources-hostile``  with web search on: 5 hostile results (``javascript:``, ``data:text/html``,
                         ``JaVaScRiPt:`` links, an ``<img onerror>`` title, one normal https result), all cited
``sim:say=B``            the reply is B decoded as base64url UTF-8 (padding optional), no reasoning: any chosen
                         text, e.g. a hostile payload; 400 "1214" when B does not decode
``sim:repeat=N``         with ``sim:say``: that text N times (1-1000), one chunk per copy, for very long replies
=======================  ==================================================================================

Request validation (before the triggers), in order: Authorization (401 "1001"/"1002"), JSON body (400 "1210"),
model present (400 "1213") and known (400 "1211"), messages and parameters, then content arrays against the
model's vision rules (``glmsim.vision``: arrays only for vision models and in user messages, image count, size,
pixels and format, URL-only models, ``file_url``) (all 400 "1214"), prompt size against
the model's context window (400 "1261"). Errors that happen before the body get their status on stream
requests too, as the real API does. ``max_tokens`` smaller than the reply truncates it with
finish_reason "length"; a ``stop`` word cuts the reply before it.

Ordinary replies are canned but varied demo texts (headings and lists, Python code, a table, LaTeX in GLM's
``\\( \\)``/``\\[ \\]`` style, bilingual text), picked deterministically from the last user message; Chinese when
that message contains CJK text. Thinking models (glm-5*, glm-4.5*, glm-4.6*, glm-4.7*, glm-4.1v-thinking*,
glm-offline-demo) stream ``reasoning_content`` first unless ``thinking`` is ``{"type":"disabled"}``;
glm-z1-* models put the reasoning inside ``content`` as ``<think>...</think>``.

Web search (glm-api.md §7): ``tools`` must be a list of at most 128 known tool objects; a ``web_search`` tool
needs a ``web_search`` object whose ``search_engine`` is one of search_std/search_pro/search_pro_sogou/
search_pro_quark, with ``count`` 1-50, ``search_recency_filter``, ``content_size`` and ``result_sequence`` from
their documented values (else 400 "1214", ``tools 参数非法``). A web_search tool whose ``enable`` is not false
yields ``min(count, 10)`` results (default 5) ``{title, link, content, media, icon, refer:"ref_N",
publish_date}`` on distinct ``https://<name>N.example`` hosts, titled in the user's language (``search_query``
is used as the topic when given). They arrive as a top-level ``web_search`` field: on the first chunk when
``result_sequence`` is "before", else on the final (usage) chunk, so truncated streams never deliver them;
non-stream replies carry the field in the body. ``search_result: false`` leaves the field out. Canned replies
then open with a paragraph citing the results as ``[ref_1]``, ``[ref_2]``...; synthetic replies (``sim:tokens``,
``sim:echo``, ``sim:html``, ``sim:slow``, ``sim:say``) are left as they are.

The code, one job per module: ``simulator`` (this one: the ``Simulator`` class, which validates a request in the
order above, keeps the counters and routes requests; and the CLI), ``validation`` (the models, their limits and
the parameter checks), ``triggers`` (reading the triggers; the errors and the pace they choose), ``compose`` (a
reply's text, reasoning, sources, truncation, ending and usage), ``replies`` (the canned texts and the web
search results), ``wire`` (response plans: error and completion bodies, SSE framing, usage on the last chunk,
``[DONE]``), ``server`` (the in-process transport and the loopback server), ``vision`` (the content array and
image rules), ``tokens`` (the simulator's own token count) and ``files`` (the files API).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time

import httpx

from glmsim import vision
from glmsim.compose import compose
from glmsim.files import FileStore
from glmsim.replies import hostile_results as _hostile_results
from glmsim.replies import search_results as _search_results
from glmsim.server import Server, StreamTally, Transport
from glmsim.triggers import failure, pacing, parse_triggers
from glmsim.validation import KNOWN_MODELS, MODEL_LIMITS, OFFLINE_DEMO_MODEL, invalid_field, message_text, prompt_tokens
from glmsim.wire import (
    MSG_1001,
    MSG_1002,
    MSG_1210,
    MSG_1211,
    MSG_1213,
    MSG_1261,
    Plan,
    completion_plan,
    split_pieces,
    stream_plan,
)

# The names the tests import from here, as before the split: they now live in the modules named above.
__all__ = [
    "KNOWN_MODELS",
    "MODEL_LIMITS",
    "OFFLINE_DEMO_MODEL",
    "Simulator",
    "main",
    "split_pieces",
    "_hostile_results",
    "_search_results",
]

_KEEP = 200  # how many requests/events are remembered


def _new_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(8)


class Simulator:
    """GLM v4 chat-completions simulator; see the module docstring for routes and triggers."""

    def __init__(self, *, ttft: float = 0.0, token_delay: float = 0.0, valid_keys: set[str] | None = None):
        self.ttft = ttft
        self.token_delay = token_delay
        self.valid_keys = set(valid_keys) if valid_keys is not None else None
        self._lock = threading.Lock()
        self.attempts = 0
        self.open_streams = 0
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.events: list[dict] = []
        self._seen_once: set[tuple[str, str]] = set()
        self.files = FileStore(valid_keys=self.valid_keys)  # the file-extract endpoints

    # -- counters ------------------------------------------------------------------------------------------

    def stats(self) -> dict:
        with self._lock:
            # What each request asked for (not its messages): tests of another process check what was sent.
            asked = [
                {k: r.get(k) for k in ("model", "temperature", "top_p", "max_tokens", "thinking")}
                for r in self.requests
            ]
            return {
                "attempts": self.attempts,
                "open_streams": self.open_streams,
                "requests": len(self.requests),
                "asked": asked,
                "events": [dict(e) for e in self.events],
            }

    def reset(self) -> None:
        with self._lock:
            self.attempts = 0
            self.requests.clear()
            self.headers.clear()
            self.events.clear()
            self._seen_once.clear()
            # open_streams is left alone: streams still running will decrement it when they end.

    def _stream_started(self) -> None:
        with self._lock:
            self.open_streams += 1

    def _stream_ended(self, tally: StreamTally) -> None:
        with self._lock:
            self.open_streams -= 1
            if tally.chunks:
                self.events.append({"first_chunk_at": tally.first, "last_chunk_at": tally.last, "chunks": tally.chunks})
                del self.events[:-_KEEP]

    def _first_time(self, trigger: str, text: str) -> bool:
        with self._lock:
            if (trigger, text) in self._seen_once:
                return False
            self._seen_once.add((trigger, text))
            return True

    # -- adapters ------------------------------------------------------------------------------------------

    def transport(self) -> httpx.BaseTransport:
        return Transport(self)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> tuple[Server, threading.Thread]:
        server = Server((host, port), self)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="glm-simulator", daemon=True
        )
        thread.start()
        return server, thread

    # -- request handling ----------------------------------------------------------------------------------

    def _dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes, query: str = "") -> Plan:
        route = path.rstrip("/")
        if method == "POST" and route.endswith("/chat/completions"):
            return self._chat(headers, body)
        if method == "GET" and route == "/stats":
            return Plan.json(200, self.stats())
        if method == "POST" and route == "/reset":
            self.reset()
            return Plan.json(200, {"ok": True})
        if method == "GET" and route == "/health":
            return Plan.body(200, b"ok", "text/plain; charset=utf-8")
        answer = self.files.handle(method, path, headers, body, query)
        if answer is not None:
            status, answer_headers, answer_body = answer
            return Plan.body(status, answer_body, answer_headers["content-type"])
        return Plan.error(404, "404", f"Not Found: {method} {path}")

    def _chat(self, headers: dict[str, str], body: bytes) -> Plan:
        rid = _new_id()
        try:
            req = json.loads(body)
        except ValueError:
            req = None
        with self._lock:
            self.attempts += 1
            if isinstance(req, dict):
                self.requests.append(req)
                self.headers.append(dict(headers))
                del self.requests[:-_KEEP], self.headers[:-_KEEP]

        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Plan.error(401, "1001", MSG_1001, rid)
        if self.valid_keys is not None and token.strip() not in self.valid_keys:
            return Plan.error(401, "1002", MSG_1002, rid)
        if not isinstance(req, dict):
            return Plan.error(400, "1210", MSG_1210, rid)
        model = req.get("model")
        if model is None or model == "":
            return Plan.error(400, "1213", MSG_1213, rid)
        if model not in KNOWN_MODELS:
            return Plan.error(400, "1211", MSG_1211, rid)
        context, max_output = MODEL_LIMITS[model]
        bad = invalid_field(req, max_output) or vision.refusal(req)
        if bad:
            return Plan.error(400, "1214", f"{bad} 参数非法。请检查文档。", rid)
        prompt_size = prompt_tokens(req["messages"])
        if prompt_size > context:
            return Plan.error(400, "1261", MSG_1261, rid)

        users = [m for m in req["messages"] if m["role"] == "user"]
        text = message_text(users[-1]) if users else ""
        triggers = parse_triggers(text)
        refused = failure(triggers, text, rid, self._first_time)
        if refused:
            return refused

        reply = compose(req, text, triggers, prompt_size)
        ttft, delay = pacing(triggers, self.ttft, self.token_delay)
        created = int(time.time())
        if req.get("stream"):
            return stream_plan(reply, model, rid, created, ttft, delay)
        return completion_plan(
            req, reply, model, rid, created, ttft + delay * (len(reply.reasoning) + len(reply.content))
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m glmsim.simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds before the first chunk")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--key", action="append", help="accept only this API key (repeatable)")
    args = parser.parse_args(argv)
    sim = Simulator(ttft=args.ttft, token_delay=args.token_delay, valid_keys=set(args.key) if args.key else None)
    server, thread = sim.serve(args.host, args.port)
    host, port = server.server_address[:2]
    sys.stdout.write(f"GLM simulator on http://{host}:{port}/api/paas/v4\n")
    sys.stdout.flush()
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
