"""The project's table and view materializations (`dbt/macros/materializations/`): one
`create or replace` statement per model, atomic in DuckDB, and dbt's own materializations for
what one statement cannot do (issue 14). Real dbt on a small project that uses the project's
materialization macros, on a real DuckDB file."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
DBT = str(Path(sys.executable).with_name("dbt"))


def project_with(tmp_path: Path, models: dict[str, str]) -> Path:
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    shutil.copytree(REPO / "dbt" / "macros" / "materializations", project / "macros" / "materializations")
    (project / "dbt_project.yml").write_text(
        "name: p\nversion: '1.0.0'\nconfig-version: 2\nprofile: p\nmodel-paths: [models]\nmacro-paths: [macros]\n",
        encoding="utf-8",
    )
    (project / "profiles.yml").write_text(
        f"p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {tmp_path / 'w.duckdb'}\n"
        "      threads: 2\n",
        encoding="utf-8",
    )
    for name, text in models.items():
        (project / "models" / name).write_text(text, encoding="utf-8")
    return project


def build(project: Path, variables: str, log: Path) -> subprocess.CompletedProcess[str]:
    """`dbt build` with dbt's debug log, which holds every statement dbt sends."""
    shutil.rmtree(log, ignore_errors=True)
    args = [DBT, "build", "--project-dir", str(project), "--profiles-dir", str(project), "--vars", variables]
    args += ["--log-path", str(log), "--log-level-file", "debug"]
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    return subprocess.run(args, env=env, cwd=project, capture_output=True, text=True)


def relations(warehouse: Path) -> dict[str, str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.sql(
            "select table_name, table_type from information_schema.tables where table_schema = 'main'"
        ).fetchall()
    return dict(rows)


def read(warehouse: Path, name: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(f"select * from {name}").fetchall()


def test_a_table_and_a_view_are_replaced_in_one_statement_and_a_failing_rebuild_leaves_both_as_they_were(tmp_path):
    project = project_with(
        tmp_path,
        {
            "t.sql": "{{ config(materialized='table') }} select {{ var('x') }} as x",
            "v.sql": "{{ config(materialized='view') }} select {{ var('x') }} as x",
        },
    )
    warehouse, log = tmp_path / "w.duckdb", tmp_path / "logs"
    for x in ("1", "2"):  # the first build creates both, the second replaces them
        done = build(project, f"{{x: {x}}}", log)
        assert done.returncode == 0, done.stdout[-3000:]
        assert read(warehouse, "t") == [(int(x),)] and read(warehouse, "v") == [(int(x),)]
    statements = (log / "dbt.log").read_text(encoding="utf-8")
    assert 'create or replace table "w"."main"."t"' in statements
    assert 'create or replace view "w"."main"."v"' in statements
    assert " rename to " not in statements and "__dbt_tmp" not in statements and "__dbt_backup" not in statements

    # what a build of dbt's own stopped half way leaves is dropped, as dbt's own drops it
    with duckdb.connect(str(warehouse)) as con:
        con.sql("create table t__dbt_tmp as select 1 as x; create view v__dbt_backup as select 1 as x")
    done = build(project, "{x: 2}", log)
    assert done.returncode == 0 and relations(warehouse) == {"t": "BASE TABLE", "v": "VIEW"}, done.stdout[-3000:]

    done = build(project, "{x: no_such_column}", log)  # both fail when DuckDB binds the query
    assert done.returncode == 1 and done.stdout.count("no_such_column") >= 2, done.stdout[-3000:]
    assert read(warehouse, "t") == [(2,)] and read(warehouse, "v") == [(2,)]
    assert relations(warehouse) == {"t": "BASE TABLE", "v": "VIEW"}  # nothing left under another name


def test_a_change_of_kind_and_a_contract_go_to_dbt_s_own_materializations(tmp_path):
    project = project_with(
        tmp_path,
        {
            "m.sql": "{{ config(materialized=var('kind')) }} select 1 as x",
            "c.sql": "{{ config(materialized='table') }} select 1 as x",
            "c.yml": "models:\n  - name: c\n    config:\n      contract: {enforced: true}\n"
            "    columns:\n      - name: x\n        data_type: \"{{ var('declared') }}\"\n",
        },
    )
    warehouse, log = tmp_path / "w.duckdb", tmp_path / "logs"
    for built, kind in enumerate(("view", "table", "view")):
        done = build(project, f"{{kind: {kind}, declared: integer}}", log)
        assert done.returncode == 0, done.stdout[-3000:]
        assert relations(warehouse)["m"] == {"view": "VIEW", "table": "BASE TABLE"}[kind]
        assert read(warehouse, "m") == [(1,)]
        statements = (log / "dbt.log").read_text(encoding="utf-8")
        # a new view is created in one statement; a view that replaces a table, or a table a
        # view, is renamed into place by dbt's own, and so is the table under a contract
        assert ('create or replace view "w"."main"."m"' in statements) == (built == 0)
        assert ('rename to "m"' in statements) == (built > 0)
        assert 'rename to "c"' in statements and "create or replace table" not in statements
    assert relations(warehouse) == {"m": "VIEW", "c": "BASE TABLE"}

    done = build(project, "{kind: view, declared: varchar}", log)  # the contract is still enforced
    assert done.returncode == 1 and "contract" in done.stdout.lower(), done.stdout[-3000:]


def test_a_data_test_reads_without_a_transaction_and_one_that_stores_its_failures_goes_to_dbt_s_own(tmp_path):
    project = project_with(
        tmp_path,
        {
            "n.sql": "{{ config(materialized='table') }} select 1 as x, null as y union all select null, null",
            "n.yml": "models:\n  - name: n\n    columns:\n      - name: x\n        data_tests:\n          - not_null\n"
            "          - accepted_values:\n              arguments: {values: [2]}\n"
            "              config: {store_failures: true, severity: warn}\n"
            "      - name: y\n        data_tests:\n          - not_null:\n"
            "              config: {warn_if: '>1', error_if: '>5'}\n",
        },
    )
    warehouse, log = tmp_path / "w.duckdb", tmp_path / "logs"
    done = build(project, "{}", log)
    assert done.returncode == 1, done.stdout[-3000:]  # the not_null test fails the build
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    outcome = {
        r["unique_id"].split(".")[2]: (r["status"], r["failures"])
        for r in results
        if r["unique_id"].startswith("test.")
    }
    # y's two NULLs: over warn_if, under error_if, through the project's materialization
    assert outcome == {"not_null_n_x": ("fail", 1), "accepted_values_n_x__2": ("warn", 1), "not_null_n_y": ("warn", 2)}
    statements = (log / "dbt.log").read_text(encoding="utf-8")
    for name in ("not_null_n_x", "not_null_n_y"):
        assert re.search(rf"On test\.p\.{name}\.\w+: /\*", statements)  # its query ran
        assert not re.search(rf"On test\.p\.{name}\.\w+: (BEGIN|ROLLBACK)", statements)
    # the stored failures: dbt's own, in a transaction, its table holds the failing row
    assert re.search(r"On test\.p\.accepted_values_n_x__2\.\w+: BEGIN", statements)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.sql("select * from main_dbt_test__audit.accepted_values_n_x__2").fetchall() == [(1, 1)]


def test_hooks_and_comments_keep_the_order_of_dbt_s_own_and_a_failing_hook_leaves_the_old_relation(tmp_path):
    """dbt-duckdb's table runs its post-hooks, then writes the comments; dbt's view writes the
    comments, then runs the post-hooks. A hook that fails inside the transaction undoes the replace."""
    hook = "comment on {kind} {{{{ this }}}} is 'from the hook'"
    failing = "{{% if var('fail') %}}select * from no_such_table{{% else %}}select 1{{% endif %}}"
    project = project_with(
        tmp_path,
        {
            "t.sql": "{{ config(materialized='table', post_hook=[\""
            + hook.format(kind="table")
            + '", "'
            + failing.format()
            + "\"]) }} select {{ var('x') }} as x",
            "v.sql": "{{ config(materialized='view', post_hook=[\""
            + hook.format(kind="view")
            + '", "'
            + failing.format()
            + "\"]) }} select {{ var('x') }} as x",
            "docs.yml": "models:\n"
            + "".join(
                f"  - name: {m}\n    description: from the docs\n    config:\n"
                "      persist_docs: {relation: true, columns: true}\n"
                "    columns:\n      - name: x\n        description: the column's docs\n"
                for m in ("t", "v")
            ),
        },
    )
    warehouse, log = tmp_path / "w.duckdb", tmp_path / "logs"
    done = build(project, "{x: 1, fail: false}", log)
    assert done.returncode == 0, done.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        comments = dict(
            con.sql(
                "select table_name, comment from duckdb_tables() union all "
                "select view_name, comment from duckdb_views() where not internal"
            ).fetchall()
        )
        columns = con.sql(
            "select table_name, comment from duckdb_columns() where column_name = 'x' order by 1"
        ).fetchall()
    assert comments == {"t": "from the docs", "v": "from the hook"}
    assert columns == [("t", "the column's docs"), ("v", "the column's docs")]

    done = build(project, "{x: 2, fail: true}", log)  # the replace succeeds, then a hook fails
    assert done.returncode == 1 and done.stdout.count("no_such_table") >= 2, done.stdout[-3000:]
    assert read(warehouse, "t") == [(1,)] and read(warehouse, "v") == [(1,)]
    assert relations(warehouse) == {"t": "BASE TABLE", "v": "VIEW"}
