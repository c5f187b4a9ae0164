"""Who is visiting and under which of the host's rules: worked out once per run and handed down.

The secrets, the access rules, the limits, whether this is the machine's own user, the signed-in e-mail,
the API key in use and the owner of the visitor's chats used to be recomputed wherever one was needed
(the owner alone in eight places, each re-reading secrets). app.py builds one `Visit` at the start of a
run (`begin`) and pages read it (`current`); a callback or a fragment's own rerun, which run outside
app.py's body, build their own.
"""

from __future__ import annotations

import functools
import os
import secrets as _secrets
import threading
from dataclasses import dataclass

import streamlit as st

from glmchat.chat import attachments
from glmchat.chat import settings as settings_
from glmchat.chat.catalogue import Catalogue, load
from glmchat.hosting import access as access_
from glmchat.hosting import config, inputs, requestlog
from glmchat.hosting import limits as limits_
from glmchat.hosting import owner as owners
from glmchat.hosting.config import KeySource
from glmchat.store import MAX_IMPORT_MB, ResilientStore
from glmchat.ui import state
from glmchat.ui import streamlit_internals as internals
from glmchat.ui.streamlit_internals import UploadBudget

_run = threading.local()  # the Visit app.py built for the run going on in this (script) thread


def secrets() -> dict:
    """Streamlit secrets as a plain mapping; empty when the app has no secrets file."""
    # Without any secrets file, every st.secrets read rescans the paths under one process-wide lock and
    # raises; 10 sessions sending at once queued on that lock. Secrets already parsed (a file was read,
    # or AppTest set them) are read as before.
    if not internals.secrets_parsed() and not any(os.path.exists(path) for path in st.get_option("secrets.files")):
        return {}
    try:
        return {k: v for k, v in st.secrets.items()}
    except Exception:  # noqa: BLE001 - no secrets.toml, or an unreadable one, means no secrets
        return {}


def rules(secret_values: dict | None = None) -> access_.Access:
    """The host's access settings; ConfigError when they are wrong (the app then refuses to serve)."""
    values = secrets() if secret_values is None else secret_values
    return access_.Access.from_settings(lambda name: config.lookup(name, values), values)


def login_email() -> str | None:
    """The signed-in user's e-mail, only when their provider says it is verified.

    An unverified address could be anyone's (a provider that lets people claim any address), so it
    names nobody: it neither passes an allow-list nor owns chats.
    """
    if not getattr(st.user, "is_logged_in", False) or st.user.get("email_verified") is not True:
        return None
    email = st.user.get("email")
    return email if isinstance(email, str) and email.strip() else None


@dataclass(frozen=True)
class Visit:
    """This visitor and the host's rules for this run; the key is never kept in session state."""

    secrets: dict
    rules: access_.Access
    local: bool  # the machine's own user (access.is_local)
    email: str | None  # signed in, with a verified address
    key: KeySource | None  # the API key in use: the host's, the visitor's own, or none (the demo)
    client: str  # the network address, for throttling (access.client_address)
    store: ResilientStore
    session_tag: str  # names this browser session (per-visitor history without a login)

    def check(self) -> None:
        """Raise ValueError naming the first wrong limit setting."""
        _ = self.limits, self.input_limits

    def lookup(self, name: str) -> str | None:
        return config.lookup(name, self.secrets)

    @functools.cached_property
    def base_url(self) -> str | None:
        return config.base_url(self.secrets)

    @functools.cached_property
    def limits(self) -> limits_.Limits:
        """The host's spending limits; ValueError on a wrong setting (the app refuses to serve)."""
        return limits_.Limits.from_settings(self.lookup)

    @functools.cached_property
    def input_limits(self) -> inputs.InputLimits:
        return inputs.InputLimits.from_settings(self.lookup)

    @functools.cached_property
    def log_content(self) -> bool:
        return requestlog.include_text_from(self.lookup)

    @functools.cached_property
    def owner_secret(self) -> str | None:
        secret = self.lookup(owners.OWNER_SECRET)
        if secret is None:
            # Shared by every replica through the database; without it nobody can be told apart.
            secret = self.store.set_meta_if_absent("owner_secret", _secrets.token_hex(32))
        return secret

    @functools.cached_property
    def owner(self) -> str | None:
        """The owner of this visitor's chats (glmchat/hosting/owner.py), or None when nothing may be saved."""
        if self.email is None and (
            self.rules.mode == access_.SHARED or (self.rules.mode == access_.PERSONAL and self.local)
        ):
            return owners.LOCAL  # no database read for the machine's own user
        return owners.owner_id(
            mode=self.rules.mode,
            secret=self.owner_secret,
            login_email=self.email,
            key=self.key,
            local=self.local,
            host_key_history=self.rules.host_key_history,
            session=self.session_tag,
        )

    def client_tag(self) -> str:
        """The visitor's address as a keyed tag: no raw address goes into the database."""
        return access_.tag(self.owner_secret or "", "ip", self.client)

    def visitor_tag(self) -> str:
        """Whom per-visitor limits count against: the signed-in user, else the network address."""
        if self.email:
            return access_.tag(self.owner_secret or "", "user", self.email.lower())
        return self.client_tag()

    def admitted(self) -> bool:
        """Whether this session may use the app: always, except in gate mode before the gate is passed."""
        if self.rules.mode != access_.GATE:
            return True
        return (self.rules.login and self.rules.email_allowed(self.email)) or state.gate_passed()

    def sees_host_usage(self) -> bool:
        """Whether this visitor may see the host key's totals: the host named them (or everyone, in shared mode)."""
        return self.rules.mode == access_.SHARED or self.local or self.rules.is_admin(self.email)

    def upload_budget(self) -> UploadBudget:
        """What one session may hold in uploads: a message's files plus an import file, each at most 20 MB."""
        files = self.input_limits.attachments + 1
        per_file = max(attachments.MAX_IMAGE_BYTES_IN, attachments.MAX_DOC_BYTES, MAX_IMPORT_MB * attachments.MB)
        return UploadBudget(files=files, bytes=files * per_file, file_bytes=per_file)

    def settings(self, catalogue: Catalogue | None = None) -> settings_.Settings:
        """The model and parameters the widgets hold now, checked against what they offer."""
        return settings_.checked(
            state.widgets(),
            catalogue or load(),
            lang=state.lang(),
            key=self.key,
            base_url=self.base_url,
            custom_allowed=settings_.custom_models_allowed(self.rules.mode, self.local, self.key),
        )

    def reserve(self, current: settings_.Settings):
        """Count a request against the host's limits before it is sent; only the host's key is limited."""
        from glmchat.hosting.quota import Ticket

        if current.model.offline or current.key is None or current.key.origin == "visitor":
            return None, None
        configured = self.limits
        if not configured.active:
            return None, None
        if current.model.price_in is None and (configured.cny_day or configured.visitor_cny_day):
            return None, limits_.UNPRICED
        request_id, refusal = self.store.reserve_request(self.visitor_tag(), current.model.id, configured)
        return (Ticket(self.store, request_id) if request_id else None), refusal


def _key(values: dict, found: access_.Access, local: bool) -> KeySource | None:
    """The key for this visitor under the access mode: byok, and personal mode for visitors from elsewhere,
    never use the host's key."""
    visitor_key = state.visitor_key()
    if not owners.uses_host_key(found.mode, local):
        return config.find_key({}, visitor_key, environ={})
    if found.mode == access_.GATE:
        # A visitor allowed to bring their own key (e.g. once the host's limit is reached) uses it first.
        own = config.find_key({}, visitor_key, environ={}) if found.own_key else None
        return own or config.find_key(values, None)
    return config.find_key(values, visitor_key)


def build() -> Visit:
    """Work this run's Visit out from secrets, the environment, the connection and session state."""
    values = secrets()
    found = rules(values)
    local = access_.is_local(st.context.ip_address, st.context.headers)
    return Visit(
        secrets=values,
        rules=found,
        local=local,
        email=login_email(),
        key=_key(values, found, local),
        client=access_.client_address(st.context.ip_address, st.context.headers, found.behind_proxy),
        store=state.store(lambda: config.lookup(config.DATABASE_URL_NAME, values)),
        session_tag=state.session_tag(),
    )


def begin() -> Visit:
    """Build this run's Visit and keep it for the run's pages (app.py, at the start of a run)."""
    _run.visit = build()
    return _run.visit


def end() -> None:
    """Forget the run's Visit (app.py, at the end of a run): callbacks of the next run build their own."""
    _run.visit = None


def current() -> Visit:
    """The Visit of the run going on, or a new one (a callback, a fragment's own rerun)."""
    visit = getattr(_run, "visit", None)
    return visit if visit is not None else build()
