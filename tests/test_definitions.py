"""The code location loads, and its asset graph holds one ingestion asset per contract."""

import dagster as dg

from dagster_project.contracts import load_contracts


def test_definitions_load_with_one_asset_per_entity():
    from dagster_project.definitions import defs

    keys = set(defs.resolve_asset_graph().get_all_asset_keys())
    for contract in load_contracts().values():
        assert dg.AssetKey([f"raw_{contract.source}", contract.entity]) in keys
    for key in (
        ["meta", "orphans"],
        ["meta", "ingest_audit"],
        ["meta", "dq_completeness"],
        ["meta", "dq_validity"],
        ["marts", "dq_completeness"],
        ["marts", "dq_validity"],
        ["marts", "fct_order_lines"],
        ["marts", "balanced_scorecard"],
        ["bi", "marts_snapshot"],
        ["meta", "alerts_sent"],
    ):
        assert dg.AssetKey(key) in keys, key
    assert defs.resolve_job_def("refresh_warehouse") is not None


def test_lineage_runs_from_raw_tables_to_the_snapshot():
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    upstream_of_orders = graph.get(dg.AssetKey(["marts", "fct_order_lines"])).parent_keys
    assert any(k.path[0] in ("staging", "intermediate") for k in upstream_of_orders)
    snapshot_parents = graph.get(dg.AssetKey(["bi", "marts_snapshot"])).parent_keys
    assert {dg.AssetKey(["marts", "dq_completeness"]), dg.AssetKey(["meta", "ingest_audit"])} <= snapshot_parents
    stg = graph.get(dg.AssetKey(["staging", "stg_erp__sales_orders"])).parent_keys
    assert dg.AssetKey(["raw_erp", "sales_orders"]) in stg
    # dbt reads the critical fields and the deployment policy from meta.field_policy, written by its
    # own asset (the policy depends on no extract)
    policy = graph.get(dg.AssetKey(["staging", "stg_meta__field_policy"])).parent_keys
    assert dg.AssetKey(["meta", "field_policy"]) in policy
    # the quality results are Python's (meta), published by dbt as marts
    for table in ("dq_completeness", "dq_validity"):
        stg = graph.get(dg.AssetKey(["staging", f"stg_meta__{table}"])).parent_keys
        assert stg == {dg.AssetKey(["meta", table])}
        assert graph.get(dg.AssetKey(["marts", table])).parent_keys == {dg.AssetKey(["staging", f"stg_meta__{table}"])}


def test_ingest_assets_materialize_into_the_warehouse(tmp_path):
    """Real Dagster materialization of two ingestion assets on hand-made drops."""
    from conftest import csv_text, write_drop

    from dagster_project.definitions import defs
    from dagster_project.warehouse import open_warehouse

    raw = tmp_path / "raw"
    header = list(load_contracts()["erp.fx_rates"].column_names)
    write_drop(
        raw,
        "erp.fx_rates",
        "fx_rates_2025-01-31.csv",
        csv_text(header, [["2025-01-31", "USD", "7.18"], ["2025-01-31", "USD", "7.19"]]),
    )
    write_drop(raw, "erp.fx_rates", "fx_rates_2025-02-28.csv", csv_text(header, [["2025-02-28", "USD", "7.2"]]))
    keys = [dg.AssetKey(["raw_erp", "fx_rates"]), dg.AssetKey(["raw_erp", "products"])]
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("refresh_warehouse").execute_in_process(asset_selection=keys, instance=instance)
    assert result.success
    meta = result.asset_materializations_for_node("raw_erp__fx_rates")[0].metadata
    assert (meta["rows_read"].value, meta["rows_loaded"].value, meta["rows_quarantined"].value) == (3, 2, 1)
    with open_warehouse(tmp_path / "warehouse" / "warehouse.duckdb", read_only=True) as con:
        assert con.execute("select count(*) from raw_erp.fx_rates").fetchall() == [(2,)]
    # what became of each drop: one line each, the batch's lines in one message (one stored event)
    messages = [e.user_message for e in instance.all_logs(result.run_id) if "fx_rates_2025-" in e.user_message]
    assert messages == [
        "erp/fx_rates/fx_rates_2025-01-31.csv: loaded, read 2, loaded 1, quarantined 1\n"
        "erp/fx_rates/fx_rates_2025-02-28.csv: loaded, read 1, loaded 1, quarantined 0"
    ]


def test_the_code_location_does_not_import_the_sample_generator():
    """The sample company is written by the CLI's `generate` only: loading the definitions, as every
    Dagster process does, must not import it (a fresh interpreter, so no other test has)."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, dagster_project.definitions\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sample_company'))"
    )
    # the S2S_ paths and DAGSTER_HOME point at this test's folder (conftest)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_code_location_does_not_import_pandas_or_the_fitting_libraries():
    """Every Dagster process (the code location, each run, `dagster job execute`) imports the
    definitions before its first step: pandas was a quarter of a second of it (bench `startup`),
    imported for two table names. The steps that use pandas, GX or pymc import them themselves."""
    import os
    import subprocess
    import sys

    heavy = ("pandas", "great_expectations", "pymc", "pymc_marketing", "pytensor")
    code = f"import sys, dagster_project.definitions\nprint(sorted(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
