"""Generate the sample extracts: simulate the company, then write every entity as monthly drops."""

from __future__ import annotations

import json
import shutil
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from dagster_project.contracts import Contract, load_contracts

from sample_company import accounts as acc
from sample_company import activities as act
from sample_company import marketing as mkt
from sample_company import people, pipeline, products, sales, service, targets
from sample_company.config import Streams, load_sample_config
from sample_company.customers import build_customers
from sample_company.mess import (
    FileRecord,
    apply_text_defects,
    blank_critical,
    count_missing,
    duplicate_rows,
    text_defects,
)
from sample_company.shapes import clear_shapes, write_shape
from sample_company.timeline import NULL, Timeline
from sample_company.writers import add_bom, reencode, write_frame, write_xlsx

SUMMARY_FILE = "_generation.json"
EXTENSIONS = {"csv": "csv", "csv.gz": "csv.gz", "parquet": "parquet", "xlsx": "xlsx"}


@dataclass
class EntityOutput:
    name: str  # "<source>/<entity>"
    kinds: dict[str, str]
    drops: Callable[[], Iterator[tuple[int, pd.DataFrame]]]


def _frame_drops(frame: pd.DataFrame) -> Callable[[], Iterator[tuple[int, pd.DataFrame]]]:
    """Slices of a frame sorted by `_drop`, one per drop."""

    def drops() -> Iterator[tuple[int, pd.DataFrame]]:
        codes = frame["_drop"].to_numpy()
        for d in np.unique(codes):
            lo, hi = np.searchsorted(codes, d, "left"), np.searchsorted(codes, d, "right")
            yield int(d), frame.iloc[lo:hi]

    return drops


def _timeline(cfg: dict, end_date: date) -> Timeline:
    h, rv = cfg["history"], cfg["revenue"]
    return Timeline(
        end_date=end_date,
        months=int(h["months"]),
        lead_in_days=int(h["lead_in_days"]),
        lead_out_days=int(h["lead_out_days"]),
        month_factor=tuple(rv["month_factor"]),
        weekday_factor=tuple(rv["weekday_factor"]),
        annual_growth=float(rv["annual_growth"]),
    )


def simulate(
    cfg: dict, timeline: Timeline, scale: float, streams: Streams, say: Callable[[str], None]
) -> list[EntityOutput]:
    """Build the company and return the entities to write, in writing order."""
    regions = cfg["regions"]["names"]
    say("simulating the sales team, products and customers")
    reps = people.build_reps(cfg, timeline, scale, streams("reps"))
    prods = products.build_products(cfg, timeline, scale, streams("products"))
    cust = build_customers(cfg, timeline, scale, streams("customers"))
    fx = sales.build_fx(cfg, timeline, streams("fx"))
    say("simulating orders and order lines")
    orders = sales.build_orders(cfg, timeline, cust, prods, fx, streams("orders"))
    say("simulating campaigns, leads and opportunities")
    campaigns = mkt.build_campaigns(cfg, timeline, streams("campaigns"))
    pipe = pipeline.build_pipeline(
        cfg,
        timeline,
        cust,
        orders,
        prods,
        fx,
        reps,
        mkt.campaign_assigner(campaigns, cfg),
        acc.company_namer(cfg),
        streams("pipeline"),
    )
    say("simulating accounts, owners and contacts")
    accounts = acc.build_accounts(cfg, timeline, cust, pipe, reps, streams("accounts"))
    pipeline.fill_owners(pipe, accounts.owner_at)
    orders.rep = reps.number[accounts.owner_at(orders.cust, orders.created)]
    won_orders = pipe.op_order != NULL
    orders.opportunity[pipe.op_order[won_orders]] = pipe.op_number[won_orders]
    contacts = acc.build_contacts(cfg, timeline, accounts, streams("contacts"))
    ret = sales.build_returns(cfg, orders, prods, streams("returns"))
    cases = service.build_cases(cfg, timeline, cust, streams("cases"))
    spend, budget = mkt.ad_spend_tables(cfg, timeline, campaigns, pipe, streams("ad_spend"))
    an = accounts.number
    terms = sales.payment_terms(cfg, accounts.n, streams("payment_terms"))

    return [
        EntityOutput("crm/sales_reps", people.REPS_KINDS, _frame_drops(people.reps_table(reps, timeline, regions))),
        EntityOutput(
            "crm/accounts", acc.ACCOUNTS_KINDS, _frame_drops(acc.accounts_table(accounts, reps, timeline, cfg, terms))
        ),
        EntityOutput(
            "crm/contacts", acc.CONTACTS_KINDS, _frame_drops(acc.contacts_table(contacts, accounts, timeline))
        ),
        EntityOutput(
            "crm/leads",
            pipeline.LEADS_KINDS,
            _frame_drops(pipeline.leads_table(pipe, an, accounts.name, reps.number, campaigns.number, timeline, cfg)),
        ),
        EntityOutput(
            "crm/opportunities",
            pipeline.OPPORTUNITIES_KINDS,
            _frame_drops(pipeline.opportunities_table(pipe, an, reps.number, timeline, cfg)),
        ),
        EntityOutput(
            "crm/opportunity_stage_history",
            pipeline.STAGE_HISTORY_KINDS,
            _frame_drops(pipeline.stage_history_table(pipe, timeline)),
        ),
        EntityOutput(
            "crm/activities",
            act.ACTIVITIES_KINDS,
            lambda: act.activity_drops(cfg, timeline, reps, accounts, pipe, an, streams),
        ),
        EntityOutput("crm/cases", service.CASES_KINDS, _frame_drops(service.cases_table(cases, an, timeline))),
        EntityOutput("erp/products", products.PRODUCTS_KINDS, _frame_drops(products.products_table(prods, timeline))),
        EntityOutput(
            "erp/sales_orders",
            sales.ORDERS_KINDS,
            _frame_drops(sales.orders_table(orders, timeline, cust.region, regions, an)),
        ),
        EntityOutput(
            "erp/sales_order_lines", sales.LINES_KINDS, _frame_drops(sales.lines_table(orders, prods, timeline))
        ),
        EntityOutput(
            "erp/payments",
            sales.PAYMENTS_KINDS,
            _frame_drops(sales.payments_table(cfg, orders, terms, timeline, streams("payments"))),
        ),
        EntityOutput(
            "erp/returns",
            sales.RETURNS_KINDS,
            _frame_drops(sales.returns_table(ret, orders, prods, timeline, list(cfg["returns"]["reasons"]))),
        ),
        EntityOutput("erp/fx_rates", sales.FX_KINDS, _frame_drops(sales.fx_table(fx, timeline))),
        EntityOutput(
            "marketing/campaigns", mkt.CAMPAIGNS_KINDS, _frame_drops(mkt.campaigns_table(campaigns, budget, timeline))
        ),
        EntityOutput("marketing/ad_spend_daily", mkt.AD_SPEND_KINDS, _frame_drops(spend)),
        EntityOutput(
            "marketing/web_events",
            mkt.WEB_EVENTS_KINDS,
            lambda: mkt.web_event_drops(cfg, timeline, pipe, campaigns, streams, scale),
        ),
        EntityOutput(
            "marketing/survey_responses",
            service.SURVEYS_KINDS,
            _frame_drops(
                service.surveys_table(cfg, timeline, orders, contacts, cases, an, contacts.number, streams("surveys"))
            ),
        ),
        EntityOutput(
            "strategy/targets",
            targets.TARGETS_KINDS,
            _frame_drops(targets.targets_table(cfg, timeline, cust, orders, ret, prods, streams("targets"))),
        ),
        EntityOutput(
            "hr/training_records",
            people.TRAINING_KINDS,
            _frame_drops(people.training_table(cfg, reps, timeline, streams("training"))),
        ),
    ]


def _clear(out_dir: Path, contracts: dict[str, Contract]) -> None:
    """Remove what an earlier run wrote: the entity folders and the summary, nothing else."""
    for c in contracts.values():
        folder = out_dir / c.source / c.entity
        if folder.exists():
            shutil.rmtree(folder)
    summary = out_dir / SUMMARY_FILE
    if summary.exists():
        summary.unlink()


def _write_entity(
    con: duckdb.DuckDBPyConnection,
    out: EntityOutput,
    contract: Contract,
    cfg: dict,
    timeline: Timeline,
    out_dir: Path,
    streams: Streams,
    defects: list,
    unplaced: list[dict],
) -> list[FileRecord]:
    mess = cfg["mess"]
    fmt = cfg["formats"].get(out.name, "csv")
    columns = list(contract.column_names)
    folder = out_dir / contract.source / contract.entity
    folder.mkdir(parents=True, exist_ok=True)
    key = zlib.crc32(out.name.encode("utf-8"))
    blank = contract.source in mess["missing_critical_sources"] and mess["missing_critical_rate"] > 0
    dup_rate = mess["duplicate_row_rate"] if out.name in mess["duplicate_entities"] else 0.0
    tz = out.name in mess["offset_timestamp_entities"]
    records = []
    for d, frame in out.drops():
        if frame.empty:
            continue
        rng = streams("mess", key, d)
        # an optional column the sample company does not deliver (targets.rep_id) stays out of its files
        columns = [c.name for c in contract.columns if c.required or c.name in frame.columns]
        frame = frame[columns]
        if blank:
            frame = blank_critical(frame, contract, out.kinds, mess["missing_critical_rate"], rng)
        frame, dup_lines = duplicate_rows(frame, dup_rate, rng)
        path = folder / f"{contract.entity}_{timeline.drop_dates[d].isoformat()}.{EXTENSIONS[fmt]}"
        if fmt == "xlsx":
            write_xlsx(con, frame, columns, out.kinds, path)
        else:
            write_frame(con, frame, columns, out.kinds, path, fmt, tz)
        records.append(
            FileRecord(
                path=path,
                relpath=path.relative_to(out_dir).as_posix(),
                entity=out.name,
                fmt=fmt,
                rows=len(frame),
                drop_index=d,
                duplicate_lines=dup_lines,
                missing_critical=count_missing(frame, contract, out.kinds) if blank else {},
            )
        )
    unplaced += apply_text_defects(
        [x for x in defects if x.entity == out.name], records, contract, out.kinds, streams("text_defects", key)
    )
    gbk = mess.get("gbk") or {}
    if gbk.get("entity") == out.name:
        plain = [r for r in records if r.fmt == "csv"]
        if plain:
            target = min(plain, key=lambda r: (abs(r.drop_index - int(gbk.get("drop_index", 0))), r.drop_index))
            reencode(target.path, "gbk")
            target.encoding = "gbk"
    if out.name in mess["bom_entities"]:
        for r in records:
            if r.fmt == "csv" and r.encoding == "utf-8":
                add_bom(r.path)
                r.bom = True
    return records


def generate(
    out_dir: Path,
    *,
    scale: float = 1.0,
    seed: int = 7,
    end_date: date = date(2026, 10, 31),
    profile: str = "default",
    progress: Callable[[str], None] | None = None,
    shape: str = "native",
) -> dict:
    """Write every entity of the raw extract contract as monthly drops over three years to `end_date`;
    with `shape` salesforce or hubspot, the CRM entities as that system's export (sample/shapes.py).

    Deterministic per (seed, scale, end_date, profile). Returns the summary that is also written to
    `<out_dir>/_generation.json`: rows per entity and file, and every injected defect per file.
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    say = progress or (lambda _message: None)
    out_dir = Path(out_dir)
    cfg = load_sample_config(profile)
    contracts = load_contracts()
    streams = Streams(seed)
    timeline = _timeline(cfg, end_date)
    outputs = simulate(cfg, timeline, scale, streams, say)
    names = {o.name for o in outputs}
    missing = {f"{c.source}/{c.entity}" for c in contracts.values()} - names
    if missing:
        raise RuntimeError(f"the generator writes no data for {sorted(missing)}")

    out_dir.mkdir(parents=True, exist_ok=True)
    _clear(out_dir, contracts)
    clear_shapes(out_dir)
    defects = text_defects(cfg["mess"], scale)
    con = duckdb.connect()
    entities: dict[str, dict] = {}
    gbk_file = None
    unplaced: list[dict] = []
    try:
        for out in outputs:
            contract = contracts[out.name.replace("/", ".")]
            records = _write_entity(con, out, contract, cfg, timeline, out_dir, streams, defects, unplaced)
            for r in records:
                if r.encoding != "utf-8":
                    gbk_file = r.relpath
            entities[out.name] = {
                "rows": sum(r.rows for r in records),
                "files": {r.relpath: r.summary() for r in records},
            }
            say(f"{out.name}: {len(records)} files, {entities[out.name]['rows']:,} rows")
    finally:
        con.close()

    totals = {"duplicate_rows": 0, "missing_critical_cells": 0, "orphan_fks": 0, "malformed_rows": {}}
    for ent in entities.values():
        for f in ent["files"].values():
            d = f["defects"]
            totals["duplicate_rows"] += d["duplicate_rows"]
            totals["missing_critical_cells"] += sum(d["missing_critical"].values())
            totals["orphan_fks"] += len(d["orphan_fks"])
            for k, v in d["malformed_rows"].items():
                totals["malformed_rows"][k] = totals["malformed_rows"].get(k, 0) + v
    summary = {
        "generator": "sample_company",
        "seed": seed,
        "scale": scale,
        "profile": profile,
        "start_date": timeline.drop_dates[0].replace(day=1).isoformat(),
        "end_date": end_date.isoformat(),
        "drop_dates": [d.isoformat() for d in timeline.drop_dates],
        "gbk_file": gbk_file,
        "rows": {name: ent["rows"] for name, ent in entities.items()},
        "defects_total": totals,
        "defects_unplaced": unplaced,
        "entities": entities,
    }
    if shape != "native":
        summary["shape"] = {"name": shape, "files": write_shape(out_dir, shape)}
    (out_dir / SUMMARY_FILE).write_text(
        json.dumps(summary, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8"
    )
    n_files = sum(len(e["files"]) for e in entities.values())
    say(f"done: {sum(e['rows'] for e in entities.values()):,} rows in {n_files} files")
    return summary
