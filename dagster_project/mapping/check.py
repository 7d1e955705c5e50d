"""The dry run: what a load of the raw folder would do, file by file, without loading anything.

For every file the deployment routes to an entity (native folders and mappings), the same reading,
mapping and contract validation as a load run in an in-memory database: rows, rows that would load
or be quarantined (first problems with line and the column as the export spells it), missing,
extra and not-delivered columns; then, per entity, the completeness of each critical field in the
rows that would load, against the deployment's policy.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.contracts import Contract, load_contracts
from dagster_project.deployment import Policy
from dagster_project.ingest.drops import Drop, find_drops
from dagster_project.ingest.read import FileRejected, read_drop
from dagster_project.ingest.validate import (
    checked_select,
    extra_columns,
    not_delivered_columns,
    reject_missing_required,
)
from dagster_project.mapping.discover import matches, unmatched_files
from dagster_project.mapping.spec import Mapping
from dagster_project.warehouse import TIME_ZONE, duckdb_settings, literal, quote

FIRST_PROBLEMS = 5  # problems shown per file
FILES_IN_DETAIL = 3  # files with problems shown with their problems, per entity and mapping rule
FILES_LISTED = 10  # further files with problems listed on one line each


@dataclass
class FileCheck:
    drop: Drop
    rows: int = 0  # records read (skipped rows excluded), malformed ones included
    rows_skipped: int = 0
    rows_quarantined: int = 0
    rejected: str | None = None
    not_delivered: dict[str, str] = field(default_factory=dict)  # column -> why
    extras: list[str] = field(default_factory=list)
    unused: list[str] | None = None  # a mapped file's columns no rule reads (None: native file)
    problems: list[tuple[int | None, str, str]] = field(default_factory=list)  # (line, where, reason)
    filled: dict[str, int] = field(default_factory=dict)  # critical column -> non-empty values in loading rows

    @property
    def rows_loading(self) -> int:
        return self.rows - self.rows_quarantined

    @property
    def via(self) -> str:
        return self.drop.mapping.label if self.drop.mapping else "native folder"


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config=duckdb_settings())
    con.execute(f"set TimeZone = {literal(TIME_ZONE)}")
    return con


def check_drop(con: duckdb.DuckDBPyConnection, contract: Contract, drop: Drop) -> FileCheck:
    """Read, map and validate one drop into temp tables; nothing is written anywhere."""
    from dagster_project.mapping.apply import read_mapped_drop

    result = FileCheck(drop=drop)
    try:
        read = read_mapped_drop(con, drop, contract) if drop.mapping else read_drop(con, drop)
        reject_missing_required(contract, read.header, drop.path, read.encoding)
    except FileRejected as exc:
        result.rejected = str(exc)
        return result
    labels = getattr(read, "labels", {})
    why = getattr(read, "not_delivered", {})
    result.not_delivered = {c: why.get(c, "not in the file") for c in not_delivered_columns(contract, read.header)}
    result.extras = extra_columns(contract, read.header)
    result.unused = getattr(read, "unused", None)
    result.rows_skipped = getattr(read, "rows_skipped", 0)
    unknown = getattr(read, "day_order_unknown", ())
    checked = checked_select(contract, read.header, labels=labels, day_order_unknown=unknown)
    con.execute(f"create or replace temp table _checked as {checked}")
    key = ", ".join(quote(k) for k in contract.primary_key)
    good = "len(_problems) = 0"
    rows, bad, duplicates = con.execute(
        f"""select count(*), count(*) filter (not {good}),
                   coalesce((select sum(n - 1) from (select count(*) as n from _checked where {good}
                             group by {key} having count(*) > 1)), 0)
            from _checked"""
    ).fetchall()[0]
    result.rows = rows + len(read.malformed)
    result.rows_quarantined = bad + int(duplicates) + len(read.malformed)
    problems = con.execute(
        f"""select _line, p.column_name, p.value, p.reason
            from (select _line, unnest(_problems) as p from _checked where not {good})
            order by _line limit {FIRST_PROBLEMS}"""
    ).fetchall()
    result.problems = [(m.line, "row", m.reason) for m in read.malformed[:FIRST_PROBLEMS]]
    hints = _value_map_hints(drop, labels)
    result.problems += [
        (line, f"{col} = {value!r}" if value is not None else col, reason.removeprefix(f"{col}: ") + hints.get(col, ""))
        for line, col, value, reason in problems
    ]
    result.problems = sorted(result.problems, key=lambda p: p[0] or 0)[:FIRST_PROBLEMS]
    if duplicates:
        result.problems.append((None, ", ".join(contract.primary_key), f"{duplicates} rows repeat a key of the file"))
    critical = [c.name for c in contract.critical_columns if c.name in read.header or c.default is not None]
    if critical:
        counts = con.execute(
            f"select {', '.join(f'count({quote(c)})' for c in critical)} from _checked where {good}"
        ).fetchall()[0]
        result.filled = dict(zip(critical, counts, strict=True))
    con.execute("drop table _checked; drop table if exists _drop_raw")
    return result


def _value_map_hints(drop: Drop, labels: dict[str, str]) -> dict[str, str]:
    """For a mapped column with a value map: say which map lacks the value (the usual fix)."""
    if drop.mapping is None:
        return {}
    hints = {}
    for target, label in labels.items():
        rule = drop.mapping.rule.column(target)
        if rule is not None and rule.values:
            name = f"values.{rule.values_name}" if rule.values_name else f"the value map of {target}"
            hints[label] = f" (and {name} in the mapping does not map it)"
    return hints


@dataclass
class EntityCheck:
    contract: Contract
    files: list[FileCheck] = field(default_factory=list)

    def completeness(self, policy: Policy, default_severity: str) -> list[tuple[str, str, str, bool]]:
        """(field, status, text, blocks) per critical field, status one of on_target, below_target,
        not_delivered, not_collected, no_rows: the share filled in the rows that would load."""
        loading = sum(f.rows_loading for f in self.files if not f.rejected)
        out = []
        for column in self.contract.critical_columns:
            name, entity = column.name, self.contract.name
            if not policy.is_collected(entity, name):
                out.append((name, "not_collected", "not collected", False))
                continue
            rule = policy.rule(entity, name)
            target = rule.target if rule.target is not None else self.contract.target_for(column)
            severity = rule.severity or default_severity
            filled = sum(f.filled.get(name, 0) for f in self.files if not f.rejected)
            delivered = any(name in f.filled for f in self.files if not f.rejected)
            if not loading:
                out.append((name, "no_rows", "no rows", False))
            elif not delivered:
                warn = ", warn only" if severity == "warn" else ""
                out.append((name, "not_delivered", f"(target {target:.0%}{warn})", severity == "error"))
            else:
                share = filled / loading
                status = "on_target" if share >= target else "below_target"
                text = f"{share:.1%}" + ("" if status == "on_target" else f" < {target:.0%} ({severity})")
                out.append((name, status, text, status == "below_target" and severity == "error"))
        return out


def check_raw(
    raw_dir: Path,
    policy: Policy,
    mappings: tuple[Mapping, ...],
    only: list[str] | None = None,
    entities: list[str] | None = None,
) -> list[EntityCheck]:
    """Check every file the deployment routes to an entity (or those matching `only`, globs on the
    path under the raw folder)."""
    con = _connect()
    try:
        results = []
        for contract in load_contracts().values():
            if entities and contract.name not in entities:
                continue
            if not policy.is_delivered(contract.name):
                continue
            entity = EntityCheck(contract)
            for drop in find_drops(raw_dir, contract):
                if only and not matches(drop.relative_path, tuple(only)):
                    continue
                entity.files.append(check_drop(con, contract, drop))
            results.append(entity)
        return results
    finally:
        con.close()


_STATUS_HEADINGS = (
    ("below_target", "BELOW TARGET"),
    ("not_delivered", "NOT DELIVERED (map it, or declare it not_collected in policy.yml)"),
    ("on_target", "on target"),
    ("not_collected", "not collected (policy.yml: out of the gate)"),
    ("no_rows", "no rows to measure"),
)


def _columns_line(f: FileCheck, labels_limit: int = 8) -> str:
    parts = []
    if f.not_delivered:
        items = [f"{c} ({why})" if why != "not in the file" else c for c, why in f.not_delivered.items()]
        parts.append("not delivered (NULL): " + ", ".join(items))
    extras, what = (f.extras, "extra (kept)") if f.unused is None else (f.unused, "not read by the mapping (kept)")
    if extras:
        more = f" (+{len(extras) - labels_limit})" if len(extras) > labels_limit else ""
        parts.append(f"{what}: {', '.join(extras[:labels_limit])}{more}")
    return "; ".join(parts) or "every contract column delivered"


def _over_quarantine_limit(f: FileCheck, limit: float | None) -> bool:
    return limit is not None and not f.rejected and f.rows > 0 and f.rows_quarantined / f.rows > limit


def _file_line(f: FileCheck, limit: float | None = None) -> str:
    if f.rejected:
        return f"{f.drop.relative_path}: REJECTED: {f.rejected}"
    skipped = f", {f.rows_skipped} skipped by the mapping" if f.rows_skipped else ""
    quarantined = f", {f.rows_quarantined} quarantined" if f.rows_quarantined else ""
    if _over_quarantine_limit(f, limit):
        quarantined += f" ({f.rows_quarantined / f.rows:.1%} > max_quarantine_share {limit:.0%})"
    return f"{f.drop.relative_path}: {f.rows} rows, {f.rows_loading} load{quarantined}{skipped}"


def render(
    results: list[EntityCheck],
    policy: Policy,
    raw_dir: Path,
    mappings: tuple[Mapping, ...],
    default_severity: str,
    all_files: bool = False,
    out: Callable[[str], None] = print,
    quarantine_limit: float | None = None,
) -> bool:
    """Print the report; True when a load would go through (no file rejected, no blocking gap, no file
    quarantining more than `quarantine_limit` of its rows: the gate's quarantine_share, when it blocks)."""
    ok = True
    empty = []
    for entity in results:
        if not entity.files:
            empty.append(entity.contract.name)
            continue
        out(f"\n{entity.contract.name}")
        groups: dict[str, list[FileCheck]] = {}
        for f in entity.files:
            groups.setdefault(f.via, []).append(f)
        for via, files in groups.items():
            rows = sum(f.rows for f in files)
            loading = sum(f.rows_loading for f in files if not f.rejected)
            rejected = [f for f in files if f.rejected]
            ok = ok and not rejected and not any(_over_quarantine_limit(f, quarantine_limit) for f in files)
            out(
                f"  via {via}: {len(files)} file(s), {rows:,} rows, {loading:,} would load"
                + (f", {len(rejected)} REJECTED" if rejected else "")
            )
            shown_columns = None
            in_detail = listed = 0
            quiet = []
            for f in files:
                columns = _columns_line(f)
                # rows the mapping's skip rule leaves out are no problem: counted in the quiet line
                noisy = f.rejected or f.rows_quarantined or all_files
                if not noisy:
                    quiet.append(f)
                    if columns != shown_columns and not f.rejected:
                        out(f"    columns: {columns}")
                        shown_columns = columns
                    continue
                if columns != shown_columns and not f.rejected:
                    out(f"    columns: {columns}")
                    shown_columns = columns
                if in_detail < FILES_IN_DETAIL or all_files:
                    in_detail += 1
                    out(f"    {_file_line(f, quarantine_limit)}")
                    for line, where, reason in f.problems:
                        out(f"      {'line ' + str(line) if line else 'file'}: {where}: {reason}")
                elif listed < FILES_LISTED:
                    listed += 1
                    out(f"    {_file_line(f, quarantine_limit)}")
            more = len(files) - len(quiet) - in_detail - listed
            if more > 0:
                out(f"    ... {more} more file(s) rejected or with quarantined rows")
            if quiet:
                skipped = sum(f.rows_skipped for f in quiet)
                out(
                    f"    {len(quiet)} file(s) without problems ({sum(f.rows for f in quiet):,} rows"
                    + (f", {skipped:,} skipped by the mapping)" if skipped else ")")
                )
        fields = entity.completeness(policy, default_severity)
        if fields:
            ok = ok and not any(blocks for *_, blocks in fields)
            out("  completeness of critical fields (rows that would load, against the policy):")
            by_status: dict[str, list[str]] = {}
            for name, status, text, _ in fields:
                by_status.setdefault(status, []).append(f"{name} {text}" if status != "not_collected" else name)
            for status, heading in _STATUS_HEADINGS:
                if status in by_status:
                    out(f"    {heading}: {', '.join(by_status[status])}")
    if empty:
        out(f"\nno files for: {', '.join(empty)}")
        out("  (a company that does not export an entity declares it under not_delivered in policy.yml)")
    unmatched = unmatched_files(raw_dir, mappings)
    if unmatched:
        shown = ", ".join(unmatched[:5]) + (f" (+{len(unmatched) - 5})" if len(unmatched) > 5 else "")
        out(f"\nfiles in mapping folders that no rule reads: {shown}")
    return ok


def run_check(
    raw_dir: Path,
    deployment: Path,
    only: list[str] | None = None,
    entities: list[str] | None = None,
    all_files: bool = False,
) -> int:
    """`python -m dagster_project check`: print the dry run, return the exit code (0: a load would go through)."""
    from dagster_project.deployment import PolicyError, load_policy
    from dagster_project.mapping.spec import MappingError, load_mappings
    from dagster_project.quality.config import quality_config, severity

    started = time.monotonic()
    try:
        policy = load_policy(deployment)
        mappings = load_mappings(deployment)
    except (PolicyError, MappingError) as exc:
        print(f"check: {exc}", file=sys.stderr)
        return 2
    names = ", ".join(m.path.name for m in mappings if m.path) or "none"
    print(
        f"check (nothing is loaded): raw folder {raw_dir} · deployment {deployment} "
        f"(policy: {policy.path.name if policy.path else 'none'}; mappings: {names})"
    )
    if policy.not_delivered:
        print(f"not delivered (policy): {', '.join(sorted(policy.not_delivered))}")
    results = check_raw(raw_dir, policy, mappings, only, entities)
    limit = quality_config()["max_quarantine_share"] if severity("quarantine_share") == "error" else None
    ok = render(results, policy, raw_dir, mappings, severity("completeness"), all_files, quarantine_limit=limit)
    files = sum(len(e.files) for e in results)
    print(
        f"\n{files} file(s) checked in {time.monotonic() - started:.1f}s: "
        + ("a load would go through" if ok else "a load would reject files or block the publish (see above)")
    )
    return 0 if ok else 1
