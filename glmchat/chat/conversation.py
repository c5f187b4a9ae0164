"""A conversation as plain data: message records, what is sent to the API, and usage totals."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass

from glmchat.chat import attachments
from glmchat.chat.errors import ChatError
from glmchat.chat.records import Attachment as AttachmentRecord
from glmchat.chat.records import Error, Message, Summary
from glmchat.chat.tokens import message_tokens

# Assistant message statuses.
STREAMING, DONE, STOPPED, INCOMPLETE, ERROR = "streaming", "done", "stopped", "incomplete", "error"


def now() -> float:
    """A message's time ("at"), to the microsecond a database keeps, so that it comes back the same."""
    return round(time.time(), 6)


def user_message(text: str, files: list[attachments.Attachment] = ()) -> Message:
    message: Message = {"id": uuid.uuid4().hex, "role": "user", "content": text, "at": now()}
    if files:
        message["attachments"] = [attachment_record(a) for a in files]
    return message


def attachment_record(a: attachments.Attachment) -> AttachmentRecord:
    """An attachment as JSON-safe data kept with its message (images and document bytes as base64)."""
    return {
        "name": a.name,
        "kind": a.kind,
        "size": a.size,
        "mime": a.mime,
        "width": a.width,
        "height": a.height,
        "note": a.note,
        "tokens": a.tokens,
        "text": a.text,
        "data": base64.b64encode(a.data).decode("ascii"),
    }


def attachment_from_record(r: AttachmentRecord) -> attachments.Attachment:
    return attachments.Attachment(
        name=r["name"],
        kind=r["kind"],
        size=r["size"],
        mime=r["mime"],
        data=base64.b64decode(r["data"]),
        text=r.get("text"),
        width=r.get("width", 0),
        height=r.get("height", 0),
        note=r.get("note", ""),
        tokens=r.get("tokens", 0),
    )


def files_of(message: Message) -> list[attachments.Attachment]:
    return [attachment_from_record(r) for r in message.get("attachments") or ()]


def api_content(message: Message, *, images: bool = True) -> str | list[dict]:
    """What the API gets for one message: documents in front of the text, images as a content array.

    ``images=False`` leaves the images out: the text is then a plain string, as a text model needs.
    Built anew for every request: the SDK rewrites image data URLs inside the lists it is given.
    """
    files = files_of(message)
    if not files:
        return message["content"]
    text = attachments.with_documents(message["content"], [f for f in files if f.kind != "image"])
    pictures = [f for f in files if f.kind == "image"] if images else []
    if not pictures:
        return text
    parts: list[dict] = [{"type": "text", "text": text}] if text.strip() else []
    return parts + [{"type": "image_url", "image_url": {"url": f.data_url()}} for f in pictures]


def assistant_message(model: str, params: dict) -> Message:
    return {
        "id": uuid.uuid4().hex,
        "role": "assistant",
        "content": "",
        "at": now(),
        "reasoning": "",
        "status": STREAMING,
        "error": None,
        "finish_reason": None,
        "meta": {
            "model": model,
            "params": dict(params),
            "usage": None,
            "ttft": None,
            "tps": None,
            "cost": None,
            "attempts": 0,
        },
    }


def error_record(err: ChatError) -> Error:
    return {"kind": err.kind.value, "status": err.status, "code": err.code}


def api_messages(messages: list[Message], system_prompt: str | None) -> list[dict]:
    """The request's messages: the system prompt first, then the turns, never the reasoning."""
    out: list[dict] = []
    if system_prompt and system_prompt.strip():
        out.append({"role": "system", "content": system_prompt})
    for m in messages:
        if m["role"] == "assistant" and not m["content"]:
            continue  # a failed or empty reply carries nothing for the model
        out.append({"role": m["role"], "content": api_content(m)})
    return out


@dataclass
class Plan:
    """What one request sends: the messages, the ids left out for length, and its estimated size."""

    messages: list[dict]
    dropped: list[str]
    tokens: int


def context_use(messages: list[Message], system_prompt: str | None) -> int:
    """Tokens the next request will use: the API's count for the last turn plus estimates for the rest."""
    for i in range(len(messages) - 1, -1, -1):
        meta = messages[i].get("meta") if isinstance(messages[i].get("meta"), dict) else {}
        usage = meta.get("usage") if messages[i]["role"] == "assistant" else None
        if usage and usage.get("prompt_tokens"):
            # That reply's prompt plus the reply itself are the start of the next prompt.
            return (
                int(usage["prompt_tokens"])
                + int(usage.get("completion_tokens") or 0)
                + sum(message_tokens(m) for m in messages[i + 1 :])
            )
    system = [{"content": system_prompt}] if system_prompt and system_prompt.strip() else []
    return sum(message_tokens(m) for m in system + messages)


def plan_request(
    messages: list[Message],
    system_prompt: str | None,
    budget: int,
    summary: Summary | None = None,
    *,
    max_images: int | None = None,
) -> Plan:
    """The request within budget tokens: a summary replaces what it covers, then the oldest turns go.

    The system prompt always stays, and so does the last message. With ``max_images`` (see
    attachments.images_allowed) only the newest messages whose images fit that many keep them: the API refuses
    a content array for a text model and more images than a vision model takes, and a conversation may have
    changed model since its images were sent.
    """
    start = 0
    if summary and summary.get("upto"):
        ids = [m["id"] for m in messages]
        if summary["upto"] in ids:
            start = ids.index(summary["upto"]) + 1
    head = api_messages([], system_prompt)
    if start:
        head.append({"role": "system", "content": summary["text"]})
    body = [m for m in messages[start:] if not (m["role"] == "assistant" and not m["content"])]
    dropped = [m["id"] for m in messages[:start]]
    size = sum(message_tokens(m) for m in head + body)
    while len(body) > 1 and size > budget:
        gone = body.pop(0)
        dropped.append(gone["id"])
        size -= message_tokens(gone)
    # A conversation must not start with an answer.
    while len(body) > 1 and body[0]["role"] == "assistant":
        gone = body.pop(0)
        dropped.append(gone["id"])
        size -= message_tokens(gone)
    room = max_images
    keep_images = set()
    for m in reversed(body):
        count = sum(1 for f in m.get("attachments") or () if f["kind"] == "image")
        if room is None or count <= room:
            keep_images.add(m["id"])
            room = None if room is None else room - count
    sent = [{"role": m["role"], "content": api_content(m, images=m["id"] in keep_images)} for m in body]
    return Plan(head + sent, dropped, size)


def summary_request(messages: list[dict], lang: str) -> list[dict]:
    """The request that asks the model to summarise messages (their text only)."""
    transcript = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages if m["content"])
    ask = (
        "请用简洁的要点总结以下对话，保留事实、决定和未解决的问题，供后续对话作为上下文："
        if lang == "zh"
        else "Summarise the conversation below as concise bullet points, keeping facts, decisions and "
        "open questions, to serve as context for the rest of the conversation:"
    )
    return [{"role": "user", "content": f"{ask}\n\n{transcript}"}]


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


def detail_tokens(usage: object, details: str, name: str) -> int:
    """A count inside usage's `prompt_tokens_details` or `completion_tokens_details`; 0 when absent.

    glm-api.md §13: cached_tokens arrives there on the last chunk (a nested dict once dumped); an imported
    or older record may have anything there.
    """
    inner = usage.get(details) if isinstance(usage, dict) else None
    value = inner.get(name) if isinstance(inner, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def cached_tokens(usage: object) -> int:
    return detail_tokens(usage, "prompt_tokens_details", "cached_tokens")


def reasoning_tokens(usage: object) -> int:
    return detail_tokens(usage, "completion_tokens_details", "reasoning_tokens")


def tokens_per_second(
    completion_tokens: int | None, first_token_at: float | None, finished_at: float | None
) -> float | None:
    """Generation speed from the API's completion token count and the time tokens were arriving."""
    if not completion_tokens or first_token_at is None or finished_at is None:
        return None
    span = finished_at - first_token_at
    return completion_tokens / span if span > 0 else None
