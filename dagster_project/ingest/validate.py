"""Value checks of one drop: types, allowed values, patterns, ranges, empty keys, duplicate keys.

Everything is one SQL pass over the rows as read (all VARCHAR) that yields the contract's columns
typed, the extra columns as read, and `_problems`, a list of (column, value, reason) for the row.
A row with any problem goes to quarantine; the rest load.
"""

from __future__ import annotations

from dagster_project.contracts import Column, Contract
from dagster_project.warehouse import literal, quote

_TRUE = ("true", "t", "1", "yes", "y", "是")
_FALSE = ("false", "f", "0", "no", "n", "否")


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
        # Without an offset the value is Asia/Shanghai time (the session zone); stored as local time.
        return f"timezone('Asia/Shanghai', try_cast({raw} as timestamptz))"
    return f"try_cast({raw} as {column.type})"


def _problem(column: Column, condition: str, value: str, reason: str, label: str | None = None) -> tuple[str, str]:
    """(condition, the problem's struct when it holds); `label` names the column as the file does."""
    name = label or column.name
    return condition, (
        f"case when {condition} then struct_pack(column_name := {literal(name)}, "
        f"value := {value}, reason := {literal(name + ': ' + reason)}) end"
    )


def checked_select(
    contract: Contract,
    header: list[str],
    table: str = "_drop_raw",
    keep: tuple[str, ...] = ("_line",),
    labels: dict[str, str] | None = None,
) -> str:
    """The SELECT of the checked rows of `table` (read from files with this header): the contract's
    columns typed, extra columns as read, the `keep` columns, and `_problems`. `labels` maps a
    contract column to the name a mapped export gives it, for the problems' column and reason."""
    by_lower = {h.lower(): h for h in header}
    contract_names = {c.name for c in contract.columns}
    selects, problems = list(keep), []
    for column in contract.columns:
        label = (labels or {}).get(column.name)
        source = by_lower.get(column.name)
        raw = f"nullif(trim({quote(source)}), '')" if source is not None else "null::varchar"
        typed = _typed(column, raw)
        if column.default is not None:
            typed = f"coalesce({typed}, {literal(column.default)})"
        selects.append(f"{typed} as {quote(column.name)}")
        if source is not None and column.type != "varchar":
            problems.append(
                _problem(
                    column,
                    f"{raw} is not null and {typed} is null",
                    raw,
                    f"cannot read the value as {column.type}",
                    label,
                )
            )
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
        if not column.nullable:
            problems.append(
                _problem(column, f"{raw} is null", "null::varchar", "empty, but the key needs a value", label)
            )
    extras = [h for h in header if h.lower() not in contract_names]
    selects += [quote(h) for h in extras]
    problem_list = "[]"
    if problems:
        # Most rows have no problem: test the conditions first, and build the list only for the
        # others (a list per row of mostly-null structs is the costliest part of the checks).
        any_problem = " or ".join(f"coalesce({condition}, false)" for condition, _ in problems)
        listed = "list_filter([" + ", ".join(struct for _, struct in problems) + "], lambda p: p is not null)"
        problem_list = f"case when {any_problem} then {listed} else [] end"
    return f"select {', '.join(selects)}, {problem_list} as _problems from {table}"


def raw_record_sql(header: list[str], alias: str = "r") -> str:
    """JSON text of a row of `_drop_raw` as read, kept with quarantined rows so nothing is lost."""
    return "to_json(struct_pack(" + ", ".join(f"{quote(h)} := {alias}.{quote(h)}" for h in header) + "))::varchar"


def extra_columns(contract: Contract, header: list[str]) -> list[str]:
    names = {c.name for c in contract.columns}
    return [h for h in header if h.lower() not in names]


def missing_required(contract: Contract, header: list[str]) -> list[str]:
    present = {h.lower() for h in header}
    return [c for c in contract.required_columns if c not in present]


def not_delivered_columns(contract: Contract, header: list[str]) -> list[str]:
    """Contract columns absent from a drop's header: they load as NULL (or their default)."""
    present = {h.lower() for h in header}
    return [c for c in contract.column_names if c not in present]
