"""Team ranking of a month (销售仪表盘: 团队成员业绩排名): reps of the chosen region ranked by net revenue,
with their target, attainment, win rate, touches and CRM timeliness, and the teams' totals.

Read from marts.rep_performance, so the ranking follows that mart's definitions (its ranks: within
the region when one is chosen, else within the company). The mart has no product line: the page
says it is not filtered by one.
"""

from __future__ import annotations

import streamlit as st

from dashboard.format import columns
from dashboard.views import Context, Page

RANKING_SQL = """
select case when $region = '*' then company_rank else region_rank end as rank,
    rep_name, team, region, net_revenue::double as net_revenue, target_revenue, attainment_rate, win_rate,
    touches, crm_timeliness_pct
from rep_performance
where year_month = $month and ($region = '*' or region = $region)
order by rank, rep_id
"""
RANKING_COLUMNS = (
    "rank",
    "rep",
    "team",
    "region",
    "net_revenue",
    "target_revenue",
    "attainment_month",
    "win_rate",
    "touches",
    "crm_timeliness",
)


def render(ctx: Context) -> None:
    reps = ctx.snapshot.query(RANKING_SQL, {"month": ctx.filters.month, "region": ctx.filters.region})
    st.caption(ctx.t("team_scope"))
    if reps.empty:
        st.info(ctx.t("no_rows"))
        return
    money = [ctx.t("net_revenue"), ctx.t("target_revenue")]
    rates = [ctx.t("attainment_month"), ctx.t("win_rate"), ctx.t("crm_timeliness")]
    # a team's attainment is its sum of revenue over its sum of targets, not an average of rates
    teams = (
        reps.groupby("team", dropna=False)[["net_revenue", "target_revenue"]]
        .sum(min_count=1)
        .sort_values("net_revenue", ascending=False)
        .reset_index()
    )
    teams["attainment_rate"] = teams["net_revenue"] / teams["target_revenue"]
    st.dataframe(
        reps.set_axis([ctx.t(c) for c in RANKING_COLUMNS], axis=1),
        hide_index=True,
        column_config=columns(money, rates),
    )
    st.subheader(ctx.t("teams"))
    left, right = st.columns([3, 2])
    left.dataframe(
        teams.set_axis([ctx.t(c) for c in ("team", "net_revenue", "target_revenue", "attainment_month")], axis=1),
        hide_index=True,
        column_config=columns(money, [ctx.t("attainment_month")]),
    )
    right.bar_chart(teams, x="team", y="net_revenue", x_label=ctx.t("team"), y_label=ctx.t("net_revenue"), sort=False)


PAGE = Page(key="team", order=50, requires=("rep_performance",), render=render, ignores=("product_line",))
