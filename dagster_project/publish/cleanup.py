"""What a failed or killed publish leaves in the BI folder, removed: the snapshot database being
built (and its write-ahead log) and version folders never completed. The published snapshot, and
the complete versions readers may still hold, are never touched."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster_project.publish.snapshot import SNAPSHOT_FILE


def remove_partial_snapshot(bi_dir: Path) -> list[str]:
    """Remove the leftovers of an unfinished publish; returns their names."""
    removed: list[str] = []
    if not bi_dir.is_dir():
        return removed
    for leftover in sorted(bi_dir.glob(f".{SNAPSHOT_FILE}.*.building*")):  # the file and its .wal
        leftover.unlink(missing_ok=True)
        removed.append(leftover.name)
    versions = bi_dir / ".snapshots"
    if versions.is_dir():
        for version in sorted(versions.iterdir()):
            if version.is_dir() and not (version / "COMPLETE").exists():
                shutil.rmtree(version, ignore_errors=True)
                removed.append(f".snapshots/{version.name}")
    return removed
