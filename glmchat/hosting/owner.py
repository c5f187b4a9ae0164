"""Who owns a conversation: the one rule that decides which saved chats a visitor can see.

Nothing is shared that the host did not name as shared:
- A signed-in user (Streamlit's st.login, with a verified e-mail) owns their chats, keyed by e-mail.
- `shared` mode: one owner, "local", for everyone who opens the URL (the host named it so).
- `personal` mode (the default): the machine's own user (a browser on this machine, not through a proxy)
  is "local"; anyone else is as in byok.
- A visitor's own API key identifies them by a keyed hash (the key itself is never stored).
- A visitor on the host's key (gate mode) gets no saved history, unless the host allows it: per visitor
  (without a login that is the browser session) or, named as such, one history shared by all of them.
"""

from __future__ import annotations

import hashlib
import hmac

from glmchat.hosting.access import BYOK, GATE, HISTORY_OFF, HISTORY_SHARED, PERSONAL, SHARED
from glmchat.hosting.config import KeySource

OWNER_SECRET = "GLMCHAT_OWNER_SECRET"  # optional; otherwise one is created in the database
LOCAL = "local"
HOST = "host"


def _tag(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def owner_id(
    *,
    mode: str,
    secret: str | None,
    login_email: str | None = None,
    key: KeySource | None = None,
    local: bool = False,
    host_key_history: str = HISTORY_OFF,
    session: str | None = None,
) -> str | None:
    """The owner of this visitor's chats, or None when nothing may be saved for them.

    `login_email` must be a verified address; `session` names this browser session, for per-visitor
    history on the host's key without a login.
    """
    if login_email and secret:
        return "user:" + _tag(secret, login_email.strip().lower())
    if mode == SHARED or (mode == PERSONAL and local):
        return LOCAL
    if key is not None and key.origin == "visitor":
        return "key:" + _tag(secret, key.key) if secret else None
    if key is not None and mode == GATE and host_key_history != HISTORY_OFF:
        return HOST if host_key_history == HISTORY_SHARED else (f"session:{session}" if session else None)
    return None


def uses_host_key(mode: str, local: bool) -> bool:
    """Whether this visitor may use the host's key: never in byok; in personal mode only the machine's own user."""
    return mode != BYOK and (mode != PERSONAL or local)
