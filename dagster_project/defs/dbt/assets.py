"""The dbt project as Dagster assets: every model, seed and snapshot; dbt tests as asset checks.

dbt sources map to the ingestion assets' keys (`raw_<source>/<entity>`), so the lineage from each
raw extract to each mart shows in the UI.
"""

import hashlib
import importlib.metadata
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from packaging import version

from dagster_project import dbt_forkserver
from dagster_project.defs.dbt.warm import DBT_STEPS, dbt_steps_after, warm_dbt
from dagster_project.defs.dbt.without_dbt_core import selection_from_manifest
from dagster_project.resources import WarehouseResource, skip_unchanged

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
TARGET_DIR = DBT_PROJECT_DIR / dbt_project.target_path  # target_path is relative to the project


def dbt_executable() -> str:
    """The dbt installed beside this Python (the project's virtualenv), whatever PATH says, through
    `s2s-dbt`, which makes it die with the run (a killed run must not leave dbt holding the warehouse)."""
    for name in ("s2s-dbt", "dbt"):
        beside = Path(sys.executable).parent / name
        if beside.exists():
            return str(beside)
    return "dbt"


class WarehouseDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt resource without two probes it makes before the first dbt command of a process,
    ~5 s on 2 cores for answers this project already has or never uses (issue 14):
    - `dbt --version` in a subprocess (a whole dbt start-up) to learn the version: the executable is this
      virtualenv's dbt (`dbt_executable`), so the version is that of the installed dbt-core package;
    - a dbt adapter opened inside Dagster's process, used only to fetch column metadata or row counts
      (`fetch_column_metadata`, `fetch_row_counts`), which no step here asks for."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def dbt_resource(project: DbtProject = dbt_project) -> DbtCliResource:
    return WarehouseDbtCliResource(
        project_dir=project, profiles_dir=str(project.project_dir), dbt_executable=dbt_executable()
    )


# What the manifest is parsed from: a change to any of these files (an edited model, a new test) makes
# the manifest stale, and a stale manifest breaks the code location (a KeyError on a renamed node).
_DBT_SOURCE_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml")
_DBT_SOURCE_FOLDERS = ("models", "macros", "seeds", "snapshots", "tests", "analyses")
DIGEST_FILE = "manifest.sources.sha256"  # beside manifest.json: the digest it was parsed from


def dbt_sources_digest(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """One SHA-256 over the dbt project's source files (paths and bytes) and the dbt version."""
    digest = hashlib.sha256(importlib.metadata.version("dbt-core").encode())
    paths = [project_dir / name for name in _DBT_SOURCE_FILES if (project_dir / name).is_file()]
    for folder in _DBT_SOURCE_FOLDERS:
        paths += sorted(p for p in (project_dir / folder).rglob("*") if p.is_file())
    for path in paths:
        digest.update(path.relative_to(project_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def prepare_manifest(project: DbtProject = dbt_project) -> Path:
    """The manifest, parsed once: `dbt parse` runs only when manifest.json is missing or was parsed
    from other dbt sources than those on disk (their digest differs); otherwise it is read as is.

    The parse is a full one: dbt's partial parsing keeps the old macro of every generic test whose
    YAML did not change, so a project test that replaces one of dbt's (tests/generic/relationships.sql)
    ran without the dependencies it adds, and the build failed ("unable to infer all dependencies").
    Its partial_parse.msgpack then seeds the dbt steps' parses, which stay partial."""
    manifest = project.manifest_path
    stored = manifest.with_name(DIGEST_FILE)
    current = dbt_sources_digest(project.project_dir)
    if manifest.is_file() and stored.is_file() and stored.read_text(encoding="utf-8").strip() == current:
        return manifest
    dbt_resource(project).cli(["--quiet", "parse", "--no-partial-parse"], target_path=project.target_path).wait()
    stored.write_text(current + "\n", encoding="utf-8")
    return manifest


class WarehouseDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["alias"] or dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # the folder layer: staging, intermediate, marts (plus seeds and snapshots)
        fqn = dbt_resource_props.get("fqn", [])
        return f"dbt_{fqn[1]}" if len(fqn) > 2 else f"dbt_{dbt_resource_props['resource_type']}s"


prepare_manifest()


# Models reading tables that Python steps write after the first dbt step: the customer value model's
# (schema ml; that asset reads the order facts) and Great Expectations' results (which run beside the
# first dbt step: quality/worker.py). A second dbt step after those assets. One @dbt_assets over both
# would also plan (Dagster splits a subsettable multi-asset around the Python assets), but into more dbt
# invocations than two.
MODELS_AFTER_PYTHON = "source:ml+ source:meta.dq_completeness+ source:meta.dq_validity+"


def _build_dbt_assets(name: str, select: str, exclude: str | None) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        name=name,
        select=select,
        exclude=exclude,
        # dbt's tests on sources stay observations: as checks (enable_source_tests_as_checks) they make
        # Dagster split this step into three dbt invocations around the ingestion assets (DECISIONLOG)
        dagster_dbt_translator=WarehouseDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
    )
    def _dbt_build(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        """dbt build: seeds, snapshots, models and their tests, in dependency order; nothing when the
        published snapshot was built from the same drops and code (publish and alerts then skip too)."""
        from dagster_project.defs.customer_value.assets import discard_fitting, start_fitting, tell_when_inputs_built

        if skip_unchanged(context, warehouse, "dbt build"):
            from dagster_project.defs.quality.assets import discard_gx_worker

            discard_fitting(context)  # started by ingestion (a new file, nothing new in it)
            discard_gx_worker(context)
            return
        # Unit tests check the SQL, not the data: they run in `make test` / CI (tests/test_dbt_project.py),
        # as dbt advises, not in every production build.

        fitting = None
        if name == DBT_STEPS[0]:  # work of later steps that can overlap this build, in worker processes
            from dagster_project.defs.quality.assets import start_validation

            start_validation(context, warehouse)  # Great Expectations, on the entity frames
            fitting = start_fitting(context, warehouse)  # the customer value model, once dbt built its inputs
        warm_dbt(context)  # started by the ingest audit already, unless it loaded nothing
        warehouse.release()  # dbt opens the file in its own process
        try:
            invocation = dbt.cli(["build", "--exclude-resource-type", "unit_test", *_file_log_args()], context=context)
            target_path = invocation.target_path
            yield from tell_when_inputs_built(context, invocation.stream(), fitting, DBT_PROJECT_DIR / target_path)
        finally:
            if fitting:
                fitting.no_inputs()  # dbt stopped before building them: the step fits itself
            if not dbt_steps_after(context, name):
                dbt_forkserver.stop()
        # dagster-dbt seeds each invocation's folder with the project's partial parse file; keep the one
        # parsed with this run's settings, so the next run with the same settings skips a full parse.
        parsed = invocation.target_path / "partial_parse.msgpack"
        if parsed.exists():
            shutil.copyfile(parsed, TARGET_DIR / "partial_parse.msgpack")
        _prune_invocation_targets(keep=5)

    return _dbt_build


with selection_from_manifest():  # dagster-dbt evaluates these with dbt-core otherwise (without_dbt_core.py)
    dbt_models = _build_dbt_assets(DBT_STEPS[0], select="fqn:*", exclude=MODELS_AFTER_PYTHON)
    dbt_models_after_python = _build_dbt_assets(DBT_STEPS[1], select=MODELS_AFTER_PYTHON, exclude=None)


# dbt's own debug log file (every SQL statement, in the invocation's target folder) costs ~1 s of a
# small company's build of 10 s, and the run log already holds dbt's events at info level, its errors
# included. Set DBT_LOG_LEVEL_FILE (e.g. `debug`) for a run that needs the file; such a run also
# writes each node's SQL files (target/compiled, target/run), which other runs skip (dbt_child.py).
def _file_log_args() -> list[str]:
    return [] if os.environ.get("DBT_LOG_LEVEL_FILE") else ["--log-level-file", "none"]


def _prune_invocation_targets(keep: int) -> None:
    """dagster-dbt gives each invocation its own target folder; keep the newest few for debugging."""
    folders = sorted(TARGET_DIR.glob("dbt_*-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for folder in folders[keep:]:
        shutil.rmtree(folder, ignore_errors=True)
