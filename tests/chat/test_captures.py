"""The contract's own examples (tests/fixtures/captures), replayed byte for byte through the real SDK into
the app's client (glmchat/chat/client.py), and the simulator held to their shape where the two overlap."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import zhipuai
from conftest import CANARY_KEY

from glmchat.chat import conversation as conv
from glmchat.chat.client import ChatRequest, Delta, Endpoint, Failed, Finished, ReplyStream
from glmchat.chat.errors import Kind, for_finish_reason
from glmsim.simulator import Simulator

CAPTURES = Path(__file__).parents[1] / "fixtures" / "captures"
SSE = "text/event-stream;charset=UTF-8"
JSON = "application/json; charset=UTF-8"
BASE = "http://captured.local/api/paas/v4"


def replay(name: str, status: int = 200) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport that answers every request with the fixture's exact bytes."""
    body = (CAPTURES / name).read_bytes()
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=body, headers={"content-type": SSE if name.endswith(".sse") else JSON})

    return httpx.MockTransport(answer), seen


def read(name: str, status: int = 200) -> tuple[list, list[httpx.Request]]:
    transport, seen = replay(name, status)
    request = ChatRequest(model="glm-4.5", messages=[{"role": "user", "content": "Olá"}])
    events: list = []
    with ReplyStream(Endpoint(CANARY_KEY, BASE, transport), request, backoff=(0.01, 0.01)) as rs:
        deadline = time.monotonic() + 10
        while not rs.done and time.monotonic() < deadline:
            events += rs.poll(0.05)
    assert rs.done
    return events, seen


def texts(events) -> tuple[str, str]:
    deltas = [e for e in events if isinstance(e, Delta)]
    return "".join(d.reasoning for d in deltas), "".join(d.content for d in deltas)


def end(events):
    ends = [e for e in events if isinstance(e, (Finished, Failed))]
    assert len(ends) == 1, events
    return ends[0]


def test_the_glm_4_5_stream_gives_reasoning_then_the_answer_and_the_last_chunks_usage():
    events, seen = read("glm-4.5-stream.sse")
    assert texts(events) == ("The person greets me.", "Olá!")
    finished = end(events)
    assert isinstance(finished, Finished) and finished.finish_reason == "stop"
    assert finished.usage["prompt_tokens"] == 18 and finished.usage["total_tokens"] == 220
    assert conv.cached_tokens(finished.usage) == 0
    assert len(seen) == 1 and json.loads(seen[0].content)["stream"] is True


def test_the_non_stream_capture_parses_through_the_sdk_with_its_details_as_a_plain_dict():
    transport, _ = replay("glm-4.5-nonstream.json")
    sdk = zhipuai.ZhipuAI(api_key=CANARY_KEY, base_url=BASE, http_client=httpx.Client(transport=transport))
    body = sdk.chat.completions.create(model="glm-4.5", messages=[{"role": "user", "content": "Olá"}])
    assert body.choices[0].message.content == "Olá!" and body.id == body.request_id
    usage = body.usage.model_dump()
    assert isinstance(body.usage.prompt_tokens_details, dict)  # glm-api.md §13: a dict here, typed in streams
    assert conv.cached_tokens(usage) == 0 and usage["completion_tokens"] == 100


def test_a_cache_hit_on_the_last_chunk_is_read_and_charged_at_the_cached_price():
    from glmchat.chat.catalogue import load

    finished = end(read("glm-4.7-cached.sse")[0])
    assert conv.cached_tokens(finished.usage) == 1024
    model = load().get("glm-4.7")
    assert model.cost(1200, 1, 1024) == pytest.approx((176 * 2 + 1024 * 0.4 + 1 * 8) / 1e6)


def test_the_sensitive_tail_ends_as_a_policy_block():
    events, _ = read("glm-4.7-sensitive.sse")
    assert texts(events)[1] == "部分"
    finished = end(events)
    assert finished.finish_reason == "sensitive" and for_finish_reason(finished.finish_reason).kind == Kind.POLICY


def test_a_tool_call_delta_without_a_role_is_read_and_said_not_shown_blank():
    events, _ = read("glm-4.6-tool-call.sse")
    assert texts(events) == ("", "")
    finished = end(events)
    assert finished.finish_reason == "tool_calls" and finished.usage["completion_tokens"] == 12
    assert for_finish_reason(finished.finish_reason).kind == Kind.TOOL_CALL


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


def _chunks(raw: bytes) -> list[dict]:
    return [
        json.loads(line[6:]) for line in raw.decode().split("\n") if line.startswith("data: {") and "[DONE]" not in line
    ]


def test_the_simulator_streams_in_the_captures_shape():
    """Where the simulator and a capture overlap, the capture decides: same keys, same nesting, same order."""
    captured = _chunks((CAPTURES / "glm-4.5-stream.sse").read_bytes())
    sim = Simulator()
    with httpx.Client(transport=sim.transport()) as http:
        body = {"model": "glm-4.5", "stream": True, "messages": [{"role": "user", "content": "why is the sky blue"}]}
        response = http.post(f"{BASE}/chat/completions", json=body, headers={"Authorization": f"Bearer {CANARY_KEY}"})
    assert response.headers["content-type"] == SSE
    assert response.text.endswith("data: [DONE]\n\n")
    simulated = _chunks(response.content)
    reasoning = next(c for c in simulated if c["choices"][0]["delta"].get("reasoning_content"))
    deltas = [c["choices"][0]["delta"] for c in simulated]
    transition = next(
        c for c, d in zip(simulated, deltas, strict=True) if d.get("content") and "reasoning_content" in d
    )
    content = next(
        c for c, d in zip(simulated, deltas, strict=True) if d.get("content") and "reasoning_content" not in d
    )
    assert list(_shape(reasoning)) == list(_shape(captured[0]))  # id, created, model, choices
    assert _shape(reasoning) == _shape(captured[0]) and _shape(content) == _shape(captured[3])
    assert _shape(transition) == _shape(captured[2])  # the chunk where thinking turns into the answer
    assert _shape(simulated[-1]) == _shape(captured[-1])  # the final chunk, with its usage
    non_stream = json.loads((CAPTURES / "glm-4.5-nonstream.json").read_bytes())
    with httpx.Client(transport=sim.transport()) as http:
        body["stream"] = False
        response = http.post(f"{BASE}/chat/completions", json=body, headers={"Authorization": f"Bearer {CANARY_KEY}"})
    assert sorted(response.json()) == sorted(non_stream)
    assert _shape(response.json()["usage"]) == _shape(non_stream["usage"])


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
    exceed prompt; the cost then charges the prompt's tokens at most at the cached price, and nothing breaks."""
    from glmchat.chat.catalogue import load
    from glmchat.ui.chat_view import usage_line

    model = load().get("glm-4.7")
    cost = model.cost(prompt, 1, cached)
    hit = min(prompt, cached)
    assert cost == pytest.approx(((prompt - hit) * 2 + hit * 0.4 + 8) / 1e6)
    usage = {"prompt_tokens": prompt, "completion_tokens": 1, "total_tokens": prompt + 1}
    usage["prompt_tokens_details"] = {"cached_tokens": cached}
    line = usage_line({"status": "done", "meta": {"model": "glm-4.7", "usage": usage, "cost": cost}}, "en")
    assert f"{cached:,} cached" in line and "¥" in line
