"""What the chat reads of an imported conversation, in the shapes the app writes them (glmchat.chat.conversation,
chat_view, sources, state): a wrong shape is refused with its path ("meta.cost must be …"), a key this
version does not read is dropped (nothing unchecked is stored, and a newer version's export still imports).
A key is required where the page reads it without a default (a reply's status, an attachment's data…).

The bounds that belong to the app (its sliders, attachments, web sources and texts) come in a `Shapes`,
which the app builds (glmchat.hosting.inputs.InputLimits.shapes): the store imports none of those modules.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from glmchat.store.codec import ID, MAX_AT, MAX_COST, MAX_MODEL, MAX_TITLE, MAX_TOKENS, clean, is_int

MAX_CONTENT = 1_000_000
MAX_WORD = 64  # kinds, statuses, finish reasons, limit names, scopes, citation keys
MAX_CODE = 200  # an error code
MAX_SECONDS = 10**6  # a reply's time to its first token, a limit's wait
MAX_RATE = 10**9  # tokens per second
MAX_ATTEMPTS = 1000
MAX_ALTERNATIVES = 1000  # earlier answers kept under one reply, in files exported before the tree
MAX_FILE_NAME = 255  # the app keeps 100 characters
MAX_NESTING = 6  # levels in the API's own further usage counts (prompt_tokens_details…)
_STATUSES = frozenset({"streaming", "done", "stopped", "incomplete", "error"})
_FILE_KINDS = frozenset({"image", "text", "extract"})
_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}")

Check = Callable[[Any, str], Any]


@dataclass(frozen=True)
class Shapes:
    """The app's own bounds on what its page reads of a message."""

    temperature: tuple[float, float]  # the sidebar's sliders (glmchat.hosting.offered)
    top_p: tuple[float, float]
    system_chars: int  # a system prompt
    image_bytes: int  # an attachment's size and decoded data (glmchat.chat.attachments)
    image_side: int  # an image's width and height
    source_title: int  # a web search source's title and link, and how many (glmchat.chat.sources)
    source_link: int
    sources: int
    texts: frozenset[str]  # the i18n keys: a limit and an attachment refusal are shown by theirs


# --------------------------------------------------------------------------- values


def _at(what: str, key: object) -> str:
    return f"{what}.{key}" if what else str(key)


def _text(value: object, what: str, limit: int, *, null: bool = False, empty: bool = True) -> str | None:
    if value is None and null:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text" + (" or null" if null else ""))
    if len(value) > limit:
        raise ValueError(f"{what} is too long (at most {limit:,} characters)")
    if not value and not empty:
        raise ValueError(f"{what} is empty")
    # As in the text columns: a lone surrogate cannot go out to the page (a widget raised on one).
    return clean(value)


def _whole(value: object, what: str, low: int, high: int, *, null: bool = False) -> int | None:
    if value is None and null:
        return None
    if not is_int(value) or not low <= value <= high:
        raise ValueError(f"{what} must be a whole number from {low:,} to {high:,}")
    return value


def _figure(value: object, what: str, low: float, high: float) -> int | float | None:
    """A number (not a bool) from low to high, or null; NaN and the infinities are outside every range."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{what} must be a number from {low:,} to {high:,}")
    return value


def _flag(value: object, what: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{what} must be true, false or null")
    return value


def _object(value: object, what: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object")
    return value


def _list(value: object, what: str, limit: int) -> list:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list")
    if len(value) > limit:
        raise ValueError(f"{what} has more than {limit:,} items")
    return value


def _fields(record: dict, checks: dict[str, Check], what: str, required: tuple[str, ...] = ()) -> dict:
    """The record's known keys, each checked, in the record's order; other keys are dropped."""
    for key in required:
        if key not in record:
            raise ValueError(f"{_at(what, key)} is missing")
    return {k: checks[k](v, _at(what, k)) for k, v in record.items() if k in checks}


def _plain(value: object, what: str, depth: int = MAX_NESTING) -> object:
    """JSON of at most `depth` levels with finite numbers, kept as it is."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{what} must be a finite number")
        return value
    if depth > 0 and isinstance(value, list):
        return [_plain(v, what, depth - 1) for v in value]
    if depth > 0 and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {clean(k): _plain(v, _at(what, k), depth - 1) for k, v in value.items()}
    raise ValueError(f"{what} is not plain JSON of at most {MAX_NESTING} levels")


def _word(value: object, what: str) -> str | None:
    return _text(value, what, MAX_WORD, null=True)


def _message_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not ID.fullmatch(value):
        raise ValueError(f"{what} must be 1-64 letters, digits or _.:-")
    return value


def _parent(value: object, what: str) -> str | None:
    return None if value is None else _message_id(value, what)


def _made(value: object, what: str) -> float | None:
    return _figure(value, what, 0, MAX_AT - 1)


def _mime(value: object, what: str) -> str:
    if not isinstance(value, str) or not _MIME.fullmatch(value):
        raise ValueError(f"{what} must be a media type such as image/png")
    return value


def _file_kind(value: object, what: str) -> str:
    if not isinstance(value, str) or value not in _FILE_KINDS:  # a list is not hashable
        raise ValueError(f"{what} must be image, text or extract")
    return value


def _status(value: object, what: str) -> str:
    if not isinstance(value, str) or value not in _STATUSES:
        raise ValueError(f"{what} must be one of {', '.join(sorted(_STATUSES))}")
    # Nothing is writing an imported reply: "streaming" would make the page follow it.
    return "incomplete" if value == "streaming" else value


def _feedback(value: object, what: str) -> int | None:
    if value is not None and (not is_int(value) or value not in (0, 1)):
        raise ValueError(f"{what} must be 0, 1 or null")  # the thumbs widget takes nothing else
    return value


def _checked_usage(value: object, what: str) -> dict | None:
    if value is None:
        return None
    out = {}
    for k, v in _object(value, what).items():
        if k in ("prompt_tokens", "completion_tokens", "total_tokens"):
            out[k] = _whole(v, _at(what, k), 0, MAX_TOKENS, null=True)
        else:  # the API's own further counts (prompt_tokens_details…), as it sent them
            out[_text(k, what + " keys", MAX_WORD)] = _plain(v, _at(what, k))
    return out


_CONTENT: Check = lambda v, w: _text(v, w, MAX_CONTENT)  # noqa: E731


def _checked_summary(value: object, what: str) -> dict | None:
    if value is None:
        return None
    checks: dict[str, Check] = {"text": _CONTENT, "upto": lambda v, w: None if v is None else _message_id(v, w)}
    return _fields(_object(value, what), checks, what, ("text",))


# --------------------------------------------------------------------------- records, in the app's shapes


class Reader:
    """The checks of a message and of a conversation's settings, within one app's Shapes."""

    def __init__(self, shapes: Shapes) -> None:
        self.shapes = s = shapes
        # A reply's parameters, and the same within a conversation's remembered settings.
        self._params: dict[str, Check] = {
            "temperature": lambda v, w: _figure(v, w, *s.temperature),
            "top_p": lambda v, w: _figure(v, w, *s.top_p),
            "max_tokens": lambda v, w: _whole(v, w, 1, MAX_TOKENS, null=True),
            "thinking": _flag,
            "reasoning_effort": _word,
            "web_search": _flag,
        }
        self._attachment: dict[str, Check] = {
            "name": lambda v, w: _text(v, w, MAX_FILE_NAME, empty=False),
            "kind": _file_kind,
            "size": lambda v, w: _whole(v, w, 0, s.image_bytes),
            "mime": _mime,
            "data": self._base64,
            "text": lambda v, w: _text(v, w, MAX_CONTENT, null=True),
            "width": lambda v, w: _whole(v, w, 0, s.image_side),
            "height": lambda v, w: _whole(v, w, 0, s.image_side),
            "note": _word,
            "tokens": lambda v, w: _whole(v, w, 0, MAX_TOKENS),
        }
        self._source: dict[str, Check] = {
            "n": lambda v, w: _whole(v, w, 0, 10**6),
            "title": lambda v, w: _text(v, w, s.source_title),
            "site": lambda v, w: _text(v, w, MAX_FILE_NAME),
            "link": lambda v, w: _text(v, w, s.source_link, null=True),
            "refer": _word,
        }
        self._error: dict[str, Check] = {
            "kind": lambda v, w: _text(v, w, MAX_WORD),
            "status": lambda v, w: _whole(v, w, 0, 999, null=True),
            "code": lambda v, w: _text(v, w, MAX_CODE, null=True),
            "limit": _word,
            "scope": _word,
            "retry_after": lambda v, w: _figure(v, w, 0, MAX_SECONDS),
            "own_key": _flag,
            "key": self._attachment_refusal,
        }
        self._meta: dict[str, Check] = {
            "model": lambda v, w: _text(v, w, MAX_MODEL, null=True),
            "params": lambda v, w: _fields(_object(v, w), self._params, w),
            "usage": _checked_usage,
            "ttft": lambda v, w: _figure(v, w, 0, MAX_SECONDS),
            "tps": lambda v, w: _figure(v, w, 0, MAX_RATE),
            "cost": lambda v, w: _figure(v, w, 0, MAX_COST),
            "attempts": lambda v, w: _whole(v, w, 0, MAX_ATTEMPTS, null=True),
        }
        place: dict[str, Check] = {"parent": _parent, "at": _made}
        self._user: dict[str, Check] = {
            "id": _message_id,
            "role": lambda v, w: v,
            **place,
            "content": _CONTENT,
            "attachments": self._attachments,
        }
        self._reply: dict[str, Check] = {
            "id": _message_id,
            "role": lambda v, w: v,
            **place,
            "content": _CONTENT,
            "reasoning": lambda v, w: _text(v, w, MAX_CONTENT, null=True),
            "status": _status,
            "error": self._checked_error,
            "finish_reason": _word,
            # never null: the page reads meta.get(…)
            "meta": lambda v, w: _fields(_object(v, w), self._meta, w),
            "alternatives": self._alternatives,
            "sources": self._sources,
            "feedback": _feedback,
        }
        self._alternative = {k: v for k, v in self._reply.items() if k != "alternatives"}
        self._settings: dict[str, Check] = {
            **self._params,
            "system_prompt": lambda v, w: _text(v, w, s.system_chars, null=True),
            "preset": lambda v, w: _text(v, w, MAX_TITLE, null=True),
            "summary": _checked_summary,
        }

    def _base64(self, value: object, what: str) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{what} must be base64 text")
        try:
            size = len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):  # ValueError: not ASCII
            raise ValueError(f"{what} is not valid base64") from None
        if size > self.shapes.image_bytes:
            raise ValueError(f"{what} is too large")
        return value

    def _attachment_refusal(self, value: object, what: str) -> str | None:
        if value is not None and (
            not isinstance(value, str) or not value.startswith("attach.") or value not in self.shapes.texts
        ):
            raise ValueError(f"{what} must name an attachment refusal")  # the page shows it by this i18n key
        return value

    def _attachments(self, value: object, what: str) -> list[dict]:
        # Their number is held to the chat's limit before this (ImportRefused, in validate_export).
        return [
            _fields(
                _object(v, f"{what}[{k}]"), self._attachment, f"{what}[{k}]", ("name", "kind", "size", "mime", "data")
            )
            for k, v in enumerate(_list(value, what, 10**4))
        ]

    def _sources(self, value: object, what: str) -> list[dict]:
        return [
            _fields(_object(v, f"{what}[{k}]"), self._source, f"{what}[{k}]")
            for k, v in enumerate(_list(value, what, self.shapes.sources))
        ]

    def _checked_error(self, value: object, what: str) -> dict | None:
        if value is None:
            return None
        error = _fields(_object(value, what), self._error, what, ("kind",))
        if error["kind"] == "limit" and f"limit.{error.get('limit')}" not in self.shapes.texts:
            raise ValueError(f"{_at(what, 'limit')} must name one of the host's limits")  # shown by this i18n key
        return error

    def _alternatives(self, value: object, what: str) -> list[dict]:
        return [
            self.message(v, f"{what}[{k}]", alternative=True)
            for k, v in enumerate(_list(value, what, MAX_ALTERNATIVES))
        ]

    def message(self, message: object, what: str = "", *, alternative: bool = False) -> dict:
        """A message as the app writes it (conversation.user_message / assistant_message and what the chat adds).

        An alternative (an earlier answer kept inside a regenerated one, in files exported before the tree) is a
        reply without alternatives of its own; its id, role and status may be missing.
        """
        if not isinstance(message, dict):
            raise ValueError(f"{what or 'a message'} must be an object")
        role = message.get("role", "assistant" if alternative else None)
        if role != "assistant" and (alternative or role != "user"):
            raise ValueError(f"{_at(what, 'role')} must be " + ("assistant" if alternative else "user or assistant"))
        if alternative:
            if "alternatives" in message:
                raise ValueError(f"{_at(what, 'alternatives')} cannot be nested")
            return _fields(message, self._alternative, what)
        if role == "user":
            return _fields(message, self._user, what, ("id", "content"))
        return _fields(message, self._reply, what, ("id", "content", "status"))

    def settings(self, value: object) -> dict:
        """A conversation's remembered sidebar settings (settings.Settings.conversation_settings)."""
        if value is None:
            return {}
        settings = _fields(_object(value, "settings"), self._settings, "settings")
        for key in ("temperature", "top_p"):
            if is_int(settings.get(key)):
                settings[key] = float(settings[key])  # the sliders hold floats
        return settings


@functools.lru_cache(maxsize=8)
def reader(shapes: Shapes) -> Reader:
    return Reader(shapes)
