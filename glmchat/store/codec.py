"""Python values to column values and back: a message dict as its row, the small fields' checks, JSON text,
and one shared string object for the values many loaded rows repeat.

Text columns cannot hold NUL or lone surrogates in PostgreSQL; both backends replace them with U+FFFD in
content, reasoning, titles, status and finish_reason (JSON columns keep them exactly).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from glmchat.store.schema import MAX_OWNER

MAX_TITLE = 200
MAX_MODEL = 200
MAX_LIST = 1000
MAX_JSON = 1_000_000  # settings, meta and error of one message, serialised
# A message's other keys hold its attachments: up to 10 files, each a re-encoded image of up to 5 MB
# (attachments.API_IMAGE_MAX_BYTES) or a 10 MB document, as base64 (4/3 larger), plus extracted text.
MAX_EXTRA_JSON = 160_000_000
MAX_TOKENS = 10**9  # tokens of one message or request: far beyond any model's context window
MAX_COST = 10**6  # ¥ of one message

ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
CID = re.compile(r"[0-9a-f]{32}")
_ABSENT = "\u0000absent"  # extra_json entry listing core keys the saved dict did not have

USER_KEYS = ("id", "role", "content")
ASSISTANT_KEYS = ("id", "role", "content", "reasoning", "status", "error", "finish_reason", "meta")
_CORE = {"user": USER_KEYS, "assistant": ASSISTANT_KEYS}
MESSAGE_VALUE_COLUMNS = (
    "role",
    "content",
    "reasoning",
    "status",
    "error_json",
    "finish_reason",
    "meta_json",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "extra_json",
    "parent",
)
# Kept in columns of their own, whatever the role: the message's parent, and when it was made (created_at).
_PLACE_KEYS = ("parent", "at")
MAX_AT = 10**10  # epoch seconds: year 2286


# --------------------------------------------------------------------------- text and JSON


def clean(text: str) -> str:
    """Text a database column can hold: no NUL, no lone surrogates (both become U+FFFD)."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def dumps(value: object, what: str, limit: int = MAX_JSON) -> str:
    try:
        out = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        raise ValueError(f"{what} is not plain JSON") from None
    try:
        out.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: keep them exactly, as \\u escapes
        out = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    if len(out) > limit:
        raise ValueError(f"{what} is too large")
    return out


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text, object_pairs_hook=_interned_keys)


def _interned_keys(pairs: list) -> dict:
    # A session holds up to LOAD_LIMIT messages, each with its own copies of the same few meta keys.
    return {sys.intern(k): _shared(v) if k == "model" else v for k, v in pairs}


def _shared(value: str | None) -> str | None:
    """One string object for a value many loaded rows repeat (a role, a status, a model id)."""
    return sys.intern(value) if isinstance(value, str) else value


def is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --------------------------------------------------------------------------- messages


def usage_columns(meta: object) -> dict:
    """The v2 usage columns of one assistant message, from its meta dict."""
    cols = {"model": None, "prompt_tokens": None, "completion_tokens": None, "total_tokens": None, "cost": None}
    if not isinstance(meta, dict):
        return cols
    if isinstance(meta.get("model"), str):
        cols["model"] = clean(meta["model"])
    usage = meta.get("usage")
    if isinstance(usage, dict):

        def tokens(name: str) -> int | None:
            v = usage.get(name)
            return v if is_int(v) and 0 <= v <= MAX_TOKENS else None

        prompt, completion, total = tokens("prompt_tokens"), tokens("completion_tokens"), tokens("total_tokens")
        cols["prompt_tokens"] = prompt or 0
        cols["completion_tokens"] = completion or 0
        cols["total_tokens"] = total if total is not None else (prompt or 0) + (completion or 0)
    cost = meta.get("cost")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool) and 0 <= cost <= MAX_COST:
        cols["cost"] = float(cost)
    return cols


def _opt_str(message: dict, key: str) -> str | None:
    v = message.get(key)
    if v is not None and not isinstance(v, str):
        raise ValueError(f"{key} must be text or null")
    return None if v is None else clean(v)


def encode_message(message: object) -> dict:
    """A message dict as column values (raises ValueError for a malformed one)."""
    if not isinstance(message, dict):
        raise ValueError("a message must be an object")
    mid, role, content = message.get("id"), message.get("role"), message.get("content")
    if not isinstance(mid, str) or not ID.fullmatch(mid):
        raise ValueError("message id must be 1-64 letters, digits or _.:-")
    if role not in _CORE:
        raise ValueError("role must be user or assistant")
    if not isinstance(content, str):
        raise ValueError("content must be text")
    row: dict[str, Any] = {
        "id": mid,
        "role": role,
        "content": clean(content),
        "reasoning": None,
        "status": None,
        "error_json": None,
        "finish_reason": None,
        "meta_json": None,
        "extra_json": None,
        **usage_columns(None),
    }
    parent = message.get("parent")
    if parent is not None and (not isinstance(parent, str) or not ID.fullmatch(parent) or parent == mid):
        raise ValueError("parent must be another message's id or null")
    row["parent"] = parent
    message_time(message)  # checked here, written by the caller as created_at
    core = _CORE[role] + _PLACE_KEYS
    if role == "assistant":
        row["reasoning"] = _opt_str(message, "reasoning")
        row["status"] = _opt_str(message, "status")
        row["finish_reason"] = _opt_str(message, "finish_reason")
        error, meta = message.get("error"), message.get("meta")
        if error is not None and not isinstance(error, dict):
            raise ValueError("error must be an object or null")
        if meta is not None and not isinstance(meta, dict):
            raise ValueError("meta must be an object or null")
        if "error" in message:
            row["error_json"] = dumps(error, "error")
        if "meta" in message:
            row["meta_json"] = dumps(meta, "meta")
            row.update(usage_columns(meta))
    extra = {k: v for k, v in message.items() if k not in core}
    if any(not isinstance(k, str) or k == _ABSENT for k in extra):
        raise ValueError("message keys must be text")
    absent = [k for k in core if k not in message]
    if absent:
        extra[_ABSENT] = absent
    if extra:
        row["extra_json"] = dumps(extra, "extra keys", MAX_EXTRA_JSON)
    return row


def message_time(message: dict) -> datetime | None:
    """When the message was made (its "at", epoch seconds), or None when it does not say."""
    at = message.get("at")
    if at is None:
        return None
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not 0 <= at < MAX_AT:
        raise ValueError("at must be a time in seconds since 1970")
    return datetime.fromtimestamp(at, UTC)


def decode_message(r: Any) -> dict:
    extra = json.loads(r.extra_json) if r.extra_json else {}
    absent = set(extra.pop(_ABSENT, ()))
    message: dict[str, Any] = {"id": r.id, "role": _shared(r.role), "content": r.content}
    # Rows written before the tree (version 4) list no absent keys: they get both.
    if "parent" not in absent:
        message["parent"] = r.parent
    if "at" not in absent:
        message["at"] = r.created_at.timestamp()
    if r.role == "assistant":
        for key, value in (
            ("reasoning", r.reasoning),
            ("status", _shared(r.status)),
            ("error", _loads(r.error_json)),
            ("finish_reason", _shared(r.finish_reason)),
            ("meta", _loads(r.meta_json)),
        ):
            if key not in absent:
                message[key] = value
    message.update(extra)
    return message


# --------------------------------------------------------------------------- small fields


def owner_key(owner: object, what: str = "owner") -> str:
    if not isinstance(owner, str) or not owner or len(owner) > MAX_OWNER or owner != clean(owner):
        raise ValueError(f"{what} must be a non-empty string of at most 255 characters")
    return owner


def positive_seconds(value: object, name: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 10**6:
        raise ValueError(f"{name} must be a positive number of seconds")
    return timedelta(seconds=value)


def valid_cid(cid: object) -> bool:
    return isinstance(cid, str) and bool(ID.fullmatch(cid))


def title_text(title: object) -> str:
    if not isinstance(title, str):
        raise ValueError("title must be text")
    return clean(title)[:MAX_TITLE]


def model_text(model: object) -> str:
    if not isinstance(model, str) or len(model) > MAX_MODEL:
        raise ValueError("model must be text of at most 200 characters")
    return clean(model)


def settings_text(settings: object) -> str:
    if settings is None:
        return "{}"
    if not isinstance(settings, dict):
        raise ValueError("settings must be an object")
    return dumps(settings, "settings")


def bounded(value: object, name: str, maximum: int = MAX_LIST) -> int:
    if not is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer")
    return min(value, maximum)
