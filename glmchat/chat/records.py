"""The shapes of a conversation's records, as they are kept in session state, saved and exported.

Messages stay plain dicts at run time (they are JSON on disk and in exports, and the store checks them
field by field: glmchat/store/shapes.py); these TypedDicts name every key, so a reader and a type checker
can follow `message["meta"]["usage"]["prompt_tokens"]` to what writes it.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

Status = Literal["streaming", "done", "stopped", "incomplete", "error"]


class Usage(TypedDict, total=False):
    """The API's own token counts for one reply (the last stream chunk's `usage`)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: dict  # e.g. {"cached_tokens": n}, as the API sent it
    completion_tokens_details: dict | None


class Meta(TypedDict):
    """How a reply was made and what it cost (glmchat/chat/turn.py fills it when the reply ends)."""

    model: str
    params: dict  # temperature, top_p, max_tokens, thinking, web_search as sent
    usage: Usage | None
    ttft: float | None  # seconds from the request to the first token
    tps: float | None  # completion tokens per second
    cost: float | None  # ¥, from the catalogue's prices; None when the price is unknown
    attempts: int


class Error(TypedDict, total=False):
    """Why a reply failed or was not sent."""

    kind: str  # glmchat.chat.errors.Kind, "limit" or "attachment"
    status: int | None  # HTTP status
    code: str | None  # the API's business code
    key: str  # an attachment refusal's i18n key
    limit: str  # a reached limit: rpm, tokens_day, cny_day, streams, unavailable, unpriced
    scope: str  # "app" or "visitor"
    retry_after: float | None
    own_key: bool  # the visitor's own key would go on


class Attachment(TypedDict):
    """A file kept with its user message; the bytes as base64."""

    name: str
    kind: Literal["image", "text", "extract"]
    size: int  # of the original upload
    mime: str
    width: int
    height: int
    note: NotRequired[str]  # images: one of attachments.NOTES when not sent as they came (older records: absent)
    tokens: int
    text: str | None  # decoded or extracted text (documents)
    data: str


class Source(TypedDict):
    """One web search result the answer may cite (glmchat/chat/sources.py, to_record)."""

    n: int  # its number in the answer's [n] citations
    title: str
    site: str
    link: str
    refer: str


class Message(TypedDict):
    """A user message or an assistant reply."""

    id: str
    role: Literal["user", "assistant"]
    content: str
    parent: NotRequired[str | None]  # the message it follows or answers (glmchat/store/tree.py)
    at: NotRequired[float]  # when it was made, in seconds since 1970
    attachments: NotRequired[list[Attachment]]  # user messages
    reasoning: NotRequired[str]  # replies, from here on
    status: NotRequired[Status]
    error: NotRequired[Error | None]
    finish_reason: NotRequired[str | None]
    meta: NotRequired[Meta]
    sources: NotRequired[list[Source]]
    feedback: NotRequired[int | None]  # 1 thumbs up, 0 thumbs down


class Summary(TypedDict):
    """A summary that replaces older messages in requests."""

    text: str
    upto: str  # the id of the last message it covers
