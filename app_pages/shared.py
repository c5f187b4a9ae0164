"""A share link (/shared?s=<token>): the read-only snapshot it names, nothing else, and "continue this chat"
for a visitor who may chat here. A revoked link and one that never existed look the same."""

import streamlit as st

from glmchat.chat.i18n import t
from glmchat.ui import callbacks, context, share_view, sidebar, state

visit = context.current()
lang = state.lang()
token = st.query_params.get("s")
if token is None and visit.admitted() and (token := state.shared_link()) is not None:
    # Back from the chat to the link: Streamlit's own history entries of the page switch (the link page
    # without ?s=, then with the next page's ?c=) lie between them. The link this session opened is meant.
    st.query_params.from_dict({"s": token})
found = visit.store.shared(token)  # the store checks the token's form
if found is not None:
    state.set_shared_link(token)
if found is None:
    st.title(t("page.shared", lang))
    st.warning(t("share.not_found", lang), icon=":material/link_off:")
    st.stop()
share_view.draw_snapshot(found, lang, sidebar.browser_zone())
if visit.admitted() and visit.owner is None and sidebar.key_field_offered(visit):
    # Whose chats these would be depends on the visitor's own key: it can be typed here (no sidebar).
    st.caption(t("share.key_to_continue", lang))
    sidebar.draw_key_field(visit, lang)
if visit.admitted() and visit.owner is not None:
    if st.button(t("share.continue", lang), key="continue-shared", type="primary", help=t("share.continue_help", lang)):
        refusal = callbacks.continue_shared(token)
        if refusal is None:
            st.switch_page("app_pages/chat.py")
        st.warning(t(refusal.key, lang, limit=refusal.limit, actual=refusal.actual), icon=":material/block:")
