"""The shared sidebar: language, API key, model and parameters, new chat, usage totals."""

from __future__ import annotations

import streamlit as st

from glmchat.chat import conversation as conv
from glmchat.chat import presets
from glmchat.chat.catalogue import Catalogue
from glmchat.chat.conversation import Totals
from glmchat.chat.i18n import t
from glmchat.chat.render import safe_inline
from glmchat.chat.settings import Settings, custom_models_allowed
from glmchat.hosting import config, offered
from glmchat.hosting.access import GATE, PERSONAL, SHARED
from glmchat.store import MAX_TITLE
from glmchat.ui import callbacks, context, state
from glmchat.ui.context import Visit


def draw(where, catalogue: Catalogue, visit: Visit):
    """Draw the sidebar controls into the container `where`; returns the status slot (for draw_status)."""
    rules = visit.rules
    with where:
        st.selectbox(
            t("side.language", state.lang()),
            list(state.LANGS),
            key=state.LANG,
            format_func=lambda v: {"zh": "中文", "en": "English"}.get(v) or t("side.lang_auto", state.lang()),
        )
        lang = state.lang()

        if "auth" in visit.secrets:  # Streamlit's built-in OIDC login is configured
            draw_login(visit, lang)
        configured = visit.key is not None and visit.key.origin != "visitor"
        if not configured or (rules.mode == GATE and rules.own_key):
            st.text_input(
                t("side.key_field", lang),
                type="password",
                key=state.VISITOR_KEY,
                help=t("side.key_help", lang),
                autocomplete="off",
                max_chars=offered.VISITOR_KEY_CHARS,
            )
            if rules.mode == PERSONAL and config.find_key(visit.secrets) and not visit.local:
                st.caption(t("side.elsewhere", lang))  # why the host's key does not work here

        st.button(t("side.new_chat", lang), on_click=callbacks.new_chat, icon=":material/add:", width="stretch")
        draw_conversations(visit, lang)
        if rules.mode == SHARED:
            st.caption(t("history.shared", lang))  # the host named everything shared: say so to everyone
        return settings_panel(catalogue)


@st.fragment
def settings_panel(catalogue: Catalogue):
    """Model, parameters and status. A change here reruns only this panel, not the chat beside it.

    Only when the chat would look different (the demo notice, messages left out of the request) does
    it rerun the whole page. Returns the status slot. The visitor is looked up here, never passed in: a
    fragment keeps its arguments for its reruns.
    """
    full_run = state.panel_run_is_full()
    visit = context.current()  # app.py's, or this panel's own rerun's
    state.keep_params()
    lang = state.lang()
    callbacks.drop_forged(visit, catalogue)  # a rerun of this panel alone does not pass through before_page
    st.selectbox(
        t("side.model", lang), catalogue.ids(), key=state.MODEL, format_func=lambda i: catalogue.get(i).label(lang)
    )
    if custom_models_allowed(visit.rules.mode, visit.local, visit.key):
        st.text_input(
            t("side.custom_model", lang),
            key=state.CUSTOM_MODEL,
            help=t("side.custom_help", lang),
            max_chars=offered.CUSTOM_MODEL_CHARS,
        )
    current = visit.settings(catalogue)
    callbacks.reset_params_if_model_changed(current.model)
    if current.model.supports("web_search"):
        st.toggle(t("side.web_search", lang), key=state.WEB_SEARCH, help=t("side.web_search_help", lang))
    choices = callbacks.preset_choices(visit)
    names = {p.id: p.name for p in choices}
    st.selectbox(
        t("side.preset", lang),
        [""] + list(names),
        key=state.PRESET,
        on_change=callbacks.apply_preset,
        format_func=lambda i: names.get(i, "")[:60] if i else t("side.no_preset", lang),  # plain text
        help=t("side.preset_help", lang),
    )

    # Built only while open: collapsed, its seven widgets cost every rerun of the panel (state.keep_params).
    params = st.expander(t("side.params", lang), key=state.PARAMS_OPEN, on_change="rerun")
    if params.open:
        draw_params(params, current, visit.owner, lang)
    if visit.key is not None and visit.key.origin != "visitor":
        st.caption(t("side.key_set", lang))
    current = visit.settings(catalogue)
    if not full_run and callbacks.chat_view_changed(current):
        st.rerun()
    slot = st.empty()
    draw_status(slot, current, state.totals())
    return slot


def draw_params(where, current: Settings, owner_id: str | None, lang: str) -> None:
    """Thinking, temperature, top_p, max tokens, system prompt and saving them as a preset."""
    with where:
        if current.model.supports("thinking"):
            st.toggle(t("side.thinking", lang), key=state.THINKING, help=t("side.thinking_help", lang))
        st.slider(t("side.temperature", lang), 0.0, 1.0, step=0.01, key=state.TEMPERATURE)
        st.slider(t("side.top_p", lang), 0.01, 1.0, step=0.01, key=state.TOP_P)
        st.number_input(
            t("side.max_tokens", lang), min_value=1, max_value=current.model.max_output, step=256, key=state.MAX_TOKENS
        )
        st.text_area(
            t("side.system", lang), key=state.SYSTEM, help=t("side.system_help", lang), max_chars=offered.SYSTEM_CHARS
        )
        if owner_id is not None:
            with st.container(horizontal=True, vertical_alignment="bottom"):
                st.text_input(t("side.preset_name", lang), key=state.PRESET_NAME, max_chars=presets.MAX_NAME)
                st.button(
                    t("side.preset_save", lang),
                    key="save-preset",
                    on_click=callbacks.save_preset,
                    icon=":material/bookmark_add:",
                )


def draw_context_meter(current: Settings, lang: str) -> None:
    """How much of the model's context window the next request will use, and its input cost."""
    messages = state.messages()
    plan = callbacks.plan(current)
    used = plan.tokens if plan.dropped else conv.context_use(messages, current.system_prompt)
    window = current.model.context
    cost = current.model.cost(used, 0)
    text = t("side.context", lang, used=_k(used), window=_k(window), pct=f"{100 * used / window:.0f}")
    if cost is not None:
        text += " · " + t("side.context_cost", lang, v=f"{cost:.4f}")
    st.progress(min(used / window, 1.0), text=text)
    if plan.dropped:
        st.caption(t("side.context_trimmed", lang, n=len(plan.dropped)))


def _k(n: int) -> str:
    return f"{n / 1000:.1f}K" if n >= 1000 else str(n)


def usage_text(totals: Totals, lang: str) -> str:
    return t(
        "side.usage_line",
        lang,
        n=totals.requests,
        prompt=f"{totals.prompt_tokens:,}",
        completion=f"{totals.completion_tokens:,}",
        cost=f"{totals.cost:.4f}",
    )


def draw_status(slot, current: Settings, totals: Totals) -> None:
    """Fill the sidebar's status slot (an st.empty): the context meter and the session's usage.

    app.py draws it before the page and again after it, so it is never one turn behind.
    """
    with slot.container():
        draw_context_meter(current, current.lang)
        st.markdown(f"**{safe_inline(t('side.usage', current.lang))}**")
        st.caption(usage_text(totals, current.lang))


LIST_LENGTH = 30  # the rest is on the History page


def draw_login(visit: Visit, lang: str) -> None:
    """Sign in with the host's OIDC provider: a signed-in user's chats follow them to any browser."""
    if getattr(st.user, "is_logged_in", False):
        who = safe_inline(str(st.user.get("email") or ""), max_len=60)
        st.caption(t("side.signed_in" if visit.email else "gate.unverified", lang, who=who))
        st.button(t("side.logout", lang), on_click=st.logout, icon=":material/logout:", key="logout")
    else:
        st.button(t("side.login", lang), on_click=st.login, icon=":material/login:", key="login", type="primary")


def draw_conversations(visit: Visit, lang: str) -> None:
    """Recent conversations, newest first; the open one can be renamed or deleted."""
    if visit.owner is None:
        st.caption(t("history.off", lang))
        return
    current = state.conversation_id()
    items = visit.store.list_conversations(visit.owner, limit=LIST_LENGTH)
    if not items:
        return
    st.caption(t("history.recent", lang))
    for item in items:
        is_open = item["id"] == current
        st.button(
            safe_inline(item["title"] or t("history.untitled", lang), max_len=40),
            key=f"conv-{item['id']}",
            on_click=callbacks.open_conversation,
            args=(item["id"],),
            type="primary" if is_open else "tertiary",
            width="stretch",
        )
    open_item = next((i for i in items if i["id"] == current), None)
    if open_item is not None:
        with st.popover(
            t("history.rename", lang) + " / " + t("history.delete", lang), icon=":material/edit:", width="stretch"
        ):
            title = st.text_input(
                t("history.title", lang), value=open_item["title"], max_chars=MAX_TITLE, key=state.title_key(current)
            )
            if st.button(t("history.save", lang), key=f"rename-{current}"):
                callbacks.rename_conversation(visit, current, title.strip() or open_item["title"])
                st.rerun()
            st.button(
                t("history.delete", lang),
                key=f"delete-{current}",
                icon=":material/delete:",
                on_click=state.ask_delete,
                args=(current,),
            )
    if (target := state.delete_requested()) is not None:
        _confirm_delete(target, lang)


@st.dialog(" ")
def _confirm_delete(cid: str, lang: str) -> None:
    st.write(t("history.delete_confirm", lang))
    left, right = st.columns(2)
    if left.button(t("history.delete", lang), key="confirm-delete", type="primary", icon=":material/delete:"):
        callbacks.delete_conversation(context.current(), cid)
        st.rerun()
    if right.button(t("history.cancel", lang), key="cancel-delete"):
        state.cancel_delete()
        st.rerun()
