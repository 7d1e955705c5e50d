"""Source mappings: the YAML (presets and a company's overrides, errors that name the entry), which
files a mapping covers, mapped drops through the ordinary load (a changed mapping reloads its files),
and columns that are not delivered. Hand-made exports; expected values worked out by hand."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import csv_text, write_drop

from dagster_project.contracts import load_contracts
from dagster_project.ingest import load_entity
from dagster_project.ingest.drops import find_drops
from dagster_project.mapping.spec import MappingError, load_mappings, parse_mapping_file


def write_mapping(tmp_path: Path, text: str, name: str = "crm.yml") -> Path:
    """A mapping in the test's deployment folder (S2S_DEPLOYMENT_DIR points there, see conftest)."""
    folder = tmp_path / "deployment" / "mappings"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def write_export(raw_dir: Path, relative: str, text: str, encoding: str = "utf-8") -> Path:
    path = raw_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


OPPORTUNITIES = """
folder: mycrm
values:
  stage: {Won: closed_won, Lost: closed_lost, Talking: needs_analysis}
files:
  deals:
    pattern: "deals*.csv"
    entity: crm.opportunities
    skip: "DealId like 'TOTAL%'"
    columns:
      opportunity_id: DealId
      account_id: Customer
      amount: Value
      currency: {column: Curr, default: CNY}
      created_at: Opened
      close_date: Closing
      stage: {column: Phase, values: stage}
      is_won: {sql: "values_stage(Phase) = 'closed_won'"}
      opportunity_type: {constant: new_business}
"""
DEALS_HEADER = ["DealId", "Customer", "Value", "Curr", "Opened", "Closing", "Phase", "Comment"]


def test_a_mapped_export_loads_like_a_native_drop_and_names_its_own_columns(tmp_path, raw_dir, con):
    write_mapping(tmp_path, OPPORTUNITIES)
    rows = [
        ["D1", "A1", "1,200.50", "USD", "2026/5/3 14:22", "2026年6月30日", "Won", "first"],  # line 2
        ["D2", "A2", "12.5万", "", "2026/5/4 9:00", "2026/7/1", "talking", ""],  # line 3: value map in any case
        ["D3", "A3", "abc", "", "2026/5/5 9:00", "2026/7/1", "Parked", ""],  # line 4: two problems
        ["TOTAL", "", "125,000", "", "", "", "", ""],  # line 5: a subtotal, skipped
    ]
    write_export(raw_dir, "mycrm/deals_2026-06-01.csv", csv_text(DEALS_HEADER, rows))

    result = load_entity(con, load_contracts()["crm.opportunities"], raw_dir)

    assert con.execute(
        "select opportunity_id, amount, currency, created_at, close_date, stage, is_won, opportunity_type, "
        "owner_rep_id from raw_crm.opportunities order by 1"
    ).fetchall() == [
        (
            "D1",
            Decimal("1200.50"),
            "USD",
            datetime(2026, 5, 3, 14, 22),
            date(2026, 6, 30),
            "closed_won",
            True,
            "new_business",
            None,
        ),
        (
            "D2",
            Decimal("125000.00"),
            "CNY",
            datetime(2026, 5, 4, 9, 0),
            date(2026, 7, 1),
            "needs_analysis",
            False,
            "new_business",
            None,
        ),
    ]
    # the reason names the export's columns as spelled there; the value is the one the file holds
    assert con.execute("select source_file, line, column_name, value, reason from meta.quarantine").fetchall() == [
        (
            "mycrm/deals_2026-06-01.csv",
            4,
            "Value",
            "abc",
            "Value: cannot read the value as decimal(18,2); Phase: not one of qualification, needs_analysis, "
            "proposal, negotiation, closed_won, closed_lost",
        )
    ]
    outcome = result.outcomes[0]
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined, outcome.rows_skipped) == (3, 2, 1, 1)
    # the export's columns are kept beside the contract's (as read)
    assert con.execute("select \"Comment\" from raw_crm.opportunities where opportunity_id = 'D1'").fetchall() == [
        ("first",)
    ]
    # columns nobody maps are not delivered: NULL, reported once for the entity
    assert result.metadata()["columns_not_delivered"] == (
        "owner_rep_id (1 of 1 drops), lead_id (1 of 1 drops), product_line (1 of 1 drops), "
        "is_closed (1 of 1 drops), loss_reason (1 of 1 drops), updated_at (1 of 1 drops)"
    )


def test_a_required_column_absent_from_the_export_rejects_the_file_naming_it(tmp_path, raw_dir, con):
    write_mapping(tmp_path, OPPORTUNITIES)
    header = [h for h in DEALS_HEADER if h != "Phase"]
    write_export(
        raw_dir, "mycrm/deals_2026-06-01.csv", csv_text(header, [["D1", "A1", "5", "", "2026/5/3", "2026/6/1", ""]])
    )

    result = load_entity(con, load_contracts()["crm.opportunities"], raw_dir)

    assert result.rejected[0].rejected_reason == "missing required column(s) Phase (stage: Phase not in the file)"
    assert con.execute("select status from meta.ingest_audit").fetchall() == [("rejected",)]


def test_a_changed_mapping_reloads_its_files_and_an_unchanged_one_does_not(tmp_path, raw_dir, con):
    mapping = write_mapping(tmp_path, OPPORTUNITIES)
    rows = [["D1", "A1", "5", "", "2026/5/3 10:00", "2026/6/1", "Parked", ""]]
    write_export(raw_dir, "mycrm/deals_2026-06-01.csv", csv_text(DEALS_HEADER, rows))
    contract = load_contracts()["crm.opportunities"]
    first = load_entity(con, contract, raw_dir)
    assert (first.total("rows_loaded"), first.total("rows_quarantined")) == (0, 1)

    again = load_entity(con, contract, raw_dir)
    assert (again.drops_found, again.drops_already_loaded, again.outcomes) == (1, 1, [])

    mapping.write_text(OPPORTUNITIES.replace("Talking: needs_analysis", "Talking: needs_analysis, Parked: proposal"))
    fixed = load_entity(con, contract, raw_dir)
    assert (fixed.total("rows_loaded"), fixed.total("rows_quarantined")) == (1, 0)
    assert con.execute("select stage from raw_crm.opportunities").fetchall() == [("proposal",)]
    assert con.execute("select count(distinct drop_id) from meta.ingest_audit").fetchall() == [(2,)]


def test_a_native_drop_without_optional_columns_loads_them_as_not_delivered(con, raw_dir):
    accounts = load_contracts()["crm.accounts"]
    header = ["account_id", "account_name", "region", "city", "owner_rep_id"]
    write_drop(
        raw_dir, "crm.accounts", "accounts_2026-05-31.csv", csv_text(header, [["A1", "甲", "华东", "上海", "R1"]])
    )
    write_drop(
        raw_dir,
        "crm.accounts",
        "accounts_2026-06-30.csv",
        csv_text([*header, "industry"], [["A2", "乙", "华东", "上海", "R1", "制药"]]),
    )

    result = load_entity(con, accounts, raw_dir)

    assert [o.status for o in result.outcomes] == ["loaded", "loaded"]
    assert con.execute("select account_id, industry, employee_count from raw_crm.accounts order by 1").fetchall() == [
        ("A1", None, None),
        ("A2", "制药", None),
    ]
    assert result.metadata()["columns_not_delivered"] == (
        "industry (1 of 2 drops), employee_count (2 of 2 drops), province (2 of 2 drops), "
        "payment_terms_days (2 of 2 drops), created_at (2 of 2 drops), updated_at (2 of 2 drops)"
    )


def test_discovery_patterns_folders_dates_and_a_file_for_two_rules(tmp_path, raw_dir):
    write_mapping(
        tmp_path,
        """
folder: sf
files:
  opportunities:
    pattern: [Opportunity.*, Opportunity_*]
    entity: crm.opportunities
    columns: {opportunity_id: Id, stage: StageName, amount: Amount, created_at: CreatedDate, close_date: CloseDate}
  opportunities_again:
    pattern: "*.csv"
    entity: crm.opportunities
    columns: {opportunity_id: Id, stage: StageName, amount: Amount, created_at: CreatedDate, close_date: CloseDate}
  history:
    pattern: OpportunityHistory*
    entity: crm.opportunity_stage_history
    columns: {opportunity_id: OpportunityId, stage: StageName, entered_at: CreatedDate}
""",
    )
    write_export(raw_dir, "sf/2026-05-31/OPPORTUNITY.csv", "Id\n")  # weekly export folders, any case
    write_export(raw_dir, "sf/2026-06-07/Opportunity.csv", "Id\n")
    write_export(raw_dir, "sf/2026-06-07/OpportunityHistory.csv", "Id\n")
    write_export(raw_dir, "sf/.hidden/Opportunity.csv", "Id\n")
    write_drop(raw_dir, "crm.opportunities", "opportunities_2026-06-01.csv", "opportunity_id\n")

    drops = find_drops(raw_dir, load_contracts()["crm.opportunities"])

    # a file both rules match is read through each, a drop per rule named after it
    assert [(d.relative_path, d.drop_date, d.mapping.rule.name if d.mapping else None) for d in drops] == [
        ("sf/2026-05-31/OPPORTUNITY.csv#opportunities", date(2026, 5, 31), "opportunities"),
        ("sf/2026-05-31/OPPORTUNITY.csv#opportunities_again", date(2026, 5, 31), "opportunities_again"),
        ("crm/opportunities/opportunities_2026-06-01.csv", date(2026, 6, 1), None),
        ("sf/2026-06-07/Opportunity.csv#opportunities", date(2026, 6, 7), "opportunities"),
        ("sf/2026-06-07/Opportunity.csv#opportunities_again", date(2026, 6, 7), "opportunities_again"),
        # OpportunityHistory.csv: "*.csv" of opportunities_again matches it too (a file may feed two entities)
        ("sf/2026-06-07/OpportunityHistory.csv", date(2026, 6, 7), "opportunities_again"),
    ]
    history = find_drops(raw_dir, load_contracts()["crm.opportunity_stage_history"])
    assert [d.relative_path for d in history] == ["sf/2026-06-07/OpportunityHistory.csv"]


def test_a_company_mapping_overrides_its_preset_entry_by_entry(tmp_path):
    path = write_mapping(
        tmp_path,
        """
preset: salesforce
folder: exports/sfdc
currency: USD
values:
  stage: {Verbal Commit: negotiation}      # added to the preset's stages
files:
  opportunities:
    columns:
      product_line: Family__c              # the org's own field replaces the preset's
      loss_reason: null                    # not exported
  cases: null                              # no service cases in this org
""",
        "salesforce.yml",
    )
    mapping = parse_mapping_file(path)

    assert (mapping.folder, mapping.currency, mapping.preset) == ("exports/sfdc", "USD", "salesforce")
    stage = dict(dict(mapping.values)["stage"])
    assert (stage["Verbal Commit"], stage["Closed Won"]) == ("negotiation", "closed_won")
    opportunities = next(r for r in mapping.files if r.name == "opportunities")
    assert opportunities.column("product_line").columns == ("Family__c",)
    assert opportunities.column("loss_reason") is None
    assert opportunities.column("stage").values_name == "stage"
    assert dict(opportunities.column("stage").values)["Verbal Commit"] == "negotiation"
    assert "cases" not in {r.name for r in mapping.files}
    assert len(mapping.files) == 9


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("preset: salesforse\nfolder: x\n", "preset 'salesforse' is not one of fxiaoke, hubspot, salesforce"),
        ("folder: crm\nfiles: {a: {pattern: x, entity: crm.leads, columns: {lead_id: Id}}}\n", "native source folder"),
        ("folder: x\nfiles: {a: {pattern: x, entity: crm.lead, columns: {lead_id: Id}}}\n", "entity 'crm.lead' is not"),
        (
            "folder: x\nfiles: {a: {pattern: x, entity: crm.leads, columns: {lead_id: Id, colour: C}}}\n",
            "files.a.columns: crm.leads has no column 'colour'",
        ),
        (
            "folder: x\nfiles: {a: {pattern: x, entity: crm.leads, columns: {status: S}}}\n",
            "files.a: the key column(s) lead_id of crm.leads must be mapped",
        ),
        (
            "folder: x\nfiles: {a: {pattern: x, entity: crm.leads, columns: {lead_id: Id, status: {column: S, "
            "values: {Open: opened}}}}}\n",
            "files.a.columns.status: maps to ['opened'], not among crm.leads.status's new, working",
        ),
        (
            "folder: x\nfiles: {a: {pattern: x, entity: crm.leads, columns: {lead_id: {column: Id, sql: Id}}}}\n",
            "files.a.columns.lead_id: give exactly one of column, sql or constant",
        ),
        (
            "folder: x\nfiles: {a: {pattern: x, entity: crm.leads, columns: {lead_id: {column: Id, values: st}}}}\n",
            "no value map 'st' under values",
        ),
        (
            "folder: x\ntimezone: Mars/Olympus\nfiles: {a: {pattern: x, entity: crm.leads, columns: {lead_id: Id}}}\n",
            "timezone 'Mars/Olympus' is not a time zone name",
        ),
        (
            "folder: x\nday_first: sometimes\nfiles: {a: {pattern: x, entity: crm.leads, columns: {lead_id: Id}}}\n",
            "day_first must be true or false, not 'sometimes'",
        ),
        (
            "folder: x\nfiles: {a: {pattern: x, entity: crm.leads, header_row: 0, columns: {lead_id: Id}}}\n",
            "files.a: header_row must be the number of the line holding the header (1 or more), not 0",
        ),
        (
            "folder: x\nencoding: klingon\nfiles: {a: {pattern: x, entity: crm.leads, columns: {lead_id: Id}}}\n",
            "encoding 'klingon' is not one Python knows",
        ),
        (
            "folder: x\nencoding: utf-16\nfiles: {a: {pattern: x, entity: crm.leads, columns: {lead_id: Id}}}\n",
            "encoding 'utf-16' does not write plain letters and digits as ASCII",
        ),
        (
            "folder: x\ndecimal_comma: ja\nfiles: {a: {pattern: x, entity: crm.leads, columns: {lead_id: Id}}}\n",
            "decimal_comma must be true or false, not 'ja'",
        ),
        (
            "folder: x\nfiles: {a: {pattern: x, entity: crm.leads, footer_rows: -1, columns: {lead_id: Id}}}\n",
            "files.a: footer_rows must be the number of lines at the end that are no records, not -1",
        ),
        (
            "folder: x\nfiles: {a: {pattern: x, entity: crm.leads, fill_down: {Id: true}, columns: {lead_id: Id}}}\n",
            "files.a: fill_down lists export columns (names as in the header), not {'Id': True}",
        ),
        (
            "folder: x\nfiles: {a: {pattern: x, entity: crm.leads, lookups: {o: {pattern: y, key: Id}}, "
            "columns: {lead_id: Id}}}\n",
            "files.a.lookups.o: give pattern, key (its column) and on",
        ),
    ],
)
def test_a_broken_mapping_names_the_file_and_the_entry(tmp_path, text, named):
    path = write_mapping(tmp_path, text)
    with pytest.raises(MappingError) as info:
        parse_mapping_file(path)
    assert named in str(info.value)
    assert str(path) in str(info.value)


def test_two_mappings_cannot_share_a_folder(tmp_path):
    rule = "files: {a: {pattern: x, entity: crm.leads, columns: {lead_id: Id}}}\n"
    write_mapping(tmp_path, "folder: shared\n" + rule, "one.yml")
    write_mapping(tmp_path, "folder: shared\n" + rule, "two.yml")
    with pytest.raises(MappingError, match="folder 'shared' is also the folder of"):
        load_mappings(tmp_path / "deployment")


def test_mapped_exports_count_as_drops_for_the_sensor_and_for_run(tmp_path, raw_dir):
    """With only a company's exports in the raw folder, the sensor sees them and `run` does not
    generate the sample company over them."""
    from dagster_project.cli import _has_drops
    from dagster_project.sensors import folder_fingerprints

    write_mapping(tmp_path, OPPORTUNITIES)
    assert not _has_drops(raw_dir)
    write_export(raw_dir, "mycrm/deals_2026-06-01.csv", csv_text(DEALS_HEADER, []))
    assert _has_drops(raw_dir)
    assert list(folder_fingerprints(raw_dir)) == ["crm.opportunities"]


def test_the_field_policy_asset_writes_meta_field_policy(tmp_path):
    import dagster as dg

    from dagster_project.definitions import defs
    from dagster_project.defs.deployment.assets import FIELD_POLICY_KEY
    from dagster_project.warehouse import open_warehouse

    folder = tmp_path / "deployment"
    folder.mkdir()
    (folder / "policy.yml").write_text("not_collected:\n  crm.accounts: [industry]\n", encoding="utf-8")
    result = defs.resolve_job_def("refresh_warehouse").execute_in_process(
        asset_selection=[FIELD_POLICY_KEY], instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    with open_warehouse(tmp_path / "warehouse" / "warehouse.duckdb") as con:
        assert con.execute(
            "select is_critical, is_collected from meta.field_policy where entity = 'accounts' and field = 'industry'"
        ).fetchall() == [(True, False)]


RETAIL = """
# A retail ERP's invoice-line export (no preset): one file feeds orders and their lines
folder: retail_erp
timezone: Europe/London
day_first: false              # 12/1/2010 is 1 December
currency: GBP
files:
  orders:
    pattern: "invoice_lines*"
    entity: erp.sales_orders
    skip: "row_number() over (partition by InvoiceNo order by src._line) > 1"   # one order per invoice
    columns:
      order_id: InvoiceNo
      account_id: CustomerID
      order_date: InvoiceDate
      submitted_at: InvoiceDate
      status: {sql: "case when InvoiceNo like 'C%' then 'cancelled' else 'shipped' end"}
      channel: {constant: retail}
  lines:
    pattern: "invoice_lines*"
    entity: erp.sales_order_lines
    columns:
      order_id: InvoiceNo
      line_no: {sql: "row_number() over (partition by InvoiceNo order by src._line)"}
      sku: StockCode
      quantity: Quantity
      unit_price: UnitPrice
      line_amount: {sql: "try_cast(Quantity as decimal(18, 4)) * try_cast(UnitPrice as decimal(18, 4))"}
"""


def test_one_invoice_line_export_feeds_orders_and_order_lines(tmp_path, raw_dir, con):
    import shutil

    shutil.copytree(Path(__file__).parent / "fixtures" / "exports" / "retail_erp", raw_dir / "retail_erp")
    write_mapping(tmp_path, RETAIL, "retail.yml")
    orders = load_entity(con, load_contracts()["erp.sales_orders"], raw_dir)
    load_entity(con, load_contracts()["erp.sales_order_lines"], raw_dir)

    # 12/1/2010 8:26 is month first; London in December is UTC+0, so 16:26 in Shanghai
    assert con.execute(
        "select order_id, account_id, order_date, submitted_at, status, channel, currency from raw_erp.sales_orders "
        "order by 1"
    ).fetchall() == [
        ("536365", "17850", date(2010, 12, 1), datetime(2010, 12, 1, 16, 26), "shipped", "retail", "GBP"),
        ("536366", "17850", date(2010, 12, 1), datetime(2010, 12, 1, 16, 28), "shipped", "retail", "GBP"),
        ("536380", None, date(2010, 12, 1), datetime(2010, 12, 1, 17, 41), "shipped", "retail", "GBP"),
        ("C536379", "14527", date(2010, 12, 1), datetime(2010, 12, 1, 17, 41), "cancelled", "retail", "GBP"),
    ]
    assert (orders.total("rows_read"), orders.total("rows_skipped"), orders.total("rows_quarantined")) == (4, 1, 0)
    assert con.execute(
        "select order_id, line_no, sku, quantity, unit_price, line_amount from raw_erp.sales_order_lines order by 1, 2"
    ).fetchall() == [
        ("536365", 1, "85123A", 6, Decimal("2.55"), Decimal("15.30")),
        ("536365", 2, "71053", 6, Decimal("3.39"), Decimal("20.34")),
        ("536366", 1, "22633", 6, Decimal("1.85"), Decimal("11.10")),
        ("536380", 1, "22961", 24, Decimal("1.45"), Decimal("34.80")),
        ("C536379", 1, "D", -1, Decimal("27.50"), Decimal("-27.50")),
    ]


def test_a_mapping_that_does_not_say_day_first_loads_no_day_month_year_date_and_says_why(tmp_path, raw_dir, con):
    """01/12/2010 is 1 December (day first) or 12 January (month first), and nothing in one value tells;
    without `day_first` no such date is read: every order is quarantined with a reason naming the
    setting, rather than loaded on a guess. With `day_first: true` the same file loads 1 December."""
    import shutil

    day_first_export = (
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,01/12/2010 08:26,2.55,17850,United Kingdom\n"
        "536366,22633,HAND WARMER UNION JACK,6,13/12/2010 08:28,1.85,17850,United Kingdom\n"
    )
    write_export(raw_dir, "retail_erp/invoice_lines_2011-12-09.csv", day_first_export)
    unsaid = RETAIL.replace("day_first: false              # 12/1/2010 is 1 December\n", "")
    assert "day_first" not in unsaid
    write_mapping(tmp_path, unsaid, "retail.yml")

    orders = load_entity(con, load_contracts()["erp.sales_orders"], raw_dir)

    assert (orders.total("rows_read"), orders.total("rows_quarantined")) == (2, 2)
    assert con.execute("select count(*) from raw_erp.sales_orders").fetchall() == [(0,)]
    reasons = con.execute(
        "select distinct line, column_name, value, reason from meta.quarantine "
        "where entity = 'sales_orders' order by 1, 4"
    ).fetchall()
    because = (
        "cannot read the value as {}: day or month first? The mapping does not say: add `day_first: true` "
        "(01/06/2026 is 1 June) or `day_first: false` (6 January)"
    )
    reason = f"InvoiceDate: {because.format('date')}; InvoiceDate: {because.format('timestamp')}"
    assert reasons == [
        (2, "InvoiceDate", "01/12/2010 08:26", reason),
        (3, "InvoiceDate", "13/12/2010 08:28", reason),
    ]

    shutil.rmtree(raw_dir / "retail_erp")
    write_export(raw_dir, "retail_erp/invoice_lines_2011-12-10.csv", day_first_export)
    write_mapping(
        tmp_path,
        unsaid.replace("timezone: Europe/London\n", "timezone: Europe/London\nday_first: true\n"),
        "retail.yml",
    )
    load_entity(con, load_contracts()["erp.sales_orders"], raw_dir)
    assert con.execute("select order_id, order_date from raw_erp.sales_orders order by 1").fetchall() == [
        ("536365", date(2010, 12, 1)),
        ("536366", date(2010, 12, 13)),
    ]


GERMAN_ERP = """
folder: de_erp
timezone: Europe/Berlin
day_first: true               # 01.12.2010 is 1 December
decimal_comma: true           # 1.234,56
encoding: Windows-1252        # what Excel on a German Windows saves
currency: EUR
files:
  lines:
    pattern: "Rechnungspositionen*"
    entity: erp.sales_order_lines
    columns:
      order_id: Rechnung
      line_no: Position
      sku: Artikel
      quantity: Menge
      unit_price: Einzelpreis
      line_amount: Summe
"""


def test_an_export_with_decimal_commas_loads_its_amounts_when_the_mapping_says_so(tmp_path, raw_dir, con):
    """A German ERP's export, saved by Excel in cp1252: `;` between fields, 1.234,56 for numbers. With
    `decimal_comma: true` the amounts load as written (by hand: 2,55 is 2.55, 1.234,50 is 1234.50,
    1.500 is 1500); a value spelt with a decimal point (3.39) is no number of this export, and its row
    is quarantined. With `encoding: Windows-1252` (cp1252) `Kühlbox` loads as written: read as GBK,
    the default alternative to UTF-8, its bytes would pass as two Chinese characters."""
    export = (
        "Rechnung;Position;Artikel;Menge;Einzelpreis;Summe\n"
        "536365;1;Kühlbox;6;2,55;15,30\n"
        "536365;2;71053;1.500;0,82;1.234,50\n"
        "536366;1;22633;6;3.39;20,34\n"
    )
    assert "Kühlbox".encode("cp1252").decode("gb18030") != "Kühlbox"  # the mojibake the setting avoids
    write_export(raw_dir, "de_erp/Rechnungspositionen_2011-12-09.csv", export, encoding="cp1252")
    write_mapping(tmp_path, GERMAN_ERP, "de.yml")

    lines = load_entity(con, load_contracts()["erp.sales_order_lines"], raw_dir)

    assert con.execute(
        "select order_id, line_no, sku, quantity, unit_price, line_amount from raw_erp.sales_order_lines order by 1, 2"
    ).fetchall() == [
        ("536365", 1, "Kühlbox", 6, Decimal("2.55"), Decimal("15.30")),
        ("536365", 2, "71053", 1500, Decimal("0.82"), Decimal("1234.50")),
    ]
    assert con.execute("select distinct encoding from meta.ingest_audit").fetchall() == [("cp1252",)]
    assert (lines.total("rows_read"), lines.total("rows_quarantined")) == (3, 1)
    assert con.execute(
        "select line, column_name, value from meta.quarantine where entity = 'sales_order_lines'"
    ).fetchall() == [(4, "Einzelpreis", "3.39 (a decimal point, but the mapping says decimal_comma: true)")]


TITLED = """
folder: report_erp
day_first: false
files:
  lines:
    pattern: "明细表*"
    entity: erp.sales_order_lines
    header_row: 3                 # a title, then the export time, then the header
    skip: "单号 = '合计'"          # the totals row at the bottom
    columns:
      order_id: 单号
      line_no: 行号
      sku: 物料
      quantity: 数量
      unit_price: 单价
      line_amount: 金额
"""


def test_a_title_above_the_header_is_read_past_when_the_file_rule_says_where_the_header_is(tmp_path, raw_dir, con):
    """A report-style ERP export: a title, the export time, the header on line 3, a totals row. With
    `header_row: 3` it loads; its rows keep the file's line numbers (a malformed line 6 is quarantined
    as line 6), and the audit notes the two lines not read. The same holds for an xlsx sheet."""
    from openpyxl import Workbook

    export = (
        "销售订单明细表\n"
        "导出时间: 2025-01-10 08:00\n"
        "单号,行号,物料,数量,单价,金额\n"
        "SO1,1,A,2,10.00,20.00\n"
        "SO1,2,B,1,5.50,5.50\n"
        "SO2,1,C,1,3.00,3.00,extra\n"
        "合计,,,3,,25.50\n"
    )
    write_export(raw_dir, "report_erp/明细表_2025-01-10.csv", export)
    write_mapping(tmp_path, TITLED, "report.yml")

    lines = load_entity(con, load_contracts()["erp.sales_order_lines"], raw_dir)

    assert con.execute(
        "select order_id, line_no, sku, quantity, line_amount from raw_erp.sales_order_lines order by 1, 2"
    ).fetchall() == [("SO1", 1, "A", 2, Decimal("20.00")), ("SO1", 2, "B", 1, Decimal("5.50"))]
    assert (lines.total("rows_read"), lines.total("rows_skipped"), lines.total("rows_quarantined")) == (3, 1, 1)
    assert [r[0] for r in con.execute("select line from meta.quarantine").fetchall()] == [6]
    (note,) = con.execute("select note from meta.ingest_audit where status = 'loaded'").fetchall()[0]
    assert "header on line 3 (header_row): the 2 line(s) above it not read" in note

    book = Workbook()
    book.active.append(["销售订单明细表"])
    book.active.append([])
    book.active.append(["单号", "行号", "物料", "数量", "单价", "金额"])
    book.active.append(["SO3", 1, "D", 4, 2.5, 10])
    book.save(raw_dir / "report_erp" / "明细表_2025-01-11.xlsx")
    load_entity(con, load_contracts()["erp.sales_order_lines"], raw_dir)
    assert con.execute(
        "select order_id, quantity, line_amount from raw_erp.sales_order_lines where order_id = 'SO3'"
    ).fetchall() == [("SO3", 4, Decimal("10.00"))]


def test_sql_that_a_value_breaks_rejects_the_file_with_the_reason(tmp_path, raw_dir, con):
    write_mapping(
        tmp_path,
        RETAIL.replace(
            "try_cast(Quantity as decimal(18, 4)) * try_cast(UnitPrice as decimal(18, 4))", "Quantity::int * 2"
        ),
        "retail.yml",
    )
    write_export(raw_dir, "retail_erp/invoice_lines_2011-12-09.csv", "InvoiceNo,Quantity\n1,six\n")

    result = load_entity(con, load_contracts()["erp.sales_order_lines"], raw_dir)

    assert result.rejected[0].rejected_reason.startswith("the mapping's SQL fails on this file: Conversion Error")


def _deal(deal_id: str, value: str = "100", phase: str = "Won") -> list[str]:
    return [deal_id, "A1", value, "", "2026/5/3 14:22", "2026/6/30", phase, ""]


def test_drops_of_one_rule_are_mapped_in_one_statement_per_header_with_each_drops_own_counts(
    tmp_path, raw_dir, con, monkeypatch
):
    from dagster_project.mapping import apply

    statements = []
    real = apply._map_into_table
    monkeypatch.setattr(apply, "_map_into_table", lambda *a, **k: statements.append(k) or real(*a, **k))
    write_mapping(tmp_path, OPPORTUNITIES)
    total = ["TOTAL", "", "300", "", "", "", "", ""]
    write_export(raw_dir, "mycrm/deals_2026-06-01.csv", csv_text(DEALS_HEADER, [_deal("D1"), total]))
    write_export(raw_dir, "mycrm/deals_2026-06-02.csv", csv_text(DEALS_HEADER, [_deal("D2"), _deal("D3", "abc")]))
    # a third drop with one more column: another header, another statement
    with_region = csv_text([*DEALS_HEADER, "Region"], [[*_deal("D4"), "East"], [*total, ""], [*total, ""]])
    write_export(raw_dir, "mycrm/deals_2026-06-03.csv", with_region)

    result = load_entity(con, load_contracts()["crm.opportunities"], raw_dir)

    assert len(statements) == 2 and all(k.get("carry") == ("_drop_seq",) for k in statements)
    counts = [(o.rows_read, o.rows_loaded, o.rows_quarantined, o.rows_skipped) for o in result.outcomes]
    # drop 1: D1 loaded, TOTAL skipped; drop 2: D3's value 'abc' quarantined; drop 3: two TOTAL rows skipped
    assert counts == [(1, 1, 0, 1), (2, 1, 1, 0), (1, 1, 0, 2)]
    assert con.execute(
        'select opportunity_id, amount, stage, is_won, "Region" from raw_crm.opportunities order by 1'
    ).fetchall() == [
        ("D1", Decimal("100.00"), "closed_won", True, None),
        ("D2", Decimal("100.00"), "closed_won", True, None),
        ("D4", Decimal("100.00"), "closed_won", True, "East"),
    ]
    assert con.execute("select source_file, line, column_name, value from meta.quarantine").fetchall() == [
        ("mycrm/deals_2026-06-02.csv", 3, "Value", "abc")
    ]


def test_a_group_whose_statement_fails_is_mapped_drop_by_drop_and_only_the_bad_file_is_rejected(tmp_path, raw_dir, con):
    write_mapping(tmp_path, OPPORTUNITIES.replace("amount: Value", 'amount: {sql: "Value::decimal(18, 2)"}'))
    write_export(raw_dir, "mycrm/deals_2026-06-01.csv", csv_text(DEALS_HEADER, [_deal("D1", "100")]))
    write_export(raw_dir, "mycrm/deals_2026-06-02.csv", csv_text(DEALS_HEADER, [_deal("D2", "abc")]))
    write_export(raw_dir, "mycrm/deals_2026-06-03.csv", csv_text(DEALS_HEADER, [_deal("D3", "300")]))

    result = load_entity(con, load_contracts()["crm.opportunities"], raw_dir)

    assert [(o.drop.relative_path, o.status) for o in result.outcomes] == [
        ("mycrm/deals_2026-06-01.csv", "loaded"),
        ("mycrm/deals_2026-06-02.csv", "rejected"),
        ("mycrm/deals_2026-06-03.csv", "loaded"),
    ]
    assert result.outcomes[1].rejected_reason.startswith("the mapping's SQL fails on this file: Conversion Error")
    assert con.execute("select opportunity_id from raw_crm.opportunities order by 1").fetchall() == [("D1",), ("D3",)]


def test_a_rule_with_a_window_function_maps_each_drop_on_its_own(tmp_path, raw_dir, con, monkeypatch):
    from dagster_project.mapping import apply

    statements = []
    real = apply._map_into_table
    monkeypatch.setattr(apply, "_map_into_table", lambda *a, **k: statements.append(k) or real(*a, **k))
    # the second row of a deal in a file is a repeat; across files, D1 again is an update
    skip = 'skip: "row_number() over (partition by DealId order by src._line) > 1"'
    write_mapping(tmp_path, OPPORTUNITIES.replace("skip: \"DealId like 'TOTAL%'\"", skip))
    write_export(raw_dir, "mycrm/deals_2026-06-01.csv", csv_text(DEALS_HEADER, [_deal("D1", "100"), _deal("D1", "1")]))
    write_export(raw_dir, "mycrm/deals_2026-06-02.csv", csv_text(DEALS_HEADER, [_deal("D1", "200")]))

    result = load_entity(con, load_contracts()["crm.opportunities"], raw_dir)

    assert [k.get("carry", ()) for k in statements] == [(), ()]  # one statement per drop
    assert [(o.rows_loaded, o.rows_skipped) for o in result.outcomes] == [(1, 1), (1, 0)]
    assert con.execute("select opportunity_id, amount from raw_crm.opportunities").fetchall() == [
        ("D1", Decimal("200.00"))
    ]


GROUPED = """
folder: kingdee
files:
  lines:
    pattern: "销售订单序时簿*"
    entity: erp.sales_order_lines
    fill_down: [单据编号, 日期]
    skip: "单据编号 = '合计'"
    columns:
      order_id: 单据编号
      line_no: {sql: "row_number() over (partition by 单据编号 order by src._line)"}
      sku: 物料编码
      quantity: 数量
      line_amount: 价税合计
"""


def test_a_grouped_report_fills_an_orders_fields_down_its_lines_within_each_file(tmp_path, raw_dir, con):
    """A Kingdee-style order journal (序时簿) prints an order's number and date on its first line
    only. `fill_down` gives its other lines those values; the next file starts afresh: its first
    line, without an order number, is not given the last order of the file before (quarantined:
    order_id is required)."""
    from openpyxl import Workbook

    write_mapping(tmp_path, GROUPED, "kingdee.yml")
    book = Workbook()
    for row in (
        ["日期", "单据编号", "物料编码", "数量", "价税合计"],
        ["2025-01-02", "XSDD001", "A", 2, 20],
        [None, None, "B", 1, 5.5],
        [None, " ", "C", 3, 9],  # a blank that is a space
        ["2025-01-03", "XSDD002", "A", 1, 10],
        [None, "合计", None, 7, 44.5],
    ):
        book.active.append(row)
    book.save(write_export(raw_dir, "kingdee/销售订单序时簿_2025-01-03.xlsx", ""))
    write_export(
        raw_dir,
        "kingdee/销售订单序时簿_2025-01-04.csv",
        "日期,单据编号,物料编码,数量,价税合计\n,,D,1,4\n2025-01-04,XSDD003,E,2,8\n,,F,1,1\n",
    )

    lines = load_entity(con, load_contracts()["erp.sales_order_lines"], raw_dir)

    assert con.execute(
        "select order_id, line_no, sku, quantity, line_amount from raw_erp.sales_order_lines order by 1, 2"
    ).fetchall() == [
        ("XSDD001", 1, "A", 2, Decimal("20.00")),
        ("XSDD001", 2, "B", 1, Decimal("5.50")),
        ("XSDD001", 3, "C", 3, Decimal("9.00")),
        ("XSDD002", 1, "A", 1, Decimal("10.00")),
        ("XSDD003", 1, "E", 2, Decimal("8.00")),
        ("XSDD003", 2, "F", 1, Decimal("1.00")),
    ]
    # read 4 + 3 (the totals row skipped); the second file's first line has no order to belong to
    assert (lines.total("rows_read"), lines.total("rows_skipped"), lines.total("rows_quarantined")) == (7, 1, 1)
    assert con.execute("select source_file, line, column_name from meta.quarantine").fetchall() == [
        ("kingdee/销售订单序时簿_2025-01-04.csv", 2, "单据编号")  # named as the export spells it
    ]


def test_a_fill_down_column_absent_from_the_file_rejects_it_naming_the_column(tmp_path, raw_dir, con):
    write_mapping(tmp_path, GROUPED, "kingdee.yml")
    write_export(raw_dir, "kingdee/销售订单序时簿_2025-01-03.csv", "单据编号,物料编码,数量,价税合计\nXSDD001,A,2,20\n")

    load_entity(con, load_contracts()["erp.sales_order_lines"], raw_dir)

    assert con.execute("select status, rejected_reason from meta.ingest_audit").fetchall() == [
        ("rejected", "fill_down column(s) 日期 of lines not in the file")
    ]


ADS = """
folder: google_ads
files:
  spend:
    pattern: "Campaign report*"
    entity: marketing.ad_spend_daily
    header_row: 3
    skip: "Day like 'Total%'"
    columns:
      spend_date: Day
      campaign_id: Campaign ID
      channel: {constant: google_ads}
      impressions: Impr.
      clicks: Clicks
      spend: Cost
      currency: Currency code
"""


def test_an_ad_platform_report_in_utf16_with_a_title_loads_through_its_mapping(tmp_path, raw_dir, con):
    """Google Ads' "CSV for Excel": UTF-16 LE with a byte order mark, tab-separated, a title and a date
    range above the header, grouped thousands, a totals row. Without header_row the file is
    rejected, the reason pointing at line 3."""
    report = (
        "Campaign report\r\n"
        "June 1, 2026 - June 1, 2026\r\n"
        "Day\tCampaign ID\tCampaign\tImpr.\tClicks\tCurrency code\tCost\r\n"
        "2026-06-01\t111\tBrand\t1,200\t35\tUSD\t1,234.56\r\n"
        "2026-06-01\t222\tGeneric\t800\t12\tUSD\t99.10\r\n"
        "Total: Account\t --\t --\t2,000\t47\tUSD\t1,333.66\r\n"
    )
    write_export(raw_dir, "google_ads/Campaign report 2026-06-01.csv", "\ufeff" + report, "utf-16-le")
    write_mapping(tmp_path, ADS.replace("    header_row: 3\n", ""), "ads.yml")

    load_entity(con, load_contracts()["marketing.ad_spend_daily"], raw_dir)

    (reason,) = con.execute("select rejected_reason from meta.ingest_audit").fetchall()[0]
    assert reason.startswith("missing required column(s) ")
    assert "(line 3 holds " in reason and "set `header_row: 3`" in reason

    write_mapping(tmp_path, ADS, "ads.yml")  # a changed mapping reads its files again
    spend = load_entity(con, load_contracts()["marketing.ad_spend_daily"], raw_dir)

    assert con.execute(
        "select spend_date, campaign_id, impressions, clicks, spend, currency from raw_marketing.ad_spend_daily "
        "order by 2"
    ).fetchall() == [
        (date(2026, 6, 1), "111", 1200, 35, Decimal("1234.56"), "USD"),
        (date(2026, 6, 1), "222", 800, 12, Decimal("99.10"), "USD"),
    ]
    assert (spend.total("rows_read"), spend.total("rows_skipped"), spend.total("rows_quarantined")) == (2, 1, 0)
    assert con.execute("select encoding from meta.ingest_audit where status = 'loaded'").fetchall() == [("utf-16",)]


SURVEY = """
folder: wjx
values:
  csat: {非常满意: "5", 满意: "4", 一般: "3", 不满意: "2", 非常不满意: "1"}
files:
  nps:
    pattern: "*客户满意度调查*"
    entity: marketing.survey_responses
    columns:
      response_id: {sql: "序号 || '-nps'"}
      account_id: 1、客户编号
      survey_type: {constant: nps}
      score: 2、您有多大可能向朋友或同事推荐我们？
      responded_at: 提交答卷时间
  csat:
    pattern: "*客户满意度调查*"
    entity: marketing.survey_responses
    skip: "\\"3、您对我们服务的满意度\\" is null"
    columns:
      response_id: {sql: "序号 || '-csat'"}
      account_id: 1、客户编号
      survey_type: {constant: csat}
      score: {column: 3、您对我们服务的满意度, values: csat}
      responded_at: 提交答卷时间
"""


def test_a_wide_survey_export_feeds_one_entity_through_two_rules_each_a_drop(tmp_path, raw_dir, con):
    """A 问卷星 (wjx) export: one row per respondent, the NPS and the CSAT question side by side.
    Two rules of marketing.survey_responses read the same file, each its own answer: 3 NPS and 2
    CSAT records (respondent 2 skipped the CSAT question). Each rule's read is a drop of its own,
    and neither a second load nor a touched file loads anything again."""
    import os

    from openpyxl import Workbook

    write_mapping(tmp_path, SURVEY, "wjx.yml")
    book = Workbook()
    for row in (
        ["序号", "提交答卷时间", "所用时间", "来源", "1、客户编号"]
        + ["2、您有多大可能向朋友或同事推荐我们？", "3、您对我们服务的满意度"],
        [1, "2026/6/1 9:30:15", "120秒", "微信", "AC1", 9, "非常满意"],
        [2, "2026/6/2 14:05:00", "95秒", "链接", "AC2", 6, None],
        [3, "2026/6/2 20:15:09", "60秒", "手机提交", "AC3", 10, "一般"],
    ):
        book.active.append(row)
    path = write_export(raw_dir, "wjx/123456789_客户满意度调查_2026-06-03.xlsx", "")
    book.save(path)
    survey = load_contracts()["marketing.survey_responses"]

    first = load_entity(con, survey, raw_dir)

    assert con.execute(
        "select response_id, account_id, survey_type, score, responded_at from raw_marketing.survey_responses "
        "order by 1"
    ).fetchall() == [
        ("1-csat", "AC1", "csat", 5, datetime(2026, 6, 1, 9, 30, 15)),
        ("1-nps", "AC1", "nps", 9, datetime(2026, 6, 1, 9, 30, 15)),
        ("2-nps", "AC2", "nps", 6, datetime(2026, 6, 2, 14, 5)),
        ("3-csat", "AC3", "csat", 3, datetime(2026, 6, 2, 20, 15, 9)),
        ("3-nps", "AC3", "nps", 10, datetime(2026, 6, 2, 20, 15, 9)),
    ]
    assert (first.total("rows_read"), first.total("rows_loaded"), first.total("rows_skipped")) == (5, 5, 1)
    assert con.execute("select source_file, rows_read, status from meta.ingest_audit order by 1").fetchall() == [
        ("wjx/123456789_客户满意度调查_2026-06-03.xlsx#csat", 2, "loaded"),
        ("wjx/123456789_客户满意度调查_2026-06-03.xlsx#nps", 3, "loaded"),
    ]

    again = load_entity(con, survey, raw_dir)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # copied again
    touched = load_entity(con, survey, raw_dir)

    assert [r.total("rows_read") for r in (again, touched)] == [0, 0]
    assert [r.drops_already_loaded for r in (again, touched)] == [2, 2]
    assert con.execute("select count(*) from meta.ingest_audit").fetchall() == [(2,)]


SHEETED = """
folder: kingdee
files:
  lines:
    pattern: "订单明细*"
    entity: erp.sales_order_lines
    sheet: 明细
    columns: {order_id: 单号, line_no: 行号, sku: 物料, quantity: 数量, line_amount: 金额}
"""


def test_a_workbook_whose_records_are_not_on_its_first_sheet_is_read_from_the_sheet_the_rule_names(
    tmp_path, raw_dir, con
):
    """An ERP workbook with a notes sheet first: without `sheet` it is rejected, the reason listing
    the sheets; with `sheet: 明细` (any case) it loads; a sheet the workbook lacks rejects it, naming
    the sheets it has."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "说明"  # left empty
    detail = book.create_sheet("明细")
    for row in (["单号", "行号", "物料", "数量", "金额"], ["SO1", 1, "A", 2, 20], ["SO1", 2, "B", 1, 5.5]):
        detail.append(row)
    book.save(write_export(raw_dir, "kingdee/订单明细_2025-01-03.xlsx", ""))
    lines = load_contracts()["erp.sales_order_lines"]

    write_mapping(tmp_path, SHEETED.replace("    sheet: 明细\n", ""), "kingdee.yml")
    load_entity(con, lines, raw_dir)
    write_mapping(tmp_path, SHEETED.replace("sheet: 明细", "sheet: 汇总"), "kingdee.yml")
    load_entity(con, lines, raw_dir)
    write_mapping(tmp_path, SHEETED, "kingdee.yml")
    load_entity(con, lines, raw_dir)

    assert [
        r[0] for r in con.execute("select rejected_reason from meta.ingest_audit order by started_at").fetchall()
    ] == [
        "empty first sheet: no header row (the workbook's sheets: 说明, 明细: for a company's export read "
        "through a mapping, name the one to read with `sheet:` in its file rule)",
        "no sheet named '汇总' (the mapping's sheet); the workbook's sheets: 说明, 明细",
        None,
    ]
    assert con.execute(
        "select order_id, line_no, sku, quantity, line_amount from raw_erp.sales_order_lines order by 2"
    ).fetchall() == [("SO1", 1, "A", 2, Decimal("20.00")), ("SO1", 2, "B", 1, Decimal("5.50"))]

    # a title above the header of the named sheet: the reason points at the row on that sheet
    titled = Workbook()
    titled.active.title = "说明"
    sheet = titled.create_sheet("明细")
    for row in (["销售订单明细"], [], ["单号", "行号", "物料", "数量", "金额"], ["SO2", 1, "A", 1, 10]):
        sheet.append(row)
    titled.save(write_export(raw_dir, "kingdee/订单明细_2025-01-04.xlsx", ""))
    load_entity(con, lines, raw_dir)
    (reason,) = con.execute(
        "select rejected_reason from meta.ingest_audit where source_file like '%01-04%'"
    ).fetchall()[0]
    assert "(line 3 holds " in reason and "set `header_row: 3`" in reason


def test_footer_rows_leave_a_report_exports_closing_lines_unread(tmp_path, raw_dir, con):
    """A CRM report export ends with a blank line and four lines of text ("Confidential ...", a
    copyright, "Generated By", the company). Read as records they are malformed lines, quarantined
    (the blank `""` too): 5 of 7, over the quarantine share, the publish blocked. `footer_rows: 4` leaves them
    unread, with a note; an xlsx report's closing row (制表人) likewise."""
    from openpyxl import Workbook

    rows = [["D1", "A1", "1,200.50", "USD", "2026/5/3 14:22", "2026/6/30", "Won", ""]]
    rows += [["D2", "A2", "300", "USD", "2026/5/4 9:00", "2026/7/1", "talking", "a\nnote"]]  # a line break inside
    footer = (
        '""\r\n"Confidential Information - Do Not Distribute"\r\n'
        '"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."\r\n'
        '"Generated By:  Jane Doe  6/1/2026 9:15 AM"\r\n"Acme Corp"\r\n'
    )
    write_export(raw_dir, "mycrm/deals_2026-06-01.csv", csv_text(DEALS_HEADER, rows).replace("\n", "\r\n") + footer)
    write_mapping(tmp_path, OPPORTUNITIES)
    deals = load_contracts()["crm.opportunities"]

    unread = load_entity(con, deals, raw_dir)
    assert (unread.total("rows_read"), unread.total("rows_loaded"), unread.total("rows_quarantined")) == (7, 2, 5)

    write_mapping(tmp_path, OPPORTUNITIES.replace("    skip:", "    footer_rows: 4\n    skip:"))
    read = load_entity(con, deals, raw_dir)

    assert (read.total("rows_read"), read.total("rows_loaded"), read.total("rows_quarantined")) == (2, 2, 0)
    assert con.execute("select note from meta.ingest_audit where rows_quarantined = 0").fetchall() == [
        ("the last 4 line(s) not read (footer_rows)",)
    ]
    assert con.execute("select opportunity_id, amount from raw_crm.opportunities order by 1").fetchall() == [
        ("D1", Decimal("1200.50")),
        ("D2", Decimal("300.00")),
    ]

    write_mapping(tmp_path, GROUPED.replace("    fill_down:", "    footer_rows: 1\n    fill_down:"), "kingdee.yml")
    book = Workbook()
    for row in (
        ["日期", "单据编号", "物料编码", "数量", "价税合计"],
        ["2025-01-02", "XSDD001", "A", 2, 20],
        [None, None, None, None, None],
        ["制表人: 张三", None, None, None, None],
    ):
        book.active.append(row)
    book.save(write_export(raw_dir, "kingdee/销售订单序时簿_2025-01-03.xlsx", ""))
    load_entity(con, load_contracts()["erp.sales_order_lines"], raw_dir)
    assert con.execute("select order_id, sku from raw_erp.sales_order_lines").fetchall() == [("XSDD001", "A")]
    assert con.execute("select count(*) from meta.quarantine where source_file like 'kingdee/%'").fetchall() == [(0,)]


def write_deals_owned_by_ann_and_bob(raw_dir: Path) -> None:
    """Two deals of the OPPORTUNITIES export with an owner's name and no currency column."""
    header = ["DealId", "Customer", "Value", "Opened", "Closing", "Phase", "Owner"]
    rows = [
        ["D1", "A1", "100", "2026/5/3 14:22", "2026/6/30", "Won", "Ann"],
        ["D2", "A2", "200", "2026/5/4 9:00", "2026/7/1", "Talking", "Bob"],
    ]
    write_export(raw_dir, "mycrm/deals_2026-06-01.csv", csv_text(header, rows))


def test_a_lookup_reads_its_own_files_sheet_header_row_and_footer(tmp_path, raw_dir, con):
    """A lookup is another report of the export, with its own layout: here the users workbook keeps
    its users on a second sheet under a title row, closed by a count row. Read as the first sheet's
    row 1 it has no column `Name`, and the drop is rejected naming the lookup; with the lookup's
    `sheet`, `header_row` and `footer_rows` the deals take their owners' ids. A footer larger than
    the sheet is rejected as the file rule's footer is, which shows the lookup's own is applied."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["Exported from MyCRM"])
    users = book.create_sheet("Users")
    for row in (["User list"], ["Name", "RepId"], ["Ann", "R1"], ["Bob", "R2"], ["2 users", None]):
        users.append(row)
    book.save(write_export(raw_dir, "mycrm/users_2026-06-01.xlsx", ""))
    write_deals_owned_by_ann_and_bob(raw_dir)
    lookup = "{pattern: 'users*.xlsx', key: Name, on: Owner}"
    owner = f"    lookups:\n      owner: {lookup}\n    columns:\n      owner_rep_id: {{sql: owner.RepId}}\n"
    currency = "      currency: {column: Curr, default: CNY}\n"  # the deals here have no currency column
    mapping = OPPORTUNITIES.replace("    columns:\n", owner).replace(currency, "")
    deals = load_contracts()["crm.opportunities"]

    write_mapping(tmp_path, mapping)
    load_entity(con, deals, raw_dir)
    laid_out = lookup.replace("}", ", sheet: users, header_row: 2, footer_rows: FOOTER}")
    write_mapping(tmp_path, mapping.replace(lookup, laid_out.replace("FOOTER", "9")))
    load_entity(con, deals, raw_dir)
    write_mapping(tmp_path, mapping.replace(lookup, laid_out.replace("FOOTER", "1")))
    load_entity(con, deals, raw_dir)

    assert [
        r[0] for r in con.execute("select rejected_reason from meta.ingest_audit order by started_at").fetchall()
    ] == [
        "lookup owner: mycrm/users_2026-06-01.xlsx has no column 'Name'",
        "lookup owner: mycrm/users_2026-06-01.xlsx: has fewer than 9 rows below the header: no footer of that "
        "size (footer_rows)",
        None,
    ]
    assert con.execute("select opportunity_id, owner_rep_id from raw_crm.opportunities order by 1").fetchall() == [
        ("D1", "R1"),
        ("D2", "R2"),
    ]


def test_two_lookups_on_two_sheets_of_one_workbook_read_each_its_own_sheet(tmp_path, raw_dir, con):
    """A users workbook keeps the reps' ids on one sheet and their product lines on another, both by
    name. Lookups with the same files and key but other sheets are different tables: cached under
    the files and key alone, the second lookup read the first one's rows (product lines `R1`, `R2`)."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "Users"
    for row in (["Name", "Value"], ["Ann", "R1"], ["Bob", "R2"]):
        book.active.append(row)
    lines = book.create_sheet("Lines")
    for row in (["Name", "Value"], ["Ann", "Pumps"], ["Bob", "Valves"]):
        lines.append(row)
    book.save(write_export(raw_dir, "mycrm/users_2026-06-01.xlsx", ""))
    write_deals_owned_by_ann_and_bob(raw_dir)
    lookups = (
        "    lookups:\n"
        "      owner: {pattern: 'users*.xlsx', key: Name, on: Owner, sheet: Users}\n"
        "      line: {pattern: 'users*.xlsx', key: Name, on: Owner, sheet: Lines}\n"
        "    columns:\n"
        "      owner_rep_id: {sql: owner.Value}\n"
        "      product_line: {sql: line.Value}\n"
    )
    currency = "      currency: {column: Curr, default: CNY}\n"  # the deals here have no currency column
    write_mapping(tmp_path, OPPORTUNITIES.replace("    columns:\n", lookups).replace(currency, ""))

    load_entity(con, load_contracts()["crm.opportunities"], raw_dir)

    assert con.execute(
        "select opportunity_id, owner_rep_id, product_line from raw_crm.opportunities order by 1"
    ).fetchall() == [("D1", "R1", "Pumps"), ("D2", "R2", "Valves")]


def test_mapped_drops_and_lookup_files_read_in_worker_threads_load_as_one_thread_loads_them(
    tmp_path, raw_dir, monkeypatch
):
    """With DuckDB's two threads a mapped export's CSV drops and its lookup's files are read on worker
    cursors (a drop by drop load reads each batch's drop while the batch before it is written) and
    mapped on the run's connection; with one thread everything is read there, as before. Rows,
    quarantine and audit are the same each way, and as worked out by hand: the newer users file
    gives Bob's deals R3, D3's value is quarantined, the truncated gzip is rejected, the TOTAL row
    skipped; the scratch database is left empty."""
    import gzip
    import threading

    from dagster_project.ingest import load as load_module
    from dagster_project.mapping import apply
    from dagster_project.warehouse import connect

    users = ["Name", "RepId"]
    write_export(raw_dir, "mycrm/users_2026-06-01.csv", csv_text(users, [["Ann", "R1"], ["Bob", "R2"]]))
    write_export(raw_dir, "mycrm/users_2026-06-02.csv", csv_text(users, [["Bob", "R3"]]))
    header = ["DealId", "Customer", "Value", "Opened", "Closing", "Phase", "Owner"]
    deal = ["A1", "100", "2026/5/3 14:22", "2026/6/30", "Won"]
    write_export(raw_dir, "mycrm/deals_2026-06-01.csv", csv_text(header, [["D1", *deal, "Ann"], ["D2", *deal, "Bob"]]))
    bad_value = ["D3", "A1", "abc", *deal[2:], "Ann"]
    total = ["TOTAL", "", "300", "", "", "", ""]
    write_export(raw_dir, "mycrm/deals_2026-06-02.csv", csv_text(header, [bad_value, ["D4", *deal, "Bob"], total]))
    truncated = gzip.compress(csv_text(header, [["D5", *deal, "Ann"]] * 50).encode())[:-20]
    write_export(raw_dir, "mycrm/deals_2026-06-03.csv.gz", "").write_bytes(truncated)
    lookup = "    lookups:\n      owner: {pattern: 'users*.csv', key: Name, on: Owner}\n    columns:\n"
    owner = "      owner_rep_id: {sql: owner.RepId}\n"
    currency = "      currency: {column: Curr, default: CNY}\n"  # these deals have no currency column
    mapping = OPPORTUNITIES.replace("    columns:\n", lookup + owner).replace(currency, "")
    write_mapping(tmp_path, mapping.replace('pattern: "deals*.csv"', "pattern: [deals*.csv, deals*.csv.gz]"))

    read_aside, lookup_threads = [], []
    original_read_aside, original_read_lookup_file = load_module._DropReader._read_aside, apply._read_lookup_file

    def record_read_aside(self, p):
        read_aside.append(p.outcome.drop.relative_path)
        return original_read_aside(self, p)

    def record_read_lookup_file(*args):
        lookup_threads.append(threading.current_thread() is threading.main_thread())
        return original_read_lookup_file(*args)

    monkeypatch.setattr(load_module._DropReader, "_read_aside", record_read_aside)
    monkeypatch.setattr(apply, "_read_lookup_file", record_read_lookup_file)
    results = {}
    for threads, batch_bytes in (("2", None), ("2", 1), ("1", None)):
        monkeypatch.setenv("S2S_DUCKDB_THREADS", threads)
        read_aside.clear()
        lookup_threads.clear()
        con = connect(tmp_path / f"w{threads}_{batch_bytes}" / "warehouse.duckdb")
        load_entity(con, load_contracts()["crm.opportunities"], raw_dir, batch_bytes=batch_bytes)
        left = con.execute("select count(*) from duckdb_tables() where database_name = 's2s_scratch'").fetchone()[0]
        results[threads, batch_bytes] = (
            sorted(read_aside),
            list(lookup_threads),
            left,
            con.execute("select opportunity_id, owner_rep_id, amount from raw_crm.opportunities order by 1").fetchall(),
            con.execute("select source_file, line, column_name, value from meta.quarantine order by 1, 2").fetchall(),
            con.execute(
                "select source_file, rows_read, rows_loaded, rows_quarantined, status from meta.ingest_audit "
                "order by source_file"
            ).fetchall(),
        )
        con.close()

    deals = [f"mycrm/deals_2026-06-0{day}.{ext}" for day, ext in ((1, "csv"), (2, "csv"), (3, "csv.gz"))]
    assert results["2", None][:3] == (deals, [False, False], 0)  # the workers read; none left behind
    assert results["2", 1][:3] == (deals, [False, False], 0)
    assert results["1", None][:3] == ([], [True, True], 0)  # read on the run's connection
    assert results["2", None][3:] == results["2", 1][3:] == results["1", None][3:]
    rows, quarantine, audit_rows = results["1", None][3:]
    assert rows == [("D1", "R1", Decimal("100.00")), ("D2", "R3", Decimal("100.00")), ("D4", "R3", Decimal("100.00"))]
    assert quarantine == [("mycrm/deals_2026-06-02.csv", 2, "Value", "abc")]
    assert audit_rows == [
        ("mycrm/deals_2026-06-01.csv", 2, 2, 0, "loaded"),
        ("mycrm/deals_2026-06-02.csv", 2, 1, 1, "loaded"),
        ("mycrm/deals_2026-06-03.csv.gz", 0, 0, 0, "rejected"),
    ]


def test_a_mapped_export_joined_from_two_files_quarantines_its_repeated_header_with_that_reason(tmp_path, raw_dir, con):
    """Two deal exports joined into one file (the second after a BOM, as Excel's "CSV UTF-8" writes
    it) repeat the export's header on line 4. The mapping maps Phase through its value map and reads
    Value as a number, so the checks saw "Phase" and no amount, not the header: the row was
    quarantined for its values, under reasons that named no cause. It is found on the file as read
    now, and quarantined with the one reason that says what it is; the four deals around it load."""
    write_mapping(tmp_path, OPPORTUNITIES)
    first = csv_text(DEALS_HEADER, [_deal("D1"), _deal("D2", phase="Lost")])
    second = "\ufeff" + csv_text(DEALS_HEADER, [_deal("D3"), _deal("D4", "250", "Talking")])
    write_export(raw_dir, "mycrm/deals_2026-06-01.csv", first + second)

    result = load_entity(con, load_contracts()["crm.opportunities"], raw_dir)

    assert [(o.rows_read, o.rows_loaded, o.rows_quarantined) for o in result.outcomes] == [(5, 4, 1)]
    assert con.execute("select line, column_name, reason from meta.quarantine").fetchall() == [
        (
            4,
            None,
            "the header line again, as a row (two exports joined into one file?): not a record; "
            "the rows above and below it are read as usual",
        )
    ]
    assert con.execute("select opportunity_id, stage, amount from raw_crm.opportunities order by 1").fetchall() == [
        ("D1", "closed_won", Decimal("100.00")),
        ("D2", "closed_lost", Decimal("100.00")),
        ("D3", "closed_won", Decimal("100.00")),
        ("D4", "needs_analysis", Decimal("250.00")),
    ]


def test_a_lookup_that_cannot_be_read_rejects_each_drop_of_its_rule_naming_the_lookup(tmp_path, raw_dir, con):
    """Two deal exports of one rule, whose users lookup file has no `Name` column: both drops are
    rejected with the lookup's reason (the second drop of a batch failed with a KeyError, the
    lookup's failure recorded for the first drop only); the load goes on."""
    write_export(raw_dir, "mycrm/users_2026-06-01.csv", csv_text(["Login", "RepId"], [["ann", "R1"]]))
    header = ["DealId", "Customer", "Value", "Opened", "Closing", "Phase", "Owner"]
    deal = ["A1", "100", "2026/5/3 14:22", "2026/6/30", "Won", "Ann"]
    write_export(raw_dir, "mycrm/deals_2026-06-01.csv", csv_text(header, [["D1", *deal]]))
    write_export(raw_dir, "mycrm/deals_2026-06-02.csv", csv_text(header, [["D2", *deal]]))
    lookup = "    lookups:\n      owner: {pattern: 'users*.csv', key: Name, on: Owner}\n    columns:\n"
    owner = "      owner_rep_id: {sql: owner.RepId}\n"
    currency = "      currency: {column: Curr, default: CNY}\n"
    write_mapping(tmp_path, OPPORTUNITIES.replace("    columns:\n", lookup + owner).replace(currency, ""))

    result = load_entity(con, load_contracts()["crm.opportunities"], raw_dir)

    assert [(o.drop.relative_path, o.status, o.rejected_reason) for o in result.outcomes] == [
        ("mycrm/deals_2026-06-01.csv", "rejected", "lookup owner: mycrm/users_2026-06-01.csv has no column 'Name'"),
        ("mycrm/deals_2026-06-02.csv", "rejected", "lookup owner: mycrm/users_2026-06-01.csv has no column 'Name'"),
    ]
    assert con.execute("select count(*) from duckdb_tables() where database_name = 's2s_scratch'").fetchone() == (0,)
