"""The shared sidebar: the model, its switches and usage, conversations, and the settings behind one control."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from glmchat.chat import conversation as conv
from glmchat.chat import presets
from glmchat.chat.catalogue import Catalogue, Model
from glmchat.chat.conversation import Totals
from glmchat.chat.i18n import t
from glmchat.chat.render import safe_inline
from glmchat.chat.settings import EFFORTS, Settings, custom_models_allowed
from glmchat.hosting import config, offered
from glmchat.hosting.access import GATE, PERSONAL, SHARE_OFF, SHARED
from glmchat.store import MAX_TITLE
from glmchat.store.folders import MAX_FOLDER_NAME, MAX_FOLDERS
from glmchat.ui import callbacks, context, share_view, state
from glmchat.ui.context import Visit

FOLLOW_SCRIPT = "<script>" + (Path(__file__).parent / "assets" / "follow.js").read_text(encoding="utf-8") + "</script>"


def key_field_offered(visit: Visit) -> bool:
    """Whether the visitor may type an API key: no key configured, or the gate lets visitors bring their own."""
    configured = visit.key is not None and visit.key.origin != "visitor"
    return not configured or (visit.rules.mode == GATE and visit.rules.own_key)


def draw(where, catalogue: Catalogue, visit: Visit, line=None, title=None):
    """Draw the sidebar into the container `where`; returns the status slot (for draw_status).

    In the order of use: the model, its switches and the session's usage (a fragment: changing them
    reruns only it), then New chat and the conversations; the settings people rarely change (language,
    key, presets, parameters) sit behind one control in the panel. With no key in effect the key field
    comes first, because it is how one starts.
    """
    lang = state.lang()
    with where:
        if "auth" in visit.secrets:  # Streamlit's built-in OIDC login is configured
            draw_login(visit, lang)
        if key_field_offered(visit) and visit.key is None:
            draw_key_field(visit, lang)
        slot = settings_panel(catalogue, line)
        with st.container(horizontal=True, gap="small"):
            new_chat_button(lang, "new-chat", width="stretch", shortcut="Ctrl+Shift+O")  # ChatGPT's shortcut
            if st.button(t("side.search", lang), key="search-chats", icon=":material/search:", shortcut="Ctrl+K"):
                st.switch_page("app_pages/history.py")
        draw_conversations(visit, lang, title)
        if visit.rules.mode == SHARED:
            st.caption(t("history.shared", lang))  # the host named everything shared: say so to everyone
        # Static script, no message text in or out: the view follows what is sent; "↓" to the newest.
        # Once per page: its listeners stay when the element goes, and it would add 4 KB to every rerun.
        if state.once(state.SCRIPT_SENT):
            st.html(FOLLOW_SCRIPT, unsafe_allow_javascript=True)
        return slot


def new_chat_button(lang: str, key: str, **style) -> None:
    """New chat: in the sidebar, and above the chat for a phone, whose sidebar is a closed drawer."""
    st.button(t("side.new_chat", lang), on_click=callbacks.new_chat, icon=":material/add:", key=key, **style)


def draw_key_field(visit: Visit, lang: str) -> None:
    st.text_input(
        t("side.key_field", lang),
        type="password",
        key=state.VISITOR_KEY,
        help=t("side.key_help", lang),
        autocomplete="off",
        max_chars=offered.VISITOR_KEY_CHARS,
        on_change=state.want_full_run,  # whose key it is decides the history beside the panel
    )
    if visit.rules.mode == PERSONAL and config.find_key(visit.secrets) and not visit.local:
        st.caption(t("side.elsewhere", lang))  # why the host's key does not work here


def model_label(model: Model, lang: str, has_key: bool) -> str:
    """The model's name with what it can do (images, thinking, search) and its price, or "free"; a model
    kept only for the conversations that used it says it is deprecated or retired."""
    marks = "".join(m for cap, m in (("vision", "🖼"), ("thinking", "💭"), ("web_search", "🔎")) if model.supports(cap))
    name = model.label(lang)
    if model.retired:
        return f"{name} · {t('side.retired', lang)}"  # nothing is sent to it: no price, no key needed
    if model.deprecated:
        name = f"{name} · {t('side.deprecated', lang)}"
    if model.price_in == 0 and model.price_out == 0:
        free = t("side.free", lang)
        price = "" if free in name else free  # "GLM-4-Flash (free)" says it already
    elif model.price_in is None or model.price_out is None:
        price = ""
    else:
        price = f"¥{model.price_in:g}/{model.price_out:g}"
    label = " ".join(part for part in (name, marks, price) if part)
    # Without a key only the demo answers: say so in the list, not after a message fails.
    return label + ("" if model.offline or has_key else t("side.needs_key", lang))


def model_line(current: Settings, lang: str) -> str:
    """The chat's compact line: the model and the switches that are on (a phone shows no sidebar)."""
    parts = [f":material/smart_toy: {safe_inline(current.model.label(lang), max_len=60)}"]
    if current.web_search:
        parts.append(":material/travel_explore: " + t("side.web_search", lang))
    if current.thinking and current.model.supports("thinking"):
        parts.append(":material/psychology: " + t("side.thinking", lang))
    return " · ".join(parts)


@st.fragment
def settings_panel(catalogue: Catalogue, line=None):
    """Model, switches, usage and the settings behind one control. A change here reruns only this panel.

    Only when the page would look different (the demo notice, messages left out of the request, the
    language, whose key) does it rerun the whole page. Returns the status slot. The visitor is looked up
    here, never passed in: a fragment keeps its arguments for its reruns.
    """
    full_run = state.panel_run_is_full()
    visit = context.current()  # app.py's, or this panel's own rerun's
    key_here = key_field_offered(visit) and visit.key is not None  # typed already: it moves to the settings
    state.keep_params(visitor_key=key_here)
    lang = state.lang()
    callbacks.drop_forged(visit, catalogue)  # a rerun of this panel alone does not pass through before_page

    # A deprecated model is offered only to a conversation that used it (reopened, it keeps its model).
    chosen = state.widget(state.MODEL)
    options = catalogue.offered()
    if chosen in catalogue.ids() and chosen not in options:
        options.append(chosen)
    st.selectbox(
        t("side.model", lang),
        options,
        key=state.MODEL,
        format_func=lambda i: model_label(catalogue.get(i), lang, visit.key is not None),
    )
    current = visit.settings(catalogue)
    if (picked := catalogue.get(chosen)).retired:  # what the chat uses instead (glmchat.chat.settings.checked)
        note = t("side.retired_note", lang, old=picked.label(lang), new=current.model.label(lang))
        st.warning(note, icon=":material/history:")
    callbacks.reset_params_if_model_changed(current.model)
    if current.model.supports("web_search"):
        st.toggle(t("side.web_search", lang), key=state.WEB_SEARCH, help=t("side.web_search_help", lang))
    slot = st.empty()

    # Built only while open: collapsed, its widgets cost every rerun of the panel (state.keep_params).
    more = st.expander(t("side.settings", lang), key=state.PARAMS_OPEN, on_change="rerun", icon=":material/tune:")
    if more.open:
        with more:
            st.selectbox(
                t("side.language", lang),
                list(state.LANGS),
                key=state.LANG,
                format_func=lambda v: {"zh": "中文", "en": "English"}.get(v) or t("side.lang_auto", lang),
                on_change=state.want_full_run,
            )
            if key_here:
                draw_key_field(visit, lang)
            if visit.key is not None and visit.key.origin != "visitor":
                st.caption(t("side.key_set", lang))
            if custom_models_allowed(visit.rules.mode, visit.local, visit.key):
                st.text_input(
                    t("side.custom_model", lang),
                    key=state.CUSTOM_MODEL,
                    help=t("side.custom_help", lang),
                    max_chars=offered.CUSTOM_MODEL_CHARS,
                    on_change=state.want_full_run,  # the model the page names changes
                )
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
        draw_params(more, current, visit.owner, lang)
    current = visit.settings(catalogue)
    if not full_run and (state.take_full_run() or callbacks.chat_view_changed(current)):
        st.rerun()
    draw_status(slot, current, state.totals())
    if line is not None:  # the chat page's slot, outside this panel: a rerun of the panel updates it too
        line.caption(model_line(current, lang))
    return slot


def draw_params(where, current: Settings, owner_id: str | None, lang: str) -> None:
    """Thinking, temperature, top_p, max tokens, system prompt and saving them as a preset."""
    with where:
        if current.model.supports("thinking"):
            st.toggle(t("side.thinking", lang), key=state.THINKING, help=t("side.thinking_help", lang))
        if current.model.supports("reasoning_effort") and current.thinking:
            st.selectbox(
                t("side.effort", lang),
                EFFORTS,
                key=state.EFFORT,
                format_func=lambda e: t(f"side.effort_{e}", lang),
                help=t("side.effort_help", lang),
            )
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


def day_group(when: datetime, now: datetime) -> str:
    """ "today", "yesterday" or "earlier": where a conversation last updated at `when` is listed."""
    days = (now.date() - when.astimezone(now.tzinfo).date()).days
    return "today" if days <= 0 else "yesterday" if days == 1 else "earlier"


def browser_zone() -> tzinfo:
    """The browser's time zone (st.context.timezone, sent by the page: checked), else UTC."""
    name = st.context.timezone
    if isinstance(name, str) and 0 < len(name) <= 64:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


ROW_WIDTH = 26  # a row's title, in Latin letters: the ⋯ menu beside it stays on the row, also when chosen


def row_title(title: str) -> str:
    """The title cut to ROW_WIDTH, a wide (Chinese, Japanese, Korean) character counting as two letters."""
    title = " ".join(title.split())
    used = 0
    for i, ch in enumerate(title):
        used += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        if used > ROW_WIDTH:
            return title[:i].rstrip() + "…"
    return title


def draw_conversations(visit: Visit, lang: str, title=None) -> None:
    """Recent conversations: the pinned ones first, then newest first under Today / Yesterday / Earlier; each
    row has a ⋯ menu. With folders, a choice above the list shows one folder's conversations together.

    The open conversation's title also goes into the chat's header (`title`, a slot), when there is one.
    """
    if visit.owner is None:
        st.caption(t("history.off", lang))
        return
    current = state.conversation_id()
    shelves = visit.store.folders(visit.owner)
    folder = None
    if shelves:
        folder_select(
            t("folder.filter", lang),
            state.SIDE_FOLDER,
            shelves,
            t("folder.all", lang),
            counts=True,
            label_visibility="collapsed",
        )
        folder = callbacks.folder_choice(state.SIDE_FOLDER, shelves)
    items = visit.store.list_conversations(visit.owner, limit=LIST_LENGTH, folder=folder)
    now = datetime.now(browser_zone())
    group = None
    for item in items:
        if (g := "pinned" if item["pinned"] else day_group(item["updated_at"], now)) != group:
            group = g
            st.caption(t(f"side.{g}", lang))
        cid = item["id"]
        # Title on the left, the menu on the right: a stretched button would centre the title.
        with st.container(horizontal=True, horizontal_alignment="distribute", vertical_alignment="center", gap=None):
            label = row_title(item["title"] or t("history.untitled", lang))
            st.button(
                safe_inline(label, max_len=ROW_WIDTH + 1),
                key=f"conv-{cid}",
                on_click=callbacks.open_conversation,
                args=(cid,),
                type="primary" if cid == current else "tertiary",
                help=safe_inline(item["title"], max_len=MAX_TITLE)
                if item["title"] and label != item["title"]
                else None,
            )
            st.menu_button(
                "⋯",  # a text label: an icon-only button is announced as "more_horiz icon"
                callbacks.row_actions(item["pinned"], visit.rules.share_links != SHARE_OFF),
                key=state.row_menu_key(cid),
                type="tertiary",
                format_func=lambda a: t(f"history.{a}", lang),
                on_click=callbacks.row_action,
                args=(cid,),
                help=t("history.actions", lang),
            )
    titles = {i["id"]: i["title"] for i in items}
    if title is not None and titles.get(current):
        title.markdown(f"**{safe_inline(titles[current], max_len=40)}**")
    if (target := state.rename_requested()) is not None and target in titles:
        _rename(visit, target, titles[target], lang)
    elif (target := state.move_requested()) is not None and target in titles:
        _move(visit, target, shelves, lang)
    elif (made := state.share_made()) is not None:
        share_view.made(made or None, visit.rules, lang)
    elif (target := state.delete_requested()) is not None:
        _confirm_delete(target, lang)


def folder_select(label: str, key: str, shelves: list[dict], none_label: str, *, counts: bool = False, **style) -> None:
    """A choice of one of the owner's folders, or none ("" first); callbacks.folder_choice reads it back."""
    names = {f["id"]: f"{f['name']} ({f['count']})" if counts else f["name"] for f in shelves}
    st.selectbox(
        label,
        ["", *names],
        key=key,
        format_func=lambda fid: safe_inline(names[fid], max_len=70) if fid else none_label,
        **style,
    )


@st.dialog(" ", on_dismiss=lambda: state.cancel_move())
def _move(visit: Visit, cid: str, shelves: list[dict], lang: str) -> None:
    folder_select(t("folder.move_to", lang), state.MOVE_TO, shelves, t("folder.none", lang))
    if len(shelves) < MAX_FOLDERS:
        st.text_input(t("folder.new", lang), max_chars=MAX_FOLDER_NAME, key=state.NEW_FOLDER)
    else:
        st.caption(t("folder.too_many", lang, n=MAX_FOLDERS))
    st.button(t("folder.move", lang), key="move-go", type="primary", on_click=callbacks.move_conversation, args=(cid,))


@st.dialog(" ", on_dismiss=lambda: state.cancel_rename())
def _rename(visit: Visit, cid: str, title: str, lang: str) -> None:
    # A form: Enter in the field saves, as people expect.
    with st.form(f"rename-{cid}", border=False):
        new = st.text_input(t("history.title", lang), value=title, max_chars=MAX_TITLE, key=state.title_key(cid))
        saved = st.form_submit_button(t("history.save", lang), type="primary")
    if saved:
        callbacks.rename_conversation(visit, cid, new.strip() or title)
        state.cancel_rename()
        st.rerun()


@st.dialog(" ")
def _confirm_delete(cid: str, lang: str) -> None:
    st.write(t("history.delete_confirm", lang))
    left, right = st.columns(2)
    # Red, not the theme's blue: the one destructive choice should not look like the recommended one.
    if left.button(":red[" + t("history.delete", lang) + "]", key="confirm-delete", icon=":material/delete:"):
        callbacks.delete_conversation(context.current(), cid)
        st.rerun()
    if right.button(t("history.cancel", lang), key="cancel-delete"):
        state.cancel_delete()
        st.rerun()
