"""Who owns a conversation: the one rule that decides which saved chats a visitor can see.

- A signed-in user (Streamlit's st.login) owns their chats, keyed by e-mail.
- Personal mode (the default: a local, single-user run) has one owner, "local", who sees every chat.
- byok and gate modes (glmchat/access.py) without login: a visitor's own API key identifies them by a
  keyed hash (the key itself is never stored). A visitor on the host's key gets no saved history
  unless the host allows it.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from glmchat.config import KeySource, lookup

HOST_KEY_HISTORY = "GLMCHAT_HOST_KEY_HISTORY"  # "true": visitors on the host's key share one history
OWNER_SECRET = "GLMCHAT_OWNER_SECRET"        # optional; otherwise one is created in the database
LOCAL = "local"
HOST = "host"


def host_key_history(secrets: Mapping[str, object]) -> bool:
    return (lookup(HOST_KEY_HISTORY, secrets) or "").lower() in ("1", "true", "yes", "on")


def _tag(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def owner_id(*, mode: str, secret: str | None, login_email: str | None = None,
             key: KeySource | None = None, host_key_history: bool = False) -> str | None:
    """The owner of this visitor's chats, or None when nothing may be saved for them."""
    if login_email and secret:
        return "user:" + _tag(secret, login_email.strip().lower())
    if mode == "personal":
        return LOCAL
    if key is not None and key.origin == "visitor" and secret:
        return "key:" + _tag(secret, key.key)
    if key is not None and key.origin != "visitor" and host_key_history:
        return HOST
    return None
