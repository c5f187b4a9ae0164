"""AppTest helpers shared by the page tests (streamlit.testing.v1 against app.py)."""

from __future__ import annotations

from conftest import ROOT
from streamlit.testing.v1 import AppTest

from glmchat.ui import state


def new_app(
    *,
    lang: str = "en",
    query: dict | None = None,
    page: str | None = None,
    params_open: bool = False,
    model: str | None = None,
) -> AppTest:
    """A fresh session of the app after its first run; `model` is then chosen in the sidebar."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state[state.LANG] = lang
    if params_open:
        at.session_state[state.PARAMS_OPEN] = True  # the parameters expander draws its widgets only when open
    for k, v in (query or {}).items():
        at.query_params[k] = v
    if page:
        at.switch_page(page)
    at.run()
    if model:
        at.sidebar.selectbox(key=state.MODEL).set_value(model).run()
    return at


def send(at: AppTest, text: str, **kw) -> AppTest:
    """Type a message into the chat input and send it; the run must raise nothing."""
    at.chat_input[0].set_value(text).run(**kw)
    assert not at.exception, [e.value for e in at.exception]
    return at


def enter(at: AppTest, password: str) -> AppTest:
    """Pass (or try to pass) the access-password gate."""
    at.text_input(key=state.PASSWORD).input(password)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(at: AppTest) -> str:
    """Everything the main area and the sidebar hold, as text."""
    return repr(at.main) + repr(at.sidebar)
