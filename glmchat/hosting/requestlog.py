"""One structured log line per model request: what happened and how long it took, never the key.

The prompt and reply are logged only when the host sets GLMCHAT_LOG_CONTENT.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

LOG_CONTENT = "GLMCHAT_LOG_CONTENT"
STATUSES = ("ok", "error", "stopped", "refused")

# JSON leaves these raw, yet log viewers and str.splitlines() treat them as line breaks or terminal codes.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass
class RequestRecord:
    """What one request did. Deliberately has no field for the API key."""

    request_id: str
    model: str
    status: str  # one of STATUSES
    attempts: int
    duration_ms: int
    code: str | None = None  # the API's business code or the error kind
    http_status: int | None = None
    latency_ms: int | None = None  # until the first token
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    owner_tag: str | None = None  # short and not reversible to the owner
    prompt: str | None = field(default=None, repr=False)  # user content stays out of reprs and tracebacks
    reply: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")


def _line(record: RequestRecord, include_text: bool) -> str:
    data = {
        "request_id": record.request_id,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "model": record.model,
        "status": record.status,
        "code": record.code,
        "http_status": record.http_status,
        "attempts": record.attempts,
        "latency_ms": record.latency_ms,
        "duration_ms": record.duration_ms,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "owner_tag": record.owner_tag,
    }
    if include_text:
        data["prompt"] = record.prompt
        data["reply"] = record.reply
    # ensure_ascii=False keeps Chinese readable; the few separators JSON leaves raw are escaped after.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


REQUESTS = logging.getLogger("glmchat.requests")


def log_request(record: RequestRecord, logger: logging.Logger = REQUESTS, include_text: bool = False) -> None:
    """Log `request {json}` on one line; prompt and reply only when include_text is True."""
    logger.info("request %s", _line(record, include_text))


def include_text_from(lookup: Callable[[str], object]) -> bool:
    """Whether the host asked for prompts and replies in the log (GLMCHAT_LOG_CONTENT)."""
    return str(lookup(LOG_CONTENT) or "").strip().lower() in ("true", "1", "yes", "on")
