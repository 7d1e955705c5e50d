"""Sales forecast (销售仪表盘: 销售预测准确性): the quarter of the chosen month, forecast against target by
region (marts.sales_forecast, as sql/11_forecast_vs_target_this_quarter.sql), and how accurate the
monthly forecast was over the last 12 complete months for the chosen region (marts.forecast_accuracy).

Accuracy months before the opportunities snapshot's first run are reconstructed from today's amounts
and close dates: the page says how many, so nobody reads them as the forecast of the day.
"""

from __future__ import annotations

import streamlit as st

from dashboard.format import columns, money, ratio
from dashboard.i18n import nested
from dashboard.views import Context, Page

QUARTER_SQL = """
select region,
    sum(target_revenue) as target_revenue,
    sum(actual_revenue)::double as net_revenue_to_date,
    sum(won_amount)::double as won_amount,
    sum(weighted_pipeline_amount)::double as weighted_pipeline_amount,
    sum(commit_amount)::double as commit_amount,
    sum(forecast_amount)::double as forecast_amount,
    sum(forecast_amount) / nullif(sum(target_revenue), 0) as forecast_vs_target
from sales_forecast
where year_quarter = (select any_value(year_quarter) from sales_forecast where year_month = $month)
    and ($region = '*' or region = $region)
group by region
order by region nulls last
"""
# complete months only: in the as-of month the wins are those so far against the whole month's forecast
ACCURACY_SQL = """
select * from (
    select year_month, forecast_amount_cny::double as forecast_amount_cny, actual_won_cny::double as actual_won_cny,
        forecast_accuracy, bias, reconstruction_basis
    from forecast_accuracy
    where region = $region and year_month <= $month and not is_as_of_month
    order by year_month desc
    limit 12
)
order by year_month
"""
QUARTER_COLUMNS = (
    "region",
    "target_revenue",
    "net_revenue_to_date",
    "won_amount",
    "weighted_pipeline",
    "commit_amount",
    "forecast_amount",
    "forecast_vs_target",
)


def render(ctx: Context) -> None:
    params = {"month": ctx.filters.month, "region": ctx.filters.region}
    quarter = ctx.snapshot.query(QUARTER_SQL, params)
    if quarter.empty:
        st.info(ctx.t("no_rows"))
    else:
        show_quarter(ctx, quarter)
    st.subheader(ctx.t("forecast_accuracy_12m"))
    months = ctx.snapshot.query(ACCURACY_SQL, params)
    if months.empty:
        st.info(ctx.t("no_rows"))
        return
    show_accuracy(ctx, months)


def show_quarter(ctx: Context, quarter) -> None:
    forecast, target = quarter["forecast_amount"].sum(), quarter["target_revenue"].sum()
    first, second, third = st.columns(3)
    first.metric(ctx.t("forecast_amount"), money(forecast, ctx.language))
    second.metric(ctx.t("target_revenue"), money(target, ctx.language))
    third.metric(ctx.t("forecast_vs_target"), ratio(forecast / target if target else None))
    names = [ctx.t(c) for c in QUARTER_COLUMNS]
    st.dataframe(
        quarter.set_axis(names, axis=1),
        hide_index=True,
        column_config=columns(names[1:-1], names[-1:]),
    )


def show_accuracy(ctx: Context, months) -> None:
    reconstructed = int((months["reconstruction_basis"] == "reconstructed").sum())
    st.metric(ctx.t("avg_forecast_accuracy"), ratio(months["forecast_accuracy"].mean()))
    if reconstructed:
        st.caption(ctx.t("reconstructed_caveat", reconstructed=reconstructed, months=len(months)))
    names = [ctx.t(c) for c in ("month", "forecast_amount", "won_amount", "forecast_accuracy", "bias", "basis")]
    table = months.assign(
        reconstruction_basis=[nested("reconstruction_basis", b, ctx.language) for b in months["reconstruction_basis"]]
    ).set_axis(names, axis=1)
    st.dataframe(table, hide_index=True, column_config=columns(names[1:3], names[3:5]))
    st.line_chart(table, x=names[0], y=names[1:3], x_label=ctx.t("month"), y_label=ctx.t("amount"))


PAGE = Page(
    key="forecast",
    order=55,
    requires=("sales_forecast", "forecast_accuracy"),
    render=render,
    ignores=("product_line",),
)
