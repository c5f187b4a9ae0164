"""The chat page."""
import streamlit as st

from glmchat import chat_view, state
from glmchat.catalogue import load
from glmchat.i18n import t

settings = state.current_settings(load())
lang = settings.lang
owner_id = state.owner(settings.key)
messages = state.messages()

if state.take_not_found():
    st.warning(t("history.not_found", lang), icon=":material/search_off:")
if settings.model.offline:
    st.info(t("demo.notice", lang), icon=":material/science:")
if not state.store().healthy:
    st.warning(t("history.db_down", lang), icon=":material/cloud_off:")

pending = state.take_pending()
chat_view.draw_history(messages, lang, follow=None if pending else state.follower(owner_id), busy=pending)
if not messages:
    st.caption(t("chat.empty", lang))

st.chat_input(t("chat.placeholder", lang), key=state.PROMPT, on_submit=state.submit_prompt,
              submit_mode="stop", max_chars=100_000)
if pending and messages and messages[-1]["role"] == "user":
    chat_view.stream_reply(settings, list(messages), save=state.reply_saver_target(owner_id),
                           alternatives=state.take_alternatives())
