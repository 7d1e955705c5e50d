"""The run summary (issue 9, item 3): a failing dbt test names its model, its column and a few
failing rows, through a real dbt build (dagster-dbt) of a tiny project on a DuckDB file."""

import shutil
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from dagster_project.report import print_run_summary
from dagster_project.settings import Settings

MODEL = """
select * from (values
    (1, null, 'a@example.cn'), (2, 'A1', 'b@example.cn'), (3, null, 'c@example.cn'),
    (4, null, 'd@example.cn'), (5, null, 'e@example.cn')
) t(order_id, account_id, email)
"""

# line 20 twice and a line without its key: the project's primary_key test fails on two key values
LINES = """
select * from (values (10, 1), (20, 2), (20, 3), (null, 4), (30, 5)) t(line_id, order_id)
"""

SCHEMA = """
version: 2
models:
  - name: order_lines
    columns:
      - name: line_id
        data_tests: [primary_key]
  - name: orders
    columns:
      - name: account_id
        data_tests: [not_null]
      - name: order_id
        data_tests:
          - accepted_values: {arguments: {values: [1, 2, 3], quote: false}}
"""


def tiny_project(folder: Path, warehouse: Path) -> Path:
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(
        "name: tiny\nversion: '1.0'\nconfig-version: 2\nprofile: tiny\n"
        "models:\n  tiny:\n    +materialized: table\n    +schema: marts\n"
        "flags:\n  send_anonymous_usage_stats: false\n"
    )
    (folder / "macros").mkdir()
    (folder / "macros" / "schema.sql").write_text(
        "{% macro generate_schema_name(custom_schema_name, node) %}{{ custom_schema_name or target.schema }}"
        "{% endmacro %}"
    )
    (folder / "profiles.yml").write_text(
        f"tiny:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{warehouse}'\n      threads: 1\n"
    )
    (folder / "models" / "orders.sql").write_text(MODEL)
    (folder / "models" / "order_lines.sql").write_text(LINES)
    (folder / "tests" / "generic").mkdir(parents=True)  # the project's own generic test, as it is
    shutil.copy(
        Path(__file__).resolve().parents[1] / "dbt" / "tests" / "generic" / "primary_key.sql",
        folder / "tests" / "generic",
    )
    (folder / "models" / "_models.yml").write_text(SCHEMA)
    return folder


@pytest.mark.slow
def test_a_failing_dbt_test_names_its_model_column_and_rows(tmp_path, capsys):
    warehouse = tmp_path / "warehouse.duckdb"
    project_dir = tiny_project(tmp_path / "tiny", warehouse)
    dbt = DbtCliResource(
        project_dir=str(project_dir),
        profiles_dir=str(project_dir),
        dbt_executable=str(Path(sys.executable).parent / "s2s-dbt"),  # as the project runs dbt
    )
    dbt.cli(["parse"], target_path=Path("target")).wait()
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=DagsterDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
    )
    def tiny(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        yield from dbt.cli(["build"], context=context, raise_on_error=False).stream()

    result = dg.materialize([tiny], resources={"dbt": dbt}, raise_on_error=False)
    settings = Settings(raw_dir=tmp_path / "raw", warehouse=warehouse, bi_dir=tmp_path / "bi", as_of=None)

    print_run_summary(settings, result, 1.0, dbt_target_dir=project_dir / "target")

    out = capsys.readouterr().out
    assert (
        "  [ERROR] marts/orders not_null_orders_account_id: 4 failing rows (dbt test)\n"
        "      model orders, column account_id (not_null)\n"
        "      e.g. order_id=1, account_id=NULL, email=<hidden>\n"
        "      e.g. order_id=3, account_id=NULL, email=<hidden>\n"
        "      e.g. order_id=4, account_id=NULL, email=<hidden>\n"
    ) in out
    assert (
        "  [ERROR] marts/orders accepted_values_orders_order_id__False__1__2__3: 2 failing rows (dbt test)\n"
        "      model orders, column order_id (accepted_values)\n"
        "      e.g. value_field=4, n_records=1\n"
        "      e.g. value_field=5, n_records=1\n"
    ) in out
    # one failure per bad key value (NULL once), and the model's rows that have them
    assert (
        "  [ERROR] marts/order_lines primary_key_order_lines_line_id: 2 failing rows (dbt test)\n"
        "      model order_lines, column line_id (primary_key)\n"
        "      e.g. line_id=NULL, order_id=4\n"
    ) in out
    shared = out.split("column line_id (primary_key)\n", 1)[1].splitlines()[1:3]
    assert sorted(shared) == ["      e.g. line_id=20, order_id=2", "      e.g. line_id=20, order_id=3"]
    assert "example.cn" not in out  # personal values stay in the warehouse
