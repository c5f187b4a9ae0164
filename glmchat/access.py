"""Who may use the app, and with which key: the access mode a host chooses in secrets.

| mode       | API key used                                   | who gets in                                   |
|------------|------------------------------------------------|-----------------------------------------------|
| personal   | the host's (secrets/env), else the visitor's   | everyone (a local, single-user run)           |
| byok       | the visitor's own only; the host's never       | everyone, on their own key or the demo        |
| gate       | the host's, after a gate (own key if allowed)  | st.login users on the allow-list, or holders  |
|            |                                                | of the shared access password                 |

No Streamlit here: callers pass settings through `lookup(name) -> str | None`.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

PERSONAL, BYOK, GATE = "personal", "byok", "gate"
MODES = (PERSONAL, BYOK, GATE)

MODE = "GLMCHAT_ACCESS_MODE"
PASSWORD_HASH = "GLMCHAT_ACCESS_PASSWORD_HASH"
ALLOWED_EMAILS = "GLMCHAT_ALLOWED_EMAILS"      # "ann@example.com, @example.org": addresses and @domains
ALLOW_OWN_KEY = "GLMCHAT_ALLOW_OWN_KEY"        # gate mode: visitors may switch to their own key
BEHIND_PROXY = "GLMCHAT_BEHIND_PROXY"          # trust the proxy's X-Real-IP to tell clients apart

Lookup = Callable[[str], "str | None"]


class ConfigError(Exception):
    """The access settings are wrong; the app refuses to serve rather than guess (fail closed)."""


def flag(lookup: Lookup, name: str) -> bool:
    return (lookup(name) or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Access:
    mode: str
    password_hash: str | None
    allowed: tuple[str, ...]     # lower-case addresses and "@domain" entries; empty = any signed-in user
    own_key: bool                # the sidebar offers a key field
    login: bool                  # Streamlit's OIDC login is configured ([auth] in secrets)
    behind_proxy: bool

    @classmethod
    def from_settings(cls, lookup: Lookup, secrets: Mapping[str, object]) -> Access:
        mode = (lookup(MODE) or PERSONAL).strip().lower()
        if mode not in MODES:
            raise ConfigError(f"{MODE} must be one of {', '.join(MODES)}")
        login = "auth" in secrets
        password_hash = (lookup(PASSWORD_HASH) or "").strip() or None
        if mode == GATE and not login and password_hash is None:
            raise ConfigError(f"gate mode needs [auth] (st.login) or {PASSWORD_HASH} in secrets")
        allowed = tuple(e for e in (p.strip().lower() for p in (lookup(ALLOWED_EMAILS) or "").replace(";", ",")
                                    .replace(" ", ",").split(",")) if e)
        own_key = mode != GATE or flag(lookup, ALLOW_OWN_KEY)
        return cls(mode, password_hash, allowed, own_key, login, flag(lookup, BEHIND_PROXY))

    def uses_host_key(self) -> bool:
        return self.mode != BYOK

    def email_allowed(self, email: str | None) -> bool:
        """A signed-in e-mail passes the gate if the allow-list is empty or names it or its domain."""
        if not email or "@" not in email:
            return False
        email = email.strip().lower()
        if not self.allowed:
            return True
        return email in self.allowed or "@" + email.rsplit("@", 1)[1] in self.allowed


def client_address(remote_ip: str | None, headers: Mapping[str, str], behind_proxy: bool) -> str:
    """The visitor's address for throttling and per-visitor limits.

    X-Real-IP is trusted only when the host says a proxy sets it; otherwise anyone could forge it.
    """
    if behind_proxy:
        lower = {str(k).lower(): v for k, v in headers.items()}
        forwarded = str(lower.get("x-real-ip") or "").strip()
        if forwarded:
            return forwarded
    return remote_ip if isinstance(remote_ip, str) and remote_ip else "local"


def tag(secret: str, kind: str, value: str) -> str:
    """A short keyed hash: an id that names a visitor without revealing their address or e-mail."""
    return f"{kind}:" + hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:24]
