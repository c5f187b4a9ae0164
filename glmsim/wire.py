"""The simulator's wire format: what a request gets back, as bytes and timing.

A ``Plan`` is one response: status, headers, the body in parts with the delay before each, a delay before the
headers, and how the body ends (complete, dropped or stalled). Both adapters in ``glmsim.server`` send plans:
the in-process httpx transport and the loopback HTTP server. This module builds them: error bodies
(``{"error":{"code","message"}}`` with the API's own messages), the non-stream completion body, and the SSE
stream (``data: {...}`` events, the reasoning before the content, usage and sources on the last chunk, then
``data: [DONE]``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from glmsim.tokens import CJK

JSON_TYPE = "application/json; charset=UTF-8"
SSE_TYPE = "text/event-stream;charset=UTF-8"

# The API's error messages, by business code.
MSG_1001 = "Header中未收到Authorization参数，无法进行身份验证。"
MSG_1002 = "Authorization Token非法，请确认Authorization Token正确传递。"
MSG_1112 = "当前账号已被锁定，请联系平台客服。"
MSG_1113 = "您的账户已欠费，请充值后重试。"
MSG_1210 = "API 调用参数有误，请检查文档。"
MSG_1211 = "模型不存在，请检查模型代码。"
MSG_1213 = "未正常接收到model参数"
MSG_1261 = "Prompt 超过最大长度限制"
MSG_1301 = "系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语，感谢您的配合。"
MSG_1302 = "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。"
MSG_1305 = "当前API请求过多，请稍后重试。"
HTML_502 = b"<html><body><h1>502 Bad Gateway</h1></body></html>"

# Every character falls in one alternative, so the pieces always concatenate back to the input.
_PIECE_RE = re.compile(rf"[{CJK}]{{1,2}}\s*|[^\s{CJK}]+\s*|\s+")


def split_pieces(text: str) -> list[str]:
    """Streaming pieces: English words with their trailing whitespace, CJK in 1-2 character runs."""
    return _PIECE_RE.findall(text)


@dataclass
class Plan:
    status: int
    headers: dict[str, str]
    parts: list[tuple[float, bytes]] = field(default_factory=list)  # (delay before, bytes)
    pre_delay: float = 0.0  # before the headers; math.inf means never answer ("hang")
    ending: str = ""  # "", "cut" (drop the connection) or "stall" (stop sending)
    sse: bool = False  # counted in open_streams and events

    @classmethod
    def body(cls, status: int, content: bytes, content_type: str, request_id: str | None = None) -> Plan:
        headers = {"content-type": content_type}
        if request_id:
            headers["x-request-id"] = request_id
        return cls(status, headers, [(0.0, content)])

    @classmethod
    def json(cls, status: int, payload: dict, request_id: str | None = None) -> Plan:
        content = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return cls.body(status, content, JSON_TYPE, request_id)

    @classmethod
    def error(cls, status: int, code: str, message: str, request_id: str | None = None) -> Plan:
        return cls.json(status, {"error": {"code": code, "message": message}}, request_id)

    @property
    def simple(self) -> bool:
        return not self.sse and not self.ending and len(self.parts) == 1


@dataclass
class Reply:
    """A composed reply (``glmsim.compose``), before it is framed as a stream or a body."""

    reasoning: list[str]
    content: list[str]
    finish_reason: str | None  # None: the stream just ends (sim:nodone)
    usage: dict | None
    ending: str = ""  # "", "cut", "stall", "streamerror", "malformed"
    web_search: list[dict] | None = None  # results to send, if web search is on
    sources_first: bool = False  # on the first chunk (result_sequence "before"), else on the final one
    tool_calls: list[dict] | None = None  # a function call the model asks for (glm-api.md §14)


def sse(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def stream_plan(reply: Reply, model: str, rid: str, created: int, ttft: float, delay: float) -> Plan:
    """The SSE response: a role chunk, reasoning deltas, content deltas, then the ending the reply asks for."""

    def chunk(delta: dict, finish: str | None = None) -> dict:
        choice: dict = {"index": 0}
        if finish:
            choice["finish_reason"] = finish
        choice["delta"] = delta
        return {"id": rid, "created": created, "model": model, "choices": [choice]}

    first = chunk({"role": "assistant", "content": ""})
    if reply.web_search is not None and reply.sources_first:
        first["web_search"] = reply.web_search
    parts = [(ttft, sse(first))]
    for piece in reply.reasoning:
        parts.append((delay, sse(chunk({"role": "assistant", "reasoning_content": piece}))))
    for i, piece in enumerate(reply.content):
        delta = {"role": "assistant", "content": piece}
        if i == 0 and reply.reasoning:
            delta["reasoning_content"] = ""  # the transition chunk real thinking models send
        parts.append((delay, sse(chunk(delta))))
    plan = Plan(200, {"content-type": SSE_TYPE, "x-request-id": rid}, parts, sse=True)
    if reply.ending in ("cut", "stall"):
        plan.ending = reply.ending
    elif reply.ending == "streamerror":
        parts.append((delay, sse({"error": {"code": "1301", "message": MSG_1301}})))
    elif reply.ending == "malformed":
        parts.append((delay, b"data: {not json\n\n"))
    elif reply.finish_reason:
        if reply.tool_calls:
            # Without tool_stream the whole call comes in one delta, without a role and with the finish
            # reason; a usage chunk with the same reason follows (glm-api.md §4.1, the recorded glm-4.5 streams).
            parts.append((delay, sse(chunk({"tool_calls": reply.tool_calls}, reply.finish_reason))))
        final = chunk({"role": "assistant", "content": ""}, reply.finish_reason)
        if reply.usage:
            final["usage"] = reply.usage
        if reply.web_search is not None and not reply.sources_first:
            final["web_search"] = reply.web_search
        parts += [(delay, sse(final)), (0.0, b"data: [DONE]\n\n")]
    return plan


def completion_plan(req: dict, reply: Reply, model: str, rid: str, created: int, wait: float) -> Plan:
    """The non-stream response: one JSON body after ``wait`` seconds (half of it for a cut or stalled reply)."""
    message: dict = {"content": "".join(reply.content), "role": "assistant"}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    if reply.reasoning:
        message["reasoning_content"] = "".join(reply.reasoning)
    request_id = req.get("request_id") if isinstance(req.get("request_id"), str) else rid
    payload: dict = {
        "choices": [{"finish_reason": reply.finish_reason, "index": 0, "message": message}],
        "created": created,
        "id": rid,
        "model": model,
        "request_id": request_id,
    }
    if reply.usage:
        payload["usage"] = reply.usage
    if reply.web_search is not None:
        payload["web_search"] = reply.web_search
    plan = Plan.json(200, payload, rid)
    plan.pre_delay = wait
    if reply.ending in ("cut", "stall"):
        content = plan.parts[0][1]
        plan.parts, plan.ending = [(0.0, content[: len(content) // 2])], reply.ending
    return plan
