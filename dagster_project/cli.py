"""Command line: `python -m dagster_project {generate,check,ingest,run,dev}` (also installed as `s2s`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

from dagster_project import gc_tuning
from dagster_project.settings import DEFAULT_RAW_DIR, Settings, ensure_dagster_home


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "deployment_dir", None):
        os.environ["S2S_DEPLOYMENT_DIR"] = str(args.deployment_dir.absolute())
    settings = Settings.from_env().with_overrides(
        raw_dir=getattr(args, "raw_dir", None),
        warehouse=getattr(args, "warehouse", None),
        bi_dir=getattr(args, "bi_dir", None),
        as_of=getattr(args, "as_of", None),
    )
    settings.export()
    return settings


def _print(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _generate(
    out: Path, scale: float, seed: int, end: date, profile: str, shape: str = "native", progress=_print
) -> None:
    from sample_company import generate

    started = time.monotonic()
    _print(f"generating the sample company at scale {scale} (seed {seed}, ending {end}) into {out}")
    summary = generate(out, scale=scale, seed=seed, end_date=end, profile=profile, progress=progress, shape=shape)
    rows = sum(summary.get("rows", {}).values()) if isinstance(summary.get("rows"), dict) else "?"
    _print(f"generated {rows} rows in {time.monotonic() - started:.1f}s")
    if shape != "native":
        _print(
            f"the CRM entities are in {out / shape}/ as a {shape} export: load them through a deployment mapping "
            f"holding `preset: {shape}` (e.g. deployment/mappings/{shape}.yml)"
        )


def cmd_generate(args: argparse.Namespace) -> int:
    _generate(args.out, args.scale, args.seed, args.end, args.profile, args.shape)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Load every entity's new drops without Dagster (the assets call the same code)."""
    from dagster_project.contracts import load_contracts
    from dagster_project.deployment import write_field_policy
    from dagster_project.ingest import load_entity
    from dagster_project.ingest.integrity import refresh_orphans
    from dagster_project.ingest.inventory import record_stray_entries
    from dagster_project.warehouse import ensure_raw_table, open_warehouse

    settings = _settings(args)
    contracts = [c for c in load_contracts().values() if not args.entity or c.name in args.entity]
    with open_warehouse(settings.warehouse) as con:
        for entry in record_stray_entries(con, settings.raw_dir, run_id=f"ingest-{time.time_ns()}"):
            _print(f"ignored {entry.relative_path}: {entry.reason}")
        for contract in contracts:
            result = load_entity(
                con,
                contract,
                settings.raw_dir,
                on_drop=lambda o: _print(
                    f"  {o.drop.relative_path}: {o.status}, read {o.rows_read}, loaded {o.rows_loaded}, "
                    f"quarantined {o.rows_quarantined}" + (f" ({o.rejected_reason})" if o.rejected_reason else "")
                ),
            )
            for outcome in result.duplicates:
                _print(f"  {outcome.drop.relative_path}: duplicate ({outcome.rejected_reason})")
            for entry in result.ignored:
                _print(f"  ignored {entry.relative_path}: {entry.reason}")
            m = result.metadata()
            _print(
                f"{contract.name}: {m['drops_loaded']} drops loaded ({m['drops_already_loaded']} already), "
                f"{m['rows_loaded']} rows loaded, {m['rows_quarantined']} quarantined, {m['drops_rejected']} "
                f"files rejected; table has {m['table_rows']} rows"
                + (f"; not delivered (NULL): {m['columns_not_delivered']}" if result.not_delivered_summary() else "")
            )
        for contract in load_contracts().values():
            ensure_raw_table(con, contract)  # an entity never loaded is an empty table: dbt reads it
        refresh_orphans(con, list(load_contracts().values()))
        write_field_policy(con)  # what dbt reads of the contracts' critical fields and the policy
    return 0


def _has_drops(raw_dir: Path) -> bool:
    from dagster_project.contracts import load_contracts
    from dagster_project.ingest.drops import find_drops

    return raw_dir.is_dir() and any(find_drops(raw_dir, c) for c in load_contracts().values())


def cmd_check(args: argparse.Namespace) -> int:
    """The dry run: what a load would do with each file of the raw folder; loads nothing."""
    from dagster_project.deployment import deployment_dir
    from dagster_project.mapping.check import run_check

    settings = _settings(args)
    return run_check(settings.raw_dir, deployment_dir(), args.only, args.entity, args.all_files)


def _no_extracts(raw_dir: Path) -> str:
    """The error for a raw folder without extracts: the expected layout, and what the folder holds."""
    from dagster_project.contracts import load_contracts
    from dagster_project.ingest.inventory import scan_entity_folder, stray_entries

    contracts = list(load_contracts().values())
    if not raw_dir.is_dir():
        lines = [f"error: no extracts in {raw_dir}: the folder does not exist."]
    else:
        lines = [f"error: no extracts in {raw_dir}: no file here is an extract the loader reads."]
    lines += [
        "Expected: one folder per entity, one file per delivery (.csv, .csv.gz, .parquet or .xlsx), e.g.",
        f"  {raw_dir}/crm/accounts/accounts_2026-11-24.csv",
        "or a system's own exports that a mapping in the deployment folder routes to the entities",
        "  (e.g. <raw>/salesforce/Opportunity.csv with mappings/salesforce.yml: README, bring your own exports).",
        "Entities:",
    ]
    by_source: dict[str, list[str]] = {}
    for contract in contracts:
        by_source.setdefault(contract.source, []).append(contract.entity)
    lines += [f"  {source}: {', '.join(sorted(names))}" for source, names in sorted(by_source.items())]
    if raw_dir.is_dir():
        found = stray_entries(raw_dir, contracts)
        found += [e for c in contracts for e in scan_entity_folder(raw_dir, c).ignored]
        if found:
            lines.append("Found instead (not read):")
            lines += [f"  {e.relative_path}: {e.reason}" for e in sorted(found, key=lambda e: e.relative_path)]
    lines.append(
        "The sample company is written only by `python -m dagster_project generate --out <folder>` "
        f"(or by `make run` on the default {DEFAULT_RAW_DIR})."
    )
    return "\n".join(lines)


def _is_default_raw_dir(raw_dir: Path) -> bool:
    return raw_dir.absolute() == Path(DEFAULT_RAW_DIR).absolute()


def cmd_run(args: argparse.Namespace) -> int:
    """Materialize every asset (the daily job). Without extracts: an error showing the layout, except
    for `make run` (--sample-if-empty) on the default raw folder, which generates the sample first."""
    import dagster as dg

    from dagster_project.console import new_run_log
    from dagster_project.deployment import deployment_dir, load_policy
    from dagster_project.warehouse import WarehouseLocked, check_not_locked

    settings = _settings(args)
    load_policy(deployment_dir())  # a broken policy.yml: one error (main), not one per step that reads it
    log_path = None
    if not _has_drops(settings.raw_dir):
        if not (args.sample_if_empty and _is_default_raw_dir(settings.raw_dir)):
            _print(_no_extracts(settings.raw_dir))
            return 2
        log_path = new_run_log(settings.warehouse)
        with log_path.open("a", encoding="utf-8") as log:  # the generator's progress, entity by entity
            _generate(
                settings.raw_dir,
                args.scale,
                args.seed,
                args.end,
                "default",
                progress=_print if args.verbose else lambda line: print(line, file=log, flush=True),
            )
    try:
        check_not_locked(settings.warehouse)
    except WarehouseLocked as exc:
        _print(f"error: {exc}")
        return 1
    if not args.force:
        from dagster_project.publish.fingerprint import nothing_new

        current = nothing_new(settings.warehouse, settings.raw_dir, settings.bi_dir)
        if current:
            print(
                f"nothing new: no new drop in {settings.raw_dir}, and the BI snapshot {current['snapshot_id']} "
                f"was built from the same drops, code and as-of date; no run started (`run --force` runs anyway). "
                f"Snapshot: {(settings.bi_dir / 'marts.duckdb').absolute()}"
            )
            from dagster_project.alerts.delivery import retry_undelivered  # what earlier runs failed to send

            for r in retry_undelivered(settings.warehouse, settings.bi_dir):
                print(f"alerts to {r.notifier}: {r.delivered} delivered, {r.pending} pending ({r.error or 'ok'})")
            return 0
    ensure_dagster_home()

    from dagster_project import early_workers
    from dagster_project.console import RunConsole

    console = RunConsole(log_path or new_run_log(settings.warehouse), verbose=args.verbose, group_steps={})
    _print(f"run log: {console.log_path}")
    started = time.monotonic()
    try:
        # the workers beside the dbt build import their libraries on the core Dagster's start leaves idle
        early_workers.start(settings.warehouse)
        with console.capture():  # importing the code location may warn: that goes to the log too
            from dagster_project.definitions import defs
            from dagster_project.defs.ingest.assets import INGEST_ASSETS
            from dagster_project.jobs import refresh_job
            from dagster_project.publish.fingerprint import FORCE_TAG

            console.steps.group_steps.update({a.op.name: "ingest" for a in INGEST_ASSETS})
            job = defs.resolve_job_def(refresh_job.name).with_logger_defs(console.logger_defs())
            with dg.DagsterInstance.get() as instance:
                result = job.execute_in_process(
                    run_config=console.run_config(),
                    instance=instance,
                    raise_on_error=False,
                    tags={FORCE_TAG: "true"} if args.force else None,
                )
        from dagster_project.report import print_run_summary

        published = print_run_summary(
            settings, result, time.monotonic() - started, log_path=console.log_path, warnings=console.warning_lines()
        )
    finally:
        try:
            early_workers.discard_untaken()  # the run stopped before its ingestion adopted them
        except Exception as exc:  # the run's own outcome is what the summary says, not this
            _print(f"stopping the workers the run did not use: {exc}")
        console.close()
        if console.log.failed:  # e.g. the disk of the warehouse folder is full
            _print(f"run log incomplete: {console.log.failed} ({console.log_path})")
    return 0 if result.success and published else 1


def cmd_dev(args: argparse.Namespace) -> int:
    """The Dagster UI (webserver + daemon) on this code location."""
    import subprocess

    _settings(args)
    ensure_dagster_home()
    command = ["dagster", "dev", "-m", "dagster_project.definitions", "-h", args.host, "-p", str(args.port)]
    return subprocess.call(command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s2s", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def paths(p: argparse.ArgumentParser) -> None:
        p.add_argument("--raw-dir", type=Path, help="raw extract folder (env S2S_RAW_DIR, default data/raw)")
        p.add_argument("--warehouse", type=Path, help="DuckDB file (env S2S_WAREHOUSE)")
        p.add_argument("--bi-dir", type=Path, help="BI snapshot folder (env S2S_BI_DIR)")
        p.add_argument("--as-of", type=date.fromisoformat, help="reference date YYYY-MM-DD (env S2S_AS_OF)")
        deployment(p)

    def deployment(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--deployment-dir",
            type=Path,
            help="the company's policy.yml and mappings/ (env S2S_DEPLOYMENT_DIR, default deployment)",
        )

    def sample(p: argparse.ArgumentParser) -> None:
        p.add_argument("--scale", type=float, default=1.0, help="company size; 1 = the strategy documents' company")
        p.add_argument("--seed", type=int, default=7)
        p.add_argument("--end", type=date.fromisoformat, default=date(2026, 10, 31), help="last day of the data")

    g = sub.add_parser("generate", help="write the sample company's extracts as dated drops")
    sample(g)
    g.add_argument("--out", type=Path, default=Path(os.environ.get("S2S_RAW_DIR") or "data/raw"))
    g.add_argument("--profile", default="default", help="mess profile: default | baseline (CRM < 60%% complete)")
    g.add_argument(
        "--shape",
        choices=["native", "salesforce", "hubspot"],
        default="native",
        help="write the CRM entities as a Salesforce or HubSpot export (loaded through its preset)",
    )
    g.set_defaults(func=cmd_generate)

    c = sub.add_parser("check", help="dry run: what a load would do with each file (loads nothing)")
    c.add_argument("--raw-dir", type=Path, help="raw extract folder (env S2S_RAW_DIR, default data/raw)")
    deployment(c)
    c.add_argument("--entity", action="append", help="only this <source>.<entity> (repeatable)")
    c.add_argument("--only", action="append", help="only files matching this glob (name, or path with /)")
    c.add_argument("--all-files", action="store_true", help="list every file, not only those with problems")
    c.set_defaults(func=cmd_check)

    i = sub.add_parser("ingest", help="load new drops into the warehouse (no Dagster)")
    paths(i)
    i.add_argument("--entity", action="append", help="only this <source>.<entity> (repeatable)")
    i.set_defaults(func=cmd_ingest)

    r = sub.add_parser("run", help="materialize every asset: ingest, dbt build, checks, publish, alerts")
    paths(r)
    sample(r)
    r.add_argument(
        "--force",
        action="store_true",
        help="rebuild, check and publish even when nothing changed since the published snapshot",
    )
    r.add_argument(
        "--sample-if-empty",
        action="store_true",
        help=f"generate the sample company when the raw folder is the default {DEFAULT_RAW_DIR} and holds no "
        "extract (what `make run` does); any other folder without extracts is an error",
    )
    r.add_argument(
        "--verbose",
        action="store_true",
        help="print Dagster's and dbt's full logs on screen too (they always go to the run log file)",
    )
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("dev", help="open the Dagster UI (dagster dev) on this project")
    paths(d)
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=3000)
    d.set_defaults(func=cmd_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    from dagster_project.deployment import PolicyError
    from dagster_project.mapping.spec import MappingError

    args = build_parser().parse_args(argv)
    # `s2s run` from the command line (not a call from Python) is one job, then exit
    batch = argv is None and args.command == "run"
    if batch:
        gc_tuning.tune_for_batch()
    try:
        return args.func(args)
    except (MappingError, PolicyError) as exc:  # the deployment's own files: say which entry, no traceback
        print(f"error in the deployment folder: {exc}", file=sys.stderr)
        return 2
    finally:
        if batch:
            gc_tuning.before_exit()
