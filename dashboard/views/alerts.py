"""Open alerts as of the snapshot's as-of date, most severe first (marts.alerts)."""

from __future__ import annotations

import streamlit as st

from dashboard.i18n import localized, nested
from dashboard.views import Context, Page

SEVERITY_ORDER = "case severity when 'critical' then 0 when 'warning' then 1 else 2 end"


def render(ctx: Context) -> None:
    alerts = ctx.snapshot.query(f"select * from alerts order by {SEVERITY_ORDER}, rule_code, subject, period")
    st.markdown(f"**{ctx.t('open_alerts', count=len(alerts))}**")
    if alerts.empty:
        return
    rule = localized("rule_name", ctx.language) if "rule_name" in alerts else "rule_code"
    message = localized("message", ctx.language)
    table = alerts.assign(severity=alerts["severity"].map(lambda s: nested("severities", s, ctx.language)))
    subject = "subject_name" if "subject_name" in alerts else "subject"
    table = table.assign(subject=table[subject].fillna(table["subject"]))
    table = table[["severity", rule, "subject", "period", message]]
    st.dataframe(
        table.set_axis([ctx.t(c) for c in ("severity", "rule", "subject", "period", "message")], axis=1),
        hide_index=True,
    )


PAGE = Page(key="alerts", order=90, requires=("alerts",), render=render, ignores=("month", "region", "product_line"))
