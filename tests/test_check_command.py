"""The dry run through the real CLI: `python -m dagster_project check` explains a broken mapping file
by file, loads nothing, and exits 0 only when a load would go through."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "exports"


def check(tmp_path: Path, *args: str) -> tuple[int, str]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster_project",
            "check",
            "--raw-dir",
            str(tmp_path / "raw"),
            "--deployment-dir",
            str(tmp_path / "deployment"),
            *args,
        ],
        env={**os.environ, "S2S_WAREHOUSE": str(tmp_path / "warehouse" / "warehouse.duckdb")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stdout + proc.stderr


def deploy(tmp_path: Path, fixture: str, mapping: str, policy: str = "") -> None:
    shutil.copytree(FIXTURES / fixture, tmp_path / "raw" / fixture)
    (tmp_path / "deployment" / "mappings").mkdir(parents=True)
    (tmp_path / "deployment" / "mappings" / f"{fixture}.yml").write_text(mapping, encoding="utf-8")
    if policy:
        (tmp_path / "deployment" / "policy.yml").write_text(policy, encoding="utf-8")


BROKEN = """preset: salesforce
files:
  opportunities:
    columns:
      amount: Amont            # a typo
  leads:
    columns:
      industry: Branche        # a field this org does not export
"""


def test_a_broken_mapping_is_explained_file_by_file_and_nothing_is_loaded(tmp_path):
    deploy(tmp_path, "salesforce", BROKEN, "not_collected:\n  crm.accounts: [employee_count]\n")

    code, out = check(tmp_path, "--entity", "crm.opportunities", "--entity", "crm.leads", "--entity", "crm.accounts")

    assert code == 1
    lines = out.splitlines()
    assert (
        "  via salesforce.yml (preset salesforce): opportunities: 1 file(s), 0 rows, 0 would load, 1 REJECTED" in lines
    )
    assert (
        "    salesforce/Opportunity.csv: REJECTED: missing required column(s) Amont (amount: Amont not in the file)"
        in lines
    )
    assert "    salesforce/Lead.csv: 3 rows, 2 load, 1 quarantined (33.3% > max_quarantine_share 5%)" in lines
    assert (
        "      line 4: Status = 'Contacted': not one of new, working, nurturing, qualified, disqualified, converted "
        "(and values.lead_status in the mapping does not map it)"
    ) in lines
    assert any(
        line.startswith("    columns: not delivered (NULL): industry (Branche not in the file)") for line in lines
    )
    assert "    NOT DELIVERED (map it, or declare it not_collected in policy.yml): industry (target 95%)" in lines
    assert "    not collected (policy.yml: out of the gate): employee_count" in lines
    assert lines[-1].startswith("3 file(s) checked in ")
    assert len(lines) < 40  # one screen
    assert not (tmp_path / "warehouse").exists()


def test_a_mapping_that_fits_exits_zero_and_a_file_over_the_quarantine_share_does_not(tmp_path):
    """The fixture's third deal has an amount no format reads: 1 of its 3 rows quarantined, over
    max_quarantine_share (5%), which blocks the publish, so the dry run says so. Without that row the
    mapping fits."""
    deploy(tmp_path, "fxiaoke", "preset: fxiaoke\n")

    code, out = check(tmp_path)

    assert code == 1, out
    assert (
        "fxiaoke/商机_2026-06-01.csv: 3 rows, 2 load, 1 quarantined (33.3% > max_quarantine_share 5%), "
        "1 skipped by the mapping"
    ) in out
    assert out.splitlines()[-1].endswith("a load would reject files or block the publish (see above)")

    deals = tmp_path / "raw" / "fxiaoke" / "商机_2026-06-01.csv"
    text = deals.read_bytes().decode("gb18030")
    deals.write_bytes(
        "".join(x for x in text.splitlines(keepends=True) if not x.startswith("SJ-2026-0103")).encode("gb18030")
    )
    code, out = check(tmp_path)

    assert code == 0, out
    assert "quarantined" not in out
    # a row the mapping skips (the deals file's subtotal) is no problem: counted in the quiet line
    assert "    1 file(s) without problems (2 rows, 1 skipped by the mapping)" in out.splitlines(), out
    assert out.splitlines()[-1].endswith("a load would go through")


def test_a_mapping_file_that_does_not_parse_is_named(tmp_path):
    deploy(tmp_path, "hubspot", "preset: hubspot\nfiles:\n  deals:\n    entity: crm.deals\n")

    code, out = check(tmp_path)

    assert code == 2
    assert "hubspot.yml: files.deals: entity 'crm.deals' is not one of" in out
