"""No raw personal value in any Great Expectations artifact (issue 9, item 21): validation results and
Data Docs live outside the warehouse, so they carry counts, never the values that failed or passed."""

from __future__ import annotations

import json

from conftest import csv_text, write_drop

from dagster_project.contracts import load_contracts
from dagster_project.ingest import load_entity
from dagster_project.quality.expectations import ExpectationRunner

PERSONAL = [
    # (full_name, email, phone): the last two of each kind fail the format rules
    ("张伟", "zhang.wei@example.cn", "13812345678"),
    ("李娜", "li.na@example.cn", "13987654321"),
    ("王芳", "wang.fang(at)example.cn", "0755-8123456"),
    ("刘洋", "liu yang@example", "12345"),
]


def test_gx_artifacts_hold_no_raw_personal_value(con, raw_dir, tmp_path):
    contacts = load_contracts()["crm.contacts"]
    rows = [
        [f"C{i}", "A1", name, "经理", email, phone, "2025-01-01", "2025-01-02"]
        for i, (name, email, phone) in enumerate(PERSONAL)
    ]
    write_drop(raw_dir, "crm.contacts", "contacts_2025-01-31.csv", csv_text(list(contacts.column_names), rows))
    load_entity(con, contacts, raw_dir)
    gx_root = tmp_path / "gx"

    runner = ExpectationRunner(gx_root)
    _, validity = runner.validate(con, contacts)
    docs = runner.build_docs()

    # the rules did see the values: 2 of 4 emails and 1 of 4 phones fail
    assert [(v.field, v.failing_rows) for v in validity] == [("email", 2), ("phone", 1)]
    assert docs is not None and docs.exists()
    files = [p for p in gx_root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in files) and any(p.suffix == ".html" for p in files)
    values = [v for person in PERSONAL for v in person]
    leaks = {
        str(p.relative_to(gx_root)): [v for v in values if v in p.read_text(encoding="utf-8", errors="replace")]
        for p in files
    }
    assert {path: found for path, found in leaks.items() if found} == {}


def _lists_of_values(document: object) -> list[object]:
    """Every partial_unexpected_* entry of a validation result, wherever it sits."""
    found = []
    if isinstance(document, dict):
        for key, value in document.items():
            if key.startswith("partial_unexpected"):
                found.append(value)
            else:
                found += _lists_of_values(value)
    elif isinstance(document, list):
        for item in document:
            found += _lists_of_values(item)
    return found


def test_validation_results_list_no_unexpected_values(con, raw_dir, tmp_path):
    contacts = load_contracts()["crm.contacts"]
    rows = [[f"C{i}", "A1", n, "", e, p, "2025-01-01", "2025-01-02"] for i, (n, e, p) in enumerate(PERSONAL)]
    write_drop(raw_dir, "crm.contacts", "contacts_2025-01-31.csv", csv_text(list(contacts.column_names), rows))
    load_entity(con, contacts, raw_dir)

    ExpectationRunner(tmp_path / "gx").validate(con, contacts)

    results = [p for p in (tmp_path / "gx").rglob("*.json") if "validations" in p.parts and "uncommitted" in p.parts]
    assert len(results) == 1
    lists = _lists_of_values(json.loads(results[0].read_text(encoding="utf-8")))
    assert lists and all(value in ([], {}) for value in lists)
