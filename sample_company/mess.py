"""Realistic defects injected into the drops, each one counted (and located by line where it can be).

Frame-level: critical CRM values left empty, exact duplicate rows. Text-level, on written plain CSV
files: orphan foreign keys and malformed rows (one field too many, an unparseable number, an
impossible date, a value outside the allowed set). Line 1 is the header, so row i of a frame is on
line i + 2 (no value spans lines).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from dagster_project.contracts import Contract

from sample_company.writers import FLOAT_KINDS, INT_KINDS, kind_of


@dataclass
class FileRecord:
    path: Path
    relpath: str
    entity: str  # "<source>/<entity>"
    fmt: str
    rows: int
    drop_index: int = 0
    encoding: str = "utf-8"
    bom: bool = False
    duplicate_lines: list[int] = field(default_factory=list)
    missing_critical: dict[str, int] = field(default_factory=dict)
    orphans: list[dict] = field(default_factory=list)
    malformed: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        malformed_by_kind: dict[str, int] = {}
        for m in self.malformed:
            malformed_by_kind[m["kind"]] = malformed_by_kind.get(m["kind"], 0) + 1
        return {
            "rows": self.rows,
            "format": self.fmt,
            "encoding": self.encoding,
            "bom": self.bom,
            "defects": {
                "duplicate_rows": len(self.duplicate_lines),
                "duplicate_lines": self.duplicate_lines,
                "missing_critical": dict(sorted(self.missing_critical.items())),
                "orphan_fks": self.orphans,
                "malformed_rows": malformed_by_kind,
                "malformed": self.malformed,
            },
        }


def null_mask(frame: pd.DataFrame, column: str, kinds: dict[str, str]) -> np.ndarray:
    kind = kind_of(kinds, column)
    values = frame[column]
    if kind in INT_KINDS:
        return values.to_numpy() < 0
    if kind in FLOAT_KINDS:
        return np.isnan(values.to_numpy(dtype=float))
    return values.isna().to_numpy()


def blank_critical(
    frame: pd.DataFrame, contract: Contract, kinds: dict[str, str], rate: float, rng: np.random.Generator
) -> pd.DataFrame:
    """Empty each critical (non-key) value with probability `rate`."""
    if rate <= 0 or frame.empty:
        return frame
    frame = frame.copy()
    for col in contract.critical_columns:
        if col.name in contract.primary_key:
            continue
        hit = rng.random(len(frame)) < rate
        if not hit.any():
            continue
        kind = kind_of(kinds, col.name)
        if kind in INT_KINDS:
            values = frame[col.name].to_numpy().copy()
            values[hit] = -1
            frame[col.name] = values
        elif kind in FLOAT_KINDS:
            values = frame[col.name].to_numpy(dtype=float).copy()
            values[hit] = np.nan
            frame[col.name] = values
        else:
            frame.loc[hit, col.name] = None
    return frame


def count_missing(frame: pd.DataFrame, contract: Contract, kinds: dict[str, str]) -> dict[str, int]:
    out = {}
    for col in contract.critical_columns:
        k = int(null_mask(frame, col.name, kinds).sum())
        if k:
            out[col.name] = k
    return out


def duplicate_rows(frame: pd.DataFrame, rate: float, rng: np.random.Generator) -> tuple[pd.DataFrame, list[int]]:
    """Insert exact copies of random rows somewhere after the original; return the copies' lines."""
    n = len(frame)
    k = int(rng.binomial(n, rate)) if rate > 0 and n else 0
    if not k:
        return frame, []
    src = np.sort(rng.choice(n, size=k, replace=False))
    pos = src + 1 + (rng.random(k) * (n - src)).astype("int64")
    new_index = np.insert(np.arange(n), pos, -(src + 1))
    dup_rows = np.flatnonzero(new_index < 0)
    take = np.where(new_index < 0, -new_index - 1, new_index)
    return frame.iloc[take].reset_index(drop=True), [int(i) + 2 for i in dup_rows]


def _orphan_value(rng: np.random.Generator, kind: str, current: str) -> str:
    parts = kind.split(":")
    if parts[0] == "id":
        prefix, width = parts[1], int(parts[2])
        return prefix + "99" + str(int(rng.integers(0, 10 ** (width - 2)))).zfill(width - 2)
    head = current.split("-")[0] if "-" in current else current[:3]
    return f"{head[:3]}ZZ-{int(rng.integers(9000, 10000))}"


def _bad_value(kind: str, template: str, current: str) -> str:
    if kind == "impossible_date":
        return f"{current[:4]}-02-30{current[10:]}"
    if kind == "unparseable_number" and "," in template:
        return f'"{template}"'
    return template


@dataclass
class TextDefect:
    entity: str
    kind: str  # orphan_fk | extra_field | unparseable_number | impossible_date | value_not_allowed
    column: str  # empty for extra_field
    template: str
    count: int


def text_defects(mess: dict, scale: float) -> list[TextDefect]:
    """The configured orphan and malformed defects with their counts at this scale (at least one each)."""
    out = []
    for entity, column, n in mess.get("orphans") or []:
        out.append(TextDefect(entity, "orphan_fk", column, "", max(1, round(n * scale))))
    for entity, kind, column, template in mess.get("malformed") or []:
        out.append(TextDefect(entity, kind, column, str(template), max(1, round(scale))))
    return out


def apply_text_defects(
    defects: list[TextDefect],
    files: list[FileRecord],
    contract: Contract,
    kinds: dict[str, str],
    rng: np.random.Generator,
) -> list[dict]:
    """Edit lines of written plain CSV files of one entity; record every edit on its file.

    Returns the defects that found no place (no plain CSV file, or no suitable line)."""
    eligible = [f for f in files if f.fmt == "csv" and f.encoding == "utf-8" and f.rows >= 1]
    unplaced: list[dict] = []
    if not eligible:
        return [{"entity": d.entity, "kind": d.kind, "column": d.column, "count": d.count} for d in defects]
    columns = list(contract.column_names)
    fk_target = {c: fk.references for fk in contract.foreign_keys for c in fk.columns}
    lines_of: dict[int, list[str]] = {}
    taken: dict[int, set[int]] = {}
    weights = np.array([f.rows for f in eligible], dtype=float)
    for d in defects:
        for _ in range(d.count):
            for _attempt in range(500):
                fi = int(rng.choice(len(eligible), p=weights / weights.sum()))
                rec = eligible[fi]
                if fi not in lines_of:
                    lines_of[fi] = rec.path.read_text(encoding="utf-8").split("\n")
                    taken[fi] = set(rec.duplicate_lines)
                lines = lines_of[fi]
                line_no = int(rng.integers(2, rec.rows + 2))
                text = lines[line_no - 1]
                if line_no in taken[fi] or '"' in text:
                    continue
                fields = text.split(",")
                if len(fields) != len(columns):
                    continue
                if d.kind == "extra_field":
                    lines[line_no - 1] = text + "," + d.template
                    rec.malformed.append({"line": line_no, "kind": d.kind, "column": "", "value": d.template})
                else:
                    ci = columns.index(d.column)
                    current = fields[ci]
                    if not current:
                        continue
                    if d.kind == "orphan_fk":
                        value = _orphan_value(rng, kinds.get(d.column, "text"), current)
                        rec.orphans.append(
                            {
                                "line": line_no,
                                "column": d.column,
                                "value": value,
                                "references": fk_target.get(d.column, ""),
                            }
                        )
                    else:
                        value = _bad_value(d.kind, d.template, current)
                        rec.malformed.append(
                            {"line": line_no, "kind": d.kind, "column": d.column, "value": value.strip('"')}
                        )
                    fields[ci] = value
                    lines[line_no - 1] = ",".join(fields)
                taken[fi].add(line_no)
                break
            else:
                unplaced.append({"entity": d.entity, "kind": d.kind, "column": d.column, "count": 1})
    for fi, lines in lines_of.items():
        eligible[fi].path.write_bytes("\n".join(lines).encode("utf-8"))
        eligible[fi].orphans.sort(key=lambda x: x["line"])
        eligible[fi].malformed.sort(key=lambda x: x["line"])
    return unplaced
