"""What a failed or killed publish leaves in the BI folder is removed, and nothing else (issue 9,
item 20; the real disk-full runs are in test_end_to_end.py)."""

from __future__ import annotations

from dagster_project.publish.cleanup import remove_partial_snapshot


def test_leftovers_of_an_unfinished_publish_are_removed_and_the_snapshot_kept(tmp_path):
    bi = tmp_path / "bi"
    complete = bi / ".snapshots" / "20261201T000000Z"
    unfinished = bi / ".snapshots" / "20261202T000000Z"
    (complete / "parquet").mkdir(parents=True)
    (complete / "COMPLETE").touch()
    (unfinished / "parquet").mkdir(parents=True)
    (unfinished / "parquet" / "alerts.parquet").write_bytes(b"half")
    (bi / "marts.duckdb").write_bytes(b"published")
    (bi / "snapshot.json").write_text("{}")
    (bi / "parquet").symlink_to(".snapshots/20261201T000000Z/parquet")
    (bi / ".marts.duckdb.20261202T000000Z.building").write_bytes(b"half")
    (bi / ".marts.duckdb.20261202T000000Z.building.wal").write_bytes(b"log")

    removed = remove_partial_snapshot(bi)

    assert removed == [
        ".marts.duckdb.20261202T000000Z.building",
        ".marts.duckdb.20261202T000000Z.building.wal",
        ".snapshots/20261202T000000Z",
    ]
    assert sorted(p.relative_to(bi).as_posix() for p in bi.rglob("*")) == [
        ".snapshots",
        ".snapshots/20261201T000000Z",
        ".snapshots/20261201T000000Z/COMPLETE",
        ".snapshots/20261201T000000Z/parquet",
        "marts.duckdb",
        "parquet",
        "snapshot.json",
    ]
    assert remove_partial_snapshot(tmp_path / "absent") == []
