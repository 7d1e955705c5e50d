"""New drops in the raw folder trigger a run of the affected entities and everything downstream.

The sensor never opens the warehouse (a run may hold DuckDB's single write lock); it compares a
fingerprint of each entity folder (names, sizes, modification times) with the one in its cursor.
"""

import hashlib
import json
import os
from pathlib import Path

import dagster as dg

from dagster_project.contracts import load_contracts
from dagster_project.defs.ingest.assets import raw_asset_key
from dagster_project.ingest.drops import find_drops
from dagster_project.jobs import refresh_job


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
    raw_dir = Path(os.environ.get("S2S_RAW_DIR") or "data/raw")
    current = folder_fingerprints(raw_dir)
    previous = json.loads(context.cursor) if context.cursor else {}
    changed = sorted(name for name, fp in current.items() if previous.get(name) != fp)
    if not changed:
        return dg.SkipReason(f"no new drops in {raw_dir}")
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
