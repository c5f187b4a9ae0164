"""Limits on what a visitor may send, checked in code when a message is submitted (widgets can be bypassed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import regex

if TYPE_CHECKING:
    from glmchat.store import Shapes

_GRAPHEME = regex.compile(r"\X")
MAX_COUNTED = 1_000_000  # code points; the chat input takes at most 100,000

SETTINGS = {
    "message_chars": "GLMCHAT_MAX_MESSAGE_CHARS",
    "attachments": "GLMCHAT_MAX_ATTACHMENTS",
    "conversation_messages": "GLMCHAT_MAX_CONVERSATION_MESSAGES",
    "conversations": "GLMCHAT_MAX_CONVERSATIONS",
}


def count_chars(text: str) -> int:
    """User-perceived characters (extended grapheme clusters): "你好" is 2, "👨‍👩‍👧" and "🇨🇳" are 1."""
    if text.isascii():
        # In ASCII only CR LF forms a cluster; this skips the regex for large pasted code or logs.
        return len(text) - text.count("\r\n")
    return _GRAPHEME.subn("", text)[1]


@dataclass(frozen=True)
class Refusal:
    """Why a message was refused: an i18n key, the limit and the visitor's actual count."""

    key: str
    limit: int
    actual: int


@dataclass(frozen=True)
class InputLimits:
    """What one visitor may send; the host can lower or raise each limit in settings."""

    message_chars: int = 20_000
    attachments: int = 5  # files on one message
    conversation_messages: int = 1_000  # user and assistant messages in one conversation
    conversations: int = 500  # saved conversations per owner

    @classmethod
    def from_settings(cls, lookup: Callable[[str], object]) -> InputLimits:
        """Limits with the host's overrides; lookup(name) returns a setting's text or None."""
        overrides = {}
        for field, name in SETTINGS.items():
            # str(): a TOML secret may be a number rather than text.
            text = str(value).strip() if (value := lookup(name)) is not None else ""
            if not text:
                continue
            if not (text.isascii() and text.isdigit() and int(text) > 0):
                raise ValueError(f"{name} must be a positive whole number")
            overrides[field] = int(text)
        return cls(**overrides)

    @property
    def shapes(self) -> Shapes:
        """What the chat page reads of a message, within the app's own bounds: an imported export is held
        to these as well as to the limits above (the store checks it, and knows none of these modules)."""
        return message_shapes()


def message_shapes() -> Shapes:
    # Imported here: only an import needs them, and attachments and sources are more than this module needs.
    from glmchat.chat import attachments, sources
    from glmchat.chat.i18n import STRINGS
    from glmchat.hosting import offered
    from glmchat.store import Shapes

    return Shapes(
        temperature=offered.TEMPERATURE,
        top_p=offered.TOP_P,
        system_chars=offered.SYSTEM_CHARS,
        image_bytes=attachments.MAX_IMAGE_BYTES_IN,
        image_side=attachments.API_IMAGE_MAX_SIDE,
        source_title=sources.TITLE_MAX,
        source_link=sources.LINK_MAX,
        sources=sources.SOURCES_MAX,
        texts=frozenset(STRINGS),
    )


def check(
    limits: InputLimits,
    *,
    text: str,
    attachments: int,
    conversation_messages: int,
    new_conversation: bool,
    conversations: int,
) -> Refusal | None:
    """The first limit this message would break, or None if it may be sent.

    conversation_messages and conversations are the counts before this message; a turn adds two
    messages (the question and its reply). The conversation cap only applies when starting a new one.
    """
    # Graphemes never outnumber code points, so a short enough len() needs no counting; a text far beyond
    # anything the widget lets a person type is refused without counting (forged messages, bounded work).
    if len(text) > limits.message_chars:
        chars = len(text) if len(text) > MAX_COUNTED else count_chars(text)
        if chars > limits.message_chars:
            return Refusal("input.too_long", limits.message_chars, chars)
    if attachments > limits.attachments:
        return Refusal("input.too_many_files", limits.attachments, attachments)
    if conversation_messages + 2 > limits.conversation_messages:
        return Refusal("input.conversation_full", limits.conversation_messages, conversation_messages)
    if new_conversation and conversations >= limits.conversations:
        return Refusal("input.too_many_conversations", limits.conversations, conversations)
    return None
