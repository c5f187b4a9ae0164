"""GLM Chat: page config, navigation and the shared sidebar."""

import logging
from functools import partial
from pathlib import Path

import streamlit as st

from glmchat.chat.catalogue import load
from glmchat.chat.i18n import t
from glmchat.chat.render import safe_inline
from glmchat.hosting import config
from glmchat.hosting.access import SHARE_ANYONE, SHARE_OFF, ConfigError
from glmchat.ui import (
    callbacks,
    context,
    gate_view,
    heap,
    later,
    prestart,
    share_view,
    sidebar,
    state,
    streamlit_internals,
)

# A local file: a :material/…: or emoji page icon makes every page load fetch it from a CDN.
ICON = str(Path(__file__).with_name("glmchat") / "ui" / "assets" / "icon.png")

heap.freeze_loaded()  # before this run's objects: what is loaded by now lives as long as the process
config.load_env_file()
log = logging.getLogger("glmchat")
if not log.handlers:  # once per process: the script reruns, the logger stays
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)

# An About item shows the header's menu, which holds the light/dark/system theme choice.
ABOUT = "**GLM Chat** · 与智谱 GLM 模型对话 · Chat with ZhipuAI's GLM models"
st.set_page_config(page_title="GLM Chat", page_icon=ICON, layout="centered", menu_items={"About": ABOUT})
streamlit_internals.install()
session = streamlit_internals.session_id()
streamlit_internals.remember_client(session)
state.init()
state.begin_run()
try:
    visit = context.begin()  # who is visiting and under which rules, once for this run
    visit.check()  # limits too: a wrong setting is reported here, not half-applied later
except (ConfigError, ValueError) as exc:  # fail closed: a wrong access setting must not open the host's key to all
    context.end()
    st.error(t("config.error", state.lang(), why=safe_inline(str(exc))), icon=":material/error:")
    st.stop()
try:
    shared = st.Page(
        "app_pages/shared.py",
        title=t("page.shared", state.lang()),
        icon=":material/share:",
        url_path=share_view.PAGE,
        visibility="hidden",
    )
    if not visit.admitted():
        if visit.rules.share_links == SHARE_ANYONE and "s" in st.query_params:
            # A share link, for anyone: the snapshot it names is the only page there is for this visitor.
            st.navigation([shared], position="hidden").run()
            st.stop()
        # Nothing else runs before the gate is passed: no sidebar, no navigation, so no page URL gets past it.
        gate_view.draw(visit, state.lang())
        st.stop()
    streamlit_internals.allow_uploads(session, visit.upload_budget())  # no file is taken before the gate
    catalogue = load()
    callbacks.before_page(visit, catalogue)
    lang = state.lang()
    chat = st.Page("app_pages/chat.py", title=t("page.chat", lang), icon=":material/chat:", default=True)
    page = st.navigation(
        [
            chat,
            st.Page("app_pages/history.py", title=t("page.history", lang), icon=":material/history:"),
            st.Page("app_pages/usage.py", title=t("page.usage", lang), icon=":material/query_stats:"),
        ]
        + ([shared] if visit.rules.share_links != SHARE_OFF else [])
    )
    later.reset()
    status_slot = None
    # The chat's header: the conversation's title (filled with the sidebar's list), the model line (filled
    # by the sidebar's panel, on its own reruns too: a phone's sidebar is a closed drawer) and New chat.
    # Kept in view while the chat scrolls (assets/follow.js makes it sticky). On the run that carries a
    # reply it is filled after the first token, like the sidebar: the container, sent first, keeps what it
    # showed until then.
    slots: dict = {}
    replying = page.url_path == chat.url_path and state.reply_waiting()

    def draw_header(header) -> None:
        with header:
            with st.container(gap=None, width="content"):
                slots["title"] = st.empty()
                slots["line"] = st.empty()
                slots["line"].caption(sidebar.model_line(visit.settings(catalogue), lang))  # the panel may come later
                if state.temporary():
                    st.badge(t("chat.temporary_on", lang), icon=":material/visibility_off:", color="orange")
            if visit.owner is not None:  # without saved history every chat is temporary anyway
                state.show_temporary()
                st.toggle(
                    t("chat.temporary", lang),
                    key=state.TEMPORARY,
                    on_change=callbacks.temporary_changed,
                    help=t("chat.temporary_help", lang),
                )
            sidebar.new_chat_button(lang, "new-chat-top", type="tertiary")

    if page.url_path == chat.url_path:
        if (cid := state.conversation_id()) and st.query_params.get("c") != cid:
            # The open chat in the URL (a reload reopens it), but not before a new chat's first token: a
            # changed URL is one more message to the browser.
            later.add(partial(st.query_params.__setitem__, "c", cid))
        header = st.container(
            horizontal=True, vertical_alignment="center", horizontal_alignment="distribute", key="chat-header"
        )
        if replying:
            later.add(partial(draw_header, header))
        else:
            draw_header(header)

    def draw_sidebar() -> None:
        global status_slot
        # The sidebar's one container, made only now: nothing else goes in the sidebar, so its place is the
        # same whenever it is drawn, and what it showed stays until then (on a reply's run, after the first
        # token: glmchat.ui.later; on a session's first run, last).
        side = st.sidebar.container()
        status_slot = sidebar.draw(side, catalogue, visit, slots.get("line"), slots.get("title"))

    if page.url_path == shared.url_path:
        # A share link shows its snapshot and nothing of this visitor's own chats. No sidebar is drawn, so
        # keep its widgets' values (the typed key above all) as the settings panel does when it is closed:
        # else Streamlit forgets them at the end of this run, and "Continue this chat" (which needs the
        # owner the key names) loses its click, and the chat page afterwards has lost the key.
        state.keep_params(visitor_key=True)
    elif state.first_run() or replying:
        later.add(draw_sidebar)  # a new visitor sees the chat input first; a reply's first token waits for nothing
    else:
        draw_sidebar()
    try:
        page.run()
    except streamlit_internals.StopException:
        later.run_after_stop()  # a page's st.stop() (or the Stop button): the sidebar it waited for still goes in
        raise
    finally:
        prestart.discard()  # a request the chat input's callback started but the page never took
    later.run()
    if status_slot is not None:
        sidebar.draw_status(status_slot, visit.settings(catalogue), state.totals())
finally:
    context.end()  # the next run's callbacks build their own
