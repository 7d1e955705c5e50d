"""dbt sources YAML generated from the entity contracts.

`python -m dagster_project.dbt_sources` (re)writes `dbt/models/staging/<source>/_<source>__sources.yml`
for every source; `tests/test_dbt_sources_match_contracts.py` fails when the files drift from the
contracts. Columns, types, descriptions, the key and critical / personal fields all come from the
contracts; nothing here lists an entity by hand.

No dbt test and no freshness rule on a source: one engine per check. Ingestion quarantines a row
with an empty required field or a value outside the allowed ones before it reaches the raw table;
the asset check `primary_keys_unique` checks the raw keys and `source_freshness` the age of each
entity (thresholds in config/quality.yml). The same tests in dbt could not fail, and dagster-dbt
could not attach them to an asset (a raw table is a Dagster asset, not a dbt model): each printed
an indirect-selection warning per run.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import yaml

from dagster_project.contracts import Contract, load_contracts

DBT_DIR = Path(__file__).resolve().parent.parent / "dbt"
STAGING_DIR = DBT_DIR / "models" / "staging"

SOURCE_DESCRIPTIONS = {
    "crm": "CRM extracts (accounts, leads, opportunities, activities, cases), loaded by ingestion.",
    "erp": "ERP extracts (products, orders, payments, returns, exchange rates), loaded by ingestion.",
    "marketing": "Marketing extracts (campaigns, ad spend, web events, surveys), loaded by ingestion.",
    "strategy": "Strategic targets at any grain, loaded by ingestion.",
    "hr": "HR training records, loaded by ingestion.",
}

LINEAGE_COLUMNS = (
    ("_drop_id", "varchar", "Drop (file content hash) the row version came from."),
    ("_drop_date", "date", "Date of that drop."),
    ("_source_file", "varchar", "File of that drop, relative to the raw folder."),
    ("_source_line", "bigint", "1-based line of the row in that file (header = line 1)."),
    ("_loaded_at", "timestamp", "When ingestion loaded the row version (UTC)."),
)


def _column(column) -> dict:
    out: dict = {"name": column.name, "data_type": column.type, "description": column.description}
    meta = {}
    if column.critical:
        meta["critical"] = True
    if column.pii:
        meta["pii"] = column.pii
    if meta:
        out["config"] = {"meta": meta}
    return out


def _table(contract: Contract) -> dict:
    table: dict = {"name": contract.entity, "description": contract.description}
    table["config"] = {
        "meta": {
            "contract": f"dagster_project/contracts/{contract.source}/{contract.entity}.yml",
            "primary_key": list(contract.primary_key),
        }
    }
    columns = [_column(c) for c in contract.columns]
    columns += [{"name": n, "data_type": t, "description": d} for n, t, d in LINEAGE_COLUMNS]
    table["columns"] = columns
    return table


def sources_documents() -> dict[str, dict]:
    """The sources YAML document of every source, keyed by source name."""
    by_source: dict[str, list[Contract]] = defaultdict(list)
    for contract in load_contracts().values():
        by_source[contract.source].append(contract)
    docs = {}
    for source, contracts in sorted(by_source.items()):
        docs[source] = {
            "version": 2,
            "sources": [
                {
                    "name": source,
                    "schema": f"raw_{source}",
                    "description": SOURCE_DESCRIPTIONS.get(source, f"{source} extracts."),
                    "tables": [_table(c) for c in sorted(contracts, key=lambda c: c.entity)],
                }
            ],
        }
    return docs


def render(doc: dict) -> str:
    header = "# Generated from the entity contracts by `python -m dagster_project.dbt_sources`; do not edit.\n"
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)


def sources_path(source: str, staging_dir: Path = STAGING_DIR) -> Path:
    return staging_dir / source / f"_{source}__sources.yml"


def write_sources(staging_dir: Path = STAGING_DIR) -> list[Path]:
    written = []
    for source, doc in sources_documents().items():
        path = sources_path(source, staging_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(doc), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_sources():
        sys.stdout.write(f"wrote {p}\n")
