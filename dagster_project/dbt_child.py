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
A build started by Dagster writes no manifest.json (`_no_manifest_json_in_dagster_builds`) and no SQL
file per node (`_no_sql_files_in_dagster_builds`): run_results.json keeps each node's compiled SQL.

dbt's own cost per node is what a small company waits for (each of its ~400 nodes is milliseconds of
DuckDB and tens of milliseconds of dbt). Parts of it are work whose result nobody uses, or the same
work done again, and are skipped here: formatting debug events that no logger writes
(`_events_no_logger_writes_are_dropped`), compiling the same Jinja source again, as every generic test
of a kind does (`_each_template_source_compiled_once`), setting the profile's settings on every cursor
(`_settings_once_per_database`) and building a type tester for every result dbt reads
(`_type_testers_built_once`). And the nodes a worker waits for, the customer value fit's
inputs, are built first (`_inputs_of_the_customer_value_fit_first`), so the fit runs beside the rest
of the build rather than after it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
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
    from dbt.parser import manifest as parser_manifest
    from dbt.task import runnable

    write_manifest = parser_manifest.write_manifest

    def write_unless_build(manifest, target_path: str, which: str | None = None) -> None:
        if not _started_by_dagster_build():
            write_manifest(manifest, target_path, which)

    parser_manifest.write_manifest = write_unless_build
    runnable.write_manifest = write_unless_build  # imported by name there


def _started_by_dagster_build() -> bool:
    """A `dbt build` started by Dagster (dagster-dbt sets DAGSTER_DBT_CLI); read at each call, since a
    fork server's child takes its environment after the patches. The command is read from dbt's flags,
    which every thread sees (click's context is the main thread's)."""
    from dbt.flags import get_flags

    return os.environ.get("DAGSTER_DBT_CLI") == "true" and getattr(get_flags(), "WHICH", None) == "build"


def _no_sql_files_in_dagster_builds() -> None:
    """A `dbt build` started by Dagster writes no SQL file per node.

    dbt writes each node's SQL twice, compiled (target/compiled/...) and wrapped in its DDL
    (target/run/...): ~630 files per build of a small company, ~6% of the build's CPU. Nothing reads
    them: the run summary takes a failing test's SQL from run_results.json, which holds every compiled
    node's SQL, and dagster-dbt reads the compiled files only for column lineage, which no step asks
    for. dbt's message on a failing node still names its file under target/compiled: it is written
    by a build run by hand (`dbt build`), and by a run that asks for dbt's debug file
    (DBT_LOG_LEVEL_FILE, defs/dbt/assets.py), the run of someone debugging a model."""
    from dbt.contracts.graph.nodes import ParsedNode
    from dbt.flags import get_flags

    write_node = ParsedNode.write_node

    def write_unless_dagster_build(self, project_root: str, compiled_path, compiled_code: str):
        debugging = str(getattr(get_flags(), "LOG_LEVEL_FILE", "none")).lower() != "none"
        if debugging or not _started_by_dagster_build():
            write_node(self, project_root, compiled_path, compiled_code)

    ParsedNode.write_node = write_unless_dagster_build


def _settings_once_per_database() -> None:
    """The profile's `settings` (time zone, memory limit) are set once on the database, not on every
    cursor.

    dbt-duckdb opens one DuckDB connection per process and a cursor per dbt connection (a few per
    node), and sends each cursor a `SET` per setting: ~0.44 ms of CPU per cursor with the two settings
    here, ~5% of a small company's build. A cursor is a new DuckDB connection to the same database,
    which starts from the database's global settings, so they are set there once (`SET GLOBAL`) right
    after connecting, and each cursor then starts with them. A setting DuckDB refuses to set globally
    (`search_path` is per connection) is still sent to each cursor. Only the local environment (a
    DuckDB file in this process, as here) connects before its cursors: the others are left as they are."""
    import copy

    import duckdb
    from dbt.adapters.duckdb.environments.local import LocalEnvironment
    from dbt.adapters.duckdb.utils import escape_sql_string

    initialize_db = LocalEnvironment.initialize_db.__func__
    initialize_cursor = LocalEnvironment.initialize_cursor.__func__
    # id(credentials) -> (the credentials, a copy holding only the settings not set globally)
    per_cursor: dict[int, tuple[object, object]] = {}

    def connect_and_set(cls, creds, plugins=None):
        conn = initialize_db(cls, creds, plugins)
        left = {}
        for key, value in (creds.settings or {}).items():
            try:
                conn.execute(f"SET GLOBAL {key} = '{escape_sql_string(str(value))}'")  # quoted as dbt-duckdb does
            except duckdb.Error:
                left[key] = value
        if creds.settings:
            lean = copy.copy(creds)  # not dataclasses.replace: that runs __post_init__ again, on shared secrets
            lean.settings = left or None
            per_cursor[id(creds)] = (creds, lean)
        return conn

    def cursor_with_settings_left(cls, creds, cursor, plugins=None, registered_df={}):  # noqa: B006 - dbt-duckdb's signature
        kept = per_cursor.get(id(creds))
        if kept is not None and kept[0] is creds:
            creds = kept[1]
        return initialize_cursor(cls, creds, cursor, plugins, registered_df)

    LocalEnvironment.initialize_db = classmethod(connect_and_set)
    LocalEnvironment.initialize_cursor = classmethod(cursor_with_settings_left)


def _type_testers_built_once() -> None:
    """dbt reads each query result it fetches (every test's, most adapter macros') into an agate table,
    and builds a new agate type tester for it each time: its date types each build a parsedatetime
    calendar, ~2.4% of a small company's build. A tester holds no state of the tables it reads, so one
    is kept per set of text columns and null spellings."""
    import functools

    from dbt_common.clients import agate_helper

    build = agate_helper.build_type_tester

    @functools.lru_cache(maxsize=256)
    def build_once(text_columns: frozenset[str], string_null_values: tuple[str, ...] | None):
        return build(text_columns, string_null_values=string_null_values)

    def build_type_tester(text_columns, string_null_values=("null", "")):
        nulls = None if string_null_values is None else tuple(string_null_values)
        return build_once(frozenset(text_columns), nulls)

    agate_helper.build_type_tester = build_type_tester


def _events_no_logger_writes_are_dropped() -> None:
    """An event below the level of every logger (dbt's debug events, with the console at `info` and no
    file log: the way Dagster runs dbt) is dropped before dbt turns it into a message.

    dbt builds a protobuf message, a timestamp and a formatted line for every event (~20 per node),
    and Python's logging then discards the debug ones: ~5% of a build's CPU. Its payload is built
    when first read (below). Kept: every event at
    warn or above (dbt's warn-or-error handling and its behaviour-change tracking act on those), the
    events dbt prints regardless of level, and every event when a caller registered its own callback
    (dbtRunner's `callbacks=`), which sees all."""
    from dbt.tracking import track_behavior_change_warn
    from dbt_common.events import event_manager
    from dbt_common.events.base_types import EventLevel
    from dbt_common.events.logger import PRINT_EVENT_NAMES, _log_level_map

    below_warn = {EventLevel.DEBUG, EventLevel.TEST, EventLevel.INFO}
    fire_event = event_manager.EventManager.fire_event

    def fire_unless_nobody_writes_it(self, e, level=None, node=None, force_warn_or_error_handling=False):
        event_level = EventLevel(level or e.level_tag())
        if (
            event_level in below_warn
            and not force_warn_or_error_handling
            and all(callback is track_behavior_change_warn for callback in self.callbacks)
            and all(_log_level_map[event_level] < _log_level_map[logger.level] for logger in self.loggers)
            and type(e).__name__ not in PRINT_EVENT_NAMES
            and not os.environ.get("DBT_TEST_BINARY_SERIALIZATION")
        ):
            return
        fire_event(self, e, level, node, force_warn_or_error_handling)

    event_manager.EventManager.fire_event = fire_unless_nobody_writes_it

    # dbt also builds each event's protobuf payload when it creates the event (another ~4%): build it
    # when first read instead, which an event that is written does at once and a dropped one never
    base_types = sys.modules["dbt_common.events.base_types"]
    build = base_types.BaseEvent.__init__

    def keep_arguments(self, *args, **kwargs) -> None:
        object.__setattr__(self, "_s2s_arguments", (args, kwargs))

    def read(self, key):
        if key == "pb_msg":
            args, kwargs = object.__getattribute__(self, "_s2s_arguments")
            build(self, *args, **kwargs)  # sets pb_msg
            return object.__getattribute__(self, "pb_msg")
        return getattr(self.pb_msg, key)

    def write(self, key, value) -> None:
        if key == "pb_msg":
            object.__setattr__(self, key, value)
        else:
            setattr(self.pb_msg, key, value)

    base_types.BaseEvent.__init__ = keep_arguments
    base_types.BaseEvent.__getattr__ = read
    base_types.BaseEvent.__setattr__ = write


def _each_template_source_compiled_once() -> None:
    """Jinja compiles a source string to Python code each time dbt asks for a template of it, and dbt
    asks per node: the 67 `not_null` tests share one source (`{{ test_not_null(**_dbt_generic_test_kwargs)
    }}`) and their arguments a handful more. The compiled code depends only on the source and the
    environment's settings, so it is kept by both (what Jinja's own bytecode cache does for files); each
    template is still made afresh from it, with its node's context. The key holds every setting the code
    generator reads, the filter and test functions included (what each is passed is compiled in)."""
    import jinja2

    compile_source = jinja2.Environment.compile
    compiled: dict[tuple, object] = {}

    def compile_once(self, source, name=None, filename=None, raw=False, defer_init=False):
        if raw or not isinstance(source, str):
            return compile_source(self, source, name, filename, raw, defer_init)
        key = (
            type(self),
            source,
            name,
            filename,
            defer_init,
            tuple(sorted(self.extensions)),
            self.finalize,
            self.autoescape,
            self.optimized,
            self.is_async,
            self.block_start_string,
            self.block_end_string,
            self.variable_start_string,
            self.variable_end_string,
            self.comment_start_string,
            self.comment_end_string,
            self.line_statement_prefix,
            self.line_comment_prefix,
            self.trim_blocks,
            self.lstrip_blocks,
            self.newline_sequence,
            self.keep_trailing_newline,
            frozenset(self.filters.items()),  # how a filter is called is compiled in
            frozenset(self.tests.items()),
        )
        code = compiled.get(key)
        if code is None:
            code = compiled[key] = compile_source(self, source, name, filename, raw, defer_init)
        return code

    jinja2.Environment.compile = compile_once


def _inputs_of_the_customer_value_fit_first() -> None:
    """The customer value model is fitted by a worker process beside the build once dbt has built the
    fit's inputs (defs/customer_value/assets.py); the run waits for that fit after the build. Those
    inputs sit deep in the graph, behind their ancestors' tests: in a small company's build they came
    4.8 s into 6.6 s, and the run then waited 1.3 s for the fit. Two changes let them come first:
    - dbt's queue scores a ready node by its depth (shallowest first): the inputs and every node they
      wait for are now scored before all others (the order among them, and among the rest, stays dbt's);
    - dbt hands every ready node to its thread pool at once, whose backlog then runs first come, first
      served, so a score counted only among nodes ready at the same moment: a node is now taken from
      the queue when a thread is free to run it, so the scores decide what runs next."""
    import threading

    from dbt.graph.queue import GraphQueue
    from dbt.task.runnable import GraphRunnableTask

    from dagster_project.customer_value.history import AS_OF_TABLE, ORDERS_TABLE

    models = {table.split(".")[-1] for table in (ORDERS_TABLE, AS_OF_TABLE)}
    get_scores = GraphQueue._get_scores

    def scores_with_the_fits_inputs_first(self, graph):
        import networkx as nx

        scores = get_scores(self, graph)
        first = {node for node in graph.nodes if node.startswith("model.") and node.rsplit(".", 1)[-1] in models}
        for node in set(first):
            first |= nx.ancestors(graph, node)
        offset = max(scores.values(), default=0) + 1
        return {node: score - offset if node in first else score for node, score in scores.items()}

    GraphQueue._get_scores = scores_with_the_fits_inputs_first
    run_queue = GraphRunnableTask.run_queue

    def run_queue_a_node_per_free_thread(self, pool) -> None:
        free = threading.Semaphore(max(1, int(self.config.threads)))
        handle = self.handle_job_queue  # the build command's, or the base class's

        def handle_when_a_thread_is_free(pool, callback) -> None:
            def done(result):
                try:
                    callback(result)  # marks the node done: its children join the queue first
                finally:
                    free.release()

            free.acquire()
            try:
                handle(pool, done)
            except BaseException:
                free.release()
                raise

        self.handle_job_queue = handle_when_a_thread_is_free
        try:
            run_queue(self, pool)
        finally:
            del self.handle_job_queue

    GraphRunnableTask.run_queue = run_queue_a_node_per_free_thread


def import_dbt() -> None:
    """dbt's CLI and the DuckDB adapter (which dbt loads by name once it reads the profile)."""
    from dagster_project.gc_tuning import loading_without_collection

    with loading_without_collection():
        import dbt.adapters.duckdb  # noqa: F401
        import dbt.cli.main  # noqa: F401


_patched = False


def _patch_dbt() -> None:
    """This module's changes to dbt, once per process (a fork server's child inherits them)."""
    global _patched
    if _patched:
        return
    _partial_parse_across_warehouse_folders()
    _no_manifest_json_in_dagster_builds()
    _no_sql_files_in_dagster_builds()
    _settings_once_per_database()
    _type_testers_built_once()
    _events_no_logger_writes_are_dropped()
    _each_template_source_compiled_once()
    _inputs_of_the_customer_value_fit_first()
    _patched = True


def invoke_cli(argv: list[str]) -> int:
    """dbt's CLI on `argv` (argv[0] is the program) in this process, patched; its exit status."""
    from dagster_project.gc_tuning import loading_without_collection

    with loading_without_collection():
        _patch_dbt()
        from dbt.cli.main import cli

    sys.argv = ["dbt", *argv[1:]]
    try:
        cli()
        return 0
    except SystemExit as done:  # how click ends a command
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        print(done.code, file=sys.stderr)
        return 1


def run_dbt(argv: list[str]) -> int:
    """Run dbt's CLI on `argv` (argv[0] is the program) in this process, as a batch; its exit status."""
    from dagster_project.gc_tuning import before_exit, tune_for_batch

    if "serve" not in argv[1:]:  # `dbt docs serve` runs until stopped: Python's defaults
        tune_for_batch()
    try:
        return invoke_cli(argv)
    finally:
        before_exit()


def main() -> None:
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the request took effect
        sys.exit(1)
    # the run's dbt fork server, when there is one, has dbt imported already (dbt_forkserver.py)
    from dagster_project.dbt_forkserver import run_through_server

    code = run_through_server(sys.argv)
    if code is None:
        import_dbt()
        code = run_dbt(sys.argv)
    sys.exit(code)


if __name__ == "__main__":
    main()
