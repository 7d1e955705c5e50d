"""Reading a mapped drop: the export's file as it is, then one SELECT that yields the contract's columns.

After `read_drop` has put the file into `_drop_raw` (all text, as the export spelled it), the file
rule is resolved against the file's header and one statement renames, maps values, normalises
formats, fills constants and defaults, derives columns, joins lookups and marks the rows to skip.
`_drop_raw` is then replaced by the mapped rows: the contract's delivered columns (text) followed by
the export's own columns (kept, as read), so that the unchanged contract validation, quarantine and
audit apply, and quarantine reasons name the export's column (`labels`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.contracts import Contract, load_contracts
from dagster_project.ingest.drops import Drop
from dagster_project.ingest.inspect import header_further_down
from dagster_project.ingest.read import HEADER_AGAIN, FileRejected, ReadResult, read_drop
from dagster_project.mapping.discover import MappedSource, drop_date_of, export_files, matches
from dagster_project.mapping.formats import MACROS, staged
from dagster_project.mapping.spec import ColumnRule, FileRule, Lookup, Mapping
from dagster_project.warehouse import attach_scratch, duckdb_settings, literal, quote

_RESERVED = {"_line", "_drop_seq", "_problems", "_rank", "_kept_line", "_raw_record", "_skip"}
# DuckDB's messages for a column the file (or a lookup's files) lack: the column is not delivered.
_MISSING_COLUMN = re.compile(
    r'Referenced column "?([^"\s]+)"? not found|does not have a column named "([^"]+)"', re.IGNORECASE
)


@dataclass
class Resolution:
    """A file rule resolved against one file's header."""

    selects: dict[str, str] = field(default_factory=dict)  # contract column -> SQL of the export's text
    rules: dict[str, ColumnRule] = field(default_factory=dict)  # contract column -> its rule (format, default)
    labels: dict[str, str] = field(default_factory=dict)  # contract column -> as the export spells it
    not_delivered: dict[str, str] = field(default_factory=dict)  # contract column -> why
    missing_required: list[str] = field(default_factory=list)  # "Id (opportunity_id)"
    missing_labels: list[str] = field(default_factory=list)  # "Id": as the export would spell them
    passed_through: list[str] = field(default_factory=list)  # export columns kept as extra columns
    unused: list[str] = field(default_factory=list)  # export columns no rule reads (kept all the same)


@dataclass
class MappedRead(ReadResult):
    """What reading a mapped drop gives beyond a native read."""

    labels: dict[str, str] = field(default_factory=dict)
    not_delivered: dict[str, str] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)
    rows_skipped: int = 0
    # date and timestamp columns whose 01/06/2026-style values the mapping does not say how to read
    day_order_unknown: tuple[str, ...] = ()


def _header_index(header: list[str]) -> dict[str, str]:
    return {h.lower(): h for h in header}


def _bind_error(con: duckdb.DuckDBPyConnection, sql: str, joins: str) -> str | None:
    """None when `sql` binds over the drop's row and lookups, else DuckDB's message."""
    try:
        con.execute(f"select {sql} from _drop_raw src {joins} limit 0").fetchall()
    except duckdb.Error as exc:
        return str(exc).split("\n")[0]
    return None


def _column_sql(
    con: duckdb.DuckDBPyConnection,
    rule: ColumnRule,
    mapping: Mapping,
    by_lower: dict[str, str],
    joins: str,
) -> tuple[str | None, str, str | None]:
    """(SQL of the export's text for the column, after its value map, or None; label; why it is not
    delivered). Formats and the default are applied over it in later stages (`mapped_select`)."""
    if rule.constant is not None:
        return literal(rule.constant), f"{rule.target} (constant)", None
    if rule.sql is not None:
        error = _bind_error(con, rule.sql, joins)
        if error:
            missing = _MISSING_COLUMN.search(error)
            if not missing:
                raise FileRejected(f"the SQL of {rule.target} in the mapping does not run: {error}")
            absent = missing.group(1) or missing.group(2)
            return None, f"{rule.target} (derived)", f"its SQL needs {absent!r}, absent from the file or lookup"
        base, label = f"({rule.sql})::varchar", f"{rule.target} (derived)"
    else:
        present = [by_lower[c.lower()] for c in rule.columns if c.lower() in by_lower]
        if not present and rule.target == "currency" and mapping.currency:
            return literal(mapping.currency), "currency (mapping default)", None
        if not present:
            return None, " or ".join(rule.columns), f"{' / '.join(rule.columns)} not in the file"
        if len(present) == 1:
            base = f"src.{quote(present[0])}"
        else:  # several of the listed columns: the first non-empty value, in the listed order
            base = "coalesce(" + ", ".join(f"nullif(trim(src.{quote(c)}), '')" for c in present) + ")"
        label = " / ".join(present)
    if rule.values:
        base = _value_case(base, rule.values)
    return base, label, None


def _value_case(x: str, values: tuple[tuple[str, str], ...]) -> str:
    """The mapped value of `x` (matched trimmed, in any case); a value the map lacks stays as it is."""
    cases = " ".join(f"when {literal(k.strip().lower())} then {literal(v)}" for k, v in values)
    return f"(case lower(trim({x})) {cases} else {x} end)"


def _lookup_join(lookup: Lookup, table: str, by_lower: dict[str, str]) -> str:
    on = f"src.{quote(by_lower[lookup.on.lower()])}" if lookup.on.lower() in by_lower else f"({lookup.on})"
    return f"left join {table} as {quote(lookup.alias)} on {quote(lookup.alias)}.{quote(lookup.key)} = {on}"


def ensure_lookup(con: duckdb.DuckDBPyConnection, source: MappedSource, lookup: Lookup) -> str:
    """A temp table of the lookup's files (one row per key: the newest drop's, then the last line),
    built once per connection and set of files."""
    raw_dir = source.folder.parents[len(source.mapping.folder.split("/")) - 1]
    files = [r for r in export_files(source.folder) if matches(r, lookup.patterns)]
    stats = [(r, (source.folder / r).stat()) for r in files]
    stats.sort(key=lambda item: (drop_date_of(item[0], item[1].st_mtime)[0], item[0]))
    layout = f"|{lookup.key}|{lookup.sheet}|{lookup.header_row}|{lookup.footer_rows}"  # two sheets, two tables
    signature = "|".join(f"{r}:{s.st_size}:{s.st_mtime_ns}" for r, s in stats) + layout
    table = "_lookup_" + hashlib.sha256(signature.encode()).hexdigest()[:16]
    exists = con.execute("select count(*) from duckdb_tables() where table_name = ? and temporary", [table])
    if exists.fetchall()[0][0]:
        return table
    if not stats:  # no file: an empty table with the key, so that the join binds and finds nothing
        con.execute(f"create temp table {table} ({quote(lookup.key)} varchar)")
        return table
    drops = []
    for relative, stat in stats:
        path = source.folder / relative
        drops.append(Drop(path, path.relative_to(raw_dir).as_posix(), drop_date_of(relative, stat.st_mtime)[0], 0, 0))
    # Each file is read on a cursor of its own in a worker thread, as ingestion reads drops: a Task
    # export looks up the Opportunity and Lead exports, ~70 files for a small company
    scratch = attach_scratch(con)
    parts = [f"{scratch}.{table}_{order}" for order in range(len(drops))]
    workers = min(len(drops), int(duckdb_settings()["threads"]))
    try:
        if workers > 1:
            with ThreadPoolExecutor(workers, thread_name_prefix="s2s-lookup") as pool:
                for _ in pool.map(lambda drop, into: _read_lookup_file(con, source, lookup, drop, into), drops, parts):
                    pass  # raises the first failing file's FileRejected, in the files' order
        else:
            for drop, into in zip(drops, parts, strict=True):
                _read_lookup_file(con, source, lookup, drop, into)
        everything = " union all by name ".join(f"select {n} as _order, * from {t}" for n, t in enumerate(parts))
        key = quote(lookup.key)
        con.execute(
            f"""create temp table {table} as select * exclude (_order, _line) from ({everything})
                where nullif(trim({key}), '') is not null
                qualify row_number() over (partition by {key} order by _order desc, _line desc) = 1"""
        )
    finally:
        con.execute("; ".join(f"drop table if exists {t}" for t in parts))
    return table


def _read_lookup_file(
    con: duckdb.DuckDBPyConnection, source: MappedSource, lookup: Lookup, drop: Drop, into: str
) -> None:
    """One file of a lookup, as read (its malformed lines too), into table `into`; raises FileRejected."""
    cursor = con.cursor()
    try:
        try:
            read = read_drop(cursor, drop, encoding=source.mapping.encoding, layout=lookup)
        except FileRejected as exc:
            raise FileRejected(f"lookup {lookup.alias}: {drop.relative_path}: {exc}") from exc
        if lookup.key.lower() not in {h.lower() for h in read.header}:
            raise FileRejected(f"lookup {lookup.alias}: {drop.relative_path} has no column {lookup.key!r}")
        _add_malformed(cursor, read)
        cursor.execute(f"create table {into} as from _drop_raw")
    finally:
        cursor.close()


def _add_malformed(con: duckdb.DuckDBPyConnection, read: ReadResult) -> None:
    """A lookup also reads the lines the loader quarantines as malformed, by position (a line with a
    field too many keeps its first fields): a defect in one row of the Lead export should not hide
    that lead's conversion from the Opportunity rows."""
    rows = []
    for m in read.malformed:
        if m.raw_record and m.line is not None and m.reason != HEADER_AGAIN:  # the header again is no row
            fields = next(csv.reader(io.StringIO(m.raw_record)), [])
            rows.append([m.line, *(fields + [None] * len(read.header))[: len(read.header)]])
    if rows:
        con.executemany(f"insert into _drop_raw values ({', '.join('?' * (len(read.header) + 1))})", rows)


def resolve(
    con: duckdb.DuckDBPyConnection, source: MappedSource, contract: Contract, header: list[str], joins: str
) -> Resolution:
    """The rule against the file's header (in `_drop_raw`): what each contract column is made of."""
    by_lower = _header_index(header)
    res = Resolution()
    required = set(contract.required_columns)
    for column in contract.columns:
        rule = source.rule.column(column.name)
        if rule is None:
            if column.name == "currency" and source.mapping.currency:
                res.selects[column.name] = literal(source.mapping.currency)
                res.labels[column.name] = "currency (mapping default)"
            else:
                res.not_delivered[column.name] = "no rule in the mapping"
            continue
        sql, label, why = _column_sql(con, rule, source.mapping, by_lower, joins)
        res.labels[column.name] = label
        if sql is None:
            res.not_delivered[column.name] = why or "not delivered"
            if column.name in required:
                res.missing_required.append(f"{label} ({column.name}: {why})")
                res.missing_labels.append(label)
        else:
            res.selects[column.name] = sql
            res.rules[column.name] = rule
    targets = {c.lower() for c in contract.column_names}
    # the export's columns are kept, except those named like a contract column (the mapping's wins)
    res.passed_through = [h for h in header if h.lower() not in targets and h not in _RESERVED]
    res.unused = [h for h in header if not _reads(source.rule, h)]
    return res


def _reads(rule: FileRule, column: str) -> bool:
    """Whether a rule reads an export column: named as a source, or mentioned in its SQL."""
    name = column.lower()
    if any(name == c.lower() for r in rule.columns for c in r.columns):
        return True
    texts = [r.sql for r in rule.columns if r.sql] + [rule.skip or ""] + [lk.on for lk in rule.lookups]
    word = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)")
    return any(word.search(re.sub(r"\bsrc\.", "", t.lower())) for t in texts)


def mapped_select(
    res: Resolution, contract: Contract, mapping: Mapping, joins: str, skip: str | None, carry: tuple[str, ...] = ()
) -> str:
    """The mapping's SELECT over `_drop_raw src` and the lookups: the export's text of each column,
    then its normalisation stages (formats.staged), then the default; the export's columns kept, and
    the `carry` columns of `_drop_raw` (the drop of each row, when several drops are mapped at once)."""
    kept = [quote(name) for name in res.passed_through]
    stage0 = ["src._line", *[f"src.{c}" for c in carry], *[f"src.{k}" for k in kept]]
    stage0 += [f"{skip} as _skip"] if skip else []
    stages: list[list[str]] = []
    final = []
    for k, (name, sql) in enumerate(res.selects.items()):
        rule = res.rules.get(name)
        stage0.append(f"{sql} as _b{k}")
        plan = staged(
            k,
            contract.column(name).type,
            mapping.timezone,
            mapping.day_first,
            rule.format if rule else None,
            decimal_comma=mapping.decimal_comma,
        )
        for i, (alias, expr) in enumerate(plan.stages):
            if i == len(stages):
                stages.append([])
            stages[i].append(f"{expr} as {alias}{k}")
        text = plan.final
        default = rule.default if rule else None
        if default is None and name == "currency" and mapping.currency:
            default = mapping.currency
        if default is not None:
            text = f"coalesce(nullif(trim({text}), ''), {literal(default)})"
        final.append(f"{text} as {quote(name)}")
    ctes = [f"s0 as (select {', '.join(stage0)} from _drop_raw src {joins})"]
    for i, items in enumerate(stages, start=1):
        ctes.append(f"s{i} as (select *, {', '.join(items)} from s{i - 1})")
    last = f"s{len(stages)}"
    columns = ["_line", *carry, *final, *kept, *(["_skip"] if skip else [])]
    return f"with {', '.join(ctes)} select {', '.join(columns)} from {last}"


def prepare(con: duckdb.DuckDBPyConnection, source: MappedSource) -> dict[str, str]:
    """Macros (formats, and `values_<name>(x)` per value map) and lookup tables of a rule, before its
    drop is read: {lookup alias: temp table}."""
    marker = f"_s2s_macros_{source.mapping.rule_digest(source.rule)}"
    exists = "select count(*) from duckdb_tables() where temporary and table_name = ?"
    if not con.execute(exists, [marker]).fetchall()[0][0]:  # once per connection and mapping
        con.execute(MACROS)
        for name, values in source.mapping.values:
            con.execute(f"create or replace temp macro {quote('values_' + name)}(x) as {_value_case('x', values)}")
        con.execute(f"create temp table {marker} (x int)")
    return {lk.alias: ensure_lookup(con, source, lk) for lk in source.rule.lookups}


def _joins(source: MappedSource, tables: dict[str, str], header: list[str]) -> str:
    by_lower = _header_index(header)
    return " ".join(_lookup_join(lk, tables[lk.alias], by_lower) for lk in source.rule.lookups)


def _map_into_table(
    con: duckdb.DuckDBPyConnection,
    source: MappedSource,
    contract: Contract,
    read: ReadResult,
    tables: dict[str, str],
    path: Path | None,
    carry: tuple[str, ...] = (),
) -> tuple[Resolution, bool]:
    """Fill `_drop_mapped` with the mapped rows of `_drop_raw` (a table or a view), skipped rows still
    in, marked `_skip`; raise FileRejected when a required column is missing, the skip rule does not
    apply to the file, or the mapping's SQL fails on it. Returns the resolution and whether the
    rows have `_skip`."""
    joins = _joins(source, tables, read.header)
    res = resolve(con, source, contract, read.header, joins)
    if res.missing_required:
        below = header_further_down(path, read.encoding, res.missing_labels, sheet=source.rule.sheet) if path else ""
        raise FileRejected(f"missing required column(s) {'; '.join(res.missing_required)}{below}")
    skip = None
    if source.rule.skip:
        error = _bind_error(con, source.rule.skip, joins)
        if error:
            raise FileRejected(f"the skip rule of {source.rule.name} does not apply to this file: {error}")
        skip = f"coalesce(({source.rule.skip}), false)"
    select = mapped_select(res, contract, source.mapping, joins, skip, carry)
    try:
        con.execute(f"create or replace temp table _drop_mapped as {select}")
    except duckdb.Error as exc:  # e.g. a cast in a rule's SQL that a value of the file breaks (use try_cast)
        raise FileRejected(f"the mapping's SQL fails on this file: {str(exc).splitlines()[0]}") from exc
    return res, skip is not None


def _mapped_read(
    res: Resolution, source: MappedSource, contract: Contract, read: ReadResult, skipped: int
) -> MappedRead:
    return MappedRead(
        header=[*res.selects, *res.passed_through],
        encoding=read.encoding,
        malformed=read.malformed,
        notes=read.notes,
        labels=res.labels,
        not_delivered=res.not_delivered,
        unused=res.unused,
        rows_skipped=skipped,
        day_order_unknown=_day_order_unknown(res, contract, source.mapping),
    )


def map_rows(
    con: duckdb.DuckDBPyConnection,
    source: MappedSource,
    contract: Contract,
    read: ReadResult,
    tables: dict[str, str],
    path: Path | None = None,
) -> MappedRead:
    """Replace `_drop_raw` (the file as read) by the mapped rows; raise FileRejected when a required
    column is missing or the skip rule does not apply to the file."""
    _fill_down(con, source.rule, read.header)
    res, has_skip = _map_into_table(con, source, contract, read, tables, path)
    skipped = 0
    if has_skip:
        skipped = con.execute("delete from _drop_mapped where _skip").fetchall()[0][0]
        con.execute("alter table _drop_mapped drop column _skip")
    con.execute("drop table _drop_raw; alter table _drop_mapped rename to _drop_raw")
    return _mapped_read(res, source, contract, read, int(skipped))


def _day_order_unknown(res: Resolution, contract: Contract, mapping: Mapping) -> tuple[str, ...]:
    if mapping.day_first is not None:
        return ()
    dated = [name for name in res.selects if contract.column(name).type.lower() in ("date", "timestamp")]
    return tuple(name for name in dated if not (name in res.rules and res.rules[name].format))


def _fill_down(con: duckdb.DuckDBPyConnection, rule: FileRule, header: list[str]) -> None:
    """Blank cells of the rule's `fill_down` columns take the last value above them in the file
    (`_drop_raw`, one drop): grouped reports print an order's fields on its first line only."""
    if not rule.fill_down:
        return
    by_lower = _header_index(header)
    absent = [c for c in rule.fill_down if c.lower() not in by_lower]
    if absent:
        raise FileRejected(f"fill_down column(s) {', '.join(absent)} of {rule.name} not in the file")
    filled = []
    window = "over (order by _line rows between unbounded preceding and current row)"
    for name in (quote(by_lower[c.lower()]) for c in rule.fill_down):
        value = f"nullif(trim({name}), '')"
        above = f"last_value({value} ignore nulls) {window}"
        filled.append(f"case when {value} is null then {above} else {name} end as {name}")
    con.execute(f"create or replace temp table _drop_raw as select * replace ({', '.join(filled)}) from _drop_raw")


# A window function in a rule's SQL (`lag(...) over (partition by ... order by src._line)`) reads
# the other rows of its file: such a rule maps each drop on its own.
_WINDOW = re.compile(r"\bover\s*\(", re.IGNORECASE)


def _row_by_row(rule: FileRule) -> bool:
    """The rule's SQL reads each row alone (no window function, no fill_down): drops can be mapped
    together."""
    if rule.fill_down:
        return False
    expressions = [rule.skip or "", *(c.sql or "" for c in rule.columns), *(lk.on for lk in rule.lookups)]
    return not any(_WINDOW.search(e) for e in expressions)


def _read_as_drop_raw(
    con: duckdb.DuckDBPyConnection, seq: int, drop: Drop, read_already: dict[int, tuple[ReadResult | FileRejected, str]]
) -> ReadResult:
    """Fill temp table `_drop_raw` with the drop as its file reads: read now, or copied from the table
    a worker read it into (`read_already`: sequence number -> what reading it gave, and that table)."""
    if seq not in read_already:
        return read_drop(con, drop)
    read, table = read_already[seq]
    if isinstance(read, FileRejected):
        raise read
    con.execute(f"create or replace temp table _drop_raw as from {table}")
    return read


def read_mapped_drops(
    con: duckdb.DuckDBPyConnection,
    drops: dict[int, Drop],
    contract: Contract,
    table: str = "_mapped_drop_{seq}",
    read_already: dict[int, tuple[ReadResult | FileRejected, str]] | None = None,
) -> dict[int, MappedRead | FileRejected]:
    """Read and map several drops of one file rule: each drop's mapped rows in its own temp table
    (`table` with its sequence number), as read_mapped_drop leaves one in `_drop_raw`, or the
    FileRejected it raised.

    The mapping's SELECT is a long statement, and planning it was most of the cost of a drop (a
    Salesforce export's 36 Campaign files of 4-8 rows: 47 ms each). So the drops whose headers are
    the same are mapped in one statement over all their rows, each row tagged with its drop. A rule
    with a window function, or a group whose statement fails, is mapped drop by drop, as before:
    a failure names its file, and one file's failure does not reject the others.

    `read_already`: drops that worker threads have read (ingest/load.py, `_DropReader`): what reading
    each gave (or the FileRejected it raised) and the table holding its rows, read from there rather
    than from its file. The caller drops those tables."""
    results: dict[int, MappedRead | FileRejected] = {}
    read_already = read_already or {}
    source: MappedSource = next(iter(drops.values())).mapping
    if not _row_by_row(source.rule) or len(drops) == 1:
        for seq, drop in drops.items():
            try:
                tables = prepare(con, source)
                read = _read_as_drop_raw(con, seq, drop, read_already)
                results[seq] = map_rows(con, source, contract, read, tables, drop.path)
                con.execute(f"alter table _drop_raw rename to {table.format(seq=seq)}")
            except FileRejected as exc:
                results[seq] = exc
        return results
    try:
        tables = prepare(con, source)
    except FileRejected as exc:  # a lookup that cannot be read: each drop of the rule is rejected with it
        return {seq: exc for seq in drops}
    by_header: dict[tuple[str, ...], dict[int, ReadResult]] = {}
    unmapped: dict[int, str] = {}  # each drop's rows as read: a temp table read here, or a worker's table
    for seq, drop in drops.items():
        already, in_table = read_already.get(seq, (None, ""))
        if isinstance(already, FileRejected):
            results[seq] = already
            continue
        if already is not None:
            read, unmapped[seq] = already, in_table
        else:
            try:
                read = read_drop(con, drop)
            except FileRejected as exc:
                results[seq] = exc
                continue
            con.execute(f"alter table _drop_raw rename to _unmapped_{seq}")
            unmapped[seq] = f"_unmapped_{seq}"
        by_header.setdefault(tuple(read.header), {})[seq] = read
    con.execute("drop table if exists _drop_raw")  # what a rejected read may have left: the view takes its name
    for reads in by_header.values():
        con.execute(
            "create or replace temp view _drop_raw as "
            + " union all ".join(f"select {seq}::integer as _drop_seq, * from {unmapped[seq]}" for seq in reads)
        )
        first = next(iter(reads.values()))
        try:
            res, has_skip = _map_into_table(con, source, contract, first, tables, None, carry=("_drop_seq",))
        except FileRejected:
            con.execute("drop view _drop_raw")
            for seq, read in reads.items():  # drop by drop: the reason names its file
                if unmapped[seq] == f"_unmapped_{seq}":
                    con.execute(f"alter table _unmapped_{seq} rename to _drop_raw")
                else:  # a worker's table, in another database
                    con.execute(f"create temp table _drop_raw as from {unmapped[seq]}; drop table {unmapped[seq]}")
                try:
                    results[seq] = map_rows(con, source, contract, read, tables, drops[seq].path)
                    con.execute(f"alter table _drop_raw rename to {table.format(seq=seq)}")
                except FileRejected as exc:
                    results[seq] = exc
                    con.execute("drop table if exists _drop_raw")
            continue
        skipped: dict[int, int] = {}
        if has_skip:
            skipped = dict(
                con.execute("select _drop_seq, count(*) from _drop_mapped where _skip group by all").fetchall()
            )
            con.execute("delete from _drop_mapped where _skip; alter table _drop_mapped drop column _skip")
        for seq, read in reads.items():
            con.execute(
                f"create temp table {table.format(seq=seq)} as "
                f"select * exclude (_drop_seq) from _drop_mapped where _drop_seq = {seq}"
            )
            results[seq] = _mapped_read(res, source, contract, read, int(skipped.get(seq, 0)))
        con.execute(
            "; ".join(["drop table _drop_mapped", "drop view _drop_raw", *(f"drop table {unmapped[s]}" for s in reads)])
        )
    return results


def read_mapped_drop(con: duckdb.DuckDBPyConnection, drop: Drop, contract: Contract | None = None) -> MappedRead:
    """Fill `_drop_raw` with the drop's mapped rows; raise FileRejected when the file cannot be read."""
    source: MappedSource = drop.mapping
    contract = contract or load_contracts()[source.rule.entity]
    tables = prepare(con, source)
    read = read_drop(con, drop)
    return map_rows(con, source, contract, read, tables, drop.path)
