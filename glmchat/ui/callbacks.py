"""What the widgets do: the callbacks (submit, edit, regenerate, retry, summary, presets, the gate) and the
conversation's life (open, follow ?c=, save, delete). Session state is read and written through
glmchat/ui/state.py; who is visiting and under which rules comes from glmchat/ui/context.py.
"""

from __future__ import annotations

import streamlit as st

from glmchat.chat import attachments, presets
from glmchat.chat import conversation as conv
from glmchat.chat.catalogue import Catalogue, load
from glmchat.chat.i18n import t
from glmchat.chat.saving import is_interrupted, title_for
from glmchat.chat.settings import EFFORTS, Settings
from glmchat.hosting import access, gate, inputs, offered
from glmchat.store import tree
from glmchat.store.folders import MAX_FOLDER_NAME
from glmchat.ui import context, prestart, state

# -- conversations ------------------------------------------------------------------------------------------


def new_chat() -> None:
    state.set_messages([])
    state.set_off_branch([])
    state.set_off_unloaded(0)
    state.set_summary(None)
    state.set_window_size(state.WINDOW_FIRST)
    state.set_earlier(0)
    state.set_conversation(None)
    st.query_params.pop("c", None)


def temporary_changed() -> None:
    """The temporary switch starts a new chat either way: a temporary one is never mixed with a saved one."""
    state.set_temporary(offered.flag(state.widget(state.TEMPORARY), False))  # only a real True turns it on
    new_chat()


def open_conversation(cid: str) -> None:
    state.set_temporary(False)  # a saved chat is not temporary
    state.set_conversation(cid, loaded=False)
    st.query_params["c"] = cid


def sync_conversation(visit: context.Visit) -> None:
    """Follow ?c=<id> in the URL: load that conversation's messages, or say it was not found."""
    wanted = st.query_params.get("c") or state.conversation_id()
    owner_id, store = visit.owner, visit.store
    if owner_id is None or not wanted or state.loaded_conversation() == wanted:
        return
    found = store.conversation(owner_id, wanted)
    if found is None and not store.healthy:
        return  # the database is down: keep what is on screen; the page shows a warning
    if found is None:
        state.set_not_found()
        new_chat()
        return
    state.set_conversation(wanted)
    # Long conversations load lazily: the newest LOAD_LIMIT now, older ones when asked for.
    _load_branch(store, owner_id, wanted, found)
    state.set_window_size(state.WINDOW_FIRST)
    st.query_params["c"] = wanted
    _restore_settings(found)


def _load_branch(store, owner_id: str, cid: str, found: dict) -> None:
    """The branch shown, lazily: the newest LOAD_LIMIT messages now, older ones when asked for; of the
    messages off it, the siblings of those loaded (for the ‹ n / m › switches; a switch reloads)."""
    state.set_messages(store.messages(owner_id, cid, limit=state.LOAD_LIMIT))
    state.set_earlier(max(0, found.get("message_count", 0) - len(state.messages())))
    off = store.off_branch(owner_id, cid, parents={m.get("parent") for m in state.messages()})
    state.set_off_branch(off)
    state.set_off_unloaded(max(0, found.get("off_count", 0) - len(off)))


def _restore_settings(found: dict) -> None:
    """Put a reopened conversation's model, parameters, system prompt and preset back in the sidebar."""
    catalogue = load()
    model_id, saved = found.get("model") or "", found.get("settings") or {}
    if model_id in catalogue.ids():
        state.set_widget(state.MODEL, model_id)
        state.set_widget(state.CUSTOM_MODEL, "")
    elif model_id:
        state.set_widget(state.CUSTOM_MODEL, model_id)
    model = catalogue.get(model_id or state.widget(state.MODEL, catalogue.default_id))
    state.set_params_for(model.id)
    for key, name, default in (
        (state.TEMPERATURE, "temperature", model.temperature),
        (state.TOP_P, "top_p", model.top_p),
        (state.MAX_TOKENS, "max_tokens", model.max_output),
    ):
        value = saved.get(name)
        state.set_widget(key, value if isinstance(value, (int, float)) else default)
    for key, name in ((state.THINKING, "thinking"), (state.WEB_SEARCH, "web_search")):
        if isinstance(saved.get(name), bool):
            state.set_widget(key, saved[name])
    if saved.get("reasoning_effort") in EFFORTS:
        state.set_widget(state.EFFORT, saved["reasoning_effort"])
    state.set_widget(state.SYSTEM, saved.get("system_prompt") or "")
    state.set_widget(state.PRESET, saved.get("preset") or "")
    state.set_summary(saved.get("summary") if isinstance(saved.get("summary"), dict) else None)


def follower(visit: context.Visit):
    """Reads the open conversation's newest saved version of one message, for a reply streaming elsewhere."""
    cid, owner_id, store = state.conversation_id(), visit.owner, visit.store
    if owner_id is None or cid is None:
        return None

    def read(message_id: str) -> dict | None:
        found = store.conversation(owner_id, cid)
        saved = next((m for m in store.messages(owner_id, cid, limit=5) if m["id"] == message_id), None)
        if found is None or saved is None:
            return None
        if is_interrupted(saved, found["updated_at"]):
            saved["status"] = conv.INCOMPLETE
        messages_ = state.messages()
        for i, m in enumerate(messages_):
            if m["id"] == message_id:
                messages_[i] = saved
        return saved

    return read


def save(visit: context.Visit, message: dict) -> None:
    """Write one message of the open conversation (nothing without saved history)."""
    cid = state.conversation_id()
    if visit.owner is not None and cid is not None:
        visit.store.save_message(visit.owner, cid, message)


def reply_saver_target(visit: context.Visit):
    """The function that writes one message of the open conversation, or None without history."""
    cid, owner_id = state.conversation_id(), visit.owner
    if owner_id is None or cid is None:
        return None
    # Bound now: after a Stop every st.session_state access raises StopException again,
    # and the stopped reply must still be written.
    target = visit.store
    return lambda message: target.save_message(owner_id, cid, message)


def _index(message_id: str) -> int | None:
    return next((i for i, m in enumerate(state.messages()) if m["id"] == message_id), None)


def held_messages() -> int:
    """The open conversation's messages in every branch: what the host's per-conversation limit counts."""
    return len(state.messages()) + state.earlier() + len(state.off_branch()) + state.off_unloaded()


def append(message: dict) -> None:
    """Add a message at the end of the branch shown, as its newest message's child."""
    message["parent"] = tree.parent_of(state.messages())
    state.messages().append(message)


def _branch_off(visit: context.Visit, index: int) -> None:
    """Move the messages from position `index` on off the branch shown, here and in storage (nothing is lost:
    a ‹ › switch brings them back)."""
    messages_ = state.messages()
    if index >= len(messages_):
        return
    if visit.owner is not None and state.conversation_id() is not None:
        # Its parent is the last message kept, also when the session holds only the newest part of the branch.
        visit.store.leave_branch_after(visit.owner, state.conversation_id(), messages_[index].get("parent"))
    path, off = tree.branch_off(messages_, state.off_branch(), index)
    messages_[:] = path
    state.set_off_branch(off)


def show_branch(message_id: str) -> None:
    """A ‹ › switch (or a search hit off the branch shown): show the branch through `message_id`."""
    end_reply_in_progress()
    visit, cid = context.current(), state.conversation_id()
    if visit.owner is not None and cid is not None:
        if visit.store.show_branch(visit.owner, cid, message_id):
            found = visit.store.conversation(visit.owner, cid)
            if found is not None:
                _load_branch(visit.store, visit.owner, cid, found)
        return
    messages_, off = state.messages(), state.off_branch()
    try:
        change = tree.switch(messages_, off, message_id)
    except (KeyError, ValueError):
        return  # not a message of this chat (a forged id) or already shown
    path, off = tree.apply(messages_, off, change)
    state.set_messages(path)
    state.set_off_branch(off)


def show_earlier() -> None:
    """Draw WINDOW_STEP more messages, loading them from storage when the session does not hold them."""
    state.set_window_size(state.window_size() + state.WINDOW_STEP)
    messages_ = state.messages()
    missing = state.window_size() - len(messages_)
    if missing <= 0 or not state.earlier() or state.conversation_id() is None:
        return
    visit = context.current()
    if visit.owner is None:
        return
    cid = state.conversation_id()
    older = visit.store.messages(
        visit.owner, cid, limit=max(missing, state.WINDOW_STEP), before_seq=state.earlier() + 1
    )
    # Their siblings too; the first message held so far had its own loaded with it.
    siblings = visit.store.off_branch(visit.owner, cid, parents={m.get("parent") for m in older})
    held = {m["id"] for m in state.off_branch()}
    siblings = [m for m in siblings if m["id"] not in held]
    messages_[:0] = older
    state.set_earlier(state.earlier() - len(older))
    state.set_off_branch(sorted(state.off_branch() + siblings, key=tree.made))
    state.set_off_unloaded(max(0, state.off_unloaded() - len(siblings)))


def delete_conversation(visit: context.Visit, cid: str) -> None:
    visit.store.delete(visit.owner, cid)
    state.cancel_delete()
    if state.conversation_id() == cid:
        new_chat()


def rename_conversation(visit: context.Visit, cid: str, title: str) -> None:
    visit.store.rename(visit.owner, cid, title)


ROW_ACTIONS = ("pin", "unpin", "move", "share", "rename", "delete")


def row_actions(pinned: bool, sharing: bool) -> list[str]:
    """What a row's ⋯ menu offers (Share only where the host allows share links)."""
    return [a for a in ROW_ACTIONS if a != ("pin" if pinned else "unpin") and (sharing or a != "share")]


def row_action(cid: str) -> None:
    """A conversation's ⋯ menu: pin or unpin it, or open the move, rename or delete dialog."""
    choice = state.row_choice(cid)
    visit = context.current()
    if choice in ("pin", "unpin") and visit.owner is not None:
        visit.store.pin(visit.owner, cid, choice == "pin")  # another owner's id changes nothing (store)
    elif choice == "move":
        state.ask_move(cid)
    elif choice == "share" and visit.owner is not None and visit.rules.share_links != access.SHARE_OFF:
        state.set_share_made(visit.store.share(visit.owner, cid))
    elif choice == "rename":
        state.ask_rename(cid)
    elif choice == "delete":
        state.ask_delete(cid)


def folder_choice(key: str, shelves: list[dict]) -> str | None:
    """A folder widget's value: one of `shelves` (the owner's folders), or None (also for anything not offered)."""
    value = state.widget(key)
    return value if isinstance(value, str) and value in {f["id"] for f in shelves} else None


def continue_shared(token: str) -> inputs.Refusal | None:
    """ "Continue this chat" under a share link: a copy of the snapshot becomes this visitor's own chat, which
    opens. A Refusal when the chat's limits do not allow it (the link is checked again: it may be revoked)."""
    visit = context.current()
    found = visit.store.shared(token) if visit.admitted() and visit.owner is not None else None
    limits, owner_id = visit.input_limits, visit.owner
    if found is None:
        return inputs.Refusal("share.not_found", 0, 0)
    if len(found["messages"]) + 2 > limits.conversation_messages:
        return inputs.Refusal("input.conversation_full", limits.conversation_messages, len(found["messages"]))
    if (count := visit.store.count_conversations(owner_id)) >= limits.conversations:
        return inputs.Refusal("input.too_many_conversations", limits.conversations, count)
    models = [m["model"] for m in found["messages"] if m.get("model")]
    cid = visit.store.create_conversation(owner_id, found["title"], models[-1] if models else load().default_id, {})
    path: list[dict] = []
    for shown in found["messages"]:
        if shown["role"] == "user":
            message = conv.user_message(shown["content"])
        else:
            message = conv.assistant_message(shown.get("model") or "", {})
            message.update(content=shown["content"], status=conv.DONE, finish_reason="stop")
        if isinstance(shown.get("at"), (int, float)):
            message["at"] = shown["at"]
        message["parent"] = tree.parent_of(path)
        visit.store.save_message(owner_id, cid, message)
        path.append(message)
    open_conversation(cid)
    return None


def move_conversation(cid: str) -> None:
    """The move dialog's button: into the folder chosen, or a new one named in the field."""
    visit = context.current()
    if visit.owner is None:
        return
    target = folder_choice(state.MOVE_TO, visit.store.folders(visit.owner))
    name = offered.text(state.widget(state.NEW_FOLDER), MAX_FOLDER_NAME).strip()
    if name:
        target = visit.store.create_folder(visit.owner, name)
        if target is None:
            return  # too many folders: the dialog says so
        state.set_widget(state.NEW_FOLDER, "")
    visit.store.move(visit.owner, cid, target)
    state.cancel_move()


# -- a new message and its reply ----------------------------------------------------------------------------


def submit_prompt(start: bool = True) -> None:
    """on_submit of the chat input: keep and save the user's message before anything is sent.

    With `start`, the request is sent at once (see _start_early); the page's missed_submit path reruns
    first, which would drop a request sent here, so it passes start=False.
    """
    state.mark_submitted()
    visit = context.current()
    if not visit.admitted():  # a callback of a session that signed out meanwhile
        return
    value = state.prompt()
    text = value if isinstance(value, str) else getattr(value, "text", "") or ""
    text = text if isinstance(text, str) else ""
    uploads = [] if isinstance(value, str) or value is None else list(getattr(value, "files", None) or [])
    if reply_in_progress():
        state.hold_back(text, had_files=bool(uploads))
        return
    current = visit.settings()
    owner_id, store = visit.owner, visit.store
    new_conversation = owner_id is not None and state.conversation_id() is None and not state.temporary()
    # Limits are enforced here, not only by the widget: a bypassed widget gets the same answer. Counts
    # and lengths come first, before any file is decoded.
    too_much = inputs.check(
        visit.input_limits,
        text=text,
        attachments=len(uploads),
        conversation_messages=held_messages(),
        new_conversation=new_conversation,
        conversations=store.count_conversations(owner_id) if new_conversation else 0,
    )
    if too_much is not None:
        state.set_input_refused(too_much)
        state.put_back_prompt(text)
        return
    files, refused = attachments.prepare([(f.name, f.getvalue()) for f in uploads])
    state.set_refused([(r.name, r.reason_key, r.detail) for r in refused])
    if not text.strip() and not files:
        return
    message = conv.user_message(text, files)
    remembered = current.conversation_settings(preset(), state.summary())
    if new_conversation:
        cid = store.create_conversation(owner_id, title_for(text), current.model.id, remembered)
        state.set_conversation(cid)  # the page puts it in the URL, after the reply's first token
    elif owner_id is not None and state.conversation_id() is not None:
        store.update_settings(owner_id, state.conversation_id(), current.model.id, remembered)
    append(message)
    save(visit, message)
    state.set_pending()
    if start and not files:
        _start_early(visit, current, message)


def reply_in_progress() -> bool:
    """Whether a reply to the open conversation is still being written (by this page or without it)."""
    turn, messages_ = state.live_turn(), state.messages()
    return bool(turn is not None and turn.streaming and messages_ and messages_[-1]["id"] == turn.message["id"])


def end_reply_in_progress() -> None:
    """Stop the open conversation's reply and wait until it is saved, before messages after a point go."""
    if reply_in_progress():
        turn = state.take_live_turn()
        turn.stop()
        turn.wait_ended(timeout=5.0)


def new_turn(visit: context.Visit, current: Settings, question: dict):
    """A Turn for this run's settings: the host's limits, the log setting and the question it answers."""
    from glmchat.chat.turn import Turn, prompt_text

    return Turn(
        current.model,
        reserve=lambda: visit.reserve(current),
        log_prompt=prompt_text(question["content"]) if visit.log_content else None,
    )


def _start_early(visit: context.Visit, current: Settings, message: dict) -> None:
    """Send the request now, from the callback: the model's wait then overlaps the page's rerun."""
    endpoint = current.endpoint()
    if endpoint is None:
        return
    turn = new_turn(visit, current, message)
    if turn.reserve() is not None:
        return  # the page reserves again and shows the refusal
    prestart.put(message["id"], turn.send(endpoint, current.chat_request(plan(current).messages)))


def plan(current: Settings) -> conv.Plan:
    """What the next request sends, trimmed to the model's window."""
    return conv.plan_request(
        state.messages(),
        current.system_prompt,
        current.budget(),
        state.summary(),
        max_images=attachments.images_allowed(current.model),
    )


def retry() -> None:
    """Retry button: the failed reply leaves the branch shown, and the question is asked again."""
    end_reply_in_progress()
    visit = context.current()
    if not _room_for_one_more(visit):
        return
    drop_failed_reply(visit)
    state.set_pending()


def _room_for_one_more(visit: context.Visit, text: str = "") -> bool:
    """Whether one more message (`text`) fits the chat's limits, else the refusal is shown. An answer asked
    again or an edited question is kept beside the old one, so every branch counts."""
    too_much = inputs.check(
        visit.input_limits,
        text=text,
        attachments=0,
        conversation_messages=held_messages(),
        new_conversation=False,
        conversations=0,
    )
    if too_much is not None:
        state.set_input_refused(too_much)
    return too_much is None


def drop_failed_reply(visit: context.Visit) -> None:
    """The failed reply leaves the branch shown (kept beside the new one, as a regenerated answer is)."""
    kept = conv.retry_target(state.messages())
    if kept is not None:
        _branch_off(visit, len(kept))


def submit_edit(message_id: str) -> None:
    """Resend an edited user message: a new branch beside the old question and what followed it."""
    text = state.edit_text(message_id)
    i = _index(message_id)
    if i is None or not text.strip():
        state.cancel_edit()
        return
    visit = context.current()
    end_reply_in_progress()  # the reply being written follows the message that changes
    # The same limits as a new message: the edit box is a widget too, and can be bypassed.
    if not _room_for_one_more(visit, text):
        return
    state.cancel_edit()
    old = state.messages()[i]
    message = conv.user_message(text) | {k: v for k, v in old.items() if k == "attachments"}
    _branch_off(visit, i)
    append(message)
    save(visit, message)
    state.set_pending()


def stop_reply() -> None:
    """The Stop button (or Esc): mark the reply stopped now, before this run draws it.

    Streamlit starts this run while the one streaming the reply is still ending (runner.fastReruns), so
    waiting for that run would draw the reply as still streaming.
    """
    turn = state.take_live_turn()
    if turn is not None:
        turn.stop()


def regenerate() -> None:
    """Ask again for the last answer; the old one stays beside the new one (the ‹ › switch)."""
    end_reply_in_progress()  # a bypassed widget could ask while the answer is still being written
    messages_ = state.messages()
    if not messages_ or messages_[-1]["role"] != "assistant" or len(messages_) < 2:
        return
    visit = context.current()
    if not _room_for_one_more(visit):
        return
    _branch_off(visit, len(messages_) - 1)
    state.set_pending()


def continue_reply(lang: str) -> None:
    """Continue: a truncated answer ("length") gets a short message asking for the rest, sent like any other."""
    messages_ = state.messages()
    if not messages_ or messages_[-1]["role"] != "assistant" or reply_in_progress():
        return
    visit = context.current()
    message = conv.user_message(t("chat.continue_prompt", lang), [])
    append(message)
    save(visit, message)
    state.set_pending()


def set_feedback(message_id: str) -> None:
    """Thumbs up (1) or down (0), kept with the message."""
    i = _index(message_id)
    if i is None:
        return
    message = state.messages()[i]
    message["feedback"] = state.feedback(message_id)
    save(context.current(), message)


def set_summary(visit: context.Visit, current: Settings, value: dict) -> None:
    state.set_summary(value)
    if visit.owner is not None and state.conversation_id() is not None:
        visit.store.update_settings(
            visit.owner, state.conversation_id(), current.model.id, current.conversation_settings(preset(), value)
        )


# -- presets ------------------------------------------------------------------------------------------------


def preset() -> str | None:
    """The chosen preset's id, if it has the form of one the sidebar offers (builtin:… or user:<name>)."""
    value = state.widget(state.PRESET)
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("user:"):
        return value if 0 < len(value) - 5 <= presets.MAX_NAME else None
    return value if value in {p.id for p in presets.builtin("en")} else None


def preset_choices(visit: context.Visit) -> list[presets.Preset]:
    own = presets.parse_user(visit.store.meta(presets.meta_key(visit.owner))) if visit.owner else []
    return presets.builtin(state.lang()) + own


def apply_preset() -> None:
    """Choosing a preset starts a new chat with its system prompt."""
    chosen = presets.find(preset_choices(context.current()), preset())
    new_chat()
    state.set_widget(state.SYSTEM, chosen.prompt if chosen else "")


def save_preset() -> None:
    """Save the current system prompt as one of this owner's presets."""
    visit = context.current()
    name = offered.text(state.widget(state.PRESET_NAME), presets.MAX_NAME).strip()
    prompt = offered.text(state.widget(state.SYSTEM), offered.SYSTEM_CHARS)
    if visit.owner is None or not name or not prompt.strip():
        return
    own = presets.parse_user(visit.store.meta(presets.meta_key(visit.owner)))
    visit.store.set_meta(presets.meta_key(visit.owner), presets.with_user_preset(own, name, prompt))
    state.set_widget(state.PRESET, f"user:{name[: presets.MAX_NAME]}")
    state.set_widget(state.PRESET_NAME, "")


# -- the gate -----------------------------------------------------------------------------------------------


def check_password() -> None:
    """on_click of the gate's button: throttled per client and app-wide, never echoed or logged."""
    typed = state.take_password()
    visit = context.current()
    if visit.rules.password_hash is None:
        return
    outcome = gate.attempt(visit.store, visit.client_tag(), typed, visit.rules.password_hash)
    if outcome is None:
        return
    kind, wait = outcome
    if kind == gate.OK:
        state.pass_gate()
    else:
        state.set_gate_error(kind, wait)


# -- the settings widgets, before they are drawn ------------------------------------------------------------


def before_page(visit: context.Visit, catalogue: Catalogue) -> None:
    """Set what the page reads, before the sidebar's widgets are drawn (the page may run first).

    Opening ?c=<id> restores that conversation's model and parameters into its widgets; a new key
    switches from the demo to the default model.
    """
    if state.widget(state.LANG, "auto") not in state.LANGS:
        state.set_widget(state.LANG, "auto")
    drop_forged(visit, catalogue)
    sync_conversation(visit)
    choose_model_on_key_change(catalogue, visit.key is not None)


def drop_forged(visit: context.Visit, catalogue: Catalogue) -> None:
    """Put back what the sidebar's settings widgets offer where a forged message left anything else.

    Called before those widgets are drawn: Streamlit would draw a value it never offered (a model outside
    the list, a slider beyond its range). What is sent is checked anyway (glmchat.chat.settings); this keeps
    the widgets showing what will be used.
    """
    key = visit.key
    if state.has_widget(state.MODEL) and state.widget(state.MODEL) not in catalogue.ids():
        state.set_widget(state.MODEL, catalogue.default_id if key is not None else catalogue.offline_id)
    custom = state.widget(state.CUSTOM_MODEL)
    if state.has_widget(state.CUSTOM_MODEL) and offered.model_id(custom) != custom:
        state.set_widget(state.CUSTOM_MODEL, "")
    if state.widget(state.PRESET) and preset() is None:
        state.set_widget(state.PRESET, "")
    current = visit.settings(catalogue)
    for name, value in (
        (state.TEMPERATURE, current.temperature),
        (state.TOP_P, current.top_p),
        (state.MAX_TOKENS, current.max_tokens),
        (state.SYSTEM, current.system_prompt),
        (state.WEB_SEARCH, offered.flag(state.widget(state.WEB_SEARCH), False)),
        (state.THINKING, offered.flag(state.widget(state.THINKING), True)),
    ):
        raw = state.widget(name)
        if state.has_widget(name) and (raw != value or type(raw) is not type(value)):
            state.set_widget(name, value)


def choose_model_on_key_change(catalogue: Catalogue, has_key: bool) -> None:
    """Start on the demo without a key; switch to the default GLM model as soon as a key appears."""
    if not state.has_widget(state.MODEL) or (
        has_key and not state.had_key() and state.widget(state.MODEL) == catalogue.offline_id
    ):
        state.set_widget(state.MODEL, catalogue.default_id if has_key else catalogue.offline_id)
    state.set_had_key(has_key)


def reset_params_if_model_changed(model) -> None:
    """Parameter widgets take the chosen model's defaults whenever the model changes."""
    if state.params_for() == model.id:
        return
    state.set_widget(state.TEMPERATURE, model.temperature)
    state.set_widget(state.TOP_P, model.top_p)
    state.set_widget(state.MAX_TOKENS, model.max_output)
    state.set_params_for(model.id)


def chat_view_of(current: Settings, drawn: conv.Plan) -> tuple:
    """What of the settings shows on the chat page: the demo notice, the messages left out of the request."""
    return current.model.offline, tuple(drawn.dropped)


def chat_view_changed(current: Settings) -> bool:
    """Whether the chat page on screen would look different with these settings."""
    shown = state.chat_view()
    return shown is not None and shown != chat_view_of(current, plan(current))
