"""S2S sales dashboard: `make dashboard` (streamlit run dashboard/app.py), then http://127.0.0.1:8501.

Reads only the published BI snapshot (S2S_BI_DIR, default data/warehouse/bi), read-only. The URL
keeps the page and language (?page=scorecard&lang=en), so a view can be bookmarked or shared.
"""

from __future__ import annotations

import streamlit as st

from dashboard.data import Snapshot
from dashboard.i18n import LANGUAGES, label
from dashboard.views import Context, Filters, Page, all_pages

LANGUAGE_NAMES = {"zh": "中文", "en": "English"}


def choose_language() -> str:
    wanted = st.query_params.get("lang", "zh")
    language = st.sidebar.radio(
        label("language", "zh"),
        LANGUAGES,
        index=LANGUAGES.index(wanted) if wanted in LANGUAGES else 0,
        format_func=LANGUAGE_NAMES.get,
        horizontal=True,
        key="language",
    )
    st.query_params["lang"] = language
    return language


def choose_page(pages: list[Page], language: str) -> Page:
    keys = [p.key for p in pages]
    wanted = st.query_params.get("page", keys[0])
    key = st.sidebar.radio(
        label("page", language),
        keys,
        index=keys.index(wanted) if wanted in keys else 0,
        format_func=lambda k: next(p for p in pages if p.key == k).title(language),
        key="page",
    )
    st.query_params["page"] = key
    return next(p for p in pages if p.key == key)


def choose_filters(snapshot: Snapshot, language: str) -> Filters:
    st.sidebar.subheader(label("filters", language))
    months = _options(
        snapshot, "select distinct year_month as v from balanced_scorecard order by 1 desc", "balanced_scorecard"
    )
    regions = _options(snapshot, "select region as v from dim_region order by sort_order, region", "dim_region")
    names = {}
    if snapshot.has("dim_region"):
        column = "region_name_zh" if language == "zh" else "region_name"
        names = dict(snapshot.query(f"select region, {column} from dim_region").itertuples(index=False))
    lines = _options(
        snapshot,
        "select distinct product_line as v from dim_product where product_line is not null order by 1",
        "dim_product",
    )
    everything = label("all", language)
    month = st.sidebar.selectbox(label("month", language), months or ["–"], key="month")
    region = st.sidebar.selectbox(
        label("region", language),
        ["*", *(r for r in regions if r != "*")],
        format_func=lambda r: names.get(r) or (everything if r == "*" else r),
        key="region",
    )
    line = st.sidebar.selectbox(
        label("product_line", language),
        ["*", *lines],
        format_func=lambda p: everything if p == "*" else p,
        key="product_line",
    )
    return Filters(month=month, region=region, product_line=line)


def _options(snapshot: Snapshot, sql: str, table: str) -> list[str]:
    return [str(v) for v in snapshot.query(sql)["v"]] if snapshot.has(table) else []


def main() -> None:
    st.set_page_config(page_title="S2S", layout="wide")
    language = choose_language()
    snapshot = Snapshot.find()
    if snapshot is None:
        st.title(label("app_title", language))
        st.warning(label("no_snapshot", language))
        return
    pages = [p for p in all_pages() if snapshot.has(*p.requires)]
    page = choose_page(pages, language)
    filters = choose_filters(snapshot, language)
    st.title(page.title(language))
    st.caption(
        label("snapshot_caption", language, snapshot_id=snapshot.snapshot_id, published_at=snapshot.published_at[:19])
    )
    if page.ignores:
        names = ", ".join(label(f, language) for f in page.ignores)
        st.caption(label("filters_not_applied", language, filters=names))
    page.render(Context(snapshot, language, filters))


main()
