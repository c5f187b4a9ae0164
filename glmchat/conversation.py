"""A conversation as plain data: message records, what is sent to the API, and usage totals."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from glmchat.errors import ChatError

# Assistant message statuses.
STREAMING, DONE, STOPPED, INCOMPLETE, ERROR = "streaming", "done", "stopped", "incomplete", "error"


def user_message(text: str) -> dict:
    return {"id": uuid.uuid4().hex, "role": "user", "content": text}


def assistant_message(model: str, params: dict) -> dict:
    return {"id": uuid.uuid4().hex, "role": "assistant", "content": "", "reasoning": "",
            "status": STREAMING, "error": None, "finish_reason": None,
            "meta": {"model": model, "params": dict(params), "usage": None,
                     "ttft": None, "tps": None, "cost": None, "attempts": 0}}


def error_record(err: ChatError) -> dict:
    return {"kind": err.kind.value, "status": err.status, "code": err.code}


def api_messages(messages: list[dict], system_prompt: str | None) -> list[dict]:
    """The request's messages: the system prompt first, then the turns, never the reasoning."""
    out: list[dict] = []
    if system_prompt and system_prompt.strip():
        out.append({"role": "system", "content": system_prompt})
    for m in messages:
        if m["role"] == "assistant" and not m["content"]:
            continue  # a failed or empty reply carries nothing for the model
        out.append({"role": m["role"], "content": m["content"]})
    return out


def retry_target(messages: list[dict]) -> list[dict] | None:
    """The conversation to resend for Retry: up to the last user message, or None if there is none."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "user":
            return messages[: i + 1]
    return None


@dataclass
class Totals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    def add(self, usage: dict | None, cost: float | None) -> None:
        self.requests += 1
        if usage:
            self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.completion_tokens += int(usage.get("completion_tokens") or 0)
        if cost:
            self.cost += cost


def tokens_per_second(completion_tokens: int | None, first_token_at: float | None,
                      finished_at: float | None) -> float | None:
    """Generation speed from the API's completion token count and the time tokens were arriving."""
    if not completion_tokens or first_token_at is None or finished_at is None:
        return None
    span = finished_at - first_token_at
    return completion_tokens / span if span > 0 else None
