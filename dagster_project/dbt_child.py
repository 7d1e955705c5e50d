"""`s2s-dbt`: dbt, made to die with the process that started it, and that re-parses the project only
when what it parses changed.

Dagster starts `dbt build` as a child process. When the run is killed outright (SIGKILL, the OOM
killer), nothing forwards a signal, and an orphaned dbt keeps building and holding the DuckDB
file's lock: every later run fails. This wrapper asks Linux to send it SIGKILL when its parent
dies (prctl PR_SET_PDEATHSIG) and then runs dbt in its own process. Elsewhere it just runs dbt.

dbt re-parses the whole project (about 5 s) when the profile's connection details differ from those
of its saved partial parse, and the warehouse file's folder is one of them: every new warehouse (a
test, the benchmark, a second deployment) paid a full parse. The folder shapes nothing dbt parses;
the file's stem does (it is the database name in every relation) and stays in the check.

A build is a batch process: the garbage collector is tuned for one (dagster_project/gc_tuning.py).
A build started by Dagster writes no manifest.json (`_no_manifest_json_in_dagster_builds`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _partial_parse_across_warehouse_folders() -> None:
    """dbt's partial-parse state check hashes the profile's warehouse path by its file name only."""
    from dbt.parser.manifest import ManifestLoader

    build_state_check = ManifestLoader.build_manifest_state_check

    def build_without_the_folder(self):
        credentials = self.root_project.credentials
        path = getattr(credentials, "path", None)
        if not isinstance(path, str) or ":" in path:  # :memory:, md:, s3:// ... as dbt does
            return build_state_check(self)
        credentials.path = Path(path).name
        try:
            return build_state_check(self)
        finally:
            credentials.path = path

    ManifestLoader.build_manifest_state_check = build_without_the_folder


def _no_manifest_json_in_dagster_builds() -> None:
    """A `dbt build` started by Dagster (dagster-dbt sets DAGSTER_DBT_CLI) writes no manifest.json.

    dbt writes the whole manifest as JSON twice per build, after parsing and again after the run
    (~0.5 s each on 2 cores for this project), into the invocation's own target folder. Dagster reads
    the manifest it loaded its definitions from (dbt/target/manifest.json, written by `dbt parse`, which
    this leaves alone, as every other command); the run summary reads run_results.json, still written,
    and the nodes from that same manifest. partial_parse.msgpack is written as before."""
    if os.environ.get("DAGSTER_DBT_CLI") != "true":
        return
    import click
    from dbt.parser import manifest as parser_manifest
    from dbt.task import runnable

    write_manifest = parser_manifest.write_manifest

    def write_unless_build(manifest, target_path: str, which: str | None = None) -> None:
        context = click.get_current_context(silent=True)
        if context is not None and context.command.name == "build":
            return
        write_manifest(manifest, target_path, which)

    parser_manifest.write_manifest = write_unless_build
    runnable.write_manifest = write_unless_build  # imported by name there


def main() -> None:
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the request took effect
        sys.exit(1)
    from dagster_project.gc_tuning import before_exit, loading_without_collection, tune_for_batch

    with loading_without_collection():
        _partial_parse_across_warehouse_folders()
        _no_manifest_json_in_dagster_builds()
        from dbt.cli.main import cli

    if "serve" not in sys.argv[1:]:  # `dbt docs serve` runs until stopped: Python's defaults
        tune_for_batch()
    sys.argv[0] = "dbt"
    try:
        sys.exit(cli())
    finally:
        before_exit()


if __name__ == "__main__":
    main()
