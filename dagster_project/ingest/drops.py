"""Finding an entity's drops in the raw folder, and what identifies each: date, content hash, encoding."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from dagster_project.contracts import Contract
from dagster_project.ingest.inspect import sniff_encoding

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".xlsx")
# An encoding declared in the file name wins over detection: `accounts_2025-01-31.gbk.csv`.
_DECLARED_ENCODING = re.compile(r"\.(gbk|gb2312|gb18030|utf-?8)\.csv(\.gz)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Drop:
    """One file in `<raw>/<source>/<entity>/`, or one file of a company's export that a mapping
    routes to the entity (`mapping` set): one extract delivery."""

    path: Path
    relative_path: str  # to the raw folder, as stored in the warehouse
    drop_date: date
    size: int
    mtime_ns: int  # modification time; for a mapped drop folded with the mapping's digest
    dated_by: str = "name"  # name | mtime: where the drop date comes from
    mapping: Any = field(default=None, compare=False)  # dagster_project.mapping.MappedSource

    @property
    def identity_salt(self) -> str:
        """Mixed into the content hash: the same file read through another mapping is another drop."""
        return self.mapping.digest if self.mapping is not None else ""

    @property
    def format(self) -> str:
        name = self.path.name.lower()
        return next(s for s in SUFFIXES if name.endswith(s)).lstrip(".")

    @property
    def date_note(self) -> str | None:
        """Stored with the drop's audit row when the file's modification time gave its date."""
        if self.dated_by != "mtime":
            return None
        return f"drop date {self.drop_date} from the file's modification time (no date in the name)"

    @property
    def date_warning(self) -> str | None:
        if self.dated_by != "mtime":
            return None
        return (
            f"{self.relative_path}: no date in the file name (YYYY-MM-DD, YYYYMMDD, YYYY_MM_DD or YYYY.MM.DD); "
            f"its modification date {self.drop_date} is the drop date"
        )


def drop_folder(raw_dir: Path, contract: Contract) -> Path:
    return raw_dir / contract.source / contract.entity


def find_drops(raw_dir: Path, contract: Contract) -> list[Drop]:
    """Every accepted file of the entity, oldest drop first (by the date in its name, then name):
    its native folder's (`inventory.scan_entity_folder`, which also lists what else the folder
    holds), and the files the deployment's mappings route to it."""
    from dagster_project.ingest.inventory import scan_entity_folder
    from dagster_project.mapping.discover import mapped_drops  # the mapping package reads Drop

    drops = mapped_drops(raw_dir, contract.name) + scan_entity_folder(raw_dir, contract).drops
    return sorted(drops, key=lambda d: (d.drop_date, d.path.name))


def content_hash(path: Path, salt: str = "") -> str:
    """sha256 of the file's bytes (after `salt`): a re-delivered drop (any name) has the same hash."""
    digest = hashlib.sha256(salt.encode())
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def detect_encoding(path: Path, otherwise: str | None = None) -> str:
    """`utf-8` or `gb18030` (the superset of GBK that Chinese ERP/CRM exports use), from the encoding
    declared in the name (`x.gbk.csv`), else the first MiB (`utf-16` when it starts with its byte
    order mark, or `utf-16-le`/`-be` when every other byte is zero); raises FileRejected when the bytes fit
    neither or contradict the declared one (see inspect.sniff_encoding). `otherwise`: a mapping's
    encoding for files that are not UTF-8, in place of GBK."""
    declared = _DECLARED_ENCODING.search(path.name)
    if declared is None:
        return sniff_encoding(path, None, otherwise)
    return sniff_encoding(path, "utf-8" if declared.group(1).lower().startswith("utf") else "gb18030")
