"""Entity contracts: the raw input contract, one YAML per entity (rendered as docs/raw_contract.md).

One YAML file per entity lives beside this module, in `<source>/<entity>.yml`. Loading, validation,
dbt sources and quality checks all read these objects; nothing else lists columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from dagster_project.yaml_text import parse_yaml

CONTRACTS_DIR = Path(__file__).parent

# Column types a contract may use, as DuckDB spells them.
_TYPE_PATTERN = re.compile(r"^(varchar|bigint|double|boolean|date|timestamp|decimal\(\d+,\d+\))$")


class ContractError(ValueError):
    """A contract file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str = ""
    required: bool = True  # the column must be present in every file
    nullable: bool = True
    critical: bool = False  # counts towards the completeness target
    completeness_target: float | None = None
    allowed_values: tuple[str, ...] | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    default: str | None = None  # value used when the column is absent or empty
    pii: str | None = None  # name | email | phone: masked or dropped when published
    aliases: str | None = None  # a table of config/warehouse.yml ingest.value_aliases: other spellings -> value


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    references: str  # "<source>.<entity>"
    ref_columns: tuple[str, ...] | None = None  # default: the referenced primary key


@dataclass(frozen=True)
class Contract:
    source: str
    entity: str
    description: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    updated_at: str | None = None  # newest value wins when a key appears in several drops
    freshness_field: str | None = None
    completeness_target: float = 0.95
    path: Path = field(default=Path(), compare=False)

    @property
    def name(self) -> str:
        """`<source>.<entity>`, the contract's identifier."""
        return f"{self.source}.{self.entity}"

    @property
    def schema(self) -> str:
        """Warehouse schema holding the loaded entity."""
        return f"raw_{self.source}"

    @property
    def table(self) -> str:
        return f"{self.schema}.{self.entity}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def critical_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.critical)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    def target_for(self, column: Column) -> float:
        """Completeness target of a critical column (its own, else the entity's)."""
        return column.completeness_target if column.completeness_target is not None else self.completeness_target


def _parse(path: Path) -> Contract:
    def fail(msg: str) -> ContractError:
        return ContractError(f"{path}: {msg}")

    try:
        doc = parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise fail(f"not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise fail("expected a mapping at the top level")
    for key in ("source", "entity", "primary_key", "columns"):
        if key not in doc:
            raise fail(f"missing field {key!r}")
    if (doc["source"], doc["entity"]) != (path.parent.name, path.stem):
        raise fail(f"source/entity {doc['source']}.{doc['entity']} does not match the file's place")

    columns = []
    known_fields = set(Column.__dataclass_fields__)
    for i, raw in enumerate(doc["columns"]):
        if not isinstance(raw, dict) or "name" not in raw or "type" not in raw:
            raise fail(f"columns[{i}] needs a name and a type")
        unknown = set(raw) - known_fields
        if unknown:
            raise fail(f"column {raw['name']!r} has unknown fields {sorted(unknown)}")
        if not _TYPE_PATTERN.match(str(raw["type"])):
            raise fail(f"column {raw['name']!r} has unsupported type {raw['type']!r}")
        if raw.get("allowed_values") is not None:
            raw = {**raw, "allowed_values": tuple(str(v) for v in raw["allowed_values"])}
        columns.append(Column(**raw))
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise fail("duplicate column names")

    pk = tuple(doc["primary_key"])
    for col in pk:
        if col not in names:
            raise fail(f"primary key column {col!r} is not a column")
    fks = []
    for raw in doc.get("foreign_keys") or []:
        fk = ForeignKey(
            columns=tuple(raw["columns"]),
            references=raw["references"],
            ref_columns=tuple(raw["ref_columns"]) if raw.get("ref_columns") else None,
        )
        for col in fk.columns:
            if col not in names:
                raise fail(f"foreign key column {col!r} is not a column")
        fks.append(fk)
    for opt in ("updated_at", "freshness_field"):
        if doc.get(opt) and doc[opt] not in names:
            raise fail(f"{opt} names {doc[opt]!r}, which is not a column")

    return Contract(
        source=doc["source"],
        entity=doc["entity"],
        description=doc.get("description", ""),
        primary_key=pk,
        columns=tuple(columns),
        foreign_keys=tuple(fks),
        updated_at=doc.get("updated_at"),
        freshness_field=doc.get("freshness_field"),
        completeness_target=float(doc.get("completeness_target", 0.95)),
        path=path,
    )


@cache
def load_contracts(directory: Path = CONTRACTS_DIR) -> dict[str, Contract]:
    """All contracts keyed by `<source>.<entity>`, with foreign keys resolved and checked."""
    contracts = {c.name: c for c in (_parse(p) for p in sorted(directory.glob("*/*.yml")))}
    if not contracts:
        raise ContractError(f"no contracts found in {directory}")
    for c in contracts.values():
        for fk in c.foreign_keys:
            target = contracts.get(fk.references)
            if target is None:
                raise ContractError(f"{c.path}: foreign key references unknown entity {fk.references!r}")
            ref_cols = fk.ref_columns or target.primary_key
            if len(ref_cols) != len(fk.columns):
                raise ContractError(f"{c.path}: foreign key {fk.columns} does not match {fk.references} key")
    return contracts


def referenced_columns(fk: ForeignKey) -> tuple[str, ...]:
    """Columns of the referenced entity that a foreign key points at."""
    return fk.ref_columns or load_contracts()[fk.references].primary_key
