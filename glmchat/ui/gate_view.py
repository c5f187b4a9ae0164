"""The gate in front of a host's key: st.login (with an allow-list) or the shared access password."""

from __future__ import annotations

import streamlit as st

from glmchat.chat.i18n import t
from glmchat.chat.render import safe_inline
from glmchat.hosting import offered
from glmchat.ui import callbacks, state
from glmchat.ui.context import Visit


def draw(visit: Visit, lang: str) -> None:
    """The only thing a visitor sees until they pass; the caller stops the script afterwards."""
    rules = visit.rules
    st.title(t("app.title", lang))
    st.write(t("gate.intro", lang))
    if rules.login:
        email = st.user.get("email") if getattr(st.user, "is_logged_in", False) else None
        if email:
            why = "gate.not_allowed" if visit.email else "gate.unverified"
            st.warning(t(why, lang, who=safe_inline(str(email), max_len=80)), icon=":material/block:")
            st.button(t("side.logout", lang), on_click=st.logout, icon=":material/logout:", key="gate-logout")
        else:
            st.button(
                t("side.login", lang), on_click=st.login, icon=":material/login:", key="gate-login", type="primary"
            )
        if rules.password_hash:
            st.caption(t("gate.or", lang))
    if rules.password_hash:
        with st.form("gate", border=False, enter_to_submit=True, clear_on_submit=True):  # no password left in the DOM
            st.text_input(
                t("gate.password", lang),
                type="password",
                key=state.PASSWORD,
                autocomplete="off",
                max_chars=offered.PASSWORD_CHARS,
            )
            st.form_submit_button(
                t("gate.enter", lang), on_click=callbacks.check_password, type="primary", icon=":material/lock_open:"
            )
        if (error := state.take_gate_error()) is not None:
            kind, wait = error
            st.error(
                t("gate.wrong", lang) if kind == "wrong" else t("gate.wait", lang, s=f"{wait:.0f}"),
                icon=":material/error:",
            )
