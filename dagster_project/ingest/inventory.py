"""What the raw folder holds: each entity's drops, and every entry the loader does not read, with why.

Layout: `<raw>/<source>/<entity>/<file>`. In an entity folder, a file with an accepted suffix is a
drop; anything else (another file type, a folder, a link leading out of the raw folder) is
*ignored*, and so is a folder or file outside an entity folder. Ignored entries are recorded once
each in `meta.ingest_audit` (status `ignored`, zero rows, the reason), so a user sees why a file
did not load. Hidden entries (name starting with `.`: transfers in progress, `.DS_Store`) are
skipped without a record.

A drop's date is the first date in its name (`YYYY-MM-DD`, `YYYYMMDD`, `YYYY_MM_DD`, `YYYY.MM.DD`),
else its modification day (then the loader warns).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from dagster_project.contracts import Contract, load_contracts
from dagster_project.ingest.drops import SUFFIXES, Drop, drop_folder
from dagster_project.warehouse import ensure_meta, insert_rows

# YYYY-MM-DD, YYYYMMDD, YYYY_MM_DD, YYYY.MM.DD: the same separator twice, no digit either side.
_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})([-_.]?)(\d{2})\2(\d{2})(?!\d)")
ACCEPTED = "accepted: " + ", ".join(SUFFIXES)
NOT_IN_ENTITY_FOLDER = "not in an entity folder (<source>/<entity>/<file>)"
LINK_OUT = "symbolic link leading out of the raw folder: not followed"


@dataclass(frozen=True)
class IgnoredEntry:
    """A file or folder under the raw folder that the loader does not read."""

    relative_path: str
    source: str  # the folder names it sits under ('' where there is none)
    entity: str
    reason: str

    @property
    def drop_id(self) -> str:
        digest = hashlib.sha256(self.relative_path.encode()).hexdigest()[:16]
        return f"{self.source}.{self.entity}:ignored:{digest}"


@dataclass
class EntityFolder:
    drops: list[Drop] = field(default_factory=list)
    ignored: list[IgnoredEntry] = field(default_factory=list)


def date_in_name(name: str) -> date | None:
    """The first valid date written in a file name, in one of the common spellings."""
    for match in _DATE_IN_NAME.finditer(name):
        try:
            return date(int(match.group(1)), int(match.group(3)), int(match.group(4)))
        except ValueError:
            continue
    return None


def _leads_out(path: Path, raw_root: Path) -> bool:
    return not path.resolve().is_relative_to(raw_root)


def _unread_reason(path: Path) -> str | None:
    """Why the loader does not read this entry of an entity folder (None: it is a drop)."""
    if path.is_dir():
        return "a folder, not a file: entity folders hold files only"
    if not path.exists():
        return "broken symbolic link"
    if not path.is_file():
        return "not a regular file"
    name = path.name.lower()
    if name.endswith(SUFFIXES):
        return None
    if name.endswith(".xls"):
        return f"Excel 97-2003 .xls is not read: save it as .xlsx ({ACCEPTED})"
    suffix = "".join(path.suffixes[-2:]) if name.endswith(".gz") else path.suffix
    if not suffix:
        return f"no file extension: not read ({ACCEPTED})"
    return f"file type {suffix} is not read ({ACCEPTED})"


def _drop(path: Path, raw_dir: Path) -> Drop:
    stat = path.stat()
    named = date_in_name(path.name)
    return Drop(
        path=path,
        relative_path=path.relative_to(raw_dir).as_posix(),
        drop_date=named or datetime.fromtimestamp(stat.st_mtime, tz=UTC).date(),
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        dated_by="name" if named else "mtime",
    )


def scan_entity_folder(raw_dir: Path, contract: Contract) -> EntityFolder:
    """The entity's drops (oldest first: by drop date, then name) and what else its folder holds."""
    folder = drop_folder(raw_dir, contract)
    found = EntityFolder()
    if not folder.is_dir():
        return found
    raw_root = raw_dir.resolve()

    def ignore(path: Path, reason: str) -> None:
        relative = path.relative_to(raw_dir).as_posix()
        found.ignored.append(IgnoredEntry(relative, contract.source, contract.entity, reason))

    if _leads_out(folder, raw_root):
        ignore(folder, LINK_OUT)
        return found
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_symlink() and path.exists() and _leads_out(path, raw_root):
            ignore(path, LINK_OUT)
        elif reason := _unread_reason(path):
            ignore(path, reason)
        else:
            found.drops.append(_drop(path, raw_dir))
    found.drops.sort(key=lambda d: (d.drop_date, d.path.name))
    return found


def _closest(name: str, candidates: list[str]) -> str | None:
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def stray_entries(raw_dir: Path, contracts: list[Contract] | None = None) -> list[IgnoredEntry]:
    """Files and folders outside the entity folders, each with the reason (a misnamed folder with
    the closest name). Entries holding a file that some entity reads as a drop are left alone."""
    contracts = contracts if contracts is not None else list(load_contracts().values())
    if not raw_dir.is_dir():
        return []
    raw_root = raw_dir.resolve()
    entities = {(c.source, c.entity) for c in contracts}
    sources = sorted({c.source for c in contracts})
    claimed = {d.path.absolute() for c in contracts for d in find_all_drops(raw_dir, c)}
    stray: list[IgnoredEntry] = []

    def visible(folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))

    def holds_drop(path: Path) -> bool:
        absolute = path.absolute()
        return any(d == absolute or d.is_relative_to(absolute) for d in claimed)

    def add(path: Path, source: str, entity: str, reason: str) -> None:
        if not holds_drop(path):
            stray.append(IgnoredEntry(path.relative_to(raw_dir).as_posix(), source, entity, reason))

    for top in visible(raw_dir):
        if top.is_symlink() and _leads_out(top, raw_root):
            add(top, top.name, "", LINK_OUT)
        elif not top.is_dir():
            add(top, "", "", NOT_IN_ENTITY_FOLDER)
        elif top.name not in sources:
            guess = _closest(top.name, sources)
            hint = f"did you mean {guess}?" if guess else f"the sources are {', '.join(sources)};"
            add(top, top.name, "", f"folder matches no source: {hint} Its files are not read")
        else:
            for entry in visible(top):
                if (top.name, entry.name) in entities and entry.is_dir():
                    continue  # an entity folder: read by the entity's own load
                if not entry.is_dir():
                    add(entry, top.name, "", NOT_IN_ENTITY_FOLDER)
                    continue
                guess = _closest(f"{top.name}/{entry.name}", [f"{s}/{e}" for s, e in sorted(entities)])
                known = ", ".join(e for s, e in sorted(entities) if s == top.name)
                hint = f"did you mean {guess}?" if guess else f"{top.name} has {known};"
                add(entry, top.name, entry.name, f"folder matches no entity: {hint} Its files are not read")
    return stray


def find_all_drops(raw_dir: Path, contract: Contract) -> list[Drop]:
    """The entity's drops as the loader finds them (through `find_drops`, which may be extended)."""
    from dagster_project.ingest.drops import find_drops

    return find_drops(raw_dir, contract)


def _recorded(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    rows = con.execute("select source_file, rejected_reason from meta.ingest_audit where status = 'ignored'").fetchall()
    return {(f, r) for f, r in rows}


def unrecorded(con: duckdb.DuckDBPyConnection, entries: list[IgnoredEntry]) -> list[IgnoredEntry]:
    """The entries not yet in the audit with the same reason."""
    done = _recorded(con)
    return [e for e in entries if (e.relative_path, e.reason) not in done]


def record_ignored(con: duckdb.DuckDBPyConnection, entries: list[IgnoredEntry], run_id: str) -> list[IgnoredEntry]:
    """One audit row (status `ignored`, zero rows, the reason) per entry not recorded before."""
    ensure_meta(con)
    new = unrecorded(con, entries)
    now = datetime.now(UTC).replace(tzinfo=None)
    insert_rows(
        con,
        "insert into meta.ingest_audit (drop_id, source, entity, source_file, rows_read, rows_loaded, "
        "rows_quarantined, status, rejected_reason, run_id, started_at, finished_at) "
        "values (?, ?, ?, ?, 0, 0, 0, 'ignored', ?, ?, ?, ?)",
        [[e.drop_id, e.source, e.entity, e.relative_path, e.reason, run_id, now, now] for e in new],
    )
    return new


def record_stray_entries(con: duckdb.DuckDBPyConnection, raw_dir: Path, run_id: str) -> list[IgnoredEntry]:
    """Record what lies outside the entity folders (once each); returns the newly recorded."""
    return record_ignored(con, stray_entries(raw_dir), run_id)


def pending_ignored(con: duckdb.DuckDBPyConnection, raw_dir: Path) -> list[str]:
    """Ignored entries of the raw folder that the audit does not record yet."""
    entries = list(stray_entries(raw_dir))
    for contract in load_contracts().values():
        entries += scan_entity_folder(raw_dir, contract).ignored
    return [e.relative_path for e in unrecorded(con, entries)]
