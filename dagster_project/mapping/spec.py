"""Source mappings: how a company's own exports map onto the entity contracts, declared in YAML.

One YAML file per source system in `<deployment>/mappings/<name>.yml` (see README "Bring your own
exports"). A file may start from a preset shipped in `dagster_project/mapping/presets/` and override
any part of it: keys given in the company's file replace the preset's, value maps and file rules are
merged entry by entry, and `null` removes an entry.

    preset: salesforce              # optional
    folder: salesforce              # the export's folder under the raw folder
    timezone: UTC                   # of timestamps without an offset (default Asia/Shanghai)
    currency: USD                   # default currency where the export has none (default: the contract's)
    day_first: false                # 01/06/2026: 6 January (false, US) or 1 June (true); unset, a
                                    # date written that way is not read (quarantined, saying so)
    decimal_comma: true             # numbers written 1.234,56 (much of Europe); default false: 1,234.56
    encoding: cp1252                # of the files that are not UTF-8 (default: GBK); a Python codec name
    values:                         # value maps, by name: export value -> contract value
      stage: {"Closed Won": closed_won}
    files:
      opportunities:                # a rule name (a company overrides a preset's rule by it)
        pattern: "Opportunity*.csv" # file name glob(s) inside the folder; with a "/", the relative path
        entity: crm.opportunities
        skip: "Name like '%Total%'" # rows that are no records (SQL over the export's row)
        fill_down: [Order No]       # blank cells take the value above (grouped reports: an order's
                                    # fields on its first line only); skip and columns see them filled
        header_row: 3               # the header is line 3 (a title and a blank line above it); default 1
        sheet: 明细                  # an xlsx file's sheet to read (by name); default the first
        lookups:                    # other files of the same export, joined by key
          owner: {pattern: "User*.csv", key: Id, on: OwnerId}
        columns:                    # contract column <- the export
          opportunity_id: Id                              # a column
          phone: [Phone, MobilePhone]                     # the first non-empty of these (those in the file)
          stage: {column: StageName, values: stage}       # with a value map (by name, or inline)
          is_won: {sql: "values_stage(StageName) = 'closed_won'"}  # SQL over the row; values_<map>(x)
                                                               # applies a value map
          region: {sql: "owner.Division"}
          opportunity_type: {constant: new_business}
          close_date: {column: CloseDate, format: "%d.%m.%Y"}   # else dates/numbers are recognised
          currency: {column: CurrencyIsoCode, default: USD}
"""

from __future__ import annotations

import codecs
import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from dagster_project.contracts import Contract, load_contracts
from dagster_project.warehouse import TIME_ZONE
from dagster_project.yaml_text import parse_yaml

PRESETS_DIR = Path(__file__).parent / "presets"
MAPPINGS_SUBDIR = "mappings"
NATIVE_FOLDERS = frozenset(c.source for c in load_contracts().values())
_TOP_KEYS = {
    "preset",
    "folder",
    "timezone",
    "currency",
    "day_first",
    "decimal_comma",
    "encoding",
    "values",
    "files",
    "description",
}
_FILE_KEYS = {"pattern", "entity", "skip", "fill_down", "lookups", "columns", "header_row", "sheet", "description"}
_COLUMN_KEYS = {"column", "sql", "constant", "values", "format", "default"}
_LOOKUP_KEYS = {"pattern", "key", "on"}
_NAMED_FORMATS = {"epoch_ms", "epoch_s", "text"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MappingError(ValueError):
    """A mapping file is malformed; the message names the file and the offending entry."""


@dataclass(frozen=True)
class ColumnRule:
    """How one contract column is made from the export's row."""

    target: str  # the contract column
    columns: tuple[str, ...] = ()  # export columns: the first non-empty value of those in the file
    sql: str | None = None  # or an SQL expression over the row (and lookups)
    constant: str | None = None  # or a constant
    values: tuple[tuple[str, str], ...] = ()  # value map: export value -> contract value
    values_name: str | None = None  # the shared map's name, when it is one
    format: str | None = None  # strptime pattern, epoch_ms, epoch_s or text; default: recognised
    default: str | None = None  # when the result is empty

    def describe(self) -> str:
        if self.constant is not None:
            return f"constant {self.constant!r}"
        if self.sql is not None:
            return f"sql: {self.sql}"
        return " or ".join(self.columns)


@dataclass(frozen=True)
class Lookup:
    """Another file of the same export, joined to each row: `<alias>.<column>` in SQL rules."""

    alias: str
    patterns: tuple[str, ...]
    key: str  # column of the lookup file
    on: str  # SQL over the row giving the value matched against `key`


@dataclass(frozen=True)
class FileRule:
    name: str
    entity: str  # "<source>.<entity>"
    patterns: tuple[str, ...]
    columns: tuple[ColumnRule, ...]
    skip: str | None = None
    lookups: tuple[Lookup, ...] = ()
    header_row: int = 1  # the file's line (an xlsx file's sheet row) that holds the header
    fill_down: tuple[str, ...] = ()  # export columns whose blank cells take the value of the row above
    sheet: str | None = None  # the sheet of an xlsx file to read (its name); None: the first

    def column(self, target: str) -> ColumnRule | None:
        return next((c for c in self.columns if c.target == target), None)


@dataclass(frozen=True)
class Mapping:
    """One source system's mapping, with its preset (if any) applied."""

    name: str  # the YAML file's stem
    path: Path | None  # the company's file; None for a preset used on its own (tests)
    preset: str | None
    folder: str
    timezone: str
    currency: str | None
    day_first: bool | None  # None: not said, and a date written 01/06/2026 is not read
    files: tuple[FileRule, ...]
    values: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()  # the named value maps
    resolved: str = field(repr=False, default="")  # the merged document, as canonical JSON
    decimal_comma: bool = False  # numbers written 1.234,56: the comma marks the decimals, a dot groups
    encoding: str | None = None  # of its files that are not UTF-8 (codec name); None: GBK

    def rule_digest(self, rule: FileRule) -> str:
        """Identifies how a rule's files are read: a changed rule (or setting) makes them new drops."""
        return hashlib.sha256(f"{self.resolved}|{rule.name}".encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        where = self.path.name if self.path else f"preset {self.preset}"
        return where + (f" (preset {self.preset})" if self.path and self.preset else "")


def _merge(base: Any, override: Any, replace_at: int | None = None, depth: int = 0) -> Any:
    """Deep merge of YAML documents: dicts merge key by key (None deletes), anything else replaces.
    At `replace_at` depth dict values replace instead of merging."""
    if not isinstance(base, dict) or not isinstance(override, dict) or depth == replace_at:
        return copy.deepcopy(override)
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(base.get(key), value, replace_at, depth + 1) if key in base else copy.deepcopy(value)
    return out


def _merge_mapping(preset: dict, company: dict) -> dict:
    """The company's document over the preset's: per value map entry, per file rule, per column."""
    out = _merge(
        {k: v for k, v in preset.items() if k not in ("values", "files")},
        {k: v for k, v in company.items() if k not in ("values", "files", "preset")},
    )
    out["values"] = _merge(preset.get("values") or {}, company.get("values") or {})
    files = copy.deepcopy(preset.get("files") or {})
    for name, rule in (company.get("files") or {}).items():
        if rule is None:
            files.pop(name, None)
        elif name not in files or not isinstance(rule, dict) or not isinstance(files[name], dict):
            files[name] = copy.deepcopy(rule)
        else:
            merged = _merge(
                {k: v for k, v in files[name].items() if k != "columns"},
                {k: v for k, v in rule.items() if k != "columns"},
            )
            columns = dict(files[name].get("columns") or {})
            for col, spec in (rule.get("columns") or {}).items():
                if spec is None:
                    columns.pop(col, None)
                else:
                    columns[col] = copy.deepcopy(spec)  # a column rule is replaced whole, never mixed
            merged["columns"] = columns
            files[name] = merged
    out["files"] = files
    return out


def _read_yaml(path: Path, fail) -> dict:
    try:
        doc = parse_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise fail(f"not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise fail("expected a mapping at the top level")
    return doc


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yml"))


def _patterns(value: Any, where: str, fail) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not items or not isinstance(items, list) or not all(isinstance(p, str) and p for p in items):
        raise fail(f"{where}: pattern must be a file name glob or a list of them")
    return tuple(items)


def _text(value: Any) -> str:
    """A YAML scalar as the text an export would hold (YAML reads `true`, `1`, dates as typed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _value_map(raw: Any, where: str, fail) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict):
        raise fail(f"{where}: a value map is export value -> contract value")
    return tuple((_text(k), _text(v)) for k, v in raw.items())


def _column_rule(target: str, raw: Any, shared: dict, where: str, fail) -> ColumnRule:
    if isinstance(raw, str | list):
        raw = {"column": raw}
    if not isinstance(raw, dict):
        raise fail(f"{where}: give an export column, a list of them, or a mapping with column/sql/constant")
    unknown = set(raw) - _COLUMN_KEYS
    if unknown:
        raise fail(f"{where}: unknown keys {sorted(unknown)} (known: {', '.join(sorted(_COLUMN_KEYS))})")
    sources = [k for k in ("column", "sql", "constant") if raw.get(k) is not None]
    if len(sources) != 1:
        raise fail(f"{where}: give exactly one of column, sql or constant")
    columns: tuple[str, ...] = ()
    if "column" in sources:
        value = raw["column"]
        columns = (value,) if isinstance(value, str) else tuple(value)
        if not columns or not all(isinstance(c, str) and c for c in columns):
            raise fail(f"{where}: column must name an export column (or a list of them)")
    values: tuple[tuple[str, str], ...] = ()
    values_name = None
    if raw.get("values") is not None:
        if isinstance(raw["values"], str):
            values_name = raw["values"]
            if values_name not in shared:
                raise fail(f"{where}: no value map {values_name!r} under values (have: {', '.join(shared) or 'none'})")
            values = shared[values_name]
        else:
            values = _value_map(raw["values"], f"{where}.values", fail)
    fmt = raw.get("format")
    if fmt is not None and (not isinstance(fmt, str) or ("%" not in fmt and fmt not in _NAMED_FORMATS)):
        raise fail(f"{where}: format {fmt!r} is a strptime pattern (with %) or one of {sorted(_NAMED_FORMATS)}")
    return ColumnRule(
        target=target,
        columns=columns,
        sql=str(raw["sql"]) if raw.get("sql") is not None else None,
        constant=_text(raw["constant"]) if raw.get("constant") is not None else None,
        values=values,
        values_name=values_name,
        format=fmt,
        default=_text(raw["default"]) if raw.get("default") is not None else None,
    )


def _check_values(rule: ColumnRule, contract: Contract, where: str, fail) -> None:
    allowed = contract.column(rule.target).allowed_values
    if allowed:
        wrong = sorted({to for _, to in rule.values if to not in allowed})
        if wrong:
            raise fail(f"{where}: maps to {wrong}, not among {contract.name}.{rule.target}'s {', '.join(allowed)}")


def _encoding(name: Any, fail) -> str | None:
    """The codec's canonical name; one that writes ASCII as ASCII (the header, digits, separators)."""
    if name is None:
        return None
    try:
        codec = codecs.lookup(str(name))
    except LookupError:
        raise fail(f"encoding {name!r} is not one Python knows (e.g. cp1252, latin-1, shift_jis, big5)") from None
    if "a,b;1.5\n".encode(codec.name, errors="replace") != b"a,b;1.5\n":
        raise fail(f"encoding {name!r} does not write plain letters and digits as ASCII: save the export as UTF-8")
    return codec.name


def _file_rule(name: str, raw: Any, shared: dict, fail) -> FileRule:
    where = f"files.{name}"
    if not isinstance(raw, dict):
        raise fail(f"{where}: expected pattern, entity and columns")
    unknown = set(raw) - _FILE_KEYS
    if unknown:
        raise fail(f"{where}: unknown keys {sorted(unknown)} (known: {', '.join(sorted(_FILE_KEYS))})")
    contracts = load_contracts()
    entity = raw.get("entity")
    if entity not in contracts:
        raise fail(f"{where}: entity {entity!r} is not one of {', '.join(sorted(contracts))}")
    contract = contracts[entity]
    if not isinstance(raw.get("columns"), dict) or not raw["columns"]:
        raise fail(f"{where}: columns must map contract columns to the export")
    columns = []
    for target, spec in raw["columns"].items():
        if target not in contract.column_names:
            raise fail(f"{where}.columns: {entity} has no column {target!r} (has {', '.join(contract.column_names)})")
        rule = _column_rule(target, spec, shared, f"{where}.columns.{target}", fail)
        _check_values(rule, contract, f"{where}.columns.{target}", fail)
        columns.append(rule)
    missing_key = [k for k in contract.primary_key if k not in raw["columns"]]
    if missing_key:
        raise fail(f"{where}: the key column(s) {', '.join(missing_key)} of {entity} must be mapped")
    lookups = []
    for alias, spec in (raw.get("lookups") or {}).items():
        lw = f"{where}.lookups.{alias}"
        if not _NAME.match(str(alias)) or alias == "src":
            raise fail(f"{lw}: a lookup name is a plain SQL name (letters, digits, _), not src")
        if isinstance(spec, dict):  # YAML 1.1 reads a bare `on:` key as the boolean true
            spec = {("on" if k is True else k): v for k, v in spec.items()}
        if not isinstance(spec, dict) or set(spec) - _LOOKUP_KEYS or not {"pattern", "key", "on"} <= set(spec):
            raise fail(f"{lw}: give pattern, key (its column) and on (this file's column or SQL)")
        lookups.append(Lookup(str(alias), _patterns(spec["pattern"], lw, fail), str(spec["key"]), str(spec["on"])))
    header_row = raw.get("header_row", 1)
    if isinstance(header_row, bool) or not isinstance(header_row, int) or header_row < 1:
        raise fail(
            f"{where}: header_row must be the number of the line holding the header (1 or more), not {header_row!r}"
        )
    fill_down = raw.get("fill_down") or []
    fill_down = [fill_down] if isinstance(fill_down, str) else fill_down
    if not isinstance(fill_down, list) or not all(isinstance(c, str) and c.strip() for c in fill_down):
        raise fail(f"{where}: fill_down lists export columns (names as in the header), not {raw['fill_down']!r}")
    return FileRule(
        name=name,
        entity=entity,
        patterns=_patterns(raw.get("pattern"), where, fail),
        columns=tuple(columns),
        skip=str(raw["skip"]) if raw.get("skip") is not None else None,
        lookups=tuple(lookups),
        header_row=header_row,
        fill_down=tuple(fill_down),
        sheet=str(raw["sheet"]) if raw.get("sheet") is not None else None,
    )


def _plain(value: Any) -> Any:
    """The document with text keys only (YAML may give booleans or numbers), for its digest."""
    if isinstance(value, dict):
        return {_text(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def parse_mapping(doc: dict, name: str, path: Path | None, fail) -> Mapping:
    """A mapping from its (merged) document; `fail(message)` builds the error to raise."""
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)} (known: {', '.join(sorted(_TOP_KEYS))})")
    folder = doc.get("folder")
    if not isinstance(folder, str) or not folder or folder.startswith(("/", "..")):
        raise fail("folder must name the export's folder under the raw folder")
    if folder.split("/")[0] in NATIVE_FOLDERS:
        raise fail(f"folder {folder!r} is a native source folder ({', '.join(sorted(NATIVE_FOLDERS))}): use another")
    timezone = str(doc.get("timezone") or TIME_ZONE)  # the warehouse's by default
    day_first = doc.get("day_first")
    if day_first is not None and not isinstance(day_first, bool):
        raise fail(f"day_first must be true or false, not {day_first!r}")
    encoding = _encoding(doc.get("encoding"), fail)
    decimal_comma = doc.get("decimal_comma", False)
    if not isinstance(decimal_comma, bool):
        raise fail(f"decimal_comma must be true or false, not {decimal_comma!r}")
    shared = {str(k): _value_map(v, f"values.{k}", fail) for k, v in (doc.get("values") or {}).items()}
    files = doc.get("files")
    if not isinstance(files, dict) or not files:
        raise fail("files must hold at least one file rule")
    rules = tuple(_file_rule(str(n), r, shared, fail) for n, r in files.items())
    return Mapping(
        name=name,
        path=path,
        preset=doc.get("preset"),
        folder=folder.rstrip("/"),
        timezone=timezone,
        currency=str(doc["currency"]) if doc.get("currency") else None,
        day_first=day_first,
        decimal_comma=decimal_comma,
        encoding=encoding,
        files=rules,
        values=tuple(shared.items()),
        resolved=json.dumps(_plain(doc), sort_keys=True, ensure_ascii=False, default=str),
    )


def _check_timezone(mapping: Mapping, fail) -> None:
    import duckdb

    try:
        duckdb.sql(f"select timezone('{mapping.timezone.replace(chr(39), '')}', timestamp '2026-01-01')").fetchall()
    except duckdb.Error as exc:
        raise fail(f"timezone {mapping.timezone!r} is not a time zone name (e.g. UTC, Asia/Shanghai)") from exc


def load_preset(name: str) -> Mapping:
    """A shipped preset on its own (its folder is the preset's default)."""
    path = PRESETS_DIR / f"{name}.yml"

    def fail(msg: str) -> MappingError:
        return MappingError(f"{path}: {msg}")

    if not path.is_file():
        raise MappingError(f"no preset {name!r} (presets: {', '.join(preset_names())})")
    mapping = parse_mapping(_read_yaml(path, fail), name, None, fail)
    return Mapping(**{**mapping.__dict__, "preset": name})


def parse_mapping_file(path: Path) -> Mapping:
    def fail(msg: str) -> MappingError:
        return MappingError(f"{path}: {msg}")

    doc = _read_yaml(path, fail)
    preset = doc.get("preset")
    if preset is not None:
        preset_path = PRESETS_DIR / f"{preset}.yml"
        if not preset_path.is_file():
            raise fail(f"preset {preset!r} is not one of {', '.join(preset_names())}")
        merged = _merge_mapping(_read_yaml(preset_path, fail), doc)
        merged["preset"] = preset
        doc = merged
    mapping = parse_mapping(doc, path.stem, path, fail)
    _check_timezone(mapping, fail)
    return mapping


@cache
def _cached(files: tuple[tuple[str, int, int], ...]) -> tuple[Mapping, ...]:
    mappings = tuple(parse_mapping_file(Path(p)) for p, _, _ in files)
    folders: dict[str, str] = {}
    for m in mappings:
        if m.folder in folders:
            raise MappingError(f"{m.path}: folder {m.folder!r} is also the folder of {folders[m.folder]}")
        folders[m.folder] = str(m.path)
    return mappings


def load_mappings(directory: Path | None = None) -> tuple[Mapping, ...]:
    """The deployment's mappings (`<deployment>/mappings/*.yml`); none when the folder is absent.
    Re-read when a file changes (the sensor and a long-running `dagster dev` see edits)."""
    from dagster_project.deployment import deployment_dir

    folder = (directory or deployment_dir()) / MAPPINGS_SUBDIR
    if not folder.is_dir():
        return ()
    files = []
    for path in sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml")):
        stat = path.stat()
        files.append((str(path.absolute()), stat.st_size, stat.st_mtime_ns))
    return _cached(tuple(files))
