"""The customer value model in a worker process, beside the dbt build (issue 14).

Fitting the model is CPU-bound Python (pytensor and scipy: ~5 s for a small company, ~10 s at scale
10), and it waited for the whole dbt build, though it reads only two of dbt's models, which dbt builds
early: the order facts and the as-of date (`INPUTS`). So this worker starts before them and imports
pymc-marketing on the core that Dagster's start and ingestion mostly leave idle, then waits: `run`
starts it before Dagster starts the run (early_workers.py), and the run's first ingestion step
adopts it and names the run and the stored fits (`Fitting.assign`); a run started another way
starts it at its first ingestion step, unless the run has nothing new (the dbt step does, when the
run has no ingestion step). dbt
copies those two models to Parquet as it builds them (the post-hook
dbt/macros/export_for_python_steps.sql), and once dbt reports both built, the step tells the worker
where they are, in one line on its stdin (`Fitting.inputs_ready`). The worker fits on the other
core while dbt builds on, and answers with its fits in a file.

The customer value step then stores those fits as it would its own (`Fitting.fits_for`), after the
same checks as before: stored fits of the same inputs are reused (the worker skipped fitting them
too), and fits are taken only when the warehouse's inputs have the fingerprint the worker fitted on;
otherwise the step fits itself, as it does when no worker ran (the step run on its own) or dbt
failed before building the inputs.

DuckDB lets one process open the warehouse: the worker never does. Its niceness:
`dagster.worker_niceness` in config/warehouse.yml. It dies with the run
(PR_SET_PDEATHSIG). A worker that fails fails the step, naming its log: no fits, no publish. A
SharedDataWarning of its fit (models.py) comes back with the fits and is raised again in the step,
so that the run's summary lists it as it would an in-process fit's.

    python -m dagster_project.customer_value.worker <job.json>     (what `start` runs)
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.customer_value import history
from dagster_project.warehouse import WORKER_NICENESS, literal
from dagster_project.worker_process import JOB_FILE, failure, new_folder, spawn, tell

ANSWER_FILE = "fits.pickle"
# the dbt models the fit reads, as `schema.table`; each has the export post-hook in its YAML
INPUTS = (history.ORDERS_TABLE, history.AS_OF_TABLE)


def exported_file(target_path: Path, table: str) -> Path:
    """Where the export post-hook writes a model in a dbt invocation's target folder."""
    return target_path / f"{table.split('.')[-1]}.parquet"


@dataclass
class Fitting:
    """A worker started for a run (or before it: early_workers.py): told where its inputs are once dbt
    built them."""

    folder: Path
    process: subprocess.Popen
    told: bool = False

    def assign(self, reusable_fingerprint: str | None, dagster_run_id: str | None) -> None:
        """Name the run and the stored fits' fingerprint for a worker started before they were known (by
        `run`, before Dagster started the run: early_workers.py). The job file is replaced whole, never
        rewritten in place; the worker reads it again once told its inputs."""
        job = json.loads((self.folder / JOB_FILE).read_text(encoding="utf-8"))
        job.update(reusable_fingerprint=reusable_fingerprint, run_id=dagster_run_id)
        tmp = self.folder / (JOB_FILE + ".tmp")
        tmp.write_text(json.dumps(job), encoding="utf-8")
        tmp.replace(self.folder / JOB_FILE)

    def inputs_ready(self, target_path: Path) -> None:
        """dbt built (and exported) the inputs in the invocation folder `target_path`: start fitting."""
        files = {table: str(exported_file(target_path, table)) for table in INPUTS}
        self._tell(json.dumps(files))
        self.told = True

    def no_inputs(self) -> None:
        """dbt finished without building the inputs (or this step will not use the worker)."""
        if not self.told:
            self._tell(None)

    def _tell(self, line: str | None) -> None:
        tell(self.process, "" if line is None else line + "\n")  # a worker never told ends

    def fits_for(self, fingerprint: str):
        """Wait for the worker: its fits when it fitted the inputs of `fingerprint`, else None (the step
        then fits itself). Raises, naming the worker's log, when it failed."""
        self.no_inputs()
        code = self.process.wait()
        answer = self.folder / ANSWER_FILE
        if code != 0 or not answer.is_file():
            raise failure(self.folder, code, "customer value")
        with open(answer, "rb") as f:
            answered = pickle.load(f)  # written by this same code, a moment ago, in this run's folder
        shutil.rmtree(self.folder, ignore_errors=True)
        if answered["fingerprint"] != fingerprint:
            return None
        if answered["warnings"]:
            from dagster_project.customer_value.models import SharedDataWarning

            # raised here, from where the fit raised each, as an in-process fit would: the run lists them
            for message, filename, lineno in answered["warnings"]:
                warnings.warn_explicit(message, SharedDataWarning, filename, lineno)
        return answered["fits"]

    def discard(self) -> None:
        """Not needed (the stored fits are reused): stop it and drop its folder."""
        self.no_inputs()
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def start(
    root: Path,
    compile_dir: Path,
    reusable_fingerprint: str | None = None,
    dagster_run_id: str | None = None,
    clear: bool = True,
) -> Fitting:
    """Start a worker in a new folder under `root`. `reusable_fingerprint`: the inputs' fingerprint of the
    stored fits the step would reuse (the worker does not fit those inputs again), None to always fit;
    both it and the run id may be given later, before the inputs (`Fitting.assign`). `clear`: remove
    what earlier runs left under `root` first (worker_process.py `new_folder`)."""
    folder = new_folder(root, clear)
    job = {"compile_dir": str(compile_dir), "reusable_fingerprint": reusable_fingerprint, "run_id": dagster_run_id}
    return Fitting(folder, spawn("dagster_project.customer_value.worker", folder, job, stdin=subprocess.PIPE))


def compile_dir_for(warehouse: Path) -> Path:
    """pytensor's compile cache: one per user and machine (`$XDG_CACHE_HOME/s2s-warehouse/pytensor`), so
    a new deployment or warehouse reuses the models another one compiled (~20 s saved on its first fit);
    beside the warehouse when the user has no writable cache folder."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "s2s-warehouse" / "pytensor"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return warehouse.parent / "pytensor"
    return cache


def inputs_connection(files: dict[str, str]) -> duckdb.DuckDBPyConnection:
    """An in-memory database where the exported models sit under their warehouse names, so that the
    step's own queries (customer_value/history.py) read them unchanged."""
    con = duckdb.connect()
    for table, path in files.items():
        schema = table.split(".")[0]
        con.execute(f"create schema if not exists {schema}")
        con.execute(f"create view {table} as select * from read_parquet({literal(path)})")
    return con


def _fit(job_file: Path) -> None:
    started = time.perf_counter()
    job = json.loads(job_file.read_text(encoding="utf-8"))
    from dagster_project.customer_value.models import use_compile_dir

    use_compile_dir(Path(job["compile_dir"]))  # before pytensor is imported
    import pymc_marketing.clv  # noqa: F401 - the fit's libraries, imported while ingestion runs (~2-5 s)
    import pytensor

    from dagster_project.customer_value import scoring, validation  # noqa: F401 - the fit imports them late
    from dagster_project.customer_value.config import customer_value_config
    from dagster_project.customer_value.pipeline import fit, inputs_fingerprint

    print(
        f"{time.perf_counter() - started:.2f}s imported (pytensor compiles in {pytensor.config.base_compiledir}); "
        "waiting for the inputs",
        flush=True,
    )
    line = sys.stdin.readline()  # imported; now wait for dbt to build the inputs
    told = time.perf_counter()
    job = json.loads(job_file.read_text(encoding="utf-8"))  # the run and the stored fits, if assigned since
    answer: dict = {"fingerprint": None, "fits": None, "niceness": os.nice(0), "warnings": []}
    if line.strip():
        config = customer_value_config()
        with inputs_connection(json.loads(line)) as con:
            as_of = history.as_of_date(con)
            answer["fingerprint"] = inputs_fingerprint(con, as_of, config)
            purchases = history.purchase_days(con) if answer["fingerprint"] != job["reusable_fingerprint"] else None
        print(f"{time.perf_counter() - told:.2f}s after the inputs: read; fingerprint {answer['fingerprint']}")
        if purchases is not None:
            from dagster_project.customer_value.models import SharedDataWarning

            # a warning the run must show is answered with the fits: this process's log is removed
            # once they are collected
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", SharedDataWarning)
                try:
                    answer["fits"] = fit(purchases, as_of, config, answer["fingerprint"], job["run_id"])
                finally:  # a failing fit's warnings go to the log its failure names
                    for w in caught:
                        if issubclass(w.category, SharedDataWarning):
                            answer["warnings"].append((str(w.message), w.filename, w.lineno))
                        print(
                            warnings.formatwarning(w.message, w.category, w.filename, w.lineno), end="", file=sys.stderr
                        )
            print(f"{time.perf_counter() - told:.2f}s after the inputs: fitted", flush=True)
    else:
        print("no inputs: dbt stopped before building them", flush=True)
    tmp = job_file.parent / (ANSWER_FILE + ".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(answer, f)
    tmp.replace(job_file.parent / ANSWER_FILE)
    print(f"{time.perf_counter() - told:.2f}s after the inputs: answered", flush=True)


def main() -> None:
    from dagster_project.dbt_child import die_with_parent

    die_with_parent()
    os.nice(WORKER_NICENESS["customer_value"])  # config/warehouse.yml
    _fit(Path(sys.argv[1]))
    sys.stdout.flush()
    os._exit(0)  # the answer is written; tearing down pytensor's and pymc's modules took ~0.5 s


if __name__ == "__main__":
    main()
