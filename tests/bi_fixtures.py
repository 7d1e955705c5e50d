"""Fixtures of the BI side (imported by conftest.py): a PostgreSQL server of the machine's own, and a
BI snapshot published from the small hand-made company built by the real dbt."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _fail_or_skip(reason: str) -> None:
    """In CI (CI=true, where .ci/run installs the Debian packages) a missing server fails the suite."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _postgres_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port (Debian's postgresql package), as the
    `postgres` user when the tests run as root (PostgreSQL refuses to run as root)."""
    bindir = _postgres_bin()
    if not bindir:
        _fail_or_skip("PostgreSQL server binaries not found (apt-get install postgresql; .ci/run does)")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = Path(tempfile.mkdtemp(prefix="s2s-pg-"))
    if as_user:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data / "db"), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        + ["--locale=C.UTF-8"],
        **run,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(data / "db")]
    subprocess.run([*pg_ctl, "-o", options, "-l", str(data / "log"), "-w", "start"], **run)
    try:
        yield f"host=127.0.0.1 port={port} dbname=postgres user=postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], **run)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def fresh_database(postgres_dsn: str) -> Iterator[str]:
    """A new, empty database on the session's server for one test (roles are server-wide)."""
    import psycopg

    name = f"t{int(time.time() * 1e6)}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f"create database {name}")
    yield postgres_dsn.replace("dbname=postgres", f"dbname={name}")
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f"drop database {name} with (force)")


@pytest.fixture(scope="session")
def small_company_snapshot(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The small hand-made company of test_dbt_project.py built by the real dbt (persist_docs on) and
    published: the real marts, their real columns and descriptions, in a snapshot."""
    import json

    from test_dbt_project import dbt, empty_warehouse, load_small_company, write_policy

    from dagster_project.publish.snapshot import publish_snapshot
    from dagster_project.warehouse import connect

    work = tmp_path_factory.mktemp("bi_small_company")
    warehouse = work / "warehouse.duckdb"
    con = empty_warehouse(warehouse)
    load_small_company(con)
    write_policy(con, work / "deployment")  # meta.field_policy, as the pipeline writes it before dbt
    con.close()
    built = dbt(["build", "--exclude-resource-type", "unit_test"], warehouse, work)
    assert built.returncode == 0, built.stdout[-4000:]
    con = connect(warehouse)
    try:
        publish_snapshot(con, work / "bi", run_id="small-company")
    finally:
        con.close()
    manifest = json.loads((work / "target" / "manifest.json").read_text(encoding="utf-8"))
    return {"work": work, "warehouse": warehouse, "bi_dir": work / "bi", "manifest": manifest}


# The oldest DuckDB CLI on PyPI (duckdb-cli 1.4.4) and the newest 1.x (1.5.6): both read storage v1.0.0
OLD_CLIS = ["1.4.4", "1.5.6"]


@pytest.fixture(scope="session", params=OLD_CLIS)
def old_duckdb_cli(request, tmp_path_factory) -> Path:
    """The DuckDB CLI of a 1.x release, from PyPI's duckdb-cli package, in a virtualenv of its own."""
    venv = tmp_path_factory.mktemp(f"duckdb-cli-{request.param}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"duckdb-cli=={request.param}",
        ],
        check=True,
        timeout=300,
    )
    cli = venv / "bin" / "duckdb"
    cli.chmod(0o755)  # the wheel ships the binary as data; older pips leave it without the exec bit
    version = subprocess.run([str(cli), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith(f"v{request.param}"), version
    return cli
