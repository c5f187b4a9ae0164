"""History: search, filter, open, delete, export and import the visitor's conversations."""

import json
from datetime import UTC, datetime, time

import streamlit as st

from glmchat.chat import attachments
from glmchat.chat.catalogue import load
from glmchat.chat.i18n import t
from glmchat.chat.render import safe_inline
from glmchat.hosting import offered
from glmchat.hosting.access import SHARE_OFF
from glmchat.store import MAX_IMPORT_MB, ImportRefused, StorageError, parse_export, to_markdown
from glmchat.store.folders import MAX_FOLDER_NAME, MAX_FOLDERS
from glmchat.ui import callbacks, context, share_view, sidebar, state

IMPORT_LIMIT_MB = MAX_IMPORT_MB
catalogue = load()
visit = context.current()
lang = state.lang()
owner_id, store = visit.owner, visit.store

st.title(t("page.history", lang))
if owner_id is None:
    st.info(t("history.off", lang), icon=":material/history_toggle_off:")
    st.stop()

query = st.text_input(
    t("history.search", lang),
    max_chars=offered.SEARCH_CHARS,
    key=state.SEARCH,
    placeholder=t("history.search_hint", lang),
)
shelves = store.folders(owner_id)
names = {f["id"]: f["name"] for f in shelves}
left, middle, right = st.columns(3) if shelves else (*st.columns(2), None)
model = left.selectbox(
    t("history.model_filter", lang),
    [""] + catalogue.ids(),
    key=state.MODEL_FILTER,
    format_func=lambda i: catalogue.get(i).label(lang) if i else t("history.all_models", lang),
)
dates = middle.date_input(t("history.dates", lang), value=(), key=state.DATE_FILTER)
if shelves:
    with right:
        sidebar.folder_select(t("folder.filter", lang), state.FOLDER_FILTER, shelves, t("folder.all", lang))
since = datetime.combine(dates[0], time.min, tzinfo=UTC) if len(dates) >= 1 else None
until = datetime.combine(dates[-1], time.max, tzinfo=UTC) if len(dates) == 2 else None

# What reaches the server is checked like every widget value (a forged message can carry anything).
query, model = offered.text(query, offered.SEARCH_CHARS), offered.choice(model, catalogue.ids(), "")
filters = {
    "model": model or None,
    "since": since,
    "until": until,
    "folder": callbacks.folder_choice(state.FOLDER_FILTER, shelves),
}
rows = (
    store.search(owner_id, query, **filters)
    if query.strip()
    else store.list_conversations(owner_id, limit=200, **filters)
)
if not store.healthy:
    st.warning(t("history.db_down", lang), icon=":material/cloud_off:")
    st.stop()  # search, export and import need the database; nothing here works from memory


def open_in_chat(cid: str, message_id: str | None) -> None:
    if message_id:  # a search hit: the chat opens on the branch that holds it
        store.show_branch(owner_id, cid, message_id)
    callbacks.open_conversation(cid)


def export_json(cid: str | None):
    return lambda: json.dumps(store.export(owner_id, cid), ensure_ascii=False, indent=1, default=str)


def export_markdown(cid: str):
    def build() -> str:
        data = store.export(owner_id, cid)
        return "\n\n".join(to_markdown(c) for c in data["conversations"])

    return build


st.caption(t("history.count", lang, n=len(rows)))
for row in rows:
    cid = row["id"]
    with st.container(border=True):
        st.markdown(f"**{safe_inline(row['title'] or t('history.untitled', lang), max_len=120)}**")
        when = row["updated_at"].astimezone().strftime("%Y-%m-%d %H:%M")
        st.caption(
            ("📌 " if row.get("pinned") else "")
            + (f"📁 {safe_inline(names[row['folder_id']], max_len=70)} · " if row.get("folder_id") in names else "")
            + f"{when} · {safe_inline(row['model'], max_len=60)}"
            + (f" · {t('history.messages', lang, n=row['message_count'])}" if "message_count" in row else "")
        )
        if row.get("snippet"):
            st.caption(safe_inline(row["snippet"], max_len=160))
        # One row that wraps, not four columns: on a phone columns stack into four full-width buttons.
        with st.container(horizontal=True, gap="small"):
            if st.button(t("history.open", lang), key=f"open-{cid}", icon=":material/chat:", type="tertiary"):
                open_in_chat(cid, row.get("message_id"))
                st.switch_page("app_pages/chat.py")
            st.download_button(
                "JSON",
                data=export_json(cid),
                file_name=f"glmchat-{cid[:8]}.json",
                mime="application/json",
                key=f"json-{cid}",
                on_click="ignore",
                icon=":material/download:",
                type="tertiary",
            )
            st.download_button(
                "Markdown",
                data=export_markdown(cid),
                file_name=f"glmchat-{cid[:8]}.md",
                mime="text/markdown",
                key=f"md-{cid}",
                on_click="ignore",
                icon=":material/download:",
                type="tertiary",
            )
            st.button(
                t("history.delete", lang),
                key=f"del-{cid}",
                icon=":material/delete:",
                on_click=state.ask_delete,
                args=(cid,),
                type="tertiary",
            )


def create_folder() -> None:
    name = offered.text(state.widget(state.NEW_FOLDER), MAX_FOLDER_NAME).strip()
    if name and store.create_folder(owner_id, name) is not None:
        state.set_widget(state.NEW_FOLDER, "")


def rename_folder(fid: str) -> None:
    name = offered.text(state.widget(state.folder_name_key(fid)), MAX_FOLDER_NAME).strip()
    if name:
        store.rename_folder(owner_id, fid, name)  # another owner's id changes nothing (store)


with st.expander(t("folder.title", lang), icon=":material/folder:"):
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.text_input(
            t("folder.new", lang), max_chars=MAX_FOLDER_NAME, key=state.NEW_FOLDER, disabled=len(shelves) >= MAX_FOLDERS
        )
        st.button(
            t("folder.create", lang), key="folder-create", on_click=create_folder, icon=":material/create_new_folder:"
        )
    if len(shelves) >= MAX_FOLDERS:
        st.caption(t("folder.too_many", lang, n=MAX_FOLDERS))
    for shelf in shelves:
        fid = shelf["id"]
        with st.container(horizontal=True, vertical_alignment="bottom"):
            st.text_input(
                t("folder.name", lang),
                value=shelf["name"],
                max_chars=MAX_FOLDER_NAME,
                key=state.folder_name_key(fid),
                help=t("folder.count", lang, n=shelf["count"]),
            )
            st.button(t("folder.save", lang), key=f"folder-save-{fid}", on_click=rename_folder, args=(fid,))
            st.button(
                ":red[" + t("folder.delete", lang) + "]",
                key=f"folder-delete-{fid}",
                on_click=store.delete_folder,
                args=(owner_id, fid),
                help=t("folder.delete_note", lang),
                icon=":material/folder_delete:",
            )

links = store.shares(owner_id)
if links or visit.rules.share_links != SHARE_OFF:  # links made before the host turned sharing off stay revocable
    with st.expander(t("share.links", lang), icon=":material/share:"):
        if not links:
            st.caption(t("share.none", lang))
        zone = sidebar.browser_zone()
        for shared in links:
            with st.container(border=True):
                st.markdown(f"**{safe_inline(shared['title'] or t('history.untitled', lang), max_len=120)}**")
                st.caption(
                    f"{shared['created_at'].astimezone(zone).strftime('%Y-%m-%d %H:%M')} · "
                    + t("share.messages", lang, n=shared["messages"])
                )
                st.code(share_view.link(shared["token"]), language=None, wrap_lines=True)
                st.button(
                    ":red[" + t("share.revoke", lang) + "]",
                    key=f"revoke-{shared['token']}",
                    on_click=store.revoke,
                    args=(owner_id, shared["token"]),
                    icon=":material/link_off:",
                )

st.divider()
st.download_button(
    t("history.export_all", lang),
    data=export_json(None),
    file_name="glmchat-export.json",
    mime="application/json",
    on_click="ignore",
    icon=":material/download:",
    key="export-all",
)
upload = st.file_uploader(
    t("history.import", lang), type=["json"], max_upload_size=IMPORT_LIMIT_MB, key=state.IMPORT_FILE
)


def import_file(upload, mode: str) -> None:
    """Check and import an uploaded export; every refusal is shown, nothing is written unless all of it is.

    `mode` "check" first asks whether the owner holds some of it already (then the page asks what to do);
    "new" leaves those out; "all" imports copies of them too.
    """
    # The uploader's limit is enforced by the browser only: a forged client can send up to the server's
    # maxUploadSize. The size is known without reading the file.
    if upload.size > IMPORT_LIMIT_MB * attachments.MB:
        st.error(t("history.import_too_big", lang, size=attachments.human_size(upload.size), limit=IMPORT_LIMIT_MB))
        return
    limits = visit.input_limits  # the chat's limits, with the host's settings
    try:
        data = parse_export(upload.getvalue())
        if mode == "check":
            total, held = store.held(owner_id, data, limits)
            if held:
                state.set_import_held((total, held))
                return
        count = store.import_export(owner_id, data, limits, skip_held=mode == "new")
    except ImportRefused as exc:
        values = {k: attachments.human_size(v) if k == "size" else f"{v:,}" for k, v in exc.values.items()}
        st.error(t(exc.key, lang, **values))
    except ValueError as exc:  # a malformed file: the reason names the field (English, from storage)
        st.error(t("history.import_bad", lang, reason=safe_inline(str(exc), max_len=200)))
    except StorageError:
        st.error(t("history.db_down", lang))
    else:
        state.set_import_held(None)
        state.set_imported(count)
        st.rerun()  # the sidebar's list, drawn before this page, shows the new conversations at once


if (count := state.take_imported()) is not None:
    st.success(t("history.imported", lang, n=count))
if upload is None:
    state.set_import_held(None)
elif st.button(t("history.import_go", lang), key="import-go", icon=":material/upload:"):
    state.set_import_held(None)
    import_file(upload, "check")
if upload is not None and (held := state.import_held()) is not None:
    total, n_held = held
    st.warning(t("history.import_held", lang, n=n_held, total=total), icon=":material/content_copy:")
    with st.container(horizontal=True):
        if n_held < total and st.button(
            t("history.import_new", lang, n=total - n_held), key="import-new", type="primary"
        ):
            import_file(upload, "new")
        if st.button(t("history.import_copies", lang), key="import-all"):
            import_file(upload, "all")
        if st.button(t("history.cancel", lang), key="import-cancel"):
            state.set_import_held(None)
            st.rerun()
