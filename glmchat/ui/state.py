"""The one module that owns st.session_state: its keys, typed accessors and key formats, nothing else.

What the app does with these values lives elsewhere: callbacks and the conversation's life in
glmchat/ui/callbacks.py, this run's visitor and rules in glmchat/ui/context.py, the settings in
glmchat/chat/settings.py.
"""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Callable

import streamlit as st

from glmchat.chat.conversation import Totals
from glmchat.chat.i18n import lang_from_locale
from glmchat.chat.records import Message, Summary
from glmchat.chat.settings import Widgets
from glmchat.hosting import offered
from glmchat.store import ResilientStore, Store, default_url

MESSAGES = "messages"
TOTALS = "totals"
PENDING = "reply_pending"  # a user message waits for its reply (set by the submit/retry callbacks)
STORE = "store"  # this session's ResilientStore: its queued writes are this visitor's own
CONVERSATION = "conversation_id"
LOADED = "loaded_conversation"  # the conversation whose messages MESSAGES holds
NOT_FOUND = "conversation_not_found"
IMPORT_HELD = "import_held"  # (conversations in the file, how many the owner holds already): asking
IMPORTED = "imported"  # how many conversations the last import wrote: said on the run after it
DELETE = "delete_requested"  # the conversation a delete confirmation is open for
RENAME = "rename_requested"  # the conversation the rename dialog is open for
MOVE = "move_requested"  # the conversation the "move to folder" dialog is open for
SHARE = "share_made"  # the new link's token ("" when none was made): the share dialog shows it
SHARED_LINK = "shared_link"  # the share link this session opened last: Back to the link page shows it again
EDITING = "editing"  # the user message being edited
COPYING = "copying"  # the message whose Copy was clicked: this run sends its Markdown for the page to copy
OFF = "off_branch"  # the open conversation's messages off the branch shown (glmchat/store/tree.py)
SUMMARY = "summary"  # {"text", "upto": message id}: replaces older messages in requests
SUMMARY_ASKED = "summary_asked"  # None, "summarise" or "summarise_and_retry"
SUMMARY_FAILED = "summary_failed"  # the last summary failed: said once, on the run after it
SUBMITTED = "submitted"  # the submit callback ran for this run's chat input value
INPUT_REFUSED = "input_refused"  # an inputs.Refusal: the last message broke an input limit, nothing was sent
HELD_BACK = "held_back"  # a message sent while a reply streams went back into the input: True, or "files"
REFUSED = "refused_files"  # attachments refused at the last submit: [(name, i18n key, detail)]
WINDOW = "window"  # how many of the newest messages are drawn
DRAWN = "drawn"  # (id of the first message drawn, how many) by the chat page's last run
RUN = "run_number"  # counts the app script's runs (a fragment's own rerun does not run it)
LIVE_TURN = "live_turn"  # the Turn whose reply this session's page is streaming, for the Stop button
SCRIPT_SENT = "script_sent"  # the page's static script went to this session's page (sidebar.FOLLOW_SCRIPT)
FULL_RUN = "full_run_wanted"  # a settings change the panel cannot show by itself
PANEL_RUN = "panel_run"  # the run the sidebar's settings panel last ran in
CHAT_VIEW = "chat_view"  # what the chat page drew of the settings: (demo notice, messages left out)
EARLIER = "earlier_in_storage"  # messages of the open conversation not loaded into the session
OFF_UNLOADED = "off_in_storage"  # its messages off the branch shown that are not loaded (not siblings of OFF's)
GATE_PASSED = "gate_passed"  # this session gave the right access password (gate mode)
GATE_ERROR = "gate_error"  # the last password attempt's outcome: ("wrong" | "wait", seconds)
HAD_KEY = "had_key"  # whether a key was available on the previous run
SESSION_TAG = "session_tag"  # a random name for this browser session (per-visitor history without a login)
PARAMS_FOR = "params_for"  # the model whose defaults the parameter widgets hold
# Drawn at first. The browser re-renders every widget on the page (each message has a menu) when a run
# starts, before it can show a reply's first token: with 30 messages that token showed 73-85 ms after it
# arrived, with 12 within 10 ms, as in an empty chat (docs/benchmarks.md).
WINDOW_FIRST = 12
WINDOW_STEP = 30  # added by each "show earlier"
INPUT_CHARS = 100_000  # what the chat input and edit box let one type; the input limit is checked after
LOAD_LIMIT = 200  # newest messages loaded when a conversation opens; older ones on demand
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
EFFORT = "w_effort"
WEB_SEARCH = "w_web_search"
TEMPORARY = "w_temporary"  # the switch above the chat
TEMPORARY_ON = "temporary_chat"  # its setting, kept while the switch is not drawn (another page)
VISITOR_KEY = "w_visitor_key"
PROMPT = "w_prompt"
PRESET = "w_preset"
PRESET_NAME = "w_preset_name"
PARAMS_OPEN = "w_params_open"
SEARCH = "w_search"
MODEL_FILTER = "w_model_filter"
DATE_FILTER = "w_date_filter"
FOLDER_FILTER = "w_folder_filter"  # the History page's folder
SIDE_FOLDER = "w_side_folder"  # the sidebar list's folder
MOVE_TO = "w_move_to"  # the move dialog's choice of folder
NEW_FOLDER = "w_new_folder"  # a new folder's name (the move dialog, the History page)
IMPORT_FILE = "w_import_file"
USAGE_PERIOD = "w_usage_period"
LANGS = ("auto", "zh", "en")


# -- key formats: keys that carry an id ---------------------------------------------------------------------


def edit_key(message_id: str) -> str:
    """The edit box of one user message."""
    return f"w_edit_{message_id}"


def feedback_key(message_id: str) -> str:
    """The thumbs of one reply."""
    return f"fb-{message_id}"


def title_key(cid: str) -> str:
    """The rename field of one conversation."""
    return f"w_title_{cid}"


def row_menu_key(cid: str) -> str:
    """The ⋯ menu (pin, move, share, rename, delete) of one conversation in the sidebar."""
    return f"w_row_{cid}"


def row_choice(cid: str) -> object:
    return st.session_state.get(row_menu_key(cid))


# -- runs ---------------------------------------------------------------------------------------------------


def init() -> None:
    st.session_state.setdefault(MESSAGES, [])
    st.session_state.setdefault(OFF, [])
    st.session_state.setdefault(TOTALS, Totals())
    st.session_state.setdefault(CONVERSATION, None)
    st.session_state.setdefault(LOADED, None)
    st.session_state.setdefault(WINDOW, WINDOW_FIRST)
    st.session_state.setdefault(THINKING, True)
    st.session_state.setdefault(EARLIER, 0)
    st.session_state.setdefault(OFF_UNLOADED, 0)


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


def set_chat_view(shown: tuple) -> None:
    """Remember what the chat page drew of the settings."""
    st.session_state[CHAT_VIEW] = shown


def chat_view() -> tuple | None:
    return st.session_state.get(CHAT_VIEW)


def session_tag() -> str:
    """A random name for this browser session: the owner of per-visitor history on the host's key."""
    return st.session_state.setdefault(SESSION_TAG, _secrets.token_hex(16))


def store(url: Callable[[], str | None]) -> ResilientStore:
    """This session's store; `url` gives GLMCHAT_DATABASE_URL the first time (else the default file)."""
    if STORE not in st.session_state:
        found = url() or default_url()
        st.session_state[STORE] = ResilientStore(lambda: _shared_store(found))
    return st.session_state[STORE]


@st.cache_resource(show_spinner=False)
def _shared_store(url: str) -> Store:
    """One engine and pool per database for the process; it holds no key and no user content."""
    return Store(url)


# -- the conversation on screen -----------------------------------------------------------------------------


def messages() -> list[Message]:
    return st.session_state[MESSAGES]


def set_messages(value: list[Message]) -> None:
    st.session_state[MESSAGES] = value


def off_branch() -> list[Message]:
    return st.session_state[OFF]


def set_off_branch(value: list[Message]) -> None:
    st.session_state[OFF] = value


def totals() -> Totals:
    return st.session_state[TOTALS]


def conversation_id() -> str | None:
    return st.session_state.get(CONVERSATION)


def loaded_conversation() -> str | None:
    return st.session_state.get(LOADED)


def set_conversation(cid: str | None, loaded: bool = True) -> None:
    """The open conversation; `loaded`: its messages are the ones in MESSAGES."""
    st.session_state[CONVERSATION] = cid
    st.session_state[LOADED] = cid if loaded else None


def shared_link() -> str | None:
    return st.session_state.get(SHARED_LINK)


def set_shared_link(token: str) -> None:
    st.session_state[SHARED_LINK] = token


def temporary() -> bool:
    """Whether the open chat is a temporary one: nothing of it is saved."""
    return st.session_state.get(TEMPORARY_ON) is True


def set_temporary(on: bool) -> None:
    st.session_state[TEMPORARY_ON] = on


def show_temporary() -> None:
    """The switch shows the setting (Streamlit forgets a widget's value on a page that does not draw it)."""
    st.session_state[TEMPORARY] = temporary()


def off_unloaded() -> int:
    return st.session_state[OFF_UNLOADED]


def set_off_unloaded(n: int) -> None:
    st.session_state[OFF_UNLOADED] = n


def earlier() -> int:
    return st.session_state[EARLIER]


def set_earlier(n: int) -> None:
    st.session_state[EARLIER] = n


def window_size() -> int:
    return st.session_state[WINDOW]


def set_window_size(n: int) -> None:
    st.session_state[WINDOW] = n


def set_pending() -> None:
    st.session_state[PENDING] = True


def take_pending() -> bool:
    return bool(st.session_state.pop(PENDING, False))


def reply_waiting() -> bool:
    """Whether this run will carry a reply: a user message waits for its answer."""
    messages_ = st.session_state[MESSAGES]
    return bool(st.session_state.get(PENDING)) and bool(messages_) and messages_[-1]["role"] == "user"


def summary() -> Summary | None:
    return st.session_state.get(SUMMARY)


def set_summary(value: Summary | None) -> None:
    st.session_state[SUMMARY] = value


def ask_summary(then_retry: bool = False) -> None:
    st.session_state[SUMMARY_ASKED] = "summarise_and_retry" if then_retry else "summarise"


def take_summary_request() -> str | None:
    return st.session_state.pop(SUMMARY_ASKED, None)


def set_summary_failed() -> None:
    st.session_state[SUMMARY_FAILED] = True


def take_summary_failed() -> bool:
    return bool(st.session_state.pop(SUMMARY_FAILED, False))


def window(live: bool = False) -> tuple[int, int]:
    """(index of the first message drawn, number of earlier messages not drawn: in session or storage).

    On a run that carries a reply (`live`) the window keeps the start it was last drawn with, up to twice
    its size, so the containers on screen go on showing the same messages (see glmchat.ui.later).
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


def set_not_found() -> None:
    st.session_state[NOT_FOUND] = True


def take_not_found() -> bool:
    return bool(st.session_state.pop(NOT_FOUND, False))


def ask_delete(cid: str) -> None:
    st.session_state[DELETE] = cid


def delete_requested() -> str | None:
    return st.session_state.get(DELETE)


def cancel_delete() -> None:
    st.session_state.pop(DELETE, None)


def set_import_held(value: tuple[int, int] | None) -> None:
    st.session_state[IMPORT_HELD] = value


def import_held() -> tuple[int, int] | None:
    return st.session_state.get(IMPORT_HELD)


def set_imported(count: int) -> None:
    st.session_state[IMPORTED] = count


def take_imported() -> int | None:
    return st.session_state.pop(IMPORTED, None)


def ask_rename(cid: str) -> None:
    st.session_state[RENAME] = cid


def rename_requested() -> str | None:
    return st.session_state.get(RENAME)


def cancel_rename() -> None:
    st.session_state.pop(RENAME, None)


def ask_move(cid: str) -> None:
    st.session_state[MOVE] = cid


def move_requested() -> str | None:
    return st.session_state.get(MOVE)


def cancel_move() -> None:
    st.session_state.pop(MOVE, None)


def set_share_made(token: str | None) -> None:
    st.session_state[SHARE] = token or ""


def share_made() -> str | None:
    """The token the share dialog shows ("" for a link that could not be made), or None: no dialog."""
    return st.session_state.get(SHARE)


def close_share() -> None:
    st.session_state.pop(SHARE, None)


def folder_name_key(fid: str) -> str:
    """The History page's rename field of one folder."""
    return f"w_folder_name_{fid}"


def editing() -> str | None:
    return st.session_state.get(EDITING)


def ask_copy(message_id: str) -> None:
    st.session_state[COPYING] = message_id


def copying() -> str | None:
    return st.session_state.get(COPYING)


def copy_sent() -> None:
    st.session_state.pop(COPYING, None)


def start_edit(message_id: str) -> None:
    st.session_state[EDITING] = message_id


def cancel_edit() -> None:
    st.session_state.pop(EDITING, None)


def edit_text(message_id: str) -> str:
    """What the edit box of a message holds, if the box could have produced it."""
    return offered.text(st.session_state.get(edit_key(message_id)), INPUT_CHARS)


def feedback(message_id: str) -> int | None:
    return offered.feedback(st.session_state.get(feedback_key(message_id)))


# -- a submitted message ------------------------------------------------------------------------------------


def prompt() -> object:
    """The chat input's value: text, or a value with .text and .files."""
    return st.session_state.get(PROMPT)


def mark_submitted() -> None:
    st.session_state[SUBMITTED] = True


def missed_submit(value: object) -> bool:
    """Whether the chat input returned a message its on_submit callback never saw.

    After a server restart a page that stayed open reconnects as a new session, and its first message
    arrives before the chat input is registered there, so Streamlit runs no callback for it.
    """
    return value is not None and not st.session_state.pop(SUBMITTED, False)


def set_input_refused(refusal) -> None:
    st.session_state[INPUT_REFUSED] = refusal


def put_back_prompt(text: str) -> None:
    """Refused text goes back into the chat input, to be shortened there, not typed again."""
    st.session_state[PROMPT] = text


def hold_back(text: str, had_files: bool) -> None:
    """A message sent while a reply is written goes back into the input: only sending waits."""
    put_back_prompt(text)
    st.session_state[HELD_BACK] = "files" if had_files else True


def take_held_back() -> object:
    return st.session_state.pop(HELD_BACK, None)


def take_input_refused():
    """The inputs.Refusal of the last message, once."""
    return st.session_state.pop(INPUT_REFUSED, None)


def set_refused(refusals: list[tuple]) -> None:
    st.session_state[REFUSED] = refusals


def take_refused() -> list[tuple]:
    return st.session_state.pop(REFUSED, None) or []


# -- the gate -----------------------------------------------------------------------------------------------


def gate_passed() -> bool:
    return bool(st.session_state.get(GATE_PASSED))


def pass_gate() -> None:
    st.session_state[GATE_PASSED] = True
    st.session_state.pop(GATE_ERROR, None)


def take_password() -> object:
    """The password field's value, removed at once: it is never kept."""
    return st.session_state.pop(PASSWORD, "")


def set_gate_error(kind: str, seconds: float) -> None:
    st.session_state[GATE_ERROR] = (kind, seconds)


def take_gate_error() -> tuple[str, float] | None:
    return st.session_state.pop(GATE_ERROR, None)


# -- the settings widgets -----------------------------------------------------------------------------------


def lang() -> str:
    choice = st.session_state.get(LANG, "auto")
    return choice if choice in ("zh", "en") else lang_from_locale(st.context.locale)


def widgets() -> Widgets:
    """The settings widgets' raw values (glmchat.chat.settings checks them)."""
    get = st.session_state.get
    return Widgets(
        model=get(MODEL),
        custom_model=get(CUSTOM_MODEL),
        temperature=get(TEMPERATURE),
        top_p=get(TOP_P),
        max_tokens=get(MAX_TOKENS),
        system=get(SYSTEM),
        thinking=get(THINKING),
        effort=get(EFFORT),
        web_search=get(WEB_SEARCH),
    )


def widget(name: str, default: object = None) -> object:
    """A widget's raw value, by its key constant."""
    return st.session_state.get(name, default)


def has_widget(name: str) -> bool:
    return name in st.session_state


def set_widget(name: str, value: object) -> None:
    """Set a widget's value before it is drawn in this run."""
    st.session_state[name] = value


def visitor_key() -> str | None:
    """The API key the visitor typed, if it has the form of one."""
    return offered.visitor_key(st.session_state.get(VISITOR_KEY))


def had_key() -> bool | None:
    return st.session_state.get(HAD_KEY)


def set_had_key(value: bool) -> None:
    st.session_state[HAD_KEY] = value


def params_for() -> str | None:
    return st.session_state.get(PARAMS_FOR)


def set_params_for(model_id: str) -> None:
    st.session_state[PARAMS_FOR] = model_id


def keep_params(visitor_key: bool = False) -> None:
    """Keep the settings widgets' values while their expander is closed and they are not drawn.

    Streamlit forgets the value of a widget a run does not draw, unless the script has set it itself.
    `visitor_key`: the key field is in the settings too (a key is in effect), not drawn before the panel.
    """
    # WEB_SEARCH too: a model without search does not draw its toggle, and the next model that has it
    # should find it as the visitor left it.
    names = (
        LANG,
        CUSTOM_MODEL,
        PRESET,
        THINKING,
        EFFORT,
        WEB_SEARCH,
        TEMPERATURE,
        TOP_P,
        MAX_TOKENS,
        SYSTEM,
        PRESET_NAME,
    )
    for name in names + ((VISITOR_KEY,) if visitor_key else ()):
        if name in st.session_state:
            st.session_state[name] = st.session_state[name]


def set_live_turn(turn: object | None) -> None:
    st.session_state[LIVE_TURN] = turn


def live_turn() -> object | None:
    return st.session_state.get(LIVE_TURN)


def take_live_turn() -> object | None:
    return st.session_state.pop(LIVE_TURN, None)


def drop_live_turn(turn: object) -> None:
    """Forget `turn` when its run ends, unless a later run registered another."""
    if st.session_state.get(LIVE_TURN) is turn:
        st.session_state.pop(LIVE_TURN, None)


def once(name: str) -> bool:
    """True the first time it is asked for `name` in this session."""
    if st.session_state.get(name):
        return False
    st.session_state[name] = True
    return True


def want_full_run() -> None:
    """A settings change the whole page shows (language, whose key, the model's name): rerun all of it."""
    st.session_state[FULL_RUN] = True


def take_full_run() -> bool:
    return bool(st.session_state.pop(FULL_RUN, False))
