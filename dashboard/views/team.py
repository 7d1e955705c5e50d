"""Team ranking of a month: reps ranked by net order revenue, with deals won, for the chosen region
and product line, and the teams' totals.

Built from the facts (fct_order_lines, fct_opportunities, dim_sales_rep) because no rep-level mart
exists yet; when one is published (e.g. `marts.rep_performance`), read it here instead, so the
ranking follows that mart's definitions. Rep names are not published: reps show by id and team.
"""

from __future__ import annotations

import streamlit as st

from dashboard.format import columns
from dashboard.views import Context, Page

RANKING_SQL = """
with month as (
    select strptime($month, '%Y-%m')::date as first_day,
        (strptime($month, '%Y-%m') + interval 1 month)::date as next_first_day
),
revenue as (
    select rep_id, sum(line_amount)::double as net_revenue
    from fct_order_lines, month
    where not is_cancelled and order_date >= first_day and order_date < next_first_day
        and ($line = '*' or product_line = $line)
    group by rep_id
),
won as (
    select owner_rep_id as rep_id, count(*) as deals_won
    from fct_opportunities, month
    where is_won and close_date >= first_day and close_date < next_first_day
        and ($line = '*' or product_line = $line)
    group by owner_rep_id
)
select reps.rep_id, reps.team, reps.region,
    coalesce(revenue.net_revenue, 0) as net_revenue, coalesce(won.deals_won, 0) as deals_won
from dim_sales_rep as reps
left join revenue using (rep_id)
left join won using (rep_id)
where reps.role = 'rep' and ($region = '*' or reps.region = $region)
    and (reps.is_active or revenue.net_revenue is not null or won.deals_won is not null)
order by net_revenue desc, deals_won desc, reps.rep_id
"""


def render(ctx: Context) -> None:
    f = ctx.filters
    reps = ctx.snapshot.query(RANKING_SQL, {"month": f.month, "region": f.region, "line": f.product_line})
    st.caption(ctx.t("team_scope"))
    if reps.empty:
        st.info(ctx.t("no_rows"))
        return
    reps.insert(0, "rank", range(1, len(reps) + 1))
    teams = (
        reps.groupby("team", dropna=False)[["net_revenue", "deals_won"]]
        .sum()
        .sort_values("net_revenue", ascending=False)
        .reset_index()
    )
    left, right = st.columns([3, 2])
    left.dataframe(
        reps.set_axis([ctx.t(c) for c in ("rank", "rep", "team", "region", "net_revenue", "deals_won")], axis=1),
        hide_index=True,
        column_config=columns([ctx.t("net_revenue")]),
    )
    right.dataframe(
        teams.set_axis([ctx.t("team"), ctx.t("net_revenue"), ctx.t("deals_won")], axis=1),
        hide_index=True,
        column_config=columns([ctx.t("net_revenue")]),
    )
    right.bar_chart(teams, x="team", y="net_revenue", x_label=ctx.t("team"), y_label=ctx.t("net_revenue"), sort=False)


PAGE = Page(key="team", order=50, requires=("fct_order_lines", "fct_opportunities", "dim_sales_rep"), render=render)
