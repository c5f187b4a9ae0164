"""Real GLM transcripts and the contract's own examples, replayed byte for byte through the real SDK into the
app's client (glmchat/chat/client.py), and the simulator held to their shape where the two overlap.

The transcripts are go-vcr cassettes from charmbracelet/fantasy (Apache-2.0), copied unchanged into
tests/fixtures/captures/fantasy/ (origin, commits and licence in tests/fixtures/captures/README.md): glm-api.md
§3/§4.1 quote the glm-4.5 recording of 2025-09-26; the same requests were recorded again on 2025-11-11. Where a
transcript covers something, it is the authority; the hand-written fixtures beside it cover only what no
transcript shows (a `sensitive` tail, the measured failure modes, an error body).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import zhipuai
from conftest import CANARY_KEY

from glmchat.chat import conversation as conv
from glmchat.chat.catalogue import load
from glmchat.chat.client import ChatRequest, Delta, Endpoint, Failed, Finished, ReplyStream
from glmchat.chat.conversation import DONE, INCOMPLETE
from glmchat.chat.errors import Kind, for_finish_reason
from glmchat.chat.turn import Turn
from glmsim.simulator import Simulator

CAPTURES = Path(__file__).parents[1] / "fixtures" / "captures"
FANTASY = CAPTURES / "fantasy"
SSE = "text/event-stream;charset=UTF-8"
JSON = "application/json; charset=UTF-8"
BASE = "http://captured.local/api/paas/v4"

COMMON, THINKING = "TestOpenAICompatibleCommon/zai-glm-4.5", "TestOpenAICompatibleThinking/zai-glm-4.5"
# Each cassette's git blob id in charmbracelet/fantasy: the bytes here are exactly the bytes published there.
CASSETTES = {
    f"9b87c9e/{COMMON}/multi_tool.yaml": "c538901ec65de7aa3278983a7f3beab3f194ab82",
    f"9b87c9e/{COMMON}/multi_tool_streaming.yaml": "27a42b46e5e4c8356784b601d69bacaf7c499c42",
    f"9b87c9e/{COMMON}/simple.yaml": "b52af4c45940e758a58dafba04d0a60fc2c1220b",
    f"9b87c9e/{COMMON}/simple_streaming.yaml": "7edb12f17b3c3a72e51b73435523d20faa72791d",
    f"9b87c9e/{COMMON}/tool.yaml": "ef1708bf5f57c660eb4fd73f9aafeb4121f91f33",
    f"9b87c9e/{COMMON}/tool_streaming.yaml": "4f57a8922a882a2113f413cb126ebabbb305299f",
    f"9b87c9e/{THINKING}/thinking-streaming.yaml": "435d6d0975c1e6d1b8ef54460b9982e91c91676f",
    f"9b87c9e/{THINKING}/thinking.yaml": "ea69f2bcf72edf5453983eaf0c3639bad12eeb97",
    f"6d3217e/{COMMON}/multi_tool.yaml": "34c00b2b4e7bbc6eeb2e2f80bde9875f5673134d",
    f"6d3217e/{COMMON}/multi_tool_streaming.yaml": "f22a80219ff436b6fb8df64fde664d73cea8245d",
    f"6d3217e/{COMMON}/simple.yaml": "1539c15e45c07c823bfe7e07aec91b6a4a42a624",
    f"6d3217e/{COMMON}/simple_streaming.yaml": "5f8b18602279ce789b1bfa8ed86363d568babf2c",
    f"6d3217e/{COMMON}/tool.yaml": "b1869d5d59ec70bb45050037d58145e3da779b97",
    f"6d3217e/{COMMON}/tool_streaming.yaml": "dd652f3c6200fbf53d12a1414d1418dc9c017f51",
    f"6d3217e/{THINKING}/thinking-streaming.yaml": "44254cedf11ce57bcea59b61b6d18e0d4467a18c",
    f"6d3217e/{THINKING}/thinking.yaml": "a0a68f96595688884a5ef351b460deb88ae1a382",
}


@dataclass(frozen=True)
class Interaction:
    request: dict  # the JSON body that was sent
    code: int
    content_type: str
    body: bytes  # the response body as received


def cassette(name: str) -> list[Interaction]:
    """A go-vcr v2 cassette's interactions, read without PyYAML (not a dependency).

    go-vcr writes a body either as one single-quoted line or as a `|+` literal block; anything else fails
    loudly rather than being misread.
    """
    lines = (FANTASY / name).read_text(encoding="utf-8").split("\n")
    found: list[dict[str, dict]] = []
    section: dict = {}
    i = 0
    while i < len(lines):
        line, i = lines[i], i + 1
        if line.startswith("- id: "):
            found.append({})
        elif line in ("  request:", "  response:"):
            section = found[-1][line.strip(" :")] = {}
        elif line.startswith("    body: "):
            value = line.removeprefix("    body: ")
            if value == "|+":  # literal block, trailing newlines kept: every line ends with "\n"
                block = []
                while i < len(lines) and (lines[i] == "" or lines[i].startswith("      ")):
                    block.append(lines[i][6:] + "\n")
                    i += 1
                section["body"] = "".join(block)
            elif len(value) > 1 and value[0] == value[-1] == "'" and "'" not in value[1:-1].replace("''", ""):
                section["body"] = value[1:-1].replace("''", "'")
            else:
                raise ValueError(f"{name}:{i}: a body in a style this reader does not take")
        elif line == "      Content-Type:":
            section["content_type"] = lines[i].removeprefix("      - ")
        elif line.startswith("    code: "):
            section["code"] = int(line.removeprefix("    code: "))
    return [
        Interaction(json.loads(f["request"]["body"]), r["code"], r["content_type"], r["body"].encode())
        for f in found
        for r in [f["response"]]
    ]


STREAMED = [
    (name, n) for name in CASSETTES for n, it in enumerate(cassette(name)) if it.content_type.startswith("text/")
]
WHOLE = [(name, n) for name in CASSETTES for n, it in enumerate(cassette(name)) if (name, n) not in STREAMED]


def replay(body: bytes, content_type: str, status: int = 200) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport that answers every request with the same exact bytes."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    return httpx.MockTransport(answer), seen


def read_reply(transport: httpx.MockTransport, model: str = "glm-4.5") -> list:
    request = ChatRequest(model=model, messages=[{"role": "user", "content": "Olá"}])
    events: list = []
    with ReplyStream(Endpoint(CANARY_KEY, BASE, transport), request, backoff=(0.01, 0.01)) as rs:
        deadline = time.monotonic() + 10
        while not rs.done and time.monotonic() < deadline:
            events += rs.poll(0.05)
    assert rs.done
    return events


def read(name: str, status: int = 200) -> tuple[list, list[httpx.Request]]:
    """A hand-written fixture through the app's client."""
    transport, seen = replay((CAPTURES / name).read_bytes(), SSE if name.endswith(".sse") else JSON, status)
    return read_reply(transport), seen


def read_recorded(name: str, n: int) -> tuple[list, list[httpx.Request]]:
    """Interaction n of a cassette through the app's client, with the status and content type it was sent with."""
    it = cassette(name)[n]
    transport, seen = replay(it.body, it.content_type, it.code)
    return read_reply(transport, it.request["model"]), seen


def texts(events) -> tuple[str, str]:
    deltas = [e for e in events if isinstance(e, Delta)]
    return "".join(d.reasoning for d in deltas), "".join(d.content for d in deltas)


def end(events):
    ends = [e for e in events if isinstance(e, (Finished, Failed))]
    assert len(ends) == 1, events
    return ends[0]


def _chunks(raw: bytes) -> list[dict]:
    return [
        json.loads(line[6:]) for line in raw.decode().split("\n") if line.startswith("data: {") and "[DONE]" not in line
    ]


@dataclass
class Wire:
    """What a recorded stream says, read straight off its data lines (not through the SDK or the app)."""

    reasoning: str = ""
    content: str = ""
    finish_reasons: tuple = ()
    usage: dict | None = None
    tool_calls: tuple = ()


def on_the_wire(raw: bytes) -> Wire:
    wire = Wire()
    for chunk in _chunks(raw):
        wire.usage = chunk.get("usage", wire.usage)
        for choice in chunk["choices"]:
            delta = choice["delta"]
            wire.reasoning += delta.get("reasoning_content") or ""
            wire.content += delta.get("content") or ""
            wire.tool_calls += tuple(delta.get("tool_calls") or ())
            wire.finish_reasons += (choice["finish_reason"],) if "finish_reason" in choice else ()
    return wire


def turn_through(name: str, n: int) -> dict:
    """Interaction n of a cassette read by a whole Turn (glmchat/chat/turn.py): the message the page draws."""
    it = cassette(name)[n]
    model = load().get(it.request["model"])
    transport, _ = replay(it.body, it.content_type, it.code)
    turn = Turn(model)
    message = conv.assistant_message(model.id, {})
    request = ChatRequest(model=model.id, messages=[{"role": "user", "content": "Olá"}])
    turn.send(Endpoint(CANARY_KEY, BASE, transport), request).adopt(message)
    list(turn.events())
    turn.close()
    return message


# -- the cassettes themselves ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASSETTES)
def test_each_cassette_is_byte_for_byte_the_one_published(name):
    raw = (FANTASY / name).read_bytes()
    assert hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest() == CASSETTES[name]


def test_the_cassettes_carry_no_credential_and_were_all_answered_200():
    for name in CASSETTES:
        raw = (FANTASY / name).read_text(encoding="utf-8").lower()
        assert "authorization" not in raw and "bearer" not in raw and "api-key" not in raw, name
        assert {it.code for it in cassette(name)} == {200}


# -- every recorded reply, through the real SDK into the app -----------------------------------------------


@pytest.mark.parametrize("name, n", STREAMED)
def test_every_recorded_stream_reads_as_its_wire_says(name, n):
    """The app's deltas add up to the text on the wire, split into reasoning and answer as sent; it ends once,
    with the stream's own finish_reason and the usage of its last chunk."""
    wire = on_the_wire(cassette(name)[n].body)
    assert wire.reasoning and wire.content and wire.usage  # every recording has all three
    events, seen = read_recorded(name, n)
    assert texts(events) == (wire.reasoning, wire.content)
    finished = end(events)
    assert isinstance(finished, Finished)
    assert finished.finish_reason == wire.finish_reasons[-1]
    # The SDK's typed usage adds the fields it declares as None (completion_tokens_details): nothing else.
    assert {k: v for k, v in finished.usage.items() if v is not None} == wire.usage
    assert len(seen) == 1 and json.loads(seen[0].content)["stream"] is True
    failure = for_finish_reason(finished.finish_reason)
    if wire.tool_calls:  # a function the app never offered: said as such, never shown as an answer
        assert failure.kind == Kind.TOOL_CALL
    else:
        assert failure is None


@pytest.mark.parametrize("name, n", WHOLE)
def test_every_recorded_whole_reply_parses_through_the_sdk_as_the_app_builds_it(name, n):
    it = cassette(name)[n]
    sent = json.loads(it.body)
    transport, _ = replay(it.body, it.content_type, it.code)
    sdk, http = Endpoint(CANARY_KEY, BASE, transport).client()
    with http:
        body = sdk.chat.completions.create(model=it.request["model"], messages=[{"role": "user", "content": "Olá"}])
    choice, recorded = body.choices[0], sent["choices"][0]
    assert (choice.message.content, choice.message.reasoning_content) == (
        recorded["message"]["content"],
        recorded["message"]["reasoning_content"],
    )
    assert choice.finish_reason == recorded["finish_reason"] and body.id == body.request_id == sent["id"]
    calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls or ()]
    assert calls == [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in recorded["message"].get("tool_calls", ())
    ]
    assert isinstance(body.usage.prompt_tokens_details, dict)  # glm-api.md §13: a dict here, typed in streams
    usage = body.usage.model_dump()
    assert usage["total_tokens"] == sent["usage"]["total_tokens"]
    assert conv.cached_tokens(usage) == sent["usage"]["prompt_tokens_details"]["cached_tokens"]


# -- what the contract quotes, and what the transcripts show that it does not say ------------------------


SEPT_SIMPLE = f"9b87c9e/{COMMON}/simple.yaml"
SEPT_STREAM = f"9b87c9e/{COMMON}/simple_streaming.yaml"
SEPT_TOOL_STREAM = f"9b87c9e/{COMMON}/tool_streaming.yaml"
SEPT_MULTI_TOOL_STREAM = f"9b87c9e/{COMMON}/multi_tool_streaming.yaml"
SEPT_THINKING_STREAM = f"9b87c9e/{THINKING}/thinking-streaming.yaml"
NOV_STREAM = f"6d3217e/{COMMON}/simple_streaming.yaml"
NOV_TOOL_STREAM = f"6d3217e/{COMMON}/tool_streaming.yaml"


def test_the_section_3_capture_is_the_recorded_non_stream_reply():
    sent = json.loads(cassette(SEPT_SIMPLE)[0].body)
    assert sent["id"] == sent["request_id"] == "202509261905381f1d8b98070242a6" and sent["created"] == 1758884739
    message = sent["choices"][0]["message"]
    assert message["content"] == "Olá!" and message["reasoning_content"].startswith("The person is asking me to")
    assert sent["usage"] == {
        "completion_tokens": 100,
        "prompt_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 0},
        "total_tokens": 118,
    }


def test_the_section_4_1_stream_ends_as_a_done_message_with_its_thinking_kept_apart():
    events, _ = read_recorded(SEPT_STREAM, 0)
    deltas = [e for e in events if isinstance(e, Delta)]
    last_thought = max(i for i, d in enumerate(deltas) if d.reasoning)
    assert not any(d.content for d in deltas[: last_thought + 1])  # reasoning first, then the answer
    message = turn_through(SEPT_STREAM, 0)
    assert message["content"] == 'Olá! That\'s "hi" in Portuguese. You can also use "Oi" for a more casual greeting.'
    assert message["reasoning"].startswith('The person is asking me to say "hi" in Portuguese.')
    assert message["reasoning"].endswith('I\'ll also include "Olá" as a slightly more formal alternative.')
    assert (message["status"], message["finish_reason"], message["error"]) == (DONE, "stop", None)
    usage = message["meta"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (18, 202, 220)
    assert conv.cached_tokens(usage) == 0


def test_a_recorded_tool_call_is_said_as_one_and_its_preamble_kept():
    """Without tool_stream the whole call came in one delta, without a role, carrying finish_reason itself;
    the usage chunk followed. The answer before it was two bare newlines."""
    wire = on_the_wire(cassette(SEPT_TOOL_STREAM)[0].body)
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in wire.tool_calls] == [
        ("weather", {"location": "Florence,Italy"})
    ]
    assert wire.finish_reasons == ("tool_calls", "tool_calls")
    message = turn_through(SEPT_TOOL_STREAM, 0)
    assert message["content"] == "\n\n" and message["reasoning"].startswith("The user is asking for the weather")
    assert message["finish_reason"] == "tool_calls" and message["error"]["kind"] == Kind.TOOL_CALL.value
    assert message["status"] == INCOMPLETE  # "\n\n" counts as content: incomplete, not a bare error
    assert message["meta"]["usage"]["completion_tokens"] == 70


def test_two_recorded_tool_calls_in_two_chunks_end_the_reply_once():
    events, _ = read_recorded(SEPT_MULTI_TOOL_STREAM, 0)
    wire = on_the_wire(cassette(SEPT_MULTI_TOOL_STREAM)[0].body)
    assert [c["function"]["name"] for c in wire.tool_calls] == ["add", "multiply"]
    assert wire.finish_reasons == ("tool_calls",) * 3  # each call's chunk, then the usage chunk
    assert texts(events)[1] == "\n\nI'll add and multiply the numbers 2 and 3 for you.\n"
    finished = end(events)
    assert finished.finish_reason == "tool_calls" and finished.usage["total_tokens"] == 460


def test_the_thinking_recording_answers_after_the_tool_result_with_reasoning_apart():
    message = turn_through(SEPT_THINKING_STREAM, 1)
    assert message["reasoning"].startswith('The weather function returned "40 C" for Florence, Italy.')
    assert message["content"] == (
        "\n\nThe current weather in Florence, Italy is 40°C (104°F). That's quite hot! This is a very warm"
        " temperature, so if you're planning to be outdoors, make sure to stay hydrated, wear light clothing,"
        " and seek shade during the hottest parts of the day."
    )
    assert (message["status"], message["finish_reason"]) == (DONE, "stop")


def test_a_recorded_cache_hit_on_the_last_chunk_is_charged_at_the_cached_price():
    """The November recording hit the cache: 178 of 179 prompt tokens (glm-api.md §3/§4 only shows 0)."""
    message = turn_through(NOV_TOOL_STREAM, 0)
    usage = message["meta"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], conv.cached_tokens(usage)) == (179, 77, 178)
    # glm-4.5 under 32K in and 200 out: 2 ¥ input, 0.4 ¥ cached, 8 ¥ output per million.
    assert message["meta"]["cost"] == pytest.approx(((179 - 178) * 2 + 178 * 0.4 + 77 * 8) / 1e6)


def test_the_november_recording_sends_content_chunks_without_reasoning_and_a_mixed_first_chunk():
    """Both shapes are real: September's answer chunks carry "reasoning_content":"", November's do not,
    and November's first chunk has both fields ("content":"" and "reasoning_content":"\n")."""
    sept = [c["choices"][0]["delta"] for c in _chunks(cassette(SEPT_STREAM)[0].body)]
    nov = [c["choices"][0]["delta"] for c in _chunks(cassette(NOV_STREAM)[0].body)]
    assert all("reasoning_content" in d for d in sept if d.get("content"))
    assert not any("reasoning_content" in d for d in nov if d.get("content"))
    assert nov[0] == {"role": "assistant", "content": "", "reasoning_content": "\n"}
    events, _ = read_recorded(NOV_STREAM, 0)
    reasoning, content = texts(events)
    assert reasoning.startswith('\nThe person is asking me to say "hi" in Portuguese.')
    assert content.startswith('Hi in Portuguese is "Olá" or "Oi".')


# -- what no transcript shows: the contract's illustrative or measured examples, hand-written -------------


def test_the_sensitive_tail_ends_as_the_content_filter():
    events, _ = read("glm-4.7-sensitive.sse")
    assert texts(events)[1] == "部分"
    finished = end(events)
    assert finished.finish_reason == "sensitive" and for_finish_reason(finished.finish_reason).kind == Kind.FILTERED


@pytest.mark.parametrize(
    "name, kind, code",
    [
        ("stream-no-done.sse", Kind.CUT, None),  # ends without finish_reason: truncated
        ("stream-error-midway.sse", Kind.POLICY, "1301"),
        ("stream-event-error.sse", Kind.POLICY, "1301"),
        ("stream-malformed.sse", Kind.MALFORMED, None),
    ],
)
def test_each_failure_mode_the_contract_measured_keeps_the_text_and_says_why(name, kind, code):
    events, seen = read(name)
    assert texts(events)[1] == "Olá" and len(seen) == 1  # mid-stream failures are not retried
    outcome = end(events)
    failure = outcome.error if isinstance(outcome, Failed) else for_finish_reason(outcome.finish_reason)
    assert (failure.kind, failure.code) == (kind, code)


def test_chunks_after_done_are_ignored():
    events, _ = read("stream-after-done.sse")
    assert texts(events)[1] == "Olá" and end(events).finish_reason == "stop"


def test_the_error_body_gives_its_code_and_no_retry():
    events, seen = read("error-1214.json", status=400)
    failure = end(events)
    assert isinstance(failure, Failed) and (failure.error.kind, failure.error.code) == (Kind.BAD_PARAM, "1214")
    assert len(seen) == 1


def _shape(value) -> object:
    """The keys of a JSON value, recursively (lists by their first item), without the values."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_the_simulator_streams_in_the_recorded_shape():
    """Where the simulator and a recording overlap, the recording decides: same keys, same nesting, same order."""
    sept = _chunks(cassette(SEPT_STREAM)[0].body)
    nov = _chunks(cassette(NOV_STREAM)[0].body)
    sim = Simulator()
    with httpx.Client(transport=sim.transport()) as http:
        body = {"model": "glm-4.5", "stream": True, "messages": [{"role": "user", "content": "why is the sky blue"}]}
        response = http.post(f"{BASE}/chat/completions", json=body, headers={"Authorization": f"Bearer {CANARY_KEY}"})
    assert response.headers["content-type"] == SSE == cassette(SEPT_STREAM)[0].content_type
    assert response.text.endswith("data: [DONE]\n\n") and cassette(SEPT_STREAM)[0].body.endswith(b"data: [DONE]\n\n")
    simulated = _chunks(response.content)
    deltas = [c["choices"][0]["delta"] for c in simulated]
    reasoning = next(c for c, d in zip(simulated, deltas, strict=True) if d.get("reasoning_content"))
    transition = next(
        c for c, d in zip(simulated, deltas, strict=True) if d.get("content") and "reasoning_content" in d
    )
    content = next(
        c for c, d in zip(simulated, deltas, strict=True) if d.get("content") and "reasoning_content" not in d
    )
    assert list(_shape(reasoning)) == list(_shape(sept[0]))  # id, created, model, choices
    assert _shape(reasoning) == _shape(sept[0])
    assert _shape(transition) == _shape(next(c for c in sept if c["choices"][0]["delta"].get("content")))
    assert _shape(content) == _shape(next(c for c in nov if c["choices"][0]["delta"].get("content")))
    assert _shape(simulated[-1]) == _shape(sept[-1]) == _shape(nov[-1])  # the final chunk, with its usage
    recorded = json.loads(cassette(SEPT_SIMPLE)[0].body)
    with httpx.Client(transport=sim.transport()) as http:
        body["stream"] = False
        response = http.post(f"{BASE}/chat/completions", json=body, headers={"Authorization": f"Bearer {CANARY_KEY}"})
    assert sorted(response.json()) == sorted(recorded)
    assert _shape(response.json()["usage"]) == _shape(recorded["usage"])


# -- facts the contract marks [uncertain]: the app works with every variant it lists ----------------------


@pytest.mark.parametrize("status", [429, 400, 403])
def test_an_account_code_means_the_account_whatever_status_it_comes_with(status):
    """§5.2: 1110-1121 (not 1113) under 429 [uncertain]: the business code decides, not the status."""
    transport = httpx.MockTransport(
        lambda r: httpx.Response(status, json={"error": {"code": "1112", "message": "locked"}})
    )
    request = ChatRequest(model="glm-4.7", messages=[{"role": "user", "content": "hi"}])
    with ReplyStream(Endpoint(CANARY_KEY, BASE, transport), request, backoff=(0.01, 0.01)) as rs:
        while not rs.done:
            events = rs.poll(0.05)
            if events:
                break
    failure = end(events)
    assert isinstance(failure, Failed) and failure.error.kind == Kind.ACCOUNT


@pytest.mark.parametrize("prompt, cached", [(1200, 1024), (300, 1024)])
def test_cached_tokens_inside_or_outside_prompt_tokens_never_cost_less_than_the_cache(prompt, cached):
    """§13: whether prompt_tokens includes cached_tokens is [uncertain] (assumed yes). If not, cached can
    exceed prompt (then prompt_tokens leaves them out): the prompt's tokens are charged at the input price and
    the cached ones at the cached price, and nothing breaks."""
    from glmchat.chat.catalogue import load
    from glmchat.ui.chat_view import usage_line

    model = load().get("glm-4.7")
    cost = model.cost(prompt, 1, cached)
    fresh = prompt - cached if cached <= prompt else prompt
    assert cost == pytest.approx((fresh * 2 + cached * 0.4 + 8) / 1e6)
    usage = {"prompt_tokens": prompt, "completion_tokens": 1, "total_tokens": prompt + 1}
    usage["prompt_tokens_details"] = {"cached_tokens": cached}
    line = usage_line({"status": "done", "meta": {"model": "glm-4.7", "usage": usage, "cost": cost}}, "en")
    assert f"{cached:,} cached" in line and "¥" in line
