"""Read the same damaged drops with two checkouts of the code: proof that a change to the reader
(ingest/read.py, ingest/inspect.py) reads every file as before.

    git worktree add /tmp/before <commit>       # the code before the change
    .venv/bin/python bench/compare_reads.py /tmp/before . --files 400 --seed 11

Writes `--files` accounts drops into a folder of its own, each a valid export of 1 to 200 rows (one
in fifty of 25,000) with one to three kinds of damage drawn from DAMAGE (a field too many or too
few, a stray quote, a GBK line, a NUL, a line over the limit, mixed or CR-only line ends, blank rows,
the header again, a quoted line break, a byte order mark, ...); a fifth are gzipped, and a fifth of
those cut short; some names hold a glob character or end in an upper-case suffix.
Each checkout reads every drop in a process of its own (`read_drop`, the reader of ingestion); the
rows read, the malformed lines with their reasons and raw records, the notes, the encoding and any
rejection must be equal. Exits 1 on a difference, naming the file and what differs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

HEADER = [
    "account_id",
    "account_name",
    "industry",
    "region",
    "province",
    "city",
    "owner_rep_id",
    "employee_count",
    "annual_revenue_cny",
    "created_at",
    "updated_at",
    "is_key_account",
]
DAMAGE = [
    "none",
    "extra_field",
    "missing_field",
    "stray_quote",
    "gbk_line",
    "nul",
    "long_line",
    "crlf_mixed",
    "blank_row",
    "spaces_row",
    "header_again",
    "quoted_line_break",
    "bom",
    "trailing_separator",
    "empty_line",
    "unterminated_last",
    "cr_only",
]


def _field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value


def _record(i: int, rng: random.Random) -> str:
    name = rng.choice(["甲公司", "Acme, Inc.", "O'Neil", "北京丙丁", "x"])
    values = [f"A{i}", name, "tech", "east", "浙江", "杭州", "R1", str(rng.randint(1, 500)), "1000.5"]
    values += ["2025-01-02 10:00:00", "2025-01-03", rng.choice(["true", "false", ""])]
    return ",".join(_field(v) for v in values)


def _damaged(lines: list[str], damage: str, rng: random.Random) -> None:
    at = rng.randrange(1, len(lines) + 1)
    last = lines[-1]
    insert = {
        "extra_field": last + ",extra",
        "missing_field": ",".join(last.split(",")[:-2]),
        "stray_quote": last.replace("tech", 'te"ch', 1) if rng.random() < 0.5 else '"' + last,
        "nul": last.replace("tech", "te\x00ch"),
        "long_line": last.replace("tech", "t" * rng.choice([5_000, 70_000, 2_100_000])),
        "blank_row": "," * (len(HEADER) - 1),
        "spaces_row": " ," * (len(HEADER) - 1) + " ",
        "header_again": ",".join(HEADER),
        "quoted_line_break": last.replace("tech", '"te\nch"', 1),
        "empty_line": "",
    }.get(damage)
    if insert is not None:
        lines.insert(at, insert)
    elif damage == "trailing_separator":
        lines[0] += ","
    elif damage == "unterminated_last":
        lines.append('A999,"never closed,tech')


def write_drops(raw: Path, files: int, seed: int) -> None:
    rng = random.Random(seed)
    folder = raw / "crm" / "accounts"
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(files):
        # a few drops past read._CONCATENATE_BELOW_ROWS, whose blank rows are probed column by column
        rows = 25_000 if rng.random() < 0.02 else rng.choice([1, 3, 20, 200])
        lines = [",".join(HEADER)] + [_record(i, rng) for i in range(rows)]
        damages = rng.sample(DAMAGE, rng.choice([1, 1, 2, 3]))
        for damage in damages:
            _damaged(lines, damage, rng)
        text = ("\ufeff" if "bom" in damages else "") + "\n".join(lines) + "\n"
        if "cr_only" in damages:
            text = text.replace("\n", "\r")
        if "crlf_mixed" in damages:
            half = text.split("\n")
            text = "\r\n".join(half[: len(half) // 2]) + "\n" + "\n".join(half[len(half) // 2 :])
        data = text.encode("utf-8")
        if "gbk_line" in damages:
            at = data.rfind(b"\n", 0, rng.randrange(len(data) // 2, len(data))) + 1
            data = data[:at] + "北京".encode("gbk") + b"," + data[at:]
        # names DuckDB cannot read in place: a glob character, an upper case suffix
        name = f"accounts_2025-01-{k % 28 + 1:02d}_{k:04d}" + rng.choice(["", "", "", "", "_[1]", "_*"])
        name += ".CSV" if rng.random() < 0.1 else ".csv"
        if rng.random() < 0.2:
            name, data = name + (".gz" if name.endswith(".csv") else ".GZ"), gzip.compress(data)
            if rng.random() < 0.2:
                data = data[: len(data) * 2 // 3]
        (folder / name).write_bytes(data)


# Run by each checkout's Python path: what its reader makes of every drop, as JSON.
_READ_ALL = """
import json, sys
import duckdb
from pathlib import Path
from dagster_project.contracts import load_contracts
from dagster_project.ingest.drops import find_drops
from dagster_project.ingest.read import FileRejected, read_drop

con = duckdb.connect()
out = {}
for drop in find_drops(Path(sys.argv[1]), load_contracts()["crm.accounts"]):
    try:
        read = read_drop(con, drop)
    except FileRejected as exc:
        out[drop.relative_path] = {"rejected": str(exc)}
        continue
    rows = con.execute("select * from _drop_raw order by _line").fetchall()
    out[drop.relative_path] = {
        "header": read.header,
        "rows": [[str(v) for v in row] for row in rows],
        "malformed": sorted([m.line, m.reason, m.raw_record] for m in read.malformed),
        "notes": read.notes,
        "encoding": read.encoding,
    }
json.dump(out, sys.stdout, ensure_ascii=False, sort_keys=True, default=str)
"""


def read_with(code: Path, raw: Path) -> dict:
    env_path = str(code.absolute())
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {env_path!r})\n" + _READ_ALL, str(raw)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="a checkout of the code before the change")
    parser.add_argument("after", type=Path, help="a checkout of the code after it")
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="s2s-compare-reads-") as tmp:
        raw = Path(tmp) / "raw"
        write_drops(raw, args.files, args.seed)
        before, after = read_with(args.before, raw), read_with(args.after, raw)
    differ = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    counts = {
        "rejected": sum("rejected" in v for v in before.values()),
        "with malformed lines": sum(bool(v.get("malformed")) for v in before.values()),
        "with notes": sum(bool(v.get("notes")) for v in before.values()),
    }
    print(
        f"{len(before)} drops read by each ({', '.join(f'{n} {k}' for k, n in counts.items())}); {len(differ)} differ"
    )
    for name in differ[:10]:
        old, new = before.get(name, {}), after.get(name, {})
        fields = sorted(f for f in old.keys() | new.keys() if old.get(f) != new.get(f))
        print(f"  {name}: {', '.join(fields)}")
        for f in fields:
            print(f"    before: {str(old.get(f))[:300]}\n    after:  {str(new.get(f))[:300]}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
