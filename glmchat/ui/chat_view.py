"""The chat area: message bubbles, the streamed reply, status marks, usage lines and Retry."""

from __future__ import annotations

import base64

import streamlit as st

from glmchat.chat import attachments
from glmchat.chat import conversation as conv
from glmchat.chat import sources as web
from glmchat.chat.conversation import DONE, INCOMPLETE, STOPPED, STREAMING
from glmchat.chat.errors import HOPELESS, ChatError, Kind
from glmchat.chat.i18n import STRINGS, t
from glmchat.chat.render import safe_inline, safe_markdown
from glmchat.chat.settings import Settings
from glmchat.chat.turn import QUIET_EVERY, Grew, Quiet, Turn, limit_error
from glmchat.hosting import offered
from glmchat.store import tree
from glmchat.store.tree import Siblings
from glmchat.ui import callbacks, later, prestart, state
from glmchat.ui import streamlit_internals as internals
from glmchat.ui.context import Visit

FILE_TYPES = sorted({"png", "jpg", "jpeg", "webp", "gif"} | attachments.TEXT_EXTS | attachments.EXTRACT_EXTS)


def refusal_text(name: str, key: str, detail: dict, lang: str) -> str:
    def fmt(v: object) -> str:
        if key == "attach.too_big" and isinstance(v, int):  # byte counts
            return attachments.human_size(v)
        return f"{v:,}" if isinstance(v, int) else str(v)

    values = {k: fmt(v) for k, v in detail.items()}
    return f"{safe_inline(name, max_len=100)}: " + t(key, lang, **values)


def error_text(error: dict, lang: str) -> str:
    if error.get("kind") == "limit":
        return limit_text(error, lang)
    if error.get("key") in STRINGS:  # an attachment the model or the files API could not take; nothing was sent
        return t(error["key"], lang)
    # An imported conversation may name a kind this version does not know.
    kind = error.get("kind")
    text = t(f"error.{kind}" if f"error.{kind}" in STRINGS else "error.unknown", lang)
    if error.get("code"):
        # A saved (or imported) code is text from outside: Markdown-safe like the rest.
        text += f" ({t('error.code', lang, code=safe_inline(str(error['code']), max_len=40))})"
    return text


def limit_text(error: dict, lang: str) -> str:
    """Which of the host's limits was reached, when it resets, and whether the visitor's own key would do."""
    # Saved before imports were checked, a record may name a limit this version does not know.
    key = f"limit.{error.get('limit')}"
    text = t(key if key in STRINGS else "error.unknown", lang) + " "
    wait = _number(error.get("retry_after"))
    if error.get("limit") in ("unavailable", "unpriced"):
        text = text.rstrip()
    elif wait is None:
        text += t("limit.when_stream_ends", lang)
    else:
        text += t("limit.resets_in", lang, time=_duration(float(wait), lang))
    if error.get("own_key"):
        text += " " + t("limit.own_key", lang)
    return text


def _duration(seconds: float, lang: str) -> str:
    seconds = max(1, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return t("time.hm", lang, h=hours, m=minutes)
    return t("time.ms", lang, m=minutes, s=secs) if minutes else t("time.s", lang, s=secs)


def _number(value: object) -> float | None:
    """A saved figure, if it is one: an imported file can put anything there, even Markdown."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def usage_line(msg: dict, lang: str) -> str | None:
    meta = msg.get("meta") if isinstance(msg.get("meta"), dict) else {}  # an imported reply may have none
    usage = meta.get("usage") if isinstance(meta.get("usage"), dict) else None
    if msg["status"] == STREAMING:
        return None
    model = safe_inline(str(meta.get("model") or "?"), max_len=60)  # an imported file can hold any name
    if not usage:
        return t("usage.none", lang, model=model) if msg["status"] == DONE else None
    count = {k: int(_number(usage.get(k)) or 0) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    parts = [
        t(
            "usage.line",
            lang,
            model=model,
            prompt=count["prompt_tokens"],
            completion=count["completion_tokens"],
            total=count["total_tokens"],
        )
    ]
    if cached := conv.cached_tokens(usage):
        parts.append(t("usage.cached", lang, n=f"{cached:,}"))
    if thinking := conv.reasoning_tokens(usage):
        parts.append(t("usage.reasoning", lang, n=f"{thinking:,}"))
    if (ttft := _number(meta.get("ttft"))) is not None:
        parts.append(t("usage.ttft", lang, s=f"{ttft:.2f}"))
    if tps := _number(meta.get("tps")):
        parts.append(t("usage.tps", lang, v=f"{tps:.1f}"))
    if (cost := _number(meta.get("cost"))) is not None:
        parts.append(t("usage.cost", lang, v=f"{cost:.4f}"))
    else:
        parts.append(t("usage.cost_unknown", lang))  # a model id the catalogue has no price for
    return " · ".join(parts)


def status_mark(msg: dict, lang: str) -> str | None:
    if msg["status"] == STOPPED:
        return t("chat.stopped", lang)
    if msg["status"] == INCOMPLETE and msg.get("finish_reason") == "length":
        return t("chat.truncated", lang)
    if msg["status"] == INCOMPLETE and not msg.get("error"):
        return t("chat.incomplete", lang)
    return None


def draw_thinking(msg: dict, lang: str, live: bool) -> None:
    if msg.get("reasoning"):
        # Open while the model thinks; folded away once the answer starts.
        with st.expander(
            t("chat.thinking_live" if live and not msg["content"] else "chat.thinking", lang),
            expanded=live and not msg["content"],
            icon=":material/psychology:",
        ):
            st.markdown(safe_markdown(msg["reasoning"]))


def draw_footer(msg: dict, lang: str, is_last: bool) -> None:
    if mark := status_mark(msg, lang):
        st.caption(mark)
    if is_last and msg["status"] == INCOMPLETE and msg.get("finish_reason") == "length" and not msg.get("error"):
        # The model's output limit cut it: ask for the rest, as a message of its own.
        st.button(
            t("chat.continue", lang),
            key=f"continue-{msg['id']}",
            on_click=callbacks.continue_reply,
            args=(lang,),
            icon=":material/play_arrow:",
        )
    if msg.get("error"):
        st.error(error_text(msg["error"], lang), icon=":material/error:")
        if is_last and msg["error"].get("kind") not in {k.value for k in HOPELESS}:
            with st.container(horizontal=True):
                st.button(
                    t("chat.retry", lang), key=f"retry-{msg['id']}", on_click=callbacks.retry, icon=":material/refresh:"
                )
                if msg["error"].get("kind") in (Kind.PROMPT_TOO_LONG.value, Kind.CONTEXT_FULL.value):
                    st.button(
                        t("chat.summarise_retry", lang),
                        key=f"sumretry-{msg['id']}",
                        on_click=state.ask_summary,
                        args=(True,),
                        icon=":material/compress:",
                    )
    if line := usage_line(msg, lang):
        st.caption(line)


def draw_attachments(msg: dict, lang: str) -> None:
    """Thumbnails of the message's images and a chip (name · size) per document."""
    files = msg.get("attachments") or ()
    if not files:
        return
    with st.container(horizontal=True, gap="small"):
        for f in files:
            if f["kind"] == "image":
                # st.image captions are Markdown (links and images too), not plain text
                caption = safe_inline(f["name"], max_len=30)
                if f.get("note") in attachments.NOTES:  # what was done to it before it was sent
                    caption += " · " + t(f"attach.note_{f['note']}", lang, w=f.get("width"), h=f.get("height"))
                try:
                    st.image(base64.b64decode(f["data"]), width=120, caption=caption)
                except Exception:  # noqa: BLE001 - an imported image that cannot be shown: its name instead
                    st.caption(safe_inline(f["name"], max_len=30))
            else:
                # Not st.badge: it escapes "[" again, which would undo safe_inline's escapes.
                name = safe_inline(f["name"], max_len=40)
                st.markdown(
                    f":gray-badge[:material/description: {name} · {attachments.human_size(f['size'])}]", width="content"
                )


def answer_markdown(msg: dict) -> str:
    """The answer as Markdown for the page: [ref_N] markers become numbered links to its sources."""
    found = web.from_record(msg.get("sources"))
    return safe_markdown(web.cite(msg["content"], found) if found else msg["content"])


def draw_sources(msg: dict, lang: str) -> None:
    found = web.from_record(msg.get("sources"))
    if found:
        st.caption(t("chat.sources", lang, n=len(found)))
        st.markdown(safe_markdown(web.sources_markdown(found, lang)))


def draw_copy(msg: dict, lang: str) -> None:
    """Copy in one click: the click's run sends the message's Markdown source once, in a code box that the
    page's script (assets/follow.js) copies to the clipboard and hides, then shows ✓. Without the script
    the box stays in view, with its own copy icon. No message's text is sent twice on other runs."""
    st.button(
        t("chat.copy_short", lang),
        icon=":material/content_copy:",
        help=t("chat.copy", lang),
        key=f"copy-{msg['id']}",
        on_click=state.ask_copy,
        args=(msg["id"],),
        type="tertiary",
    )
    if state.copying() == msg["id"]:
        with st.container(key=f"copysrc-{msg['id']}"):
            st.code(msg["content"], language=None, wrap_lines=True)


def draw_edit_form(msg: dict, lang: str) -> None:
    st.text_area(t("chat.edit", lang), value=msg["content"], key=state.edit_key(msg["id"]), max_chars=state.INPUT_CHARS)
    with st.container(horizontal=True):
        st.button(
            t("chat.edit_send", lang),
            key=f"edit-send-{msg['id']}",
            type="primary",
            on_click=callbacks.submit_edit,
            args=(msg["id"],),
            icon=":material/send:",
        )
        st.button(t("history.cancel", lang), key=f"edit-cancel-{msg['id']}", on_click=state.cancel_edit)


def draw_branch_switch(msg: dict, lang: str, siblings: Siblings | None) -> None:
    """‹ 2 / 3 ›: the other versions of this message (edits of a question, answers asked again)."""
    if siblings is None:
        return

    def step(label: str, target: str | None, key: str, help_key: str) -> None:
        st.button(
            label,
            key=f"{key}-{msg['id']}",
            help=t(help_key, lang),
            on_click=callbacks.show_branch,
            args=(target,),
            disabled=target is None,
            type="tertiary",
        )

    step("‹", siblings.previous, "branch-prev", "chat.branch_previous")
    st.caption(f"{siblings.position} / {len(siblings.ids)}", width="content")
    step("›", siblings.next, "branch-next", "chat.branch_next")


def draw_message(
    msg: dict,
    lang: str,
    is_last: bool,
    actions: bool = True,
    dropped: bool = False,
    toolbar_later: bool = False,
    siblings: Siblings | None = None,
) -> None:
    """One bubble, with the same toolbar under every message (with ‹ n / m › where it has other versions).

    `toolbar_later`: a question whose reply this run streams gets its toolbar after the reply's first token
    (appended to its bubble), so that fewer messages go before that token.
    """
    bubble = st.chat_message(msg["role"])
    with bubble:
        if dropped:
            st.caption(t("chat.not_sent", lang))
        if msg["role"] == "user":
            if actions and state.editing() == msg["id"]:
                draw_edit_form(msg, lang)
                return
            draw_attachments(msg, lang)
            st.markdown(safe_markdown(msg["content"]))
            if actions and toolbar_later:  # appended to the bubble then: no placeholder sent before the token
                later.add(lambda: _question_toolbar(bubble.container(**TOOLBAR), msg, lang, siblings))
            elif actions:
                _question_toolbar(st.container(**TOOLBAR), msg, lang, siblings)
            return
        draw_thinking(msg, lang, live=False)
        if msg["content"]:
            st.markdown(answer_markdown(msg))
        draw_sources(msg, lang)
        draw_footer(msg, lang, is_last)
        if actions:
            draw_actions(msg, lang, is_last, siblings)


TOOLBAR = {"horizontal": True, "gap": "small", "vertical_alignment": "center"}


def _question_toolbar(where, msg: dict, lang: str, siblings: Siblings | None) -> None:
    with where:
        draw_branch_switch(msg, lang, siblings)
        draw_copy(msg, lang)
        draw_edit_button(msg, lang)


def draw_edit_button(msg: dict, lang: str) -> None:
    # Labelled, not icon-only: Streamlit hides icons from screen readers, so the label is the button's name.
    st.button(
        t("chat.edit_short", lang),
        key=f"edit-{msg['id']}",
        icon=":material/edit:",
        help=t("chat.edit", lang),
        on_click=state.start_edit,
        args=(msg["id"],),
        type="tertiary",
    )


def draw_feedback(msg: dict) -> None:
    st.feedback(
        "thumbs",
        key=state.feedback_key(msg["id"]),
        default=offered.feedback(msg.get("feedback")),
        on_change=callbacks.set_feedback,
        args=(msg["id"],),
    )


def draw_actions(msg: dict, lang: str, is_last: bool, siblings: Siblings | None = None) -> None:
    """‹ n / m ›, copy, regenerate (last answer only) and thumbs feedback under a finished answer."""
    if msg["status"] == STREAMING:
        return
    with st.container(**TOOLBAR):
        draw_branch_switch(msg, lang, siblings)
        if msg["content"]:
            draw_copy(msg, lang)
        if is_last and not msg.get("error"):  # a failed reply has its Retry (or nothing a retry could fix)
            st.button(
                t("chat.regenerate_short", lang),
                key=f"regen-{msg['id']}",
                icon=":material/autorenew:",
                help=t("chat.regenerate", lang),
                on_click=callbacks.regenerate,
                type="tertiary",
            )
        if msg["content"]:
            draw_feedback(msg)


def exchanges(messages: list[dict]) -> list[tuple[int, int]]:
    """(start, end) of each exchange: a user message and the answers after it (the first may have none)."""
    starts = [0] + [i for i, m in enumerate(messages) if i and m["role"] == "user"]
    return list(zip(starts, starts[1:] + [len(messages)], strict=False)) if messages else []


def draw_history(
    messages: list[dict],
    lang: str,
    boxes: list,
    follow=None,
    busy: bool = False,
    dropped: frozenset[str] = frozenset(),
    groups: range | None = None,
    toolbar_later: bool = False,
) -> None:
    """Draw the messages, each exchange into its box (all, or those in `groups`).

    A reply still being written elsewhere is followed with `follow`; `toolbar_later`: see draw_message.
    """
    spans = exchanges(messages)
    versions = tree.siblings(messages, state.off_branch())
    for g in groups if groups is not None else range(len(spans)):
        with boxes[g]:
            for i in range(*spans[g]):
                msg = messages[i]
                last = i == len(messages) - 1 and not busy
                if last and follow is not None and msg["role"] == "assistant" and msg["status"] == STREAMING:
                    _follow_saved_reply(msg["id"], lang, follow)
                else:
                    draw_message(
                        msg,
                        lang,
                        is_last=last,
                        dropped=msg["id"] in dropped,
                        toolbar_later=toolbar_later,
                        siblings=versions.get(msg["id"]),
                    )


@st.fragment(run_every=1.0)
def _follow_saved_reply(message_id: str, lang: str, follow) -> None:
    """A reply another run is still writing (a reloaded page, another replica): re-read it each second."""
    msg = follow(message_id)
    if msg is None:
        return
    draw_message(msg, lang, is_last=True)
    if msg["status"] != STREAMING:
        st.rerun()  # finished: redraw the page once, without this timer


def summarise(visit: Visit, settings: Settings, messages: list[dict], earlier: dict | None) -> str | None:
    """Ask the model for a summary of messages (and of an earlier summary); None when it fails."""
    from glmchat.chat.client import ChatRequest

    endpoint = settings.endpoint()
    if endpoint is None:
        return None
    previous = [{"role": "user", "content": earlier["text"]}] if earlier else []
    request = ChatRequest(
        model=settings.model.id,
        messages=conv.summary_request(previous + messages, settings.lang),
        temperature=0.3,
        top_p=settings.top_p,
        max_tokens=min(2048, settings.model.max_output),
        thinking=False if settings.thinking is not None else None,
    )
    # A summary is a request like any other: it spends the host's key, and is logged.
    turn = Turn(settings.model, reserve=lambda: visit.reserve(settings))
    if turn.reserve() is not None:
        return None
    summary = conv.assistant_message(settings.model.id, {})
    turn.send(endpoint, request).adopt(summary)
    try:
        with st.status(t("chat.summarising", settings.lang)):
            slot = st.empty()
            for _ in turn.events(flush=QUIET_EVERY):
                slot.markdown(safe_markdown(summary["content"]))  # progress, and a point where Stop takes effect
    except BaseException:
        turn.stop()
        raise
    finally:
        turn.close()
    return summary["content"].strip() if summary["status"] == DONE and summary["content"].strip() else None


def draw_stop(slot, lang: str) -> None:
    """The Stop button above the input while a reply is written; Esc presses it.

    Its callback marks the reply stopped at once (callbacks.stop_reply), and the rerun it starts draws
    the reply finished, with its mark and actions.
    """
    slot.button(
        t("chat.stop", lang),
        key="stop-reply",
        icon=":material/stop_circle:",
        shortcut="Esc",
        on_click=callbacks.stop_reply,
    )


def draw_summary(summary: dict | None, lang: str) -> None:
    if summary and summary.get("text"):
        with st.expander(t("chat.summary", lang), icon=":material/compress:"):
            st.markdown(safe_markdown(summary["text"]))


def _prepare_files(visit: Visit, settings: Settings, endpoint, history_for_api: list[dict]) -> str | None:
    """Check the last user message's files against the model and extract documents; a refusal key or None."""
    last = state.messages()[-2] if len(state.messages()) >= 2 else None
    files = conv.files_of(last) if last and last["role"] == "user" else []
    images = [f for f in files if f.kind == "image"]
    if key := attachments.check_vision(settings.model, images):
        return key
    todo = [f for f in files if f.kind == "extract" and f.text is None]
    if not todo:
        return None
    sdk, http = endpoint.client()
    try:
        with st.status(t("chat.reading_files", settings.lang)):
            for f in todo:
                attachments.extract_text(sdk, f)
    except attachments.ExtractError as exc:
        return exc.reason_key
    finally:
        http.close()
    last["attachments"] = [conv.attachment_record(f) for f in files]
    callbacks.save(visit, last)
    history_for_api[-1]["content"] = conv.api_content(last)
    return None


def stream_reply(visit: Visit, settings: Settings, history_for_api: list[dict], save=None) -> None:
    """Send the planned messages to GLM and stream the answer into a new bubble, saving it as it grows."""
    lang = settings.lang
    msg = conv.assistant_message(settings.model.id, settings.params())
    question = state.messages()[-1]
    callbacks.append(msg)
    endpoint = settings.endpoint()
    # Started by the chat input's callback already (a plain new message), or started here.
    turn = prestart.take(question["id"])
    refusal = None
    if turn is None:
        turn = callbacks.new_turn(visit, settings, question)
        over = turn.reserve() if endpoint is not None else None
        if over is not None:
            refusal = limit_error(over, own_key=visit.rules.own_key)
    turn.adopt(msg, save=save, totals=state.totals())
    bubble = st.chat_message("assistant")
    with bubble:
        places = Places(bubble)
        if refusal is None and endpoint is None:
            refusal = conv.error_record(ChatError(Kind.NO_KEY))
        if refusal is None and not turn.sent:
            key = _prepare_files(visit, settings, endpoint, history_for_api)
            refusal = {"kind": "attachment", "key": key} if key else None
        if refusal is not None:
            turn.refuse(refusal)
            with places.get(FOOT).container():
                draw_footer(msg, lang, is_last=True)
            later.run()
            return
        if not turn.sent:
            turn.send(endpoint, settings.chat_request(history_for_api))
        _read(turn, lang, places)


def resume_or_draw(turn: Turn, messages: list[dict], lang: str, follow) -> None:
    """Draw the rest of the reply an earlier run of this page was streaming (see Turn.reattach).

    The conversation may have been reloaded meanwhile: its last message becomes the Turn's own again.
    When the reply ended before this run could take it, it is drawn as it was saved.
    """
    messages[-1] = turn.message
    if not turn.reattach():
        later.run()
        draw_history([turn.message], lang, [st.container()], follow=follow)
        return
    reading = False
    try:
        bubble = st.chat_message("assistant")
        with bubble:
            later.run()  # no first token to wait for: the rest of the page goes now
            reading = True
            _read(turn, lang, Places(bubble), resumed=True)
    except BaseException:
        if not reading:  # this run ended before it took the reading: the reply goes on, for the next run
            turn.detach()
        raise


def _read(turn: Turn, lang: str, places: Places, resumed: bool = False) -> None:
    """Draw the reply as it grows, then in its final form; decide what a stopped run means for it."""
    msg = turn.message
    state.set_live_turn(turn)  # for the Stop button's callback, and for a newer run to reattach
    session = internals.session_id()
    try:
        drawn = {"reasoning": "", "content": ""}
        for event in turn.events():
            if isinstance(event, Grew):
                if msg["reasoning"] and (msg["reasoning"] != drawn["reasoning"] or not drawn["content"]):
                    with places.get(THINK).container():
                        draw_thinking(msg, lang, live=True)
                if msg["content"] != drawn["content"]:
                    places.markdown(BODY, answer_markdown(msg))
                if event.first and not resumed:
                    places.clear(FOOT)  # a "waiting" note
                else:
                    # The rest of the page goes with the second batch (50 ms on), not right behind the first
                    # token: a browser still busy with the run's earlier messages applies all that has come
                    # before it paints, and the header and sidebar's ~27 messages kept the token off the
                    # screen ~45 ms longer (bench/pagetrace.py).
                    later.run()
                drawn = {"reasoning": msg["reasoning"], "content": msg["content"]}
            elif isinstance(event, Quiet):
                if event.waiting:
                    places.get(FOOT).caption(t("chat.waiting", lang, s=f"{event.seconds:.0f}"))
                    later.run()  # a slow model: draw the rest while waiting
                else:
                    later.run()  # a first token and then silence: no second batch to wait for
                    places.markdown(BODY, answer_markdown(msg))
            else:  # the client retries a busy or unreachable upstream
                places.get(FOOT).info(
                    t("chat.retrying", lang, s=f"{event.wait:.0f}", n=event.attempt + 1),
                    icon=":material/hourglass_top:",
                )
        later.run()  # no token came (an error): the rest of the page goes now
    except internals.StopException:
        # Streamlit ends the script this way for the Stop button, a newer run of the page (any widget,
        # runner.fastReruns) and a page that went away alike.
        if msg["status"] == STREAMING and (internals.superseded(session) or internals.page_closed(session)):
            # Not a Stop: the reply goes on without this run. A newer run reattaches and draws the rest
            # (text typed meanwhile is kept; only sending waits), and a Stop button's callback stops it.
            turn.detach()
        else:
            turn.stop()
            # Its mark and actions at once, not at some later click.
            later.add(lambda: _draw_final(msg, lang, places), first=True)
        raise  # app.py then draws what the page left waiting (later.run_after_stop)
    except BaseException:
        turn.stop()  # anything else: keep what arrived, marked as stopped
        raise
    finally:
        turn.close()  # a no-op once detached: the Turn is then closed by its reader, or by the run that reattached
        if turn.ended:
            state.drop_live_turn(turn)
    _draw_final(msg, lang, places)


THINK, BODY, FOOT = range(3)  # a reply's places in its bubble, top to bottom


class Places:
    """A reply's places in its bubble (thinking, text, footer), each made when first written.

    A text written straight into a new place is one message to the browser; an empty placeholder made
    first and filled later is two, and the first token waited for all three placeholders. Places are
    made in order; one asked for after a later one exists goes below it (GLM sends thinking first).
    """

    def __init__(self, bubble) -> None:
        self.bubble = bubble
        self.made: dict[int, object] = {}

    def get(self, place: int):
        """The place, made now (empty) if it is not there yet."""
        if place not in self.made:
            self.made[place] = self.bubble.empty()
        return self.made[place]

    def markdown(self, place: int, text: str) -> None:
        if place in self.made:
            self.made[place].markdown(text)
        else:
            self.made[place] = self.bubble.markdown(text)

    def clear(self, place: int) -> None:
        if place in self.made:
            self.made[place].empty()  # an empty container would leave the old children in place


def _draw_final(msg: dict, lang: str, places: Places) -> None:
    """A reply's final form, drawn in place: thinking folded, status, error, usage, actions."""
    if msg["reasoning"]:
        with places.get(THINK).container():
            draw_thinking(msg, lang, live=False)
    else:
        places.clear(THINK)
    if msg["content"]:
        places.markdown(BODY, answer_markdown(msg))
    else:
        places.clear(BODY)
    with places.get(FOOT).container():
        draw_sources(msg, lang)
        draw_footer(msg, lang, is_last=True)
        draw_actions(msg, lang, is_last=True, siblings=_versions(msg))


def _versions(msg: dict) -> Siblings | None:
    """The message's place among its other versions, if it has any."""
    return tree.siblings([msg], state.off_branch()).get(msg["id"])
