"""New drops in the raw folder trigger a run of the affected entities and everything downstream.

The sensor compares a fingerprint of each entity folder (names, sizes, modification times) with the
one in its cursor. When something looks new (or on its first tick, with no cursor yet), it asks
whether a run would have anything to do (automation.idle): files already loaded and a snapshot built
from them start no run. It never opens the warehouse while a run is queued or running.
"""

import hashlib
import json
from pathlib import Path

import dagster as dg

from dagster_project.automation import idle, run_in_flight
from dagster_project.contracts import load_contracts
from dagster_project.defs.ingest.assets import raw_asset_key
from dagster_project.ingest.drops import find_drops
from dagster_project.jobs import refresh_job
from dagster_project.settings import Settings


def folder_fingerprints(raw_dir: Path) -> dict[str, str]:
    prints = {}
    for contract in load_contracts().values():
        drops = find_drops(raw_dir, contract)
        if drops:
            text = "\n".join(f"{d.relative_path}|{d.size}|{d.mtime_ns}" for d in drops)
            prints[contract.name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return prints


@dg.sensor(job=refresh_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def new_drops_sensor(context: dg.SensorEvaluationContext):
    """Materialize the entities with new or changed drops, and their downstream assets."""
    settings = Settings.from_env()
    current = folder_fingerprints(settings.raw_dir)
    previous = json.loads(context.cursor) if context.cursor else {}
    changed = sorted(name for name, fp in current.items() if previous.get(name) != fp)
    if not changed:
        return dg.SkipReason(f"no new drops in {settings.raw_dir}")
    busy = run_in_flight(context.instance)
    if busy:  # the cursor stays: the next tick after the run looks again
        return dg.SkipReason(f"run {busy} is queued or running; looking at {', '.join(changed)} after it")
    nothing = idle(settings)
    if nothing:
        context.update_cursor(json.dumps(current, sort_keys=True))
        return dg.SkipReason(
            f"nothing new: the files of {', '.join(changed)} are loaded and the snapshot {nothing.snapshot_id} "
            "was built from them"
        )
    contracts = load_contracts()
    roots = [raw_asset_key(contracts[name]) for name in changed]
    selection = dg.AssetSelection.assets(*roots).downstream()
    keys = selection.resolve(context.repository_def.asset_graph)
    context.update_cursor(json.dumps(current, sort_keys=True))
    return dg.RunRequest(
        run_key="|".join(f"{n}:{current[n]}" for n in changed),
        asset_selection=sorted(keys, key=lambda k: k.to_user_string()),
        tags={"s2s/trigger": "new_drops", "s2s/entities": ",".join(changed)[:200]},
    )
