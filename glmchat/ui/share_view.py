"""Share links on the page: a link's address, the dialog that shows a new one, and the shared page's
snapshot (glmchat/store/shares.py keeps them)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import streamlit as st

from glmchat.chat.i18n import t
from glmchat.chat.render import safe_inline, safe_markdown
from glmchat.hosting import access
from glmchat.store.shares import MAX_SHARES
from glmchat.ui import state

PAGE = "shared"  # the shared page's url_path: /shared?s=<token>
PAGES = ("history", "usage", PAGE)  # the app's url paths other than the chat's ""


def link(token: str) -> str:
    """The link's full address, from the address this page was opened at (st.context.url)."""
    parts = urlsplit(st.context.url or "")
    path = parts.path
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if last in PAGES:
        path = path.rstrip("/")[: -len(last)]
    if not path.endswith("/"):
        path += "/"
    return urlunsplit((parts.scheme, parts.netloc, f"{path}{PAGE}", f"s={token}", ""))


@st.dialog(" ", on_dismiss=state.close_share)
def made(token: str | None, rules: access.Access, lang: str) -> None:
    """A new link (or why none was made)."""
    if token is None:
        st.warning(t("share.failed", lang, n=MAX_SHARES), icon=":material/link_off:")
        return
    who = t("share.who_anyone" if rules.share_links == access.SHARE_ANYONE else "share.who_admitted", lang)
    st.write(t("share.made", lang, who=who))
    st.code(link(token), language=None, wrap_lines=True)


def when(at: object, zone) -> str:
    if isinstance(at, (int, float)) and not isinstance(at, bool):
        return datetime.fromtimestamp(at, zone).strftime("%Y-%m-%d %H:%M")
    return ""


def draw_snapshot(found: dict, lang: str, zone) -> None:
    """The snapshot: its title, when it was shared, and each message with its model and time. Text only
    through the safe renderer, like every message of the chat."""
    st.title(safe_inline(found["title"] or t("history.untitled", lang), max_len=120))
    st.caption(t("share.note", lang, when=found["created_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M")))
    for m in found["messages"]:
        with st.chat_message("user" if m.get("role") == "user" else "assistant"):
            st.markdown(safe_markdown(m.get("content") if isinstance(m.get("content"), str) else ""))
            model = safe_inline(m["model"], max_len=60) if isinstance(m.get("model"), str) else ""
            st.caption(" · ".join(x for x in (model, when(m.get("at"), zone)) if x))
