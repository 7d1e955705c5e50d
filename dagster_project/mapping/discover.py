"""Which files of the raw folder a mapping covers: its folder, matched by its file rules' patterns."""

from __future__ import annotations

import fnmatch
import logging
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from dagster_project.ingest.drops import SUFFIXES, Drop
from dagster_project.ingest.inventory import date_in_name
from dagster_project.mapping.spec import FileRule, Mapping, load_mappings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MappedSource:
    """The mapping and file rule a drop is read through."""

    mapping: Mapping
    rule: FileRule
    folder: Path  # the export's folder (where lookups find their files)

    @property
    def digest(self) -> str:
        return self.mapping.rule_digest(self.rule)

    @property
    def label(self) -> str:
        return f"{self.mapping.label}: {self.rule.name}"


def export_files(folder: Path) -> list[str]:
    """Accepted files under an export folder, as paths relative to it (posix), sorted; hidden files
    and folders are left out."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        prefix = os.path.relpath(root, folder).replace(os.sep, "/")
        for name in files:
            if not name.startswith(".") and name.lower().endswith(SUFFIXES):
                out.append(name if prefix == "." else f"{prefix}/{name}")
    return sorted(out)


def matches(relative: str, patterns: tuple[str, ...]) -> bool:
    """A pattern with a "/" matches the path inside the export folder, else the file name (any case)."""
    name = relative.rsplit("/", 1)[-1].lower()
    return any(fnmatch.fnmatchcase(relative.lower() if "/" in p else name, p.lower()) for p in patterns)


def drop_date_of(relative: str, mtime: float) -> tuple[date, str]:
    """(date, how it was found): the first date in the file name, else in its folders (the spellings
    of `inventory.date_in_name`), else the modification day."""
    parts = relative.split("/")
    for text in (parts[-1], *reversed(parts[:-1])):
        if (found := date_in_name(text)) is not None:
            return found, "name"
    return datetime.fromtimestamp(mtime, tz=UTC).date(), "mtime"


def _drop(raw_dir: Path, mapping: Mapping, rule: FileRule, relative: str, shared: bool = False) -> Drop:
    folder = raw_dir / mapping.folder
    path = folder / relative
    stat = path.stat()
    source = MappedSource(mapping=mapping, rule=rule, folder=folder)
    # The change stamp folds the rule's digest into the modification time: a changed mapping makes
    # the manifest see the file as new, and the content hash (salted with it too) as a new drop.
    stamp = stat.st_mtime_ns ^ int(source.digest[:15], 16)
    drop_date, dated_by = drop_date_of(relative, stat.st_mtime)
    name = path.relative_to(raw_dir).as_posix()
    return Drop(
        path=path,
        # a file several rules of the entity read is one drop per rule, each tracked on its own
        relative_path=f"{name}#{rule.name}" if shared else name,
        drop_date=drop_date,
        size=stat.st_size,
        mtime_ns=stamp,
        dated_by=dated_by,
        mapping=source,
    )


def mapped_drops(raw_dir: Path, entity: str, mappings: tuple[Mapping, ...] | None = None) -> list[Drop]:
    """Every file the deployment's mappings route to the entity (`<source>.<entity>`).

    A file matched by several rules of the entity is read through each: a wide export gives several
    records per row (a survey's NPS and CSAT answers), each rule mapping one of them. Each is a drop
    of its own, named `<file>#<rule>`. A file may also feed several entities."""
    mappings = load_mappings() if mappings is None else mappings
    drops = []
    for mapping in mappings:
        rules = [r for r in mapping.files if r.entity == entity]
        if not rules:
            continue
        for relative in export_files(raw_dir / mapping.folder):
            hits = [r for r in rules if matches(relative, r.patterns)]
            drops.extend(_drop(raw_dir, mapping, rule, relative, shared=len(hits) > 1) for rule in hits)
    return drops


def unmatched_files(raw_dir: Path, mappings: tuple[Mapping, ...]) -> list[str]:
    """Files in the mappings' folders that no rule (nor lookup) uses: the dry run names them."""
    out = []
    for mapping in mappings:
        used = [r.patterns for r in mapping.files] + [lk.patterns for r in mapping.files for lk in r.lookups]
        for relative in export_files(raw_dir / mapping.folder):
            if not any(matches(relative, p) for p in used):
                out.append(f"{mapping.folder}/{relative}")
    return out
