"""Import a later step's libraries in a background thread while the current step waits.

Steps run one at a time in one process (DuckDB allows one writer per file), and while dbt builds, in
its own process, Dagster's process mostly waits on dbt's output: the machine's second core is idle.
The customer value step comes right after and spends ~1.5 s importing pymc-marketing and its stack
(pytensor, scipy, arviz); importing them during the dbt step takes that off the run's critical path.
A module is imported once per process, so the step that needs it then finds it loaded, or waits for
the import under way (Python's per-module import lock). An import that fails here is left for the
step, which imports again and reports the error as it would have.
"""

from __future__ import annotations

import importlib
import logging
import threading

log = logging.getLogger(__name__)

_started: set[str] = set()
_lock = threading.Lock()


def preload(*modules: str) -> threading.Thread | None:
    """Start importing `modules` (those not asked for before in this process) in a daemon thread."""
    with _lock:
        todo = [name for name in modules if name not in _started]
        _started.update(todo)
    if not todo:
        return None

    def _import() -> None:
        for name in todo:
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - the step that needs it imports again and reports
                log.debug("preloading %s failed: %s", name, exc)

    thread = threading.Thread(target=_import, name="s2s-preload", daemon=True)
    thread.start()
    return thread
