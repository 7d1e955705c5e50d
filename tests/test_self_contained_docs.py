"""The project documents itself: generated docs are up to date, and no file points outside the repository.

docs/raw_contract.md and docs/marts.md are rendered from the contracts, the dbt YAML and the KPI seed
(docs/render.py); a committed file that differs from a fresh render
fails here, with the command that fixes it.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _load(script: str):
    spec = importlib.util.spec_from_file_location(script, DOCS / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("script", "document"), [("render_contracts", "raw_contract.md"), ("render_marts", "marts.md")]
)
def test_committed_document_is_the_rendered_one(script: str, document: str) -> None:
    rendered = _load(script).render()
    committed = (DOCS / document).read_text(encoding="utf-8")
    assert committed == rendered, f"docs/{document} is out of date: run .venv/bin/python docs/render.py"


def test_raw_contract_lists_every_entity_and_column() -> None:
    from dagster_project.contracts import load_contracts

    text = (DOCS / "raw_contract.md").read_text(encoding="utf-8")
    for contract in load_contracts().values():
        section = text.split(f"### {contract.name}\n", 1)
        assert len(section) == 2, f"docs/raw_contract.md has no section for {contract.name}"
        body = section[1].split("\n### ", 1)[0]
        for column in contract.columns:
            assert f"| `{column.name}` | {column.type} |" in body, f"{contract.name}.{column.name} is not listed"


def test_raw_contract_states_the_rules_of_a_known_column() -> None:
    # crm.opportunities.stage: critical at the CRM's 95%, the six stages; worked out from the YAML by hand
    text = (DOCS / "raw_contract.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `stage` | varchar |"))
    assert "critical (95%)" in row
    assert "one of `qualification`, `needs_analysis`, `proposal`, `negotiation`, `closed_won`, `closed_lost`" in row
    assert "| `account_id` | varchar | critical (95%); → crm.accounts |" in text


def test_every_mart_model_is_documented_with_its_file() -> None:
    text = (DOCS / "marts.md").read_text(encoding="utf-8")
    models = sorted((ROOT / "dbt" / "models" / "marts").glob("*/*.sql"))
    assert len(models) > 30
    for sql in models:
        assert f"### {sql.stem}\n\nModel: `{sql.relative_to(ROOT).as_posix()}`." in text, f"{sql.stem} is missing"


def test_every_scorecard_kpi_has_a_definition_and_a_place_in_the_sql() -> None:
    text = (DOCS / "marts.md").read_text(encoding="utf-8")
    seed = (ROOT / "dbt" / "seeds" / "scorecard_kpis.csv").read_text(encoding="utf-8").splitlines()[1:]
    sql = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "dbt/models/intermediate/scorecard").glob("*.sql"))
    for code in (line.split(",", 1)[0] for line in seed):
        assert f"| `{code}` |" in text, f"KPI {code} is not in docs/marts.md"
        # the document tells the reader to search `as <kpi_code>`: that search must find it
        assert re.search(rf"\bas {code}\b", sql), f"`as {code}` is not in dbt/models/intermediate/scorecard"


def _tracked_files() -> list[Path]:
    """Files of the repository: git's list when it is a checkout, else every file but build output."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True).stdout
        return [ROOT / name for name in out.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "data", "target", "logs", "__pycache__", ".dagster_home", "node_modules"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]


# A path outside the repository: an absolute path into the machine's work folder, or a relative one
# climbing into a sibling "shared" folder, or the names of the specification files that live there.
OUTSIDE = re.compile(r"(?<![\w.-])/work/|\.\./shared\b|shared/spec|marts_contract\.md|raw_extracts\.md")


def test_no_file_points_outside_the_repository() -> None:
    hits = []
    for path in _tracked_files():
        if path == Path(__file__).resolve() or not path.is_file():
            continue  # this file names the patterns it looks for
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not hits, "paths outside the repository:\n" + "\n".join(hits)


def test_the_pattern_finds_what_it_is_for() -> None:
    # the check above is only as good as its pattern: known bad lines match, look-alikes do not
    for bad in ["see /work/shared/spec/x", "(`../shared/spec/`)", "marts_contract.md", "raw_extracts.md"]:
        assert OUTSIDE.search(bad), bad
    for fine in ["/bench/work/", "bench/work/results", "framework/x", "the raw extracts"]:
        assert not OUTSIDE.search(fine), fine


MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize(
    "document", ["README.md", "CONTRIBUTING.md", "docs/raw_contract.md", "docs/marts.md", "sql/README.md"]
)
def test_relative_links_resolve_inside_the_repository(document: str) -> None:
    path = ROOT / document
    for target in MARKDOWN_LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        resolved = (path.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{document} links outside the repository: {target}"
        assert resolved.exists(), f"{document} links to a missing file: {target}"


@pytest.mark.parametrize("document", ["README.md", "sql/README.md", "dbt/README.md", "dbt/models/_overview.md"])
def test_the_definitions_are_linked_from_the_entry_points(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    assert "docs/marts.md" in text, f"{document} does not link docs/marts.md"
    assert "raw_contract.md" in text, f"{document} does not link docs/raw_contract.md"


REPO_PATH = re.compile(r"`((?:dbt|dagster_project|docs|sql|tests|dashboard|bench)/[^`\s]*)`")


@pytest.mark.parametrize("document", ["CONTRIBUTING.md", "docs/raw_contract.md", "docs/marts.md"])
def test_every_file_a_document_names_exists(document: str) -> None:
    # paths in backquotes: a renamed model or config file shows here, not in a reader's failed search
    named = REPO_PATH.findall((ROOT / document).read_text(encoding="utf-8"))
    assert len(named) > 3
    for name in named:
        if "<" in name or "*" in name or name.startswith("dbt/target/"):
            continue  # a pattern (`stg_<source>__<entity>.sql`) or build output, not a file
        assert (ROOT / name.rstrip("/")).exists(), f"{document} names {name}, which does not exist"
