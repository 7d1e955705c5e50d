"""Finding an entity's drops in the raw folder, and what identifies each: date, content hash, encoding."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from dagster_project.contracts import Contract

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".xlsx")
_DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
# An encoding declared in the file name wins over detection: `accounts_2025-01-31.gbk.csv`.
_DECLARED_ENCODING = re.compile(r"\.(gbk|gb2312|gb18030|utf-?8)\.csv(\.gz)?$", re.IGNORECASE)
_SNIFF_BYTES = 1 << 20


@dataclass(frozen=True)
class Drop:
    """One file in `<raw>/<source>/<entity>/`, or one file of a company's export that a mapping
    routes to the entity (`mapping` set): one extract delivery."""

    path: Path
    relative_path: str  # to the raw folder, as stored in the warehouse
    drop_date: date
    size: int
    mtime_ns: int  # modification time; for a mapped drop folded with the mapping's digest
    mapping: Any = field(default=None, compare=False)  # dagster_project.mapping.MappedSource

    @property
    def identity_salt(self) -> str:
        """Mixed into the content hash: the same file read through another mapping is another drop."""
        return self.mapping.digest if self.mapping is not None else ""

    @property
    def format(self) -> str:
        name = self.path.name.lower()
        return next(s for s in SUFFIXES if name.endswith(s)).lstrip(".")


def drop_folder(raw_dir: Path, contract: Contract) -> Path:
    return raw_dir / contract.source / contract.entity


def find_drops(raw_dir: Path, contract: Contract) -> list[Drop]:
    """Every accepted file of the entity, oldest drop first (by the date in its name, then name):
    its native folder's, and the files the deployment's mappings route to it."""
    from dagster_project.mapping.discover import mapped_drops  # the mapping package reads Drop

    folder = drop_folder(raw_dir, contract)
    drops = mapped_drops(raw_dir, contract.name)
    if not folder.is_dir():
        return sorted(drops, key=lambda d: (d.drop_date, d.path.name))
    for path in folder.iterdir():
        if not path.is_file() or path.name.startswith(".") or not path.name.lower().endswith(SUFFIXES):
            continue
        stat = path.stat()
        match = _DATE_IN_NAME.search(path.name)
        try:
            drop_date = date.fromisoformat(match.group(1)) if match else None
        except ValueError:
            drop_date = None
        if drop_date is None:  # no date in the name: the file's modification day stands in
            drop_date = datetime.fromtimestamp(stat.st_mtime, tz=UTC).date()
        drops.append(
            Drop(
                path=path,
                relative_path=path.relative_to(raw_dir).as_posix(),
                drop_date=drop_date,
                size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
            )
        )
    return sorted(drops, key=lambda d: (d.drop_date, d.path.name))


def content_hash(path: Path, salt: str = "") -> str:
    """sha256 of the file's bytes (after `salt`): a re-delivered drop (any name) has the same hash."""
    digest = hashlib.sha256(salt.encode())
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def detect_encoding(path: Path) -> str:
    """`utf-8` or `gb18030` (the superset of GBK that Chinese ERP/CRM exports use).

    A name like `x.gbk.csv` declares it; otherwise the first MiB is tried as UTF-8, then GB18030.
    A UTF-8 file with a bad byte further on is still read as UTF-8: the bad rows are quarantined.
    """
    declared = _DECLARED_ENCODING.search(path.name)
    if declared:
        return "utf-8" if declared.group(1).lower().startswith("utf") else "gb18030"
    with _open_bytes(path) as fh:
        head = fh.read(_SNIFF_BYTES)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        return "utf-8"  # neither: read as UTF-8 and let the bad rows be quarantined


def transcode_to_utf8(path: Path, encoding: str, target: Path) -> None:
    """Write a UTF-8 copy of a file in another encoding (streamed; DuckDB reads only UTF-8 here)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    with _open_bytes(path) as src, target.open("wb") as dst:
        while chunk := src.read(1 << 22):
            dst.write(decoder.decode(chunk).encode("utf-8"))
        dst.write(decoder.decode(b"", final=True).encode("utf-8"))
