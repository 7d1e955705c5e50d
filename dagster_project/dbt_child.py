"""`s2s-dbt`: dbt, made to die with the process that started it.

Dagster starts `dbt build` as a child process. When the run is killed outright (SIGKILL, the OOM
killer), nothing forwards a signal, and an orphaned dbt keeps building and holding the DuckDB
file's lock: every later run fails. This wrapper asks Linux to send it SIGKILL when its parent
dies (prctl PR_SET_PDEATHSIG; kept across exec) and then becomes the dbt beside it. Elsewhere it
just runs dbt.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def main() -> None:
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the request took effect
        sys.exit(1)
    dbt = Path(sys.executable).parent / "dbt"  # the dbt of this virtualenv
    os.execv(dbt, [str(dbt), *sys.argv[1:]])


if __name__ == "__main__":
    main()
