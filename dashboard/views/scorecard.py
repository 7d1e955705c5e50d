"""The balanced scorecard of a month and region: every KPI with its actual, target and RAG status,
grouped by perspective (marts.balanced_scorecard)."""

from __future__ import annotations

import streamlit as st

from dashboard.format import by_unit
from dashboard.i18n import localized, nested
from dashboard.views import Context, Page

# RAG as a coloured dot (Streamlit's colour directives; no emoji font needed) plus the status word
RAG = {"green": ":green[●]", "amber": ":orange[●]", "red": ":red[●]"}
PERSPECTIVES = ("financial", "customer", "internal_process", "learning_growth")
COLUMNS = 4


def render(ctx: Context) -> None:
    kpis = ctx.snapshot.query(
        "select * from balanced_scorecard where year_month = $month and region = $region "
        "order by perspective, sort_order",
        {"month": ctx.filters.month, "region": ctx.filters.region},
    )
    if kpis.empty:
        st.info(ctx.t("no_rows"))
        return
    statuses = kpis["status"].fillna("none").value_counts()
    st.markdown(ctx.t("rag_counts", **{s: int(statuses.get(s, 0)) for s in ("green", "amber", "red", "none")}))
    order = {p: i for i, p in enumerate(PERSPECTIVES)}
    for _, rows in sorted(kpis.groupby("perspective", sort=False), key=lambda g: order.get(g[0], 99)):
        code = rows.iloc[0]["perspective"]
        st.subheader(rows.iloc[0]["perspective_zh"] if ctx.language == "zh" else nested("perspectives", code, "en"))
        columns = st.columns(COLUMNS)
        for i, kpi in enumerate(rows.itertuples(index=False)):
            kpi = kpi._asdict()
            if kpi["target_value"] == kpi["target_value"]:  # not NaN: the KPI has a target
                status = kpi[localized("status", ctx.language)]
                status = status if isinstance(status, str) else ""
                target = f"{status} · {ctx.t('target')} {by_unit(kpi['target_value'], kpi['unit'], ctx.language)}"
            else:
                target = ctx.t("no_target")
            cell = columns[i % COLUMNS]
            cell.metric(
                label=f"{RAG.get(kpi['status'], ':gray[○]')} {kpi[localized('kpi_name', ctx.language)]}",
                value=by_unit(kpi["actual_value"], kpi["unit"], ctx.language),
            )
            cell.caption(target)


PAGE = Page(key="scorecard", order=10, requires=("balanced_scorecard",), render=render, ignores=("product_line",))
