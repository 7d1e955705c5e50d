"""Value checks of one drop: types, allowed values, patterns, ranges, empty keys, duplicate keys.

Everything is one SQL pass over the rows as read (all VARCHAR) that yields the contract's columns
typed, the extra columns as read, and `_problems`, a list of (column, value, reason) for the row.
A row with any problem goes to quarantine; the rest load.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from dagster_project.contracts import Column, Contract
from dagster_project.ingest.inspect import FileRejected, TextFacts, header_further_down
from dagster_project.mapping.formats import DAY_OR_MONTH_FIRST
from dagster_project.warehouse import TIME_ZONE, literal, quote, warehouse_config

_TRUE = ("true", "t", "1", "yes", "y", "是")
_FALSE = ("false", "f", "0", "no", "n", "否")
_DECIMAL = re.compile(r"decimal\((\d+),(\d+)\)", re.IGNORECASE)


@dataclass(frozen=True)
class ValueRules:
    """Rules on values beyond each column's own (config/warehouse.yml, section ingest)."""

    earliest: date  # dates and timestamps outside [earliest, latest] are not plausible
    latest: date
    aliases: dict[str, dict[str, str]]  # table -> {folded spelling: value}

    def aliases_for(self, column: Column) -> dict[str, str]:
        if column.aliases not in self.aliases:
            raise KeyError(f"column {column.name} names alias table {column.aliases!r}, not in ingest.value_aliases")
        return self.aliases[column.aliases]


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def value_rules(as_of: date | None = None) -> ValueRules:
    """The rules as of `as_of` (default S2S_AS_OF, else today: the day of ingestion)."""
    config = warehouse_config("ingest")
    if as_of is None:
        as_of = date.fromisoformat(os.environ["S2S_AS_OF"]) if os.environ.get("S2S_AS_OF") else date.today()
    plausible = config["plausible_dates"]
    aliases = {
        table: {str(spelling).strip().lower(): code for code, spellings in codes.items() for spelling in spellings}
        for table, codes in (config.get("value_aliases") or {}).items()
    }
    return ValueRules(
        earliest=plausible["earliest"],
        latest=_years_after(as_of, int(plausible["years_after_as_of"])),
        aliases=aliases,
    )


def _normalised(column: Column, raw: str, rules: ValueRules) -> str:
    """The trimmed text with the column's aliases applied and case folded (` Cny `, RMB -> CNY)."""
    whens = " ".join(f"when {literal(s)} then {literal(v)}" for s, v in rules.aliases_for(column).items())
    return f"case lower({raw}) {whens} else upper({raw}) end"


def _typed(column: Column, raw: str) -> str:
    """SQL turning the trimmed text `raw` into the column's type; NULL when it does not parse."""
    kind = column.type.lower()
    if kind == "varchar":
        return raw
    if kind == "boolean":
        true_set = ", ".join(map(literal, _TRUE))
        false_set = ", ".join(map(literal, _FALSE))
        return f"case when lower({raw}) in ({true_set}) then true when lower({raw}) in ({false_set}) then false end"
    if kind == "timestamp":
        # Without an offset the value is the warehouse's time (the session zone); stored as local time.
        # The common spelling (`2024-05-01 09:30:00`, exactly 19 characters) is read as it stands,
        # which is what the time-zone round trip gives for it, in under half the time (issue 14);
        # anything else (an offset, `T`, `Z`, fractions, a date alone) takes the round trip.
        zoned = f"timezone({literal(TIME_ZONE)}, try_cast({raw} as timestamptz))"
        return f"coalesce(case when length({raw}) = 19 then try_strptime({raw}, '%Y-%m-%d %H:%M:%S') end, {zoned})"
    return f"try_cast({raw} as {column.type})"


def _problem(column: Column, condition: str, value: str, reason: str, label: str | None = None) -> tuple[str, str]:
    """(condition, the problem's struct when it holds); `label` names the column as the file does."""
    name = label or column.name
    return condition, (
        f"case when {condition} then struct_pack(column_name := {literal(name)}, "
        f"value := {value}, reason := {literal(name + ': ' + reason)}) end"
    )


def _range_problem(
    column: Column, typed: str, raw: str, rules: ValueRules, label: str | None = None
) -> tuple[str, str]:
    kind = column.type.lower()
    first, after = literal(rules.earliest.isoformat()), literal((rules.latest + timedelta(days=1)).isoformat())
    return _problem(
        column,
        f"({typed} < {kind} {first} or {typed} >= {kind} {after})",
        raw,
        f"outside the plausible range {rules.earliest} .. {rules.latest} (ingest.plausible_dates)",
        label,
    )


def _scale(column: Column) -> int | None:
    """Decimal places the column keeps (None: not an exact number type)."""
    if column.type.lower() == "bigint":
        return 0
    match = _DECIMAL.fullmatch(column.type)
    return int(match.group(2)) if match else None


def _scale_problem(column: Column, typed: str, raw: str, label: str | None = None) -> tuple[str, str] | None:
    """A number with more places than the column keeps would be rounded (`1e-7` -> 0.00, `1.5` -> 2)."""
    scale = _scale(column)
    if scale is None or scale >= 18:
        return None
    exact = f"try_cast({raw} as decimal(38, 18))"
    return _problem(
        column,
        f"({exact} <> {typed} or ({typed} = 0 and try_cast({raw} as double) <> 0))",
        raw,
        f"more decimal places than {column.type} keeps ({scale}): it would be rounded",
        label,
    )


_EXCEL_SCIENTIFIC = r"[0-9]([.,][0-9]+)?E\+[0-9]+"


def checked_select(
    contract: Contract,
    header: list[str],
    table: str = "_drop_raw",
    keep: tuple[str, ...] = ("_line",),
    labels: dict[str, str] | None = None,
    rules: ValueRules | None = None,
    day_order_unknown: tuple[str, ...] = (),
    text: TextFacts | None = None,
) -> str:
    """The SELECT of the checked rows of `table` (read from files with this header): the contract's
    columns typed, extra columns as read, the `keep` columns, and `_problems`. `labels` maps a
    contract column to the name a mapped export gives it, for the problems' column and reason.
    `day_order_unknown`: date and timestamp columns of a mapping that does not say whether a date
    written 01/06/2026 is day or month first; such a value gets a reason that says so. `text`: what
    the scan of the files found (None: nothing known): a value that cannot have spaces at its edges is
    not trimmed, and one that cannot hold "E+" is not looked at as Excel's scientific notation (scale
    10's activities: each ~0.1 of the checks' 0.4 CPU s per 441 k rows)."""
    text = text or TextFacts()
    rules = rules or value_rules()
    by_lower = {h.lower(): h for h in header}
    contract_names = {c.name for c in contract.columns}
    keys = set(contract.primary_key) | {c for fk in contract.foreign_keys for c in fk.columns}
    extras = [quote(h) for h in header if h.lower() not in contract_names]
    # Three levels, so that each value is trimmed once and typed once: DuckDB does not share an
    # expression repeated in one SELECT (a timestamp parsed for its column and again in each range
    # check), but evaluates a subquery's column once. Measured: DECISIONLOG.md (issue 14).
    trimmed, typed_columns, selects, problems = list(keep), list(keep), list(keep), []
    for number, column in enumerate(contract.columns):
        label = (labels or {}).get(column.name)
        source = by_lower.get(column.name)
        raw = "null::varchar"
        if source is not None:
            raw = quote(f"__s2s_raw_{number}")
            value = f"trim({quote(source)})" if text.padded else quote(source)
            trimmed.append(f"nullif({value}, '') as {raw}")
            typed_columns.append(raw)
        parse = _normalised(column, raw, rules) if column.aliases else _typed(column, raw)
        if column.default is not None:
            parse = f"coalesce({parse}, {literal(column.default)})"
        typed_columns.append(f"{parse} as {quote(column.name)}")
        typed = quote(column.name)
        selects.append(typed)
        if source is not None and column.type != "varchar":
            unread = f"{raw} is not null and {typed} is null"
            if column.name in day_order_unknown:
                ambiguous = f"regexp_full_match({raw}, {literal(DAY_OR_MONTH_FIRST)})"
                problems.append(
                    _problem(
                        column,
                        f"{unread} and {ambiguous}",
                        raw,
                        f"cannot read the value as {column.type}: day or month first? The mapping does not "
                        "say: add `day_first: true` (01/06/2026 is 1 June) or `day_first: false` (6 January)",
                        label,
                    )
                )
                unread = f"{unread} and not {ambiguous}"
            problems.append(_problem(column, unread, raw, f"cannot read the value as {column.type}", label))
        if source is not None and column.type.lower() in ("date", "timestamp"):
            problems.append(_range_problem(column, typed, raw, rules, label))
        if source is not None and (scale := _scale_problem(column, typed, raw, label)):
            problems.append(scale)
        if column.allowed_values:
            allowed = ", ".join(map(literal, column.allowed_values))
            problems.append(
                _problem(
                    column,
                    f"{typed} not in ({allowed})",
                    raw,
                    f"not one of {', '.join(column.allowed_values)}",
                    label,
                )
            )
        if column.pattern:
            problems.append(
                _problem(
                    column,
                    f"not regexp_full_match({typed}, {literal(column.pattern)})",
                    raw,
                    "does not match the expected format",
                    label,
                )
            )
        if column.min is not None:
            problems.append(
                _problem(column, f"{typed} < {column.min}", raw, f"below the minimum {column.min:g}", label)
            )
        if column.max is not None:
            problems.append(
                _problem(column, f"{typed} > {column.max}", raw, f"above the maximum {column.max:g}", label)
            )
        if source is not None and column.name in keys and column.type == "varchar" and text.scientific:
            # A long numeric id that Excel opened and saved: 123456789012 -> 1.23457E+11, its digits gone.
            problems.append(
                _problem(
                    column,
                    f"contains({raw}, 'E+') and regexp_full_match({raw}, {literal(_EXCEL_SCIENTIFIC)})",
                    raw,
                    "a number as Excel writes it in scientific notation: the id's digits are lost "
                    "(saved from Excel? keep the column as text, or export the file again)",
                    label,
                )
            )
        if not column.nullable:
            problems.append(
                _problem(column, f"{raw} is null", "null::varchar", "empty, but the key needs a value", label)
            )
    selects += extras
    problem_list = "[]"
    if problems:
        # Most rows have no problem: test the conditions first, and build the list only for the
        # others (a list per row of mostly-null structs is the costliest part of the checks).
        any_problem = " or ".join(f"coalesce({condition}, false)" for condition, _ in problems)
        listed = "list_filter([" + ", ".join(struct for _, struct in problems) + "], lambda p: p is not null)"
        problem_list = f"case when {any_problem} then {listed} else [] end"
    trimmed_rows = f"select {', '.join(trimmed + extras)} from {table}"
    typed_rows = f"select {', '.join(typed_columns + extras)} from ({trimmed_rows})"
    return f"select {', '.join(selects)}, {problem_list} as _problems from ({typed_rows})"


def raw_record_sql(header: list[str], alias: str = "r") -> str:
    """JSON text of a row of `_drop_raw` as read, kept with quarantined rows so nothing is lost."""
    return "to_json(struct_pack(" + ", ".join(f"{quote(h)} := {alias}.{quote(h)}" for h in header) + "))::varchar"


def extra_columns(contract: Contract, header: list[str]) -> list[str]:
    names = {c.name for c in contract.columns}
    return [h for h in header if h.lower() not in names]


def missing_required(contract: Contract, header: list[str]) -> list[str]:
    present = {h.lower() for h in header}
    return [c for c in contract.required_columns if c not in present]


def reject_missing_required(contract: Contract, header: list[str], path: Path, encoding: str | None) -> None:
    """FileRejected naming the required columns the header lacks, and the line further down that
    holds them when a title sits above the header (`header_further_down`)."""
    missing = missing_required(contract, header)
    if missing:
        below = header_further_down(path, encoding, missing)
        raise FileRejected(f"missing required column(s) {', '.join(missing)}{below}")


def not_delivered_columns(contract: Contract, header: list[str]) -> list[str]:
    """Contract columns absent from a drop's header: they load as NULL (or their default)."""
    present = {h.lower() for h in header}
    return [c for c in contract.column_names if c not in present]
