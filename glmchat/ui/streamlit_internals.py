"""Every use GLM Chat makes of Streamlit's internals, each with its reason; no other module imports them.

Streamlit's public API cannot express these:

- Stops. A Stop click, a closed page and (runner.fastReruns) any newer run of the page all end the script
  with StopException; a reply must still be saved and marked, and neither a closed page (a reload,
  `page_closed`) nor a newer run (`superseded`: the app session's script runner is another one now) may
  stop the reply at all.
- Drawing later (glmchat/ui/later.py). A widget's id includes the page script that draws it, so a draw
  queued by one script and run while another runs must run under the first one's hash
  (`bound_to_this_script`); after a Stop only a helper thread carrying the run's context can still
  send elements (`run_in_thread_of_this_run`).
- Secrets. Reading st.secrets without any secrets file rescans the paths under a process-wide lock and
  raises, at every read; whether secrets are already parsed (a file was read, or AppTest set them) is
  only known from Streamlit's private `_secrets` (`secrets_parsed`).
- Uploads. Streamlit accepts a file PUT for any live session id, before the app has drawn any upload
  widget for it: a session still at the password gate could park files in memory. The uploaded-file
  manager's `add_file` is wrapped so that only sessions the app has admitted (`allow_uploads`) may hold
  files, within a count and a byte budget.
- Resuming a session. A WebSocket that presents a live or stored session's id takes that session over
  (Streamlit's reconnect). The id travels in upload URLs, so proxy logs can leak it. `connect_session` is
  wrapped so that an id is resumed only by a client with the same address and user agent as the one that
  opened it; anyone else gets a new session.

`tests/ui/test_streamlit_internals.py` names each symbol used here (USES), so an upgrade that moves one fails
there with its name, and exercises the instance attributes (a context's active script hash, the manager's
`file_storage`, the runtime's `_session_mgr`, a session info's `session`, an app session's `_scriptrunner`,
a runner's `_requests`, the secrets' `_secrets`). Run it first after an upgrade.
"""

from __future__ import annotations

import contextvars
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import StopException  # noqa: F401 - re-exported

# Symbols this module relies on (checked by the upgrade test).
USES = (
    "streamlit.runtime.scriptrunner_utils.exceptions.StopException",
    "streamlit.runtime.scriptrunner_utils.script_run_context.get_script_run_ctx",
    "streamlit.runtime.scriptrunner_utils.script_run_context.add_script_run_ctx",
    "streamlit.runtime.scriptrunner_utils.script_run_context.ThreadState.get",
    "streamlit.runtime.scriptrunner_utils.script_run_context.ScriptRunContext.run_with_active_hash",
    "streamlit.runtime.Runtime.instance",
    "streamlit.runtime.Runtime.exists",
    "streamlit.runtime.Runtime.connect_session",
    "streamlit.runtime.Runtime.is_active_session",
    "streamlit.runtime.Runtime.get_client",
    "streamlit.runtime.Runtime.uploaded_file_mgr",
    "streamlit.runtime.websocket_session_manager.WebsocketSessionManager.get_session_info",
    "streamlit.runtime.scriptrunner_utils.script_run_context.ScriptRunContext.script_requests",
    "streamlit.runtime.memory_uploaded_file_manager.MemoryUploadedFileManager.add_file",
    "streamlit.runtime.secrets.Secrets",
    "starlette.exceptions.HTTPException",
)


# -- the running script ------------------------------------------------------------------------------------


def _ctx():
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    return get_script_run_ctx()


def session_id() -> str | None:
    """The id of the session running this script (None outside a Streamlit run)."""
    ctx = _ctx()
    return ctx.session_id if ctx else None


def page_closed(session: str | None, wait: float = 1.0) -> bool:
    """Whether the session left the server within `wait` seconds: a stop that came from the browser going
    away (reload, closed tab) rather than the Stop button.

    Streamlit stops the script of a disconnecting session in the same call that removes it from the
    active map; on a loaded server that can take a while, hence the wait.
    """
    runtime = _runtime()
    if not session or runtime is None:
        return False
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if runtime.is_active_session(session) is False:
            return True
        time.sleep(0.02)
    return False


def superseded(session: str | None, wait: float = 0.1) -> bool:
    """Whether a newer run of this session replaced the one in this thread (a rerun with runner.fastReruns),
    rather than the run being stopped (the status widget's Stop) with nothing after it.

    Streamlit stops the old runner and then installs the new one, so a stop seen in between is given `wait`.
    """
    runtime, ctx = _runtime(), _ctx()
    manager = getattr(runtime, "_session_mgr", None)  # AppTest's runtime is a mock without one
    if not session or manager is None or ctx is None:
        return False
    deadline = time.monotonic() + wait
    while True:
        info = manager.get_session_info(session)
        runner = info.session._scriptrunner if info is not None else None
        if runner is not None and runner._requests is not ctx.script_requests:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def bound_to_this_script(draw: Callable[[], None]) -> Callable[[], None]:
    """`draw`, to run later under the page script that is running now (its widgets keep their ids)."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState

    ctx = _ctx()
    return partial(_run_as, ctx, ThreadState.get().active_script_hash, draw) if ctx else draw


def _run_as(ctx, script_hash: str, draw: Callable[[], None]) -> None:
    with ctx.run_with_active_hash(script_hash):
        draw()


def run_in_thread_of_this_run(draw: Callable[[], None], timeout: float = 10.0) -> None:
    """Run `draw` on a helper thread that carries this run's context, and wait for it.

    After a Stop, Streamlit raises StopException at each element the script thread sends; its checks apply
    only to the script thread. The copied context variables carry the run's place on the page.
    """
    from streamlit.runtime.scriptrunner_utils.script_run_context import add_script_run_ctx

    ctx = _ctx()
    if ctx is None:
        return
    helper = threading.Thread(
        target=contextvars.copy_context().run, args=(draw,), name="glmchat-after-stop", daemon=True
    )
    add_script_run_ctx(helper, ctx)
    helper.start()
    helper.join(timeout=timeout)


def secrets_parsed() -> bool:
    """Whether Streamlit has already parsed secrets (a file was read, or AppTest set them)."""
    return getattr(st.secrets, "_secrets", None) is not None


# -- uploads and session resumption -----------------------------------------------------------------------

_ATTRIBUTE = "_glmchat_guards"  # where the guards' state lives: on the runtime, so a module reload keeps it


@dataclass(frozen=True)
class UploadBudget:
    files: int  # files one session may hold at once
    bytes: int  # their total size
    file_bytes: int  # one file's size


@dataclass
class Guards:
    """What the wrappers consult. One per server process, kept on the runtime: Streamlit reloads changed
    modules under a running server, and a fresh module-level table would no longer be the wrappers' one."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    budgets: dict[str, UploadBudget] = field(default_factory=dict)  # session id -> what it may hold
    clients: dict[str, str] = field(default_factory=dict)  # session id -> fingerprint of the client that opened it


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
            held = {
                fid: len(rec.data)
                for fid, rec in manager.file_storage.get(session_id, {}).items()
                if fid != file.file_id
            }
            if (
                len(file.data) > budget.file_bytes
                or len(held) + 1 > budget.files
                or sum(held.values()) + len(file.data) > budget.bytes
            ):
                raise HTTPException(status_code=413, detail="Upload budget exceeded")
            add_file(session_id, file)

    manager.add_file = guarded_add_file


def _fingerprint(client) -> str:
    context = getattr(client, "client_context", None)
    headers = {str(k).lower(): str(v) for k, v in (context.headers if context else ())}
    who = "\n".join(
        (str(getattr(context, "remote_ip", "")), headers.get("x-real-ip", ""), headers.get("user-agent", ""))
    )
    return hashlib.sha256(who.encode()).hexdigest()


def _guard_resume(runtime, guards: Guards) -> None:
    connect_session = runtime.connect_session

    def guarded_connect_session(client, user_info, existing_session_id=None, session_id_override=None):
        mine = _fingerprint(client)
        with guards.lock:
            if existing_session_id is not None and guards.clients.get(existing_session_id) != mine:
                existing_session_id = None  # another client (or an id we never saw): a new session
        sid = connect_session(
            client=client,
            user_info=user_info,
            existing_session_id=existing_session_id,
            session_id_override=session_id_override,
        )
        with guards.lock:
            guards.clients.setdefault(sid, mine)
            _prune(runtime, guards)
        return sid

    runtime.connect_session = guarded_connect_session
