"""Numbers as a sales manager reads them: money in 万 (zh) or M (en), ratios in %, counts whole."""

from __future__ import annotations

import math


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(value: object, language: str) -> str:
    if _missing(value):
        return "–"
    amount = float(value)
    if language == "zh":
        return f"{amount / 1e4:,.1f} 万" if abs(amount) >= 1e4 else f"{amount:,.0f} 元"
    return f"{amount / 1e6:,.2f} M" if abs(amount) >= 1e6 else f"{amount:,.0f}"


def ratio(value: object) -> str:
    return "–" if _missing(value) else f"{float(value):.1%}"


def number(value: object, decimals: int = 0) -> str:
    return "–" if _missing(value) else f"{float(value):,.{decimals}f}"


def by_unit(value: object, unit: str, language: str) -> str:
    """A scorecard value in its unit (config seed scorecard_kpis: CNY, ratio, count, days, ...)."""
    if unit == "CNY":
        return money(value, language)
    if unit == "ratio":
        return ratio(value)
    if unit == "count":
        return number(value)
    return number(value, 1 if unit in ("days", "hours") else 2)


def columns(money_columns: list[str] = (), ratio_columns: list[str] = ()) -> dict:
    """Streamlit column formats: money with thousands separators, ratios as percentages."""
    import streamlit as st

    config = {c: st.column_config.NumberColumn(format="localized") for c in money_columns}
    config.update({c: st.column_config.NumberColumn(format="percent") for c in ratio_columns})
    return config
