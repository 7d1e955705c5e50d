"""Shared fixtures: every test gets its own raw folder and warehouse file under tmp_path."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from bi_fixtures import (  # noqa: F401 (fixtures)
    fresh_database,
    old_duckdb_cli,
    postgres_dsn,
    small_company_snapshot,
)

from dagster_project.contracts import load_contracts
from dagster_project.warehouse import connect


@pytest.fixture(scope="session", autouse=True)
def shared_pytensor_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One pytensor compile folder for the whole session, inherited by the CLI runs the tests start: the
    customer value models compile once, not once per test warehouse (~20 s each)."""
    import os

    if "compiledir" not in os.environ.get("PYTENSOR_FLAGS", ""):
        folder = tmp_path_factory.mktemp("pytensor")
        os.environ["PYTENSOR_FLAGS"] = ",".join(
            f for f in (os.environ.get("PYTENSOR_FLAGS", ""), f"base_compiledir={folder}") if f
        )


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every S2S_ setting (and Dagster's home) at this test's temp folder."""
    monkeypatch.setenv("S2S_RAW_DIR", str(tmp_path / "raw"))
    monkeypatch.setenv("S2S_WAREHOUSE", str(tmp_path / "warehouse" / "warehouse.duckdb"))
    monkeypatch.setenv("S2S_BI_DIR", str(tmp_path / "warehouse" / "bi"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("S2S_DEPLOYMENT_DIR", str(tmp_path / "deployment"))
    monkeypatch.delenv("S2S_AS_OF", raising=False)
    (tmp_path / "dagster_home").mkdir()


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    path = tmp_path / "raw"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def con(tmp_path: Path):
    connection = connect(tmp_path / "warehouse" / "warehouse.duckdb")
    yield connection
    connection.close()


def csv_text(header: list[str], rows: list[list[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return out.getvalue()


def write_drop(raw_dir: Path, entity: str, name: str, text: str, encoding: str = "utf-8") -> Path:
    """Write a drop file for `<source>.<entity>` into the raw folder and return its path."""
    contract = load_contracts()[entity]
    folder = raw_dir / contract.source / contract.entity
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path
