"""Who may use the app, and with which key: the access mode a host chooses in secrets.

| mode       | API key used                                   | who gets in                                   |
|------------|------------------------------------------------|-----------------------------------------------|
| personal   | the host's for the machine's own browser;      | everyone; visitors from elsewhere are as in   |
| (default)  | anyone else only their own                     | byok (their own key and history, or the demo) |
| shared     | the host's, else the visitor's                 | everyone, all sharing one history (explicit)  |
| byok       | the visitor's own only; the host's never       | everyone, on their own key or the demo        |
| gate       | the host's, after a gate (own key if allowed)  | st.login users on the allow-list, or holders  |
|            |                                                | of the shared access password                 |

No Streamlit here: callers pass settings through `lookup(name) -> str | None`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

PERSONAL, SHARED, BYOK, GATE = "personal", "shared", "byok", "gate"
MODES = (PERSONAL, SHARED, BYOK, GATE)

MODE = "GLMCHAT_ACCESS_MODE"
PASSWORD_HASH = "GLMCHAT_ACCESS_PASSWORD_HASH"
ALLOWED_EMAILS = "GLMCHAT_ALLOWED_EMAILS"  # "ann@example.com, @example.org": addresses and @domains
ALLOW_OWN_KEY = "GLMCHAT_ALLOW_OWN_KEY"  # gate mode: visitors may switch to their own key
BEHIND_PROXY = "GLMCHAT_BEHIND_PROXY"  # trust the proxy's X-Real-IP to tell clients apart
HOST_KEY_HISTORY = "GLMCHAT_HOST_KEY_HISTORY"  # gate mode: history for visitors on the host's key
ADMIN_EMAILS = "GLMCHAT_ADMIN_EMAILS"  # signed-in users who see the host key's totals
SHARE_LINKS = "GLMCHAT_SHARE_LINKS"  # read-only links to a conversation: off, admitted or anyone
SHARE_OFF, SHARE_ADMITTED, SHARE_ANYONE = "off", "admitted", "anyone"
# GLMCHAT_HOST_KEY_HISTORY values: nothing saved, each visitor their own, or one history for all of them.
HISTORY_OFF, HISTORY_PER_VISITOR, HISTORY_SHARED = "off", "per-visitor", "shared"
_HISTORY_VALUES = {
    "": HISTORY_OFF,
    "0": HISTORY_OFF,
    "false": HISTORY_OFF,
    "no": HISTORY_OFF,
    "off": HISTORY_OFF,
    "1": HISTORY_PER_VISITOR,
    "true": HISTORY_PER_VISITOR,
    "yes": HISTORY_PER_VISITOR,
    "on": HISTORY_PER_VISITOR,
    "per-visitor": HISTORY_PER_VISITOR,
    "shared": HISTORY_SHARED,
}

Lookup = Callable[[str], "str | None"]


class ConfigError(Exception):
    """The access settings are wrong; the app refuses to serve rather than guess (fail closed)."""


def flag(lookup: Lookup, name: str) -> bool:
    return (lookup(name) or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Access:
    mode: str
    password_hash: str | None
    allowed: tuple[str, ...]  # lower-case addresses and "@domain" entries; empty = any signed-in user
    own_key: bool  # the sidebar offers a key field
    login: bool  # Streamlit's OIDC login is configured ([auth] in secrets)
    behind_proxy: bool
    host_key_history: str = HISTORY_OFF  # one of HISTORY_OFF, HISTORY_PER_VISITOR, HISTORY_SHARED
    admins: tuple[str, ...] = ()  # like `allowed`; who else sees the host key's totals
    share_links: str = SHARE_OFF  # who may open a share link (no link exists unless the host says)

    @classmethod
    def from_settings(cls, lookup: Lookup, secrets: Mapping[str, object]) -> Access:
        mode = (lookup(MODE) or PERSONAL).strip().lower()
        if mode not in MODES:
            raise ConfigError(f"{MODE} must be one of {', '.join(MODES)}")
        login = "auth" in secrets
        password_hash = (lookup(PASSWORD_HASH) or "").strip() or None
        if mode == GATE and not login and password_hash is None:
            raise ConfigError(f"gate mode needs [auth] (st.login) or {PASSWORD_HASH} in secrets")
        history = (lookup(HOST_KEY_HISTORY) or "").strip().lower()
        if history not in _HISTORY_VALUES:
            raise ConfigError(f"{HOST_KEY_HISTORY} must be true (per visitor), shared or false")
        own_key = mode != GATE or flag(lookup, ALLOW_OWN_KEY)
        shares = (lookup(SHARE_LINKS) or SHARE_OFF).strip().lower()
        if shares not in (SHARE_OFF, SHARE_ADMITTED, SHARE_ANYONE):
            raise ConfigError(f"{SHARE_LINKS} must be off, admitted or anyone")
        return cls(
            mode,
            password_hash,
            _emails(lookup(ALLOWED_EMAILS)),
            own_key,
            login,
            flag(lookup, BEHIND_PROXY),
            _HISTORY_VALUES[history],
            _emails(lookup(ADMIN_EMAILS)),
            shares,
        )

    def email_allowed(self, email: str | None) -> bool:
        """A signed-in e-mail passes the gate if the allow-list is empty or names it or its domain."""
        return _listed(email, self.allowed, empty_means_all=True)

    def is_admin(self, email: str | None) -> bool:
        """Whether a signed-in e-mail is on GLMCHAT_ADMIN_EMAILS (an empty list names nobody)."""
        return _listed(email, self.admins, empty_means_all=False)


def _emails(text: str | None) -> tuple[str, ...]:
    """ "ann@example.com; @corp.cn bob@x.org" -> lower-case addresses and "@domain" entries."""
    return tuple(
        e for e in (p.strip().lower() for p in (text or "").replace(";", ",").replace(" ", ",").split(",")) if e
    )


def _listed(email: str | None, entries: tuple[str, ...], *, empty_means_all: bool) -> bool:
    if not email or "@" not in email:
        return False
    email = email.strip().lower()
    if not entries:
        return empty_means_all
    return email in entries or "@" + email.rsplit("@", 1)[1] in entries


# Headers a proxy, tunnel or hosting front end adds: a request that carries one did not come straight
# from a browser on this machine, whatever its peer address.
_FORWARDING = (
    "x-forwarded-for",
    "x-real-ip",
    "forwarded",
    "x-forwarded-host",
    "x-forwarded-proto",
    "via",
    "x-forwarded-server",
    "cf-connecting-ip",
    "true-client-ip",
    "x-client-ip",
    "fastly-client-ip",
    "x-original-forwarded-for",
    "x-envoy-external-address",
)
# uvicorn (Streamlit's server) replaces a loopback peer's address with X-Forwarded-For's unless told not
# to, so without a declared proxy every such request counts as this one client: forging the header
# then buys no fresh throttle or budget.
UNDECLARED_PROXY = "undeclared-proxy"


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()}


def _loopback_ip(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.strip("[]")).is_loopback
    except ValueError:
        return False


def _loopback_host(host: str | None) -> bool:
    """Whether a Host header or URL host names this machine by a loopback name or address."""
    if not host:
        return False
    name = (urlsplit(f"//{host}").hostname or "").lower()
    return name == "localhost" or name.endswith(".localhost") or _loopback_ip(name)


def client_address(remote_ip: str | None, headers: Mapping[str, str], behind_proxy: bool) -> str:
    """The visitor's address for throttling and per-visitor limits.

    X-Real-IP is trusted only when the host says a proxy sets it; otherwise anyone could forge it.
    """
    lower = _lower(headers)
    if behind_proxy:
        forwarded = (lower.get("x-real-ip") or "").strip()
        if forwarded:
            return forwarded
    elif "x-forwarded-for" in lower:
        return UNDECLARED_PROXY
    return remote_ip if isinstance(remote_ip, str) and remote_ip else "local"


def is_local(remote_ip: str | None, headers: Mapping[str, str]) -> bool:
    """Whether the visitor is a browser on this machine that reached the app directly: the machine's own user.

    `remote_ip` is st.context.ip_address (None for 127.0.0.1 and ::1). A proxy, tunnel or hosting front end
    on this machine also connects from loopback, so a request must also name a loopback host and origin
    and carry no forwarding header. No headers at all means no network connection (AppTest).
    """
    if not headers:
        return True
    if remote_ip and not _loopback_ip(remote_ip):
        return False
    lower = _lower(headers)
    if any(name in lower for name in _FORWARDING):
        return False
    origin = lower.get("origin")
    if origin is not None and not _loopback_host(urlsplit(origin).netloc):
        return False
    return _loopback_host(lower.get("host"))


def tag(secret: str, kind: str, value: str) -> str:
    """A short keyed hash: an id that names a visitor without revealing their address or e-mail."""
    return f"{kind}:" + hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:24]
