"""The shipped presets load exports in their own shape with no code: a deployment mapping that names
the preset (and overrides what the company does differently) is all. Fixtures in
tests/fixtures/exports/ are hand-written in each system's export shape; expected rows worked out by hand
(Salesforce and HubSpot timestamps are UTC: +8 hours to Asia/Shanghai)."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from dagster_project.contracts import load_contracts
from dagster_project.ingest import load_entity

FIXTURES = Path(__file__).parent / "fixtures" / "exports"


def deploy(tmp_path: Path, raw_dir: Path, fixture: str, folder: str, mapping: str, policy: str = "") -> None:
    """The export copied into the raw folder, and the deployment folder (S2S_DEPLOYMENT_DIR) with
    one mapping YAML and an optional policy."""
    shutil.copytree(FIXTURES / fixture, raw_dir / folder)
    mappings = tmp_path / "deployment" / "mappings"
    mappings.mkdir(parents=True)
    (mappings / f"{fixture}.yml").write_text(mapping, encoding="utf-8")
    if policy:
        (tmp_path / "deployment" / "policy.yml").write_text(policy, encoding="utf-8")


def load_all(con, raw_dir: Path) -> dict:
    return {name: load_entity(con, contract, raw_dir) for name, contract in load_contracts().items()}


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_salesforce_preset_loads_the_standard_objects(tmp_path, raw_dir, con):
    deploy(tmp_path, raw_dir, "salesforce", "salesforce", "preset: salesforce\n")
    results = load_all(con, raw_dir)

    assert rows(
        con,
        "select rep_id, rep_name, region, team, role, manager_id, hired_on, updated_at"
        " from raw_crm.sales_reps order by 1",
    ) == [
        (
            "0055j00000AbCdEAAV",
            "王芳",
            "华东",
            "华东一组",
            "director",
            None,
            date(2019, 3, 1),
            datetime(2026, 5, 1, 10, 0),
        ),
        (
            "0055j00000AbCdFAAV",
            "李雷",
            "华东",
            "华东一组",
            "rep",
            "0055j00000AbCdEAAV",
            date(2021, 7, 15),
            datetime(2026, 5, 20, 16, 30),
        ),
    ]
    # 16:30 UTC on 31 May is 00:30 on 1 June in Shanghai
    assert rows(
        con,
        "select account_id, employee_count, region, province, city, owner_rep_id, updated_at"
        " from raw_crm.accounts order by 1",
    ) == [
        ("0015j00000QxYzAAAB", 1200, "华东", "江苏", "苏州", "0055j00000AbCdFAAV", datetime(2026, 6, 1, 0, 30)),
        ("0015j00000QxZaAAAB", None, "华东", "浙江", "杭州", "0055j00000AbCdFAAV", datetime(2026, 4, 2, 14, 0)),
    ]
    # Phone is absent from the export: the phone comes from MobilePhone
    assert rows(con, "select contact_id, account_id, full_name, phone from raw_crm.contacts") == [
        ("0035j00000KkLmAAAR", "0015j00000QxYzAAAB", "张伟", "13812345678")
    ]
    assert rows(
        con,
        "select lead_id, channel, campaign_id, status, converted_at, converted_opportunity_id"
        " from raw_crm.leads order by 1",
    ) == [
        (
            "00Q5j00000Ab1cDEAR",
            "trade_show",
            "7015j000000TsHwAAG",
            "converted",
            datetime(2026, 4, 2),
            "0065j00000Op2BBAA1",
        ),
        ("00Q5j00000Ab1cEEAR", "baidu_sem", None, "working", None, None),
    ]
    # the lead status the org added ('Contacted') is not in the preset's map: quarantined, named as exported
    assert rows(con, "select source_file, line, column_name, value, reason from meta.quarantine") == [
        (
            "salesforce/Lead.csv",
            4,
            "Status",
            "Contacted",
            "Status: not one of new, working, nurturing, qualified, disqualified, converted",
        ),
    ]
    # lead_id: the lead whose ConvertedOpportunityId is the opportunity (a lookup into Lead.csv)
    assert rows(
        con,
        """select opportunity_id, lead_id, opportunity_type, product_line, amount, currency,
                               created_at, close_date, stage, is_closed, is_won, loss_reason
                        from raw_crm.opportunities order by 1""",
    ) == [
        (
            "0065j00000Op1AAAA1",
            None,
            "renewal",
            "运维服务",
            Decimal("186000.00"),
            "CNY",
            datetime(2026, 3, 2, 10, 0),
            date(2026, 5, 28),
            "closed_won",
            True,
            True,
            None,
        ),
        (
            "0065j00000Op2BBAA1",
            "00Q5j00000Ab1cDEAR",
            "new_business",
            "机器视觉",
            Decimal("420000.00"),
            "CNY",
            datetime(2026, 4, 2, 14, 0),
            date(2026, 7, 15),
            "proposal",
            False,
            False,
            None,
        ),
        (
            "0065j00000Op3CCAA1",
            None,
            "upsell",
            "伺服驱动",
            Decimal("58000.00"),
            "USD",
            datetime(2026, 2, 15, 10, 0),
            date(2026, 5, 10),
            "closed_lost",
            True,
            False,
            "价格过高",
        ),
    ]
    # the amount-only change (row 4 of OpportunityHistory.csv, stage unchanged) is no stage entry
    assert rows(
        con, "select opportunity_id, stage, entered_at from raw_crm.opportunity_stage_history order by 1, 3"
    ) == [
        ("0065j00000Op1AAAA1", "qualification", datetime(2026, 3, 2, 10, 0)),
        ("0065j00000Op1AAAA1", "negotiation", datetime(2026, 4, 20, 11, 0)),
        ("0065j00000Op1AAAA1", "closed_won", datetime(2026, 5, 28, 18, 0)),
        ("0065j00000Op2BBAA1", "qualification", datetime(2026, 4, 2, 14, 0)),
        ("0065j00000Op2BBAA1", "proposal", datetime(2026, 5, 30, 11, 0)),
    ]
    history = results["crm.opportunity_stage_history"].outcomes[0]
    assert (history.rows_read, history.rows_loaded, history.rows_skipped) == (5, 5, 1)
    # WhatId/WhoId: an opportunity (lead) by its key prefix 006 (00Q); a contact (003) or an account (001) is neither
    assert rows(
        con,
        """select activity_id, rep_id, account_id, lead_id, opportunity_id, activity_type, occurred_at, is_effective,
                        created_at from raw_crm.activities order by 1""",
    ) == [
        (
            "00T5j00000Tk1AAAA1",
            "0055j00000AbCdFAAV",
            "0015j00000QxYzAAAB",
            None,
            "0065j00000Op1AAAA1",
            "call",
            datetime(2026, 5, 20, 14, 30),
            True,
            datetime(2026, 5, 20, 14, 0),
        ),
        (
            "00T5j00000Tk2AAAA1",
            "0055j00000AbCdFAAV",
            None,
            "00Q5j00000Ab1cEEAR",
            None,
            "call",
            datetime(2026, 5, 13, 10, 10),
            False,
            datetime(2026, 5, 13, 10, 0),
        ),
        (
            "00T5j00000Tk3AAAA1",
            "0055j00000AbCdFAAV",
            "0015j00000QxYzAAAB",
            None,
            None,
            "email",
            datetime(2026, 5, 22, 16, 0),
            False,
            datetime(2026, 5, 22, 16, 0),
        ),
        (
            "00U5j00000Ev1AAAA1",
            "0055j00000AbCdFAAV",
            "0015j00000QxZaAAAB",
            None,
            "0065j00000Op2BBAA1",
            "demo",
            datetime(2026, 5, 26, 9, 0),
            True,
            datetime(2026, 5, 19, 9, 0),  # the demo was planned (logged) a week ahead
        ),
    ]
    assert rows(
        con, "select case_id, category, priority, opened_at, first_response_at, resolved_at from raw_crm.cases"
    ) == [
        (
            "5005j00000Cs1AAAA1",
            "complaint",
            "high",
            datetime(2026, 5, 6, 9, 0),
            datetime(2026, 5, 6, 11, 30),
            datetime(2026, 5, 8, 17, 0),
        ),
    ]
    assert rows(con, "select campaign_id, channel, start_date, budget, currency from raw_marketing.campaigns") == [
        ("7015j000000TsHwAAG", "trade_show", date(2026, 3, 18), Decimal("300000.00"), "CNY")
    ]
    # the same accounting as a native drop: read = loaded + quarantined, per file
    assert rows(con, "select sum(rows_read), sum(rows_loaded), sum(rows_quarantined) from meta.ingest_audit") == [
        (22, 21, 1)
    ]


def test_hubspot_preset_with_the_company_s_own_folder_and_pipeline_stage(tmp_path, raw_dir, con):
    mapping = (
        "preset: hubspot\n"
        "folder: hubspot_export\n"
        "values:\n"
        "  stage: {'1234567': negotiation}   # a stage of the company's own pipeline\n"
    )
    deploy(tmp_path, raw_dir, "hubspot", "hubspot_export", mapping)
    results = load_all(con, raw_dir)

    # owners carry no region, role or hire date: not delivered, reported once for the entity
    assert rows(con, "select rep_id, rep_name, email, team, region, role from raw_crm.sales_reps") == [
        ("52511001", "Jing Chen", "chen.jing@xczk.example.com", "华南一组", None, None)
    ]
    assert "region (1 of 1 drops)" in results["crm.sales_reps"].metadata()["columns_not_delivered"]
    assert rows(
        con,
        "select account_id, account_name, employee_count, region, city, owner_rep_id, created_at"
        " from raw_crm.accounts order by 1",
    ) == [
        ("18342671901", "深圳华曜新能源科技有限公司", 860, "华南", "深圳", "52511001", datetime(2025, 11, 3, 10, 20)),
        ("18342671902", "东莞立信精密机械有限公司", None, "华南", "东莞", "52511001", datetime(2026, 5, 18, 9, 0)),
    ]
    # family name first for Chinese names; phone empty, mobilephone taken
    assert rows(con, "select contact_id, account_id, full_name, title, phone from raw_crm.contacts") == [
        ("901", "18342671901", "黄晓明", "设备部经理", "13922223333")
    ]
    # closedate midnight Shanghai written in UTC (16:00 the day before) is that Shanghai day
    assert rows(
        con,
        """select opportunity_id, account_id, lead_id, opportunity_type, amount, currency, close_date,
                               stage, is_closed, is_won, loss_reason
                        from raw_crm.opportunities order by 1""",
    ) == [
        (
            "7001",
            "18342671901",
            None,
            "new_business",
            Decimal("265000.00"),
            "CNY",
            date(2026, 5, 20),
            "closed_won",
            True,
            True,
            None,
        ),
        (
            "7002",
            "18342671902",
            "LD00004521",
            "upsell",
            Decimal("98000.50"),
            "HKD",
            date(2026, 7, 31),
            "negotiation",
            False,
            False,
            None,
        ),
        (
            "7003",
            "18342671901",
            None,
            "renewal",
            Decimal("43000.00"),
            "CNY",
            date(2026, 4, 30),
            "closed_lost",
            True,
            False,
            "选择竞品",
        ),
    ]
    assert rows(
        con, "select opportunity_id, stage, entered_at from raw_crm.opportunity_stage_history order by 1, 3"
    ) == [
        ("7001", "qualification", datetime(2026, 3, 10, 11, 0)),
        ("7001", "negotiation", datetime(2026, 4, 28, 14, 0)),
        ("7001", "closed_won", datetime(2026, 5, 20, 10, 0)),
        ("7002", "qualification", datetime(2026, 5, 18, 9, 30)),
        ("7002", "negotiation", datetime(2026, 5, 28, 15, 0)),
    ]
    # hs_timestamp in epoch milliseconds, hs_createdate ISO in UTC (blank: not known); the NOTE is
    # skipped by the preset (not a sales touch)
    assert rows(
        con,
        """select activity_id, account_id, lead_id, opportunity_id, activity_type, occurred_at, is_effective,
                        created_at from raw_crm.activities order by 1""",
    ) == [
        (
            "40001",
            "18342671901",
            None,
            "7001",
            "call",
            datetime(2026, 5, 25, 10, 0),
            True,
            datetime(2026, 5, 25, 10, 30),
        ),
        (
            "40002",
            "18342671902",
            None,
            "7002",
            "visit",
            datetime(2026, 5, 27, 10, 0),
            True,
            datetime(2026, 5, 29, 9, 0),
        ),
        ("40004", None, "LD00004521", None, "email", datetime(2026, 5, 28, 10, 0), False, None),
    ]
    assert results["crm.activities"].outcomes[0].rows_skipped == 1
    assert rows(
        con, "select case_id, account_id, category, priority, opened_at, first_response_at from raw_crm.cases"
    ) == [("60001", "18342671901", "technical", "high", datetime(2026, 5, 21, 8, 30), datetime(2026, 5, 21, 9, 10))]
    assert rows(con, "select count(*) from meta.quarantine") == [(0,)]


def test_chinese_crm_preset_reads_xlsx_gbk_chinese_formats_names_and_subtotals(tmp_path, raw_dir, con):
    deploy(tmp_path, raw_dir, "fxiaoke", "fxiaoke", "preset: fxiaoke\n")
    results = load_all(con, raw_dir)

    # 直属上级 is a name, looked up in the same 人员 export
    assert rows(
        con,
        "select rep_id, rep_name, region, role, manager_id, hired_on, updated_at from raw_crm.sales_reps order by 1",
    ) == [
        ("E0001", "刘洋", "华北", "manager", None, date(2018, 9, 3), datetime(2026, 5, 6, 10, 15)),
        ("E0002", "赵磊", "华北", "rep", "E0001", date(2023, 2, 20), datetime(2026, 5, 30, 16, 5)),
    ]
    # 员工人数 "1,200" and full-width "３５０"; an empty 销售区域 takes the owner's region; the 合计 row is skipped
    assert rows(
        con,
        "select account_id, account_name, employee_count, region, owner_rep_id, created_at"
        " from raw_crm.accounts order by 1",
    ) == [
        ("KH-1001", "天津海河制药有限公司", 1200, "华北", "E0002", datetime(2025, 3, 12, 9, 30)),
        ("KH-1002", "石家庄恒拓建材有限公司", 350, "华北", "E0002", datetime(2026, 4, 8, 9, 5)),
    ]
    accounts = results["crm.accounts"].outcomes[0]
    assert (accounts.rows_read, accounts.rows_loaded, accounts.rows_skipped) == (2, 2, 1)
    # GBK CSV: ¥1,234,500.00, 12.5万, full-width digits; 2026年5月28日 and 2026/7/15; 客户名称 -> 客户编号
    assert rows(
        con,
        """select opportunity_id, account_id, owner_rep_id, lead_id, opportunity_type, amount, currency,
                               close_date, created_at, stage, is_closed, is_won
                        from raw_crm.opportunities order by 1""",
    ) == [
        (
            "SJ-2026-0101",
            "KH-1001",
            "E0002",
            "XS-0301",
            "new_business",
            Decimal("1234500.00"),
            "CNY",
            date(2026, 5, 28),
            datetime(2026, 3, 5, 10, 0),
            "closed_won",
            True,
            True,
        ),
        (
            "SJ-2026-0102",
            "KH-1002",
            "E0002",
            None,
            "new_business",
            Decimal("125000.00"),
            "CNY",
            date(2026, 7, 15),
            datetime(2026, 4, 9, 11, 20),
            "negotiation",
            False,
            False,
        ),
    ]
    opportunities = results["crm.opportunities"].outcomes[0]
    assert (opportunities.encoding, opportunities.rows_read, opportunities.rows_quarantined) == ("gb18030", 3, 1)
    assert rows(con, "select line, column_name, value, reason from meta.quarantine") == [
        (
            4,
            "商机阶段",
            "暂停",
            "商机阶段: not one of qualification, needs_analysis, proposal, negotiation, closed_won, closed_lost",
        ),
    ]
    assert rows(con, "select lead_id, channel, status, owner_rep_id, converted_at from raw_crm.leads order by 1") == [
        ("XS-0301", "trade_show", "converted", "E0002", datetime(2026, 3, 5, 10, 0)),
        ("XS-0302", "baidu_sem", "working", "E0002", None),
    ]
    assert rows(
        con,
        "select activity_id, rep_id, account_id, lead_id, activity_type, is_effective"
        " from raw_crm.activities order by 1",
    ) == [
        ("GJ-88001", "E0002", "KH-1001", None, "visit", True),
        ("GJ-88002", "E0002", None, "XS-0302", "call", False),
    ]
    assert rows(con, "select count(*) from raw_crm.opportunity_stage_history where stage = 'proposal'") == [(1,)]
    # 手机 empty: 电话 taken
    assert rows(con, "select contact_id, account_id, full_name, phone from raw_crm.contacts") == [
        ("LXR-2001", "KH-1001", "孙婷", "022-58881234")
    ]
    assert rows(con, "select case_id, account_id, category, priority, opened_at, resolved_at from raw_crm.cases") == [
        ("GD-5001", "KH-1001", "technical", "high", datetime(2026, 5, 14, 8, 20), datetime(2026, 5, 15, 17, 0))
    ]


@pytest.mark.parametrize("preset", ["salesforce", "hubspot", "fxiaoke"])
def test_every_preset_rule_is_exercised_by_its_fixture(preset):
    """Each file rule of a preset has a file in the preset's fixture (no untested config)."""
    from dagster_project.mapping.discover import export_files, matches
    from dagster_project.mapping.spec import load_preset

    files = export_files(FIXTURES / preset)
    unmatched = [r.name for r in load_preset(preset).files if not any(matches(f, r.patterns) for f in files)]
    assert unmatched == []
