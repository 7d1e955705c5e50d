"""Target attainment of a month: the month, year to date and the projected year end, for the chosen
region and product line, then by region x product line and month by month (marts.target_attainment).

Rates of several rows are recomputed from their sums (sum of actuals / sum of targets); the
projection is the rows' projected rates weighted by their full-year targets.
"""

from __future__ import annotations

import streamlit as st

from dashboard.format import columns, money, ratio
from dashboard.views import Context, Page

SCOPE = "($region = '*' or region = $region) and ($line = '*' or product_line = $line)"


def render(ctx: Context) -> None:
    params = {"month": ctx.filters.month, "region": ctx.filters.region, "line": ctx.filters.product_line}
    rows = ctx.snapshot.query(
        f"""
        with year_targets as (
            select region, product_line, year, sum(target_revenue) as year_target
            from target_attainment group by all
        )
        select t.*, y.year_target
        from target_attainment as t
        join year_targets as y using (region, product_line, year)
        where t.year_month = $month and {SCOPE}
        order by region, product_line
        """,
        params,
    )
    if rows.empty:
        st.info(ctx.t("no_rows"))
        return
    target, actual = rows["target_revenue"].sum(), float(rows["actual_revenue"].sum())
    ytd_target, ytd_actual = rows["ytd_target"].sum(), float(rows["ytd_actual"].sum())
    weights = rows["year_target"].where(rows["projected_year_end_attainment"].notna(), 0)
    projection = (
        (rows["projected_year_end_attainment"].fillna(0) * weights).sum() / weights.sum() if weights.sum() else None
    )
    first, second, third = st.columns(3)
    first.metric(ctx.t("attainment_month"), ratio(actual / target if target else None))
    first.caption(f"{money(actual, ctx.language)} / {money(target, ctx.language)}")
    second.metric(ctx.t("attainment_ytd"), ratio(ytd_actual / ytd_target if ytd_target else None))
    second.caption(f"{money(ytd_actual, ctx.language)} / {money(ytd_target, ctx.language)}")
    third.metric(ctx.t("projection"), ratio(projection))

    table = rows[
        [
            "region",
            "product_line",
            "target_revenue",
            "actual_revenue",
            "attainment_rate",
            "ytd_attainment_rate",
            "projected_year_end_attainment",
        ]
    ]
    st.dataframe(
        table.rename(
            columns={
                "region": ctx.t("region"),
                "product_line": ctx.t("product_line"),
                "target_revenue": ctx.t("target_revenue"),
                "actual_revenue": ctx.t("actual_revenue"),
                "attainment_rate": ctx.t("attainment_month"),
                "ytd_attainment_rate": ctx.t("attainment_ytd"),
                "projected_year_end_attainment": ctx.t("projection"),
            }
        ),
        hide_index=True,
        column_config=columns(
            [ctx.t("target_revenue"), ctx.t("actual_revenue")],
            [ctx.t("attainment_month"), ctx.t("attainment_ytd"), ctx.t("projection")],
        ),
    )
    st.subheader(ctx.t("by_month"))
    months = ctx.snapshot.query(
        f"""
        select year_month, sum(target_revenue) as target_revenue, sum(actual_revenue)::double as actual_revenue
        from target_attainment
        where year = (select max(year) from target_attainment where year_month = $month) and {SCOPE}
        group by 1 order by 1
        """,
        params,
    )
    st.bar_chart(
        months.rename(columns={"target_revenue": ctx.t("target_revenue"), "actual_revenue": ctx.t("actual_revenue")}),
        x="year_month",
        x_label=ctx.t("month"),
        stack=False,
    )


PAGE = Page(key="attainment", order=20, requires=("target_attainment",), render=render)
