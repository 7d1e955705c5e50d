"""`s2s-dbt`: dbt that dies with the process that started it (issue 9, item 19) and that re-parses
the project only when what it parses changed (issue 14).

dbt started by a run that is then killed with SIGKILL used to live on, holding the warehouse's
lock, as long as it had nothing to write (a broken pipe only stops it at its next log line). Here
the real dbt runs a long query that writes nothing, so only the parent-death signal can end it.
The full run is killed during a real dbt build in test_end_to_end.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[1]
DBT_DIR = REPO / "dbt"
PLAIN_DBT = str(Path(sys.executable).with_name("dbt"))
WRAPPED_DBT = [sys.executable, "-m", "dagster_project.dbt_child"]

PARENT = """
import subprocess, sys, time
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
time.sleep(300)
"""


def ended(process: psutil.Process, within: float) -> bool:
    """Whether the process ends within `within` seconds; a zombie has ended (it waits for a reaper
    that may never come here: the container's init does not reap)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def dbt_args(command: list[str], target: Path) -> list[str]:
    return [*command, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--target-path", str(target)]


def env_for(warehouse: Path) -> dict[str, str]:
    return {**os.environ, "S2S_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def has_open(process: psutil.Process, path: Path) -> bool:
    try:
        return any(Path(f.path) == path for f in process.open_files())
    except psutil.NoSuchProcess:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's")
@pytest.mark.parametrize("wrapped", [True, False], ids=["s2s-dbt", "plain_dbt"])
def test_dbt_dies_with_its_parent_only_through_the_wrapper(tmp_path, wrapped):
    warehouse = tmp_path / "warehouse.duckdb"
    # a query that runs for minutes and prints nothing until it ends
    busy = ["show", "--inline", "select sum(a.range * b.range) from range(100000) a, range(1000000000) b"]
    command = dbt_args([*(WRAPPED_DBT if wrapped else [PLAIN_DBT]), *busy], tmp_path / "target")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, *command], stdout=subprocess.PIPE, text=True, env=env_for(warehouse), cwd=REPO
    )
    dbt = psutil.Process(int(parent.stdout.readline()))
    try:
        deadline = time.monotonic() + 120
        while not has_open(dbt, warehouse) and dbt.is_running() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert has_open(dbt, warehouse) and dbt.status() != psutil.STATUS_ZOMBIE  # dbt is in its query
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()

        assert ended(dbt, within=30 if wrapped else 5) is wrapped
    finally:
        if dbt.is_running():
            dbt.kill()


def parse(command: list[str], warehouse: Path, target: Path) -> str:
    done = subprocess.run(
        dbt_args([*command, "parse"], target), env=env_for(warehouse), cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-2000:]
    return done.stdout


def test_a_warehouse_in_another_folder_keeps_dbt_s_partial_parse_and_another_name_does_not(tmp_path):
    target = tmp_path / "target"
    first = parse(WRAPPED_DBT, tmp_path / "a" / "warehouse.duckdb", target)
    assert "saved manifest not found. Starting full parse" in first

    # the same file name in another folder: the same database in every relation, nothing to re-parse
    other_folder = parse(WRAPPED_DBT, tmp_path / "b" / "warehouse.duckdb", target)
    assert "Unable to do partial parsing" not in other_folder

    # another file name is another database name: dbt re-parses, as it must
    other_name = parse(WRAPPED_DBT, tmp_path / "b" / "company.duckdb", target)
    assert "Unable to do partial parsing because profile has changed" in other_name

    # plain dbt counts the folder: a full parse for the same file name elsewhere
    plain = parse([PLAIN_DBT], tmp_path / "c" / "company.duckdb", target)
    assert "Unable to do partial parsing because profile has changed" in plain


def test_a_build_started_by_dagster_writes_no_manifest_json_and_everything_else_does(tmp_path):
    """dagster-dbt sets DAGSTER_DBT_CLI for the dbt it starts; such a build skips dbt's two manifest.json
    writes (Dagster reads the project's manifest) and the SQL files of each node (target/compiled and
    target/run: the node's compiled SQL stays in run_results.json), and still writes run_results.json
    and partial parse. A build by hand writes them all; a build by Dagster asked for dbt's debug file
    writes the SQL files."""
    warehouse = tmp_path / "warehouse.duckdb"
    parsed = tmp_path / "parsed"
    dagster = {**env_for(warehouse), "DAGSTER_DBT_CLI": "true"}
    done = subprocess.run(dbt_args([*WRAPPED_DBT, "parse"], parsed), env=dagster, cwd=REPO, capture_output=True)
    assert done.returncode == 0 and (parsed / "manifest.json").is_file()  # parse: the manifest Dagster loads

    seed = ["build", "--select", "status_labels", "--indirect-selection", "cautious"]
    debugging = {**dagster, "DBT_LOG_LEVEL_FILE": "debug"}
    for env, name, manifest_written in (
        (dagster, "by_dagster", False),
        (env_for(warehouse), "by_hand", True),
        (debugging, "by_dagster_debugging", False),
    ):
        sql_written = env is not dagster
        target = tmp_path / name
        shutil.copytree(parsed, target)
        (target / "manifest.json").unlink()
        # as the dbt step starts it: without dbt's log file unless DBT_LOG_LEVEL_FILE asks (defs/dbt/assets.py)
        no_file_log = [] if "DBT_LOG_LEVEL_FILE" in env else ["--log-level-file", "none"]
        done = subprocess.run(
            dbt_args([*WRAPPED_DBT, *seed, *no_file_log], target), env=env, cwd=REPO, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout[-2000:]
        results = json.loads((target / "run_results.json").read_text())["results"]
        assert [r["unique_id"] for r in results if r["status"] == "success"][:1] == ["seed.s2s_warehouse.status_labels"]
        assert (target / "partial_parse.msgpack").is_file()
        assert (target / "manifest.json").is_file() == manifest_written, name
        # the seed's key test: its compiled SQL in the results; its files by hand or when debugging
        test = next(r for r in results if r["unique_id"].startswith("test.s2s_warehouse.primary_key_status_labels"))
        assert "status_labels" in test["compiled_code"] and test["status"] == "pass"
        sql_files = sorted(p.relative_to(target).parts[0] for p in target.rglob("*.sql"))
        assert sql_files == (["compiled", "run"] if sql_written else []), name
        assert (target / "run").is_dir() == sql_written  # the seed's statement too (run/.../status_labels.csv)


SETTINGS = "select current_setting('TimeZone') as time_zone, current_setting('memory_limit') as memory_limit"


def test_the_profile_s_settings_hold_in_every_cursor_dbt_opens(tmp_path):
    """s2s-dbt sets the profile's settings (time zone, memory limit) once on the database rather than on
    each cursor; a query dbt runs in its thread, on a cursor of its own, still has them, and another
    value from the environment reaches it."""
    env = {**env_for(tmp_path / "warehouse.duckdb"), "S2S_TIME_ZONE": "America/Sao_Paulo"}
    env["S2S_DUCKDB_MEMORY_LIMIT"] = "700MB"
    show = ["show", "--inline", SETTINGS, "--output", "json", "--log-format", "json"]
    done = subprocess.run(
        dbt_args([*WRAPPED_DBT, *show], tmp_path / "t"), env=env, cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-2000:]
    shown = [json.loads(line)["data"] for line in done.stdout.splitlines() if '"ShowNode"' in line]
    rows = json.loads(shown[0]["preview"])
    assert rows == [{"time_zone": "America/Sao_Paulo", "memory_limit": "667.5 MiB"}]  # 700 MB = 667.5 MiB


CURSOR_SETTINGS_CHECK = """
import json, sys
from dbt.adapters.duckdb.credentials import DuckDBCredentials
from dbt.adapters.duckdb.environments.local import LocalEnvironment
from dagster_project.dbt_child import _settings_once_per_database

class Cursor:  # what dbt-duckdb sends a new cursor
    def __init__(self):
        self.sent = []
    def execute(self, sql, *args):
        self.sent.append(sql)
        return self

creds = DuckDBCredentials(path=sys.argv[1], settings={"TimeZone": "Asia/Shanghai", "search_path": "main"})
plain = Cursor()
LocalEnvironment.initialize_cursor(creds, plain)
_settings_once_per_database()
conn = LocalEnvironment.initialize_db(creds)
lean = Cursor()
LocalEnvironment.initialize_cursor(creds, lean)
zone = conn.cursor().execute("select current_setting('TimeZone')").fetchone()[0]
print(json.dumps({"plain": plain.sent, "lean": lean.sent, "zone": zone, "settings": creds.settings}))
"""


def test_a_cursor_gets_only_the_settings_duckdb_cannot_set_for_the_whole_database(tmp_path):
    """dbt-duckdb sends each new cursor a SET per profile setting; after s2s-dbt's change the database
    gets them once (SET GLOBAL) and a cursor only those DuckDB keeps per connection (search_path)."""
    done = subprocess.run(
        [sys.executable, "-c", CURSOR_SETTINGS_CHECK, str(tmp_path / "w.duckdb")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["plain"] == ["SET TimeZone = 'Asia/Shanghai'", "SET search_path = 'main'"]
    assert result["lean"] == ["SET search_path = 'main'"]
    assert result["zone"] == "Asia/Shanghai"  # a plain DuckDB cursor of the database: the global value
    assert result["settings"] == {"TimeZone": "Asia/Shanghai", "search_path": "main"}  # the profile's own, untouched


TYPE_TESTER_CHECK = """
import json
from dagster_project.dbt_child import _type_testers_built_once
from dbt_common.clients import agate_helper

rows = [["1", "2.5", "2024-05-01", "x"]]
names = ["a", "b", "c", "d"]
def types(text_only):
    table = agate_helper.table_from_rows(rows=[list(r) for r in rows], column_names=names, text_only_columns=text_only)
    return [type(t).__name__ for t in table.column_types]
asked = [set(), {"a"}, set(), {"b", "c"}]
plain = [types(t) for t in asked]
_type_testers_built_once()
kept = [types(t) for t in asked]
same = agate_helper.build_type_tester({"a", "b"}, ()) is agate_helper.build_type_tester(["b", "a"], ())
other = agate_helper.build_type_tester({"a"}, ()) is agate_helper.build_type_tester({"a"})
print(json.dumps({"plain": plain, "kept": kept, "same": same, "other": other}))
"""


def test_a_type_tester_is_kept_per_text_columns_and_reads_each_table_as_a_new_one():
    """s2s-dbt keeps dbt's agate type testers by their text columns and null spellings: a tester asked
    for again is the same object, another null spelling gets another, and each table gets the types
    dbt's own testers give it, whatever table the kept tester read before."""
    done = subprocess.run([sys.executable, "-c", TYPE_TESTER_CHECK], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["kept"] == result["plain"]
    assert result["plain"][1][0] == "Text" and result["plain"][0][0] != "Text"  # the forced column reads as text
    assert result["plain"][3][1:3] == ["Text", "Text"] and result["plain"][2][1] != "Text"
    assert result["same"] is True and result["other"] is False


def node_events(stdout: str) -> list[tuple[str, str, str, str]]:
    """(event, level, node, status) of each JSON log line about a node: what Dagster reads."""
    events = []
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        node = event["data"].get("node_info", {})
        if node.get("unique_id"):
            status = str(event["data"].get("status", node.get("node_status", "")))
            events.append((event["info"]["name"], event["info"]["level"], node["unique_id"], status))
    return sorted(events)


def test_dropping_unwritten_events_leaves_every_written_one_as_plain_dbt_writes_it(tmp_path):
    """s2s-dbt drops the debug events no logger writes and builds an event's payload when it is first
    read. A build as Dagster runs it (JSON lines, console at info) writes the same node events as plain
    dbt; with the console at debug, the debug events are written again."""
    warehouse = tmp_path / "warehouse.duckdb"
    env = {**env_for(warehouse), "DBT_LOG_FORMAT": "json"}
    build = ["build", "--select", "status_labels", "--indirect-selection", "cautious"]
    runs = {}
    for name, dbt in (("plain", [PLAIN_DBT]), ("wrapped", WRAPPED_DBT), ("wrapped_debug", WRAPPED_DBT)):
        extra = ["--log-level", "debug"] if name == "wrapped_debug" else []
        done = subprocess.run(
            dbt_args([*dbt, *build, *extra], tmp_path / name), env=env, cwd=REPO, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout[-2000:]
        runs[name] = done.stdout
    written = node_events(runs["wrapped"])
    assert written == node_events(runs["plain"])
    assert any(e[:3] == ("LogSeedResult", "info", "seed.s2s_warehouse.status_labels") for e in written)
    assert not any(level == "debug" for _, level, _, _ in written)
    debug = [e for e in node_events(runs["wrapped_debug"]) if e[1] == "debug"]
    assert any(e[0] == "SQLQuery" for e in debug) and any(e[0] == "NodeFinished" for e in debug)


JINJA_CHECK = """
import json, jinja2
from jinja2.nativetypes import NativeEnvironment
from dagster_project.dbt_child import _each_template_source_compiled_once
from dbt.clients.jinja import get_rendered

generated = []
generate = jinja2.Environment._generate
jinja2.Environment._generate = lambda self, *a, **k: generated.append(a[0]) or generate(self, *a, **k)
_each_template_source_compiled_once()

env = jinja2.Environment()
source = "{{ x }}-{{ y | upper }}"
first = env.from_string(source, globals={"y": "g"}).render(x=1)
second = jinja2.Environment().from_string(source, globals={"y": "h"}).render(x=2)
blocks = "{% if 1 %}\\nA{% endif %}\\n"
kept = jinja2.Environment().from_string(blocks).render()
trimmed = jinja2.Environment(trim_blocks=True).from_string(blocks).render()
native = NativeEnvironment().from_string("{{ 1 + 1 }}").render()
text = jinja2.Environment().from_string("{{ 1 + 1 }}").render()
dbt_first = get_rendered("{{ x }}-{{ y }}", {"x": 1, "y": "a"})
dbt_second = get_rendered("{{ x }}-{{ y }}", {"x": 2, "y": "b"})
print(json.dumps({"values": [first, second, kept, trimmed, native, text, dbt_first, dbt_second],
                  "compiled": len(generated)}))
"""


def test_a_template_source_is_compiled_once_per_environment_settings_and_rendered_with_its_own_context():
    """s2s-dbt keeps Jinja's compiled code by source and environment settings: the same source in a
    second environment of the same kind is not compiled again, yet renders its own context; another
    setting (trim_blocks) or another kind of environment (native types, as dbt's) is compiled apart."""
    done = subprocess.run([sys.executable, "-c", JINJA_CHECK], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["values"] == ["1-G", "2-H", "\nA", "A", 2, "2", "1-a", "2-b"]
    # compiled: the first source once, the blocks twice (two settings), "{{ 1 + 1 }}" twice (two kinds
    # of environment), dbt's source once for its two nodes' contexts; without the cache, 8
    assert result["compiled"] == 6


def test_the_customer_value_fits_inputs_and_their_ancestors_run_first(tmp_path):
    """The run waits for the customer value fit, which a worker starts once dbt has built the fit's
    inputs (int_as_of_date, int_orders_aggregated_from_lines). With one thread, s2s-dbt runs them and
    what they wait for (z_first) before every other node; plain dbt runs the shallowest first (a_other,
    alphabetically first of the two roots) and a node's children after what it already handed out."""
    project = tmp_path / "project"
    models = project / "models"
    models.mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: p\nversion: '1.0.0'\nconfig-version: 2\nprofile: p\nmodel-paths: [models]\n", encoding="utf-8"
    )
    (project / "profiles.yml").write_text(
        f"p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {tmp_path / 'w.duckdb'}\n"
        "      threads: 1\n",
        encoding="utf-8",
    )
    for name, sql in {
        "a_other": "select 1 as x",
        "b_other": "select * from {{ ref('a_other') }}",
        "z_first": "select 1 as x",
        "int_as_of_date": "select * from {{ ref('z_first') }}",
        "int_orders_aggregated_from_lines": "select * from {{ ref('int_as_of_date') }}",
    }.items():
        (models / f"{name}.sql").write_text(sql, encoding="utf-8")
    orders = {}
    for name, dbt in (("plain", [PLAIN_DBT]), ("wrapped", WRAPPED_DBT)):
        target = tmp_path / name
        args = [
            *dbt,
            "build",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(target),
        ]
        done = subprocess.run(args, env=env_for(tmp_path / "w.duckdb"), cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:]
        results = json.loads((target / "run_results.json").read_text())["results"]
        orders[name] = [r["unique_id"].rsplit(".", 1)[-1] for r in results]
    assert orders["wrapped"] == ["z_first", "int_as_of_date", "int_orders_aggregated_from_lines", "a_other", "b_other"]
    assert orders["plain"][0] == "a_other"
