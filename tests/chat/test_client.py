"""The client wrapper against the simulator, in-process and over loopback, through the real SDK."""

from __future__ import annotations

import dataclasses
import json
import time

import httpx
import pytest
from conftest import CANARY_KEY, free_port

from glmchat.chat.client import (
    ChatRequest,
    Delta,
    Endpoint,
    Failed,
    Finished,
    ReplyStream,
    Retrying,
    Sources,
    ThinkSplitter,
)
from glmchat.chat.errors import Kind

FAST = {"backoff": (0.01, 0.01)}
# In-process, a timeout is decided by the simulator's planned delays, not by the clock: short is exact.
SHORT = httpx.Timeout(1.0, connect=1.0)
# Over loopback it is a real socket timeout: generous, so a busy machine cannot turn a reply into a timeout.
# A test whose subject is the timeout (sim:stall) asks for SHORT itself.
LOOPBACK = httpx.Timeout(30.0, connect=10.0)
SETTLE = 30.0  # seconds to wait at most for the simulator to see a stream end


def local(sim, timeout=SHORT) -> Endpoint:
    return Endpoint(CANARY_KEY, "http://sim.local/api/paas/v4", sim.transport(), timeout=timeout)


def remote(served, timeout=LOOPBACK) -> Endpoint:
    return Endpoint(CANARY_KEY, served.base_url, timeout=timeout)


def settled(predicate, timeout: float = SETTLE) -> bool:
    """Wait until predicate() holds (an event, not a duration: the timeout is only a safety net)."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def run(endpoint: Endpoint, text: str, *, model="glm-4-flash", timeout=60.0, **kw) -> tuple[list, ReplyStream]:
    req = ChatRequest(model=model, messages=[{"role": "user", "content": text}], **kw)
    events: list = []
    with ReplyStream(endpoint, req, **FAST) as rs:
        deadline = time.monotonic() + timeout
        while not rs.done and time.monotonic() < deadline:
            events += rs.poll(0.05)
    assert rs.done, "reply did not finish"
    return events, rs


def text_of(events) -> str:
    return "".join(e.content for e in events if isinstance(e, Delta))


def outcome(events):
    ends = [e for e in events if isinstance(e, (Finished, Failed))]
    assert len(ends) == 1, events
    return ends[0]


@pytest.fixture(params=["inprocess", "loopback"])
def endpoint_and_sim(request, sim, served):
    return (local(sim), sim) if request.param == "inprocess" else (remote(served), served)


def test_normal_reply_streams_with_usage_from_the_last_chunk(endpoint_and_sim):
    endpoint, s = endpoint_and_sim
    events, rs = run(endpoint, "Tell me about Markdown sim:tokens=40")
    assert text_of(events).split() == [f"tok{i}" for i in range(40)]
    end = outcome(events)
    assert isinstance(end, Finished) and end.finish_reason == "stop"
    assert end.usage["completion_tokens"] == 40
    assert end.usage["total_tokens"] == end.usage["prompt_tokens"] + 40
    assert rs.attempts == 1 and s.attempts == 1
    assert rs.first_token_at is not None
    assert settled(lambda: s.open_streams == 0)


@pytest.mark.parametrize(
    "trigger,kind,code,attempts",
    [
        ("sim:401", Kind.AUTH, "1002", 1),
        ("sim:balance", Kind.NO_BALANCE, "1113", 1),
        ("sim:account", Kind.ACCOUNT, "1112", 1),
        ("sim:policy", Kind.POLICY, "1301", 1),
        ("sim:badparam", Kind.BAD_PARAM, "1214", 1),
        ("sim:toolong", Kind.PROMPT_TOO_LONG, "1261", 1),
        ("sim:unknown-model", Kind.UNKNOWN_MODEL, "1211", 1),
        ("sim:busy", Kind.BUSY, "1305", 3),
        ("sim:500", Kind.SERVER, "500", 3),
        ("sim:502", Kind.SERVER, None, 3),
        ("sim:error200", Kind.BAD_PARAM, "1214", 1),
    ],
)
def test_errors_before_the_body_are_classified_and_retried_only_when_useful(
    endpoint_and_sim, trigger, kind, code, attempts
):
    endpoint, s = endpoint_and_sim
    events, rs = run(endpoint, f"hello {trigger}")
    end = outcome(events)
    assert isinstance(end, Failed), events
    assert (end.error.kind, end.error.code) == (kind, code)
    assert s.attempts == attempts == rs.attempts
    assert len([e for e in events if isinstance(e, Retrying)]) == attempts - 1
    assert s.open_streams == 0


@pytest.mark.parametrize("trigger", ["sim:busy-once", "sim:500-once"])
def test_a_passing_fault_is_retried_then_answered(endpoint_and_sim, trigger):
    endpoint, s = endpoint_and_sim
    events, rs = run(endpoint, f"please answer {trigger}")
    assert isinstance(outcome(events), Finished)
    assert s.attempts == 2 and len([e for e in events if isinstance(e, Retrying)]) == 1
    assert text_of(events)


@pytest.mark.parametrize(
    "trigger,kind,code",
    [
        ("sim:streamerror", Kind.POLICY, "1301"),
        ("sim:malformed", Kind.MALFORMED, None),
        ("sim:cut", Kind.CUT, None),
        ("sim:stall", Kind.TIMEOUT, None),
    ],
)
def test_mid_stream_failures_keep_the_partial_and_are_not_retried(endpoint_and_sim, trigger, kind, code):
    endpoint, s = endpoint_and_sim
    if trigger == "sim:stall":  # the timeout is the subject here
        endpoint = dataclasses.replace(endpoint, timeout=SHORT)
    events, rs = run(endpoint, f"go {trigger}")
    end = outcome(events)
    assert isinstance(end, Failed) and (end.error.kind, end.error.code) == (kind, code)
    assert text_of(events), "the partial reply was lost"
    assert s.attempts == 1
    assert settled(lambda: s.open_streams == 0)


@pytest.mark.parametrize(
    "trigger,reason,has_usage",
    [
        ("sim:sensitive", "sensitive", True),
        ("sim:length", "length", True),
        ("sim:network_error", "network_error", True),
        ("sim:context_exceeded", "model_context_window_exceeded", True),
        ("sim:tool_calls", "tool_calls", True),
        ("sim:finish=never_seen", "never_seen", True),
        ("sim:nousage", "stop", False),
        ("sim:nodone", None, False),
    ],
)
def test_how_a_stream_finished_is_reported(endpoint_and_sim, trigger, reason, has_usage):
    endpoint, _ = endpoint_and_sim
    events, _ = run(endpoint, f"x {trigger}")
    end = outcome(events)
    assert isinstance(end, Finished) and end.finish_reason == reason
    assert (end.usage is not None) == has_usage


def test_hung_server_gives_a_timeout_without_retries(sim):
    events, rs = run(local(sim), "wait sim:hang")
    end = outcome(events)
    assert isinstance(end, Failed) and end.error.kind == Kind.TIMEOUT
    assert sim.attempts == 1


def test_connection_refused_is_retried_then_reported():
    endpoint = Endpoint(CANARY_KEY, f"http://127.0.0.1:{free_port()}/api/paas/v4", timeout=SHORT)
    events, rs = run(endpoint, "hi")
    end = outcome(events)
    assert isinstance(end, Failed) and end.error.kind == Kind.CONNECTION
    # Three attempts, each refused at once (a connection error, not a connect timeout), with exactly the
    # backoff asked for between them: nothing else waits.
    retries = [e for e in events if isinstance(e, Retrying)]
    assert rs.attempts == 3
    assert [(e.attempt, e.wait, e.error.kind) for e in retries] == [
        (1, 0.01, Kind.CONNECTION),
        (2, 0.01, Kind.CONNECTION),
    ]


def test_stop_closes_the_upstream_connection_promptly(endpoint_and_sim):
    endpoint, s = endpoint_and_sim
    req = ChatRequest(model="glm-4-flash", messages=[{"role": "user", "content": "long one sim:slow"}])
    rs = ReplyStream(endpoint, req).start()
    got = []
    while not [e for e in got if isinstance(e, Delta) and e.content]:
        got += rs.poll(0.05)
    assert s.open_streams == 1
    rs.close()
    # The reader ends because of the close, not because the reply did: sim:slow sends 60 pieces over 12 s,
    # and the simulator saw its stream end with fewer chunks than that (waited for generously).
    rs._thread.join(SETTLE)
    assert not rs._thread.is_alive()
    assert settled(lambda: s.open_streams == 0) and s.attempts == 1
    assert s.events and all(e["chunks"] < 60 for e in s.events)
    assert not [e for e in got + rs.poll(0) if isinstance(e, Finished) and e.finish_reason == "stop"]


def test_stop_while_upstream_is_silent_closes_too(served):
    # The first chunk is 600 s away and the read timeout 900 s: only the close can end this reader.
    req = ChatRequest(model="glm-4-flash", messages=[{"role": "user", "content": "sim:ttft=600 sim:tokens=3"}])
    rs = ReplyStream(remote(served, timeout=httpx.Timeout(900, connect=30)), req).start()
    assert settled(lambda: rs._response is not None) and served.open_streams  # headers came; the body is silent
    rs.close()
    rs._thread.join(SETTLE)  # generous: a busy machine may be slow, but never 600 s
    assert not rs._thread.is_alive()
    assert settled(lambda: served.open_streams == 0)  # the server saw the hang-up, 600 s before its 1st chunk
    assert rs.poll(0) == [] and rs.done  # and the reader ended without a single event


def test_parameters_are_sent_exactly_as_chosen(sim):
    run(local(sim), "sim:tokens=2", model="glm-4.6", temperature=1.0, top_p=1.0, max_tokens=321, thinking=False)
    body = sim.requests[-1]
    assert body["temperature"] == 1.0 and body["top_p"] == 1.0  # not clamped to 0.99
    assert body["max_tokens"] == 321 and body["thinking"] == {"type": "disabled"} and body["stream"] is True
    run(local(sim), "sim:tokens=2", temperature=0.0)
    assert sim.requests[-1]["temperature"] == 0.0 and sim.requests[-1]["do_sample"] is False
    assert sim.headers[-1]["authorization"] == f"Bearer {CANARY_KEY}"


def test_callers_messages_are_not_mutated_by_the_sdk(sim):
    data_uri = "data:image/png;base64,iVBORw0KGgo="
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is it sim:tokens=2"},
                {"type": "image_url", "image_url": {"url": data_uri}},
            ],
        }
    ]
    req = ChatRequest(model="glm-4.5v", messages=messages)
    with ReplyStream(local(sim), req) as rs:
        while not rs.done:
            rs.poll(0.05)
    assert messages[0]["content"][1]["image_url"]["url"] == data_uri
    assert sim.requests[-1]["messages"][0]["content"][1]["image_url"]["url"] == "iVBORw0KGgo="


def test_reasoning_arrives_before_content_and_z1_think_tags_are_split(sim):
    events, _ = run(local(sim), "why is the sky blue sim:think")
    kinds = [("r" if e.reasoning else "") + ("c" if e.content else "") for e in events if isinstance(e, Delta)]
    assert kinds[0].startswith("r") and "c" in "".join(kinds)
    assert "".join(kinds).rstrip("c").count("c") <= 1  # no reasoning after the answer started
    events, _ = run(local(sim), "why sim:z1", model="glm-z1-flash")
    reasoning = "".join(e.reasoning for e in events if isinstance(e, Delta))
    content = text_of(events)
    assert reasoning and "<think>" not in content and "</think>" not in content and content.strip()


def test_vision_answer_box_markers_never_reach_the_text_even_split_across_chunks(sim):
    events, _ = run(local(sim), "what is in it sim:box", model="glm-4.6v")
    content = text_of(events)
    assert sim.requests and content.startswith("You asked")  # the box's inside, nothing before it
    assert not any(part in content for part in ("<|begin_of", "_box|>", "<|end_of_box", "|>"))
    events, _ = run(local(sim), "both sim:box sim:z1", model="glm-4.5v")  # <think> first, then the box
    reasoning = "".join(e.reasoning for e in events if isinstance(e, Delta))
    content = text_of(events)
    assert reasoning and "<think>" not in content and not any(p in content for p in ("<|begin_of", "_box|>"))


def test_reasoning_effort_goes_in_the_body_for_glm_5_2_and_is_refused_elsewhere(sim):
    events, _ = run(local(sim), "think hard about it", model="glm-5.2", thinking=True, reasoning_effort="high")
    assert isinstance(outcome(events), Finished) and sim.requests[-1]["reasoning_effort"] == "high"
    events, _ = run(local(sim), "think about it", model="glm-5.2", thinking=True, reasoning_effort="none")
    assert not "".join(e.reasoning for e in events if isinstance(e, Delta))  # none: no thinking
    events, _ = run(local(sim), "think", model="glm-4.7", reasoning_effort="high")
    end = outcome(events)
    assert isinstance(end, Failed) and end.error.code == "1214"  # the model takes no such field


@pytest.mark.parametrize("step", [1, 2, 3, 7])
def test_think_splitter_across_chunk_borders(step):
    text = "<think>step one\nstep two</think>\nThe answer <|begin_of_box|>42<|end_of_box|> is here."
    sp = ThinkSplitter()
    r = c = ""
    for i in range(0, len(text), step):
        d = sp.feed(text[i : i + step])
        r, c = r + d.reasoning, c + d.content
    d = sp.feed("", final=True)
    r, c = r + d.reasoning, c + d.content
    assert r == "step one\nstep two"
    assert c == "The answer 42 is here."


def test_think_splitter_leaves_ordinary_content_alone():
    sp = ThinkSplitter()
    out = sp.feed("Hello <think> is a tag name")
    out2 = sp.feed("", final=True)
    assert out.content + out2.content == "Hello <think> is a tag name" and not out.reasoning


def test_chat_page_time_budget():
    """A hung or dead server must produce a message within ~30 s, not the SDK's 4 × 300 s."""
    from glmchat.chat import client
    from glmchat.chat.errors import ChatError

    assert client.TIMEOUT.read <= 25 and client.TIMEOUT.connect <= 5
    assert not ChatError(Kind.TIMEOUT).retryable  # a second 25 s wait would break the budget
    assert sum(client.BACKOFF) + client.MAX_ATTEMPTS * client.TIMEOUT.connect <= 30


# ---------------------------------------------------------------------------------------------------------
# Web search


def sources_of(events) -> list:
    return [e for e in events if isinstance(e, Sources)]


def test_web_search_sends_the_built_in_tool(sim):
    run(local(sim), "sim:tokens=2", web_search=True)
    assert sim.requests[-1]["tools"] == [
        {
            "type": "web_search",
            "web_search": {"enable": True, "search_engine": "search_std", "search_result": True, "count": 5},
        }
    ]
    run(local(sim), "sim:tokens=2")
    assert "tools" not in sim.requests[-1]
    assert ChatRequest(model="m", messages=[]).web_search is False


@pytest.mark.parametrize("text,first", [("Tell me about tea", False), ("Tell me about tea sim:sources-before", True)])
def test_sources_event_for_both_result_sequences(endpoint_and_sim, text, first):
    endpoint, s = endpoint_and_sim
    events, rs = run(endpoint, text, web_search=True)
    [sources] = sources_of(events)
    assert [r["refer"] for r in sources.results] == [f"ref_{n}" for n in range(1, 6)]
    assert all(isinstance(r, dict) and r["link"].startswith("https://") for r in sources.results)
    position = events.index(sources)
    deltas = [i for i, e in enumerate(events) if isinstance(e, Delta)]
    assert (position < deltas[0]) if first else (position > deltas[-1])
    assert isinstance(events[-1], Finished) and events[-1].finish_reason == "stop" and events[-1].usage
    assert "[ref_1]" in text_of(events)


def test_no_sources_without_web_search_or_when_the_stream_breaks(sim):
    events, _ = run(local(sim), "Tell me about tea")
    assert sources_of(events) == [] and "[ref_" not in text_of(events)
    events, _ = run(local(sim), "Tell me about tea sim:cut", web_search=True)
    assert sources_of(events) == [] and isinstance(outcome(events), Failed)
    events, _ = run(local(sim), "Tell me about tea sim:cut sim:sources-before", web_search=True)
    assert len(sources_of(events)) == 1 and isinstance(outcome(events), Failed)


def test_hostile_sources_are_passed_on_raw(sim):
    events, _ = run(local(sim), "sim:sources-hostile", web_search=True)
    [sources] = sources_of(events)
    assert [r["link"] for r in sources.results][:1] == ["javascript:alert(1)"] and len(sources.results) == 5


class _Chunk:
    """An SDK-like chunk object: attributes, with web_search as an extra attribute when given."""

    def __init__(self, content="", finish=None, web_search=None, usage=None):
        self.choices = [{"delta": {"content": content}, "finish_reason": finish}]
        self.usage = usage
        if web_search is not None:
            self.web_search = web_search


def read_chunks(chunks) -> list:
    rs = ReplyStream(Endpoint("k"), ChatRequest(model="m", messages=[]))
    rs._read_chunks(iter(chunks))
    rs._queue.put(rs._END)
    return rs.poll(0)


def test_sources_in_two_chunks_are_merged():
    a = {"title": "A", "link": "https://a.example", "refer": "ref_1"}
    b = {"title": "B", "link": "https://b.example", "refer": "ref_2"}
    events = read_chunks(
        [
            _Chunk(web_search=[a]),
            _Chunk("hi [ref_1]"),
            _Chunk(web_search=[a, b, "junk", 3]),
            _Chunk(web_search=[b]),
            _Chunk(web_search="not a list"),
            _Chunk(finish="stop", usage={"total_tokens": 3}),
        ]
    )
    assert [type(e) for e in events] == [Sources, Delta, Sources, Finished]
    assert events[0].results == [a] and events[2].results == [a, b]
    assert events[0].results is not events[2].results  # each event owns its list
    assert events[3].finish_reason == "stop"


def test_sources_are_capped():
    many = [{"title": f"T{i}", "link": f"https://h{i}.example", "refer": f"ref_{i}"} for i in range(80)]
    events = read_chunks([_Chunk(web_search=many[:30]), _Chunk(web_search=many[30:]), _Chunk(finish="stop")])
    assert [len(e.results) for e in events if isinstance(e, Sources)] == [30, 50]


# ---------------------------------------------------------------------------------------------------------
# Wire shapes the simulator does not send, through the real SDK


def wire(*chunks: dict) -> Endpoint:
    """An endpoint whose every request gets these chunks as an SSE stream, then [DONE]."""
    body = b"".join(b"data: " + json.dumps(c, ensure_ascii=False).encode() + b"\n\n" for c in chunks)
    body += b"data: [DONE]\n\n"

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream;charset=UTF-8"}, content=body)

    return Endpoint(CANARY_KEY, "http://wire.local/api/paas/v4", httpx.MockTransport(answer), timeout=SHORT)


def chunk(content: str, finish: str | None, **top) -> dict:
    # finish None is written out as "finish_reason": null, the docs' intermediate chunk (glm-api.md §4.1).
    choice = {"index": 0, "finish_reason": finish, "delta": {"role": "assistant", "content": content}}
    return {"id": "2026-x", "created": 1758884740, "model": "glm-4.7", "choices": [choice], **top}


USAGE = {"prompt_tokens": 18, "completion_tokens": 3, "total_tokens": 21, "prompt_tokens_details": {"cached_tokens": 0}}


@pytest.mark.parametrize(
    "final",
    [
        chunk("", "stop", usage=USAGE),
        chunk("", "sensitive", usage=USAGE),  # glm-api.md §15's illustrative tail
        # The same tail with the response's content_filter field (glm-api.md §3, open question 5).
        chunk("", "sensitive", usage=USAGE, content_filter=[{"role": "assistant", "level": 1}]),
    ],
    ids=["stop", "sensitive", "sensitive-content-filter"],
)
def test_explicit_null_finish_reasons_are_read_as_absent(final):
    events, _ = run(wire(chunk("", None), chunk("部分", None), chunk("内容", None), final), "hi")
    assert text_of(events) == "部分内容"
    end = outcome(events)
    assert isinstance(end, Finished) and end.finish_reason == final["choices"][0]["finish_reason"]
    assert end.usage["completion_tokens"] == 3 and end.usage["total_tokens"] == 21


def test_a_stream_of_only_null_finish_reasons_is_a_cut_reply():
    events, _ = run(wire(chunk("部分", None), chunk("", None)), "hi")
    end = outcome(events)
    assert isinstance(end, Finished) and end.finish_reason is None and text_of(events) == "部分"
