"""The chat page."""

from functools import partial

import streamlit as st

from glmchat.chat import attachments
from glmchat.chat.i18n import t
from glmchat.ui import callbacks, chat_view, context, later, state

visit = context.current()
settings = visit.settings()
lang = settings.lang
messages = state.messages()

asked = state.take_summary_request()
# A reply an earlier run of this page was streaming when a widget (or Enter) started this run: this run
# draws the rest of it (Turn.reattach). The input stays usable while any reply streams; only sending waits.
resuming = not asked and not state.reply_waiting() and callbacks.reply_in_progress()
# Every reply (a new message, regenerate, retry, an edit, a summary) gets the same Stop, with Esc. A
# summary is not resumable, so the input is drawn disabled for it and given back by a rerun at the end.
# The input lives in the bottom container, so drawing it first changes no place on the page and makes
# it ready sooner.
replying = bool(asked) or state.reply_waiting() or resuming
# One place above the input holds the Stop button and a notice about the input, so that an idle page
# sends one empty place there, not two. The notice goes beside the input that holds the text again,
# where the user is looking, not at the top of the chat.
above_input = st.bottom.empty()
notice = None
if (too_much := state.take_input_refused()) is not None:
    text = t(too_much.key, lang, limit=too_much.limit, actual=too_much.actual)
    notice = partial(st.warning, text, icon=":material/block:")
elif held := state.take_held_back():
    notice = partial(
        st.info, t("chat.held_back_files" if held == "files" else "chat.held_back", lang), icon=":material/schedule:"
    )
if replying and notice:
    with above_input.container():
        chat_view.draw_stop(st, lang)
        notice()
elif replying:
    chat_view.draw_stop(above_input, lang)
elif notice:
    with above_input:
        notice()
typed = st.chat_input(
    t("chat.placeholder", lang),
    key=state.PROMPT,
    on_submit=callbacks.submit_prompt,
    disabled=bool(asked),
    max_chars=state.INPUT_CHARS,
    accept_file="multiple",
    file_type=chat_view.FILE_TYPES,
    max_upload_size=attachments.MAX_IMAGE_BYTES_IN // attachments.MB,
)
if state.missed_submit(typed):
    callbacks.submit_prompt(start=False)
    st.rerun()  # draw the page again with the message in place and its reply pending

# Two fixed places: notices on top, then the history, one container per exchange (see glmchat.ui.later).
top, hist = st.container(), st.container()
with top:
    for name, key, detail in state.take_refused():
        st.warning(chat_view.refusal_text(name, key, detail, lang), icon=":material/block:")
    if state.take_summary_failed():
        st.error(t("chat.summary_failed", lang), icon=":material/error:")
    if state.take_not_found():
        st.warning(t("history.not_found", lang), icon=":material/search_off:")
    if settings.model.offline:
        st.info(t("demo.notice", lang), icon=":material/science:")
    if not visit.store.healthy:
        st.warning(t("history.db_down", lang), icon=":material/cloud_off:")

    if asked:
        # Summarise what the request leaves out (or, after a 1261, everything before the last question).
        if asked == "summarise_and_retry":
            callbacks.drop_failed_reply(visit)
        covered = [m for m in messages if m["id"] in set(callbacks.plan(settings).dropped)] or messages[:-1]
        text = chat_view.summarise(visit, settings, covered, state.summary()) if covered else None
        if text:
            callbacks.set_summary(visit, settings, {"text": text, "upto": covered[-1]["id"]})
            if asked == "summarise_and_retry":
                state.set_pending()
        else:
            state.set_summary_failed()  # shown by the rerun that gives the input back

live = state.reply_waiting()  # this run carries a reply
pending = state.take_pending()
plan = callbacks.plan(settings)
# Only the newest messages are drawn: a long chat costs no more per rerun than a short one.
first, hidden = state.window(live)
shown = messages[first:]
with top:
    chat_view.draw_summary(state.summary(), lang)
    if hidden:
        st.button(
            t("chat.show_earlier", lang, n=hidden),
            on_click=callbacks.show_earlier,
            icon=":material/expand_less:",
            key="show-earlier",
            type="tertiary",
        )
# A resumed reply is drawn by this run as it grows, after the exchanges before it.
settled = shown[:-1] if resuming else shown
groups = chat_view.exchanges(settled)
boxes = [hist.container() for _ in groups] or ([hist.container()] if resuming else [])
if not messages:
    # In the first exchange's place: the run that carries the first reply puts the exchange there, so the
    # hint goes at once, with nothing sent to take its place (what a run leaves out stays until it ends).
    hist.caption(t("chat.empty", lang))
history = partial(
    chat_view.draw_history,
    settled,
    lang,
    boxes,
    busy=pending or resuming,
    dropped=frozenset(plan.dropped),
    follow=None if pending else callbacks.follower(visit),
)
if live and state.drawn_as(shown[:-1]):
    # The boxes on screen hold these very exchanges: the new one goes first, the rest after the first token.
    later.add(partial(history, groups=range(len(groups) - 1)), first=True)
    history(groups=range(len(groups) - 1, len(groups)), toolbar_later=True)
else:
    history()

if live:
    with boxes[-1]:
        chat_view.stream_reply(
            visit,
            settings,
            plan.messages,
            save=callbacks.reply_saver_target(visit),
        )
    plan = callbacks.plan(settings)  # the reply just added counts too
elif resuming:
    with boxes[-1]:
        chat_view.resume_or_draw(state.live_turn(), messages, lang, follow=callbacks.follower(visit))
if replying:
    above_input.empty()  # the Stop, and "sending waits", no longer hold
if asked:
    st.rerun()  # the input drawn disabled for the summary comes back
state.copy_sent()  # its Markdown went with this run
state.set_drawn(messages[first:])
state.set_chat_view(callbacks.chat_view_of(settings, plan))
if plan.dropped:
    st.button(
        t("chat.summarise", lang, n=len(plan.dropped)),
        on_click=state.ask_summary,
        icon=":material/compress:",
        key="summarise",
    )
