"""The lead funnel and the opportunity funnel: how many reached each step and converted to the next
(marts.funnel, which covers every lead and opportunity up to the as-of date)."""

from __future__ import annotations

import streamlit as st

from dashboard.i18n import localized
from dashboard.views import Context, Page


def render(ctx: Context) -> None:
    steps = ctx.snapshot.query("select * from funnel order by funnel, step_order")
    st.caption(ctx.t("funnel_scope"))
    for funnel, title in (("lead", "lead_funnel"), ("opportunity", "opportunity_funnel")):
        rows = steps[steps["funnel"] == funnel]
        st.subheader(ctx.t(title))
        if rows.empty:
            st.info(ctx.t("no_rows"))
            continue
        table = rows[
            [localized("step_name", ctx.language), "reached_count", "conversion_rate", "conversion_from_start"]
        ]
        table = table.set_axis([ctx.t("step"), ctx.t("reached"), ctx.t("conversion"), ctx.t("from_start")], axis=1)
        left, right = st.columns([2, 3])
        left.dataframe(
            table,
            hide_index=True,
            column_config={
                ctx.t("conversion"): st.column_config.NumberColumn(format="percent"),
                ctx.t("from_start"): st.column_config.NumberColumn(format="percent"),
            },
        )
        right.bar_chart(table, x=ctx.t("step"), y=ctx.t("reached"), horizontal=True, sort=False)


PAGE = Page(key="funnels", order=30, requires=("funnel",), render=render, ignores=("month", "region", "product_line"))
