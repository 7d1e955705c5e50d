"""How customers are distributed: RFM segments and tiers, count and trailing-year revenue, for the
chosen region (marts.rfm_customer, region from dim_customer). Customer health and forecast pages
join this list as their marts are published (one file each in this folder)."""

from __future__ import annotations

import streamlit as st

from dashboard.format import columns
from dashboard.i18n import localized
from dashboard.views import Context, Page


def render(ctx: Context) -> None:
    label = {"rfm_segment": ctx.t("segment"), "customer_tier": ctx.t("tier")}
    for column in ("rfm_segment", "customer_tier"):
        name = localized(column, ctx.language)
        rows = ctx.snapshot.query(
            f"""
            select rfm.{name} as name, count(*) as customers, sum(rfm.monetary)::double as monetary
            from rfm_customer as rfm
            left join dim_customer as customer using (account_id)
            where $region = '*' or customer.region = $region
            group by 1 order by customers desc, name
            """,
            {"region": ctx.filters.region},
        )
        st.subheader(label[column])
        if rows.empty:
            st.info(ctx.t("no_rows"))
            continue
        table = rows.set_axis([label[column], ctx.t("customers"), ctx.t("monetary")], axis=1)
        left, right = st.columns([2, 3])
        left.dataframe(table, hide_index=True, column_config=columns([ctx.t("monetary")]))
        right.bar_chart(table, x=label[column], y=ctx.t("customers"), sort=False)


PAGE = Page(
    key="customers",
    order=60,
    requires=("rfm_customer", "dim_customer"),
    render=render,
    ignores=("month", "product_line"),
)
