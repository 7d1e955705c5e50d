"""The sales dashboard on a small hand-made published snapshot: every page through Streamlit's own
headless test API (values worked out by hand below), every page on the real marts of the small
company, and the scorecard page in headless Chromium (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from bi_fixtures import _fail_or_skip
from streamlit.testing.v1 import AppTest

from dagster_project.publish.snapshot import publish_snapshot
from dagster_project.warehouse import connect
from dashboard.i18n import label

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "dashboard" / "app.py")
PAGES = [
    "scorecard",
    "attainment",
    "funnels",
    "opportunities",
    "team",
    "forecast",
    "customers",
    "customer_health",
    "alerts",
]

MARTS = """
create schema marts;
create table marts.balanced_scorecard (month_start_date date, year_month varchar, region varchar, perspective varchar,
    perspective_zh varchar, kpi_code varchar, kpi_name varchar, kpi_name_zh varchar, unit varchar, time_window varchar,
    actual_value double, target_value double, direction varchar, status varchar, sort_order integer, status_zh varchar);
insert into marts.balanced_scorecard values
    ('2026-10-01', '2026-10', '*', 'financial', '财务', 'net_revenue', 'Net revenue', '净收入', 'CNY', 'month',
        6107085, 6220456, 'higher_is_better', 'amber', 1, '黄'),
    ('2026-10-01', '2026-10', '*', 'internal_process', '内部流程', 'win_rate', 'Win rate', '赢单率', 'ratio', 'month',
        0.75, 0.30, 'higher_is_better', 'green', 2, '绿'),
    ('2026-10-01', '2026-10', '*', 'customer', '客户', 'churn_rate', 'Annual churn rate', '年度客户流失率', 'ratio',
        'trailing_12m', 0.14, 0.15, 'lower_is_better', 'green', 3, '绿'),
    ('2026-10-01', '2026-10', '*', 'customer', '客户', 'active_customers', 'Active customers', '活跃客户数', 'count',
        'trailing_12m', 144, null, 'higher_is_better', null, 1, null),
    ('2026-10-01', '2026-10', '*', 'learning_growth', '学习与成长', 'training_coverage', 'Training coverage',
        '培训覆盖率', 'ratio', 'month', 0.5, 0.8, 'higher_is_better', 'red', 1, '红'),
    ('2026-10-01', '2026-10', '华东', 'financial', '财务', 'net_revenue', 'Net revenue', '净收入', 'CNY', 'month',
        2500000, 2000000, 'higher_is_better', 'green', 1, '绿'),
    ('2026-09-01', '2026-09', '*', 'financial', '财务', 'net_revenue', 'Net revenue', '净收入', 'CNY', 'month',
        5000000, 6000000, 'higher_is_better', 'red', 1, '红');
create table marts.dim_region (region varchar, region_name varchar, region_name_zh varchar, sort_order integer,
    is_all_regions boolean);
insert into marts.dim_region values ('*', 'All regions', '全部区域', 0, true), ('华东', 'East China', '华东', 1, false),
    ('华北', 'North China', '华北', 3, false);
create table marts.dim_product (sku varchar, product_line varchar);
insert into marts.dim_product values ('A', '机器视觉'), ('B', '伺服驱动');
create table marts.target_attainment (month_start_date date, year_month varchar, year bigint, region varchar,
    product_line varchar, target_revenue double, actual_revenue decimal(38, 2), attainment_rate double,
    ytd_target double, ytd_actual decimal(38, 2), ytd_attainment_rate double, projected_year_end_attainment double);
insert into marts.target_attainment values
    ('2026-10-01', '2026-10', 2026, '华东', '机器视觉', 100, 90, 0.9, 1000, 950, 0.95, 0.96),
    ('2026-10-01', '2026-10', 2026, '华北', '伺服驱动', 300, 330, 1.1, 2000, 1800, 0.9, 0.92),
    ('2026-11-01', '2026-11', 2026, '华东', '机器视觉', 100, 0, 0, 1100, 950, 0.86, 0.96),
    ('2026-11-01', '2026-11', 2026, '华北', '伺服驱动', 100, 0, 0, 2100, 1800, 0.86, 0.92);
create table marts.funnel (funnel varchar, step_order integer, step varchar, step_name varchar, step_name_zh varchar,
    reached_count bigint, next_step_count bigint, conversion_rate double, conversion_from_start double);
insert into marts.funnel values
    ('lead', 1, 'lead', 'Leads', '线索', 100, 40, 0.4, 1.0),
    ('lead', 2, 'mql', 'Marketing qualified lead', '市场合格线索', 40, null, null, 0.4),
    ('opportunity', 1, 'qualification', 'Qualification', '线索识别', 5, 4, 0.8, 1.0),
    ('opportunity', 3, 'proposal', 'Proposal', '方案演示', 4, 1, 0.25, 0.8),
    ('opportunity', 5, 'closed_won', 'Closed won', '成交', 1, null, null, 0.2);
create table marts.fct_opportunities (opportunity_id varchar, region varchar, owner_rep_id varchar,
    product_line varchar, amount decimal(18, 2), created_date date, close_date date, stage varchar,
    is_closed boolean, is_won boolean);
insert into marts.fct_opportunities values
    ('O1', '华东', 'R1', '机器视觉', 100000, '2026-09-05', '2026-12-01', 'proposal', false, false),
    ('O2', '华东', 'R1', '伺服驱动', 50000, '2026-10-10', '2026-12-01', 'proposal', false, false),
    ('O3', '华北', 'R2', '机器视觉', 200000, '2026-10-20', '2026-10-25', 'closed_won', true, true),
    ('O4', '华北', 'R2', '机器视觉', 70000, '2026-11-02', '2026-12-01', 'qualification', false, false),
    ('O5', '华东', 'R1', '机器视觉', 30000, '2026-08-01', '2026-09-01', 'closed_lost', true, false);
create table marts.rep_performance (rep_id varchar, rep_name varchar, region varchar, team varchar,
    month_start_date date, year_month varchar, net_revenue decimal(38, 2), target_revenue double,
    attainment_rate double, win_rate double, touches bigint, crm_timeliness_pct double, region_rank bigint,
    company_rank bigint);
insert into marts.rep_performance values
    ('R1', '张三', '华东', '华东一组', '2026-10-01', '2026-10', 1500, 2000, 0.75, null, 12, 0.9, 1, 2),
    ('R2', '李四', '华北', '华北一组', '2026-10-01', '2026-10', 3000, 2500, 1.2, 1.0, 8, null, 1, 1),
    ('R3', '王五', '华东', '华东一组', '2026-10-01', '2026-10', 0, 1000, 0.0, 0.0, 3, 0.5, 2, 3),
    ('R1', '张三', '华东', '华东一组', '2026-09-01', '2026-09', 5000, 4000, 1.25, 0.5, 20, 1.0, 1, 1);
create table marts.sales_forecast (month_start_date date, year_month varchar, year_quarter varchar, region varchar,
    product_line varchar, target_revenue double, actual_revenue decimal(38, 2), won_amount decimal(38, 2),
    weighted_pipeline_amount double, commit_amount decimal(38, 2), forecast_amount double, is_as_of_month boolean);
insert into marts.sales_forecast values
    ('2026-09-01', '2026-09', '2026-Q3', '华东', '机器视觉', 80000, 90000, 80000, 0, 0, 90000, false),
    ('2026-10-01', '2026-10', '2026-Q4', '华东', '机器视觉', 100000, 30000, 20000, 40000, 50000, 70000, true),
    ('2026-11-01', '2026-11', '2026-Q4', '华东', '机器视觉', 100000, null, 0, 60000, 0, 60000, false),
    ('2026-10-01', '2026-10', '2026-Q4', '华北', '伺服驱动', 50000, 50000, 0, 10000, 0, 60000, true),
    ('2026-12-01', '2026-12', '2026-Q4', '华北', '伺服驱动', 50000, null, 0, 0, 0, 0, false);
create table marts.forecast_accuracy (month_start_date date, year_month varchar, region varchar,
    forecast_amount_cny double, actual_won_cny decimal(38, 2), absolute_pct_error double, bias double,
    forecast_accuracy double, reconstruction_basis varchar, is_as_of_month boolean);
insert into marts.forecast_accuracy  -- all regions 2025-08 .. 2026-07: reconstructed, forecast = won
select m::date, strftime(m, '%Y-%m'), '*', 100, 100, 0, 0, 1, 'reconstructed', false
from range(date '2025-08-01', date '2026-08-01', interval 1 month) as months(m);
insert into marts.forecast_accuracy values
    ('2026-08-01', '2026-08', '*', 120000, 100000, 0.2, 0.2, 0.8, 'snapshot', false),
    ('2026-09-01', '2026-09', '*', 90000, 100000, 0.1, -0.1, 0.9, 'snapshot', false),
    ('2026-10-01', '2026-10', '*', 50000, 20000, 1.5, 1.5, 0, 'snapshot', true),
    ('2026-08-01', '2026-08', '华东', 0, 0, null, null, null, 'reconstructed', false),
    ('2026-09-01', '2026-09', '华东', 60000, 80000, 0.25, -0.25, 0.75, 'snapshot', false);
create table marts.rfm_customer (account_id varchar, monetary decimal(38, 2), rfm_segment varchar,
    rfm_segment_zh varchar, customer_tier varchar, customer_tier_zh varchar);
insert into marts.rfm_customer values ('A1', 600000, 'high_value', '高价值', 'strategic', '战略'),
    ('A2', 5000, 'at_risk', '流失风险', 'basic', '基础'), ('A3', 200000, 'high_value', '高价值', 'growth', '成长');
create table marts.dim_customer (account_id varchar, region varchar);
insert into marts.dim_customer values ('A1', '华东'), ('A2', '华东'), ('A3', '华北');
create table marts.customer_health_distribution (month_start_date date, as_of_date date, region varchar,
    customer_tier varchar, customer_tier_zh varchar, health_band varchar, health_band_name varchar,
    health_band_name_zh varchar, customers bigint, share_of_customers double, avg_health_score double,
    predicted_clv_12m double);
insert into marts.customer_health_distribution values
    ('2026-10-01', '2026-10-30', '华东', 'strategic', '战略', 'healthy', 'Healthy', '健康', 2, 1.0, 80, 300000),
    ('2026-10-01', '2026-10-30', '华东', 'basic', '基础', 'at_risk', 'At risk', '风险', 1, 1.0, 20, 1000),
    ('2026-10-01', '2026-10-30', '华北', 'growth', '成长', 'watch', 'Watch', '关注', 1, 1.0, 50, 20000),
    ('2026-08-01', '2026-08-31', '华东', 'strategic', '战略', 'healthy', 'Healthy', '健康', 1, 1.0, 90, 100);
create table marts.alerts (rule_code varchar, rule_name varchar, rule_name_zh varchar, severity varchar,
    subject varchar, subject_name varchar, period varchar, message varchar, message_zh varchar);
insert into marts.alerts values
    ('product_return_rate', 'Product return rate', '产品退货率', 'warning', 'SKU-1', '工业网关 GW611',
        '2026-08-02~2026-10-30', 'Return rate 6.8%', '退货率 6.8%'),
    ('annual_churn', 'Annual churn', '年度流失率', 'critical', '华北', null, '2026-10-30', 'Churn of 华北 is 19.0%',
        '华北年流失率 19.0%');
"""


@pytest.fixture
def snapshot(tmp_path, monkeypatch) -> Path:
    """The hand-made marts above, published (so the dashboard reads a real snapshot)."""
    con = connect(tmp_path / "warehouse.duckdb")
    con.execute(MARTS)
    publish_snapshot(con, tmp_path / "bi", run_id="dashboard-test")
    con.close()
    monkeypatch.setenv("S2S_BI_DIR", str(tmp_path / "bi"))
    return tmp_path / "bi"


def open_page(page: str, language: str = "en", **filters: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params["page"] = page
    app.query_params["lang"] = language
    app.run()
    for key, value in filters.items():
        app.sidebar.selectbox(key=key).set_value(value).run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def rows(app: AppTest, index: int = 0) -> list[list]:
    """A dataframe's rows, a missing number (NaN) as None."""
    table = app.dataframe[index].value.values.tolist()
    return [[None if isinstance(v, float) and math.isnan(v) else v for v in row] for row in table]


def test_scorecard_shows_every_kpi_with_rag_and_target(snapshot):
    app = open_page("scorecard")

    assert metrics(app) == {
        ":orange[●] Net revenue": "6.11 M",
        ":green[●] Win rate": "75.0%",
        ":gray[○] Active customers": "144",
        ":green[●] Annual churn rate": "14.0%",
        ":red[●] Training coverage": "50.0%",
    }
    captions = [c.value for c in app.caption]
    assert "amber · target 6.22 M" in captions and "no target" in captions and "green · target 15.0%" in captions
    assert [m.value for m in app.markdown if "green" in m.value] == ["green 2 · amber 1 · red 1 · no target 1"]
    assert [s.value for s in app.main.subheader] == ["Financial", "Customer", "Internal process", "Learning and growth"]
    assert "This page is not filtered by: Product line" in captions


def test_scorecard_follows_the_month_and_region_filters_and_speaks_chinese(snapshot):
    east = open_page("scorecard", region="华东")
    assert metrics(east) == {":green[●] Net revenue": "2.50 M"}

    september = open_page("scorecard", month="2026-09")
    assert metrics(september) == {":red[●] Net revenue": "5.00 M"}

    chinese = open_page("scorecard", language="zh")
    assert metrics(chinese)[":orange[●] 净收入"] == "610.7 万"
    assert "黄 · 目标 622.0 万" in [c.value for c in chinese.caption]  # status_zh of the mart
    assert chinese.sidebar.selectbox(key="region").options == ["全部区域", "华东", "华北"]
    assert [s.value for s in chinese.main.subheader] == ["财务", "客户", "内部流程", "学习与成长"]  # perspective_zh


def test_attainment_month_ytd_and_projection(snapshot):
    # all: month (90 + 330) / (100 + 300); ytd (950 + 1800) / (1000 + 2000);
    # projection weighted by year targets (100 + 100, 300 + 100): (0.96 * 200 + 0.92 * 400) / 600
    assert metrics(open_page("attainment")) == {
        "Month attainment": "105.0%",
        "Year-to-date attainment": "91.7%",
        "Projected year-end attainment": "93.3%",
    }
    assert metrics(open_page("attainment", region="华东")) == {
        "Month attainment": "90.0%",
        "Year-to-date attainment": "95.0%",
        "Projected year-end attainment": "96.0%",
    }
    by_line = open_page("attainment", product_line="伺服驱动")
    assert metrics(by_line)["Month attainment"] == "110.0%"
    assert [r[:2] for r in rows(by_line)] == [["华北", "伺服驱动"]]


def test_both_funnels(snapshot):
    app = open_page("funnels", language="zh")
    assert rows(app, 0) == [["线索", 100, 0.4, 1.0], ["市场合格线索", 40, None, 0.4]]
    assert [r[:2] for r in rows(app, 1)] == [["线索识别", 5], ["方案演示", 4], ["成交", 1]]


def test_opportunities_by_stage_count_and_amount(snapshot):
    # created by 2026-10-31: O1, O2 (proposal), O3 (won), O5 (lost); O4 was created in November
    app = open_page("opportunities")
    assert metrics(app) == {"Open pipeline": "150,000", "Opportunities": "2"}
    assert rows(app) == [["Proposal", 2, 150000.0], ["Closed won", 1, 200000.0], ["Closed lost", 1, 30000.0]]

    east_vision = open_page("opportunities", region="华东", product_line="机器视觉")
    assert rows(east_vision) == [["Proposal", 1, 100000.0], ["Closed lost", 1, 30000.0]]


def test_team_ranking_of_the_month(snapshot):
    # October of rep_performance, ranked within the company: 李四 1, 张三 2, 王五 3
    app = open_page("team")
    assert rows(app, 0) == [
        [1, "李四", "华北一组", "华北", 3000.0, 2500.0, 1.2, 1.0, 8, None],
        [2, "张三", "华东一组", "华东", 1500.0, 2000.0, 0.75, None, 12, 0.9],
        [3, "王五", "华东一组", "华东", 0.0, 1000.0, 0.0, 0.0, 3, 0.5],
    ]
    # teams: 华北一组 3000 / 2500; 华东一组 (1500 + 0) / (2000 + 1000) = 0.5
    assert rows(app, 1) == [["华北一组", 3000.0, 2500.0, 1.2], ["华东一组", 1500.0, 3000.0, 0.5]]
    assert "This page is not filtered by: Product line" in [c.value for c in app.caption]
    # a region: its reps by their rank within the region
    east = open_page("team", region="华东")
    assert [r[:2] for r in rows(east, 0)] == [[1, "张三"], [2, "王五"]]
    september = open_page("team", language="zh", month="2026-09")
    assert rows(september, 0) == [[1, "张三", "华东一组", "华东", 5000.0, 4000.0, 1.25, 0.5, 20, 1.0]]


def test_forecast_vs_target_of_the_quarter_and_accuracy(snapshot):
    # 2026-Q4: 华东 target 100000 + 100000, forecast 70000 + 60000; 华北 target 50000 + 50000, forecast 60000 + 0
    app = open_page("forecast")
    assert metrics(app) == {
        "Forecast (CNY)": "190,000",
        "Target revenue": "300,000",
        "Forecast vs target": "63.3%",  # 190000 / 300000
        # 12 complete months to 2026-10 (the as-of month left out): 2025-10 .. 2026-07 at 1, 0.8, 0.9
        "Average monthly forecast accuracy": "97.5%",
    }
    assert rows(app, 0) == [
        ["华东", 200000.0, 30000.0, 20000.0, 100000.0, 50000.0, 130000.0, 0.65],
        ["华北", 100000.0, 50000.0, 0.0, 10000.0, 0.0, 60000.0, 0.6],
    ]
    accuracy = rows(app, 1)
    assert [r[0] for r in accuracy] == [f"2025-{m}" for m in ("10", "11", "12")] + [
        f"2026-{m:02d}" for m in range(1, 10)
    ]
    assert accuracy[-1] == ["2026-09", 90000.0, 100000.0, 0.9, -0.1, "Snapshot"]
    captions = [c.value for c in app.caption]
    caveat = (
        "10 of 12 months are reconstructed: amounts and close dates are today's, so the forecast made then may have"
    )
    assert f"{caveat} differed." in captions
    assert "This page is not filtered by: Product line" in captions
    # 华东 in September: Q3 (one month) and its own accuracy rows
    east = open_page("forecast", language="zh", region="华东", month="2026-09")
    assert rows(east, 0) == [["华东", 80000.0, 90000.0, 80000.0, 0.0, 0.0, 90000.0, 1.125]]
    assert rows(east, 1) == [
        ["2026-08", 0.0, 0.0, None, None, "重建"],
        ["2026-09", 60000.0, 80000.0, 0.75, -0.25, "快照"],
    ]
    assert "2 个月中有 1 个月为重建值：当时的金额与预计成交日取自今天的商机，当月实际的预测可能不同。" in [
        c.value for c in east.caption
    ]


def test_customer_segments_and_tiers(snapshot):
    app = open_page("customers", language="zh")
    assert rows(app, 0) == [["高价值", 2, 800000.0], ["流失风险", 1, 5000.0]]
    assert rows(app, 1) == [["基础", 1, 5000.0], ["成长", 1, 200000.0], ["战略", 1, 600000.0]]  # ties by name
    north = open_page("customers", language="zh", region="华北")
    assert rows(north, 0) == [["高价值", 1, 200000.0]]


def test_customer_health_by_band_and_tier(snapshot):
    # October, all regions: healthy 2 of 4 (average 80), watch 1 (50), at risk 1 (20), bands by score
    app = open_page("customer_health")
    assert rows(app, 0) == [
        ["Healthy", 2, 0.5, 80.0, 300000.0],
        ["Watch", 1, 0.25, 50.0, 20000.0],
        ["At risk", 1, 0.25, 20.0, 1000.0],
    ]
    assert rows(app, 1) == [[1, 0, 0], [0, 0, 1], [0, 2, 0]]  # basic, growth, strategic x At risk, Healthy, Watch
    captions = [c.value for c in app.caption]
    assert "Customer health in 2026-10 (each run records the month of its as-of date)." in captions
    # September has no run of its own: the latest month before it (August) shows, and says so
    september = open_page("customer_health", language="zh", month="2026-09")
    assert rows(september, 0) == [["健康", 1, 1.0, 90.0, 100.0]]
    assert "2026-08 的客户健康度（每次运行记录其基准日所在月份）。" in [c.value for c in september.caption]
    assert rows(open_page("customer_health", region="华北"), 0) == [["Watch", 1, 1.0, 50.0, 20000.0]]


def test_open_alerts_most_severe_first(snapshot):
    app = open_page("alerts", language="zh")
    assert rows(app) == [
        ["严重", "年度流失率", "华北", "2026-10-30", "华北年流失率 19.0%"],
        ["警告", "产品退货率", "工业网关 GW611", "2026-08-02~2026-10-30", "退货率 6.8%"],
    ]
    assert "**当前预警 2 条**" in [m.value for m in app.markdown]


def test_pages_show_only_when_their_marts_are_published(tmp_path, monkeypatch):
    con = connect(tmp_path / "warehouse.duckdb")
    con.execute(MARTS)
    for mart in (
        "rfm_customer",
        "fct_opportunities",
        "rep_performance",
        "sales_forecast",
        "customer_health_distribution",
    ):
        con.execute(f"drop table marts.{mart}")
    publish_snapshot(con, tmp_path / "bi", run_id="fewer marts")
    con.close()
    monkeypatch.setenv("S2S_BI_DIR", str(tmp_path / "bi"))
    app = open_page("scorecard")
    assert app.sidebar.radio(key="page").options == [
        "Balanced scorecard",
        "Target attainment",
        "Funnels",
        "Alerts",
    ]


def test_without_a_snapshot_the_dashboard_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_BI_DIR", str(tmp_path / "nothing"))
    app = open_page("scorecard")
    assert [w.value for w in app.warning] == ["No BI snapshot is published yet: run make run first."]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_page_renders_on_the_real_marts(small_company_snapshot, monkeypatch, language):
    monkeypatch.setenv("S2S_BI_DIR", str(small_company_snapshot["bi_dir"]))
    for page in PAGES:
        app = open_page(page, language)
        assert app.title[0].value, page
        if page == "customer_health":  # dbt alone: no customer value step wrote scores, so no health yet
            assert [i.value for i in app.info] == [label("no_rows", language)]
            continue
        assert app.metric or app.dataframe, f"{page} shows nothing on the small company"
    assert len(open_page("scorecard", language).metric) >= 20


# ----------------------------------------------------------------------------- headless Chromium
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dashboard_server(snapshot):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", APP, "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
         "--client.toolbarMode", "viewer"],
        cwd=REPO, env={**os.environ, "S2S_BI_DIR": str(snapshot)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    break
        except OSError:
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "the dashboard did not start in 60 s"
            time.sleep(0.3)
    yield url
    server.terminate()
    server.wait(timeout=30)


def _browser_text(url: str, wait_for: str, screenshot: Path) -> tuple[str, str]:
    """The page's heading and text once `wait_for` shows (the page arrives over a websocket, after the shell)."""
    chromium = shutil.which("chromium")
    if not chromium:
        _fail_or_skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.get_by_text(wait_for).first.wait_for(timeout=60_000)
            page.screenshot(path=str(screenshot), full_page=True)
            return page.locator("h1").first.inner_text(), page.inner_text("body")
        finally:
            browser.close()


def test_scorecard_in_headless_chromium(dashboard_server, tmp_path):
    screenshot = Path(os.environ.get("S2S_SCREENSHOT_DIR") or tmp_path) / "dashboard_scorecard.png"
    _, text = _browser_text(f"{dashboard_server}/?page=scorecard&lang=en", "Training coverage", screenshot)
    for kpi in ("Net revenue", "Win rate", "Annual churn rate", "Active customers", "Training coverage"):
        assert kpi in text
    for value in ("6.11 M", "75.0%", "amber · target 6.22 M", "green 2 · amber 1 · red 1 · no target 1"):
        assert value in text
    assert screenshot.stat().st_size > 10_000


def test_forecast_page_in_headless_chromium(dashboard_server, tmp_path):
    screenshot = Path(os.environ.get("S2S_SCREENSHOT_DIR") or tmp_path) / "dashboard_forecast.png"
    heading, text = _browser_text(f"{dashboard_server}/?page=forecast&lang=zh", "月均预测准确率", screenshot)
    assert heading == "预测" and "近12个完整月的预测准确性" in text
    # 2026-Q4 forecast 190000 / target 300000 (19.0 万 / 30.0 万); accuracy (10 x 1 + 0.8 + 0.9) / 12
    for value in ("19.0 万", "30.0 万", "63.3%", "97.5%"):
        assert value in text
    assert screenshot.stat().st_size > 10_000
