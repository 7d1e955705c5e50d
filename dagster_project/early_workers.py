"""The two workers beside the dbt build, started by `run` before Dagster starts the run (issue 14).

The Great Expectations worker (quality/worker.py) and the customer value worker (customer_value/worker.py)
each import their libraries first (GX ~2 CPU s, pymc-marketing ~4-5) and then wait for their work. A
run's first ingestion step starts them, so that those imports overlap ingestion. Before that step,
Dagster's own start (importing the code location, creating the instance and the run, planning ~570
events: 2-4 s on a small company) keeps one core busy and leaves the other idle. So `run` starts them
just before it starts the run (after its pre-check found work, or at once with `--force`), and the
first ingestion step adopts them (`take_gx`, `take_fitting`) rather than start its own. A run
started another way (the UI, the schedule, `dagster job execute`) starts them at its first ingestion
step, as before.

Started before the run holds the warehouse, they clear nothing that earlier runs left in their
folders (another run may be using them): the step that adopts them does (`clear_leftovers`). One
of each, for the one run that `run` executes in its process; a worker the run did not adopt (it
failed first, or found nothing to ingest after all) is discarded when `run` ends
(`discard_untaken`).
"""

from __future__ import annotations

from pathlib import Path

from dagster_project.customer_value import worker as customer_value_worker
from dagster_project.quality import worker as quality_worker
from dagster_project.worker_process import clear_leftovers

_GX: dict[Path, quality_worker.Ready] = {}  # the GX folder -> the worker started for it
_FITTING: dict[Path, customer_value_worker.Fitting] = {}  # the workers' root folder -> the worker


def gx_root(warehouse: Path) -> Path:
    """Where Great Expectations keeps its project and the workers' frames, beside the warehouse."""
    return warehouse.absolute().parent / "gx"


def fitting_root(warehouse: Path) -> Path:
    """Where the customer value workers keep their folders, beside the warehouse."""
    return warehouse.absolute().parent / "customer_value_worker"


def start(warehouse: Path) -> None:
    """Start both workers for the run about to start on `warehouse`; they import and wait."""
    discard_untaken()
    _GX[gx_root(warehouse)] = quality_worker.start_ready(gx_root(warehouse), clear=False)
    _FITTING[fitting_root(warehouse)] = customer_value_worker.start(
        fitting_root(warehouse), customer_value_worker.compile_dir_for(warehouse.absolute()), clear=False
    )


def take_gx(warehouse: Path) -> quality_worker.Ready | None:
    """The GX worker started early for this warehouse, once; None when there is none."""
    return _take(_GX, gx_root(warehouse))


def take_fitting(warehouse: Path) -> customer_value_worker.Fitting | None:
    """The customer value worker started early for this warehouse, once; None when there is none."""
    return _take(_FITTING, fitting_root(warehouse))


def _take(started: dict, root: Path):
    """Pop the worker started for `root`; what earlier runs left beside its folder goes, now that the
    run taking it holds the warehouse."""
    worker = started.pop(root, None)
    if worker:
        clear_leftovers(worker.folder.parent, keep=worker.folder)
    return worker


def discard_untaken() -> None:
    """Stop the workers no run adopted."""
    while _GX:
        _GX.popitem()[1].discard()
    while _FITTING:
        _FITTING.popitem()[1].discard()
