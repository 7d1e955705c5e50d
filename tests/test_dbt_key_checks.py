"""The window of dbt's key tests on new rows: opened from the last passing build of the same step and
dbt code, closed (every key) after each build, recorded only when the build passed."""

from datetime import datetime

from dagster_project.contracts import load_contracts
from dagster_project.dbt_key_checks import close_window, open_window
from dagster_project.warehouse import ensure_meta, ensure_raw_table

MONDAY, TUESDAY = datetime(2026, 10, 5, 1), datetime(2026, 10, 6, 1)


def _load(con, activity_id: str, loaded_at: datetime) -> None:
    con.execute("insert into raw_crm.activities (activity_id, _loaded_at) values (?, ?)", [activity_id, loaded_at])


def _since(con):
    return con.execute("select since from meta.key_check_window").fetchall()


def test_the_window_starts_where_the_last_passing_build_of_the_same_code_started(con):
    ensure_meta(con)
    for contract in load_contracts().values():
        ensure_raw_table(con, contract)
    _load(con, "AC1", MONDAY)

    first = open_window(con, "dbt_models", "code-1", force=False)
    assert first.since is None and first.through == MONDAY  # no passing build yet: every key
    assert _since(con) == [(None,)]
    close_window(con, first, passed=True, run_id="r1")
    assert _since(con) == [(None,)]  # closed: dbt run by hand checks every key
    assert con.execute("select * from meta.key_checks").fetchall() == [("dbt_models", "code-1", MONDAY, "r1")]

    _load(con, "AC2", TUESDAY)
    second = open_window(con, "dbt_models", "code-1", force=False)
    assert second.since == MONDAY and second.through == TUESDAY
    assert _since(con) == [(MONDAY,)]  # what the dbt test reads
    close_window(con, second, passed=False, run_id="r2")  # a failed build records nothing
    assert con.execute("select checked_through from meta.key_checks").fetchall() == [(MONDAY,)]

    assert open_window(con, "dbt_models", "code-1", force=False).since == MONDAY  # still from Monday
    assert open_window(con, "dbt_models", "code-2", force=False).since is None  # the dbt code changed
    assert open_window(con, "dbt_models", "code-1", force=True).since is None  # --force
    assert open_window(con, "dbt_models_after_python", "code-1", force=False).since is None  # another step
