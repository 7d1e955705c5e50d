"""Customer health distribution (销售仪表盘: 客户健康度分布): customers per health band for the chosen
region, with their share, average score and predicted 12-month value, and the same by tier.

Read from marts.customer_health_distribution, which keeps one month per run (the month of the run's
as-of date): the page shows the latest month up to the chosen one and says which month that is.
"""

from __future__ import annotations

import streamlit as st

from dashboard.format import columns
from dashboard.i18n import localized
from dashboard.views import Context, Page

MONTH_SQL = """
select max(month_start_date) as month_start_date from customer_health_distribution
where strftime(month_start_date, '%Y-%m') <= $month
"""


def render(ctx: Context) -> None:
    month = ctx.snapshot.query(MONTH_SQL, {"month": ctx.filters.month})["month_start_date"].iloc[0]
    if month is None or str(month) in ("NaT", "None"):
        st.info(ctx.t("no_rows"))
        return
    st.caption(ctx.t("health_scope", month=str(month)[:7]))
    band, tier = localized("health_band_name", ctx.language), localized("customer_tier", ctx.language)
    params = {"month": str(month)[:10], "region": ctx.filters.region}
    by_band = ctx.snapshot.query(
        f"""
        select {band} as band, sum(customers) as customers,
            sum(customers) / sum(sum(customers)) over () as share,
            sum(avg_health_score * customers) / sum(customers) as avg_score,
            sum(predicted_clv_12m)::double as clv
        from customer_health_distribution
        where month_start_date = $month::date and ($region = '*' or region = $region)
        group by all order by min(avg_health_score) desc
        """,
        params,
    )
    names = [ctx.t("health_band"), ctx.t("customers"), ctx.t("share"), ctx.t("avg_health_score"), ctx.t("clv_12m")]
    table = by_band.set_axis(names, axis=1)
    left, right = st.columns([3, 2])
    left.dataframe(table, hide_index=True, column_config=columns([ctx.t("clv_12m")], [ctx.t("share")]))
    right.bar_chart(table, x=names[0], y=names[1], sort=False)

    st.subheader(ctx.t("tier"))
    by_tier = ctx.snapshot.query(
        f"""
        select {tier} as tier, {band} as band, sum(customers) as customers
        from customer_health_distribution
        where month_start_date = $month::date and ($region = '*' or region = $region)
        group by all order by tier, band
        """,
        params,
    )
    pivot = by_tier.pivot_table(index="tier", columns="band", values="customers", aggfunc="sum", fill_value=0)
    st.dataframe(pivot.rename_axis(index=ctx.t("tier"), columns=None))


PAGE = Page(
    key="customer_health",
    order=65,
    requires=("customer_health_distribution",),
    render=render,
    ignores=("product_line",),
)
