"""The GLM simulator, driven by the real zhipuai SDK in-process and over loopback HTTP."""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest
import zhipuai
from conftest import ROOT

from glmsim import tokens
from glmsim.simulator import KNOWN_MODELS, Simulator, split_pieces

pytestmark = pytest.mark.timeout(30)

INPROC_BASE = "http://sim.local/api/paas/v4"
KEY = "test-key"
ID_RE = re.compile(r"\d{14}[0-9a-f]{16}")


def wait_for(predicate, timeout: float = 10.0) -> bool:
    """Wait until predicate() holds; the timeout is only a safety net for a busy machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def server(sim):
    srv, thread = sim.serve()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(2)


@pytest.fixture(params=["inproc", "server"])
def connect(request, sim):
    """Factory for SDK clients reaching `sim` in-process or over loopback HTTP."""
    http_clients: list[httpx.Client] = []
    if request.param == "inproc":
        base = INPROC_BASE
    else:
        base = f"http://127.0.0.1:{request.getfixturevalue('server').server_address[1]}/api/paas/v4"

    def make(timeout: float = 30.0, api_key: str = KEY) -> zhipuai.ZhipuAI:
        transport = sim.transport() if request.param == "inproc" else None
        http = httpx.Client(transport=transport, timeout=timeout, trust_env=False)
        http_clients.append(http)
        return zhipuai.ZhipuAI(api_key=api_key, base_url=base, max_retries=0, timeout=timeout, http_client=http)

    make.mode = request.param
    make.base = base
    yield make
    for http in http_clients:
        http.close()


@pytest.fixture
def client(connect):
    return connect()


def ask(client, text, *, model="glm-4-flash", stream=False, **kwargs):
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], stream=stream, **kwargs
    )


def content_of(chunks) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks)


def content_chunks(chunks) -> list:
    return [c for c in chunks if c.choices and c.choices[0].delta.content]


# ---------------------------------------------------------------------------------------------------------
# Normal replies


@pytest.mark.parametrize(
    "text",
    [
        "How do I reverse a list in Python?",
        "用中文解释一下什么是递归",
        "Compare a few GLM models for me, with details please",
    ],
)
def test_stream_equals_nonstream_and_usage_on_last_chunk(client, text):
    full = ask(client, text)
    chunks = list(ask(client, text, stream=True))

    assert content_of(chunks) == full.choices[0].message.content
    assert all(c.choices[0].delta.role == "assistant" for c in chunks)
    assert all(c.choices[0].finish_reason is None and c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.choices[0].delta.content == ""
    assert last.usage.completion_tokens == len(content_chunks(chunks)) == full.usage.completion_tokens
    one_message = tokens.PER_REQUEST + tokens.PER_MESSAGE + tokens.text_tokens(text)
    assert last.usage.prompt_tokens == full.usage.prompt_tokens == one_message
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert last.usage.prompt_tokens_details.cached_tokens == 0
    # The first line quotes the question verbatim (up to 40 characters).
    assert text[:40] in full.choices[0].message.content.splitlines()[0]


def test_raw_sse_framing_and_nonstream_shape(connect, sim):
    if connect.mode == "inproc":
        http = httpx.Client(transport=sim.transport(), timeout=30.0)
    else:
        http = httpx.Client(trust_env=False, timeout=30.0)
    url = connect.base + "/chat/completions"
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {
        "model": "glm-4-flash",
        "messages": [{"role": "user", "content": "Tell me about tables"}],
        "thinking": None,
        "response_format": None,
        "temperature": None,
        "top_p": None,
        "max_tokens": None,
    }
    before = int(time.time())
    with http:
        with http.stream("POST", url, json={**body, "stream": True}, headers=headers) as r:
            raw = r.read().decode()
            assert r.status_code == 200
            assert r.headers["content-type"] == "text/event-stream;charset=UTF-8"
            rid = r.headers["x-request-id"]
        plain = http.post(url, json=body, headers=headers)
    after = time.time()

    assert re.fullmatch(r"(data: [^\n]+\n\n)+", raw)
    events = [e.removeprefix("data: ") for e in raw.split("\n\n")[:-1]]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert ID_RE.fullmatch(rid) and all(c["id"] == rid for c in chunks)
    assert all("object" not in c and "request_id" not in c for c in chunks)
    assert all("finish_reason" not in c["choices"][0] and "usage" not in c for c in chunks[:-1])
    final = chunks[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert set(final["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details"}

    assert plain.status_code == 200
    assert plain.headers["content-type"] == "application/json; charset=UTF-8"
    data = plain.json()
    assert data["request_id"] == data["id"] == plain.headers["x-request-id"]
    assert ID_RE.fullmatch(data["id"])
    assert isinstance(data["created"], int) and before <= data["created"] <= after  # made during the request
    assert before <= chunks[0]["created"] <= after
    assert data["choices"][0]["message"]["content"] == "".join(c["choices"][0]["delta"]["content"] for c in chunks)


def test_reasoning_streams_before_content(client):
    text = "Explain how HTTPS keeps data private"
    chunks = list(ask(client, text, model="glm-4.6", stream=True))
    kinds = [
        ("r" if c.choices[0].delta.reasoning_content else "") + ("c" if c.choices[0].delta.content else "")
        for c in chunks
    ]
    assert "r" in kinds and "c" in kinds
    assert max(i for i, k in enumerate(kinds) if k == "r") < min(i for i, k in enumerate(kinds) if k == "c")
    assert any(c.choices[0].delta.reasoning_content == "" and c.choices[0].delta.content for c in chunks)
    reasoning = "".join(c.choices[0].delta.reasoning_content or "" for c in chunks)
    assert text in reasoning

    full = ask(client, text, model="glm-4.6")
    assert full.choices[0].message.reasoning_content == reasoning
    assert full.choices[0].message.content == content_of(chunks)
    assert full.usage.completion_tokens == kinds.count("r") + kinds.count("c") == chunks[-1].usage.completion_tokens

    disabled = ask(client, text, model="glm-4.6", thinking={"type": "disabled"})
    assert disabled.choices[0].message.reasoning_content is None
    assert ask(client, "hi", model="glm-4.6").choices[0].message.reasoning_content is None
    assert ask(client, "hi", model="glm-offline-demo").choices[0].message.reasoning_content
    assert ask(client, "sim:think explain", model="glm-4-flash").choices[0].message.reasoning_content
    assert re.search(
        "[\u4e00-\u9fff]", ask(client, "解释一下量子计算", model="glm-4.5").choices[0].message.reasoning_content
    )


@pytest.mark.parametrize("model,text", [("glm-z1-flash", "Why is the sky blue?"), ("glm-4.6", "sim:z1 why?")])
def test_z1_reasoning_inside_think_tags(client, model, text):
    chunks = list(ask(client, text, model=model, stream=True))
    content = content_of(chunks)
    assert content.startswith("<think>\n") and "\n</think>\n\n" in content
    assert not any(c.choices[0].delta.reasoning_content for c in chunks)
    assert content.split("</think>\n\n", 1)[1].startswith("You asked:")


# ---------------------------------------------------------------------------------------------------------
# Errors before the body

STATUS_TRIGGERS = [
    ("sim:401", zhipuai.APIAuthenticationError, 401, "1002"),
    ("sim:balance", zhipuai.APIReachLimitError, 429, "1113"),
    ("sim:account", zhipuai.APIReachLimitError, 429, "1112"),
    ("sim:busy", zhipuai.APIReachLimitError, 429, "1305"),
    ("sim:policy", zhipuai.APIRequestFailedError, 400, "1301"),
    ("sim:badparam", zhipuai.APIRequestFailedError, 400, "1214"),
    ("sim:toolong", zhipuai.APIRequestFailedError, 400, "1261"),
    ("sim:unknown-model", zhipuai.APIRequestFailedError, 400, "1211"),
    ("sim:500", zhipuai.APIInternalError, 500, "500"),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("trigger,exc,status,code", STATUS_TRIGGERS)
def test_status_triggers(client, trigger, exc, status, code, stream):
    with pytest.raises(exc) as info:
        ask(client, f"please fail {trigger}", stream=stream)
    assert info.value.status_code == status
    assert info.value.response.json()["error"]["code"] == code
    assert ID_RE.fullmatch(info.value.response.headers["x-request-id"])


@pytest.mark.parametrize("stream", [False, True])
def test_502_html(client, stream):
    with pytest.raises(zhipuai.APIStatusError) as info:
        ask(client, "sim:502", stream=stream)
    assert type(info.value) is zhipuai.APIStatusError and info.value.status_code == 502
    assert info.value.response.headers["content-type"].startswith("text/html")
    assert "502 Bad Gateway" in info.value.response.text
    with pytest.raises(json.JSONDecodeError):
        info.value.response.json()


def test_busy_once_and_500_once_then_success(client, sim):
    with pytest.raises(zhipuai.APIReachLimitError) as info:
        ask(client, "retry me sim:busy-once")
    assert info.value.response.json()["error"]["code"] == "1302"
    assert ask(client, "retry me sim:busy-once").choices[0].message.content
    with pytest.raises(zhipuai.APIInternalError):
        ask(client, "sim:500-once", stream=True)
    assert content_of(ask(client, "sim:500-once", stream=True))
    assert sim.attempts == 4


def test_error200(client):
    assert list(ask(client, "sim:error200", stream=True)) == []
    completion = ask(client, "sim:error200")
    assert completion.choices is None and completion.error["code"] == "1214"


VALIDATION = [
    ({"authorization": None}, {}, 401, "1001", "Authorization"),
    ({"authorization": "Basic abc"}, {}, 401, "1001", "Authorization"),
    ({}, b"{not json", 400, "1210", ""),
    ({}, {"model": None}, 400, "1213", "model"),
    ({}, {"model": "gpt-4o"}, 400, "1211", "模型不存在"),
    ({}, {"messages": []}, 400, "1214", "messages 参数非法"),
    ({}, {"messages": "hi"}, 400, "1214", "messages 参数非法"),
    ({}, {"messages": ["hi"]}, 400, "1214", "messages 参数非法"),
    ({}, {"messages": [{"role": "bot", "content": "x"}]}, 400, "1214", "messages 参数非法"),
    (
        {},
        {"messages": [{"role": "system", "content": "x"}, {"role": "assistant", "content": "y"}]},
        400,
        "1214",
        "messages 参数非法",
    ),
    ({}, {"temperature": 1.5}, 400, "1214", "temperature 参数非法。请检查文档。"),
    ({}, {"top_p": 0}, 400, "1214", "top_p 参数非法"),
    ({}, {"max_tokens": 0}, 400, "1214", "max_tokens 参数非法"),
    ({}, {"max_tokens": 4097}, 400, "1214", "max_tokens 参数非法"),
    ({}, {"max_tokens": "100"}, 400, "1214", "max_tokens 参数非法"),
    ({}, {"stop": ["a", "b"]}, 400, "1214", "stop 参数非法"),
    ({}, {"thinking": {"type": "auto"}}, 400, "1214", "thinking 参数非法"),
    ({}, {"model": "glm-4-airx", "messages": [{"role": "user", "content": "word " * 9000}]}, 400, "1261", "Prompt"),
    (
        {},
        {"temperature": 0, "top_p": 1, "max_tokens": 4096, "stop": ["zzz"], "thinking": None, "response_format": None},
        200,
        None,
        "",
    ),
]


@pytest.mark.parametrize("headers,body,status,code,message", VALIDATION)
def test_validation(sim, headers, body, status, code, message):
    request_headers = {"authorization": f"Bearer {KEY}", **headers}
    request_headers = {k: v for k, v in request_headers.items() if v is not None}
    if isinstance(body, dict):
        body = json.dumps({"model": "glm-4-flash", "messages": [{"role": "user", "content": "hello"}], **body})
    with httpx.Client(transport=sim.transport()) as http:
        response = http.post(INPROC_BASE + "/chat/completions", content=body, headers=request_headers)
    assert response.status_code == status
    if code:
        error = response.json()["error"]
        assert error["code"] == code and message in error["message"]
    assert sim.attempts == 1


def test_valid_keys_and_missing_key(connect, sim):
    sim.valid_keys = {"good"}
    with pytest.raises(zhipuai.APIAuthenticationError) as info:
        ask(connect(api_key="bad"), "hello")
    assert info.value.response.json()["error"] == {
        "code": "1002",
        "message": "Authorization Token非法，请确认Authorization Token正确传递。",
    }
    assert ask(connect(api_key="good"), "hello").choices[0].message.content
    assert sim.headers[-1]["authorization"] == "Bearer good"


def test_prompt_too_long_through_sdk(client):
    with pytest.raises(zhipuai.APIRequestFailedError) as info:
        ask(client, "长" * 13000, model="glm-4-airx")
    assert info.value.response.json()["error"] == {"code": "1261", "message": "Prompt 超过最大长度限制"}


# ---------------------------------------------------------------------------------------------------------
# Faults in the body


def test_streamerror_raises_api_response_error(client):
    got = []
    with pytest.raises(zhipuai.APIResponseError) as info:
        for chunk in ask(client, "sim:streamerror", stream=True):
            got.append(chunk)
    assert info.value.json_data["code"] == "1301"
    assert len(content_chunks(got)) == 5


def test_malformed_raises_json_error(client):
    got = []
    with pytest.raises(json.JSONDecodeError):
        for chunk in ask(client, "sim:malformed", stream=True):
            got.append(chunk)
    assert len(content_chunks(got)) == 5


def test_nodone_ends_silently_without_finish_reason(client):
    chunks = list(ask(client, "sim:nodone", stream=True))
    assert content_chunks(chunks)
    assert all(c.choices[0].finish_reason is None and c.usage is None for c in chunks)


@pytest.mark.parametrize("reason", ["sensitive", "length", "network_error"])
def test_abnormal_finish_reasons(client, reason):
    chunks = list(ask(client, f"sim:{reason}", stream=True))
    assert chunks[-1].choices[0].finish_reason == reason
    assert chunks[-1].usage.completion_tokens == len(content_chunks(chunks))
    assert ask(client, f"sim:{reason}").choices[0].finish_reason == reason


def test_the_other_finish_reasons_and_a_tool_call_in_the_contracts_shape(client):
    chunks = list(ask(client, "sim:context_exceeded", stream=True))
    assert chunks[-1].choices[0].finish_reason == "model_context_window_exceeded" and content_chunks(chunks)
    assert ask(client, "sim:finish=whatever_new").choices[0].finish_reason == "whatever_new"
    chunks = list(ask(client, "sim:tool_calls", stream=True))
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert chunks[-1].choices[0].finish_reason == "tool_calls" and not content_chunks(chunks)
    assert len(calls) == 1 and calls[0].type == "function" and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "北京"}  # a JSON string (glm-api.md §14)
    # As recorded (tests/fixtures/captures/fantasy, §4.1): the call's delta has no role and ends the choice,
    # and a usage chunk with the same finish_reason follows.
    [call] = [c for c in chunks if c.choices[0].delta.tool_calls]
    assert call.choices[0].delta.role is None and call.choices[0].finish_reason == "tool_calls"
    assert chunks[-1].usage is not None and chunks.index(call) == len(chunks) - 2
    body = ask(client, "sim:tool_calls")
    assert body.choices[0].finish_reason == "tool_calls" and body.choices[0].message.tool_calls[0].id


def test_nousage(client):
    chunks = list(ask(client, "sim:nousage", stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage is None
    assert ask(client, "sim:nousage").usage is None


def test_cut_drops_connection(connect, sim):
    client = connect()
    got = []
    with pytest.raises(httpx.RemoteProtocolError):
        for chunk in ask(client, "sim:cut", stream=True):
            got.append(chunk)
    assert len(content_chunks(got)) == 5
    assert wait_for(lambda: sim.open_streams == 0)
    with pytest.raises(zhipuai.APIConnectionError):
        ask(client, "sim:cut")


def test_stall_and_hang_time_out(connect, sim):
    # 1 s: the timeout under test, yet long enough that a busy machine does not hit it between the 5 chunks
    # that are sent at once.
    client = connect(timeout=1.0)
    stream = ask(client, "sim:stall", stream=True)
    got = []
    # The client's own read timeout ends the silence (ReadTimeout), after exactly the 5 chunks, in one request.
    with pytest.raises(httpx.ReadTimeout):
        for chunk in stream:
            got.append(chunk)
    assert len(content_chunks(got)) == 5 and sim.attempts == 1
    stream.response.close()
    assert wait_for(lambda: sim.open_streams == 0)

    for n, stream_flag in enumerate((True, False), start=2):
        start = time.monotonic()
        with pytest.raises(zhipuai.APITimeoutError):
            ask(client, "sim:hang", stream=stream_flag)
        # It waited for the read timeout (a lower bound: load only makes it longer), in one request.
        assert time.monotonic() - start > 0.95 and sim.attempts == n


# ---------------------------------------------------------------------------------------------------------
# Counters and stream lifetime


def test_counters_records_and_reset(client, sim):
    with pytest.raises(zhipuai.APIAuthenticationError):
        ask(client, "sim:401")
    chunks = list(ask(client, "hello there", stream=True, temperature=0.5))
    assert sim.attempts == 2 and wait_for(lambda: sim.open_streams == 0)
    assert len(sim.requests) == len(sim.headers) == 2
    assert sim.requests[1]["temperature"] == 0.5 and sim.requests[1]["stream"] is True
    assert sim.requests[0]["thinking"] is None and "response_format" in sim.requests[0]  # the SDK's explicit nulls
    assert sim.headers[0]["authorization"] == f"Bearer {KEY}"
    assert wait_for(lambda: len(sim.events) == 1)
    event = sim.events[0]
    assert event["chunks"] == len(chunks) + 1  # + data: [DONE]
    assert event["first_chunk_at"] <= event["last_chunk_at"]
    stats = sim.stats()
    asked = {"model": "glm-4-flash", "temperature": 0.5, "top_p": None, "max_tokens": None, "thinking": None}
    assert stats == {
        "attempts": 2,
        "open_streams": 0,
        "requests": 2,
        "events": [event],
        "asked": [{**asked, "temperature": None}, asked],
    }
    sim.reset()
    assert sim.stats() == {"attempts": 0, "open_streams": 0, "requests": 0, "asked": [], "events": []}


def test_close_from_another_thread_ends_stream_promptly(sim):
    http = httpx.Client(transport=sim.transport(), timeout=600)
    client = zhipuai.ZhipuAI(api_key=KEY, base_url=INPROC_BASE, max_retries=0, http_client=http)
    # The first chunk at once, then 500 s before the next: a reader that ends within the wait below was
    # woken from that wait by the close (counted and waited for, not timed).
    stream = ask(client, "sim:tokens=3 sim:rate=0.002", stream=True)
    got, started, errors = [], threading.Event(), []

    def read():
        try:
            for chunk in stream:
                got.append(chunk)
                started.set()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    assert started.wait(10)
    assert sim.open_streams == 1
    stream.response.close()
    reader.join(20)  # generous for a busy machine, and far short of the 500 s the next chunk would take
    assert not reader.is_alive()
    assert errors == [] and len(got) == 1  # nothing more arrived after the close
    assert sim.open_streams == 0
    http.close()


def test_close_after_break_releases_stream(connect, sim):
    """The app's Stop button: break out of the loop, then close the response."""
    stream = ask(connect(), "sim:slow", stream=True)
    for i, _ in enumerate(stream):
        if i == 2:
            break
    assert sim.open_streams == 1
    stream.response.close()
    assert wait_for(lambda: sim.open_streams == 0)


# ---------------------------------------------------------------------------------------------------------
# Shaping triggers and reply content


def test_tokens_rate_and_ttft(client, sim):
    chunks = list(ask(client, "sim:tokens=7", model="glm-4.6", stream=True))
    assert [c.choices[0].delta.content for c in content_chunks(chunks)] == [f"tok{i} " for i in range(6)] + ["tok6"]
    assert not any(c.choices[0].delta.reasoning_content for c in chunks)
    assert chunks[-1].usage.completion_tokens == 7

    # Lower bounds only: a delay that was applied cannot be shortened by a busy machine.
    start = time.monotonic()
    stream = ask(client, "sim:ttft=0.3 sim:tokens=2", stream=True)
    next(iter(stream))
    assert time.monotonic() - start >= 0.28
    list(stream)

    start = time.monotonic()
    stream = ask(client, "sim:rate=50 sim:tokens=10", stream=True)
    assert len(content_chunks(list(stream))) == 10
    assert time.monotonic() - start > 0.18  # 10 pieces 0.02 s apart

    # Chunks arrive one by one, not buffered until the end: the first is in the client's hands while the
    # simulator's stream is still open, its next piece 20 s away (an event, not a ratio of durations).
    stream = ask(client, "sim:rate=0.05 sim:tokens=3", stream=True)
    next(iter(stream))
    assert sim.open_streams == 1
    stream.response.close()
    assert wait_for(lambda: sim.open_streams == 0)


def test_constructor_delays():
    sim = Simulator(ttft=0.2, token_delay=0.02)
    with httpx.Client(transport=sim.transport()) as http:
        client = zhipuai.ZhipuAI(api_key=KEY, base_url=INPROC_BASE, max_retries=0, http_client=http)
        start = time.monotonic()
        stream = ask(client, "sim:tokens=5", stream=True)
        next(iter(stream))
        first = time.monotonic() - start
        list(stream)
        total = time.monotonic() - start
    assert first >= 0.19 and total >= first + 0.1


def test_html_trigger_is_hostile(client):
    content = ask(client, "sim:html").choices[0].message.content
    for needle in (
        "<script>window.__pwned=1</script>",
        '<img src=x onerror="window.__pwned=1">',
        "[click](javascript:window.__pwned=1)",
        "[d](data:text/html,<script>alert(1)</script>)",
        "![img](http://evil.example/pixel.png)",
        '<a href="https://evil.example">x</a>',
        "```html\n<b>kept</b>\n```",
        "costs $5 per",
    ):
        assert needle in content
    assert content.count("$") == 1


def b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_say_replies_with_the_decoded_text(client):
    hostile = "<img src=x onerror=alert(1)>\n[a](javascript:alert(1)) 你好 $x$\n\n```\ncode\n```"
    assert ask(client, f"please sim:say={b64url(hostile)}").choices[0].message.content == hostile
    chunks = list(ask(client, f"sim:say={b64url(hostile)}", model="glm-4.6", stream=True))
    assert content_of(chunks) == hostile and len(content_chunks(chunks)) == len(split_pieces(hostile)) > 1
    assert not any(c.choices[0].delta.reasoning_content for c in chunks)  # no reasoning, even on glm-4.6
    # Padding is optional: with it too.
    assert base64.urlsafe_b64encode(b"ok").decode() == "b2s="
    assert ask(client, "sim:say=b2s=").choices[0].message.content == "ok"


def test_say_repeat_sends_one_chunk_per_copy(client):
    block = "line with <b>markup</b> and [x](data:text/html,x)\n"
    chunks = list(ask(client, f"sim:say={b64url(block)} sim:repeat=50", stream=True))
    assert [c.choices[0].delta.content for c in content_chunks(chunks)] == [block] * 50
    assert chunks[-1].usage.completion_tokens == 50
    many = list(ask(client, f"sim:say={b64url('x')} sim:repeat=5000", stream=True))
    assert len(content_chunks(many)) == 1000  # at most 1000 copies
    # Without sim:say, sim:repeat does nothing.
    assert ask(client, "sim:repeat=3 sim:tokens=2").choices[0].message.content == "tok0 tok1"


@pytest.mark.parametrize("value", ["not*base64", "_w", "A"])  # bad alphabet, not UTF-8, bad length
def test_say_rejects_what_does_not_decode(client, value):
    with pytest.raises(zhipuai.APIRequestFailedError) as info:
        ask(client, f"sim:say={value}")
    assert info.value.status_code == 400 and info.value.response.json()["error"]["code"] == "1214"


def test_echo(client):
    completion = client.chat.completions.create(
        model="glm-4.5",
        temperature=0.5,
        top_p=0.7,
        max_tokens=200,
        thinking={"type": "disabled"},
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "sim:echo"}],
    )
    content = completion.choices[0].message.content
    assert content.startswith("```json\n") and content.endswith("\n```")
    echoed = json.loads(content[len("```json\n") : -len("\n```")])
    assert echoed == {
        "model": "glm-4.5",
        "stream": None,
        "temperature": 0.5,
        "top_p": 0.7,
        "do_sample": None,
        "max_tokens": 200,
        "thinking": {"type": "disabled"},
        "messages": ["system", "user"],
    }


def test_max_tokens_truncates_and_stop_word_cuts(client):
    completion = ask(client, "Explain something long", max_tokens=3)
    assert completion.choices[0].finish_reason == "length" and completion.usage.completion_tokens == 3
    cut = ask(client, "Explain something long", stop=["\n"])
    assert cut.choices[0].message.content == "You asked: “Explain something long”"


def test_replies_are_varied_deterministic_and_localised(client):
    prompts = [f"Question number {i}: how does this work?" for i in range(30)]
    replies = {ask(client, p).choices[0].message.content.split("\n\n", 1)[1] for p in prompts}
    assert len(replies) >= 4
    joined = "\n".join(replies)
    for feature in ("## ", "```python\n", "|---|", r"\( E = mc^2 \)", r"\[ \int_0^1 x^2\,dx = \tfrac13 \]"):
        assert feature in joined
    assert ask(client, prompts[0]).choices[0].message.content == ask(client, prompts[0]).choices[0].message.content
    chinese = ask(client, "请介绍一下长城的历史和意义").choices[0].message.content
    assert chinese.startswith("关于你的问题“请介绍一下长城的历史和意义”")
    long_question = "x" * 60
    assert f"“{'x' * 40}…”" in ask(client, long_question).choices[0].message.content


def test_content_arrays_and_known_models(client):
    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "sim:tokens=3"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ],
    }
    completion = client.chat.completions.create(model="glm-4v-flash", messages=[message])
    assert completion.choices[0].message.content == "tok0 tok1 tok2"
    assert {"glm-4.6", "glm-4-airx", "glm-z1-air", "glm-4.1v-thinking-flashx", "glm-offline-demo"} <= KNOWN_MODELS


def test_split_pieces_and_the_simulators_own_token_count():
    text = "# Title\n\nHello  world, `code`!\n\n```py\n    x = 1\n```\n你好，世界。混合 text 中文\n"
    pieces = split_pieces(text)
    assert "".join(pieces) == text
    assert "Hello  " in pieces and "world, " in pieces
    assert all(len(p.strip()) <= 2 for p in pieces if re.match("[\u4e00-\u9fff]", p))
    count = tokens.text_tokens
    assert count("") == 0 and count("abcd") == 1 and count("abcdefghij") == 2 and count("a b") == 2
    assert count("你好") == 2 and count("你好世") == 2 and count("你好，世界。") == 6  # Han pairs; punctuation 1
    assert count("12345") == 2 and count("x = 1;") == 4
    assert tokens.image_tokens(64, 48) == 6 and tokens.image_tokens(6000, 6000) == tokens.MAX_IMAGE_TOKENS


# ---------------------------------------------------------------------------------------------------------
# HTTP routes and the CLI


def test_http_routes(server, sim):
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with httpx.Client(trust_env=False) as http:
        assert http.get(base + "/health").text == "ok"
        http.post(base + "/api/paas/v4/chat/completions", json={})
        assert http.get(base + "/stats").json() == {
            "attempts": 1,
            "open_streams": 0,
            "requests": 1,
            "events": [],
            "asked": [{"model": None, "temperature": None, "top_p": None, "max_tokens": None, "thinking": None}],
        }
        assert http.post(base + "/reset").status_code == 200
        assert sim.attempts == 0
        missing = http.get(base + "/nope")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "404"


def test_cli_serves_health():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "glmsim.simulator", "--port", str(port), "--ttft", "0.01"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line == f"GLM simulator on http://127.0.0.1:{port}/api/paas/v4"
        with httpx.Client(trust_env=False) as http:
            response = http.get(f"http://127.0.0.1:{port}/health")
        assert response.status_code == 200 and response.text == "ok"
    finally:
        proc.kill()
        proc.wait(5)
        proc.stdout.close()


# ---------------------------------------------------------------------------------------------------------
# Web search (glm-api.md §7)


def web_search(**options):
    return [{"type": "web_search", "web_search": {"enable": True, "search_engine": "search_std", **options}}]


BAD_TOOLS = [
    "web_search",
    {"type": "web_search"},
    [{"type": "web_search"}],
    [{"type": "web_search", "web_search": None}],
    [{"type": "web_search", "web_search": "on"}],
    [{"type": "web_search", "web_search": {"enable": True}}],
    web_search(search_engine="google"),
    web_search(search_engine=None),
    web_search(count=0),
    web_search(count=51),
    web_search(count="5"),
    web_search(count=True),
    web_search(count=2.5),
    web_search(search_recency_filter="oneHour"),
    web_search(content_size="low"),
    web_search(result_sequence="middle"),
    web_search(enable="yes"),
    web_search(search_query=5),
    [{"type": "web_search", "web_search": {"search_engine": "search_std"}}] * 129,
    ["web_search"],
    [{"type": "browser"}],
    [{"web_search": {"search_engine": "search_std"}}],
    [{"type": "function"}],
    [{"type": "function", "function": {"name": ""}}],
]


@pytest.mark.parametrize("tools", BAD_TOOLS)
def test_invalid_tools_are_rejected_with_1214(sim, tools):
    body = {"model": "glm-4-flash", "messages": [{"role": "user", "content": "hello"}], "tools": tools}
    with httpx.Client(transport=sim.transport()) as http:
        response = http.post(
            INPROC_BASE + "/chat/completions", json={**body, "stream": True}, headers={"authorization": f"Bearer {KEY}"}
        )
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "1214", "message": "tools 参数非法。请检查文档。"}


@pytest.mark.parametrize(
    "tools",
    [
        None,
        [],
        web_search(),
        web_search(count=1),
        web_search(count=50),
        web_search(enable=False),
        web_search(
            search_engine="search_pro_quark",
            search_recency_filter="oneWeek",
            content_size="high",
            result_sequence="before",
            search_result=True,
            search_query="tea",
            search_domain_filter="x.example",
            require_search=False,
            search_prompt="p",
            count=None,
        ),
        [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
        + web_search(search_engine="search_pro"),
        [{"type": "web_search", "web_search": {"search_engine": "search_std"}}] * 128,
    ],
)
def test_valid_tools_are_accepted(sim, tools):
    body = {"model": "glm-4-flash", "messages": [{"role": "user", "content": "hello"}], "tools": tools}
    with httpx.Client(transport=sim.transport()) as http:
        response = http.post(INPROC_BASE + "/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"})
    assert response.status_code == 200, response.text


def assert_results(results, count, host_hint=None):
    assert [r["refer"] for r in results] == [f"ref_{n}" for n in range(1, count + 1)]
    hosts = [urlsplit(r["link"]).hostname for r in results]
    assert len(set(hosts)) == count and all(h.endswith(".example") for h in hosts)
    for r in results:
        assert set(r) == {"title", "link", "content", "media", "icon", "refer", "publish_date"}
        assert r["link"].startswith("https://") and r["title"] and r["content"] and r["media"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", r["publish_date"])


def test_nonstream_web_search_field_and_citations(client):
    completion = ask(client, "Tell me about green tea", tools=web_search())
    assert_results(completion.web_search, 5)
    assert all("Tell me about green tea" in r["title"] for r in completion.web_search)
    content = completion.choices[0].message.content
    assert content.startswith("You asked: “Tell me about green tea”\n\n")
    assert "[ref_1]" in content and "[ref_2][ref_3]" in content and "[ref_4]" not in content
    assert completion.usage.completion_tokens == len(split_pieces(content))


def test_web_search_count_language_and_query(client):
    assert_results(ask(client, "hello", tools=web_search(count=1)).web_search, 1)
    assert "[ref_2]" not in ask(client, "hello", tools=web_search(count=1)).choices[0].message.content
    assert_results(ask(client, "hello", tools=web_search(count=50)).web_search, 10)
    chinese = ask(client, "绿茶有什么好处", tools=web_search(count=3))
    assert_results(chinese.web_search, 3)
    assert all("绿茶有什么好处" in r["title"] and re.search("[\u4e00-\u9fff]", r["media"]) for r in chinese.web_search)
    assert "[ref_1]" in chinese.choices[0].message.content
    forced = ask(client, "hello", tools=web_search(search_query="tea prices 2025"))
    assert all("tea prices 2025" in r["title"] for r in forced.web_search)


def test_web_search_off_or_results_withheld(client):
    plain = ask(client, "Tell me about green tea")
    assert getattr(plain, "web_search", None) is None and "[ref_" not in plain.choices[0].message.content
    disabled = ask(client, "Tell me about green tea", tools=web_search(enable=False))
    assert getattr(disabled, "web_search", None) is None
    assert disabled.choices[0].message.content == plain.choices[0].message.content
    withheld = ask(client, "Tell me about green tea", tools=web_search(search_result=False))
    assert getattr(withheld, "web_search", None) is None and "[ref_1]" in withheld.choices[0].message.content
    chunks = list(ask(client, "Tell me about green tea", stream=True, tools=web_search(search_result=False)))
    assert not any(getattr(c, "web_search", None) for c in chunks)


@pytest.mark.parametrize(
    "options,text,first",
    [
        ({}, "Tell me about tea", False),
        ({"result_sequence": "after"}, "Tell me about tea", False),
        ({"result_sequence": "before"}, "Tell me about tea", True),
        ({}, "Tell me about tea sim:sources-before", True),
        ({"result_sequence": "after"}, "sim:tokens=4 sim:sources-before", True),
        ({"result_sequence": "before", "count": 2}, "sim:tokens=4", True),
    ],
)
def test_stream_sources_on_the_first_or_the_last_chunk(client, options, text, first):
    chunks = list(ask(client, text, stream=True, tools=web_search(**options)))
    carrying = [i for i, c in enumerate(chunks) if getattr(c, "web_search", None)]
    assert carrying == [0 if first else len(chunks) - 1]
    results = chunks[carrying[0]].web_search
    assert_results(results, options.get("count", 5))
    assert chunks[-1].usage is not None and chunks[-1].choices[0].finish_reason == "stop"
    nonstream = ask(client, text, tools=web_search(**options))
    assert [r["link"] for r in nonstream.web_search] == [r["link"] for r in results]
    assert content_of(chunks) == nonstream.choices[0].message.content


def test_truncated_stream_never_delivers_after_results(client):
    chunks = list(ask(client, "Tell me about tea sim:nodone", stream=True, tools=web_search()))
    assert not any(getattr(c, "web_search", None) for c in chunks)
    chunks = list(ask(client, "Tell me about tea sim:nodone", stream=True, tools=web_search(result_sequence="before")))
    assert getattr(chunks[0], "web_search", None)


def test_sources_hostile_trigger(client):
    completion = ask(client, "sim:sources-hostile", tools=web_search(count=1))
    links = [r["link"] for r in completion.web_search]
    assert "javascript:alert(1)" in links and "JaVaScRiPt:alert(1)" in links
    assert any(link.startswith("data:text/html,<script>") for link in links)
    assert "<img src=x onerror=alert(1)>Title" in [r["title"] for r in completion.web_search]
    normal = [r for r in completion.web_search if r["title"] == "A normal result"]
    assert len(normal) == 1 and normal[0]["link"].startswith("https://")
    content = completion.choices[0].message.content
    assert "[ref_1][ref_2][ref_3][ref_4][ref_5]" in content and "[ref_99]" in content
    assert "`[ref_1]`" in content and "```text\n[ref_2] inside a fence\n```" in content
    chunks = list(ask(client, "sim:sources-hostile", stream=True, tools=web_search()))
    assert chunks[-1].web_search == completion.web_search
    # without a web_search tool the trigger does nothing
    assert getattr(ask(client, "sim:sources-hostile"), "web_search", None) is None


def test_web_search_results_are_raw_json_on_the_wire(connect, sim):
    body = {
        "model": "glm-4-flash",
        "messages": [{"role": "user", "content": "hello"}],
        "stream": True,
        "tools": web_search(result_sequence="before"),
    }
    if connect.mode == "inproc":
        http = httpx.Client(transport=sim.transport(), timeout=30.0)
    else:
        http = httpx.Client(trust_env=False, timeout=30.0)
    with http:
        raw = http.post(connect.base + "/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"}).text
    events = [json.loads(line[6:]) for line in raw.split("\n\n") if line.startswith("data: {")]
    assert "web_search" in events[0] and all("web_search" not in e for e in events[1:])
    assert set(events[0]) == {"id", "created", "model", "choices", "web_search"}


def test_the_listening_socket_holds_a_burst_of_connections_before_any_is_accepted():
    """Many sessions connect at once while the accepting thread is busy: none is refused or dropped."""
    from glmsim.server import Server

    server = Server(("127.0.0.1", 0), Simulator())  # listening, but nothing accepts yet
    clients = []
    try:
        for _ in range(40):
            clients.append(socket.create_connection(server.server_address, timeout=0.5))
    finally:
        for client in clients:
            client.close()
        server.server_close()
    assert len(clients) == 40
