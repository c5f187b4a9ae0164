"""Usage: tokens and cost by day, by model and by conversation, from the stored per-message usage."""

from datetime import UTC, datetime, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from glmchat.chat.i18n import t
from glmchat.hosting import offered
from glmchat.ui import context, state

visit = context.current()
lang = state.lang()
owner_id = visit.owner

st.title(t("page.usage", lang))
limits = visit.limits
if limits.active and visit.sees_host_usage():
    # The host's key today, against its limits: only for whom the host allows (Visit.sees_host_usage).
    today = visit.store.spend_today()
    st.subheader(t("usage.host_today", lang))
    a, b, c, d = st.columns(4)
    a.metric(t("usage.requests", lang), f"{today['requests']:,}")
    b.metric(
        t("usage.tokens", lang), f"{today['tokens']:,}" + (f" / {limits.tokens_day:,}" if limits.tokens_day else "")
    )
    c.metric(
        t("usage.cost_total", lang), f"¥{today['cost']:.4f}" + (f" / ¥{limits.cny_day:g}" if limits.cny_day else "")
    )
    d.metric(t("usage.streams", lang), f"{today['streams']}" + (f" / {limits.streams}" if limits.streams else ""))
    if today["visitors"]:
        st.dataframe(pd.DataFrame(today["visitors"]), hide_index=True, width="stretch")
    st.caption(t("usage.host_resets", lang))
if owner_id is None:
    st.info(t("history.off", lang), icon=":material/history_toggle_off:")
    st.stop()

PERIODS = {"7": 7, "30": 30, "90": 90, "all": None}
period = st.segmented_control(
    t("usage.period", lang),
    list(PERIODS),
    default="30",
    key=state.USAGE_PERIOD,
    format_func=lambda p: t("usage.all", lang) if p == "all" else t("usage.days", lang, n=p),
)
days = PERIODS[offered.choice(period, PERIODS, "30")]
since = datetime.now(UTC) - timedelta(days=days) if days else None
rows = visit.store.usage(owner_id, since=since)

if not rows:
    st.info(t("usage.empty", lang), icon=":material/query_stats:")
    st.stop()

df = pd.DataFrame(rows)
a, b, c, d = st.columns(4)
a.metric(t("usage.requests", lang), f"{len(df):,}")
b.metric(t("usage.prompt", lang), f"{int(df['prompt_tokens'].sum()):,}")
c.metric(t("usage.completion", lang), f"{int(df['completion_tokens'].sum()):,}")
d.metric(t("usage.cost_total", lang), f"¥{df['cost'].fillna(0).sum():.4f}")
unpriced = int(df["cost"].isna().sum())  # replies on a model without a price (a custom id)
if unpriced:
    st.caption(t("usage.unknown_left_out", lang, n=unpriced))

st.subheader(t("usage.by_day", lang))
by_day = df.groupby(["day", "model"], as_index=False)["total_tokens"].sum()
# Altair without .interactive(): the wheel scrolls the page instead of zooming the axes (st.bar_chart zooms).
st.altair_chart(
    alt.Chart(by_day)
    .mark_bar()
    .encode(
        x=alt.X("day:N", title=None),
        y=alt.Y("total_tokens:Q", title=t("usage.tokens", lang), stack=True),
        color=alt.Color("model:N", title=t("usage.model", lang)),
        tooltip=[
            alt.Tooltip("day:N", title=t("usage.day", lang)),
            alt.Tooltip("model:N", title=t("usage.model", lang)),
            alt.Tooltip("total_tokens:Q", title=t("usage.total", lang), format=","),
        ],
    ),
    width="stretch",
)
# Column names people read, in their language, instead of the frame's own (prompt_tokens, ...).
columns = {
    "model": st.column_config.TextColumn(t("usage.model", lang)),
    "title": st.column_config.TextColumn(t("usage.conversation", lang)),
    "requests": st.column_config.NumberColumn(t("usage.requests", lang), format="localized"),
    "prompt_tokens": st.column_config.NumberColumn(t("usage.prompt", lang), format="localized"),
    "completion_tokens": st.column_config.NumberColumn(t("usage.completion", lang), format="localized"),
    "total_tokens": st.column_config.NumberColumn(t("usage.total", lang), format="localized"),
    "cost": st.column_config.NumberColumn(t("usage.cost_total", lang), format="¥%.4f"),
}

st.subheader(t("usage.by_model", lang))
by_model = df.groupby("model", as_index=False).agg(
    requests=("total_tokens", "size"),
    prompt_tokens=("prompt_tokens", "sum"),
    completion_tokens=("completion_tokens", "sum"),
    total_tokens=("total_tokens", "sum"),
    cost=("cost", "sum"),
)
st.dataframe(by_model, hide_index=True, width="stretch", column_config=columns)

st.subheader(t("usage.by_conversation", lang))
by_conv = df.groupby(["conversation_id", "title"], as_index=False).agg(
    requests=("total_tokens", "size"), total_tokens=("total_tokens", "sum"), cost=("cost", "sum")
)
st.dataframe(
    by_conv.drop(columns="conversation_id").sort_values("total_tokens", ascending=False),
    hide_index=True,
    width="stretch",
    column_config=columns,
)
