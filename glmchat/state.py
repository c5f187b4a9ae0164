"""The one module that owns st.session_state keys; everything else gets plain values from here."""
from __future__ import annotations

import logging
import os
import secrets as _secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from glmchat import access as access_, attachments, config, inputs, limits as limits_, owner as owners, passwords
from glmchat import offered, prestart, presets, requestlog
from glmchat import conversation as conv
from glmchat.catalogue import Catalogue, Model, load
from glmchat.config import KeySource
from glmchat.quota import Ticket
from glmchat.conversation import Totals
from glmchat.i18n import lang_from_locale
from glmchat.saving import is_interrupted, title_for
from glmchat import streamlit_internals as internals
from glmchat.store import ResilientStore, Store, default_url
from glmchat.streamlit_internals import UploadBudget

if TYPE_CHECKING:
    from glmchat.client import Endpoint

log = logging.getLogger("glmchat.access")

MESSAGES = "messages"
TOTALS = "totals"
PENDING = "reply_pending"     # a user message waits for its reply (set by the submit/retry callbacks)
STORE = "store"               # this session's ResilientStore: its queued writes are this visitor's own
CONVERSATION = "conversation_id"
LOADED = "loaded_conversation"  # the conversation whose messages MESSAGES holds
NOT_FOUND = "conversation_not_found"
DELETE = "delete_requested"   # the conversation a delete confirmation is open for
EDITING = "editing"           # the user message being edited
ALTERNATIVES = "alternatives"  # earlier answers carried into a regenerated reply
SUMMARY = "summary"           # {"text", "upto": message id}: replaces older messages in requests
SUMMARY_ASKED = "summary_asked"  # None, "summarise" or "summarise_and_retry"
SUBMITTED = "submitted"       # submit_prompt ran for this run's chat input value
INPUT_REFUSED = "input_refused"  # an inputs.Refusal: the last message broke an input limit, nothing was sent
REFUSED = "refused_files"     # attachments refused at the last submit: [(name, i18n key, detail)]
WINDOW = "window"             # how many of the newest messages are drawn
DRAWN = "drawn"               # (id of the first message drawn, how many) by the chat page's last run
RUN = "run_number"            # counts the app script's runs (a fragment's own rerun does not run it)
PANEL_RUN = "panel_run"       # the run the sidebar's settings panel last ran in
CHAT_VIEW = "chat_view"       # what the chat page drew of the settings: (demo notice, messages left out)
EARLIER = "earlier_in_storage"  # messages of the open conversation not loaded into the session
# Drawn at first. The browser re-renders every widget on the page (each message has a menu) when a run
# starts, before it can show a reply's first token: with 30 messages that token showed 73-85 ms after it
# arrived, with 12 within 10 ms, as in an empty chat (docs/benchmarks.md).
WINDOW_FIRST = 12
WINDOW_STEP = 30              # added by each "show earlier"
IMPORT_BYTES = 20 * 1024 * 1024  # a History import file
INPUT_CHARS = 100_000         # what the chat input and edit box let one type; the input limit is checked after
LOAD_LIMIT = 200              # newest messages loaded when a conversation opens; older ones on demand
GATE_PASSED = "gate_passed"   # this session gave the right access password (gate mode)
GATE_ERROR = "gate_error"     # the last password attempt's outcome: ("wrong" | "wait", seconds)
HAD_KEY = "had_key"           # whether a key was available on the previous run
SESSION_TAG = "session_tag"   # a random name for this browser session (per-visitor history without a login)
PARAMS_FOR = "params_for"     # the model whose defaults the parameter widgets hold
# Widget keys.
PASSWORD = "w_password"
LANG = "w_lang"
MODEL = "w_model"
CUSTOM_MODEL = "w_custom_model"
TEMPERATURE = "w_temperature"
TOP_P = "w_top_p"
MAX_TOKENS = "w_max_tokens"
SYSTEM = "w_system"
THINKING = "w_thinking"
WEB_SEARCH = "w_web_search"
VISITOR_KEY = "w_visitor_key"
PROMPT = "w_prompt"
PRESET = "w_preset"
PRESET_NAME = "w_preset_name"
PARAMS_OPEN = "w_params_open"
SEARCH = "w_search"
MODEL_FILTER = "w_model_filter"
DATE_FILTER = "w_date_filter"
IMPORT_FILE = "w_import_file"
USAGE_PERIOD = "w_usage_period"


def init() -> None:
    st.session_state.setdefault(MESSAGES, [])
    st.session_state.setdefault(TOTALS, Totals())
    st.session_state.setdefault(CONVERSATION, None)
    st.session_state.setdefault(LOADED, None)
    st.session_state.setdefault(WINDOW, WINDOW_FIRST)
    st.session_state.setdefault(THINKING, True)
    st.session_state.setdefault(EARLIER, 0)


def begin_run() -> None:
    """Called by app.py each run: a fragment's own rerun does not count (see panel_run_is_full)."""
    st.session_state[RUN] = st.session_state.get(RUN, 0) + 1
    st.session_state[CHAT_VIEW] = None  # the chat page sets it if it runs


def first_run() -> bool:
    """Whether this is the session's first run (a new visitor, a reload)."""
    return st.session_state[RUN] == 1


def panel_run_is_full() -> bool:
    """Whether the settings panel runs as part of a whole run, not a rerun of its own."""
    full = st.session_state.get(PANEL_RUN) != st.session_state.get(RUN)
    st.session_state[PANEL_RUN] = st.session_state.get(RUN)
    return full


def _chat_view(current: Settings, drawn: conv.Plan) -> tuple:
    """What of the settings shows on the chat page: the demo notice, the messages left out of the request."""
    return current.model.offline, tuple(drawn.dropped)


def set_chat_view(current: Settings, drawn: conv.Plan) -> None:
    """Remember what the chat page drew of the settings, with the plan it drew."""
    st.session_state[CHAT_VIEW] = _chat_view(current, drawn)


def chat_view_changed(current: Settings) -> bool:
    """Whether the chat page on screen would look different with these settings."""
    shown = st.session_state.get(CHAT_VIEW)
    return shown is not None and shown != _chat_view(current, plan(current))


def messages() -> list[dict]:
    return st.session_state[MESSAGES]


def totals() -> Totals:
    return st.session_state[TOTALS]


def new_chat() -> None:
    st.session_state[MESSAGES] = []
    st.session_state[SUMMARY] = None
    st.session_state[WINDOW], st.session_state[EARLIER] = WINDOW_FIRST, 0
    st.session_state[CONVERSATION] = st.session_state[LOADED] = None
    st.query_params.pop("c", None)


def set_pending() -> None:
    st.session_state[PENDING] = True


def take_pending() -> bool:
    return bool(st.session_state.pop(PENDING, False))


def reply_waiting() -> bool:
    """Whether this run will carry a reply: a user message waits for its answer."""
    messages_ = st.session_state[MESSAGES]
    return bool(st.session_state.get(PENDING)) and bool(messages_) and messages_[-1]["role"] == "user"


@st.cache_resource(show_spinner=False)
def _shared_store(url: str) -> Store:
    """One engine and pool per database for the process; it holds no key and no user content."""
    return Store(url)


def store() -> ResilientStore:
    if STORE not in st.session_state:
        url = config.lookup(config.DATABASE_URL_NAME, secrets()) or default_url()
        st.session_state[STORE] = ResilientStore(lambda: _shared_store(url))
    return st.session_state[STORE]


def access(secret_values: dict | None = None) -> access_.Access:
    """The host's access settings; ConfigError when they are wrong (the app then refuses to serve)."""
    if secret_values is None:
        secret_values = secrets()
    return access_.Access.from_settings(lambda name: config.lookup(name, secret_values), secret_values)


def _owner_secret(secret_values: dict) -> str | None:
    secret = config.lookup(owners.OWNER_SECRET, secret_values)
    if secret is None:
        # Shared by every replica through the database; without it nobody can be told apart.
        secret = store().set_meta_if_absent("owner_secret", _secrets.token_hex(32))
    return secret


def login_email() -> str | None:
    """The signed-in user's e-mail, only when their provider says it is verified.

    An unverified address could be anyone's (a provider that lets people claim any address), so it
    names nobody: it neither passes an allow-list nor owns chats.
    """
    if not getattr(st.user, "is_logged_in", False) or st.user.get("email_verified") is not True:
        return None
    email = st.user.get("email")
    return email if isinstance(email, str) and email.strip() else None


def is_local() -> bool:
    """Whether this visitor is the machine's own user: a browser here, not through a proxy (access.is_local)."""
    return access_.is_local(st.context.ip_address, st.context.headers)


def _session_tag() -> str:
    """A random name for this browser session: the owner of per-visitor history on the host's key."""
    return st.session_state.setdefault(SESSION_TAG, _secrets.token_hex(16))


def owner(key: KeySource | None) -> str | None:
    """This visitor's owner id (see glmchat/owner.py), or None when nothing may be saved."""
    secret_values = secrets()
    rules = access(secret_values)
    email, local = login_email(), is_local()
    if email is None and (rules.mode == access_.SHARED or (rules.mode == access_.PERSONAL and local)):
        return owners.LOCAL  # no database read for the machine's own user
    return owners.owner_id(mode=rules.mode, secret=_owner_secret(secret_values), login_email=email, key=key,
                           local=local, host_key_history=rules.host_key_history, session=_session_tag())


def client(rules: access_.Access) -> str:
    """This visitor's network address (for throttling); see access.client_address."""
    return access_.client_address(st.context.ip_address, st.context.headers, rules.behind_proxy)


def visitor(rules: access_.Access) -> str:
    """Whom per-visitor limits count against: the signed-in user, else the network address, as a keyed tag."""
    secret = _owner_secret(secrets()) or ""
    email = login_email()
    return access_.tag(secret, "user", email.lower()) if email else access_.tag(secret, "ip", client(rules))


def admitted(rules: access_.Access) -> bool:
    """Whether this session may use the app: always, except in gate mode before the gate is passed."""
    if rules.mode != access_.GATE:
        return True
    if rules.login and rules.email_allowed(login_email()):
        return True
    return bool(st.session_state.get(GATE_PASSED))


def sees_host_usage(rules: access_.Access) -> bool:
    """Whether this visitor may see the host key's totals: the host named them (or everyone, in shared mode)."""
    return rules.mode == access_.SHARED or is_local() or rules.is_admin(login_email())


def check_password() -> None:
    """on_click of the gate's button: throttled per client and app-wide, never echoed or logged."""
    typed = st.session_state.pop(PASSWORD, "")
    rules = access()
    if rules.password_hash is None or not typed or not isinstance(typed, str):
        return
    where = access_.tag(_owner_secret(secrets()) or "", "ip", client(rules))  # no raw address in the database
    # Throttle check and counting the attempt are one step: parallel guesses cannot all pass the check.
    wait, attempt = store().begin_login_attempt(where, passwords.wait_seconds, passwords.WINDOW,
                                                down_wait=passwords.APP_WAIT)
    if attempt is None:
        st.session_state[GATE_ERROR] = ("wait", wait)
        return
    try:
        # Longer than the field allows: a forged message, refused without hashing it.
        ok = len(typed) <= offered.PASSWORD_CHARS and passwords.verify(typed, rules.password_hash)
    except ValueError:
        log.error("access: GLMCHAT_ACCESS_PASSWORD_HASH is malformed")
        ok = False
    if ok:
        store().forgive_login_attempt(where, attempt)
        st.session_state[GATE_PASSED] = True
        st.session_state.pop(GATE_ERROR, None)
        return
    st.session_state[GATE_ERROR] = ("wrong", 0)


def _lookup():
    secret_values = secrets()
    return lambda name: config.lookup(name, secret_values)


def limits() -> limits_.Limits:
    """The host's spending limits; ValueError on a wrong setting (the app refuses to serve)."""
    return limits_.Limits.from_settings(_lookup())


def check_settings() -> None:
    """Raise ValueError naming the first wrong limit setting."""
    limits()
    input_limits()


def input_limits() -> inputs.InputLimits:
    return inputs.InputLimits.from_settings(_lookup())


def upload_budget() -> UploadBudget:
    """What one session may hold in uploads: a message's files plus an import file, each at most 20 MB."""
    files = input_limits().attachments + 1
    per_file = max(attachments.MAX_IMAGE_BYTES_IN, attachments.MAX_DOC_BYTES, IMPORT_BYTES)
    return UploadBudget(files=files, bytes=files * per_file, file_bytes=per_file)


def log_content() -> bool:
    return requestlog.include_text_from(_lookup())


def reserve(current: Settings) -> tuple[Ticket | None, limits_.Refusal | None]:
    """Count a request against the host's limits before it is sent; only the host's key is limited."""
    if current.model.offline or current.key is None or current.key.origin == "visitor":
        return None, None
    configured = limits()
    if not configured.active:
        return None, None
    if current.model.price_in is None and (configured.cny_day or configured.visitor_cny_day):
        return None, limits_.UNPRICED
    request_id, refusal = store().reserve_request(visitor(access()), current.model.id, configured)
    return (Ticket(store(), request_id) if request_id else None), refusal


def take_gate_error() -> tuple[str, float] | None:
    return st.session_state.pop(GATE_ERROR, None)


def conversation_id() -> str | None:
    return st.session_state.get(CONVERSATION)


def open_conversation(cid: str) -> None:
    st.session_state[CONVERSATION] = cid
    st.session_state[LOADED] = None
    st.query_params["c"] = cid


def _restore_settings(found: dict) -> None:
    """Put a reopened conversation's model, parameters, system prompt and preset back in the sidebar."""
    catalogue = load()
    model_id, saved = found.get("model") or "", found.get("settings") or {}
    if model_id in catalogue.ids():
        st.session_state[MODEL], st.session_state[CUSTOM_MODEL] = model_id, ""
    elif model_id:
        st.session_state[CUSTOM_MODEL] = model_id
    model = catalogue.get(model_id or st.session_state.get(MODEL, catalogue.default_id))
    st.session_state[PARAMS_FOR] = model.id
    for key, name, default in ((TEMPERATURE, "temperature", model.temperature), (TOP_P, "top_p", model.top_p),
                               (MAX_TOKENS, "max_tokens", model.max_output)):
        value = saved.get(name)
        st.session_state[key] = value if isinstance(value, (int, float)) else default
    if isinstance(saved.get("thinking"), bool):
        st.session_state[THINKING] = saved["thinking"]
    if isinstance(saved.get("web_search"), bool):
        st.session_state[WEB_SEARCH] = saved["web_search"]
    st.session_state[SYSTEM] = saved.get("system_prompt") or ""
    st.session_state[PRESET] = saved.get("preset") or ""
    st.session_state[SUMMARY] = saved.get("summary") if isinstance(saved.get("summary"), dict) else None


def sync_conversation(owner_id: str | None) -> None:
    """Follow ?c=<id> in the URL: load that conversation's messages, or say it was not found."""
    wanted = st.query_params.get("c") or st.session_state.get(CONVERSATION)
    if owner_id is None or not wanted:
        return
    if st.session_state.get(LOADED) == wanted:
        return
    found = store().conversation(owner_id, wanted)
    if found is None and not store().healthy:
        return  # the database is down: keep what is on screen; the page shows a warning
    if found is None:
        st.session_state[NOT_FOUND] = True
        new_chat()
        return
    st.session_state[CONVERSATION] = st.session_state[LOADED] = wanted
    # Long conversations load lazily: the newest LOAD_LIMIT now, older ones when asked for.
    st.session_state[MESSAGES] = store().messages(owner_id, wanted, limit=LOAD_LIMIT)
    st.session_state[EARLIER] = max(0, found.get("message_count", 0) - len(st.session_state[MESSAGES]))
    st.session_state[WINDOW] = WINDOW_FIRST
    st.query_params["c"] = wanted
    _restore_settings(found)


def follower(owner_id: str | None):
    """Reads the open conversation's newest saved version of one message, for a reply streaming elsewhere."""
    cid = conversation_id()
    if owner_id is None or cid is None:
        return None

    def read(message_id: str) -> dict | None:
        found = store().conversation(owner_id, cid)
        saved = next((m for m in store().messages(owner_id, cid, limit=5) if m["id"] == message_id), None)
        if found is None or saved is None:
            return None
        if is_interrupted(saved, found["updated_at"]):
            saved["status"] = conv.INCOMPLETE
        messages_ = st.session_state[MESSAGES]
        for i, m in enumerate(messages_):
            if m["id"] == message_id:
                messages_[i] = saved
        return saved
    return read


def _index(message_id: str) -> int | None:
    return next((i for i, m in enumerate(st.session_state[MESSAGES]) if m["id"] == message_id), None)


def _truncate_after(owner_id: str | None, index: int) -> None:
    """Forget every message after position index, here and in storage."""
    messages_ = st.session_state[MESSAGES]
    if owner_id is not None and conversation_id() is not None:
        store().delete_messages_after(owner_id, conversation_id(), messages_[index]["id"])
    del messages_[index + 1:]


def editing() -> str | None:
    return st.session_state.get(EDITING)


def start_edit(message_id: str) -> None:
    st.session_state[EDITING] = message_id


def cancel_edit() -> None:
    st.session_state.pop(EDITING, None)


def submit_edit(message_id: str) -> None:
    """Resend an edited user message: it replaces what followed it."""
    text = offered.text(st.session_state.get(f"w_edit_{message_id}"), INPUT_CHARS)
    i = _index(message_id)
    if i is None or not text.strip():
        cancel_edit()
        return
    # The same limits as a new message: the edit box is a widget too, and can be bypassed.
    too_much = inputs.check(input_limits(), text=text, attachments=0, conversation_messages=i,
                            new_conversation=False, conversations=0)
    if too_much is not None:
        st.session_state[INPUT_REFUSED] = too_much
        return
    cancel_edit()
    owner_id = owner(current_settings(load()).key)
    message = st.session_state[MESSAGES][i]
    message["content"] = text
    _truncate_after(owner_id, i)
    _save(owner_id, message)
    st.session_state[PENDING] = True


def regenerate() -> None:
    """Ask again for the last answer; the old one stays reachable under the new one."""
    messages_ = st.session_state[MESSAGES]
    if not messages_ or messages_[-1]["role"] != "assistant" or len(messages_) < 2:
        return
    old = messages_[-1]
    earlier = old.get("alternatives") or []
    st.session_state[ALTERNATIVES] = earlier + [{k: v for k, v in old.items() if k != "alternatives"}]
    _truncate_after(owner(current_settings(load()).key), len(messages_) - 2)
    st.session_state[PENDING] = True


def take_alternatives() -> list[dict] | None:
    return st.session_state.pop(ALTERNATIVES, None)


def set_feedback(message_id: str) -> None:
    """Thumbs up (1) or down (0), kept with the message."""
    i = _index(message_id)
    if i is None:
        return
    message = st.session_state[MESSAGES][i]
    message["feedback"] = offered.feedback(st.session_state.get(f"fb-{message_id}"))
    _save(owner(current_settings(load()).key), message)


def preset() -> str | None:
    """The chosen preset's id, if it has the form of one the sidebar offers (builtin:… or user:<name>)."""
    value = st.session_state.get(PRESET)
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("user:"):
        return value if 0 < len(value) - 5 <= presets.MAX_NAME else None
    return value if value in {p.id for p in presets.builtin("en")} else None


def preset_choices(owner_id: str | None) -> list[presets.Preset]:
    own = presets.parse_user(store().meta(presets.meta_key(owner_id))) if owner_id else []
    return presets.builtin(lang()) + own


def apply_preset() -> None:
    """Choosing a preset starts a new chat with its system prompt."""
    chosen = presets.find(preset_choices(owner(current_settings(load()).key)), preset())
    new_chat()
    st.session_state[SYSTEM] = chosen.prompt if chosen else ""


def save_preset() -> None:
    """Save the current system prompt as one of this owner's presets."""
    owner_id = owner(current_settings(load()).key)
    name = offered.text(st.session_state.get(PRESET_NAME), presets.MAX_NAME).strip()
    prompt = offered.text(st.session_state.get(SYSTEM), offered.SYSTEM_CHARS)
    if owner_id is None or not name or not prompt.strip():
        return
    own = presets.parse_user(store().meta(presets.meta_key(owner_id)))
    store().set_meta(presets.meta_key(owner_id), presets.with_user_preset(own, name, prompt))
    st.session_state[PRESET] = f"user:{name[:presets.MAX_NAME]}"
    st.session_state[PRESET_NAME] = ""


def summary() -> dict | None:
    return st.session_state.get(SUMMARY)


def plan(current: Settings) -> conv.Plan:
    """What the next request sends, trimmed to the model's window."""
    return conv.plan_request(st.session_state[MESSAGES], current.system_prompt, current.budget(), summary())


def ask_summary(then_retry: bool = False) -> None:
    st.session_state[SUMMARY_ASKED] = "summarise_and_retry" if then_retry else "summarise"


def take_summary_request() -> str | None:
    return st.session_state.pop(SUMMARY_ASKED, None)


def set_summary(owner_id: str | None, current: Settings, value: dict) -> None:
    st.session_state[SUMMARY] = value
    if owner_id is not None and conversation_id() is not None:
        store().update_settings(owner_id, conversation_id(), current.model.id,
                                current.conversation_settings(preset(), value))


def window(live: bool = False) -> tuple[int, int]:
    """(index of the first message drawn, number of earlier messages not drawn: in session or storage).

    On a run that carries a reply (`live`) the window keeps the start it was last drawn with, up to twice
    its size, so the containers on screen go on showing the same messages (see glmchat.later).
    """
    messages_ = st.session_state[MESSAGES]
    start = max(0, len(messages_) - st.session_state[WINDOW])
    drawn = st.session_state.get(DRAWN)
    if live and drawn and drawn[0] is not None:
        anchored = next((i for i, m in enumerate(messages_) if m["id"] == drawn[0]), None)
        if anchored is not None and len(messages_) - anchored <= 2 * st.session_state[WINDOW]:
            start = anchored
    return start, start + st.session_state[EARLIER]


def drawn_as(shown: list[dict]) -> bool:
    """Whether the chat page's last run drew exactly these messages."""
    return st.session_state.get(DRAWN) == (shown[0]["id"] if shown else None, len(shown))


def set_drawn(shown: list[dict]) -> None:
    st.session_state[DRAWN] = (shown[0]["id"] if shown else None, len(shown))


def show_earlier() -> None:
    """Draw WINDOW_STEP more messages, loading them from storage when the session does not hold them."""
    st.session_state[WINDOW] += WINDOW_STEP
    messages_ = st.session_state[MESSAGES]
    missing = st.session_state[WINDOW] - len(messages_)
    if missing <= 0 or not st.session_state[EARLIER] or conversation_id() is None:
        return
    owner_id = owner(current_settings(load()).key)
    if owner_id is None:
        return
    older = store().messages(owner_id, conversation_id(), limit=max(missing, WINDOW_STEP),
                             before_seq=st.session_state[EARLIER] + 1)
    messages_[:0] = older
    st.session_state[EARLIER] -= len(older)


def ask_delete(cid: str) -> None:
    st.session_state[DELETE] = cid


def delete_requested() -> str | None:
    return st.session_state.get(DELETE)


def cancel_delete() -> None:
    st.session_state.pop(DELETE, None)


def delete_conversation(owner_id: str, cid: str) -> None:
    store().delete(owner_id, cid)
    cancel_delete()
    if conversation_id() == cid:
        new_chat()


def take_refused() -> list[tuple]:
    return st.session_state.pop(REFUSED, None) or []


def take_input_refused() -> inputs.Refusal | None:
    return st.session_state.pop(INPUT_REFUSED, None)


def take_not_found() -> bool:
    return bool(st.session_state.pop(NOT_FOUND, False))


def _save(owner_id: str | None, message: dict) -> None:
    cid = conversation_id()
    if owner_id is not None and cid is not None:
        store().save_message(owner_id, cid, message)


def save_message_now(message: dict) -> None:
    _save(owner(current_settings(load()).key), message)


def reply_saver_target(owner_id: str | None):
    """The function that writes one message of the open conversation, or None without history."""
    cid = conversation_id()
    if owner_id is None or cid is None:
        return None
    # Bound now: after a Stop every st.session_state access raises StopException again,
    # and the stopped reply must still be written.
    target = store()
    return lambda message: target.save_message(owner_id, cid, message)


def submit_prompt(start: bool = True) -> None:
    """on_submit of the chat input: keep and save the user's message before anything is sent.

    With `start`, the request is sent at once (see _start_early); the page's missed_submit path reruns
    first, which would drop a request sent here, so it passes start=False.
    """
    st.session_state[SUBMITTED] = True
    if not admitted(access()):  # a callback of a session that signed out meanwhile
        return
    value = st.session_state.get(PROMPT)
    text = value if isinstance(value, str) else getattr(value, "text", "") or ""
    text = text if isinstance(text, str) else ""
    uploads = [] if isinstance(value, str) or value is None else list(getattr(value, "files", None) or [])
    current = current_settings(load())
    owner_id = owner(current.key)
    new_conversation = owner_id is not None and conversation_id() is None
    # Limits are enforced here, not only by the widget: a bypassed widget gets the same answer. Counts
    # and lengths come first, before any file is decoded.
    too_much = inputs.check(input_limits(), text=text, attachments=len(uploads),
                            conversation_messages=len(st.session_state[MESSAGES]) + st.session_state[EARLIER],
                            new_conversation=new_conversation,
                            conversations=store().count_conversations(owner_id) if new_conversation else 0)
    if too_much is not None:
        st.session_state[INPUT_REFUSED] = too_much
        return
    files, refused = attachments.prepare([(f.name, f.getvalue()) for f in uploads])
    st.session_state[REFUSED] = [(r.name, r.reason_key, r.detail) for r in refused]
    if not text.strip() and not files:
        return
    message = conv.user_message(text, files)
    remembered = current.conversation_settings(preset(), summary())
    if owner_id is not None and conversation_id() is None:
        cid = store().create_conversation(owner_id, title_for(text), current.model.id, remembered)
        st.session_state[CONVERSATION] = st.session_state[LOADED] = cid
        st.query_params["c"] = cid
    elif owner_id is not None:
        store().update_settings(owner_id, conversation_id(), current.model.id, remembered)
    st.session_state[MESSAGES].append(message)
    _save(owner_id, message)
    st.session_state[PENDING] = True
    if start and not files:
        _start_early(current, message)


def new_turn(current: Settings, question: dict):
    """A Turn for this run's settings: the host's limits, the log setting and the question it answers."""
    from glmchat.turn import Turn, prompt_text
    return Turn(current.model, reserve=lambda: reserve(current),
                log_prompt=prompt_text(question["content"]) if log_content() else None)


def _start_early(current: Settings, message: dict) -> None:
    """Send the request now, from the callback: the model's wait then overlaps the page's rerun."""
    endpoint = current.endpoint()
    if endpoint is None:
        return
    turn = new_turn(current, message)
    if turn.reserve() is not None:
        return  # the page reserves again and shows the refusal
    prestart.put(message["id"], turn.send(endpoint, current.chat_request(plan(current).messages)))


def missed_submit(value: object) -> bool:
    """Whether the chat input returned a message its on_submit callback never saw.

    After a server restart a page that stayed open reconnects as a new session, and its first message
    arrives before the chat input is registered there, so Streamlit runs no callback for it.
    """
    return value is not None and not st.session_state.pop(SUBMITTED, False)


def retry() -> None:
    """Retry button: drop the failed reply (here and in storage) and ask again."""
    drop_failed_reply()
    st.session_state[PENDING] = True


def drop_failed_reply() -> None:
    messages_ = st.session_state[MESSAGES]
    kept = conv.retry_target(messages_)
    if kept is None:
        return
    owner_id = owner(current_settings(load()).key)
    if owner_id is not None and conversation_id() is not None:
        store().delete_messages_after(owner_id, conversation_id(), kept[-1]["id"])
    messages_[:] = kept


def lang() -> str:
    choice = st.session_state.get(LANG, "auto")
    return choice if choice in ("zh", "en") else lang_from_locale(st.context.locale)


def secrets() -> dict:
    """Streamlit secrets as a plain mapping; empty when the app has no secrets file."""
    # Without any secrets file, every st.secrets read rescans the paths under one process-wide lock and
    # raises; a run reads secrets several times, and 10 sessions sending at once queued on that lock.
    # Secrets already parsed (a file was read, or AppTest set them) are read as before.
    if not internals.secrets_parsed() and not any(os.path.exists(path) for path in st.get_option("secrets.files")):
        return {}
    try:
        return {k: v for k, v in st.secrets.items()}
    except Exception:  # noqa: BLE001 - no secrets.toml, or an unreadable one, means no secrets
        return {}


def key_source(secret_values: dict) -> KeySource | None:
    """The key for this visitor under the access mode: byok, and personal mode for visitors from elsewhere,
    never use the host's key."""
    rules = access(secret_values)  # the secrets already read, not read again
    visitor_key = offered.visitor_key(st.session_state.get(VISITOR_KEY))
    if not owners.uses_host_key(rules.mode, is_local()):
        return config.find_key({}, visitor_key, environ={})
    if rules.mode == access_.GATE:
        # A visitor allowed to bring their own key (e.g. once the host's limit is reached) uses it first.
        own = config.find_key({}, visitor_key, environ={}) if rules.own_key else None
        return own or config.find_key(secret_values, None)
    return config.find_key(secret_values, visitor_key)


def before_page(catalogue: Catalogue) -> None:
    """Set what the page reads, before the sidebar's widgets are drawn (the page may run first).

    Opening ?c=<id> restores that conversation's model and parameters into its widgets; a new key
    switches from the demo to the default model.
    """
    key = key_source(secrets())
    if st.session_state.get(LANG, "auto") not in ("auto", "zh", "en"):
        st.session_state[LANG] = "auto"
    drop_forged(catalogue, key)
    sync_conversation(owner(key))
    choose_model_on_key_change(catalogue, key is not None)


def drop_forged(catalogue: Catalogue, key: KeySource | None) -> None:
    """Put back what the sidebar's settings widgets offer where a forged message left anything else.

    Called before those widgets are drawn: Streamlit would draw a value it never offered (a model outside
    the list, a slider beyond its range). What is sent is checked anyway (settings()); this keeps the
    widgets showing what will be used.
    """
    ss = st.session_state
    if MODEL in ss and ss[MODEL] not in catalogue.ids():
        ss[MODEL] = catalogue.default_id if key is not None else catalogue.offline_id
    if CUSTOM_MODEL in ss and offered.model_id(ss[CUSTOM_MODEL]) != ss[CUSTOM_MODEL]:
        ss[CUSTOM_MODEL] = ""
    if PRESET in ss and ss[PRESET] and preset() is None:
        ss[PRESET] = ""
    current = settings(catalogue, key, None)
    for name, value in ((TEMPERATURE, current.temperature), (TOP_P, current.top_p),
                        (MAX_TOKENS, current.max_tokens), (SYSTEM, current.system_prompt),
                        (WEB_SEARCH, offered.flag(ss.get(WEB_SEARCH), False)),
                        (THINKING, offered.flag(ss.get(THINKING), True))):
        if name in ss and (ss[name] != value or type(ss[name]) is not type(value)):
            ss[name] = value


def choose_model_on_key_change(catalogue: Catalogue, has_key: bool) -> None:
    """Start on the demo without a key; switch to the default GLM model as soon as a key appears."""
    had_key = st.session_state.get(HAD_KEY)
    if MODEL not in st.session_state or (has_key and not had_key and st.session_state[MODEL] == catalogue.offline_id):
        st.session_state[MODEL] = catalogue.default_id if has_key else catalogue.offline_id
    st.session_state[HAD_KEY] = has_key


def keep_params() -> None:
    """Keep the parameter widgets' values while their expander is closed and they are not drawn.

    Streamlit forgets the value of a widget a run does not draw, unless the script has set it itself.
    """
    for name in (THINKING, TEMPERATURE, TOP_P, MAX_TOKENS, SYSTEM, PRESET_NAME):
        if name in st.session_state:
            st.session_state[name] = st.session_state[name]


def reset_params_if_model_changed(model: Model) -> None:
    """Parameter widgets take the chosen model's defaults whenever the model changes."""
    if st.session_state.get(PARAMS_FOR) == model.id:
        return
    st.session_state[TEMPERATURE] = model.temperature
    st.session_state[TOP_P] = model.top_p
    st.session_state[MAX_TOKENS] = model.max_output
    st.session_state[PARAMS_FOR] = model.id


@dataclass(frozen=True)
class Settings:
    lang: str
    model: Model
    temperature: float
    top_p: float
    max_tokens: int
    system_prompt: str
    thinking: bool | None
    web_search: bool
    key: KeySource | None
    base_url: str | None

    def endpoint(self) -> Endpoint | None:
        """Where requests go; None when a real model is chosen but there is no key."""
        from glmchat.client import Endpoint  # the SDK loads with the first request, not the first page
        if self.model.offline:
            return Endpoint.offline()
        if self.key is None:
            return None
        return Endpoint(self.key.key, self.base_url)

    def chat_request(self, messages: list[dict]):
        """The request for these messages with this run's model and parameters."""
        from glmchat.client import ChatRequest
        return ChatRequest(model=self.model.id, messages=messages, temperature=self.temperature, top_p=self.top_p,
                           max_tokens=self.max_tokens, thinking=self.thinking, web_search=self.web_search)

    def params(self) -> dict:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
                "thinking": self.thinking, "web_search": self.web_search}

    def conversation_settings(self, preset: str | None, summary: dict | None) -> dict:
        """What a conversation remembers and restores when it is opened again."""
        return {**self.params(), "system_prompt": self.system_prompt, "preset": preset, "summary": summary}

    def budget(self) -> int:
        """Prompt tokens a request may use: the context window less room for the answer."""
        return self.model.context - min(self.max_tokens, self.model.context // 2)


def custom_models_allowed(key: KeySource | None) -> bool:
    """A model outside the catalogue has no known price: offered on the visitor's own key, and on the host's
    to the machine's own user or in shared mode (reserve() still refuses it where limits in ¥ would count it)."""
    if key is not None and key.origin == "visitor":
        return True
    mode = access().mode
    return mode == access_.SHARED or (mode == access_.PERSONAL and is_local())


def settings(catalogue: Catalogue, key: KeySource | None, base_url: str | None) -> Settings:
    """The settings the widgets hold, each checked against what the sidebar offered (glmchat.offered)."""
    get = st.session_state.get
    custom = offered.model_id(get(CUSTOM_MODEL)) if custom_models_allowed(key) else ""
    fallback = catalogue.default_id if key is not None else catalogue.offline_id
    model = catalogue.get(custom or offered.choice(get(MODEL), catalogue.ids(), fallback))
    return Settings(
        lang=lang(), model=model,
        temperature=offered.number(get(TEMPERATURE), *offered.TEMPERATURE, model.temperature),
        top_p=offered.number(get(TOP_P), *offered.TOP_P, model.top_p),
        max_tokens=offered.whole(get(MAX_TOKENS), 1, model.max_output, model.max_output),
        system_prompt=offered.text(get(SYSTEM), offered.SYSTEM_CHARS),
        thinking=offered.flag(get(THINKING), True) if model.supports("thinking") else None,
        web_search=offered.flag(get(WEB_SEARCH), False) and model.supports("web_search"),
        key=key, base_url=base_url,
    )


def current_settings(catalogue: Catalogue) -> Settings:
    """This run's settings, from the widgets and the configuration (the key is never kept in state)."""
    secret_values = secrets()
    return settings(catalogue, key_source(secret_values), config.base_url(secret_values))
