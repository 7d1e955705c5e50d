from pathlib import Path

import pytest

from dagster_project.contracts import ContractError, load_contracts

# The entities and their keys, written out by hand (docs/raw_contract.md renders them from the
# contracts); the requirements gave targets and training_records none, so the contract chose one.
EXPECTED_KEYS = {
    "crm.sales_reps": ("rep_id",),
    "crm.accounts": ("account_id",),
    "crm.contacts": ("contact_id",),
    "crm.leads": ("lead_id",),
    "crm.opportunities": ("opportunity_id",),
    "crm.opportunity_stage_history": ("opportunity_id", "stage", "entered_at"),
    "crm.activities": ("activity_id",),
    "crm.cases": ("case_id",),
    "erp.products": ("sku",),
    "erp.sales_orders": ("order_id",),
    "erp.sales_order_lines": ("order_id", "line_no"),
    "erp.payments": ("payment_id",),
    "erp.returns": ("return_id",),
    "erp.fx_rates": ("rate_date", "currency"),
    "marketing.campaigns": ("campaign_id",),
    "marketing.ad_spend_daily": ("spend_date", "campaign_id"),
    "marketing.web_events": ("event_id",),
    "marketing.survey_responses": ("response_id",),
    "strategy.targets": ("period", "region", "product_line", "metric", "rep_id"),
    "hr.training_records": ("rep_id", "course_id", "completed_on"),
}


def test_every_spec_entity_has_a_contract_with_its_key():
    contracts = load_contracts()
    assert {name: c.primary_key for name, c in contracts.items()} == EXPECTED_KEYS


def test_spec_columns_and_allowed_values():
    contracts = load_contracts()
    assert contracts["crm.opportunities"].column_names == (
        "opportunity_id",
        "account_id",
        "owner_rep_id",
        "lead_id",
        "opportunity_type",
        "product_line",
        "amount",
        "currency",
        "created_at",
        "close_date",
        "stage",
        "is_closed",
        "is_won",
        "loss_reason",
        "updated_at",
    )
    assert contracts["crm.leads"].column("status").allowed_values == (
        "new",
        "working",
        "nurturing",
        "qualified",
        "disqualified",
        "converted",
    )
    assert contracts["erp.sales_orders"].column("channel").allowed_values == (
        "direct",
        "distributor",
        "ecommerce",
        "retail",
    )
    # currency may be absent: CNY is assumed
    currency = contracts["erp.payments"].column("currency")
    assert (currency.required, currency.default) == (False, "CNY")


def test_crm_critical_fields_default_to_95_percent():
    for contract in load_contracts().values():
        if contract.source == "crm":
            assert contract.critical_columns or contract.entity == "opportunity_stage_history"
            for column in contract.critical_columns:
                assert contract.target_for(column) == 0.95


def test_foreign_keys_point_at_known_entities():
    contracts = load_contracts()
    fk = {(c.name, f.columns, f.references) for c in contracts.values() for f in c.foreign_keys}
    assert ("crm.opportunities", ("account_id",), "crm.accounts") in fk
    assert ("erp.sales_order_lines", ("sku",), "erp.products") in fk
    assert ("crm.sales_reps", ("manager_id",), "crm.sales_reps") in fk


def test_malformed_contract_names_file_and_field(tmp_path: Path):
    folder = tmp_path / "crm"
    folder.mkdir()
    (folder / "things.yml").write_text(
        "source: crm\nentity: things\nprimary_key: [id]\ncolumns:\n  - {name: id, type: varchar}\n"
        "  - {name: n, type: money}\n",
        encoding="utf-8",
    )
    with pytest.raises(ContractError, match=r"things\.yml: column 'n' has unsupported type 'money'"):
        load_contracts.__wrapped__(tmp_path)
