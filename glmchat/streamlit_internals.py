"""Two guards on Streamlit's server that reach into its internals, and why.

Neither can be expressed with Streamlit's public API; `install()` puts both in place once per process:

- Uploads. Streamlit accepts a file PUT for any live session id, before the app has drawn any upload
  widget for it: a session still at the password gate could park files in memory. The uploaded-file
  manager's `add_file` is wrapped so that only sessions the app has admitted (`allow_uploads`) may hold
  files, within a count and a byte budget.
- Resuming a session. A WebSocket that presents a live or stored session's id takes that session over
  (Streamlit's reconnect). The id travels in upload URLs, so proxy logs can leak it. `connect_session` is
  wrapped so that an id is resumed only by a client with the same address and user agent as the one that
  opened it; anyone else gets a new session.

`tests/test_streamlit_internals.py` names each symbol used here (USES), so an upgrade that moves one fails
there with its name; the instance attributes (the manager's `file_storage`, the runtime's `_session_mgr`)
are exercised by that file's guard tests and by tests/test_attacks.py against a real server.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

# Symbols this module relies on (checked by the upgrade test).
USES = (
    "streamlit.runtime.Runtime.instance",
    "streamlit.runtime.Runtime.exists",
    "streamlit.runtime.Runtime.connect_session",
    "streamlit.runtime.Runtime.get_client",
    "streamlit.runtime.websocket_session_manager.WebsocketSessionManager.get_session_info",
    "streamlit.runtime.Runtime.uploaded_file_mgr",
    "streamlit.runtime.memory_uploaded_file_manager.MemoryUploadedFileManager.add_file",  # and .file_storage
    "streamlit.runtime.scriptrunner_utils.script_run_context.get_script_run_ctx",
    "starlette.exceptions.HTTPException",
)
_ATTRIBUTE = "_glmchat_guards"  # where the guards' state lives: on the runtime, so a module reload keeps it


@dataclass(frozen=True)
class UploadBudget:
    files: int        # files one session may hold at once
    bytes: int        # their total size
    file_bytes: int   # one file's size


@dataclass
class Guards:
    """What the wrappers consult. One per server process, kept on the runtime: Streamlit reloads changed
    modules under a running server, and a fresh module-level table would no longer be the wrappers' one."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    budgets: dict[str, UploadBudget] = field(default_factory=dict)  # session id -> what it may hold
    clients: dict[str, str] = field(default_factory=dict)  # session id -> fingerprint of the client that opened it


def session_id() -> str | None:
    """The id of the session running this script (None outside a Streamlit run)."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else None


def _runtime():
    from streamlit.runtime import Runtime
    return Runtime.instance() if Runtime.exists() else None  # None in AppTest: no server, nothing to guard


def install() -> None:
    """Wrap the upload manager and session connects of the running server, once per process."""
    runtime = _runtime()
    if runtime is None or getattr(runtime, _ATTRIBUTE, None) is not None:
        return
    guards = Guards()
    with guards.lock:
        _guard_uploads(runtime, guards)
        _guard_resume(runtime, guards)
        setattr(runtime, _ATTRIBUTE, guards)


def _guards() -> Guards | None:
    runtime = _runtime()
    return getattr(runtime, _ATTRIBUTE, None) if runtime is not None else None


def remember_client(session: str | None) -> None:
    """Note which client opened this session, for sessions that connected before install() ran."""
    guards = _guards()
    if session is None or guards is None:
        return
    client = _runtime().get_client(session)
    if client is not None:
        with guards.lock:
            guards.clients.setdefault(session, _fingerprint(client))


def allow_uploads(session: str | None, budget: UploadBudget) -> None:
    """Let an admitted session hold uploads within `budget` (called on each of its runs)."""
    guards = _guards()
    if session is None or guards is None:
        return
    with guards.lock:
        guards.budgets[session] = budget


def _prune(runtime, guards: Guards) -> None:
    """Forget sessions the server no longer holds, live or stored for a reconnect (with guards.lock held)."""
    for table in (guards.budgets, guards.clients):
        if len(table) > 64:
            for sid in [sid for sid in table if runtime._session_mgr.get_session_info(sid) is None]:
                del table[sid]


def _guard_uploads(runtime, guards: Guards) -> None:
    from starlette.exceptions import HTTPException
    manager = runtime.uploaded_file_mgr
    add_file = manager.add_file

    def guarded_add_file(session_id: str, file) -> None:
        # Runs on the event loop between the body's parse and the store, with no await in between:
        # two uploads of one session cannot both pass the check.
        with guards.lock:
            budget = guards.budgets.get(session_id)
            if budget is None:
                raise HTTPException(status_code=403, detail="Uploads are not accepted for this session")
            held = {fid: len(rec.data) for fid, rec in manager.file_storage.get(session_id, {}).items()
                    if fid != file.file_id}
            if (len(file.data) > budget.file_bytes or len(held) + 1 > budget.files
                    or sum(held.values()) + len(file.data) > budget.bytes):
                raise HTTPException(status_code=413, detail="Upload budget exceeded")
            add_file(session_id, file)

    manager.add_file = guarded_add_file


def _fingerprint(client) -> str:
    context = getattr(client, "client_context", None)
    headers = {str(k).lower(): str(v) for k, v in (context.headers if context else ())}
    who = "\n".join((str(getattr(context, "remote_ip", "")), headers.get("x-real-ip", ""),
                     headers.get("user-agent", "")))
    return hashlib.sha256(who.encode()).hexdigest()


def _guard_resume(runtime, guards: Guards) -> None:
    connect_session = runtime.connect_session

    def guarded_connect_session(client, user_info, existing_session_id=None, session_id_override=None):
        mine = _fingerprint(client)
        with guards.lock:
            if existing_session_id is not None and guards.clients.get(existing_session_id) != mine:
                existing_session_id = None  # another client (or an id we never saw): a new session
        sid = connect_session(client=client, user_info=user_info, existing_session_id=existing_session_id,
                              session_id_override=session_id_override)
        with guards.lock:
            guards.clients.setdefault(sid, mine)
            _prune(runtime, guards)
        return sid

    runtime.connect_session = guarded_connect_session
