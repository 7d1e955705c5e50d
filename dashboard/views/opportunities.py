"""Opportunities by stage, count and amount: those created by the end of the chosen month, by their
current stage, for the chosen region and product line (marts.fct_opportunities)."""

from __future__ import annotations

import streamlit as st

from dashboard.format import columns, money, number
from dashboard.i18n import nested
from dashboard.views import Context, Page

STAGE_ORDER = ["qualification", "needs_analysis", "proposal", "negotiation", "closed_won", "closed_lost"]


def render(ctx: Context) -> None:
    f = ctx.filters
    rows = ctx.snapshot.query(
        """
        select stage, bool_or(is_closed) as is_closed, count(*) as opportunities, sum(amount)::double as amount
        from fct_opportunities
        where created_date < (strptime($month, '%Y-%m') + interval 1 month)::date
            and ($region = '*' or region = $region) and ($line = '*' or product_line = $line)
        group by stage
        """,
        {"month": f.month, "region": f.region, "line": f.product_line},
    )
    st.caption(ctx.t("opportunities_scope"))
    if rows.empty:
        st.info(ctx.t("no_rows"))
        return
    names = _stage_names(ctx)
    rows["order"] = rows["stage"].map(lambda s: STAGE_ORDER.index(s) if s in STAGE_ORDER else len(STAGE_ORDER))
    rows = rows.sort_values(["order", "stage"])
    open_rows = rows[~rows["is_closed"]]
    left, right = st.columns(2)
    left.metric(ctx.t("open_pipeline"), money(open_rows["amount"].sum(), ctx.language))
    right.metric(ctx.t("opportunities"), number(open_rows["opportunities"].sum()))
    table = rows.assign(stage=rows["stage"].map(lambda s: names.get(s, s)))[["stage", "opportunities", "amount"]]
    table = table.set_axis([ctx.t("stage"), ctx.t("opportunities"), ctx.t("amount")], axis=1)
    st.dataframe(table, hide_index=True, column_config=columns([ctx.t("amount")]))
    count, amount = st.columns(2)
    count.bar_chart(table, x=ctx.t("stage"), y=ctx.t("opportunities"), sort=False)
    amount.bar_chart(table, x=ctx.t("stage"), y=ctx.t("amount"), sort=False)


def _stage_names(ctx: Context) -> dict[str, str]:
    """Stage names from the funnel mart's `step_name(_zh)`; stages it lacks from labels.yml."""
    names = {s: nested("stages", s, ctx.language) for s in STAGE_ORDER}
    if ctx.snapshot.has("funnel"):
        column = "step_name_zh" if ctx.language == "zh" else "step_name"
        steps = ctx.snapshot.query(f"select step, {column} as name from funnel where funnel = 'opportunity'")
        names.update(dict(steps.itertuples(index=False)))
    return names


PAGE = Page(key="opportunities", order=40, requires=("fct_opportunities",), render=render)
