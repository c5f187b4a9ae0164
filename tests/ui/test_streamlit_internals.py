"""The Streamlit internals GLM Chat relies on (glmchat/ui/streamlit_internals.py), and its two guards.

When upgrading Streamlit, run `bash scripts/test.sh tests/ui/test_streamlit_internals.py` first: a moved or
renamed symbol fails here with its dotted name, before any behaviour test fails for a less clear reason.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from starlette.exceptions import HTTPException
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.uploaded_file_manager import UploadedFileRec

from glmchat.ui import streamlit_internals as internals


@pytest.mark.parametrize("dotted", internals.USES)
def test_every_internal_symbol_is_where_the_app_expects_it(dotted):
    parts = dotted.split(".")
    target, split = None, 0
    for split in range(len(parts) - 1, 0, -1):  # the longest prefix that is a module
        try:
            target = importlib.import_module(".".join(parts[:split]))
            break
        except ImportError:
            continue
    assert target is not None, f"Streamlit internal moved: no module of {dotted} exists"
    for name in parts[split:]:
        assert hasattr(target, name), f"Streamlit internal moved: {dotted} (no {name!r} in {target!r})"
        target = getattr(target, name)


class FakeRuntime:
    """What the guards touch of streamlit.runtime.Runtime, with the real upload manager."""

    def __init__(self) -> None:
        self.uploaded_file_mgr = MemoryUploadedFileManager("/_stcore/upload_file")
        self.connected: list[tuple[str | None, str]] = []
        self._session_mgr = SimpleNamespace(get_session_info=lambda sid: object())

    def connect_session(self, client, user_info, existing_session_id=None, session_id_override=None) -> str:
        sid = existing_session_id or f"session-{len(self.connected)}"
        self.connected.append((existing_session_id, sid))
        return sid

    def get_client(self, session_id):
        return None


def rec(file_id: str, size: int) -> UploadedFileRec:
    return UploadedFileRec(file_id=file_id, name=f"{file_id}.png", type="image/png", data=b"\0" * size)


def test_uploads_only_for_admitted_sessions_and_within_their_budget():
    runtime, guards = FakeRuntime(), internals.Guards()
    internals._guard_uploads(runtime, guards)
    manager = runtime.uploaded_file_mgr
    with pytest.raises(HTTPException) as refused:
        manager.add_file("at-the-gate", rec("a", 10))  # never admitted
    assert refused.value.status_code == 403 and not manager.file_storage.get("at-the-gate")
    guards.budgets["in"] = internals.UploadBudget(files=2, bytes=100, file_bytes=60)  # as allow_uploads does
    manager.add_file("in", rec("a", 50))
    manager.add_file("in", rec("a", 60))  # the same file again replaces it
    manager.add_file("in", rec("b", 40))
    for too_much in (rec("c", 1), rec("b", 41), rec("d", 61)):  # a third file; 101 bytes; one over 60
        with pytest.raises(HTTPException) as over:
            manager.add_file("in", too_much)
        assert over.value.status_code == 413
    assert sorted(manager.file_storage["in"]) == ["a", "b"]
    manager.remove_file("in", "a")
    manager.add_file("in", rec("c", 40))  # room again once one is taken away


def client(ip: str, agent: str = "Firefox") -> SimpleNamespace:
    return SimpleNamespace(client_context=SimpleNamespace(remote_ip=ip, headers=[("User-Agent", agent)]))


def test_a_session_is_resumed_only_by_the_client_that_opened_it():
    runtime = FakeRuntime()
    internals._guard_resume(runtime, internals.Guards())
    first = runtime.connect_session(client("203.0.113.5"), {})
    assert runtime.connect_session(client("203.0.113.5"), {}, existing_session_id=first) == first  # a reconnect
    for other in (client("198.51.100.9"), client("203.0.113.5", "curl")):
        taken = runtime.connect_session(other, {}, existing_session_id=first)
        assert taken != first
    assert runtime.connect_session(client("203.0.113.5"), {}, existing_session_id="never-seen") != "never-seen"


def test_the_guards_survive_streamlit_reloading_this_module(monkeypatch):
    # Streamlit reloads changed modules under a running server: the wrappers installed before must
    # still see what the reloaded module records (uploads were refused with 403 until a restart).
    runtime = FakeRuntime()
    monkeypatch.setattr(internals, "_runtime", lambda: runtime)
    internals.install()
    importlib.reload(internals)
    monkeypatch.setattr(internals, "_runtime", lambda: runtime)
    internals.install()  # finds the guards already on the runtime: nothing is wrapped twice
    internals.allow_uploads("s", internals.UploadBudget(files=1, bytes=10, file_bytes=10))
    runtime.uploaded_file_mgr.add_file("s", rec("a", 5))
    assert list(runtime.uploaded_file_mgr.file_storage["s"]) == ["a"]


def test_drawing_later_under_this_script_and_from_a_helper_thread():
    """What glmchat/ui/later.py relies on: a context's active script hash and a helper thread carrying the run."""
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        from glmchat.ui import streamlit_internals as internals

        later = internals.bound_to_this_script(lambda: st.write("drawn later"))
        st.write("first")
        later()
        internals.run_in_thread_of_this_run(lambda: st.write("drawn by a helper thread"))
        st.write(f"session {internals.session_id() is not None}, secrets {internals.secrets_parsed()}")

    at = AppTest.from_function(script)
    at.secrets["x"] = "y"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.value for m in at.markdown] == [
        "first",
        "drawn later",
        "drawn by a helper thread",
        "session True, secrets True",
    ]


def test_a_closed_page_is_told_from_the_stop_button_by_the_session_leaving(monkeypatch):
    left = SimpleNamespace(is_active_session=lambda sid: False)
    stayed = SimpleNamespace(is_active_session=lambda sid: True)
    monkeypatch.setattr(internals, "_runtime", lambda: left)
    assert internals.page_closed("s") is True
    monkeypatch.setattr(internals, "_runtime", lambda: stayed)
    assert internals.page_closed("s", wait=0.05) is False
    assert internals.page_closed(None) is False


def test_a_newer_run_is_told_from_a_plain_stop_by_the_session_runner(monkeypatch):
    """What `superseded` reads: the session's runner now, and the requests object this run's context shares
    with the runner that started it (Streamlit sets both in their constructors)."""
    import inspect

    from streamlit.runtime.app_session import AppSession
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner
    from streamlit.runtime.session_manager import SessionInfo
    from streamlit.testing.v1 import AppTest

    assert "self._scriptrunner" in inspect.getsource(AppSession.__init__)
    assert "script_requests=self._requests" in inspect.getsource(ScriptRunner)
    assert "session" in SessionInfo.__dataclass_fields__

    def script():
        from types import SimpleNamespace

        import streamlit as st
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        from glmchat.ui import streamlit_internals as internals

        this = SimpleNamespace(_requests=get_script_run_ctx().script_requests)
        newer = SimpleNamespace(_requests=object())
        answers = []
        for runner in (this, newer, None):
            session = SimpleNamespace(session=SimpleNamespace(_scriptrunner=runner))
            manager = SimpleNamespace(get_session_info=lambda sid, s=session: s)
            internals._runtime = lambda m=manager: SimpleNamespace(_session_mgr=m)
            answers.append(internals.superseded("s", wait=0.05))
        st.write(repr(answers))

    monkeypatch.setattr(internals, "_runtime", internals._runtime)  # the script replaces it; put it back after
    at = AppTest.from_function(script)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    # Its own runner: a plain stop. Another runner: a newer run. None (between stop and start): a plain stop
    # once the wait is over, since no newer run came.
    assert at.markdown[0].value == "[False, True, False]"
