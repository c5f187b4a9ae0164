"""The chat page."""
import streamlit as st

from glmchat import chat_view, conversation, state
from glmchat.catalogue import load
from glmchat.i18n import t

settings = state.current_settings(load())
lang = settings.lang
messages = state.messages()

if settings.model.offline:
    st.info(t("demo.notice", lang), icon=":material/science:")

retry = state.take_retry()
if retry:
    # Drop the failed reply; the conversation up to the last user message is sent again.
    kept = conversation.retry_target(messages)
    if kept is not None:
        messages[:] = kept
    else:
        retry = False

chat_view.draw_history(messages, lang)
hint = st.empty()
if not messages:
    hint.caption(t("chat.empty", lang))

prompt = st.chat_input(t("chat.placeholder", lang), submit_mode="stop", max_chars=100_000)
if prompt and prompt.strip():
    hint.empty()
    messages.append(conversation.user_message(prompt))
    chat_view.draw_message(messages[-1], lang, is_last=False)
    chat_view.stream_reply(settings, list(messages))
elif retry:
    chat_view.stream_reply(settings, list(messages))
