"""Great Expectations in a worker process, beside the dbt build (issue 14).

The validation is CPU-bound Python (GX and pandas, ~5 s for a small company, ~15 s at scale 10), and
so is dbt's own work: in one process they take turns on one core. They need not: GX reads only the
entity frames, and dbt does not read GX's results until its quality marts (`stg_meta__dq_*`, built in
the second dbt step). So the run plans the validation and writes the frames to Parquet before dbt
opens the warehouse (`start`), a worker process counts them with GX while dbt builds on the other
core, and the quality step stores and judges the counts afterwards (`Validation.finish`). The run's
first ingestion step starts the worker (`start_ready`), so that GX is imported while ingestion runs,
or adopts the one `run` started before Dagster started the run (early_workers.py); it then waits for
the dbt step to hand it the frames, and the run's id with them.

DuckDB allows one process per file, so the worker never opens the warehouse: it reads its frames
from Parquet and answers in a JSON file. It dies with the run (the dbt child's PR_SET_PDEATHSIG). A
worker that fails fails the quality step, naming its log: no results, no publish.

    python -m dagster_project.quality.worker <job.json>     (what `start` and `start_ready` run)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.contracts import load_contracts
from dagster_project.deployment import Policy, load_policy
from dagster_project.quality.config import quality_config
from dagster_project.quality.expectations import (
    Counts,
    ExpectationRunner,
    FieldCompleteness,
    Plan,
    RuleResult,
    _Suite,
    finish_validation,
    frame_sql,
    plan_validation,
    scipy_stats_on_first_use,
)
from dagster_project.warehouse import WORKER_NICENESS, literal
from dagster_project.worker_process import JOB_FILE, failure, new_folder, spawn, tell

ANSWER_FILE = "counts.json"
_MODULE = "dagster_project.quality.worker"
_DISCARD_WAIT_S = 10  # how long a discarded early worker is waited for (GX's import: ~1-3 s)


@dataclass
class Validation:
    """A validation under way: the plans, the folder of frames, and the worker counting them."""

    plans: list[Plan]
    folder: Path
    process: subprocess.Popen

    @property
    def groups(self) -> int:
        return sum(len(plan.new_groups) for plan in self.plans)

    def finish(self, con: duckdb.DuckDBPyConnection) -> tuple[list[FieldCompleteness], list[RuleResult], Path | None]:
        """Wait for the worker, then store and judge its counts: (fields, rules, the Data Docs index)."""
        code = self.process.wait()
        answer = self.folder / ANSWER_FILE
        if code != 0 or not answer.is_file():
            raise failure(self.folder, code, "Great Expectations")
        answered = json.loads(answer.read_text(encoding="utf-8"))
        counted = {
            group: {item: Counts(*figures) for item, figures in items.items()}
            for group, items in answered["counts"].items()
        }
        fields: list[FieldCompleteness] = []
        rules: list[RuleResult] = []
        for plan in self.plans:
            f, r = finish_validation(con, plan, counted)
            fields += f
            rules += r
        shutil.rmtree(self.folder, ignore_errors=True)
        return fields, rules, Path(answered["docs"]) if answered["docs"] else None


@dataclass
class Ready:
    """A worker started before its groups are known (`start_ready`): it imports Great Expectations and
    opens the GX folder while ingestion runs, then waits for one line on its input (`start`)."""

    folder: Path
    process: subprocess.Popen

    def go(self) -> None:
        """The job file now names the groups: tell the worker to count them (one line, then end of input)."""
        tell(self.process, "go\n")

    def discard(self) -> None:
        """Not needed (the run validates nothing, or `run` started it and the run stopped before
        adopting it): end its input. The worker then ends and removes its folder by itself, once GX is
        imported; this waits for that up to `_DISCARD_WAIT_S` (a rare case), rather than kill it, which
        could cut short its first write of the GX config. One still importing then is left to end
        alone, or with the run; its folder is cleared by the next run's worker."""
        tell(self.process, "")
        try:
            self.process.wait(timeout=_DISCARD_WAIT_S)
        except subprocess.TimeoutExpired:
            pass


def start_ready(gx_root: Path, run_name: str | None = None, clear: bool = True) -> Ready:
    """Start a worker that imports GX now and counts the groups `start` gives it later. Importing GX is
    ~2.4 s of CPU; started with the dbt build, the import took a core from dbt and the customer value fit,
    and the quality step waited for the worker after the build (DECISIONLOG.md). `clear`: remove what
    earlier runs left in the frames folder first (worker_process.py `new_folder`)."""
    folder = new_folder(gx_root / "frames", clear)
    job = {"gx_root": str(gx_root), "run_name": run_name, "groups": None}
    process = spawn(_MODULE, folder, job, stdin=subprocess.PIPE)
    return Ready(folder, process)


def start(
    con: duckdb.DuckDBPyConnection,
    gx_root: Path,
    empty_allowed: dict[str, bool],
    policy: Policy | None = None,
    recount: bool = False,
    ready: Ready | None = None,
    run_name: str | None = None,
) -> Validation:
    """Plan every entity, write each new group's frame to Parquet, and start the worker on them: the
    `ready` one (started early, in its folder), else a new one. `run_name` names the run's validation
    results in GX (the Dagster run id)."""
    try:
        return _start(con, gx_root, empty_allowed, policy or load_policy(), recount, ready, run_name)
    except BaseException:
        if ready:  # nothing will tell it its groups
            ready.discard()
        raise


def _start(
    con: duckdb.DuckDBPyConnection,
    gx_root: Path,
    empty_allowed: dict[str, bool],
    policy: Policy,
    recount: bool,
    ready: Ready | None,
    run_name: str | None,
) -> Validation:
    folder = ready.folder if ready else new_folder(gx_root / "frames")
    plans, groups = [], []
    for name, contract in load_contracts().items():
        plan = plan_validation(con, contract, policy, empty_allowed.get(name, False), recount)
        plans.append(plan)
        if plan.suite is None:
            continue
        query = frame_sql(contract, plan.suite.rules, plan.suite.measured)
        for group_id, drops in plan.new_groups:
            frame = folder / f"{group_id}.parquet"
            con.execute(f"copy ({query}) to {literal(str(frame))} (format parquet)", [drops])
            groups.append(
                {
                    "group": group_id,
                    "entity": name,
                    "frame": frame.name,
                    "measured": [c.name for c in plan.suite.measured],
                    "rules": plan.suite.rules,
                    "targets": plan.suite.targets,
                }
            )
    job = {"gx_root": str(gx_root), "run_name": run_name, "groups": groups}
    if ready is None:
        return Validation(plans, folder, spawn(_MODULE, folder, job))
    # replaced whole, never rewritten in place: the worker may be reading the job it was started with
    tmp = folder / (JOB_FILE + ".tmp")
    tmp.write_text(json.dumps(job), encoding="utf-8")
    tmp.replace(folder / JOB_FILE)
    ready.go()
    return Validation(plans, folder, ready.process)


def _count_all(job_file: Path) -> None:
    job = json.loads(job_file.read_text(encoding="utf-8"))
    folder = job_file.parent
    runner = ExpectationRunner(Path(job["gx_root"]), job["run_name"])  # imports GX
    if job["groups"] is None:  # started early (start_ready): wait for the run's groups
        print("Great Expectations imported; waiting for the run's groups", flush=True)
        if not sys.stdin.readline():  # end of input: not needed
            shutil.rmtree(folder, ignore_errors=True)
            return
        job = json.loads(job_file.read_text(encoding="utf-8"))
        runner.run_name = job["run_name"]  # a worker `run` started before the run had an id: named now
    runner.add_assets([group["entity"] for group in job["groups"]])
    contracts = load_contracts()
    counts = {}
    for group in job["groups"]:
        contract = contracts[group["entity"]]
        by_name = {c.name: c for c in contract.critical_columns}
        suite = _Suite(contract, [by_name[n] for n in group["measured"]], group["rules"], group["targets"])
        # read as the in-process validation reads the table (DuckDB to pandas), so GX sees the same dtypes
        frame = duckdb.read_parquet(str(folder / group["frame"])).df()
        counts[group["group"]] = {
            item: [c.element, c.missing, c.unexpected] for item, c in runner.count(suite, frame).items()
        }
    pruned = runner.prune_results(int(quality_config()["data_docs_results_kept"]))
    docs = runner.build_docs(pruned=pruned > 0)
    answer = {
        "counts": counts,
        "docs": str(docs) if docs else None,
        "niceness": os.nice(0),
        "scipy_stats_loaded": "scipy.stats._stats_py" in sys.modules,  # GX's import without it: ~0.9 CPU s
    }
    tmp = folder / (ANSWER_FILE + ".tmp")
    tmp.write_text(json.dumps(answer), encoding="utf-8")
    tmp.replace(folder / ANSWER_FILE)


def main() -> None:
    from dagster_project.dbt_child import die_with_parent

    die_with_parent()
    os.nice(WORKER_NICENESS["great_expectations"])  # config/warehouse.yml
    scipy_stats_on_first_use()  # before GX is imported
    _count_all(Path(sys.argv[1]))


if __name__ == "__main__":
    main()
